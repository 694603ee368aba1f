//! `Expect: 100-continue` (RFC 9110 §10.1.1): the interim response goes out
//! before the body is read, only when the body has not arrived, only on
//! HTTP/1.1; other expectations get 417. Through the connection code over
//! memory (`peregrine::testing`): nothing here is about sockets.

use peregrine::testing::TestClient;
use peregrine::{Request, Response};

fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    res.body(req.body());
}

#[test]
fn interim_100_precedes_the_body() {
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(client.written(), b"HTTP/1.1 100 Continue\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 100);
    client.send(b"hello");
    let res = client.response().unwrap();
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn no_interim_100_when_the_body_came_with_the_head() {
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 5\r\n\r\nhello");
    let res = client.response().unwrap();
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
    assert!(client.written().is_empty());
}

#[test]
fn other_expectations_get_417_and_close() {
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 417);
    assert!(!client.is_open());
}

#[test]
fn http10_ignores_expect() {
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert!(client.written().is_empty(), "something was sent before the body");
    client.send(b"hello");
    let res = client.response().unwrap();
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn too_large_a_body_gets_413_instead_of_100() {
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 99999999\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 413);
    assert!(!client.is_open());
}

#[test]
fn expect_is_a_list_whose_empty_elements_are_nothing() {
    // RFC 9110 §5.6.1.2 and §10.1.1: the same expectation written twice,
    // or beside empty elements, is still only `100-continue`.
    for value in ["100-continue, 100-continue", "100-continue,", ", 100-CONTINUE"] {
        let mut client = TestClient::new(echo);
        let head = format!("PUT /up HTTP/1.1\r\nHost: x\r\nExpect: {value}\r\nContent-Length: 5\r\n\r\n");
        client.send(head.as_bytes());
        assert_eq!(client.response().unwrap().status, 100, "Expect: {value}");
        client.send(b"hello");
        assert_eq!(client.response().unwrap().status, 200, "Expect: {value}");
    }
    // An empty field expects nothing: no 100, no 417.
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect:\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(client.response().unwrap().status, 200);
    // One element that is not 100-continue spoils the list.
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, x-y\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 417);
}

#[test]
fn the_largest_declared_length_is_413_not_an_overflow() {
    // head length + u64::MAX would overflow (a panic in a debug build).
    let mut client = TestClient::new(echo);
    client.send(b"PUT /up HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 413);
    assert!(!client.is_open());
}
