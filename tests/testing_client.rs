//! `peregrine::testing` itself: the client drives the real connection
//! code (framing, limits, the response writer) with every kind of
//! delivery, and awaits answers other threads complete.

use std::io::Write;
use std::sync::mpsc::channel;
use std::sync::Mutex;
use std::time::Duration;

use peregrine::testing::TestClient;
use peregrine::{Config, Request, Response, Router, StatusCode};

fn app(req: &Request<'_>, res: &mut Response<'_>) {
    match req.path() {
        "/echo" => {
            res.header("X-Method", req.method().as_str()).body(req.body());
        }
        "/big" => {
            res.body(&[b'z'; 100_000]);
        }
        _ => {
            let _ = write!(res, "path={} q={}", req.path(), req.query_str());
        }
    }
}

const PIPELINE: &[u8] = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n\
POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n\
GET /b?x=1 HTTP/1.1\r\nHost: x\r\n\r\n";

fn check_pipeline(client: &mut TestClient<fn(&Request<'_>, &mut Response<'_>)>) {
    assert_eq!(client.response().unwrap().text(), "path=/a q=");
    assert_eq!(client.response().unwrap().text(), "hello");
    assert_eq!(client.response().unwrap().text(), "abcde");
    assert_eq!(client.response().unwrap().text(), "path=/b q=x=1");
    assert_eq!(client.response(), None);
    assert!(client.is_open());
}

#[test]
fn pipelined_requests_come_back_in_order_however_they_are_delivered() {
    let app: fn(&Request<'_>, &mut Response<'_>) = app;
    for piece in [PIPELINE.len(), 1, 2, 7, 64] {
        let mut client = TestClient::new(app);
        client.send_in_pieces(PIPELINE, piece);
        check_pipeline(&mut client);
    }
    // The server reading a byte at a time, and writing a few at a time.
    let mut client = TestClient::new(app);
    client.read_at_most(1).write_at_most(3).send(PIPELINE);
    check_pipeline(&mut client);
}

#[test]
fn large_bodies_go_out_in_partial_writes_intact() {
    let mut client = TestClient::new(app);
    client.write_at_most(1000);
    let res = client.get("/big");
    assert_eq!((res.status, res.body.len()), (200, 100_000));
    assert!(res.body.iter().all(|&b| b == b'z'));
}

#[test]
fn head_and_http_1_0_and_the_client_closing() {
    let mut client = TestClient::new(app);
    let res = client.request("HEAD", "/x", &[], b"");
    assert_eq!(res.header("content-length"), Some("10"));
    assert!(res.body.is_empty());
    client.send(b"GET /y HTTP/1.0\r\n\r\n");
    assert_eq!(client.response().unwrap().text(), "path=/y q=");
    assert!(!client.is_open(), "HTTP/1.0 without keep-alive closes");

    let mut client = TestClient::new(app);
    client.send(b"GET /z HTTP/1.1\r\nHost: x\r\n\r\n").close_write();
    assert_eq!(client.response().unwrap().text(), "path=/z q=");
    assert!(!client.is_open(), "the server closes after the client's FIN");
}

#[test]
fn limits_and_malformed_input_get_their_status_and_close() {
    let config = Config::new().max_body_size(4);
    let mut client = TestClient::with_config(config, app);
    client.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
    assert_eq!(client.response().unwrap().status, 413);
    assert!(!client.is_open());
    for (raw, status) in [
        (&b"GET / HTTP/1.1\r\n\r\n"[..], 400), // no Host
        (b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505),
        (b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 501),
    ] {
        let mut client = TestClient::new(app);
        client.send(raw);
        assert_eq!(client.response().unwrap().status, status, "{}", String::from_utf8_lossy(raw));
        assert!(!client.is_open());
    }
}

#[test]
fn deferred_and_streamed_answers_are_awaited() {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let handler = move |req: &Request<'_>, res: &mut Response<'_>| {
        let path = req.path().to_owned();
        if path == "/stream" {
            let mut stream = res.stream();
            std::thread::spawn(move || {
                for i in 0..3 {
                    stream.send(format!("part {i};").as_bytes()).unwrap();
                }
                stream.finish();
            });
        } else {
            tx.lock().unwrap().send((res.defer(), path)).unwrap();
        }
    };
    let mut client = TestClient::new(handler);
    client.send(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\nGET /stream HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.response(), None, "nothing before the deferred answer");
    let (responder, path) = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(20));
        responder.send(format!("done {path}"));
    });
    assert_eq!(client.wait_response(Duration::from_secs(5)).unwrap().text(), "done /later");
    let streamed = client.wait_response(Duration::from_secs(5)).unwrap();
    assert_eq!(streamed.header("transfer-encoding"), Some("chunked"));
    assert_eq!(streamed.text(), "part 0;part 1;part 2;");
    assert!(client.is_open());
}

#[test]
fn a_routed_handler_under_test() {
    let router = Router::new().get(
        "/users/:id",
        |_: &Request<'_>, res: &mut Response<'_>, p: &peregrine::Params<'_>| {
            let _ = write!(res, "user {}", p.get("id").unwrap());
        },
    );
    let mut client = TestClient::new(router);
    assert_eq!(client.get("/users/7").text(), "user 7");
    let res = client.request("DELETE", "/users/7", &[], b"");
    assert_eq!(
        (res.status, res.header("allow")),
        (StatusCode::METHOD_NOT_ALLOWED.as_u16(), Some("GET, HEAD"))
    );
    assert_eq!(client.get("/nope").status, 404);
}
