//! Request heads: finding their end, parsing them, and deciding framing
//! and keep-alive. Pure functions over byte slices; no sockets.

use std::mem::MaybeUninit;

use super::body::{Coding, CodingList};
use super::lex::{self, LexError, Lexed};
use super::method::Method;
use super::request::Version;
use super::status::StatusCode;
use super::target::{self, HostMemo};
use super::tokens;

/// Why a request head was refused; each maps to the status it is answered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Not a valid HTTP/1.x request head.
    Malformed,
    /// A version other than HTTP/1.0 or HTTP/1.1.
    Version,
    /// The request line does not fit the read buffer.
    UriTooLong,
    /// The method alone does not fit the read buffer: longer than any
    /// this server implements (RFC 9112 §3).
    MethodTooLong,
    /// The head does not fit the read buffer, or has too many fields.
    HeadTooLarge,
    /// A `Content-Length` that is not one non-negative number.
    BadContentLength,
    /// `Content-Length` and `Transfer-Encoding` together (a smuggling vector).
    LengthAndEncoding,
    /// A `Transfer-Encoding` this server does not decode.
    UnsupportedEncoding,
    /// A declared body larger than the server accepts.
    BodyTooLarge,
    /// HTTP/1.1 without `Host`, any request with more than one, or one
    /// whose value is not `uri-host [ ":" port ]` (RFC 9112 §3.2).
    BadHost,
    /// An `Expect` other than `100-continue` (RFC 9110 §10.1.1).
    Expectation,
}

impl From<HeadError> for StatusCode {
    fn from(e: HeadError) -> Self {
        e.status()
    }
}

impl HeadError {
    /// The status this error is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            HeadError::Malformed
            | HeadError::BadContentLength
            | HeadError::LengthAndEncoding
            | HeadError::BadHost => StatusCode::BAD_REQUEST,
            HeadError::Version => StatusCode::HTTP_VERSION_NOT_SUPPORTED,
            HeadError::UriTooLong => StatusCode::URI_TOO_LONG,
            HeadError::HeadTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            HeadError::UnsupportedEncoding | HeadError::MethodTooLong => StatusCode::NOT_IMPLEMENTED,
            HeadError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HeadError::Expectation => StatusCode::EXPECTATION_FAILED,
        }
    }
}

/// A parsed request head borrowing the buffer it came from.
#[derive(Debug)]
pub struct Head<'b> {
    /// The method.
    pub method: Method<'b>,
    /// The request target.
    pub target: &'b str,
    /// The version.
    pub version: Version,
    /// The header fields.
    pub headers: &'b [httparse::Header<'b>],
    /// Bytes the head occupies, terminator included.
    pub len: usize,
    /// Length of the body that follows (0 when there is none or it is chunked).
    pub content_length: u64,
    /// The body is chunked (`Transfer-Encoding: chunked`).
    pub chunked: bool,
    /// Whether the connection may stay open after the response.
    pub keep_alive: bool,
    /// Whether the client asked for keep-alive explicitly (HTTP/1.0), so
    /// the response must confirm it.
    pub keep_alive_explicit: bool,
    /// HTTP/1.1 `Expect: 100-continue`: the client may wait for an interim
    /// `100 Continue` before sending the body.
    pub expect_continue: bool,
}

/// Uninitialised storage for one head's fields, reused by value on the stack.
pub type HeaderSlots<'b> = [MaybeUninit<httparse::Header<'b>>; crate::config::MAX_HEADERS_LIMIT];

/// Fresh header slots (uninitialised, so making them costs nothing).
pub fn header_slots<'b>() -> HeaderSlots<'b> {
    [const { MaybeUninit::uninit() }; crate::config::MAX_HEADERS_LIMIT]
}

/// How strictly heads are read, and how many fields they may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// How many header slots a head may use.
    pub max_headers: usize,
    /// Accept a bare LF as a line ending (RFC 9112 §2.2 allows it; off by
    /// default, since a front proxy that reads it as part of a value sees
    /// other fields than this server: a request-smuggling shape).
    pub bare_lf: bool,
}

/// Number of bytes of leading empty lines (`\r\n`, or `\n` when bare LFs
/// are accepted), which a server should ignore before a request line
/// (RFC 9112 §2.2).
pub fn leading_empty_lines(buf: &[u8], bare_lf: bool) -> usize {
    let mut i = 0;
    loop {
        match buf[i..] {
            [b'\r', b'\n', ..] => i += 2,
            [b'\n', ..] if bare_lf => i += 1,
            _ => return i,
        }
    }
}

