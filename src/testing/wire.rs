//! What goes over the wire, as a client reads and writes it: responses
//! and WebSocket frames parsed back, client frames masked.

use crate::ws::frame::{self, MAX_HEADER};
use crate::ws::{CloseCode, Opcode};

/// One response the server wrote, parsed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// One WebSocket frame the server wrote, parsed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestFrame {
    /// The final fragment of its message (the server never fragments).
    pub fin: bool,
    /// The RSV bits (`0x70` of the first byte): a server that negotiated
    /// no extension must leave them clear (RFC 6455 §5.2).
    pub rsv: u8,
    /// The frame was masked, which a server's must not be (§5.1); its
    /// payload below is unmasked all the same.
    pub masked: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The payload (servers do not mask).
    pub payload: Vec<u8>,
}

impl TestFrame {
    /// The payload of a text frame.
    pub fn text(&self) -> Option<&str> {
        (self.opcode == Opcode::Text).then(|| std::str::from_utf8(&self.payload).ok()).flatten()
    }

    /// The code of a close frame, if it carries one.
    pub fn close_code(&self) -> Option<CloseCode> {
        match (self.opcode, self.payload.as_slice()) {
            (Opcode::Close, [a, b, ..]) => Some(CloseCode(u16::from_be_bytes([*a, *b]))),
            _ => None,
        }
    }
}

/// The mask of every frame the client sends (RFC 6455 §5.3 asks for an
/// unpredictable one against proxies; a test wants repeatable bytes).
const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Parses one response off the front of `out`: the response and the bytes
/// it took, or `None` if it is not all there. `closed`: the server closed
/// the connection, which ends a body without a length.
pub fn parse_response(out: &[u8], head_only: bool, closed: bool) -> Option<(TestResponse, usize)> {
    let (head, head_len) = parse_head(out)?;
    let rest = &out[head_len..];
    let (body, used) = match head.framing(head_only) {
        Framing::None => (Vec::new(), Some(0)),
        Framing::Chunked => dechunk(rest),
        Framing::Length(length) => (rest.get(..length)?.to_vec(), Some(length)),
        // Delimited by the close.
        Framing::Close => (rest.to_vec(), closed.then_some(rest.len())),
        // Where it ends cannot be known: never whole.
        Framing::Invalid => return None,
    };
    Some((TestResponse { body, ..head }, head_len + used?))
}

/// The next final response in `out` as far as it has come: its head
/// whole, and its body's bytes so far (of a chunked body, its whole
/// chunks so far, de-chunked); `None` until its head is whole. Interim
/// responses before it (`100 Continue`) are passed over.
pub fn parse_partial(mut out: &[u8]) -> Option<TestResponse> {
    let (head, head_len) = loop {
        let (head, head_len) = parse_head(out)?;
        match head.status {
            100..=199 if head.status != 101 => out = &out[head_len..],
            _ => break (head, head_len),
        }
    };
    let rest = &out[head_len..];
    let body = match head.framing(false) {
        Framing::None | Framing::Invalid => Vec::new(),
        Framing::Chunked => dechunk(rest).0,
        Framing::Length(length) => rest[..length.min(rest.len())].to_vec(),
        Framing::Close => rest.to_vec(),
    };
    Some(TestResponse { body, ..head })
}

/// How a response's body is framed.
enum Framing {
    None,
    Chunked,
    Length(usize),
    Close,
    /// A `Content-Length` that is no number.
    Invalid,
}

impl TestResponse {
    fn framing(&self, head_only: bool) -> Framing {
        if head_only || self.status < 200 || self.status == 204 || self.status == 304 {
            return Framing::None;
        }
        if self.header("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
            return Framing::Chunked;
        }
        match self.header("content-length").map(|l| l.trim().parse()) {
            Some(Ok(length)) => Framing::Length(length),
            Some(Err(_)) => Framing::Invalid,
            None => Framing::Close,
        }
    }
}

