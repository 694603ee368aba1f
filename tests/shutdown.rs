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
    // Workers with their own listeners (Linux's default), and an accept thread.
    for accept_threads in [0, 1] {
        let server =
            TestServer::start(peregrine::Config::new().workers(2).accept_threads(accept_threads), hello);
        let addr = server.addr;
        let res = roundtrip(&mut server.connect(), b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        assert_eq!(res.body, b"hello");
        let result = server.stop();
        assert!(result.is_ok(), "run returned {result:?}");
        let err = TcpStream::connect(addr).expect_err("the port still accepts connections after shutdown");
        assert_eq!(
            err.kind(),
            std::io::ErrorKind::ConnectionRefused,
            "accept_threads({accept_threads}): {err}"
        );
    }
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
    // Without deferred accepting, so that a connection that never sent a
    // request is the server's too (deferred, it would still be the
    // kernel's, and go with the listener: tests/defer_accept.rs).
    let server = TestServer::start(peregrine::Config::new().workers(2).defer_accept(false), hello);
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

/// Shutdown while 200 connections each have a request in flight: every
/// one of them gets its complete response, `run` returns Ok, and the port
/// is closed afterwards.
#[test]
fn shutdown_under_load_answers_every_in_flight_request() {
    const CLIENTS: usize = 200;
    let server = TestServer::start(
        peregrine::Config::new().workers(2),
        |req: &Request<'_>, res: &mut Response<'_>| {
            // Long enough that most requests are still queued when
            // shutdown starts; 200 × 5 ms over 2 workers is about 0.5 s.
            std::thread::sleep(Duration::from_millis(5));
            res.body(req.path().as_bytes());
        },
    );
    let addr = server.addr;
    // One round trip each first, so every connection has been accepted
    // (sockets still in the listen backlog are refused by shutdown).
    let mut conns: Vec<TcpStream> = (0..CLIENTS)
        .map(|_| {
            let mut s = server.connect();
            assert_eq!(roundtrip(&mut s, b"GET /warm HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
            s
        })
        .collect();
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(format!("GET /{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    }
    server.handle.shutdown();
    for (i, s) in conns.iter_mut().enumerate() {
        let res = read_response(s, &mut Vec::new(), false);
        assert_eq!(res.status, 200, "client {i}");
        assert_eq!(res.body, format!("/{i}").as_bytes(), "client {i}");
        assert_eq!(res.header("connection"), Some("close"), "client {i}");
    }
    server.stop().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "still accepting after shutdown");
}

/// The grace period runs from the shutdown request, even when the worker
/// sees it late, at the end of a turn a handler held: a deferred answer
/// completed within the grace period of the request still goes out.
#[test]
fn the_grace_period_runs_from_the_request_not_from_a_late_turn() {
    let t0 = std::time::Instant::now();
    let started = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&started);
    let config = peregrine::Config::new().workers(1).shutdown_grace(Duration::from_millis(1500));
    let server = TestServer::start(config, move |req: &Request<'_>, res: &mut Response<'_>| {
        seen.fetch_add(1, Ordering::SeqCst);
        if req.path() == "/later" {
            // Completed 1.75 s after the start: 1.25 s after the shutdown
            // request below, within its grace period; 0.25 s after the end
            // of a grace period counted from the turn the request ended.
            let responder = res.defer();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(1750).saturating_sub(t0.elapsed()));
                responder.send(&b"later"[..]);
            });
        } else {
            std::thread::sleep(Duration::from_millis(1500).saturating_sub(t0.elapsed()));
            res.body(b"busy");
        }
    });
    let mut later = server.connect();
    later.write_all(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(eventually(|| started.load(Ordering::SeqCst) == 1), "the deferred handler never ran");
    let mut busy = server.connect();
    busy.write_all(b"GET /busy HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert!(eventually(|| started.load(Ordering::SeqCst) == 2), "the busy handler never ran");
    std::thread::sleep(Duration::from_millis(500).saturating_sub(t0.elapsed()));
    server.handle.shutdown();
    let res = read_response(&mut later, &mut Vec::new(), false);
    assert_eq!((res.status, res.body.as_slice()), (200, &b"later"[..]));
    assert_eq!(read_response(&mut busy, &mut Vec::new(), false).body, b"busy");
    server.stop().unwrap();
}
