//! Requests the server cannot accept are answered with the status RFC 9110
//! names and the connection is closed; failing handlers become 500s; bad
//! or vanishing clients never take the server down or leak descriptors.
//!
//! Every test here takes `SERIAL`, so the descriptor count measured by
//! `no_connection_leaks_after_bad_input` is not disturbed by the others.

use std::io::{Read, Write};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use peregrine::{Config, Request, Response};

mod support;
use support::{eventually, is_closed, open_fds, read_response, request, RawResponse, TestServer};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

const MAX_HEADERS: usize = 16;
const REQUEST_TIMEOUT: Duration = Duration::from_millis(300);
const MAX_BODY: usize = 64 * 1024;

/// Default buffers (8 KiB read buffer), few headers, a 64 KiB body limit,
/// a short request timeout.
fn config() -> Config {
    Config::new().workers(2).max_headers(MAX_HEADERS).max_body_size(MAX_BODY).request_timeout(REQUEST_TIMEOUT)
}

fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    match req.path() {
        "/panic" => panic!("handler panic on purpose (bad_input test)"),
        "/inject" => {
            res.header("X-Evil", "a\r\nSet-Cookie: injected=1").body(b"evil body");
        }
        "/inject-fmt" => {
            res.header_fmt("X-Evil", format_args!("a{}Set-Cookie: injected=1", "\r\n")).body(b"evil body");
        }
        _ => {
            write!(res, "ok {} {}", req.path(), req.body().len()).unwrap();
        }
    }
}

fn start() -> TestServer {
    TestServer::start(config(), handler)
}

fn lossy(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(&raw[..raw.len().min(80)]).into_owned();
    if raw.len() > 80 {
        format!("{s}… ({} bytes)", raw.len())
    } else {
        s
    }
}

/// Sends `raw` on a fresh connection; expects one response with `status`,
/// `Connection: close`, and then the connection closed.
fn expect_refused(server: &TestServer, raw: &[u8], status: u16) {
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.status, status, "status for {:?}", lossy(raw));
    assert_eq!(res.header("Connection"), Some("close"), "for {:?}", lossy(raw));
    assert!(buf.is_empty(), "bytes after the error response for {:?}: {:?}", lossy(raw), lossy(&buf));
    assert!(is_closed(&mut s), "connection left open after {status} for {:?}", lossy(raw));
}

fn expect_ok(server: &TestServer, path: &str) -> RawResponse {
    let res = request(server, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert_eq!(res.status, 200, "GET {path}");
    assert_eq!(res.body, format!("ok {path} 0").as_bytes());
    res
}

fn check_malformed_heads(server: &TestServer) {
    let cases: [&[u8]; 11] = [
        b"\x00\x01hello\r\n\r\n",
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\nabcd",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nabc",
        b"GET / HTTP/x\r\n\r\n",
    ];
    for raw in cases {
        expect_refused(server, raw, 400);
    }
}

fn check_unsupported_versions(server: &TestServer) {
    expect_refused(server, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    expect_refused(server, b"GET / HTTP/1.2\r\nHost: x\r\n\r\n", 505);
}

fn check_too_many_headers(server: &TestServer) {
    let head = |n: usize| {
        // `Host` is one of the `n` fields.
        let fields: String = (1..n).map(|i| format!("X-H{i}: v\r\n")).collect();
        format!("GET /fields HTTP/1.1\r\nHost: x\r\n{fields}\r\n")
    };
    // Exactly the limit is fine; one more is refused.
    let res = request(server, head(MAX_HEADERS).as_bytes());
    assert_eq!(res.status, 200, "{MAX_HEADERS} headers must be accepted");
    expect_refused(server, head(MAX_HEADERS + 1).as_bytes(), 431);
}

fn check_head_larger_than_read_buffer(server: &TestServer) {
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n", "a".repeat(9000));
    expect_refused(server, raw.as_bytes(), 431);
}

fn check_request_line_longer_than_read_buffer(server: &TestServer) {
    let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    expect_refused(server, raw.as_bytes(), 414);
}

fn check_body_over_the_limit(server: &TestServer) {
    // Declared too large: refused before any of it is sent.
    let raw = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
    expect_refused(server, raw.as_bytes(), 413);
    // Chunked, growing past the limit.
    let mut raw = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..=MAX_BODY / 4096 {
        raw.extend_from_slice(b"1000\r\n");
        raw.extend(std::iter::repeat_n(b'b', 4096));
        raw.extend_from_slice(b"\r\n");
    }
    expect_refused(server, &raw, 413);
    // Exactly the limit is accepted, larger than the read buffer or not.
    for len in [4000, 8192, MAX_BODY] {
        let mut raw = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        raw.extend(std::iter::repeat_n(b'b', len));
        let res = request(server, &raw);
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("ok /up {len}").as_bytes());
    }
}

fn check_unsupported_transfer_codings(server: &TestServer) {
    for coding in ["gzip", "gzip, chunked", "identity"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n0\r\n\r\n");
        expect_refused(server, raw.as_bytes(), 501);
    }
    // Malformed lists, chunked that is not the final coding (the body's
    // end cannot be found, RFC 9112 §6.3), and chunked on HTTP/1.0, where
    // it does not exist.
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        expect_refused(server, raw, 400);
    }
}

