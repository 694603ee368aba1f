//! RFC 9112 strictness: heads that are ambiguous or malformed are refused
//! with 400 and the connection is closed, since framing can no longer be
//! trusted. Smuggling vectors never reach the handler.
//!
//! Nothing here is about sockets: the requests go through the connection
//! code over memory (`peregrine::testing`), a fresh connection each.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use peregrine::testing::{TestClient, TestResponse};
use peregrine::{Config, Handler, Request, Response};

/// A handler that counts calls and echoes the path.
#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

impl Handler for Counting {
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        res.body(req.path().as_bytes());
    }
}

fn counting() -> (Counting, Arc<AtomicUsize>) {
    let app = Counting::default();
    let calls = Arc::clone(&app.0);
    (app, calls)
}

/// Sends `raw` on a new connection; expects exactly one response with
/// `status`, then a close.
fn refused(app: &Counting, raw: &[u8], status: u16) {
    let mut client = TestClient::new(app.clone());
    client.send(raw);
    let shown = String::from_utf8_lossy(raw);
    let res = client.response().unwrap_or_else(|| panic!("no response to {shown:?}"));
    assert_eq!(res.status, status, "for {shown:?}");
    assert_eq!(res.header("connection"), Some("close"), "for {shown:?}");
    assert!(client.written().is_empty(), "more than one response for {shown:?}");
    assert!(!client.is_open(), "left open after {shown:?}");
}

/// Sends `raw` on a new connection and returns the response.
fn request<H: Handler + Clone>(app: &H, raw: &[u8]) -> TestResponse {
    let mut client = TestClient::new(app.clone());
    client.send(raw);
    client.response().unwrap_or_else(|| panic!("no response to {:?}", String::from_utf8_lossy(raw)))
}

