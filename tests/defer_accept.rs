//! `Config::defer_accept` (on by default; Linux's `TCP_DEFER_ACCEPT`): a
//! connection reaches a worker once its client has sent something, so a
//! client that connects and stays silent holds no place in the server,
//! yet is still served when it speaks, early or late.

#![cfg(target_os = "linux")]

use std::io::Write;
use std::time::Duration;

use peregrine::{Config, Request, Response};

mod support;
use support::{read_response, request, TestServer};

fn hello(_: &Request<'_>, res: &mut Response<'_>) {
    res.body(b"hello");
}

/// One worker with room for one connection.
fn one_seat(defer: bool) -> TestServer {
    TestServer::start(Config::new().workers(1).max_connections(1).defer_accept(defer), hello)
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn a_silent_connection_holds_no_place_when_deferred() {
    let server = one_seat(true);
    let _silent = server.connect();
    std::thread::sleep(Duration::from_millis(100));
    let res = request(&server, GET);
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn without_deferring_a_silent_connection_takes_the_only_place() {
    // The same as above with the option off: the silent connection is
    // accepted and seated, so the next one is refused. This is what shows
    // the option is applied at all.
    let server = one_seat(false);
    let _silent = server.connect();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(request(&server, GET).status, 503);
}

#[test]
fn a_client_that_speaks_late_is_still_served() {
    let server = one_seat(true);
    // Past the one second after which the kernel hands over a silent
    // connection anyway, and well within request_timeout.
    for wait in [Duration::from_millis(200), Duration::from_millis(1500)] {
        let mut s = server.connect();
        std::thread::sleep(wait);
        s.write_all(GET).unwrap();
        let res = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]), "after {wait:?}");
    }
}
