//! At `max_connections` a new connection is answered 503 and closed, and
//! the server serves again once connections go away.

use std::io::{Read, Write};

use peregrine::{Config, Request, Response};

mod support;
use support::{eventually, roundtrip, TestServer};

fn ok(_: &Request<'_>, res: &mut Response<'_>) {
    res.body(b"ok");
}

#[test]
fn connections_beyond_the_limit_get_503_until_load_drops() {
    for accept_threads in [1, 0] {
        beyond_the_limit(Config::new().workers(1).max_connections(2).accept_threads(accept_threads));
    }
}

fn beyond_the_limit(config: Config) {
    let server = TestServer::start(config, ok);
    let mut held: Vec<_> = (0..2)
        .map(|_| {
            let mut s = server.connect();
            assert_eq!(roundtrip(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
            s
        })
        .collect();

    let mut extra = server.connect();
    let mut answer = Vec::new();
    extra.read_to_end(&mut answer).unwrap();
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text:?}");
    assert!(text.contains("\r\nConnection: close\r\n"), "{text:?}");

    // The held connections are unaffected.
    assert_eq!(roundtrip(&mut held[0], b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);

    // Once one goes away, a new client is served.
    held.pop();
    assert!(
        eventually(|| {
            let mut s = server.connect();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").is_ok() && {
                let mut buf = [0u8; 256];
                matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"HTTP/1.1 200 "))
            }
        }),
        "never served again after a connection closed"
    );
}

/// Answers with the name of the worker thread that served the request.
fn which_worker(_: &Request<'_>, res: &mut Response<'_>) {
    let name = std::thread::current().name().unwrap_or_default().to_owned();
    res.body(name.as_bytes());
}

fn served_by(s: &mut std::net::TcpStream) -> String {
    let res = roundtrip(s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.status, 200, "refused while a worker had room");
    String::from_utf8(res.body).unwrap()
}

#[test]
fn new_connections_go_to_a_worker_with_room() {
    // Two places per worker. The accept thread deals connections out in
    // turn; once one worker's connections are gone and the other's stay,
    // the next connections must all go to the worker with room.
    let config = Config::new().workers(2).max_connections(4).accept_threads(1);
    let server = TestServer::start(config, which_worker);
    let mut held: Vec<_> = (0..4)
        .map(|_| {
            let mut s = server.connect();
            let worker = served_by(&mut s);
            (worker, s)
        })
        .collect();
    let emptied = held[1].0.clone();
    for (_, s) in held.iter_mut().filter(|(worker, _)| *worker == emptied) {
        // The server closes after answering, so once the client sees the
        // end, the worker has already given the place back.
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        s.read_to_end(&mut Vec::new()).unwrap();
    }
    held.retain(|(worker, _)| *worker != emptied);
    assert_eq!(held.len(), 2, "the four connections were not dealt out evenly");
    for _ in 0..2 {
        let mut s = server.connect();
        assert_eq!(served_by(&mut s), emptied, "placed on the full worker");
        held.push((emptied.clone(), s));
    }
    // Now every worker is full.
    let mut extra = server.connect();
    let mut answer = Vec::new();
    extra.read_to_end(&mut answer).unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 503 "), "{:?}", String::from_utf8_lossy(&answer));
}

#[test]
fn a_worker_that_accepts_for_itself_passes_on_what_it_has_no_room_for() {
    // Without accept threads the kernel picks the worker (by a hash of the
    // addresses), so two connections often land on one worker; with one
    // place per worker the second must go to the other worker, not get a
    // 503. A fresh server per round, so every round starts empty.
    for round in 0..12 {
        let config = Config::new().workers(2).max_connections(2).accept_threads(0);
        let server = TestServer::start(config, which_worker);
        let mut a = server.connect();
        let mut b = server.connect();
        let (wa, wb) = (served_by(&mut a), served_by(&mut b));
        assert_ne!(wa, wb, "round {round}: one worker holds both connections");
    }
}
