//! The oracle for a whole HTTP connection: heads, bodies (Content-Length
//! and chunked), pipelining and errors, fed in arbitrary splits.

use crate::config::Config;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::testing::wire::parse_response;
use crate::testing::TestClient;

/// Answers with what it got: method, path, body length and a checksum.
fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    let body = req.body();
    let sum = body.iter().fold(0u32, |h, &b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    let _ = std::io::Write::write_fmt(
        res,
        format_args!("{} {} {} {sum:08x}", req.method().as_str(), req.path(), body.len()),
    );
}

/// How the client's bytes reach the server.
#[derive(Clone, Copy, Debug)]
enum Delivery {
    AtOnce,
    /// Written `n` bytes at a time.
    Pieces(usize),
    /// Written at once, read `n` bytes at a time.
    Reads(usize),
    /// Every server write takes at most `n` bytes.
    Writes(usize),
}

/// The connection's bytes (the first byte picks the split sizes) go in
/// at once, in pieces, through small reads and through small writes; what
/// the server writes (its `Date` masked, interim `100 Continue`s left out:
/// one is owed only to a client whose body has not come yet) and whether
/// it keeps the connection must not depend on it. Every response is a
/// well-formed one.
pub fn check_connection(data: &[u8]) {
    let Some((&sizes, stream)) = data.split_first() else { return };
    let whole = run(stream, Delivery::AtOnce);
    for delivery in [
        Delivery::Pieces(usize::from(sizes & 7) + 1),
        Delivery::Reads(usize::from(sizes >> 3 & 7) + 1),
        Delivery::Writes(usize::from(sizes >> 6) * 16 + 1),
    ] {
        let other = run(stream, delivery);
        assert!(
            whole == other,
            "{delivery:?} changed the outcome of {:?}:\n{}\n---\n{}",
            String::from_utf8_lossy(stream),
            String::from_utf8_lossy(&whole.0),
            String::from_utf8_lossy(&other.0)
        );
    }
    // A response to HEAD has no body after its length: skipped here.
    if stream.windows(4).any(|w| w == b"HEAD") {
        return;
    }
    let (mut rest, closed) = (&whole.0[..], !whole.1);
    while !rest.is_empty() {
        let (_, used) = parse_response(rest, false, closed)
            .unwrap_or_else(|| panic!("a malformed response: {:?}", String::from_utf8_lossy(rest)));
        rest = &rest[used..];
    }
}

fn run(stream: &[u8], delivery: Delivery) -> (Vec<u8>, bool) {
    let config = Config::new().read_buffer_size(1024).max_body_size(300).max_headers(8);
    let mut client = TestClient::with_config(config, echo);
    match delivery {
        Delivery::AtOnce => client.send(stream),
        Delivery::Pieces(n) => client.send_in_pieces(stream, n),
        Delivery::Reads(n) => client.read_at_most(n).send(stream),
        Delivery::Writes(n) => client.write_at_most(n).send(stream),
    };
    client.close_write();
    let written = client.written().to_vec();
    (normalise(written), client.is_open())
}

/// Masks `Date` values and drops `100 Continue` interim responses (which
/// the echo's bodies, holding no space-separated `HTTP/1.1`, never
/// contain; whether one is sent depends on whether the body had come).
fn normalise(mut out: Vec<u8>) -> Vec<u8> {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    const DATE: &[u8] = b"\r\nDate: ";
    let mut at = 0;
    while let Some(i) = out[at..].windows(DATE.len()).position(|w| w == DATE) {
        let start = at + i + DATE.len();
        let end = (start + 29).min(out.len());
        out[start..end].fill(b'D');
        at = end;
    }
    let mut kept = Vec::with_capacity(out.len());
    let mut rest = &out[..];
    while let Some(i) = rest.windows(CONTINUE.len()).position(|w| w == CONTINUE) {
        kept.extend_from_slice(&rest[..i]);
        rest = &rest[i + CONTINUE.len()..];
    }
    kept.extend_from_slice(rest);
    kept
}
