//! The sse example's ticks, in a real browser and over raw sockets.
//!
//! In the browser (ignored, see below): headless Chromium loads
//! `/?limit=3`, whose `EventSource` gets three ticks per stream before the
//! server ends it; the browser must reconnect with `Last-Event-ID`, so the
//! page shows ticks 1, 2, 3, 4, … with none missing or repeated across the
//! reconnects. Over raw sockets (not ignored): the head and chunked framing
//! of `/events`, resuming after `Last-Event-ID: 41` at tick 42, the
//! keep-alive comment of a quiet stream, and a stream's thread ending as
//! soon as its client leaves.
//!
//! The handler is the example's own (its source is included as a module),
//! so this tests the example as shipped, not a copy of it.
//!
//! Chromium is driven over the DevTools protocol (tests/support/browser.rs,
//! as for tests/browser_chat.rs): `--dump-dom` needs
//! `--virtual-time-budget`, which does not wait for a stream that never
//! ends; polling the live page bounds every wait in real time instead.
//!
//! The browser test is ignored by a plain `cargo test`, which lists it as
//! ignored: it needs Chromium (`$PEREGRINE_CHROMIUM` or
//! `/usr/bin/chromium`), and fails saying how to install it when run
//! without one. `.ci/run` runs it with the other browser tests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use peregrine::Config;

mod support;
use support::{chromium, eventually, request, TestServer, WAIT};

#[path = "support/browser.rs"]
mod browser;
use browser::Browser;

#[allow(dead_code)] // its `main` and flag parsing are not used here
#[path = "../examples/sse.rs"]
mod sse_example;

use sse_example::Ticks;

// ---------------------------------------------------------------- raw sockets

/// A response head as read off the wire.
struct Head {
    status_line: String,
    headers: Vec<(String, String)>,
}

impl Head {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads once more into `buf`; panics on EOF, or when nothing came within
/// the socket's read timeout.
fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 4096];
    let n = s
        .read(&mut chunk)
        .unwrap_or_else(|e| panic!("read failed ({e}); got {:?}", String::from_utf8_lossy(buf)));
    assert!(n > 0, "connection closed; unread: {:?}", String::from_utf8_lossy(buf));
    buf.extend_from_slice(&chunk[..n]);
}

/// Takes the bytes up to the next CRLF off the front of `buf`, reading as
/// needed; the CRLF is dropped.
fn line(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    loop {
        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8(buf[..i].to_vec()).expect("a line of UTF-8");
            buf.drain(..i + 2);
            return line;
        }
        fill(s, buf);
    }
}

/// Reads a response head; what follows it stays in `buf`.
fn read_head(s: &mut TcpStream, buf: &mut Vec<u8>) -> Head {
    let status_line = line(s, buf);
    let mut headers = Vec::new();
    loop {
        let l = line(s, buf);
        if l.is_empty() {
            return Head { status_line, headers };
        }
        let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header line without a colon: {l:?}"));
        headers.push((n.to_owned(), v.trim().to_owned()));
    }
}

/// Reads the next chunk of a chunked body: its data, or `None` for the
/// last chunk (whose trailer section is read too).
fn read_chunk(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let size_line = line(s, buf);
    let hex = size_line.split(';').next().unwrap().trim();
    let size = usize::from_str_radix(hex, 16).unwrap_or_else(|_| panic!("bad chunk size line {size_line:?}"));
    if size == 0 {
        while !line(s, buf).is_empty() {}
        return None;
    }
    while buf.len() < size + 2 {
        fill(s, buf);
    }
    assert_eq!(&buf[size..size + 2], b"\r\n", "chunk data not followed by CRLF");
    let data = buf[..size].to_vec();
    buf.drain(..size + 2);
    Some(data)
}

/// Reads a chunked body to its last chunk.
fn read_chunked_body(s: &mut TcpStream, buf: &mut Vec<u8>) -> String {
    let mut body = Vec::new();
    while let Some(chunk) = read_chunk(s, buf) {
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).expect("the body is UTF-8")
}

