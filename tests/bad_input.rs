//! Requests the server cannot accept are answered with the status RFC 9110
//! names and the connection is closed; failing handlers become 500s; bad
//! or vanishing clients never take the server down or leak descriptors.
//!
//! The statuses are checked through the connection code over memory
//! (`peregrine::testing`), a fresh connection per request: nothing in them
//! is about sockets. What is stays on a real server: clients that vanish or
//! half-close, the request timeout (a clock), a refused upload drained from
//! a socket, and the descriptor count, for which the same bad input is sent
//! again over sockets (the checks are written once, for either `Target`),
//! and which also shows the server serving on after all of it.
//!
//! Every test here takes `SERIAL`, so the descriptor count measured by
//! `no_connection_leaks_after_bad_input` is not disturbed by the others (an
//! in-memory client holds descriptors too: its poll and waker).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use peregrine::testing::{TestClient, TestResponse};
use peregrine::{Config, Request, Response};

mod support;
use support::{eventually, is_closed, open_fds, read_response, TestServer};

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

type App = fn(&Request<'_>, &mut Response<'_>);

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

/// Where the checks send their input: a fresh connection per `open`.
trait Target {
    type Conn: Wire;
    fn open(&self) -> Self::Conn;
}

/// One connection, as the checks use it.
trait Wire {
    fn send(&mut self, raw: &[u8]);
    /// The next response; panics if none comes.
    fn response(&mut self) -> TestResponse;
    /// Everything the server wrote that no response took yet, once it is
    /// done writing (the server closes the connection).
    fn all_written(&mut self) -> Vec<u8>;
    /// What the server wrote after the responses taken, and whether it
    /// closed the connection.
    fn rest(&mut self) -> (Vec<u8>, bool);
}

/// In-memory connections (`peregrine::testing`) with `config()`'s limits.
struct Memory;

impl Target for Memory {
    type Conn = TestClient<App>;
    fn open(&self) -> TestClient<App> {
        TestClient::with_config(config(), handler as App)
    }
}

impl Wire for TestClient<App> {
    fn send(&mut self, raw: &[u8]) {
        TestClient::send(self, raw);
    }

    fn response(&mut self) -> TestResponse {
        TestClient::response(self)
            .unwrap_or_else(|| panic!("no complete response; written: {:?}", lossy(self.written())))
    }

    fn all_written(&mut self) -> Vec<u8> {
        self.written().to_vec()
    }

    fn rest(&mut self) -> (Vec<u8>, bool) {
        (self.written().to_vec(), !self.is_open())
    }
}

/// Sockets to a [`TestServer`] (for the descriptor count).
struct Socket {
    s: TcpStream,
    buf: Vec<u8>,
}

impl Target for TestServer {
    type Conn = Socket;
    fn open(&self) -> Socket {
        Socket { s: self.connect(), buf: Vec::new() }
    }
}

impl Wire for Socket {
    fn send(&mut self, raw: &[u8]) {
        self.s.write_all(raw).unwrap();
    }

    fn response(&mut self) -> TestResponse {
        let res = read_response(&mut self.s, &mut self.buf, false);
        TestResponse { status: res.status, headers: res.headers, body: res.body }
    }

    fn all_written(&mut self) -> Vec<u8> {
        self.s.read_to_end(&mut self.buf).unwrap();
        self.buf.clone()
    }

    fn rest(&mut self) -> (Vec<u8>, bool) {
        // Read to EOF (or a reset): a connection left open times the read
        // out after `support::WAIT`.
        let mut rest = std::mem::take(&mut self.buf);
        let closed = match self.s.read_to_end(&mut rest) {
            Ok(_) => true,
            Err(e) => {
                matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
            }
        };
        (rest, closed)
    }
}

/// Sends `raw` on a fresh connection and returns the response.
fn request(target: &impl Target, raw: &[u8]) -> TestResponse {
    let mut conn = target.open();
    conn.send(raw);
    conn.response()
}

/// Sends `raw` on a fresh connection; expects one response with `status`,
/// `Connection: close`, and then the connection closed.
fn expect_refused(target: &impl Target, raw: &[u8], status: u16) {
    let mut conn = target.open();
    conn.send(raw);
    let res = conn.response();
    assert_eq!(res.status, status, "status for {:?}", lossy(raw));
    assert_eq!(res.header("Connection"), Some("close"), "for {:?}", lossy(raw));
    let (rest, closed) = conn.rest();
    assert!(rest.is_empty(), "bytes after the error response for {:?}: {:?}", lossy(raw), lossy(&rest));
    assert!(closed, "connection left open after {status} for {:?}", lossy(raw));
}

