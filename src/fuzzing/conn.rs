//! The oracle for a whole HTTP connection: heads, bodies (Content-Length
//! and chunked), pipelining and errors, fed in arbitrary splits.

use crate::config::Config;
use crate::http::request::Request;
use crate::http::response::Response;
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
/// the server writes, response by response (see `normalise`), and
/// whether it keeps the connection must not depend on it.
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
    (normalise(client.written()), client.is_open())
}

/// The server's output response by response, each checked to be whole:
/// `Date` values masked, interim `100 Continue`s dropped (one is owed only
/// to a client whose body had not come yet, so whether it is sent depends
/// on the split). Panics on bytes that are not a response.
fn normalise(out: &[u8]) -> Vec<u8> {
    const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
    let shown = || String::from_utf8_lossy(out).into_owned();
    let mut kept = Vec::with_capacity(out.len());
    let mut rest = out;
    while !rest.is_empty() {
        let end = rest
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("a head cut short: {}", shown()));
        let (head, after) = rest.split_at(end + 4);
        assert!(head.starts_with(b"HTTP/1.1 "), "not a response: {}", shown());
        if head == CONTINUE {
            rest = after;
            continue;
        }
        let len = content_length(head).unwrap_or_else(|| panic!("no Content-Length: {}", shown()));
        // A response to HEAD stops after its head: what follows is the
        // next response (an echo's body starts with a method, never with
        // `HTTP/1.`, and the server's errors have no body).
        let len = if after.is_empty() || after.starts_with(b"HTTP/1.") { 0 } else { len };
        assert!(after.len() >= len, "a body cut short: {}", shown());
        let at = kept.len();
        kept.extend_from_slice(head);
        if let Some(date) = head.windows(8).position(|w| w == b"\r\nDate: ") {
            kept[at + date + 8..at + date + 8 + 29].fill(b'D');
        }
        kept.extend_from_slice(&after[..len]);
        rest = &after[len..];
    }
    kept
}

/// The `Content-Length` of a response head.
fn content_length(head: &[u8]) -> Option<usize> {
    let key = b"\r\nContent-Length: ";
    let at = head.windows(key.len()).position(|w| w == key)? + key.len();
    let digits = head[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&head[at..at + digits]).ok()?.parse().ok()
}
