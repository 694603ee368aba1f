//! Keep-alive: when a connection stays open after a response and when the
//! server closes it (HTTP/1.0 vs 1.1, `Connection` tokens, `res.close()`,
//! the idle timeout).

use std::io::Write;
use std::time::Duration;

use peregrine::{Config, Request, Response};

mod support;
use support::{is_closed, read_response, roundtrip, stays_open, TestServer};

/// Echoes the path; `/close` asks the server to close after answering.
fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    if req.path() == "/close" {
        res.close();
    }
    write!(res, "path={}", req.path()).unwrap();
}

#[test]
fn http11_keeps_the_connection_open_by_default() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    for path in ["/one", "/two"] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n");
        let res = roundtrip(&mut s, req.as_bytes());
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("path={path}").as_bytes());
        assert_eq!(res.header("Connection"), None, "HTTP/1.1 keep-alive needs no Connection header");
    }
    assert!(stays_open(&mut s, Duration::from_millis(50)), "the connection should still be open");
}

#[test]
fn http10_without_connection_header_is_closed_after_the_response() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"path=/old");
    assert_eq!(res.header("Connection").map(str::to_ascii_lowercase).as_deref(), Some("close"));
    assert!(is_closed(&mut s), "an HTTP/1.0 connection without keep-alive must be closed");
}

#[test]
fn http10_keep_alive_is_confirmed_and_honoured() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"path=/a");
    assert_eq!(res.header("Connection").map(str::to_ascii_lowercase).as_deref(), Some("keep-alive"));
    let keep_alive = res.header("Keep-Alive").expect("a Keep-Alive header confirms the timeout");
    assert!(keep_alive.starts_with("timeout="), "Keep-Alive: {keep_alive}");
    // The second request rides on the same socket.
    let res = roundtrip(&mut s, b"GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"path=/b");
    assert_eq!(res.header("Connection").map(str::to_ascii_lowercase).as_deref(), Some("keep-alive"));
    // A third one without the header: answered, then closed.
    let res = roundtrip(&mut s, b"GET /c HTTP/1.0\r\n\r\n");
    assert_eq!(res.body, b"path=/c");
    assert!(is_closed(&mut s));
}

#[test]
fn connection_close_on_http11_is_honoured() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"path=/bye");
    assert_eq!(res.header("Connection").map(str::to_ascii_lowercase).as_deref(), Some("close"));
    assert!(is_closed(&mut s), "the server must close after Connection: close");
}

#[test]
fn connection_header_is_a_case_insensitive_token_list() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /list HTTP/1.1\r\nHost: x\r\nConnection: foo, CLOSE\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"path=/list");
    assert_eq!(res.header("Connection").map(str::to_ascii_lowercase).as_deref(), Some("close"));
    assert!(is_closed(&mut s), "`close` anywhere in the token list closes the connection");

    // A token that merely contains "close" does not close.
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: foo, closed\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.header("Connection"), None);
    let res = roundtrip(&mut s, b"GET /y HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.body, b"path=/y");
}

#[test]
fn handler_calling_close_closes_the_connection() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"path=/close");
    assert_eq!(res.header("Connection").map(str::to_ascii_lowercase).as_deref(), Some("close"));
    assert!(is_closed(&mut s), "res.close() must close the connection");
}

#[test]
fn idle_connection_is_closed_after_keep_alive_timeout() {
    let server =
        TestServer::start(Config::new().workers(2).keep_alive_timeout(Duration::from_millis(300)), handler);
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /idle HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.status, 200);
    assert_eq!(res.header("Connection"), None);
    // is_closed waits up to 10 s: far longer than the 300 ms timeout.
    assert!(is_closed(&mut s), "an idle connection must be closed after keep_alive_timeout");

    // A connection that never sends anything is bounded by the same timer.
    let mut silent = server.connect();
    assert!(is_closed(&mut silent), "a silent connection must be closed after keep_alive_timeout");
}

#[test]
fn idle_connection_stays_open_well_before_keep_alive_timeout() {
    let server =
        TestServer::start(Config::new().workers(2).keep_alive_timeout(Duration::from_secs(2)), handler);
    let mut s = server.connect();
    let res = roundtrip(&mut s, b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.status, 200);
    assert!(stays_open(&mut s, Duration::from_millis(50)), "closed long before keep_alive_timeout");
    let mut buf = Vec::new();
    s.write_all(b"GET /b HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.body, b"path=/b");
}

/// Regression: a FIN arriving together with the request raised no new
/// readiness edge after the (short) read, so the connection was held until
/// the keep-alive timeout.
#[test]
fn client_half_close_after_request_is_answered_then_closed() {
    let server =
        TestServer::start(Config::new().workers(1).keep_alive_timeout(Duration::from_secs(60)), handler);
    let mut s = server.connect();
    s.write_all(b"GET /half HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 200);
    assert!(is_closed(&mut s), "connection held open after the client's FIN");
}
