//! `multipart/form-data` (RFC 7578, RFC 2046 §5.1) parsed as it arrives:
//! the same parts however the body is split, empty parts, a large part in
//! bounded memory, and what is refused.

use peregrine::multipart::{Event, Limits, Multipart};
use peregrine::StatusCode;

const TYPE: &[u8] = b"multipart/form-data; boundary=XyZ-b0undary";

/// What a form yields: per part, `name|filename|content type|content`
/// (the events' order checked by the fuzz oracle's collector).
fn parse_in(pieces: &[&[u8]], content_type: &[u8], limits: Limits) -> Result<Vec<String>, StatusCode> {
    let parts = peregrine::__private::parse_form(pieces, content_type, limits)?;
    Ok(parts
        .into_iter()
        .map(|p| {
            let (filename, content_type) = (p.filename.as_deref(), p.content_type.as_deref());
            let head = format!("{}|{}|{}|", p.name, filename.unwrap_or("-"), content_type.unwrap_or("-"));
            head + &String::from_utf8_lossy(&p.data)
        })
        .collect())
}

fn parse(body: &[u8]) -> Result<Vec<String>, StatusCode> {
    parse_in(&[body], TYPE, Limits::default())
}

/// A small form with what is hard to frame: an empty part, content that
/// looks like the start of a delimiter, CRs and LFs, a name and a file
/// name as browsers write them (`"` percent-encoded, `\` as it is), a
/// preamble, padding and an epilogue.
fn small_form() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(b"This is the preamble, ignored. --XyZ-b0undar\r\n");
    body.extend_from_slice(b"--XyZ-b0undary\r\n");
    body.extend_from_slice(b"Content-Disposition: form-data; name=\"title\"\r\n\r\n");
    body.extend_from_slice(b"hello\r\n--XyZ-b0undar\r\n-\r\r\n\n--XyZ");
    body.extend_from_slice(b"\r\n--XyZ-b0undary \t\r\n");
    body.extend_from_slice(b"content-disposition: form-data; name=\"empty\"\r\n\r\n");
    body.extend_from_slice(b"\r\n--XyZ-b0undary\r\n");
    body.extend_from_slice(
        b"Content-Disposition: form-data; name=\"up%22load\"; filename=\"C:\\dir\\a b.txt\\\"\r\nContent-Type: text/plain\r\n\r\n",
    );
    body.extend_from_slice(b"\r\nline\r\n\r\n");
    body.extend_from_slice(b"\r\n--XyZ-b0undary--\r\nThe epilogue, ignored: --XyZ-b0undary\r\n");
    body
}

fn small_form_parts() -> Vec<String> {
    vec![
        "title|-|-|hello\r\n--XyZ-b0undar\r\n-\r\r\n\n--XyZ".to_string(),
        "empty|-|-|".to_string(),
        "up%22load|C:\\dir\\a b.txt\\|text/plain|\r\nline\r\n\r\n".to_string(),
    ]
}

#[test]
fn a_form_split_at_every_offset_gives_the_same_parts() {
    let body = small_form();
    assert_eq!(parse(&body).unwrap(), small_form_parts());
    for at in 0..=body.len() {
        let (a, b) = body.split_at(at);
        assert_eq!(parse_in(&[a, b], TYPE, Limits::default()).unwrap(), small_form_parts(), "split at {at}");
    }
    for (i, j) in [(1, 2), (3, 7), (50, 51), (60, 120)] {
        let (a, rest) = body.split_at(i);
        let (b, c) = rest.split_at(j - i);
        assert_eq!(parse_in(&[a, b, c], TYPE, Limits::default()).unwrap(), small_form_parts());
    }
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(parse_in(&bytes, TYPE, Limits::default()).unwrap(), small_form_parts(), "byte by byte");
}

