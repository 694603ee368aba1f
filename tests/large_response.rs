//! Responses larger than every buffer: sent intact to slow readers, with
//! back-pressure (no further request is handled while one is unsent).

use std::io::{Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use peregrine::{Request, Response};

mod support;
use support::{read_response, TestServer};

/// `len` bytes of a pseudo-random pattern, so a dropped, repeated or
/// reordered chunk shows.
fn pattern(len: usize, seed: u64) -> Vec<u8> {
    support::xorshift_bytes(len, seed)
}

/// A 4 MiB body that lives for the whole test run.
fn four_mib() -> &'static [u8] {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    BODY.get_or_init(|| pattern(4 << 20, 0x5eed))
}

/// A body far larger than what the kernel buffers on loopback for a client
/// that does not read (send buffer at most a few MiB), so the response is
/// guaranteed to stay pending.
fn thirty_two_mib() -> &'static [u8] {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    BODY.get_or_init(|| pattern(32 << 20, 0xb16))
}

fn assert_same(got: &[u8], want: &[u8]) {
    assert_eq!(got.len(), want.len(), "body length");
    if let Some(i) = got.iter().zip(want).position(|(a, b)| a != b) {
        panic!("bodies differ first at byte {i} of {}", want.len());
    }
}

#[test]
fn four_mib_static_body_reaches_a_slow_reader_intact() {
    let server = TestServer::with(|_: &Request<'_>, res: &mut Response<'_>| {
        res.header("Content-Type", "application/octet-stream").body_static(four_mib());
    });
    let mut s = server.connect();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // Read the first 256 KiB slowly, in small chunks, so the server's
    // writes hit a full socket and must resume on writability.
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while buf.len() < 256 * 1024 {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early after {} bytes", buf.len());
        buf.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(1));
    }
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.status, 200);
    assert_eq!(res.header("Content-Length"), Some("4194304"));
    assert_same(&res.body, four_mib());
    assert!(buf.is_empty());
    // The connection is still good afterwards.
    s.write_all(b"GET /again HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let res = read_response(&mut s, &mut buf, false);
    assert_same(&res.body, four_mib());
}

#[test]
fn pipelined_request_waits_while_a_large_response_is_pending() {
    let handled = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&handled);
    let server = TestServer::with(move |req: &Request<'_>, res: &mut Response<'_>| {
        counter.fetch_add(1, Ordering::SeqCst);
        match req.path() {
            "/big" => {
                res.body_static(thirty_two_mib());
            }
            _ => {
                res.body(b"small");
            }
        }
    });
    let mut s = server.connect();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\nGET /small HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(support::eventually(|| handled.load(Ordering::SeqCst) >= 1), "first request never handled");
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(
        handled.load(Ordering::SeqCst),
        1,
        "the second request was handled while the first response was still unsent"
    );
    let mut buf = Vec::new();
    let big = read_response(&mut s, &mut buf, false);
    assert_eq!(big.status, 200);
    assert_same(&big.body, thirty_two_mib());
    let small = read_response(&mut s, &mut buf, false);
    assert_eq!(small.status, 200);
    assert_eq!(small.body, b"small");
    assert_eq!(handled.load(Ordering::SeqCst), 2);
}

#[test]
fn one_mib_copied_body_arrives_intact() {
    let server = TestServer::with(|req: &Request<'_>, res: &mut Response<'_>| {
        let seed = req.query_str().parse::<u64>().unwrap_or(7);
        let body = pattern(1 << 20, seed);
        res.body(&body);
    });
    let mut s = server.connect();
    let mut buf = Vec::new();
    for seed in [11u64, 12] {
        write!(s, "GET /copy?{seed} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 200);
        assert_eq!(res.header("Content-Length"), Some("1048576"));
        assert_same(&res.body, &pattern(1 << 20, seed));
    }
    // Pipelined: two copied bodies larger than the write buffer, in order.
    s.write_all(b"GET /copy?21 HTTP/1.1\r\nHost: x\r\n\r\nGET /copy?22 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_same(&read_response(&mut s, &mut buf, false).body, &pattern(1 << 20, 21));
    assert_same(&read_response(&mut s, &mut buf, false).body, &pattern(1 << 20, 22));
    assert!(buf.is_empty());
}