fn expect_ok(target: &impl Target, path: &str) {
    let res = request(target, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
    assert_eq!(res.status, 200, "GET {path}");
    assert_eq!(res.body, format!("ok {path} 0").as_bytes());
}

fn check_malformed_heads(target: &impl Target) {
    let cases: [&[u8]; 12] = [
        b"\x00\x01hello\r\n\r\n",
        // A fragment: no request target has one (RFC 9112 §3.2).
        b"GET /x#frag HTTP/1.1\r\nHost: x\r\n\r\n",
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
        expect_refused(target, raw, 400);
    }
}

fn check_unsupported_versions(target: &impl Target) {
    expect_refused(target, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505);
    expect_refused(target, b"GET / HTTP/0.9\r\nHost: x\r\n\r\n", 505);
    // A later minor version of a major one we speak is read as the
    // highest we speak, 1.1 (RFC 9110 §2.5): answered, and kept alive.
    let mut conn = target.open();
    conn.send(b"GET /a HTTP/1.2\r\nHost: x\r\n\r\nGET /b HTTP/1.9\r\nHost: x\r\n\r\n");
    for path in ["/a", "/b"] {
        let res = conn.response();
        assert_eq!((res.status, res.body.as_slice()), (200, format!("ok {path} 0").as_bytes()));
        assert_eq!(res.header("Connection"), None, "kept alive as HTTP/1.1");
    }
    conn.send(b"GET /c HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(conn.response().body, b"ok /c 0");
    let (rest, closed) = conn.rest();
    assert!(rest.is_empty() && closed, "after the last response: {:?}", lossy(&rest));
}

fn check_too_many_headers(target: &impl Target) {
    let head = |n: usize| {
        // `Host` is one of the `n` fields.
        let fields: String = (1..n).map(|i| format!("X-H{i}: v\r\n")).collect();
        format!("GET /fields HTTP/1.1\r\nHost: x\r\n{fields}\r\n")
    };
    // Exactly the limit is fine; one more is refused.
    let res = request(target, head(MAX_HEADERS).as_bytes());
    assert_eq!(res.status, 200, "{MAX_HEADERS} headers must be accepted");
    expect_refused(target, head(MAX_HEADERS + 1).as_bytes(), 431);
}

fn check_head_larger_than_read_buffer(target: &impl Target) {
    let raw = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Long: {}\r\n\r\n", "a".repeat(9000));
    expect_refused(target, raw.as_bytes(), 431);
}

fn check_request_line_longer_than_read_buffer(target: &impl Target) {
    let raw = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(9000));
    expect_refused(target, raw.as_bytes(), 414);
    // A method longer than any implemented is 501 (RFC 9112 §3).
    let raw = format!("{} / HTTP/1.1\r\nHost: x\r\n\r\n", "G".repeat(9000));
    expect_refused(target, raw.as_bytes(), 501);
}

fn check_body_over_the_limit(target: &impl Target) {
    // Declared too large: refused before any of it is sent.
    let raw = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
    expect_refused(target, raw.as_bytes(), 413);
    // Chunked, growing past the limit.
    let mut raw = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..=MAX_BODY / 4096 {
        raw.extend_from_slice(b"1000\r\n");
        raw.extend(std::iter::repeat_n(b'b', 4096));
        raw.extend_from_slice(b"\r\n");
    }
    expect_refused(target, &raw, 413);
    // Exactly the limit is accepted, larger than the read buffer or not.
    for len in [4000, 8192, MAX_BODY] {
        let mut raw = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").into_bytes();
        raw.extend(std::iter::repeat_n(b'b', len));
        let res = request(target, &raw);
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("ok /up {len}").as_bytes());
    }
}

fn check_unsupported_transfer_codings(target: &impl Target) {
    // The body's end can be found, but not what it decodes to (RFC 9112 §6.1).
    for coding in ["gzip, chunked", "identity, chunked", "x-custom, gzip, chunked"] {
        let raw = format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: {coding}\r\n\r\n0\r\n\r\n");
        expect_refused(target, raw.as_bytes(), 501);
    }
    // Malformed lists, no final chunked (a coding alone too: the body's
    // end cannot be found, RFC 9112 §6.3), and chunked on HTTP/1.0, where
    // it does not exist.
    for raw in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n",
        &b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\n\r\n",
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ] {
        expect_refused(target, raw, 400);
    }
}

