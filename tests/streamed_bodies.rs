//! Request bodies taken in piece by piece (`Handler::intake` →
//! `Intake::Stream`), refused from the head (`Intake::Refuse`, also the
//! answer to `Expect: 100-continue`), and written to files (`BodyFile`).
//! Through the connection code over memory (`peregrine::testing`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use peregrine::testing::TestClient;
use peregrine::{BodyFile, BodySink, Config, Handler, Intake, Request, Response, StatusCode};

mod support;
use support::chunked_post as chunked;

/// What the sinks of one test saw.
#[derive(Default)]
struct Log {
    /// The size of every piece given, in order.
    pieces: Vec<usize>,
    body: Vec<u8>,
    ended: usize,
    /// Sinks dropped without their `end`.
    abandoned: usize,
    handled: usize,
    /// The path of the last body file, once made.
    file: Option<std::path::PathBuf>,
}

/// A sink that records into the log; refuses past `limit` bytes.
struct Recorder {
    log: Arc<Mutex<Log>>,
    limit: usize,
    got: usize,
    ended: bool,
    defer: bool,
}

impl BodySink for Recorder {
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        assert!(!piece.is_empty());
        self.got += piece.len();
        if self.got > self.limit {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        if piece.starts_with(b"PANIC") {
            panic!("the sink panics");
        }
        let mut log = self.log.lock().unwrap();
        log.pieces.push(piece.len());
        log.body.extend_from_slice(piece);
        Ok(())
    }

    fn end(mut self: Box<Self>, req: &Request<'_>, res: &mut Response<'_>) {
        self.ended = true;
        self.log.lock().unwrap().ended += 1;
        assert!(req.body().is_empty());
        let n = self.got;
        if self.defer {
            let responder = res.defer();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(20));
                responder.send(format!("later {n}").into_bytes());
            });
            return;
        }
        let _ = std::io::Write::write_fmt(res, format_args!("{} {n}", req.path()));
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if !self.ended {
            self.log.lock().unwrap().abandoned += 1;
        }
    }
}

/// A sink whose `Drop` panics.
struct PanicsWhenDropped;

impl BodySink for PanicsWhenDropped {
    fn data(&mut self, _: &[u8]) -> Result<(), StatusCode> {
        Ok(())
    }
    fn end(self: Box<Self>, _: &Request<'_>, _: &mut Response<'_>) {
        std::mem::forget(self);
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("a sink's Drop panics");
    }
}

/// Streams `/stream*`, refuses `/refuse` with 401, writes `/file` to a
/// 1000-byte body file, buffers the rest.
#[derive(Default)]
struct App {
    log: Arc<Mutex<Log>>,
}

impl App {
    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }
}

impl Handler for App {
    fn intake(&self, req: &Request<'_>) -> Intake {
        let recorder = |limit, defer| Recorder { log: self.log.clone(), limit, got: 0, ended: false, defer };
        match req.path() {
            "/stream" => Intake::stream(recorder(usize::MAX, false)),
            "/stream-small" => Intake::stream(recorder(10, false)),
            "/stream-later" => Intake::stream(recorder(usize::MAX, true)),
            "/stream-drop-panics" => Intake::stream(PanicsWhenDropped),
            "/refuse" => Intake::Refuse(StatusCode::UNAUTHORIZED),
            "/not-an-error" => Intake::Refuse(StatusCode::OK),
            "/panic" => panic!("intake panics"),
            "/file" => {
                let file = BodyFile::temp(1000).unwrap();
                self.log().file = Some(file.path().to_path_buf());
                file.intake(req, |_, res, mut file| {
                    use std::io::{Read, Seek};
                    let mut back = Vec::new();
                    file.file().rewind().unwrap();
                    file.file().read_to_end(&mut back).unwrap();
                    res.body(&back);
                })
            }
            _ => Intake::Buffer,
        }
    }

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self.log().handled += 1;
        res.body(req.body());
    }

    fn error_response(&self, status: StatusCode, req: Option<&Request<'_>>, res: &mut Response<'_>) {
        let _ =
            std::io::Write::write_fmt(res, format_args!("{status} for {}", req.map_or("-", |r| r.path())));
    }
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut wire =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    wire.extend_from_slice(body);
    wire
}

