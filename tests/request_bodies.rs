//! Request bodies, Content-Length and chunked, of any size up to the limit,
//! in any fragmentation, handed to the handler as one slice.
//!
//! Sizes, framings and fragmentations go through the connection code over
//! memory (`peregrine::testing`), which delivers them exactly as the test
//! cuts them: nothing in them is about sockets, and an upload whose FIN
//! comes with more data than one turn reads is delivered so too
//! (`send_and_close`). What is about sockets stays on a real server:
//! bodies timed by the clock (slow, stalled), and the same half-closed
//! upload over TCP.

use std::io::Write;
use std::time::Duration;

use peregrine::testing::{TestClient, TestResponse};
use peregrine::{Config, Handler, Request, Response};

mod support;
use support::{is_closed, read_response, TestServer};

/// Echoes the body; `/ignore` answers without looking at it.
fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    if req.path() == "/ignore" {
        res.body(b"ignored");
    } else {
        res.body(req.body());
    }
}

/// A connection to `echo` taking bodies up to `max_body`.
fn client(max_body: usize) -> TestClient<impl Handler> {
    TestClient::with_config(Config::new().max_body_size(max_body), echo)
}

/// The next response; panics if none is complete.
fn response<H: Handler>(client: &mut TestClient<H>) -> TestResponse {
    client.response().unwrap_or_else(|| {
        let written = client.written();
        panic!("no complete response; {} bytes written: {:?}", written.len(), lossy(written))
    })
}

fn lossy(raw: &[u8]) -> String {
    String::from_utf8_lossy(&raw[..raw.len().min(200)]).into_owned()
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

// ---------------------------------------------------------------------------
// Through `peregrine::testing`.
// ---------------------------------------------------------------------------

#[test]
fn content_length_bodies_larger_than_the_read_buffer_arrive_whole() {
    let mut client = client(1 << 20);
    for len in [0, 1, 8000, 8192, 20_000, 1 << 20] {
        let body = pattern(len);
        client.send(&post_length("/", &body));
        let res = response(&mut client);
        assert_eq!(res.status, 200, "len {len}");
        assert!(res.body == body, "len {len}: body differs");
        assert!(client.written().is_empty(), "len {len}: more than one response");
        assert!(client.is_open(), "len {len}: the connection was not kept");
    }
}

#[test]
fn chunked_bodies_arrive_whole() {
    let mut client = client(1 << 20);
    // 0xAB and 0xFE: sizes with hex letters, in both cases (`chunked` alternates).
    for (len, chunk) in
        [(0, 1), (5, 1), (3000, 100), (3000, 0xAB), (3000, 0xFE), (100_000, 4096), (300_000, 65_536)]
    {
        let body = pattern(len);
        client.send(&post_chunked("/", &body, chunk));
        let res = response(&mut client);
        assert_eq!(res.status, 200, "len {len}");
        assert!(res.body == body, "len {len}: body differs");
        assert!(client.written().is_empty(), "len {len}: more than one response");
        assert!(client.is_open(), "len {len}: the connection was not kept");
    }
}

#[test]
fn chunked_body_sent_one_byte_at_a_time() {
    let body = pattern(300);
    let raw = post_chunked("/", &body, 7);
    // Each byte taken before the next arrives.
    let mut sent = client(1 << 20);
    sent.send_in_pieces(&raw, 1);
    // All there at once, read a byte at a time.
    let mut read = client(1 << 20);
    read.read_at_most(1).send(&raw);
    for (how, client) in [("sent", &mut sent), ("read", &mut read)] {
        let res = response(client);
        assert_eq!(res.status, 200, "{how} byte by byte");
        assert!(res.body == body, "{how} byte by byte: body differs");
        assert!(client.written().is_empty(), "{how} byte by byte: more than one response");
    }
}

#[test]
fn ignored_bodies_never_desynchronise_the_next_request() {
    // A body that looks like a request must never be taken for one.
    let sneaky = b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n".repeat(500);
    let mut wire = post_length("/ignore", &sneaky);
    wire.extend_from_slice(&post_chunked("/ignore", &sneaky, 1000));
    wire.extend_from_slice(&post_length("/echo", b"after"));
    // All at once, and cut across every boundary.
    for piece in [wire.len(), 1000, 7] {
        let mut client = client(1 << 20);
        client.send_in_pieces(&wire, piece);
        for want in [&b"ignored"[..], b"ignored", b"after"] {
            let res = response(&mut client);
            assert_eq!((res.status, res.body.as_slice()), (200, want), "in pieces of {piece}");
        }
        assert!(client.written().is_empty(), "extra responses: {:?}", lossy(client.written()));
    }
}

#[test]
fn eight_mib_upload_is_echoed_byte_for_byte() {
    let mut client = client(16 << 20);
    let body = pattern(8 << 20);
    client.send(&post_length("/", &body));
    let res = response(&mut client);
    assert_eq!(res.status, 200);
    assert!(res.body == body, "8 MiB body differs");
    assert!(client.written().is_empty(), "more than one response");
}

#[test]
fn a_head_that_fills_the_read_buffer_still_takes_a_body() {
    // Regression: the head stayed at the front of the read buffer while
    // the body arrived, so a head of exactly the buffer's size left no
    // room to read and was answered 431 (and a head of nearly that size
    // left a few bytes per read).
    let body = pattern(100_000);
    for head_size in [4096, 4095, 4000, 2048] {
        let start = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\nX-Pad: ";
        let pad = head_size - start.len() - 4;
        let mut raw = format!("{start}{}\r\n\r\n", "p".repeat(pad)).into_bytes();
        assert_eq!(raw.len(), head_size);
        raw.extend_from_slice(&body);
        let mut client = TestClient::with_config(Config::new().read_buffer_size(4096), echo);
        client.send(&raw);
        let res = response(&mut client);
        assert_eq!(res.status, 200, "head of {head_size} bytes");
        assert!(res.body == body, "head of {head_size} bytes: body differs");
        // Chunked too, with the next request pipelined behind the body.
        let start = "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nX-Pad: ";
        let pad = head_size - start.len() - 4;
        let mut raw = format!("{start}{}\r\n\r\n", "p".repeat(pad)).into_bytes();
        assert_eq!(raw.len(), head_size);
        raw.extend_from_slice(&chunked(&body, 3000));
        raw.extend_from_slice(b"GET /ignore HTTP/1.1\r\nHost: x\r\n\r\n");
        client.send(&raw);
        let res = response(&mut client);
        assert_eq!(res.status, 200, "chunked, head of {head_size} bytes");
        assert!(res.body == body, "chunked, head of {head_size} bytes: body differs");
        let res = response(&mut client);
        assert_eq!((res.status, res.body.as_slice()), (200, &b"ignored"[..]), "head of {head_size} bytes");
        assert!(client.written().is_empty(), "head of {head_size} bytes: extra responses");
    }
}

// ---------------------------------------------------------------------------
// Clocks and sockets, on a real server.
// ---------------------------------------------------------------------------

#[test]
fn slow_body_is_fine_while_it_keeps_coming() {
    let config = Config::new().workers(1).request_timeout(Duration::from_millis(500));
    let server = TestServer::start(config, echo);
    // Larger than the read buffer (received apart), and within it
    // (received in place, where no sink takes its bytes as they come).
    for size in [20_000, 2_000] {
        let mut s = server.connect();
        let body = pattern(size);
        let raw = post_length("/", &body);
        // About a second in all, never silent for the whole timeout.
        for piece in raw.chunks(raw.len() / 10 + 1) {
            s.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(100));
        }
        let res = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(res.status, 200, "a body of {size} bytes");
        assert!(res.body == body, "a body of {size} bytes");
    }
}

