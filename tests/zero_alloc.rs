//! "Zero allocations per request" as a tested fact: a counting global
//! allocator sees no allocation, on any thread, while a warmed-up server
//! answers thousands of keep-alive, pipelined, HEAD, HTTP/1.0 and
//! body-carrying requests (Content-Length and chunked, small and larger
//! than the read buffer), file bodies sent with sendfile, and DirServer
//! (files, ranges, refused traversal), and scrapes of the server's
//! counters in the Prometheus format.
//!
//! This file holds a single test so no other test allocates meanwhile;
//! the client side allocates nothing inside the measured window either
//! (fixed buffers, prebuilt requests, no formatting).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::OnceLock;

use peregrine::{Config, DirServer, Field, Method, Metrics, Request, Response};

mod support;
use support::TestServer;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{measure, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// A small file sent with sendfile by `/file`.
static FILE: OnceLock<PathBuf> = OnceLock::new();
const FILE_CONTENT: &[u8] = b"file body, sent with sendfile";

/// The server's counters, scraped at `/metrics`.
static METRICS: OnceLock<Metrics> = OnceLock::new();

/// A directory served by DirServer under `/site/`.
static SITE: OnceLock<DirServer> = OnceLock::new();
const PAGE: &[u8] = b"<p>a page from DirServer</p>";

fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    if req.path().starts_with("/site/") {
        return SITE.get().unwrap().serve(req, res);
    }
    match req.path() {
        "/file" => {
            let file = std::fs::File::open(FILE.get().unwrap()).unwrap();
            let len = file.metadata().unwrap().len();
            res.header("Content-Type", "text/plain").body_file(file, 0, len);
        }
        "/static" => {
            // A field checked at compile time, one joined and one in pieces.
            const SERVER: Field = Field::new("Server", "peregrine");
            const LONG: Field = Field::new(
                "X-Long",
                "a value longer than what a Field keeps joined, so it is copied in four pieces: \
                 0123456789abcdef0123456789abcdef0123456789abcdef",
            );
            res.header("Content-Type", "text/plain").field(&SERVER).field(&LONG).body_static(b"static-body");
        }
        "/copy" => {
            let q = req.query();
            let name = q.get("name");
            let token = req.headers().get_str("x-token").unwrap_or("-");
            res.header_fmt("X-Len", format_args!("{}", q.iter().count()));
            let _ = match name {
                Some(name) => write!(res, "name={name} token={token}"),
                None => write!(res, "anonymous"),
            };
        }
        "/metrics" => {
            res.header("Content-Type", peregrine::metrics::PROMETHEUS_CONTENT_TYPE);
            METRICS.get().unwrap().write_prometheus(res).unwrap();
        }
        "/echo" if req.method() == Method::Post => {
            res.body(req.body());
        }
        "/sum" => {
            let sum = req.body().iter().fold(0u32, |a, &b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
            let _ = write!(res, "len={} sum={sum}", req.body().len());
        }
        _ => {
            res.status(peregrine::StatusCode::NOT_FOUND);
        }
    }
}

/// A request to send and the response body it must get (any body, if
/// `body` is `None`: the counters change with every request).
struct Case {
    request: Vec<u8>,
    body: Option<Vec<u8>>,
    head: bool,
}

fn case(request: &[u8], body: &[u8], head: bool) -> Case {
    Case { request: request.to_vec(), body: Some(body.to_vec()), head }
}

impl Case {
    fn matches(&self, body: &[u8]) -> bool {
        self.body.as_deref().is_none_or(|want| want == body)
    }
}

/// What `/sum` answers for `body`.
fn sum_of(body: &[u8]) -> Vec<u8> {
    let sum = body.iter().fold(0u32, |a, &b| a.wrapping_mul(31).wrapping_add(u32::from(b)));
    format!("len={} sum={sum}", body.len()).into_bytes()
}

fn cases() -> Vec<Case> {
    // A Content-Length body larger than the read buffer, and a chunked one:
    // both are received into pooled body buffers.
    let big: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let mut big_length =
        format!("POST /sum HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", big.len()).into_bytes();
    big_length.extend_from_slice(&big);
    let mut big_chunked = b"POST /sum HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in big.chunks(3000) {
        big_chunked.extend_from_slice(format!("{:x};e=1\r\n", piece.len()).as_bytes());
        big_chunked.extend_from_slice(piece);
        big_chunked.extend_from_slice(b"\r\n");
    }
    big_chunked.extend_from_slice(b"0\r\nTrailer: t\r\n\r\n");
    vec![
        case(b"GET /static HTTP/1.1\r\nHost: x\r\n\r\n", b"static-body", false),
        case(
            b"GET /copy?name=a%20b&n=7 HTTP/1.1\r\nHost: x\r\nX-Token: abc\r\n\r\n",
            b"name=a b token=abc",
            false,
        ),
        case(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
            b"hello world",
            false,
        ),
        case(b"HEAD /static HTTP/1.1\r\nHost: x\r\n\r\n", b"", true),
        case(b"GET /static HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", b"static-body", false),
        case(b"GET /missing HTTP/1.1\r\nHost: x\r\n\r\n", b"", false),
        case(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            b"hello",
            false,
        ),
        case(b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n", FILE_CONTENT, false),
        case(b"GET /site/page.html HTTP/1.1\r\nHost: x\r\n\r\n", PAGE, false),
        case(b"GET /site/page.html HTTP/1.1\r\nHost: x\r\nRange: bytes=3-6\r\n\r\n", &PAGE[3..7], false),
        case(b"GET /site/%2e%2e/secret HTTP/1.1\r\nHost: x\r\n\r\n", b"", false),
        case(&big_length, &sum_of(&big), false),
        case(&big_chunked, &sum_of(&big), false),
        Case { request: b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), body: None, head: false },
    ]
}

