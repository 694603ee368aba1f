//! The `http` crate's types against a running server (feature `http`,
//! which this crate's own tests enable): a request seen as
//! `http::request::Parts`, answers given as `http::Response<B>`, now and
//! from another thread.

use std::io::Write;

use peregrine::{Config, Request, Response};

mod support;
use support::{read_response, TestServer};

fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    match req.path() {
        "/parts" => {
            let parts = req.http_parts().expect("a request http takes");
            let mut names: Vec<_> = parts.headers.keys().map(|k| k.as_str().to_owned()).collect();
            names.sort();
            let body = format!(
                "{} {} {:?} q={} x-a={} names={}",
                parts.method,
                parts.uri.path(),
                parts.version,
                parts.uri.query().unwrap_or("-"),
                parts
                    .headers
                    .get_all("x-a")
                    .iter()
                    .map(|v| v.to_str().unwrap())
                    .collect::<Vec<_>>()
                    .join("|"),
                names.join(",")
            );
            res.send_http(http::Response::new(body));
        }
        "/teapot" => {
            let answer = http::Response::builder()
                .status(http::StatusCode::IM_A_TEAPOT)
                .header(http::header::CONTENT_TYPE, "text/plain")
                .header(http::header::CONTENT_LENGTH, "999") // the server's to write
                .header("x-many", "1")
                .header("x-many", "2")
                .body("short and stout")
                .unwrap();
            // Status and same-named fields replaced by the answer's; others kept.
            res.status(peregrine::StatusCode::CREATED)
                .header("Content-Type", "text/html")
                .header("X-Before", "1");
            res.send_http(answer);
        }
        "/later" => {
            res.header("X-Before", "1").header("Content-Type", "text/html");
            let responder = res.defer();
            std::thread::spawn(move || {
                let answer = http::Response::builder()
                    .status(http::StatusCode::CREATED)
                    .header(http::header::CONNECTION, "close")
                    .header(http::header::CONTENT_TYPE, "text/plain")
                    .body(b"made".to_vec())
                    .unwrap();
                responder.send_http(answer);
            });
        }
        _ => {
            res.status(peregrine::StatusCode::NOT_FOUND);
        }
    }
}

fn exchange(server: &TestServer, raw: &[u8]) -> support::RawResponse {
    let mut s = server.connect();
    s.write_all(raw).unwrap();
    let mut buf = Vec::new();
    read_response(&mut s, &mut buf, false)
}

#[test]
fn a_request_reads_as_http_parts() {
    let server = TestServer::with(handler);
    let r = exchange(
        &server,
        b"GET /parts?x=1 HTTP/1.1\r\nHost: h\r\nX-A: one\r\nx-a: two\r\nAccept: */*\r\n\r\n",
    );
    assert_eq!(r.status, 200);
    assert_eq!(
        String::from_utf8_lossy(&r.body),
        "GET /parts HTTP/1.1 q=x=1 x-a=one|two names=accept,host,x-a"
    );
}

#[test]
fn an_http_response_is_the_answer_with_the_servers_own_framing() {
    let server = TestServer::with(handler);
    let r = exchange(&server, b"GET /teapot HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 418);
    let types: Vec<_> = r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-type")).collect();
    assert_eq!(types.len(), 1, "one Content-Type, the answer's: {types:?}");
    assert_eq!(r.header("content-type"), Some("text/plain"));
    assert_eq!(r.header("x-before"), Some("1"), "a field the answer does not name stays");
    assert_eq!(r.header("content-length"), Some("15"), "the server writes the length");
    assert_eq!(r.body, b"short and stout");
    let many: Vec<_> =
        r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("x-many")).map(|(_, v)| v.as_str()).collect();
    assert_eq!(many, ["1", "2"], "both values of a repeated header, in order");
}

#[test]
fn a_responder_completes_with_an_http_response() {
    let server = TestServer::start(Config::new().workers(1), handler);
    let r = exchange(&server, b"GET /later HTTP/1.1\r\nHost: h\r\n\r\n");
    assert_eq!(r.status, 201);
    assert_eq!(r.body, b"made");
    assert_eq!(r.header("connection"), Some("close"));
    assert_eq!(r.header("x-before"), Some("1"), "a field the answer does not name stays");
    let types: Vec<_> = r.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case("content-type")).collect();
    assert_eq!(types, [&("content-type".to_string(), "text/plain".to_string())], "the answer's, once");
}