fn check_panicking_handler(server: &TestServer) {
    expect_refused(server, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n", 500);
    // A panic on a keep-alive connection with more requests queued behind it.
    let mut s = server.connect();
    s.write_all(b"GET /before HTTP/1.1\r\nHost: x\r\n\r\nGET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"ok /before 0");
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.status, 500);
    assert_eq!(res.header("Connection"), Some("close"));
    assert!(buf.is_empty(), "answered after the panic: {:?}", lossy(&buf));
    assert!(is_closed(&mut s));
    // The server goes on serving new connections.
    expect_ok(server, "/after-panic");
}

fn check_header_injection(server: &TestServer) {
    for path in ["/inject", "/inject-fmt"] {
        let mut s = server.connect();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 500 "), "{path}: {text:?}");
        assert!(!text.to_ascii_lowercase().contains("set-cookie"), "{path}: header injected: {text:?}");
        assert!(!text.contains("injected"), "{path}: {text:?}");
        assert!(!text.contains("evil body"), "{path}: the refused response's body was sent: {text:?}");
        // Everything was read to EOF: `raw` holds exactly one response.
        let res = read_response(&mut s, &mut raw, false);
        assert_eq!(res.status, 500);
        assert_eq!(res.header("Connection"), Some("close"));
        assert!(raw.is_empty(), "{path}: bytes after the 500: {:?}", lossy(&raw));
    }
}

fn check_abandoned_clients(server: &TestServer) {
    // Half a head, then gone.
    {
        let mut s = server.connect();
        s.write_all(b"GET /half HTTP/1.1\r\nHo").unwrap();
    }
    // Half a body, then gone.
    {
        let mut s = server.connect();
        s.write_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc").unwrap();
    }
    // Connected, never sent anything.
    drop(server.connect());
    // Half-closed after a partial head: the server sees EOF mid-request.
    {
        let mut s = server.connect();
        s.write_all(b"GET / HTTP/1.1\r\n").unwrap();
        s.shutdown(std::net::Shutdown::Write).unwrap();
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest);
        assert!(rest.is_empty() || rest.starts_with(b"HTTP/1.1 4"), "{:?}", lossy(&rest));
    }
    expect_ok(server, "/still-serving");
}

fn check_request_timeout(server: &TestServer) {
    // Half a head, then silence: 408 and close.
    let mut s = server.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = Vec::new();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.status, 408);
    assert_eq!(res.header("Connection"), Some("close"));
    assert!(is_closed(&mut s));

    // Trickling a byte now and then does not push the deadline back: the
    // 408 arrives while the client is still sending (well before the
    // 10 s client wait, since the timeout is 300 ms).
    let mut s = server.connect();
    s.set_nonblocking(true).unwrap();
    let mut got = Vec::new();
    let mut chunk = [0u8; 1024];
    let head = b"GET /trickle HTTP/1.1\r\nHost: x\r\nX-Slow: ".iter().chain(std::iter::repeat(&b'z'));
    let mut sent = 0;
    for &b in head.take(200) {
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => break,
        }
        if got.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if s.write_all(&[b]).is_err() {
            break;
        }
        sent += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    // 200 bytes take 10 s to trickle; the 300 ms timeout must end it first.
    assert!(sent < 200, "the trickling client was never timed out");
    s.set_nonblocking(false).unwrap();
    let res = read_response(&mut s, &mut got, false);
    assert_eq!(res.status, 408, "a trickling client must still time out");
}

