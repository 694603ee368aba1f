//! SIGTERM/SIGINT handling, tested on a child process (this test binary
//! re-run with `PEREGRINE_SIGNAL_CHILD` set), since the signals end the
//! whole process.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use peregrine::{Config, Request, Response, Server};

mod support;
use support::{eventually, is_closed, read_response, roundtrip, wait_exit, WAIT};

const CHILD_ENV: &str = "PEREGRINE_SIGNAL_CHILD";

/// In the child: serve with signal handling on, print the address, run.
fn child_server() {
    let handler = |req: &Request<'_>, res: &mut Response<'_>| {
        if let Some(ms) = req.path().strip_prefix("/sleep/") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
        }
        // `/in-flight/MS/ID`: sleeps, then answers `ID`, so each client can
        // tell its own response from another's.
        if let Some((ms, id)) = req.path().strip_prefix("/in-flight/").and_then(|r| r.split_once('/')) {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
            res.body(id.as_bytes());
            return;
        }
        res.body(b"done");
    };
    let config = Config::new().addr("127.0.0.1:0".parse().unwrap()).workers(2);
    let server = Server::bind(config, handler).unwrap();
    println!("ADDR={}", server.local_addr());
    if std::env::args().any(|arg| arg == "a_server_dropped_unrun_gives_signals_back") {
        // Bound, then given up on: a signal then does what it does
        // without a server.
        drop(server);
        std::thread::sleep(Duration::from_secs(10));
        println!("STILL ALIVE");
        return;
    }
    if std::env::args().any(|arg| arg == "sigterm_right_after_the_address_is_printed_is_graceful") {
        // An application that says it listens, then does more first.
        std::thread::sleep(Duration::from_millis(300));
    }
    server.run().unwrap();
    println!("RUN RETURNED OK");
}

/// Starts this test (by name) in a child process as the server.
fn spawn_child(test: &str) -> (Child, SocketAddr) {
    support::spawn_test_child(test, CHILD_ENV)
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill").args([sig, &child.id().to_string()]).status().unwrap().success();
    assert!(ok, "kill {sig} failed");
}

fn refused(addr: SocketAddr) -> bool {
    matches!(TcpStream::connect(addr), Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

#[test]
fn sigterm_finishes_in_flight_requests_then_exits_zero() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_server();
    }
    let (mut child, addr) = spawn_child("sigterm_finishes_in_flight_requests_then_exits_zero");

    let mut idle = connect(addr);
    idle.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut first = [0u8; 256];
    assert!(idle.read(&mut first).unwrap() > 0);

    let mut busy = connect(addr);
    busy.write_all(b"GET /sleep/400 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100)); // the handler is now sleeping
    signal(&child, "-TERM");

    let mut response = Vec::new();
    busy.read_to_end(&mut response).unwrap();
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text}");
    assert!(text.ends_with("\r\n\r\ndone"), "{text}");

    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0, "idle connection not closed");

    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(TcpStream::connect(addr).is_err(), "still accepting after exit");
}

#[test]
fn sigterm_right_after_the_address_is_printed_is_graceful() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_server();
    }
    // The handlers are in place once bind returns: a signal in the moment
    // before run starts its threads drains (nothing to wait for) and exits
    // 0, rather than killing the process.
    for _ in 0..5 {
        let (mut child, _) = spawn_child("sigterm_right_after_the_address_is_printed_is_graceful");
        signal(&child, "-TERM");
        let status = wait_exit(&mut child);
        assert_eq!(status.code(), Some(0), "{status:?}");
    }
}

#[test]
fn a_server_dropped_unrun_gives_signals_back() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_server();
    }
    use std::os::unix::process::ExitStatusExt;
    let (mut child, _) = spawn_child("a_server_dropped_unrun_gives_signals_back");
    std::thread::sleep(Duration::from_millis(200));
    signal(&child, "-TERM");
    let status = wait_exit(&mut child);
    assert_eq!(status.signal(), Some(15), "SIGTERM did not end the process: {status:?}");
}

#[test]
fn second_signal_exits_without_waiting() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_server();
    }
    let (mut child, addr) = spawn_child("second_signal_exits_without_waiting");
    let mut stuck = connect(addr);
    stuck.write_all(b"GET /sleep/8000 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, "-INT");
    std::thread::sleep(Duration::from_millis(100));
    signal(&child, "-TERM");
    // A graceful exit would wait for the 8 s handler and exit 0.
    let status = wait_exit(&mut child);
    assert_eq!(status.code(), Some(1), "{status:?}");
}

/// SIGTERM while 200 connections each have a request in flight: every one
/// gets its complete response, new connections are refused from then on,
/// and the process exits 0 within its shutdown grace (the default 10 s).
#[test]
fn sigterm_under_load_answers_all_200_in_flight_requests_then_exits_zero() {
    const CLIENTS: usize = 200;
    const GRACE: Duration = Duration::from_secs(10);
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_server();
    }
    let (mut child, addr) =
        spawn_child("sigterm_under_load_answers_all_200_in_flight_requests_then_exits_zero");
    // One round trip each first, so every connection is accepted and owned
    // by a worker: one still in the listen backlog when the listener closes
    // is reset by the kernel, and never had a request in flight.
    let mut conns: Vec<TcpStream> = (0..CLIENTS)
        .map(|i| {
            let mut s = connect(addr);
            s.set_write_timeout(Some(WAIT)).unwrap();
            let res = roundtrip(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            assert_eq!(res.status, 200, "warm-up of client {i}");
            s
        })
        .collect();
    // 10 ms each, two workers: about a second of work queued, so most of
    // it is still waiting or running when the signal lands.
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(format!("GET /in-flight/10/{i} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
    }
    signal(&child, "-TERM");
    let signalled = Instant::now();

    // The listener closes as soon as the signal is handled, without waiting
    // for the in-flight requests.
    assert!(eventually(|| refused(addr)), "still accepting connections after SIGTERM");

    let mut announced_close = 0;
    for (i, s) in conns.iter_mut().enumerate() {
        let res = read_response(s, &mut Vec::new(), false);
        assert_eq!(res.status, 200, "client {i}");
        assert_eq!(res.body, i.to_string().as_bytes(), "client {i}");
        // A response made before the signal arrived may be keep-alive; the
        // connection is closed after it all the same.
        announced_close += usize::from(res.header("connection") == Some("close"));
        assert!(is_closed(s), "client {i}: connection left open after its response");
    }
    // Made after the signal: proof the requests were in flight during it.
    assert!(announced_close > 0, "no response was made during the shutdown");

    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if signalled.elapsed() > GRACE + WAIT {
            let _ = child.kill();
            panic!("server process still running {:?} after SIGTERM", signalled.elapsed());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let took = signalled.elapsed();
    assert_eq!(status.code(), Some(0), "{status:?}");
    assert!(took < GRACE, "exited {took:?} after SIGTERM, beyond the {GRACE:?} grace period");
    assert!(refused(addr), "connections accepted after exit");
}
