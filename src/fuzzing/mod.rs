//! Fuzzing oracles: each takes arbitrary bytes, runs a parser that faces
//! the network, and panics when a property stronger than "does not panic"
//! fails — split-invariance, a round trip, agreement with a plain model.
//! The targets in `fuzz/` and `tests/fuzz_corpus.rs` call the same ones.

use crate::config::MAX_HEADERS_LIMIT;
use crate::http::head::{self, header_slots, HeaderSlots};
use crate::http::query::Query;
use crate::http::request::{Headers, Request};
use crate::http::target::HostMemo;

#[cfg(feature = "testing")]
mod conn;
mod fields;
mod forms;
mod lexer;
mod paths;
mod ws;

#[cfg(feature = "testing")]
pub use conn::check_connection;
pub use fields::{check_dates, check_entity_tags, check_host, check_range};
pub use forms::{check_multipart, parse_form, FormPart};
pub use lexer::check_lexer;
pub use paths::check_path;
pub use ws::check_handshake;
#[cfg(feature = "testing")]
pub use ws::check_ws_frames;

/// A request parsed from `raw` (a head and a Content-Length body), or
/// `None` if it is not a whole, valid one.
pub(crate) fn request<'b>(raw: &'b [u8], slots: &'b mut HeaderSlots<'b>) -> Option<Request<'b>> {
    let rules = head::Rules { max_headers: MAX_HEADERS_LIMIT, bare_lf: false };
    let head = head::parse(raw, slots, rules, &mut HostMemo::new()).ok()??;
    let body = raw.get(head.len..head.len.checked_add(usize::try_from(head.content_length).ok()?)?)?;
    Some(Request {
        method: head.method,
        target: head.target,
        version: head.version,
        headers: Headers::new(head.headers),
        body,
        peer: std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into(),
    })
}

/// Fuzzing oracle: parses `data` as a request head at once and as two
/// pieces (scanning for the end only in the new bytes, as a
/// connection does), with and without bare LFs accepted, and panics if
/// the two disagree; and checks the lexer against `httparse`
/// ([`check_lexer`]).
pub fn check_head_parser(data: &[u8]) {
    check_lexer(data);
    for bare_lf in [false, true] {
        check_head_split(data, head::Rules { max_headers: MAX_HEADERS_LIMIT, bare_lf });
    }
}

fn check_head_split(data: &[u8], rules: head::Rules) {
    let data = &data[head::leading_empty_lines(data, rules.bare_lf)..];
    let mut slots = header_slots();
    let whole = head::parse(data, &mut slots, rules, &mut HostMemo::new()).map(|h| h.map(|h| h.len));
    let split = data.len() / 2;
    let incremental = match head::find_end(&data[..split], 0) {
        Some(_) => return, // ends in the first half: nothing incremental to compare
        None => head::find_end(data, split),
    };
    if let (Ok(Some(len)), Some(end)) = (whole, incremental) {
        assert_eq!(len, end, "head length differs from the scanned end");
    }
    if let Some(end) = incremental {
        let mut slots = header_slots();
        let again = head::parse(&data[..end], &mut slots, rules, &mut HostMemo::new());
        assert_eq!(again.is_ok(), whole.is_ok(), "parse result depends on trailing bytes");
    }
}

/// Fuzzing oracle: decodes `data` as a chunked body at once and split
/// at every third of its length; the data, the bytes used and the
/// verdict must not depend on how the input was split.
pub fn check_chunked(data: &[u8]) {
    use crate::http::body::{ChunkError, ChunkedDecoder};
    fn run(pieces: &[&[u8]]) -> (Result<usize, ChunkError>, Vec<u8>, bool) {
        let mut decoder = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut used = 0;
        for piece in pieces {
            let mut sink = |d: &[u8]| {
                if out.len() + d.len() > 1 << 20 {
                    return Err(ChunkError::TooLarge);
                }
                out.extend_from_slice(d);
                Ok(())
            };
            match decoder.decode(piece, &mut sink) {
                Ok(n) => {
                    used += n;
                    if n < piece.len() {
                        break;
                    }
                }
                Err(e) => return (Err(e), out, false),
            }
        }
        (Ok(used), out, decoder.is_done())
    }
    let whole = run(&[data]);
    let (a, rest) = data.split_at(data.len() / 3);
    let (b, c) = rest.split_at(rest.len() / 2);
    let split = run(&[a, b, c]);
    assert_eq!(whole, split, "chunked decoding depends on fragmentation");
    if let (Ok(used), _, done) = &whole {
        assert!(*used <= data.len());
        assert!(*done || *used == data.len(), "stopped early without finishing");
    }
}

/// Fuzzing oracle: iterates and decodes a query string; decoding never
/// grows the text and `decode_into` agrees with `bytes`.
pub fn check_query(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let mut buf = [0u8; 256];
    for (k, v) in Query::new(raw).iter() {
        for d in [k, v] {
            assert!(d.bytes().count() <= d.raw().len());
            if let Ok(out) = d.decode_into(&mut buf) {
                assert!(d.bytes().eq(out.iter().copied()));
            }
            let _ = d.to_string();
            assert!(d == d.to_string().as_str() || !d.bytes().all(|b| b.is_ascii()));
        }
    }
    if let Some((k, _)) = Query::new(raw).iter().next() {
        let mut key = [0u8; 256];
        if let Some(k) = k.decode_str_into(&mut key) {
            assert!(Query::new(raw).get(k).is_some());
        }
    }
}
