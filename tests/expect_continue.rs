//! `Expect: 100-continue` (RFC 9110 §10.1.1): the interim response goes out
//! before the body is read, only when the body has not arrived, only on
//! HTTP/1.1; other expectations get 417.

use std::io::{Read, Write};
use std::time::Duration;

use peregrine::{Request, Response};

mod support;
use support::{is_closed, read_response, stays_open, TestServer};

fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    res.body(req.body());
}

const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

#[test]
fn interim_100_precedes_the_body() {
    let server = TestServer::with(echo);
    let mut s = server.connect();
    s.write_all(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    let mut interim = [0u8; CONTINUE.len()];
    s.read_exact(&mut interim).unwrap();
    assert_eq!(&interim[..], CONTINUE);
    s.write_all(b"hello").unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn no_interim_100_when_the_body_came_with_the_head() {
    let server = TestServer::with(echo);
    let mut s = server.connect();
    s.write_all(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello")
        .unwrap();
    let mut buf = Vec::new();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
    assert!(buf.is_empty());
}

#[test]
fn other_expectations_get_417_and_close() {
    let server = TestServer::with(echo);
    let mut s = server.connect();
    s.write_all(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\n").unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 417);
    assert!(is_closed(&mut s));
}

#[test]
fn http10_ignores_expect() {
    let server = TestServer::with(echo);
    let mut s = server.connect();
    s.write_all(b"PUT /up HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n").unwrap();
    assert!(stays_open(&mut s, Duration::from_millis(200)), "something was sent before the body");
    s.write_all(b"hello").unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn too_large_a_body_gets_413_instead_of_100() {
    let server = TestServer::with(echo);
    let mut s = server.connect();
    s.write_all(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n")
        .unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 413);
    assert!(is_closed(&mut s));
}