#[test]
fn empty_parts_and_a_form_with_no_parts() {
    let body = b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\n\r\n--B\r\n\
                 Content-Disposition: form-data; name=b; filename=\"\"\r\n\r\n\r\n--B--";
    let ct = b"multipart/form-data; boundary=B";
    assert_eq!(parse_in(&[body], ct, Limits::default()).unwrap(), ["a|-|-|", "b||-|"]);
    assert_eq!(parse_in(&[b"--B--\r\n"], ct, Limits::default()).unwrap(), Vec::<String>::new());
}

#[test]
fn an_empty_part_needs_no_line_of_its_own() {
    // RFC 2046 §5.1.1: body-part := MIME-part-headers [CRLF *OCTET]; the
    // head's empty line is then the next delimiter's CRLF (as Python's
    // email package and Werkzeug read it).
    let ct = b"multipart/form-data; boundary=XyZ";
    let cd = |name: &str| format!("Content-Disposition: form-data; name=\"{name}\"\r\n");
    for (body, want) in [
        (
            format!("--XyZ\r\n{}\r\n--XyZ\r\n{}\r\nw\r\n--XyZ--\r\n", cd("a"), cd("b")),
            vec!["a|-|-|", "b|-|-|w"],
        ),
        (
            format!("--XyZ\r\n{}\r\nv\r\n--XyZ\r\n{}\r\n--XyZ--\r\n", cd("a"), cd("b")),
            vec!["a|-|-|v", "b|-|-|"],
        ),
        // Content that starts as the boundary does, and is not it.
        (format!("--XyZ\r\n{}\r\n--XyQ\r\n--Xy\r\n--XyZ--", cd("a")), vec!["a|-|-|--XyQ\r\n--Xy"]),
        (format!("--XyZ\r\n{}\r\n-\r\n--XyZ--", cd("a")), vec!["a|-|-|-"]),
    ] {
        let body = body.as_bytes();
        for at in 0..=body.len() {
            let (x, y) = body.split_at(at);
            let got = parse_in(&[x, y], ct, Limits::default()).unwrap();
            assert_eq!(got, want, "split at {at}: {:?}", String::from_utf8_lossy(body));
        }
    }
}

#[test]
fn a_100_mb_part_passes_through_in_pieces() {
    const SIZE: usize = 100 << 20;
    let ct = b"multipart/form-data; boundary=----big";
    let mut form = Multipart::new(ct, Limits::default()).unwrap();
    let (mut got, mut sum, mut ended) = (0usize, 0u64, false);
    let mut on = |event: Event<'_>| {
        match event {
            Event::Part(part) => assert_eq!(part.filename(), Some("big.bin")),
            Event::Data(data) => {
                got += data.len();
                sum = data.iter().fold(sum, |s, &b| s.wrapping_mul(31).wrapping_add(u64::from(b)));
            }
            Event::PartEnd => ended = true,
        }
        Ok(())
    };
    form.feed(b"------big\r\nContent-Disposition: form-data; name=f; filename=big.bin\r\n\r\n", &mut on)
        .unwrap();
    // Content full of CRs, LFs and dashes, made piece by piece: nothing
    // holds the whole.
    const MIX: &[u8] = b"\r\n--big-\r\r\n-x";
    let byte = |i: usize| MIX[(i * 7 + i / 13) % MIX.len()];
    let mut expected = 0u64;
    let mut piece = vec![0u8; 65_521];
    let mut sent = 0;
    while sent < SIZE {
        let n = piece.len().min(SIZE - sent);
        for (k, b) in piece[..n].iter_mut().enumerate() {
            *b = byte(sent + k);
            expected = expected.wrapping_mul(31).wrapping_add(u64::from(*b));
        }
        form.feed(&piece[..n], &mut on).unwrap();
        sent += n;
    }
    form.feed(b"\r\n------big--\r\n", &mut on).unwrap();
    form.finish().unwrap();
    assert!(ended);
    assert_eq!(got, SIZE);
    assert_eq!(sum, expected, "the content came through unchanged");
}

