//! Graceful shutdown through `ShutdownHandle`: `run` returns `Ok`, the
//! port closes, in-flight requests finish, idle connections are closed.

use std::io::Write;
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peregrine::{Request, Response};

mod support;
use support::{eventually, is_closed, read_response, roundtrip, TestServer};

fn hello(_: &Request<'_>, res: &mut Response<'_>) {
    res.body_static(b"hello");
}

#[test]
fn shutdown_makes_run_return_ok_and_closes_the_port() {
    let server = TestServer::with(hello);
    let addr = server.addr;
    let res = roundtrip(&mut server.connect(), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(res.body, b"hello");
    let result = server.stop();
    assert!(result.is_ok(), "run returned {result:?}");
    let err = TcpStream::connect(addr).expect_err("the port still accepts connections after shutdown");
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

#[test]
fn in_flight_request_completes_during_shutdown() {
    let started = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&started);
    let server = TestServer::with(move |_: &Request<'_>, res: &mut Response<'_>| {
        seen.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(300));
        res.body(b"finished after 300 ms");
    });
    let mut s = server.connect();
    s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(eventually(|| started.load(Ordering::SeqCst) == 1), "handler never started");
    // The handler is sleeping: shut down while the request is in flight.
    server.handle.shutdown();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 200);
    assert_eq!(res.body, b"finished after 300 ms");
    assert!(is_closed(&mut s), "the connection must close after the in-flight response");
    let result = server.stop();
    assert!(result.is_ok(), "run returned {result:?}");
    // Checked last, so a failure here means everything above held.
    assert_eq!(
        res.header("Connection"),
        Some("close"),
        "a response finished during shutdown must announce that the connection closes"
    );
}

#[test]
fn idle_keep_alive_connections_are_closed_by_shutdown() {
    let server = TestServer::with(hello);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut s = server.connect();
        let res = roundtrip(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(res.body, b"hello");
        assert_eq!(res.header("Connection"), None);
        idle.push(s);
    }
    // A connection that never sent a request is idle too.
    idle.push(server.connect());
    server.handle.shutdown();
    for (i, s) in idle.iter_mut().enumerate() {
        assert!(is_closed(s), "idle connection {i} not closed by shutdown");
    }
    let result = server.stop();
    assert!(result.is_ok(), "run returned {result:?}");
}

/// Regression: a connection handed to a busy worker just before shutdown,
/// its request still unread, was closed unanswered by the drain.
#[test]
fn request_queued_behind_a_busy_worker_is_answered_during_shutdown() {
    let server = TestServer::start(
        peregrine::Config::new().workers(1),
        |req: &Request<'_>, res: &mut Response<'_>| {
            if req.path() == "/slow" {
                std::thread::sleep(Duration::from_millis(300));
            }
            res.body(b"done");
        },
    );
    let mut busy = server.connect();
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50)); // the worker is in the handler
    let mut queued = server.connect();
    queued.write_all(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(50));
    server.handle.shutdown();
    for s in [&mut busy, &mut queued] {
        let res = read_response(s, &mut Vec::new(), false);
        assert_eq!((res.status, res.body.as_slice()), (200, &b"done"[..]));
        assert_eq!(res.header("connection"), Some("close"));
    }
    server.stop().unwrap();
}
