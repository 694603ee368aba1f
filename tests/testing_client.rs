//! `peregrine::testing` itself: the client drives the real connection
//! code (framing, limits, the response writer) with every kind of
//! delivery, and awaits answers other threads complete.

use std::io::Write;
use std::sync::mpsc::channel;
use std::sync::Mutex;
use std::time::Duration;

use peregrine::testing::{TestClient, TestFrame};
use peregrine::ws::{self, CloseCode, Message, Opcode, WebSocket};
use peregrine::{Config, Handler, Request, Response, Router, StatusCode};

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
        (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501),
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
fn a_deferred_answer_to_head_is_awaited_as_one() {
    let (tx, rx) = channel();
    let tx = Mutex::new(tx);
    let handler = move |req: &Request<'_>, res: &mut Response<'_>| {
        if req.path() == "/later" {
            tx.lock().unwrap().send(res.defer()).unwrap();
        } else {
            res.body(b"now");
        }
    };
    let mut client = TestClient::new(handler);
    client.send(b"HEAD /later HTTP/1.1\r\nHost: x\r\n\r\nGET /now HTTP/1.1\r\nHost: x\r\n\r\n");
    let responder = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    std::thread::spawn(move || responder.send(&b"a body a GET would get"[..]));
    let head = client.wait_head_response(Duration::from_secs(5)).expect("the HEAD's answer");
    assert_eq!((head.status, head.header("content-length")), (200, Some("22")));
    assert!(head.body.is_empty());
    // The answer behind it is read as its own, not as the HEAD's body.
    assert_eq!(client.response().expect("the GET's answer").text(), "now");
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

// ---------------------------------------------------------------------------
// WebSocket upgrades, served by the code a WebSocket thread runs.
// ---------------------------------------------------------------------------

/// Upgrades `/ws`; echoes messages; `"later"` is answered from another
/// thread through a clone of the handle; `"bye"` closes with 4000.
/// Records every `ws_close` code.
#[derive(Default)]
struct Chat {
    closed: Mutex<Vec<CloseCode>>,
}

impl Handler for Chat {
    const WEBSOCKETS: bool = true;

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        if req.path() == "/ws" {
            let _ = ws::upgrade(req, res);
        } else {
            res.body_static(b"plain");
        }
    }

    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        let _ = match msg {
            Message::Text("later") => {
                let ws = ws.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(20));
                    ws.send_text("from another thread")
                });
                Ok(())
            }
            Message::Text("bye") => ws.close(CloseCode(4000), "done"),
            Message::Text(text) => ws.send_text(text),
            Message::Binary(bytes) => ws.send_binary(bytes),
        };
    }

    fn ws_close(&self, _: &WebSocket, code: CloseCode) {
        self.closed.lock().unwrap().push(code);
    }
}

fn chat_frame(client: &mut TestClient<Chat>) -> TestFrame {
    let frame = client.frame().unwrap_or_else(|| panic!("no frame; written: {:?}", client.written()));
    assert!(!frame.masked && frame.rsv == 0, "a server frame is unmasked, RSV clear: {frame:?}");
    frame
}