#[test]
fn a_missing_final_boundary_is_400() {
    let body = small_form();
    let cut = body.windows(4).rposition(|w| w == b"--\r\n").unwrap();
    // Ends after the last part's delimiter, without its "--".
    assert_eq!(parse(&body[..cut]), Err(StatusCode::BAD_REQUEST));
    // Ends inside a part's content, inside a head, before any delimiter.
    assert_eq!(parse(&body[..100]), Err(StatusCode::BAD_REQUEST));
    assert_eq!(parse(&body[..70]), Err(StatusCode::BAD_REQUEST));
    assert_eq!(parse(b"no delimiter at all"), Err(StatusCode::BAD_REQUEST));
    assert_eq!(parse(b""), Err(StatusCode::BAD_REQUEST));
}

#[test]
fn a_part_head_over_the_limit_is_413() {
    let limits = Limits { part_head: 256, ..Limits::default() };
    let head = |pad: usize| {
        format!(
            "--XyZ-b0undary\r\nContent-Disposition: form-data; name=\"a\"\r\nX-Pad: {}\r\n\r\nv\r\n--XyZ-b0undary--",
            "p".repeat(pad)
        )
    };
    // The head is the bytes from after the delimiter's CRLF to the empty
    // line's end: 256 fit, 257 do not.
    let head_len = |pad: usize| head(pad).find("\r\n\r\n").unwrap() + 4 - "--XyZ-b0undary\r\n".len();
    let fits = (0..300).find(|&pad| head_len(pad) == 256).unwrap();
    assert_eq!(parse_in(&[head(fits).as_bytes()], TYPE, limits).unwrap(), ["a|-|-|v"]);
    assert_eq!(parse_in(&[head(fits + 1).as_bytes()], TYPE, limits), Err(StatusCode::PAYLOAD_TOO_LARGE));
    let split = head(fits + 1);
    let (a, b) = split.as_bytes().split_at(100);
    assert_eq!(parse_in(&[a, b], TYPE, limits), Err(StatusCode::PAYLOAD_TOO_LARGE), "in two pieces");
    let many = format!(
        "--XyZ-b0undary\r\nContent-Disposition: form-data; name=a\r\n{}\r\nv\r\n--XyZ-b0undary--",
        "X: y\r\n".repeat(20)
    );
    assert_eq!(
        parse(many.as_bytes()),
        Err(StatusCode::PAYLOAD_TOO_LARGE),
        "more fields than a part may have"
    );
}

#[test]
fn size_limits_are_413() {
    let body = b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\n0123456789\r\n--B\r\n\
                 Content-Disposition: form-data; name=b\r\n\r\n0123456789\r\n--B--";
    let ct = b"multipart/form-data; boundary=B";
    let run = |limits| parse_in(&[body], ct, limits);
    let all = body.len() as u64;
    assert!(run(Limits { part: 10, total: all, parts: 2, ..Limits::default() }).is_ok());
    assert_eq!(run(Limits { part: 9, ..Limits::default() }), Err(StatusCode::PAYLOAD_TOO_LARGE));
    assert_eq!(
        run(Limits { total: all - 1, ..Limits::default() }),
        Err(StatusCode::PAYLOAD_TOO_LARGE),
        "the whole body counts"
    );
    assert_eq!(run(Limits { parts: 1, ..Limits::default() }), Err(StatusCode::PAYLOAD_TOO_LARGE));
    // "No limit" on a part's head is the largest one (64 KiB), not a
    // buffer of usize::MAX bytes.
    assert!(run(Limits { part_head: usize::MAX, ..Limits::default() }).is_ok());
}

