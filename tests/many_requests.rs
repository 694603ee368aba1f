//! Long-lived keep-alive connections: no per-connection request cap.

use std::io::Write;

use peregrine::{Request, Response};

mod support;
use support::{read_response, TestServer};

#[test]
fn five_thousand_sequential_requests_on_one_connection_all_succeed() {
    let server = TestServer::with(|req: &Request<'_>, res: &mut Response<'_>| {
        write!(res, "{}", req.query_str()).unwrap();
    });
    let mut s = server.connect();
    let mut buf = Vec::new();
    for i in 0..5000 {
        write!(s, "GET /n?{i} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 200, "request {i}");
        assert_eq!(res.body, i.to_string().as_bytes(), "request {i}");
        assert_eq!(res.header("Connection"), None, "request {i} closes the connection");
    }
    assert!(buf.is_empty());
}
