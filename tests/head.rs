//! Bodiless responses: HEAD gets GET's head without the body; 204 and 304
//! carry neither body nor Content-Length; 205 says `Content-Length: 0`;
//! a 2xx to CONNECT (no tunnel here) carries neither and ends the
//! connection. Through the connection code over memory
//! (`peregrine::testing`): nothing here is about sockets.

use std::io::Write;

use peregrine::testing::{TestClient, TestResponse};
use peregrine::{Handler, Request, Response, StatusCode};

static LARGE: [u8; 5000] = [b'L'; 5000];

fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    res.header("X-Test", "yes");
    match req.path() {
        "/static" => {
            res.header("Content-Type", "text/plain").body_static(b"static body, 26 bytes long");
        }
        "/large" => {
            res.body_static(&LARGE);
        }
        "/copied" => {
            write!(res, "copied body").unwrap();
        }
        "/missing" => {
            res.status(StatusCode::NOT_FOUND).body(b"no such thing");
        }
        "/204" => {
            res.status(StatusCode::NO_CONTENT).body(b"must not be sent");
        }
        "/304" => {
            res.status(StatusCode::NOT_MODIFIED).body_static(b"must not be sent either");
        }
        "/205" => {
            res.status(StatusCode::RESET_CONTENT).body(b"nor this");
        }
        "/205-large" => {
            res.status(StatusCode::RESET_CONTENT).body_static(&LARGE);
        }
        // A handler that leaves the body out for HEAD itself, and its
        // status-only twin.
        "/skips-body" if req.method() == peregrine::Method::Head => {}
        "/skips-body" => {
            res.body(b"only for GET");
        }
        "/418" => {
            res.status(StatusCode::from_u16(418).unwrap());
        }
        "/empty" => {
            res.body_static(b"");
        }
        "/panic" => panic!("a handler that fails (expected by the test)"),
        _ => {
            res.body(b"plain");
        }
    }
}

/// Headers except `Date`, which may tick between two responses.
fn stable_headers(res: &TestResponse) -> Vec<(String, String)> {
    res.headers.iter().filter(|(n, _)| !n.eq_ignore_ascii_case("date")).cloned().collect()
}

#[test]
fn head_gets_the_get_status_and_headers_without_body() {
    for (path, body) in [
        ("/static", &b"static body, 26 bytes long"[..]),
        ("/large", &LARGE[..]),
        ("/copied", &b"copied body"[..]),
        ("/missing", &b"no such thing"[..]),
    ] {
        let mut s = TestClient::new(handler);
        // HEAD then GET in one write: if the HEAD response carried any body
        // bytes, the GET response would not parse right after its head.
        s.send(
            format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\nGET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
                .as_bytes(),
        );
        let head = s.head_response().unwrap();
        let get = s.response().unwrap();
        assert_eq!(get.body, body, "{path}: GET body");
        assert_eq!(head.status, get.status, "{path}: status");
        assert_eq!(head.header("Content-Length"), Some(body.len().to_string().as_str()), "{path}");
        assert_eq!(stable_headers(&head), stable_headers(&get), "{path}: headers");
        assert!(head.header("Date").is_some());
        assert!(s.written().is_empty(), "{path}: extra bytes {:?}", String::from_utf8_lossy(s.written()));
    }
}

