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
    let server = TestServer::start(Config::new().workers(1).max_connections(2), ok);
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