#[test]
fn malformed_framing_is_400() {
    let ct = b"multipart/form-data; boundary=B";
    for bad in [
        &b"--B\r\n\r\nno disposition\r\n--B--"[..],
        b"--B\r\nContent-Disposition: form-data\r\n\r\nno name\r\n--B--",
        b"--B\r\nContent-Disposition: attachment; name=a\r\n\r\nv\r\n--B--",
        b"--B\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--Bx\r\n",
        b"--Bjunk\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--B--",
        b"--B\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n--B--",
        b"--B\r\nContent-Disposition form-data\r\n\r\nv\r\n--B--",
        b"--B\r\nContent-Disposition: form-data; name=\"\xff\"\r\n\r\nv\r\n--B--",
    ] {
        assert_eq!(parse_in(&[bad], ct, Limits::default()), Err(StatusCode::BAD_REQUEST), "{bad:?}");
    }
}

#[test]
fn the_boundary_comes_from_the_content_type() {
    let body = b"--a'()+_,-./:=? b\r\nContent-Disposition: form-data; name=x\r\n\r\n1\r\n--a'()+_,-./:=? b--";
    let quoted = b"Multipart/Form-Data ; charset=utf-8; BOUNDARY=\"a'()+_,-./:=? b\"";
    assert_eq!(parse_in(&[body], quoted, Limits::default()).unwrap(), ["x|-|-|1"]);
    let new = |ct: &[u8]| Multipart::new(ct, Limits::default()).map(|_| ());
    assert_eq!(new(b"application/x-www-form-urlencoded"), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    assert_eq!(new(b"multipart/mixed; boundary=B"), Err(StatusCode::UNSUPPORTED_MEDIA_TYPE));
    assert_eq!(new(b"multipart/form-data"), Err(StatusCode::BAD_REQUEST));
    assert_eq!(new(b"multipart/form-data; boundary="), Err(StatusCode::BAD_REQUEST));
    assert_eq!(new(b"multipart/form-data; boundary=\"ends in space \""), Err(StatusCode::BAD_REQUEST));
    assert_eq!(new(b"multipart/form-data; boundary=a\rb"), Err(StatusCode::BAD_REQUEST));
    let longest = format!("multipart/form-data; boundary={}", "b".repeat(70));
    assert!(new(longest.as_bytes()).is_ok());
    let too_long = format!("multipart/form-data; boundary={}", "b".repeat(71));
    assert_eq!(new(too_long.as_bytes()), Err(StatusCode::BAD_REQUEST));
}

#[test]
fn what_the_application_refuses_stops_the_form() {
    let mut form = Multipart::new(TYPE, Limits::default()).unwrap();
    let refused = form.feed(&small_form(), &mut |event| match event {
        Event::Data(_) => Err(StatusCode::INSUFFICIENT_STORAGE),
        _ => Ok(()),
    });
    assert_eq!(refused, Err(StatusCode::INSUFFICIENT_STORAGE));
}

#[test]
fn an_extended_file_name_is_read_in_utf8_only() {
    use peregrine::multipart::{Event, Multipart};
    let names = |disposition: &str| {
        let body = format!("--B\r\nContent-Disposition: form-data; name=f; {disposition}\r\n\r\nx\r\n--B--");
        let mut form = Multipart::new(b"multipart/form-data; boundary=B", Limits::default()).unwrap();
        let mut got = None;
        form.feed(body.as_bytes(), &mut |event| {
            if let Event::Part(part) = event {
                got = Some((part.filename().map(str::to_owned), part.filename_ext().map(|f| f.to_string())));
            }
            Ok(())
        })
        .unwrap();
        got.unwrap()
    };
    assert_eq!(names("filename*=UTF-8''%E2%82%AC%20rates.txt"), (None, Some("€ rates.txt".into())));
    assert_eq!(names("filename*=utf-8'en'a.txt"), (None, Some("a.txt".into())));
    assert_eq!(
        names("filename=\"plain.txt\"; filename*=UTF-8''pl%C3%A4in.txt"),
        (Some("plain.txt".into()), Some("pläin.txt".into()))
    );
    assert_eq!(names("filename*=ISO-8859-1''%E9t%E9.txt"), (None, None));
    assert_eq!(names("filename*=no-quotes"), (None, None));
}
