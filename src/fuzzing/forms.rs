//! Oracle for the `multipart/form-data` parser: the same verdict and parts
//! however the body is split, and agreement with a plain model of RFC 2046
//! §5.1's framing written with slice searches.

use crate::http::multipart::{Event, Limits, Multipart};
use crate::http::status::StatusCode;

/// The boundary every fuzzed body is framed with.
const BOUNDARY: &[u8] = b"B0undary";

/// One part of a form, as a parse reported it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FormPart {
    /// Its field name.
    pub name: String,
    /// Its file name, if it is a file.
    pub filename: Option<String>,
    /// Its `Content-Type`, if it has one.
    pub content_type: Option<String>,
    /// Its content, whole.
    pub data: Vec<u8>,
}

/// The first byte picks a split point; the rest is a form body with the
/// boundary `B0undary` and a part head limit of 64 bytes. Whole, in two
/// pieces and byte by byte, the verdict and parts are the same; a form
/// the parser accepts, the model frames into the same contents; one the
/// model refuses, the parser refuses.
pub fn check_multipart(data: &[u8]) {
    let Some((&seed, body)) = data.split_first() else { return };
    let parse = |pieces: &[&[u8]]| parse_form(pieces, b"multipart/form-data; boundary=B0undary", limits());
    let whole = parse(&[body]);
    let at = usize::from(seed) * body.len() / 255;
    let (a, b) = body.split_at(at.min(body.len()));
    assert_eq!(parse(&[a, b]), whole, "split at {at}: {:?}", String::from_utf8_lossy(body));
    let bytes: Vec<&[u8]> = body.chunks(1).collect();
    assert_eq!(parse(&bytes), whole, "byte by byte: {:?}", String::from_utf8_lossy(body));
    match (&whole, model(body)) {
        (Ok(parts), Some(contents)) => {
            let got: Vec<&[u8]> = parts.iter().map(|part| &part.data[..]).collect();
            assert_eq!(
                got,
                contents,
                "contents differ from the model's: {:?}",
                String::from_utf8_lossy(body)
            );
        }
        (Ok(_), None) => panic!("accepted a form the model refuses: {:?}", String::from_utf8_lossy(body)),
        (Err(_), _) => {}
    }
}

fn limits() -> Limits {
    Limits { part_head: 64, ..Limits::default() }
}

/// The parts the parser reports for a body of `content_type` fed in
/// `pieces`, checking the order of its events on the way.
pub fn parse_form(
    pieces: &[&[u8]],
    content_type: &[u8],
    limits: Limits,
) -> Result<Vec<FormPart>, StatusCode> {
    let mut form = Multipart::new(content_type, limits)?;
    let mut parts: Vec<FormPart> = Vec::new();
    let mut open = false;
    for piece in pieces {
        form.feed(piece, &mut |event| {
            match event {
                Event::Part(part) => {
                    assert!(!open, "a part began inside another");
                    open = true;
                    parts.push(FormPart {
                        name: part.name().into(),
                        filename: part.filename().map(Into::into),
                        content_type: part.content_type().map(Into::into),
                        data: Vec::new(),
                    });
                }
                Event::Data(data) => {
                    assert!(open && !data.is_empty(), "data outside a part, or empty");
                    parts.last_mut().expect("a part").data.extend_from_slice(data);
                }
                Event::PartEnd => {
                    assert!(open, "a part ended that had not begun");
                    open = false;
                }
            }
            Ok(())
        })?;
    }
    form.finish()?;
    assert!(!open, "the last part never ended");
    Ok(parts)
}

/// The contents of the parts of `body`, framed as RFC 2046 §5.1 says
/// (part heads only delimited, not read), or `None` if the framing is
/// wrong or a head is over the limit.
fn model(body: &[u8]) -> Option<Vec<&[u8]>> {
    let dash_boundary = [b"--", BOUNDARY].concat();
    let delimiter = [b"\r\n", &dash_boundary[..]].concat();
    // The first delimiter may open the body, without its CRLF.
    let mut at = if body.starts_with(&dash_boundary) {
        dash_boundary.len()
    } else {
        find(body, &delimiter)? + delimiter.len()
    };
    let mut contents = Vec::new();
    loop {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Some(contents);
        }
        // Transport padding, then CRLF.
        let padding = rest.iter().take_while(|&&b| b == b' ' || b == b'\t').count();
        if !rest[padding..].starts_with(b"\r\n") {
            return None;
        }
        let head_start = at + padding + 2;
        let head = &body[head_start..];
        let head_len = if head.starts_with(b"\r\n") { 2 } else { find(head, b"\r\n\r\n")? + 4 };
        if head_len > limits().part_head {
            return None;
        }
        let content_start = head_start + head_len;
        // The head's empty line doubles as an empty part's delimiter CRLF.
        if body[content_start..].starts_with(&dash_boundary) {
            contents.push(&body[content_start..content_start]);
            at = content_start + dash_boundary.len();
            continue;
        }
        let end = content_start + find(&body[content_start..], &delimiter)?;
        contents.push(&body[content_start..end]);
        at = end + delimiter.len();
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