/// Checks the head of an event stream: 200, chunked, `text/event-stream`,
/// not cached, no `Content-Length`.
fn assert_event_stream(head: &Head) {
    assert_eq!(head.status_line, "HTTP/1.1 200 OK");
    assert_eq!(head.header("Transfer-Encoding"), Some("chunked"), "{:?}", head.headers);
    assert_eq!(head.header("Content-Type"), Some("text/event-stream"), "{:?}", head.headers);
    assert_eq!(head.header("Cache-Control"), Some("no-cache"), "{:?}", head.headers);
    assert_eq!(head.header("Content-Length"), None, "{:?}", head.headers);
}

#[test]
fn events_resume_after_last_event_id_in_a_chunked_event_stream() {
    let server = TestServer::start(Config::new().workers(1), Ticks::new(Duration::from_millis(20)));
    let mut s = server.connect();
    let mut buf = Vec::new();

    s.write_all(b"GET /events?limit=3 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 41\r\n\r\n").unwrap();
    let head = read_head(&mut s, &mut buf);
    assert_event_stream(&head);
    // Each event is queued whole: the first chunk is the first event.
    let first = read_chunk(&mut s, &mut buf).expect("an event before the last chunk");
    assert_eq!(String::from_utf8(first).unwrap(), "id: 42\nretry: 500\ndata: tick 42\n\n");
    assert_eq!(
        read_chunked_body(&mut s, &mut buf),
        "id: 43\ndata: tick 43\n\nid: 44\ndata: tick 44\n\n",
        "ticks 43 and 44, then the end of the body"
    );

    // The stream ended properly, so the connection serves the next request:
    // an id that is not a number starts again at 1.
    s.write_all(b"GET /events?limit=2 HTTP/1.1\r\nHost: x\r\nLast-Event-ID: not-a-number\r\n\r\n").unwrap();
    assert_event_stream(&read_head(&mut s, &mut buf));
    assert_eq!(
        read_chunked_body(&mut s, &mut buf),
        "id: 1\nretry: 500\ndata: tick 1\n\nid: 2\ndata: tick 2\n\n"
    );

    // And without Last-Event-ID, too.
    s.write_all(b"GET /events?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_event_stream(&read_head(&mut s, &mut buf));
    assert_eq!(read_chunked_body(&mut s, &mut buf), "id: 1\nretry: 500\ndata: tick 1\n\n");
    assert!(buf.is_empty(), "bytes after the last response: {:?}", String::from_utf8_lossy(&buf));
    drop(s);
    server.stop().unwrap();
}

#[test]
fn a_quiet_stream_gets_keep_alive_comments() {
    // Ticks a minute apart: between them only the worker's comments come.
    let keep_alive = Duration::from_millis(300);
    let server = TestServer::start(
        Config::new().workers(1).event_stream_keep_alive(keep_alive),
        Ticks::new(Duration::from_secs(60)),
    );
    let mut s = server.connect();
    let mut buf = Vec::new();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_event_stream(&read_head(&mut s, &mut buf));
    let first = read_chunk(&mut s, &mut buf).expect("the first tick");
    assert_eq!(String::from_utf8(first).unwrap(), "id: 1\nretry: 500\ndata: tick 1\n\n");
    for _ in 0..2 {
        let quiet_since = Instant::now();
        let comment = read_chunk(&mut s, &mut buf).expect("a keep-alive comment, not the end");
        assert_eq!(String::from_utf8(comment).unwrap(), ": keep-alive\n\n");
        let quiet = quiet_since.elapsed();
        // Not early (a little slack for the timer's granularity).
        assert!(quiet >= keep_alive.mul_f32(0.8), "a keep-alive comment after only {quiet:?}");
    }
}

#[test]
fn a_stream_thread_ends_as_soon_as_its_client_leaves() {
    let ticks = Ticks::new(Duration::from_secs(60));
    let open = ticks.open.clone();
    let server = TestServer::start(Config::new().workers(1), ticks);
    let mut s = server.connect();
    let mut buf = Vec::new();
    s.write_all(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    assert_event_stream(&read_head(&mut s, &mut buf));
    read_chunk(&mut s, &mut buf).expect("the first tick");
    assert_eq!(open.load(Ordering::Relaxed), 1, "one stream thread running");
    // The thread now sleeps for a minute unless the stream is cancelled.
    drop(s);
    assert!(
        eventually(|| open.load(Ordering::Relaxed) == 0),
        "the stream's thread still runs {WAIT:?} after its client left"
    );
    server.stop().unwrap();
}

#[test]
fn the_page_and_the_other_answers() {
    let server = TestServer::with(Ticks::new(Duration::from_millis(20)));
    let page = request(&server, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("Content-Type"), Some("text/html; charset=utf-8"));
    let html = String::from_utf8(page.body).unwrap();
    assert!(html.contains("new EventSource('/events' + location.search)"), "{html}");
    assert_eq!(request(&server, b"GET /events?limit=0 HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
    assert_eq!(request(&server, b"GET /events?limit=x HTTP/1.1\r\nHost: x\r\n\r\n").status, 400);
    let post = request(&server, b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    assert_eq!((post.status, post.header("Allow")), (405, Some("GET, HEAD")));
    // HEAD gets the head a GET gets (RFC 9110 §9.3.2), and no stream.
    let head = request(&server, b"HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((head.status, head.header("Content-Type")), (200, Some("text/event-stream")));
    assert!(head.body.is_empty());
    assert_eq!(request(&server, b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n").status, 404);
    server.stop().unwrap();
}

// -------------------------------------------------------------------- browser

/// What the page shows: `opens=N;ID:TEXT,ID:TEXT,…` (its connections, then
/// each event's id and data).
const SEEN: &str = "'opens=' + document.body.dataset.opens + ';' + \
                    [...document.querySelectorAll('#log li')].map(li => li.dataset.id + ':' + li.textContent).join(',')";

#[test]
#[ignore = "needs Chromium; run with: cargo test --test browser --test browser_chat --test browser_sse --test browser_dashboard -- --ignored"]
fn chromium_reconnects_with_last_event_id_and_misses_no_tick() {
    let binary = chromium();
    let server = TestServer::start(Config::new().workers(2), Ticks::new(Duration::from_millis(200)));
    // Streams of three ticks: by the seventh the browser has reconnected twice.
    let page_url = format!("http://{}/?limit=3", server.addr);
    let mut browser = Browser::start(&binary, &page_url, "sse");
    let mut page = browser.page(&page_url);
    page.wait_until("document.querySelectorAll('#log li').length >= 7", SEEN);

    let seen = page.evaluate_string(SEEN);
    eprintln!("page: {seen}");
    let (opens, events) = seen.split_once(';').unwrap();
    let opens: u32 = opens.strip_prefix("opens=").unwrap().parse().unwrap_or_else(|_| panic!("page: {seen}"));
    assert!(
        opens >= 3,
        "the browser did not reconnect twice after the server ended its streams; page: {seen}"
    );
    let events: Vec<&str> = events.split(',').collect();
    assert!(events.len() >= 7, "page: {seen}");
    // Ticks 1, 2, 3, … in order, none missing or repeated across the
    // reconnects, each with its own id: Last-Event-ID was sent and honoured.
    for (i, event) in events.iter().enumerate() {
        let n = i + 1;
        assert_eq!(*event, format!("{n}:tick {n}"), "event {n} of those the page got; page: {seen}");
    }
    // The tab's title counts its connections too.
    let title = page.evaluate_string("document.title");
    assert!(title.starts_with("ticks (") && title.ends_with(" connections)"), "title {title:?}");

    drop(page);
    browser.close();
    server.stop().unwrap();
}