/// Reads responses into `buf` until one is complete; returns its body
/// range and shifts the rest to the front. Allocates nothing.
fn read_one(s: &mut TcpStream, buf: &mut [u8], filled: &mut usize, head_only: bool) -> (usize, usize, usize) {
    loop {
        if let Some(end) = buf[..*filled].windows(4).position(|w| w == b"\r\n\r\n") {
            let head = &buf[..end + 4];
            assert!(head.starts_with(b"HTTP/1.1 "), "bad status line");
            let len = if head_only { 0 } else { content_length(head) };
            let total = end + 4 + len;
            while *filled < total {
                fill(s, buf, filled);
            }
            return (end + 4, total, total);
        }
        fill(s, buf, filled);
    }
}

fn fill(s: &mut TcpStream, buf: &mut [u8], filled: &mut usize) {
    let n = s.read(&mut buf[*filled..]).expect("read");
    assert!(n > 0, "server closed the connection");
    *filled += n;
}

fn content_length(head: &[u8]) -> usize {
    let key = b"\r\nContent-Length: ";
    let at = head.windows(key.len()).position(|w| w == key).expect("no Content-Length") + key.len();
    head[at..].iter().take_while(|b| b.is_ascii_digit()).fold(0, |n, d| n * 10 + usize::from(d - b'0'))
}

/// Sends every case on every connection (pipelined in one write on the
/// last one) and checks every response; `rounds` times.
fn exchange(conns: &mut [TcpStream], cases: &[Case], pipelined: &[u8], buf: &mut [u8], rounds: usize) {
    for _ in 0..rounds {
        let (plain, piped) = conns.split_at_mut(conns.len() - 1);
        for (i, s) in plain.iter_mut().enumerate() {
            let case = &cases[i % cases.len()];
            s.write_all(&case.request).unwrap();
        }
        piped[0].write_all(pipelined).unwrap();
        for (i, s) in plain.iter_mut().enumerate() {
            let case = &cases[i % cases.len()];
            let mut filled = 0;
            let (body, end, _) = read_one(s, buf, &mut filled, case.head);
            assert!(case.matches(&buf[body..end]), "wrong body");
            assert_eq!(filled, end, "unexpected extra bytes");
        }
        let mut filled = 0;
        for case in cases.iter().cycle().take(16) {
            let (body, end, consumed) = read_one(&mut piped[0], buf, &mut filled, case.head);
            assert!(case.matches(&buf[body..end]), "wrong pipelined body");
            buf.copy_within(consumed..filled, 0);
            filled -= consumed;
        }
        assert_eq!(filled, 0);
    }
}

#[test]
fn serving_requests_allocates_nothing() {
    let path = std::env::temp_dir().join(format!("peregrine-zero-alloc-{}", std::process::id()));
    std::fs::write(&path, FILE_CONTENT).unwrap();
    FILE.set(path.clone()).unwrap();
    let site = std::env::temp_dir().join(format!("peregrine-zero-alloc-site-{}", std::process::id()));
    std::fs::create_dir_all(site.join("site")).unwrap();
    std::fs::write(site.join("site/page.html"), PAGE).unwrap();
    SITE.set(DirServer::new(&site).unwrap()).unwrap();
    let metrics = METRICS.get_or_init(Metrics::new);
    let server = TestServer::start(Config::new().workers(2).metrics(metrics), handler);
    let mut conns: Vec<TcpStream> = (0..15).map(|_| server.connect()).collect();
    let cases = cases();
    let pipelined: Vec<u8> = cases.iter().cycle().take(16).flat_map(|c| c.request.iter().copied()).collect();
    let mut buf = vec![0u8; 1 << 16];

    exchange(&mut conns, &cases, &pipelined, &mut buf, 200);
    let measured = measure(|| exchange(&mut conns, &cases, &pipelined, &mut buf, 500));

    let requests = 500 * (conns.len() - 1 + 16);
    assert_eq!(measured.count, 0, "while serving {requests} requests: {measured}");
    drop(conns);
    server.stop().unwrap();
    std::fs::remove_file(path).unwrap();
    std::fs::remove_dir_all(site).unwrap();
}
