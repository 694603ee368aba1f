//! `accept_threads(0)`: each worker accepts on a `SO_REUSEPORT` listener of
//! its own. The server must behave as with an accept thread: every client
//! served (keep-alive and one request per connection), port 0 resolved to
//! one port for all the listeners, and shutdown closing that port while
//! in-flight requests finish.

use std::time::Duration;

use peregrine::{Config, Request, Response};

mod support;
use support::{eventually, read_response, request, roundtrip, TestServer};

fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    if let Some(ms) = req.path().strip_prefix("/sleep/") {
        std::thread::sleep(Duration::from_millis(ms.parse().unwrap()));
    }
    res.body(req.path().as_bytes());
}

fn start(workers: usize) -> TestServer {
    TestServer::start(Config::new().port(0).workers(workers).accept_threads(0), handler)
}

#[test]
fn every_client_is_served_by_some_worker() {
    let server = start(3);
    for i in 0..200 {
        let path = format!("/close/{i}");
        let res = request(
            &server,
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        );
        assert_eq!((res.status, res.body.as_slice()), (200, path.as_bytes()));
    }
    let mut conns: Vec<_> = (0..50).map(|_| server.connect()).collect();
    for round in 0..3 {
        for (i, s) in conns.iter_mut().enumerate() {
            let path = format!("/keep/{round}/{i}");
            let res = roundtrip(s, format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
            assert_eq!((res.status, res.body.as_slice()), (200, path.as_bytes()));
        }
    }
}

#[test]
fn shutdown_finishes_in_flight_requests_and_closes_the_port() {
    let server = start(2);
    let addr = server.addr;
    let mut clients: Vec<_> = (0..8)
        .map(|i| {
            let mut s = server.connect();
            std::io::Write::write_all(
                &mut s,
                format!("GET /sleep/{} HTTP/1.1\r\nHost: x\r\n\r\n", 200 + i).as_bytes(),
            )
            .unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let handle = server.handle.clone();
    handle.shutdown();
    for (i, s) in clients.iter_mut().enumerate() {
        let res = read_response(s, &mut Vec::new(), false);
        assert_eq!((res.status, res.body), (200, format!("/sleep/{}", 200 + i).into_bytes()), "client {i}");
    }
    server.stop().unwrap();
    assert!(eventually(|| std::net::TcpStream::connect(addr).is_err()), "the port stayed open");
}