/// A body of `n` bytes that shows where each byte came from.
fn body_of(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 % 251) as u8).collect()
}

#[test]
fn a_streamed_body_reaches_the_sink_in_order_and_the_sink_answers() {
    let body = body_of(100_000);
    for (wire, step) in [
        (post("/stream", &body), 100_000_000),
        (chunked("/stream", &body, 777), 1000),
        (post("/stream", &body), 1),
    ] {
        let mut client = TestClient::new(App::default());
        if step == 1 {
            client
                .send_in_pieces(&wire[..wire.len() - body.len() + 50], 1)
                .send(&wire[wire.len() - body.len() + 50..]);
        } else {
            client.send_in_pieces(&wire, step);
        }
        let res = client.response().expect("answered");
        assert_eq!((res.status, res.body.as_slice()), (200, &b"/stream 100000"[..]));
        let log = client.handler().log();
        assert_eq!(log.body, body, "the sink got every byte, in order");
        assert!(log.pieces.len() > 1, "the body came in pieces, not whole");
        assert_eq!((log.ended, log.abandoned, log.handled), (1, 0, 0), "the sink answered, not handle");
        drop(log);
        assert!(client.is_open(), "the connection stays");
        assert_eq!(client.get("/after").status, 200);
    }
}

#[test]
fn a_streamed_body_has_no_max_body_size() {
    let config = Config::new().max_body_size(1000);
    let body = body_of(3 << 20);
    let mut client = TestClient::with_config(config, App::default());
    client.send(&chunked("/stream", &body, 65536));
    assert_eq!(client.response().unwrap().body, b"/stream 3145728");
    client.send(&post("/buffered", &body));
    assert_eq!(client.response().unwrap().status, 413, "the buffered path keeps its limit");
}

#[test]
fn pipelined_requests_behind_a_streamed_body_are_served() {
    let mut wire = chunked("/stream", b"hello world", 3);
    wire.extend_from_slice(&post("/echo", b"next"));
    wire.extend_from_slice(&post("/stream", b"third"));
    let mut client = TestClient::new(App::default());
    client.send(&wire);
    assert_eq!(client.response().unwrap().body, b"/stream 11");
    assert_eq!(client.response().unwrap().body, b"next");
    assert_eq!(client.response().unwrap().body, b"/stream 5");
    assert_eq!(client.handler().log().body, b"hello worldthird");
}

#[test]
fn a_sink_refusing_a_piece_answers_its_status_and_is_dropped() {
    let mut client = TestClient::new(App::default());
    client.send(&post("/stream-small", &body_of(5000)));
    let res = client.response().unwrap();
    assert_eq!(res.status, 413);
    assert_eq!(res.body, b"413 Content Too Large for /stream-small", "shaped with the request");
    assert!(!client.is_open());
    let log = client.handler().log();
    assert_eq!((log.ended, log.abandoned), (0, 1));
}

#[test]
fn a_panicking_sink_is_500() {
    let mut client = TestClient::new(App::default());
    client.send(&chunked("/stream", b"PANIC now", 100));
    assert_eq!(client.response().unwrap().status, 500);
    assert!(!client.is_open());
    assert_eq!(client.handler().log().abandoned, 1);
}

#[test]
fn a_client_gone_mid_body_abandons_the_sink() {
    let mut client = TestClient::new(App::default());
    let wire = post("/stream", &body_of(1000));
    client.send(&wire[..wire.len() - 10]).close_write();
    assert!(client.response().is_none());
    assert!(!client.is_open());
    let log = client.handler().log();
    assert_eq!((log.ended, log.abandoned, log.body.len()), (0, 1, 990));
}

#[test]
fn malformed_chunked_framing_abandons_the_sink() {
    let mut client = TestClient::new(App::default());
    client
        .send(b"POST /stream HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n");
    assert_eq!(client.response().unwrap().status, 400);
    assert!(!client.is_open());
    assert_eq!(client.handler().log().abandoned, 1);
}

#[test]
fn a_sink_may_answer_later() {
    let mut client = TestClient::new(App::default());
    client.send(&post("/stream-later", b"abc"));
    let res = client.wait_response(Duration::from_secs(10)).expect("the deferred answer");
    assert_eq!(res.body, b"later 3");
    assert!(client.is_open());
}