fn start_and_check(check: fn(&TestServer)) {
    let _serial = serial();
    let server = start();
    check(&server);
    expect_ok(&server, "/afterwards");
}

#[test]
fn malformed_heads_get_400_and_close() {
    start_and_check(check_malformed_heads);
}

#[test]
fn unsupported_http_versions_get_505() {
    start_and_check(check_unsupported_versions);
}

#[test]
fn more_headers_than_max_headers_get_431() {
    start_and_check(check_too_many_headers);
}

#[test]
fn head_larger_than_read_buffer_gets_431() {
    start_and_check(check_head_larger_than_read_buffer);
}

#[test]
fn request_line_longer_than_read_buffer_gets_414() {
    start_and_check(check_request_line_longer_than_read_buffer);
}

#[test]
fn body_over_max_body_size_gets_413() {
    start_and_check(check_body_over_the_limit);
}

#[test]
fn unsupported_transfer_codings_get_501_malformed_ones_400() {
    start_and_check(check_unsupported_transfer_codings);
}

#[test]
fn panicking_handler_gets_500_and_close() {
    start_and_check(check_panicking_handler);
}

#[test]
fn header_value_with_crlf_gets_500_without_injection() {
    start_and_check(check_header_injection);
}

#[test]
fn abandoned_clients_do_not_stop_the_server() {
    start_and_check(check_abandoned_clients);
}

#[test]
fn incomplete_request_times_out_with_408() {
    start_and_check(check_request_timeout);
}

#[test]
fn no_connection_leaks_after_bad_input() {
    let _serial = serial();
    let server = start();
    expect_ok(&server, "/warm-up");
    // Descriptors of this process with the server running and idle.
    assert!(eventually(|| open_fds() > 0), "cannot count descriptors");
    let baseline = open_fds();
    for check in [
        check_malformed_heads,
        check_unsupported_versions,
        check_too_many_headers,
        check_head_larger_than_read_buffer,
        check_request_line_longer_than_read_buffer,
        check_body_over_the_limit,
        check_unsupported_transfer_codings,
        check_panicking_handler,
        check_header_injection,
        check_abandoned_clients,
        check_request_timeout,
    ] {
        check(&server);
    }
    expect_ok(&server, "/good");
    assert!(
        eventually(|| open_fds() <= baseline),
        "descriptors leaked: {} open, {baseline} before the bad input",
        open_fds()
    );
    // And the server still answers.
    let mut s = server.connect();
    let res = support::roundtrip(&mut s, b"GET /final HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.body, b"ok /final 0");
}

/// A refused upload keeps coming: the lingering close must read it all
/// (not stall once the client is blocked on a full window, which raises no
/// new readiness edge), so the client's writes finish and it reads the
/// error then EOF. The linger timeout is long, so only draining can let
/// the 32 MiB through within the test's bound.
#[test]
fn refused_upload_is_drained_to_the_end() {
    let _serial = serial();
    let server = TestServer::start(config().linger_timeout(Duration::from_secs(60)), handler);
    let mut s = server.connect();
    let mut writer = s.try_clone().unwrap();
    let upload = std::thread::spawn(move || {
        let head = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", 32 << 20);
        writer.write_all(head.as_bytes())?;
        let chunk = vec![b'u'; 1 << 16];
        for _ in 0..512 {
            writer.write_all(&chunk)?;
        }
        writer.shutdown(std::net::Shutdown::Write)
    });
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 413);
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).expect("EOF after the 413, within the read timeout");
    assert!(rest.is_empty());
    // The writer either finished or saw the connection end after the
    // server read everything; it must not still be blocked.
    assert!(support::eventually(|| upload.is_finished()), "the upload stalled: the server stopped draining");
    upload.join().unwrap().expect("the whole upload was accepted by the draining server");
}