#[test]
fn stalled_body_is_timed_out() {
    let config = Config::new().workers(1).request_timeout(Duration::from_millis(300));
    let server = TestServer::start(config, echo);
    for raw in [
        post_length("/", &pattern(20_000)),
        post_chunked("/", &pattern(20_000), 1000),
        post_length("/", &pattern(2_000)),
    ] {
        let mut s = server.connect();
        s.write_all(&raw[..raw.len() / 2]).unwrap();
        let res = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(res.status, 408);
        assert!(is_closed(&mut s));
    }
}

#[test]
fn an_upload_sent_with_the_fin_is_answered_then_closed() {
    // The regression below, without a socket: a body longer than one
    // turn's reads arrives together with the client's FIN.
    let config = Config::new().max_body_size(4 << 20);
    let mut client = TestClient::with_config(config, echo);
    let body = pattern(1_000_000);
    client.send_and_close(&post_length("/echo", &body));
    let res = client.response().expect("an answer");
    assert_eq!(res.status, 200);
    assert!(res.body == body, "the body differs");
    assert!(client.written().is_empty());
    assert!(!client.is_open(), "the connection was not closed after the client's FIN");
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

#[test]
fn a_chunk_declared_past_the_limit_is_refused_before_it_comes() {
    // The size line alone says the body cannot fit: 413 now, rather than
    // after the client has sent the limit's worth.
    for size in ["400", "ffffffffffffffff", "1;x=y"] {
        let mut c = client(1000);
        let head = format!(
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n{}\r\n{size}\r\n",
            "a".repeat(1000)
        );
        c.send(head.as_bytes());
        assert_eq!(response(&mut c).status, 413, "{size}");
        assert!(!c.is_open(), "{size}");
    }
    // Exactly the limit, in two chunks, is taken.
    let mut c = client(1000);
    let body = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1f4\r\n{a}\r\n1f4\r\n{a}\r\n0\r\n\r\n", a = "a".repeat(500));
    c.send(body.as_bytes());
    let res = response(&mut c);
    assert_eq!((res.status, res.body.len()), (200, 1000));
}
