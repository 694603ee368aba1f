//! Requests that arrive a byte at a time are reassembled and answered.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use peregrine::{Request, Response};

mod support;
use support::{read_response, TestServer};

/// Echoes method, path and body.
fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    write!(res, "{} {} ", req.method(), req.path()).unwrap();
    res.write_all(req.body()).unwrap();
}

fn send_byte_by_byte(s: &mut TcpStream, raw: &[u8]) {
    for b in raw {
        s.write_all(std::slice::from_ref(b)).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn request_sent_one_byte_at_a_time_is_answered() {
    let server = TestServer::with(echo);
    let mut s = server.connect();
    send_byte_by_byte(
        &mut s,
        b"GET /slow/path?x=1 HTTP/1.1\r\nHost: example\r\nX-Long-Header: abcdefgh\r\n\r\n",
    );
    let mut buf = Vec::new();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"GET /slow/path ");
    // The connection is still in a clean state for the next request.
    s.write_all(b"GET /next HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"GET /next ");
}

#[test]
fn body_sent_one_byte_at_a_time_is_echoed() {
    let server = TestServer::with(echo);
    let mut s = server.connect();
    let body = b"hello, byte-by-byte world";
    let head = format!("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len());
    let mut raw = head.into_bytes();
    raw.extend_from_slice(body);
    send_byte_by_byte(&mut s, &raw);
    let mut buf = Vec::new();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.status, 200);
    assert_eq!(res.body, [&b"POST /echo "[..], body].concat());
    assert!(buf.is_empty());
    // Two pipelined requests with bodies, trickled: both answered in order.
    let raw =
        b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nxy";
    send_byte_by_byte(&mut s, raw);
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"POST /a abc");
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"POST /b xy");
}

#[test]
fn empty_lines_before_a_request_in_any_split_are_ignored() {
    // RFC 9112 §2.2: empty lines before a request line are ignored. Split
    // after the first CR (regression: the second read was scanned for the
    // head's end from there, took the empty lines for it, and got 400).
    let server = TestServer::with(echo);
    let raw = b"\r\n\r\nGET /after-empty-lines HTTP/1.1\r\nHost: x\r\n\r\n";
    for split in 1..raw.len() {
        let mut s = server.connect();
        s.write_all(&raw[..split]).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(20));
        s.write_all(&raw[split..]).unwrap();
        let res = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(
            (res.status, res.body.as_slice()),
            (200, &b"GET /after-empty-lines "[..]),
            "split at {split}"
        );
    }
    // Byte by byte too, and between keep-alive requests.
    let mut s = server.connect();
    send_byte_by_byte(&mut s, raw);
    let mut buf = Vec::new();
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"GET /after-empty-lines ");
    send_byte_by_byte(&mut s, b"\r\n\r\nGET /again HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"GET /again ");
}
