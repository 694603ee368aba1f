//! Pipelining: several requests sent before any response is read are all
//! answered, in order, however the bytes are split. Through the connection
//! code over memory (`peregrine::testing`): nothing here is about sockets
//! (`tests/fairness.rs` and the partial-IO tests keep those).

use std::io::Write;

use peregrine::testing::TestClient;
use peregrine::{Request, Response};

/// Echoes the path as the body.
fn echo_path(req: &Request<'_>, res: &mut Response<'_>) {
    write!(res, "{}", req.path()).unwrap();
}

fn pipeline(paths: impl IntoIterator<Item = String>) -> Vec<u8> {
    paths.into_iter().flat_map(|p| format!("GET {p} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes()).collect()
}

#[test]
fn sixteen_requests_in_one_write_are_answered_in_order() {
    let mut client = TestClient::new(echo_path);
    client.send(&pipeline((0..16).map(|i| format!("/{i}"))));
    for i in 0..16 {
        let res = client.response().unwrap_or_else(|| panic!("no response {i}"));
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("/{i}").as_bytes(), "response {i} out of order");
        assert_eq!(res.header("Connection"), None);
    }
    assert!(
        client.written().is_empty(),
        "unexpected extra bytes: {:?}",
        String::from_utf8_lossy(client.written())
    );
    // Still usable afterwards.
    assert_eq!(client.get("/after").body, b"/after");
}

#[test]
fn pipelined_requests_split_at_odd_boundaries_are_answered_in_order() {
    let raw = pipeline((0..16).map(|i| format!("/{i}")));
    // Piece sizes that cut request lines, header names, CRLFs and the
    // boundaries between requests.
    let sizes = [1, 2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37];
    let mut client = TestClient::new(echo_path);
    let mut at = 0;
    let mut k = 0;
    while at < raw.len() {
        let end = (at + sizes[k % sizes.len()]).min(raw.len());
        client.send(&raw[at..end]);
        at = end;
        k += 1;
    }
    for i in 0..16 {
        let res = client.response().unwrap_or_else(|| panic!("no response {i}"));
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("/{i}").as_bytes(), "response {i} out of order");
    }
    assert!(
        client.written().is_empty(),
        "unexpected extra bytes: {:?}",
        String::from_utf8_lossy(client.written())
    );
}

#[test]
fn connection_close_mid_pipeline_stops_after_that_response() {
    let mut client = TestClient::new(echo_path);
    let mut raw = pipeline(["/0".to_string(), "/1".to_string()]);
    raw.extend_from_slice(b"GET /2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    raw.extend(pipeline(["/3".to_string(), "/4".to_string()]));
    client.send(&raw);
    for i in 0..3 {
        let res = client.response().unwrap_or_else(|| panic!("no response {i}"));
        assert_eq!(res.status, 200);
        assert_eq!(res.body, format!("/{i}").as_bytes());
        let expect_close = if i == 2 { Some("close") } else { None };
        assert_eq!(res.header("Connection"), expect_close, "response {i}");
    }
    // Nothing more: the requests after the close are never answered.
    assert!(
        client.written().is_empty(),
        "requests after Connection: close were answered: {:?}",
        String::from_utf8_lossy(client.written())
    );
    assert!(!client.is_open());
}
