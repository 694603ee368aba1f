//! Request bodies, Content-Length and chunked, of any size up to the limit,
//! in any fragmentation, handed to the handler as one slice.

use std::io::Write;
use std::time::Duration;

use peregrine::{Config, Request, Response};

mod support;
use support::{is_closed, read_response, roundtrip, TestServer};

/// Echoes the body; `/ignore` answers without looking at it.
fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    if req.path() == "/ignore" {
        res.body(b"ignored");
    } else {
        res.body(req.body());
    }
}

fn server(max_body: usize) -> TestServer {
    TestServer::start(Config::new().workers(2).max_body_size(max_body), echo)
}

/// Bytes that show any loss, repetition or reordering.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
    let mut wire = Vec::new();
    for (i, piece) in body.chunks(chunk).enumerate() {
        // Sizes in both hex cases, an extension on every other chunk.
        let size =
            if i % 2 == 0 { format!("{:x}", piece.len()) } else { format!("{:X};ext=\"v\"", piece.len()) };
        wire.extend_from_slice(size.as_bytes());
        wire.extend_from_slice(b"\r\n");
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\nX-Trailer: yes\r\n\r\n");
    wire
}

fn post_length(path: &str, body: &[u8]) -> Vec<u8> {
    let mut raw =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(body);
    raw
}

fn post_chunked(path: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let mut raw =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    raw.extend_from_slice(&chunked(body, chunk));
    raw
}

#[test]
fn content_length_bodies_larger_than_the_read_buffer_arrive_whole() {
    let server = server(1 << 20);
    let mut s = server.connect();
    for len in [0, 1, 8000, 8192, 20_000, 1 << 20] {
        let body = pattern(len);
        let res = roundtrip(&mut s, &post_length("/", &body));
        assert_eq!(res.status, 200, "len {len}");
        assert!(res.body == body, "len {len}: body differs");
    }
}

#[test]
fn chunked_bodies_arrive_whole() {
    let server = server(1 << 20);
    let mut s = server.connect();
    for (len, chunk) in [(0, 1), (5, 1), (3000, 100), (100_000, 4096), (300_000, 65_536)] {
        let body = pattern(len);
        let res = roundtrip(&mut s, &post_chunked("/", &body, chunk));
        assert_eq!(res.status, 200, "len {len}");
        assert!(res.body == body, "len {len}: body differs");
    }
}

#[test]
fn chunked_body_sent_one_byte_at_a_time() {
    let server = server(1 << 20);
    let mut s = server.connect();
    let body = pattern(300);
    for &b in post_chunked("/", &body, 7).iter() {
        s.write_all(&[b]).unwrap();
    }
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert!(res.body == body);
}

#[test]
fn ignored_bodies_never_desynchronise_the_next_request() {
    let server = server(1 << 20);
    let mut s = server.connect();
    // A body that looks like a request must never be taken for one.
    let sneaky = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n".repeat(500);
    let mut wire = post_length("/ignore", &sneaky);
    wire.extend_from_slice(&post_chunked("/ignore", &sneaky, 1000));
    wire.extend_from_slice(&post_length("/echo", b"after"));
    s.write_all(&wire).unwrap();
    let mut buf = Vec::new();
    for want in [&b"ignored"[..], b"ignored", b"after"] {
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.body, want);
    }
    assert!(buf.is_empty(), "extra responses: {:?}", String::from_utf8_lossy(&buf));
}

#[test]
fn slow_body_is_fine_while_it_keeps_coming() {
    let config = Config::new().workers(1).request_timeout(Duration::from_millis(500));
    let server = TestServer::start(config, echo);
    let mut s = server.connect();
    let body = pattern(20_000);
    let raw = post_length("/", &body);
    // About a second in all, never silent for the whole timeout.
    for piece in raw.chunks(raw.len() / 10 + 1) {
        s.write_all(piece).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 200);
    assert!(res.body == body);
}

#[test]
fn stalled_body_is_timed_out() {
    let config = Config::new().workers(1).request_timeout(Duration::from_millis(300));
    let server = TestServer::start(config, echo);
    for raw in [post_length("/", &pattern(20_000)), post_chunked("/", &pattern(20_000), 1000)] {
        let mut s = server.connect();
        s.write_all(&raw[..raw.len() / 2]).unwrap();
        let res = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(res.status, 408);
        assert!(is_closed(&mut s));
    }
}

#[test]
fn eight_mib_upload_is_echoed_byte_for_byte() {
    let server = server(16 << 20);
    let mut s = server.connect();
    let body = pattern(8 << 20);
    let writer = {
        let mut w = s.try_clone().unwrap();
        let raw = post_length("/", &body);
        std::thread::spawn(move || w.write_all(&raw).unwrap())
    };
    let res = read_response(&mut s, &mut Vec::new(), false);
    writer.join().unwrap();
    assert_eq!(res.status, 200);
    assert!(res.body == body, "8 MiB body differs");
}

#[test]
fn a_head_that_fills_the_read_buffer_still_takes_a_body() {
    // Regression: the head stayed at the front of the read buffer while
    // the body arrived, so a head of exactly the buffer's size left no
    // room to read and was answered 431 (and a head of nearly that size
    // left a few bytes per read).
    let server = TestServer::start(Config::new().workers(1).read_buffer_size(4096), echo);
    let body = pattern(100_000);
    for head_size in [4096, 4095, 4000, 2048] {
        let start = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nX-Pad: ";
        let pad = head_size - start.len() - 4;
        let mut raw = format!("{start}{}\r\n\r\n", "p".repeat(pad)).into_bytes();
        assert_eq!(raw.len(), head_size);
        raw.extend_from_slice(&body);
        let mut s = server.connect();
        let res = roundtrip(&mut s, &raw);
        assert_eq!(res.status, 200, "head of {head_size} bytes");
        assert!(res.body == body, "head of {head_size} bytes: body differs");
        // Chunked too, with the next request pipelined behind the body.
        let start = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Pad: ";
        let pad = head_size - start.len() - 4;
        let mut raw = format!("{start}{}\r\n\r\n", "p".repeat(pad)).into_bytes();
        raw.extend_from_slice(&chunked(&body, 3000));
        raw.extend_from_slice(b"GET /ignore HTTP/1.1\r\nHost: x\r\n\r\n");
        s.write_all(&raw).unwrap();
        let mut buf = Vec::new();
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 200, "chunked, head of {head_size} bytes");
        assert!(res.body == body, "chunked, head of {head_size} bytes: body differs");
        assert_eq!(read_response(&mut s, &mut buf, false).body, b"ignored");
    }
}

#[test]
fn a_half_closed_upload_is_answered_and_closed_at_once() {
    // Regression: a body longer than one turn's reads came with the
    // client's FIN; the turns after the first no longer knew of the FIN,
    // stopped at a short read, and the connection waited for the idle
    // timeout (here a minute, far past the test's ten-second read limit)
    // instead of closing after its answer.
    let config = Config::new().workers(1).max_body_size(4 << 20).keep_alive_timeout(Duration::from_secs(60));
    let server = TestServer::start(config, echo);
    let body = pattern(1_000_000);
    let mut raw =
        format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(&body);
    let s = server.connect();
    let mut writer = s.try_clone().unwrap();
    let sent = std::thread::spawn(move || {
        writer.write_all(&raw).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut reader = s;
    let mut buf = Vec::new();
    let res = read_response(&mut reader, &mut buf, false);
    sent.join().unwrap();
    assert_eq!(res.status, 200);
    assert!(res.body == body, "the body differs");
    assert!(is_closed(&mut reader), "the connection was not closed after the client's FIN");
}
