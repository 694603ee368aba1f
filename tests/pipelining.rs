//! Pipelining: several requests sent before any response is read are all
//! answered, in order, however the bytes are split.

use std::io::{Read, Write};
use std::time::Duration;

use peregrine::{Request, Response};

mod support;
use support::{is_closed, read_response, TestServer};

/// Echoes the path as the body.
fn echo_path(req: &Request<'_>, res: &mut Response<'_>) {
    write!(res, "{}", req.path()).unwrap();
}

fn pipeline(paths: impl IntoIterator<Item = String>) -> Vec<u8> {
    paths.into_iter().flat_map(|p| format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()).collect()
}

#[test]
fn sixteen_requests_in_one_write_are_answered_in_order() {
    let server = TestServer::with(echo_path);
    let mut s = server.connect();
    s.write_all(&pipeline((0..16).map(|i| format!("/{i}")))).unwrap();
    let mut buf = Vec::new();
    for i in 0..16 {
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("/{i}").as_bytes(), "response {i} out of order");
        assert_eq!(res.header("Connection"), None);
    }
    assert!(buf.is_empty(), "unexpected extra bytes: {:?}", String::from_utf8_lossy(&buf));
    // Still usable afterwards.
    s.write_all(b"GET /after HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"/after");
}

#[test]
fn pipelined_requests_split_at_odd_boundaries_are_answered_in_order() {
    let server = TestServer::with(echo_path);
    let mut s = server.connect();
    let raw = pipeline((0..16).map(|i| format!("/{i}")));
    // Chunk sizes that cut request lines, header names, CRLFs and the
    // boundaries between requests.
    let sizes = [1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    let mut at = 0;
    let mut k = 0;
    while at < raw.len() {
        let end = (at + sizes[k % sizes.len()]).min(raw.len());
        s.write_all(&raw[at..end]).unwrap();
        s.flush().unwrap();
        std::thread::sleep(Duration::from_millis(1));
        at = end;
        k += 1;
    }
    let mut buf = Vec::new();
    for i in 0..16 {
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("/{i}").as_bytes(), "response {i} out of order");
    }
    assert!(buf.is_empty(), "unexpected extra bytes: {:?}", String::from_utf8_lossy(&buf));
}

#[test]
fn connection_close_mid_pipeline_stops_after_that_response() {
    let server = TestServer::with(echo_path);
    let mut s = server.connect();
    let mut raw = pipeline(["/0".to_string(), "/1".to_string()]);
    raw.extend_from_slice(b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw.extend(pipeline(["/3".to_string(), "/4".to_string()]));
    s.write_all(&raw).unwrap();
    let mut buf = Vec::new();
    for i in 0..3 {
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("/{i}").as_bytes());
        let expect_close = if i == 2 { Some("close") } else { None };
        assert_eq!(res.header("Connection"), expect_close, "response {i}");
    }
    // Nothing more: the requests after the close are never answered.
    let mut rest = std::mem::take(&mut buf);
    let _ = s.read_to_end(&mut rest);
    assert!(
        rest.is_empty(),
        "requests after Connection: close were answered: {:?}",
        String::from_utf8_lossy(&rest)
    );
    assert!(is_closed(&mut s));
}
