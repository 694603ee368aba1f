//! Response heads larger than the write buffer (16 KiB by default), and
//! responses queued while the buffer is nearly full and the client is not
//! reading: whatever the head's size and the buffer's state, the bytes a
//! `Content-Length` promises are the bytes sent, for every kind of body.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use peregrine::{Request, Response};

mod support;
use support::{read_response, TestServer};

const FILE_LEN: usize = 10_000;

/// A file of `FILE_LEN` patterned bytes, written once per test binary.
fn file_path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let path = std::env::temp_dir().join(format!("peregrine-large-heads-{}", std::process::id()));
        std::fs::write(&path, file_bytes()).unwrap();
        path
    })
}

fn file_bytes() -> Vec<u8> {
    (0..FILE_LEN).map(|i| (i % 251) as u8).collect()
}

fn big_static() -> &'static [u8] {
    static BODY: OnceLock<Vec<u8>> = OnceLock::new();
    BODY.get_or_init(|| (0..100_000u32).map(|i| (i % 241) as u8).collect())
}

fn copied(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 239) as u8).collect()
}

/// `/<body>/<head bytes>`: a header of that many bytes, then the body:
/// `file`, `static` (100 000 bytes), `small-static`, `copy` (3 000 bytes)
/// or `big-copy` (50 000 bytes).
fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    let mut parts = req.path().trim_start_matches('/').split('/');
    let body = parts.next().unwrap_or_default();
    let head: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    if head > 0 {
        res.header("X-Padding", "p".repeat(head));
    }
    match body {
        "file" => {
            res.body_file(std::fs::File::open(file_path()).unwrap(), 0, FILE_LEN as u64);
        }
        "static" => {
            res.body_static(big_static());
        }
        "small-static" => {
            res.body_static(b"small static body");
        }
        "copy" => {
            res.body(&copied(3_000));
        }
        "big-copy" => {
            res.body(&copied(50_000));
        }
        "block" => {
            // Larger than what loopback buffers for a client that does not
            // read, so the socket is full when the next responses queue.
            static BLOCK: OnceLock<Vec<u8>> = OnceLock::new();
            res.body_static(BLOCK.get_or_init(|| vec![b'b'; 16 << 20]));
        }
        _ => {
            res.status(peregrine::StatusCode::NOT_FOUND);
        }
    }
}

fn expected(body: &str) -> Vec<u8> {
    match body {
        "file" => file_bytes(),
        "static" => big_static().to_vec(),
        "small-static" => b"small static body".to_vec(),
        "copy" => copied(3_000),
        "big-copy" => copied(50_000),
        "block" => vec![b'b'; 16 << 20],
        other => panic!("no such body {other}"),
    }
}

fn get(s: &mut TcpStream, path: &str) {
    write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
}

fn check(s: &mut TcpStream, buf: &mut Vec<u8>, path: &str) {
    let res = read_response(s, buf, false);
    assert_eq!(res.status, 200, "{path}");
    let mut parts = path.trim_start_matches('/').split('/');
    let body = parts.next().unwrap();
    let head: usize = parts.next().and_then(|n| n.parse().ok()).unwrap_or(0);
    if head > 0 {
        assert_eq!(res.header("x-padding").map(str::len), Some(head), "{path}: the padding header");
    }
    let want = expected(body);
    assert_eq!(res.body.len(), want.len(), "{path}: body length");
    assert!(res.body == want, "{path}: body bytes differ");
}

const BODIES: [&str; 5] = ["file", "static", "small-static", "copy", "big-copy"];

#[test]
fn every_body_follows_a_head_larger_than_the_write_buffer() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    let mut buf = Vec::new();
    // 17 000 and 40 000 bytes: larger than the 16 KiB write buffer; 16 300:
    // the head alone nearly fills it.
    for head in [17_000, 40_000, 16_300] {
        for body in BODIES {
            let path = format!("/{body}/{head}");
            get(&mut s, &path);
            check(&mut s, &mut buf, &path);
        }
    }
    // The connection kept its framing: an ordinary request still works.
    get(&mut s, "/small-static/0");
    check(&mut s, &mut buf, "/small-static/0");
    assert!(buf.is_empty(), "bytes beyond the last response");
}

#[test]
fn responses_queued_behind_a_blocked_reader_keep_their_bytes() {
    let server = TestServer::with(handler);
    let mut s = server.connect();
    // A response that blocks the socket, then many that fill the write
    // buffer while it is blocked, large heads and every body among them.
    let mut paths = vec!["/block/0".to_string()];
    for round in 0..3 {
        for body in BODIES {
            paths.push(format!("/copy/{}", 100 + round));
            paths.push(format!("/copy/{}", 4_000 + round));
            paths.push(format!("/{body}/{}", [0, 9_000, 17_000][round]));
        }
    }
    let mut raw = String::new();
    for path in &paths {
        raw.push_str(&format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n"));
    }
    s.write_all(raw.as_bytes()).unwrap();
    // Not reading for a while lets the socket fill; then read slowly at
    // first, so the server keeps meeting a full socket as it queues.
    std::thread::sleep(Duration::from_millis(300));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    while buf.len() < 1 << 20 {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        buf.extend_from_slice(&chunk[..n]);
        std::thread::sleep(Duration::from_millis(1));
    }
    for path in &paths {
        check(&mut s, &mut buf, path);
    }
    assert!(buf.is_empty(), "bytes beyond the last response");
}