fn check_panicking_handler(target: &impl Target) {
    expect_refused(target, b"GET /panic HTTP/1.1\r\nHost: x\r\n\r\n", 500);
    // A panic on a keep-alive connection with more requests queued behind it.
    let mut conn = target.open();
    conn.send(b"GET /before HTTP/1.1\r\nHost: x\r\n\r\nGET /panic HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n");
    let res = conn.response();
    assert_eq!((res.status, res.body.as_slice()), (200, &b"ok /before 0"[..]));
    let res = conn.response();
    assert_eq!(res.status, 500);
    assert_eq!(res.header("Connection"), Some("close"));
    let (rest, closed) = conn.rest();
    assert!(rest.is_empty(), "answered after the panic: {:?}", lossy(&rest));
    assert!(closed, "left open after the panic");
    // New connections are served.
    expect_ok(target, "/after-panic");
}

fn check_header_injection(target: &impl Target) {
    for path in ["/inject", "/inject-fmt"] {
        let mut conn = target.open();
        conn.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let raw = conn.all_written();
        let text = String::from_utf8_lossy(&raw);
        assert!(text.starts_with("HTTP/1.1 500 "), "{path}: {text:?}");
        assert!(!text.to_ascii_lowercase().contains("set-cookie"), "{path}: header injected: {text:?}");
        assert!(!text.contains("injected"), "{path}: {text:?}");
        assert!(!text.contains("evil body"), "{path}: the refused response's body was sent: {text:?}");
        // `raw` holds exactly one response, and the connection closed.
        let res = conn.response();
        assert_eq!(res.status, 500);
        assert_eq!(res.header("Connection"), Some("close"));
        let (rest, closed) = conn.rest();
        assert!(rest.is_empty(), "{path}: bytes after the 500: {:?}", lossy(&rest));
        assert!(closed, "{path}: left open after the 500");
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

// ---------------------------------------------------------------------------
// Statuses, through `peregrine::testing`.
// ---------------------------------------------------------------------------

#[test]
fn malformed_heads_get_400_and_close() {
    let _serial = serial();
    check_malformed_heads(&Memory);
}

#[test]
fn unsupported_http_versions_get_505_later_minor_ones_are_read_as_1_1() {
    let _serial = serial();
    check_unsupported_versions(&Memory);
}

#[test]
fn more_headers_than_max_headers_get_431() {
    let _serial = serial();
    check_too_many_headers(&Memory);
}

#[test]
fn head_larger_than_read_buffer_gets_431() {
    let _serial = serial();
    check_head_larger_than_read_buffer(&Memory);
}

#[test]
fn request_line_longer_than_read_buffer_gets_414() {
    let _serial = serial();
    check_request_line_longer_than_read_buffer(&Memory);
}

#[test]
fn body_over_max_body_size_gets_413() {
    let _serial = serial();
    check_body_over_the_limit(&Memory);
}

#[test]
fn unsupported_transfer_codings_get_501_malformed_ones_400() {
    let _serial = serial();
    check_unsupported_transfer_codings(&Memory);
}

#[test]
fn panicking_handler_gets_500_and_close() {
    let _serial = serial();
    check_panicking_handler(&Memory);
}

#[test]
fn header_value_with_crlf_gets_500_without_injection() {
    let _serial = serial();
    check_header_injection(&Memory);
}

// ---------------------------------------------------------------------------
// Sockets and clocks, on a real server.
// ---------------------------------------------------------------------------

fn start_and_check(check: fn(&TestServer)) {
    let _serial = serial();
    let server = start();
    check(&server);
    expect_ok(&server, "/afterwards");
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
    let checks: [fn(&TestServer); 11] = [
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
    ];
    for check in checks {
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

/// A refused upload sent slowly, for longer than the linger timeout: the
/// linger lasts while bytes keep coming (as nginx's lingering close), so
/// the client, which reads only once it has sent everything (as Python's
/// `http.client` does), reads the 413 instead of a reset.
#[test]
fn a_slow_refused_upload_still_reads_its_error() {
    let _serial = serial();
    let server = TestServer::start(config().linger_timeout(Duration::from_millis(300)), handler);
    let mut s = server.connect();
    let head = format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", 32 << 20);
    s.write_all(head.as_bytes()).unwrap();
    // About 1.5 s in all, never silent for the linger timeout.
    let chunk = vec![b'u'; 4096];
    for _ in 0..15 {
        s.write_all(&chunk).expect("the server drains while the upload goes on");
        std::thread::sleep(Duration::from_millis(100));
    }
    s.shutdown(std::net::Shutdown::Write).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 413);
}