#[test]
fn expect_100_continue_is_decided_from_the_head() {
    // Streamed: the interim 100, then the body.
    let mut client = TestClient::new(App::default());
    client.send(b"POST /stream HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 100);
    client.send(b"hello");
    assert_eq!(client.response().unwrap().body, b"/stream 5");

    // Refused: the application's status instead of 100, shaped with the
    // request, no body read, and the connection closes.
    let mut client = TestClient::new(App::default());
    client.send(b"POST /refuse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n");
    let res = client.response().unwrap();
    assert_eq!((res.status, res.body.as_slice()), (401, &b"401 Unauthorized for /refuse"[..]));
    assert!(client.response().is_none(), "no 100 Continue, nothing else");
    assert!(!client.is_open());
    assert_eq!(client.handler().log().handled, 0);

    // Refused without Expect: the same, the body unread.
    let mut client = TestClient::new(App::default());
    client.send(&post("/refuse", b"hello"));
    assert_eq!(client.response().unwrap().status, 401);
    assert!(!client.is_open());
}

#[test]
fn intake_mistakes_are_500() {
    for path in ["/not-an-error", "/panic"] {
        let mut client = TestClient::new(App::default());
        client.send(&post(path, b"x"));
        let res = client.response().unwrap();
        assert_eq!(res.status, 500, "{path}");
        assert_eq!(res.body, format!("500 Internal Server Error for {path}").as_bytes());
        assert!(!client.is_open());
    }
}

#[test]
fn bodiless_requests_are_not_asked_about() {
    let mut client = TestClient::new(App::default());
    // `/panic` would panic in intake: a request without a body never gets
    // there.
    assert_eq!(client.get("/panic").status, 200);
    client.send(b"POST /panic HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 200);
}

#[test]
fn a_body_file_gets_the_body_and_is_removed_after() {
    let body = body_of(1000);
    let mut client = TestClient::new(App::default());
    client.send_in_pieces(&chunked("/file", &body, 99), 37);
    let res = client.response().unwrap();
    assert_eq!((res.status, res.body), (200, body));
    let path = client.handler().log().file.clone().unwrap();
    assert!(!path.exists(), "the file is removed once dropped");
}

#[test]
fn a_body_file_over_its_limit_is_413_and_removed() {
    // Chunked: found while it arrives.
    let mut client = TestClient::new(App::default());
    let wire = chunked("/file", &body_of(1100), 100);
    client.send(&wire[..wire.len() - 20]);
    let res = client.response().unwrap();
    assert_eq!(res.status, 413);
    assert!(!client.is_open());
    let path = client.handler().log().file.clone().unwrap();
    assert!(!path.exists(), "the partial file is removed");

    // Declared: refused before anything is read, instead of a 100.
    let mut client = TestClient::new(App::default());
    client.send(b"POST /file HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1001\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 413);
    assert!(client.response().is_none());
    assert!(!client.is_open());
    let path = client.handler().log().file.clone().unwrap();
    assert!(!path.exists());
}

#[test]
fn tiny_chunks_reach_the_sink_a_read_at_a_time() {
    // 10,000 one-byte chunks: the sink is called once per read of the
    // connection, not once per chunk.
    let body = body_of(10_000);
    let wire = chunked("/stream", &body, 1);
    let mut client = TestClient::new(App::default());
    client.send(&wire);
    assert_eq!(client.response().unwrap().body, b"/stream 10000");
    let log = client.handler().log();
    assert_eq!(log.body, body);
    let reads = wire.len().div_ceil(8192);
    assert!(log.pieces.len() <= reads + 1, "{} calls of the sink for {reads} reads", log.pieces.len());
}

#[test]
fn a_sink_whose_drop_panics_does_not_take_the_worker_down() {
    let mut client = TestClient::new(App::default());
    let wire = post("/stream-drop-panics", &body_of(100));
    // The abandoned sink is dropped as the connection closes: its panic
    // is caught there (else it would unwind through this test).
    client.send(&wire[..wire.len() - 10]).close_write();
    assert!(!client.is_open());
}
