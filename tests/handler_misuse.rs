//! What a handler cannot break: responses that would corrupt the stream
//! are replaced by 500, and managed headers are honoured however set.

use std::io::Write;

use peregrine::{Request, Response, StatusCode};

mod support;
use support::{is_closed, read_response, TestServer};

#[test]
fn interim_status_as_final_response_becomes_500() {
    let server = TestServer::with(|req: &Request<'_>, res: &mut Response<'_>| {
        if req.path() == "/interim" {
            res.status(StatusCode::CONTINUE);
        }
        res.body(b"ok");
    });
    let mut s = server.connect();
    s.write_all(b"GET /interim HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = Vec::new();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(res.status, 500);
    assert!(buf.is_empty(), "answered past the refused response");
    assert!(is_closed(&mut s));
}

#[test]
fn connection_close_set_through_header_fmt_closes() {
    let server = TestServer::with(|_: &Request<'_>, res: &mut Response<'_>| {
        res.header_fmt("Connection", format_args!("{}", "close")).body(b"bye");
    });
    let mut s = server.connect();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.header("connection"), Some("close"));
    assert!(is_closed(&mut s));
}