#[test]
fn head_without_the_get_body_states_no_length_rather_than_a_wrong_one() {
    // RFC 9110 §8.6: a Content-Length to HEAD must be the GET's. The
    // server cannot know it when the handler gave no body, so it says none.
    for path in ["/skips-body", "/418"] {
        let mut s = TestClient::new(handler);
        s.send(
            format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
                .as_bytes(),
        );
        let head = s.head_response().unwrap();
        assert_eq!(head.header("Content-Length"), None, "{path}");
        assert_eq!(head.header("Transfer-Encoding"), None, "{path}");
        assert_eq!(head.header("X-Test"), Some("yes"), "{path}");
        // The connection stays usable: nothing follows the HEAD's head.
        assert_eq!(s.response().unwrap().body, b"plain", "{path}");
        assert!(s.is_open(), "{path}");
    }
    // Its GET still states its length.
    let mut s = TestClient::new(handler);
    s.send(b"GET /skips-body HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s.response().unwrap().header("Content-Length"), Some("12"));
    // A body given empty, and the server's own answer to a failed
    // handler, are known to be empty: 0, as to GET.
    for (path, status) in [("/empty", 200), ("/panic", 500)] {
        let mut s = TestClient::new(handler);
        s.send(format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let head = s.head_response().unwrap();
        assert_eq!((head.status, head.header("Content-Length")), (status, Some("0")), "{path}");
    }
}

#[test]
fn no_content_and_not_modified_carry_no_body_or_length() {
    let mut s = TestClient::new(handler);
    s.send(
        b"GET /204 HTTP/1.1\r\nHost: x\r\n\r\nGET /304 HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    // Parse only the heads; the next response must start right after each.
    let no_content = s.head_response().unwrap();
    assert_eq!(no_content.status, 204);
    assert_eq!(no_content.header("Content-Length"), None, "204 must not carry Content-Length");
    assert_eq!(no_content.header("Transfer-Encoding"), None);
    let not_modified = s.head_response().unwrap();
    assert_eq!(not_modified.status, 304);
    assert_eq!(not_modified.header("Content-Length"), None, "304 carries no Content-Length here");
    let plain = s.response().unwrap();
    assert_eq!(plain.status, 200, "a body was sent after a 204/304 head");
    assert_eq!(plain.body, b"plain");
    assert!(s.written().is_empty());
    // The connection stays usable.
    s.send(b"GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(s.response().unwrap().body, b"plain");
}

#[test]
fn reset_content_has_a_zero_length_and_no_content() {
    for path in ["/205", "/205-large"] {
        let mut s = TestClient::new(handler);
        s.send(
            format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\nGET /plain HTTP/1.1\r\nHost: x\r\n\r\n")
                .as_bytes(),
        );
        let reset = s.response().unwrap();
        assert_eq!(reset.status, 205, "{path}");
        assert_eq!(reset.header("Content-Length"), Some("0"), "{path}: RFC 9110 §15.3.6");
        assert!(reset.body.is_empty(), "{path}");
        let plain = s.response().unwrap();
        assert_eq!(plain.body, b"plain", "{path}: content was sent after the 205 head");
        assert!(s.written().is_empty() && s.is_open(), "{path}");
    }
}

/// Answers CONNECT as a handler that does not know better would: 200 with
/// content; or, for `refuse:443`, 405 with content.
fn connect_handler(req: &Request<'_>, res: &mut Response<'_>) {
    match req.target() {
        "refuse:443" => {
            res.status(StatusCode::METHOD_NOT_ALLOWED).header("Allow", "GET").body(b"no tunnels");
        }
        "reset:443" => {
            res.status(StatusCode::RESET_CONTENT);
        }
        "partial:443" => {
            res.status(StatusCode::PARTIAL_CONTENT).body(b"part");
        }
        "streamed:443" => {
            drop(res.stream());
        }
        _ => {
            res.body(b"would be tunnel bytes");
        }
    }
}

#[test]
fn a_2xx_to_connect_has_no_length_no_content_and_ends_the_connection() {
    for (authority, status) in
        [("example.com:443", 200), ("reset:443", 205), ("partial:443", 206), ("streamed:443", 200)]
    {
        for version in ["1.1", "1.0"] {
            let mut s = TestClient::new(connect_handler);
            // What a client might send behind its CONNECT is tunnel data,
            // not a request: nothing answers it.
            let raw = format!(
                "CONNECT {authority} HTTP/{version}\r\nHost: {authority}\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"
            );
            s.send(raw.as_bytes());
            let raw = String::from_utf8_lossy(s.written()).into_owned();
            let (head, after) = raw.split_once("\r\n\r\n").expect("a whole head");
            assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{raw:?}");
            let lower = head.to_ascii_lowercase();
            assert!(
                !lower.contains("content-length") && !lower.contains("transfer-encoding"),
                "RFC 9110 §9.3.6: {raw:?}"
            );
            assert_eq!(after, "", "no content, and no second response: {raw:?}");
            assert!(!s.is_open(), "the connection must end: {raw:?}");
        }
    }
}

#[test]
fn other_answers_to_connect_are_sent_whole_and_end_the_connection() {
    let mut s = TestClient::new(connect_handler);
    s.send(b"CONNECT refuse:443 HTTP/1.1\r\nHost: refuse:443\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let refused = s.response().unwrap();
    assert_eq!(refused.status, 405);
    assert_eq!(refused.body, b"no tunnels");
    assert_eq!(refused.header("Connection"), Some("close"));
    assert!(s.written().is_empty(), "the bytes behind a CONNECT are not answered");
    assert!(!s.is_open());
}

/// Streams, and shapes errors with a body: neither may reach a HEAD.
struct Shaping;

impl Handler for Shaping {
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        res.status(if req.path() == "/205" { StatusCode::RESET_CONTENT } else { StatusCode::OK });
        drop(res.stream());
    }

    fn error_response(&self, status: StatusCode, _: Option<&Request<'_>>, res: &mut Response<'_>) {
        res.header("Content-Type", "text/plain").body(format!("{status}\n").as_bytes());
    }
}

#[test]
fn a_streamed_205_says_its_length_is_0_even_to_http10() {
    let mut s = TestClient::new(Shaping);
    // HTTP/1.0 kept alive: without `Content-Length: 0` its client would
    // wait for the close.
    s.send(b"GET /205 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /205 HTTP/1.1\r\nHost: x\r\n\r\n");
    for _ in 0..2 {
        let reset = s.response().unwrap();
        assert_eq!((reset.status, reset.header("Content-Length")), (205, Some("0")));
        assert!(reset.body.is_empty());
    }
    assert!(s.is_open());
}

#[test]
fn an_error_to_head_carries_no_content_even_when_shaped() {
    let mut s = TestClient::new(Shaping);
    s.send(b"HEAD / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n");
    let raw = String::from_utf8_lossy(s.written()).into_owned();
    assert!(raw.starts_with("HTTP/1.1 417 "), "{raw:?}");
    assert!(raw.ends_with("\r\n\r\n"), "RFC 9110 §9.3.2: no content after the head: {raw:?}");
    let mut s = TestClient::new(Shaping);
    s.send(b"GET / HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n");
    assert_eq!(s.response().unwrap().body, b"417 Expectation Failed\n", "a GET gets the shaped body");
}