/// A response's head off the front of `out` (with an empty body), and
/// the bytes it took; `None` if it is not all there.
fn parse_head(out: &[u8]) -> Option<(TestResponse, usize)> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    // More fields than that (a handler may send any number): room for
    // as many as the head has lines.
    let mut many = Vec::new();
    if matches!(httparse::Response::new(&mut slots).parse(out), Err(httparse::Error::TooManyHeaders)) {
        many = vec![httparse::EMPTY_HEADER; out.split(|&b| b == b'\n').count()];
    }
    let mut parsed = httparse::Response::new(if many.is_empty() { &mut slots } else { &mut many });
    let head_len = match parsed.parse(out).ok()? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let status = parsed.code?;
    let headers = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    Some((TestResponse { status, headers, body: Vec::new() }, head_len))
}

/// A chunked body's whole chunks so far, and the bytes its framing took
/// if it is all there (the last chunk and the trailers came).
fn dechunk(mut rest: &[u8]) -> (Vec<u8>, Option<usize>) {
    let start = rest.len();
    let mut body = Vec::new();
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else { return (body, None) };
        let size_text = std::str::from_utf8(&rest[..line_end]).ok();
        let size = size_text.and_then(|t| usize::from_str_radix(t.split(';').next()?.trim(), 16).ok());
        let Some(size) = size else { return (body, None) };
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else { return (body, None) };
                rest = &rest[end + 2..];
                if end == 0 {
                    return (body, Some(start - rest.len()));
                }
            }
        }
        match (rest.get(..size), rest.get(size..size + 2)) {
            (Some(chunk), Some(b"\r\n")) => body.extend_from_slice(chunk),
            _ => return (body, None),
        }
        rest = &rest[size + 2..];
    }
}

/// A client frame: `payload` masked with [`MASK`] behind its header.
pub fn masked_frame(fin: bool, opcode: Opcode, payload: &[u8]) -> Vec<u8> {
    let mut head = [0; MAX_HEADER];
    let n = frame::encode_head(opcode, payload.len(), &mut head);
    if !fin {
        head[0] &= 0x7F;
    }
    head[1] |= 0x80;
    let mut bytes = head[..n].to_vec();
    bytes.extend_from_slice(&MASK);
    let start = bytes.len();
    bytes.extend_from_slice(payload);
    frame::unmask(&mut bytes[start..], MASK, 0);
    bytes
}

/// Parses one server frame off the front of `out`: the frame and the bytes
/// it took, or `None` if it is not all there (or not a frame).
pub fn parse_frame(out: &[u8]) -> Option<(TestFrame, usize)> {
    let [b0, b1, ..] = *out else { return None };
    let (len, mut at) = match b1 & 0x7F {
        126 => (u64::from(u16::from_be_bytes(out.get(2..4)?.try_into().ok()?)), 4),
        127 => (u64::from_be_bytes(out.get(2..10)?.try_into().ok()?), 10),
        n => (u64::from(n), 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let mask: [u8; 4] = out.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(mask)
    } else {
        None
    };
    let end = at.checked_add(usize::try_from(len).ok()?)?;
    let mut payload = out.get(at..end)?.to_vec();
    if let Some(mask) = mask {
        frame::unmask(&mut payload, mask, 0);
    }
    let frame = TestFrame {
        fin: b0 & 0x80 != 0,
        rsv: b0 & 0x70,
        masked: mask.is_some(),
        opcode: Opcode::from_bits(b0 & 0x0F)?,
        payload,
    };
    Some((frame, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_response_passes_interim_ones_and_reads_whole_chunks() {
        let out = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\nde";
        let so_far = parse_partial(out).expect("a head");
        assert_eq!((so_far.status, so_far.body.as_slice()), (200, &b"abc"[..]));
        assert!(parse_partial(b"HTTP/1.1 200 OK\r\nContent-Le").is_none(), "no head yet");
        let sized = parse_partial(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel").unwrap();
        assert_eq!(sized.body, b"hel");
    }

    #[test]
    fn a_length_that_is_no_number_never_makes_a_whole_response() {
        let out = b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\nbody";
        assert_eq!(parse_response(out, false, true), None);
        assert_eq!(parse_partial(out).map(|r| r.body), Some(Vec::new()));
        let whole = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbodyHTTP/1.1 204 No Content\r\n\r\n";
        let (res, used) = parse_response(whole, false, false).unwrap();
        let next = b"HTTP/1.1 204 No Content\r\n\r\n".len();
        assert_eq!((res.body.as_slice(), used), (&b"body"[..], whole.len() - next));
    }
}