#[test]
fn an_upgrade_is_answered_and_frames_go_both_ways() {
    let mut client = TestClient::new(Chat::default());
    assert_eq!(client.get("/").text(), "plain", "HTTP before the upgrade");
    let res = client.upgrade("/ws");
    assert_eq!(res.status, 101);
    assert_eq!(res.header("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
    assert!(client.is_websocket() && client.is_open());
    client.send_text("hello");
    assert_eq!(chat_frame(&mut client).text(), Some("hello"));
    client.send_frame(false, Opcode::Binary, &[1, 2]).send_frame(true, Opcode::Continuation, &[3]);
    let f = chat_frame(&mut client);
    assert_eq!((f.fin, f.opcode, f.payload), (true, Opcode::Binary, vec![1, 2, 3]));
    client.send_frame(true, Opcode::Ping, b"p");
    assert_eq!(chat_frame(&mut client).opcode, Opcode::Pong);
    // The client closes: the code is echoed, the hook hears it, the
    // connection ends.
    client.send_close(CloseCode::NORMAL, "");
    assert_eq!(chat_frame(&mut client).close_code(), Some(CloseCode::NORMAL));
    assert!(!client.is_open() && !client.is_websocket());
    assert_eq!(closed(&client), [CloseCode::NORMAL]);
}

/// What `Chat::ws_close` saw.
fn closed(client: &TestClient<Chat>) -> Vec<CloseCode> {
    client.handler().closed.lock().unwrap().clone()
}

#[test]
fn frames_sent_with_the_handshake_byte_by_byte_and_written_in_pieces_arrive_whole() {
    let mut client = TestClient::new(Chat::default());
    client.read_at_most(1).write_at_most(7);
    let mut bytes = b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        .to_vec();
    // A frame in the same write as the handshake, and a large one behind.
    bytes.extend_from_slice(&[0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
    client.send(&bytes);
    assert_eq!(client.response().unwrap().status, 101);
    assert_eq!(chat_frame(&mut client).text(), Some("hi"));
    let big: Vec<u8> = (0..70_000).map(|i| (i % 251) as u8).collect();
    client.send_binary(&big);
    assert_eq!(chat_frame(&mut client).payload, big);
}

#[test]
fn a_handle_sends_from_another_thread_and_the_server_closes() {
    let mut client = TestClient::new(Chat::default());
    assert_eq!(client.upgrade("/ws").status, 101);
    client.send_text("later");
    assert_eq!(client.frame(), None, "nothing until the other thread sends");
    let f = client.wait_frame(Duration::from_secs(5)).expect("the other thread's message");
    assert_eq!(f.text(), Some("from another thread"));
    // The server closes: its close frame, then it waits for the client's.
    client.send_text("bye");
    assert_eq!(chat_frame(&mut client).close_code(), Some(CloseCode(4000)));
    assert!(client.is_websocket(), "open until the client answers the close");
    client.send_close(CloseCode(4000), "");
    assert!(!client.is_websocket());
    assert_eq!(client.written(), b"", "nothing after the server's close frame");
    assert_eq!(closed(&client), [CloseCode(4000)]);
}

#[test]
fn a_client_gone_without_a_close_frame_is_1006_and_bad_frames_fail_the_connection() {
    let mut client = TestClient::new(Chat::default());
    assert_eq!(client.upgrade("/ws").status, 101);
    client.close_write();
    assert!(!client.is_websocket());
    assert_eq!(closed(&client), [CloseCode::ABNORMAL]);

    let mut client = TestClient::new(Chat::default());
    assert_eq!(client.upgrade("/ws").status, 101);
    client.send(b"\x81\x05hello");
    assert_eq!(chat_frame(&mut client).close_code(), Some(CloseCode::PROTOCOL_ERROR), "unmasked");
    assert!(!client.is_open(), "a failed connection shuts its side");
    client.close_write();
    assert_eq!(closed(&client), [CloseCode::PROTOCOL_ERROR]);
}

#[test]
fn an_upgrade_by_a_handler_without_websockets_is_a_500() {
    let mut client = TestClient::new(|req: &Request<'_>, res: &mut Response<'_>| {
        let _ = ws::upgrade(req, res);
    });
    assert_eq!(client.upgrade("/ws").status, 500);
    assert!(!client.is_open() && !client.is_websocket());
}

#[test]
fn a_response_with_hundreds_of_fields_is_read_whole() {
    let mut client = TestClient::new(|_: &Request<'_>, res: &mut Response<'_>| {
        for i in 0..300 {
            res.header_fmt("X-Field", format_args!("{i}"));
        }
        res.body(b"done");
    });
    let res = client.get("/");
    assert_eq!(res.body, b"done");
    assert_eq!(res.headers.iter().filter(|(n, _)| n == "X-Field").count(), 300);
}

#[test]
#[should_panic(expected = "would not be one field")]
fn a_header_value_with_a_line_break_is_refused_by_the_client() {
    let mut client = TestClient::new(|_: &Request<'_>, _: &mut Response<'_>| {});
    client.request("GET", "/", &[("X-A", "1\r\nX-B: 2")], b"");
}

/// A config the server would refuse is refused here too, with the
/// server's message, instead of a panic inside the library later.
#[test]
#[should_panic(expected = "max_headers (1000) must be between 1 and 256")]
fn a_config_the_server_would_refuse_is_refused() {
    let _ = TestClient::with_config(Config::new().max_headers(1000), app);
}

#[test]
#[should_panic(expected = "read_buffer_size (10) must be between 1 KiB and 1 GiB")]
fn a_read_buffer_too_small_for_a_head_is_refused() {
    let _ = TestClient::with_config(Config::new().read_buffer_size(10), app);
}

/// A stream can be read while it goes on, and is still taken whole once
/// it ends.
#[test]
fn a_stream_is_read_as_far_as_it_has_come() {
    let (go_on, wait) = std::sync::mpsc::channel::<()>();
    let wait = Mutex::new(Some(wait));
    let mut client = TestClient::new(move |_: &Request<'_>, res: &mut Response<'_>| {
        let mut stream = res.stream();
        let wait = wait.lock().unwrap().take().expect("one request");
        std::thread::spawn(move || {
            stream.send(b"first ").unwrap();
            wait.recv().unwrap();
            stream.send(b"second").unwrap();
            stream.finish();
        });
    });
    client.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let so_far =
        client.wait_partial(Duration::from_secs(5), |r| !r.body.is_empty()).expect("the first piece");
    assert_eq!((so_far.status, so_far.text().as_str()), (200, "first "));
    assert_eq!(so_far.header("transfer-encoding"), Some("chunked"));
    assert!(client.response().is_none(), "not whole yet");
    go_on.send(()).unwrap();
    let whole = client.wait_response(Duration::from_secs(5)).expect("the whole stream");
    assert_eq!(whole.text(), "first second");
}