#[test]
fn http11_without_host_is_400() {
    let (server, calls) = counting();
    refused(&server, b"GET / HTTP/1.1\r\n\r\n", 400);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn two_host_fields_are_400() {
    let (server, calls) = counting();
    refused(&server, b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    refused(&server, b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", 400);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn http10_without_host_is_served() {
    let (server, _) = counting();
    let res = request(&server, b"GET /old HTTP/1.0\r\n\r\n");
    assert_eq!((res.status, res.body.as_slice()), (200, &b"/old"[..]));
}

#[test]
fn whitespace_before_the_colon_is_400() {
    let (server, _) = counting();
    refused(&server, b"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 400);
    refused(&server, b"GET / HTTP/1.1\r\nHost: a\r\nX-A\t: b\r\n\r\n", 400);
}

#[test]
fn obs_fold_is_400() {
    let (server, _) = counting();
    refused(&server, b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n  folded\r\n\r\n", 400);
    refused(&server, b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tfolded\r\n\r\n", 400);
}

#[test]
fn cr_or_nul_inside_a_field_value_is_400() {
    let (server, _) = counting();
    refused(&server, b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400);
    refused(&server, b"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\0c\r\n\r\n", 400);
}

#[test]
fn invalid_method_token_is_400() {
    let (server, calls) = counting();
    for raw in [
        &b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n"[..],
        b"GE\x7fT / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"\xc3\xa9 / HTTP/1.1\r\nHost: a\r\n\r\n",
    ] {
        refused(&server, raw, 400);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn smuggled_request_behind_length_and_encoding_is_never_answered() {
    let (server, calls) = counting();
    // A front end honouring Content-Length and one honouring chunked would
    // disagree on where the first request ends; the second is the smuggle.
    let raw = b"POST /front HTTP/1.1\r\nHost: a\r\nContent-Length: 44\r\nTransfer-Encoding: chunked\r\n\r\n\
0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    refused(&server, raw, 400);
    let raw = b"POST /front HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n\
0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: a\r\n\r\n";
    refused(&server, raw, 400);
    assert_eq!(calls.load(Ordering::SeqCst), 0, "a smuggled request reached the handler");
}

#[test]
fn conflicting_or_malformed_content_length_is_400() {
    let (server, calls) = counting();
    for value in ["1, 2", "+1", "-1", "1.0", "0x10", "99999999999999999999999", ""] {
        let raw = format!("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: {value}\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
    refused(&server, b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn invalid_host_values_are_400() {
    let (server, calls) = counting();
    for host in
        ["a b", "<script>", "[::1", "example.com:abc", "a@b", "a/b", "[::1]x", "example.com:80:80", "[vz.x]"]
    {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
        let raw = format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    for host in [
        "example.com",
        "example.com:8080",
        "127.0.0.1:3000",
        "[::1]",
        "[2001:db8::1]:443",
        "",
        "xn--d1acufc.xn--p1ai",
    ] {
        let raw = format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n");
        assert_eq!(request(&server, raw.as_bytes()).status, 200, "{host:?}");
    }
}

#[test]
fn absolute_form_needs_an_http_uri_with_a_host() {
    let (server, calls) = counting();
    // `http:/x://evil.com/` is an `http:/x` URI, not one for evil.com: the
    // target's authority would otherwise win over `Host` (host confusion).
    for target in [
        "http:///x",
        "http://u@h/x",
        "ftp://h/x",
        "http://a<b/",
        "example.com:80",
        "foo",
        "http:/x://evil.com/",
        "http:x://evil.com/",
    ] {
        let raw = format!("GET {target} HTTP/1.1\r\nHost: h\r\n\r\n");
        refused(&server, raw.as_bytes(), 400);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let res = request(&server, b"GET http://h/abs?x HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!((res.status, res.body.as_slice()), (200, &b"/abs"[..]));
}

#[test]
fn the_asterisk_form_is_for_options_only() {
    let (server, calls) = counting();
    for method in ["GET", "HEAD", "POST", "DELETE"] {
        refused(&server, format!("{method} * HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes(), 400);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    let res = request(&server, b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((res.status, res.body.as_slice()), (200, &b"*"[..]));
}

#[test]
fn chunked_that_is_not_the_final_coding_is_400() {
    let (server, calls) = counting();
    refused(&server, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n", 400);
    // A coding alone has no final chunked either (RFC 9112 §6.3); under a
    // final chunked, it is one this server does not decode (§6.1).
    refused(&server, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    refused(&server, b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501);
    assert_eq!(calls.load(Ordering::SeqCst), 0);
}

#[test]
fn bare_lf_in_a_head_is_400_unless_allowed() {
    // Behind a proxy that reads a bare LF as part of a value, the second
    // line would be hidden from it: a smuggling shape.
    let smuggle = b"GET / HTTP/1.1\r\nHost: a\r\nX: a\nTransfer-Encoding: chunked\r\n\r\n";
    let heads: [&[u8]; 4] = [
        smuggle,
        b"GET /lf HTTP/1.1\nHost: a\n\n",
        b"GET /lf HTTP/1.1\r\nHost: a\r\n\n",
        b"\nGET /lf HTTP/1.1\r\nHost: a\r\n\r\n",
    ];
    let (server, calls) = counting();
    for raw in heads {
        refused(&server, raw, 400);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    for raw in &heads[1..] {
        let mut lenient = TestClient::with_config(Config::new().bare_lf(true), Counting::default());
        lenient.send(raw);
        let res = lenient.response().unwrap();
        assert_eq!(
            (res.status, res.body.as_slice()),
            (200, &b"/lf"[..]),
            "{:?}",
            String::from_utf8_lossy(raw)
        );
    }
}

/// Found by fuzzing (`fuzz/` target `connection`): a head whose bytes go
/// wrong after its first read was answered only when it ended. The client
/// gets the 400 however its bytes are split, when it half-closes or when
/// the head fills the read buffer.
#[test]
fn a_head_malformed_after_its_first_read_is_400_however_it_arrives() {
    let raw = b"GET / HTTP/1.1\r\nHost: a\r\n\r\xff\xff";
    for piece in [usize::MAX, 1, 4, 17] {
        let (app, calls) = counting();
        let mut client = TestClient::new(app);
        client.send_in_pieces(raw, piece.min(raw.len())).close_write();
        let res = client.response().unwrap_or_else(|| panic!("no answer in pieces of {piece}"));
        assert_eq!((res.status, res.header("connection")), (400, Some("close")), "pieces of {piece}");
        assert!(!client.is_open());
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }
    // A half-closed client that sent a valid head's start just goes.
    let (app, _) = counting();
    let mut client = TestClient::new(app);
    client.send_in_pieces(b"GET / HTTP/1.1\r\nHost: a\r\n", 3).close_write();
    assert!(client.written().is_empty() && !client.is_open());
    // Filling the read buffer: 400 for malformed bytes, as at once.
    let mut big = b"GET / HTTP/1.1\r\nHost: a\r\nX: ".to_vec();
    big.resize(200, b'a');
    big.push(0x01);
    big.resize(3000, b'a');
    for piece in [usize::MAX, 100] {
        let (app, _) = counting();
        let mut client = TestClient::with_config(Config::new().read_buffer_size(1024), app);
        client.send_in_pieces(&big, piece.min(big.len()));
        assert_eq!(client.response().map(|r| r.status), Some(400), "pieces of {piece}");
    }
}