/// Finds the end of a head (just past `\r\n\r\n` or `\n\n`) looking only at
/// bytes from `from` on, so a slow client's head is scanned once in total.
pub fn find_end(buf: &[u8], from: usize) -> Option<usize> {
    let start = from.saturating_sub(3);
    let mut i = start;
    while let Some(off) = buf[i..].iter().position(|&b| b == b'\n') {
        let nl = i + off;
        match buf.get(nl + 1) {
            Some(b'\n') => return Some(nl + 2),
            Some(b'\r') if buf.get(nl + 2) == Some(&b'\n') => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// Parses a head from the start of `buf`.
///
/// `Ok(None)` means the head is incomplete. `rules.max_headers` bounds how
/// many of `slots` may be used; `hosts` remembers the last valid `Host`.
pub fn parse<'b>(
    buf: &'b [u8],
    slots: &'b mut HeaderSlots<'b>,
    rules: Rules,
    hosts: &mut HostMemo,
) -> Result<Option<Head<'b>>, HeadError> {
    let (lexed, headers) = match lex::lex(buf, &mut slots[..rules.max_headers], rules.bare_lf) {
        Ok(Some(lexed)) => lexed,
        Ok(None) => return Ok(None),
        Err(LexError::TooManyHeaders) => return Err(HeadError::HeadTooLarge),
        // Which error, 505 or 400, may hang on bytes still to come.
        Err(LexError::Version) => return version_error(buf).map_or(Ok(None), Err),
        Err(LexError::Malformed) => return Err(HeadError::Malformed),
    };
    let Lexed { method, target, minor, len } = lexed;
    let version = if minor == 0 { Version::Http10 } else { Version::Http11 };
    let summary = Summary::of(headers, hosts)?;
    if summary.chunked && version == Version::Http10 {
        // HTTP/1.0 has no chunked framing: the message is faulty (RFC 9112 §6.1).
        return Err(HeadError::Malformed);
    }
    target::classify(method, target).ok_or(HeadError::Malformed)?;
    // An absolute-form target's authority wins over `Host` (checked with
    // the target), but `Host` must still be there, once (and valid, which
    // `Summary::of` checked).
    if summary.hosts > 1 || (version == Version::Http11 && summary.hosts == 0) {
        return Err(HeadError::BadHost);
    }
    // HTTP/1.0 predates Expect; its recipients ignore it (RFC 9110 §10.1.1).
    let expect_continue = version == Version::Http11 && summary.expect_continue;
    if version == Version::Http11 && summary.expect_other {
        return Err(HeadError::Expectation);
    }
    let (keep_alive, keep_alive_explicit) = keep_alive(version, &summary);
    Ok(Some(Head {
        method,
        target,
        version,
        headers,
        len,
        content_length: summary.content_length,
        chunked: summary.chunked,
        keep_alive,
        keep_alive_explicit,
        expect_continue,
    }))
}

/// A head that filled the whole read buffer without ending: 400 if its
/// bytes are malformed already (as they would have been found had they
/// come in one read), else 501 if even the method did not end, 414 if the
/// request line did not, else 431.
#[cold]
pub fn too_large(buf: &[u8], rules: Rules) -> HeadError {
    if let Err(malformed) = parse(buf, &mut header_slots(), rules, &mut HostMemo::new()) {
        return malformed;
    }
    if buf.contains(&b'\n') {
        HeadError::HeadTooLarge
    } else if !buf.contains(&b' ') {
        HeadError::MethodTooLong
    } else {
        HeadError::UriTooLong
    }
}

/// The lexer reports any odd version token as a version error; only a
/// request line of three parts whose third is a well-formed `HTTP/x.y`
/// we do not speak deserves 505. `None` while the line has not ended and
/// its third part could still become one: whether it does is up to the
/// bytes to come (`HTTP/0.` may go on with `9`, `HTTP/2.0` with `x`), and
/// the answer must not depend on where the client's writes were cut.
fn version_error(buf: &[u8]) -> Option<HeadError> {
    let buf = &buf[leading_empty_lines(buf, true)..];
    let line_end = buf.iter().position(|&b| b == b'\r' || b == b'\n');
    let mut parts = buf[..line_end.unwrap_or(buf.len())].splitn(3, |&b| b == b' ');
    let (Some([_, ..]), Some([_, ..]), Some(version)) = (parts.next(), parts.next(), parts.next()) else {
        return Some(HeadError::Malformed);
    };
    match (version_shaped(version), line_end) {
        (true, None) => None,
        (true, Some(_)) if version.len() == 8 => Some(HeadError::Version),
        _ => Some(HeadError::Malformed),
    }
}

/// Whether `token` is `HTTP/` DIGIT `.` DIGIT (RFC 9112 §2.3), or the
/// start of one.
fn version_shaped(token: &[u8]) -> bool {
    const SHAPE: &[u8; 8] = b"HTTP/0.0";
    token.len() <= SHAPE.len()
        && token.iter().zip(SHAPE).all(|(&b, &s)| if s == b'0' { b.is_ascii_digit() } else { b == s })
}

/// What the head's fields say about the body's framing and the
/// connection.
struct Summary {
    content_length: u64,
    chunked: bool,
    hosts: usize,
    expect_continue: bool,
    expect_other: bool,
    close: bool,
    keep_alive: bool,
}

impl Summary {
    /// Reads the fields that matter to framing; a `Host` value that is not
    /// `uri-host [ ":" port ]` is refused here.
    fn of(headers: &[httparse::Header<'_>], memo: &mut HostMemo) -> Result<Summary, HeadError> {
        let mut f = Summary {
            content_length: 0,
            chunked: false,
            hosts: 0,
            expect_continue: false,
            expect_other: false,
            close: false,
            keep_alive: false,
        };
        let mut length: Option<u64> = None;
        let mut codings: Option<CodingList> = None;
        for h in headers {
            // Dispatch on length first: most fields are neither of these.
            match h.name.len() {
                4 if is_host(h.name.as_bytes()) => {
                    if !memo.is_valid(h.value) {
                        return Err(HeadError::BadHost);
                    }
                    f.hosts += 1;
                }
                6 if h.name.eq_ignore_ascii_case("expect") => {
                    // A list (RFC 9110 §10.1.1): empty elements are nothing,
                    // and `100-continue` twice is still just that.
                    for item in tokens::list(h.value) {
                        let continue_ = item.eq_ignore_ascii_case(b"100-continue");
                        f.expect_continue |= continue_;
                        f.expect_other |= !continue_;
                    }
                }
                10 if h.name.eq_ignore_ascii_case("connection") => {
                    for token in tokens::list(h.value) {
                        f.close |= token.eq_ignore_ascii_case(b"close");
                        f.keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
                    }
                }
                14 if h.name.eq_ignore_ascii_case("content-length") => {
                    // One number, or a list of the same number (RFC 9112
                    // §6.3); an empty value is none.
                    let mut items = 0;
                    for item in tokens::list(h.value) {
                        let n = super::decimal(item).ok_or(HeadError::BadContentLength)?;
                        if length.is_some_and(|l| l != n) {
                            return Err(HeadError::BadContentLength);
                        }
                        length = Some(n);
                        items += 1;
                    }
                    if items == 0 {
                        return Err(HeadError::BadContentLength);
                    }
                }
                17 if h.name.eq_ignore_ascii_case("transfer-encoding") => {
                    codings.get_or_insert_with(CodingList::default).add(h.value);
                }
                _ => {}
            }
        }
        if let Some(codings) = codings {
            if length.is_some() {
                return Err(HeadError::LengthAndEncoding);
            }
            match codings.coding() {
                Coding::Chunked => f.chunked = true,
                Coding::Unsupported => return Err(HeadError::UnsupportedEncoding),
                Coding::Invalid => return Err(HeadError::Malformed),
            }
        }
        f.content_length = length.unwrap_or(0);
        Ok(f)
    }
}

/// Whether a field name is `Host`, in any case, with one word compare:
/// setting bit 5 turns a byte into a lowercase letter only if it was that
/// letter in upper or lower case.
#[inline]
fn is_host(name: &[u8]) -> bool {
    let word = |b: &[u8]| u32::from_le_bytes(b.try_into().expect("4 bytes"));
    name.len() == 4 && word(name) | 0x2020_2020 == word(b"host")
}

/// Keep-alive by default on 1.1 unless `close`; on 1.0 only with an
/// explicit `keep-alive` (which the response then confirms).
fn keep_alive(version: Version, f: &Summary) -> (bool, bool) {
    match version {
        _ if f.close => (false, false),
        Version::Http11 => (true, false),
        Version::Http10 => (f.keep_alive, f.keep_alive),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Summary = (Version, u64, bool, bool, usize);

    const STRICT: Rules = Rules { max_headers: 64, bare_lf: false };

    fn parse_str(s: &str) -> Result<Option<Summary>, HeadError> {
        let mut slots = header_slots();
        parse(s.as_bytes(), &mut slots, STRICT, &mut HostMemo::new())
            .map(|h| h.map(|h| (h.version, h.content_length, h.keep_alive, h.keep_alive_explicit, h.len)))
    }

    #[test]
    fn finds_end_across_calls() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest";
        assert_eq!(find_end(head, 0), Some(27));
        for from in 0..27 {
            assert_eq!(find_end(head, from), Some(27), "from {from}");
        }
        assert_eq!(find_end(b"GET / HTTP/1.1\n\n", 0), Some(16));
        assert_eq!(find_end(b"GET / HTTP/1.1\r\nHost: a\r\n", 0), None);
        assert_eq!(find_end(b"a\r\nb\r\n\r", 5), None);
    }

    #[test]
    fn host_is_matched_in_any_case_and_nothing_else() {
        for at in 0..4 {
            for b in 0..=255u8 {
                let mut name = *b"Host";
                name[at] = b;
                assert_eq!(is_host(&name), name.eq_ignore_ascii_case(b"host"), "{name:?}");
            }
        }
        assert!(!is_host(b"Hos") && !is_host(b"Hosts"));
    }

    #[test]
    fn skips_leading_empty_lines() {
        assert_eq!(leading_empty_lines(b"\r\n\nGET", true), 3);
        assert_eq!(leading_empty_lines(b"\r\n\nGET", false), 2);
        assert_eq!(leading_empty_lines(b"\r\n\r\nGET", false), 4);
        assert_eq!(leading_empty_lines(b"GET", false), 0);
        assert_eq!(leading_empty_lines(b"\r", true), 0);
    }

    #[test]
    fn keep_alive_rules() {
        let ka = |s: &str| parse_str(s).unwrap().unwrap();
        assert!(ka("GET / HTTP/1.1\r\nHost: a\r\n\r\n").2);
        assert!(!ka("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").2);
        assert!(!ka("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, CLOSE \r\n\r\n").2);
        assert!(!ka("GET / HTTP/1.0\r\n\r\n").2);
        let explicit = ka("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert_eq!((explicit.2, explicit.3), (true, true));
        assert!(!ka("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").2);
    }

    #[test]
    fn content_length_rules() {
        let cl = |s: &str| parse_str(s).map(|h| h.unwrap().1);
        assert_eq!(cl("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 12\r\n\r\n"), Ok(12));
        assert_eq!(cl("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n"), Ok(3));
        assert_eq!(cl("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3, 3\r\n\r\n"), Ok(3));
        for bad in ["+3", "-3", "3a", "", "99999999999999999999999", "3, 4", " 0x3"] {
            let req = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {bad}\r\n\r\n");
            assert_eq!(cl(&req), Err(HeadError::BadContentLength), "{bad:?}");
        }
        assert_eq!(
            cl("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n"),
            Err(HeadError::BadContentLength)
        );
        assert_eq!(
            cl("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HeadError::LengthAndEncoding)
        );
    }

    fn host_of(raw: &str) -> Result<Option<String>, HeadError> {
        let mut slots = header_slots();
        parse(raw.as_bytes(), &mut slots, STRICT, &mut HostMemo::new()).map(|h| {
            let h = h.expect("complete");
            let req = crate::Request {
                method: h.method,
                target: h.target,
                version: h.version,
                headers: crate::Headers::new(h.headers),
                body: b"",
                peer: std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into(),
            };
            req.host().map(str::to_owned)
        })
    }

    #[test]
    fn host_is_validated_and_the_absolute_form_wins() {
        for bad in ["a b", "<script>", "[::1", "example.com:abc", "a@b", "a/b", "[::1]x", "\u{e9}"] {
            let raw = format!("GET / HTTP/1.1\r\nHost: {bad}\r\n\r\n");
            assert_eq!(host_of(&raw), Err(HeadError::BadHost), "{bad:?}");
            let raw = format!("GET / HTTP/1.0\r\nHost: {bad}\r\n\r\n");
            assert_eq!(host_of(&raw), Err(HeadError::BadHost), "{bad:?} on 1.0");
        }
        for good in ["example.com", "example.com:8080", "127.0.0.1:3000", "[::1]:80", "[2001:db8::1]", ""] {
            let raw = format!("GET / HTTP/1.1\r\nHost: {good}\r\n\r\n");
            assert_eq!(host_of(&raw), Ok(Some(good.to_string())), "{good:?}");
        }
        assert_eq!(host_of("GET / HTTP/1.0\r\n\r\n"), Ok(None));
        assert_eq!(
            host_of("GET http://a.example:81/x HTTP/1.1\r\nHost: b.example\r\n\r\n"),
            Ok(Some("a.example:81".into()))
        );
        assert_eq!(host_of("GET http://a.example HTTP/1.0\r\n\r\n"), Ok(Some("a.example".into())));
        assert_eq!(
            host_of("GET http://a.example/ HTTP/1.1\r\n\r\n"),
            Err(HeadError::BadHost),
            "1.1 needs Host"
        );
        assert_eq!(host_of("GET http://a<b/ HTTP/1.1\r\nHost: a\r\n\r\n"), Err(HeadError::Malformed));
        assert_eq!(host_of("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), Err(HeadError::Malformed));
    }

    #[test]
    fn target_forms_fit_their_methods() {
        let status = |raw: &str| parse_str(raw).map(|h| h.is_some());
        assert_eq!(status("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), Ok(true));
        for bad in ["GET *", "POST *", "HEAD *", "GET foo", "GET a.example:80", "CONNECT /", "GET ftp://a/"] {
            let raw = format!("{bad} HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(status(&raw), Err(HeadError::Malformed), "{bad}");
        }
        assert_eq!(status("CONNECT a.example:443 HTTP/1.1\r\nHost: a.example:443\r\n\r\n"), Ok(true));
    }

    #[test]
    fn bare_lf_is_refused_unless_allowed() {
        let lenient = Rules { bare_lf: true, ..STRICT };
        for raw in [
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nX: a\nTransfer-Encoding: chunked\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\n\n",
        ] {
            let mut slots = header_slots();
            let strict = parse(raw.as_bytes(), &mut slots, STRICT, &mut HostMemo::new());
            assert_eq!(strict.err(), Some(HeadError::Malformed), "{raw:?}");
            let mut slots = header_slots();
            let lenient = parse(raw.as_bytes(), &mut slots, lenient, &mut HostMemo::new());
            assert!(lenient.is_ok_and(|h| h.is_some()), "{raw:?}");
        }
    }

    #[test]
    fn transfer_coding_chunked_must_be_final() {
        let te =
            |v: &str| parse_str(&format!("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: {v}\r\n\r\n"));
        assert_eq!(te("chunked, gzip").unwrap_err().status().as_u16(), 400);
        // Without a final chunked, the body's end is unknown (RFC 9112 §6.3).
        assert_eq!(te("gzip").unwrap_err().status().as_u16(), 400);
        assert_eq!(te("identity").unwrap_err().status().as_u16(), 400);
        assert_eq!(te("gzip, chunked").unwrap_err().status().as_u16(), 501);
        assert_eq!(te("gzip, Chunked").unwrap_err().status().as_u16(), 501);
        assert!(te("chunked").is_ok());
    }

    /// Found by fuzzing: a head cut after `HTTP/0.` was refused with 400
    /// at once, and with 505 when it came whole. Every prefix of a head
    /// either waits or gets the status the whole head gets.
    #[test]
    fn a_version_cut_short_gets_the_status_of_the_whole() {
        for (whole, status) in [
            ("GET / HTTP/0.1\r\nHost: a\r\n\r\n", 505),
            ("GET / HTTP/2.0\n\n", 505),
            ("GET / HTTP/0.12\r\n\r\n", 400),
            ("GET / HTTP/2.0 x\r\n\r\n", 400),
            ("GET / HTTPS/1.1\r\n\r\n", 400),
            ("GET / HTTP/x.1\r\n\r\n", 400),
        ] {
            assert_eq!(parse_str(whole).unwrap_err().status().as_u16(), status, "{whole:?}");
            for cut in 0..whole.len() {
                match parse_str(&whole[..cut]) {
                    Ok(None) => {}
                    Ok(Some(_)) => panic!("{whole:?} cut at {cut} parsed"),
                    Err(e) => assert_eq!(e.status().as_u16(), status, "{whole:?} cut at {cut}"),
                }
            }
        }
        // Refused as soon as the token can no longer be a version.
        assert_eq!(parse_str("GET / HTTPS").unwrap_err().status().as_u16(), 400);
        assert_eq!(parse_str("GET / HTTP/0.12").unwrap_err().status().as_u16(), 400);
    }

    #[test]
    fn errors_map_to_statuses() {
        assert_eq!(parse_str("GET / HTTP/2.0\r\n\r\n").unwrap_err().status().as_u16(), 505);
        let rules = STRICT;
        assert_eq!(too_large(&[b'G'; 9000], rules), HeadError::MethodTooLong);
        assert_eq!(too_large(format!("GET /{}", "a".repeat(9000)).as_bytes(), rules), HeadError::UriTooLong);
        assert_eq!(
            too_large(format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(9000)).as_bytes(), rules),
            HeadError::HeadTooLarge
        );
        // A higher minor version is read as 1.1 (RFC 9110 §2.5); a longer one is no version.
        let (version, _, keep_alive, ..) = parse_str("GET / HTTP/1.9\r\nHost: a\r\n\r\n").unwrap().unwrap();
        assert_eq!((version, keep_alive), (Version::Http11, true));
        assert_eq!(parse_str("GET / HTTP/1.2\r\n\r\n"), Err(HeadError::BadHost));
        assert_eq!(parse_str("GET / HTTP/1.10\r\n\r\n").unwrap_err().status().as_u16(), 400);
        // No request target has a fragment (RFC 9112 §3.2); `!` and `"` pass.
        for target in ["/x#frag", "/#", "/a?b#c", "http://h/x#y", "*#"] {
            let head = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            assert_eq!(parse_str(&head), Err(HeadError::Malformed), "{target}");
        }
        assert!(parse_str("GET /a!b\"c HTTP/1.1\r\nHost: a\r\n\r\n").unwrap().is_some());
        assert_eq!(parse_str("GET / HTTP/1.a\r\n\r\n").unwrap_err().status().as_u16(), 400);
        // Found by fuzzing: the version is the request line's third part,
        // not its last word, and empty lines before it do not hide it.
        assert_eq!(parse_str("GET / H\0GET / HTTP/1.1\r\n\r\n").unwrap_err().status().as_u16(), 400);
        assert_eq!(parse_str("GET / HTTP/2.0 x\r\n\r\n").unwrap_err().status().as_u16(), 400);
        assert_eq!(version_error(b"\r\nGET / HTTP/2.0\r\n\r\n"), Some(HeadError::Version));
        assert_eq!(version_error(b"GET  HTTP/2.0\r\n\r\n"), Some(HeadError::Malformed));
        assert_eq!(parse_str("GET / FOO/1.1\r\n\r\n").unwrap_err().status().as_u16(), 400);
        assert_eq!(parse_str("G@T / HTTP/1.1\r\n\r\n").unwrap_err().status().as_u16(), 400);
        assert_eq!(parse_str("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").unwrap_err().status().as_u16(), 400);
        assert_eq!(parse_str("GET / HTTP/1.1\r\nHost: a\r\n").unwrap(), None);
        assert_eq!(parse_str("GET / HTTP/1.1\r\n\r\n"), Err(HeadError::BadHost));
        assert_eq!(parse_str("GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"), Err(HeadError::BadHost));
        assert_eq!(parse_str("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n"), Err(HeadError::BadHost));
        assert!(parse_str("GET / HTTP/1.0\r\n\r\n").unwrap().is_some());
        assert_eq!(
            parse_str("PUT / HTTP/1.1\r\nHost: a\r\nExpect: tea\r\n\r\n"),
            Err(HeadError::Expectation)
        );
        assert!(parse_str("PUT / HTTP/1.0\r\nExpect: tea\r\n\r\n").unwrap().is_some());
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "A: b\r\n".repeat(65));
        assert_eq!(parse_str(&many), Err(HeadError::HeadTooLarge));
        let rules = Rules { max_headers: 64, bare_lf: false };
        assert_eq!(too_large(b"GET /aaaaaaaa", rules), HeadError::UriTooLong);
        assert_eq!(too_large(b"GET / HTTP/1.1\r\nA: aaaa", rules), HeadError::HeadTooLarge);
        assert_eq!(too_large(b"GET / HTTP/1.1\r\nA\x01: aaaa", rules), HeadError::Malformed);
    }
}
