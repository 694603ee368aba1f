//! File bodies go out with sendfile after the head: large files reach
//! slow readers intact, ranges are exact, HEAD sends none of it.

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use peregrine::{Request, Response};

mod support;
use support::{read_pattern_response, read_response, TestServer};

const BIG: usize = 100 << 20;

fn byte(i: usize) -> u8 {
    (i % 251) as u8 ^ (i >> 16) as u8
}

/// A file of `len` pattern bytes, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, len: usize) -> Arc<Self> {
        let path = std::env::temp_dir().join(format!("peregrine-{name}-{}", std::process::id()));
        let content: Vec<u8> = (0..len).map(byte).collect();
        File::create(&path).unwrap().write_all(&content).unwrap();
        Arc::new(TempFile(path))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `/whole` sends the file; `/range?a-b` bytes a..b; others a short text.
fn serve(file: Arc<TempFile>, len: usize) -> TestServer {
    TestServer::with(move |req: &Request<'_>, res: &mut Response<'_>| {
        let f = File::open(&file.0).unwrap();
        match req.path() {
            "/whole" => {
                res.body_file(f, 0, len as u64);
            }
            "/range" => {
                let (a, b) = req.query_str().split_once('-').unwrap();
                let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
                res.body_file(f, a, b - a);
            }
            _ => {
                res.body(b"small");
            }
        }
    })
}

#[test]
fn hundred_mib_file_reaches_a_slow_reader_intact() {
    let file = TempFile::new("whole", BIG);
    let server = serve(Arc::clone(&file), BIG);
    let mut s = server.connect();
    s.write_all(b"GET /whole HTTP/1.1\r\nHost: x\r\n\r\nGET /after HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let head = read_pattern_response(&mut s, BIG, byte);
    assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
    assert!(head.contains(&format!("\r\nContent-Length: {BIG}\r\n")), "{head}");
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.body, b"small", "the pipelined request after the file");
}

#[test]
fn ranges_are_exact_and_head_sends_no_body() {
    const LEN: usize = 1 << 20;
    let file = TempFile::new("ranges", LEN);
    let server = serve(Arc::clone(&file), LEN);
    let mut s = server.connect();
    let mut buf = Vec::new();
    for (a, b) in [(0u64, 1u64), (12_345, 70_000), (LEN as u64 - 10, LEN as u64), (5, 5)] {
        s.write_all(format!("GET /range?{a}-{b} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        let res = read_response(&mut s, &mut buf, false);
        let want: Vec<u8> = (a as usize..b as usize).map(byte).collect();
        assert!(res.body == want, "range {a}-{b}");
    }
    s.write_all(b"HEAD /range?100-300 HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let head = read_response(&mut s, &mut buf, true);
    assert_eq!(head.header("content-length"), Some("200"));
    let next = read_response(&mut s, &mut buf, false);
    assert_eq!(next.body, b"small", "HEAD sent body bytes");
}
