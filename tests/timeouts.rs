//! Timeouts that free connections held by clients that stop cooperating.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use peregrine::{Config, Request, Response};

mod support;
use support::{TestServer, WAIT};

/// Larger than anything loopback buffers for a client that does not read.
static BIG: [u8; 32 << 20] = [b'x'; 32 << 20];

fn big(_: &Request<'_>, res: &mut Response<'_>) {
    res.body_static(&BIG);
}

/// Reads until EOF or reset, returning how many bytes came.
fn read_until_closed(s: &mut std::net::TcpStream) -> usize {
    let mut total = 0;
    let mut chunk = [0u8; 1 << 16];
    loop {
        match s.read(&mut chunk) {
            Ok(0) => return total,
            Ok(n) => total += n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return total,
            Err(e) => panic!("read failed before the server closed: {e}"),
        }
    }
}

#[test]
fn client_that_stops_reading_is_dropped_after_write_timeout() {
    let server = TestServer::start(Config::new().workers(1).write_timeout(Duration::from_millis(300)), big);
    let mut s = server.connect();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    // Keep sending (a request trickling in) but never read: incoming
    // bytes must not count as progress of the stalled response.
    let end = Instant::now() + WAIT;
    let mut closed = false;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(50));
        if s.write_all(b"G").is_err() {
            closed = true;
            break;
        }
    }
    if !closed {
        // Writes may still be buffered; the read side tells for sure.
        s.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    }
    let received = read_until_closed(&mut s);
    assert!(received < BIG.len(), "the whole response arrived ({received} bytes): no timeout happened");
}

#[test]
fn slow_reader_that_keeps_reading_gets_everything() {
    let server = TestServer::start(Config::new().workers(1).write_timeout(Duration::from_millis(500)), big);
    let mut s = server.connect();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    // Slower than the buffers drain, but never stalled for the whole timeout.
    let mut total = 0;
    let mut chunk = [0u8; 1 << 16];
    let mut reads = 0;
    loop {
        match s.read(&mut chunk).unwrap() {
            0 => break,
            n => total += n,
        }
        reads += 1;
        if reads % 64 == 0 {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    assert!(total > BIG.len(), "got {total} bytes, want the {} byte body and its head", BIG.len());
}

/// Regression: the request timer was armed once for the first partial
/// request and never renewed while later requests kept completing, so a
/// busy pipelining client got a false 408.
#[test]
fn request_timer_restarts_for_each_new_request() {
    let config = Config::new().workers(1).request_timeout(Duration::from_millis(300));
    let server = TestServer::start(config, |_: &Request<'_>, res: &mut Response<'_>| {
        res.body(b"ok");
    });
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
    let mut buf = Vec::new();
    // Each write completes one request and starts the next: about 1 s of
    // steady traffic, always with a partial request buffered.
    for _ in 0..30 {
        std::thread::sleep(Duration::from_millis(30));
        s.write_all(b"st: a\r\n\r\nGET / HTTP/1.1\r\nHo").unwrap();
        let res = support::read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 200, "a busy client was timed out");
    }
}

/// Empty lines are not progress, nor the start of a request: a client
/// that sends only CRLFs, whole or in halves, fresh or after a request,
/// is closed at the idle timeout (each line used to restart it, and a
/// lone CR started the request timer afresh, so four such clients could
/// hold every slot).
#[test]
fn empty_lines_do_not_put_off_the_idle_timeout() {
    let config = Config::new()
        .workers(1)
        .keep_alive_timeout(Duration::from_millis(300))
        .request_timeout(Duration::from_millis(300));
    let server = TestServer::start(config, |_: &Request<'_>, res: &mut Response<'_>| {
        res.body(b"ok");
    });
    for (pieces, after_a_request) in
        [(&[&b"\r\n"[..]][..], false), (&[b"\r\n"], true), (&[b"\r", b"\n"], false), (&[b"\n\r"], false)]
    {
        let what = format!("{pieces:?} after a request: {after_a_request}");
        let mut s = server.connect();
        s.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        if after_a_request {
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        }
        let mut got = Vec::new();
        let mut chunk = [0u8; 512];
        let mut closed = false;
        // Ten times the timeouts of empty lines: the close must come meanwhile.
        for piece in pieces.iter().cycle().take(30) {
            if s.write_all(piece).is_err() {
                closed = true;
                break;
            }
            match s.read(&mut chunk) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => got.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        assert!(closed, "open after 3 s of empty lines ({what})");
        let answers = got.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count();
        assert_eq!(answers, usize::from(after_a_request), "{what}: {:?}", String::from_utf8_lossy(&got));
    }
}

/// Answers `ok`, and shapes errors with a body.
struct Shaping;

impl peregrine::Handler for Shaping {
    fn handle(&self, _: &Request<'_>, res: &mut Response<'_>) {
        res.body(b"ok");
    }

    fn error_response(&self, status: peregrine::StatusCode, _: Option<&Request<'_>>, res: &mut Response<'_>) {
        res.body(format!("{status}\n").as_bytes());
    }
}

/// A HEAD whose body stalls past the request timeout gets its 408 without
/// content (RFC 9110 §9.3.2), though its head was consumed long before
/// (the body is received apart from it) and the error was shaped.
#[test]
fn a_stalled_head_body_gets_a_408_without_content() {
    let config = Config::new().workers(1).request_timeout(Duration::from_millis(300));
    let server = TestServer::start(config, Shaping);
    let mut s = server.connect();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"HEAD / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n").unwrap();
    s.write_all(&[b'b'; 20000]).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(text.starts_with("HTTP/1.1 408 "), "{text:?}");
    assert!(text.ends_with("\r\n\r\n"), "content after the head of an answer to HEAD: {text:?}");
}
