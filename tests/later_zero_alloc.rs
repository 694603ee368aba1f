//! What responses that take time allocate, as a tested fact: once warm, a
//! worker serving deferred responses completed by another thread,
//! streamed bodies written from another thread, and deferred responses
//! that turn into streams, allocates nothing — the
//! exchanges are pooled, the completion queue and the stream pipes keep
//! their capacity — and neither does the completing thread, given a body
//! that needs no allocation of its own (`&'static` bytes) and a bounded
//! channel to reach it.
//!
//! One test in this file, so no other test allocates meanwhile; the client
//! allocates nothing inside the measured window.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Mutex, OnceLock};

use peregrine::{Config, Request, Responder, Response, Stream};

mod support;
use support::TestServer;

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{measure, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Work for the completing thread.
enum Job {
    Answer(Responder),
    Stream(Stream),
    /// A deferred answer that turns into a stream.
    AnswerStream(Responder),
}

/// The completing thread's queue (a bounded channel: a ring allocated once).
static JOBS: OnceLock<Mutex<SyncSender<Job>>> = OnceLock::new();

fn handler(req: &Request<'_>, res: &mut Response<'_>) {
    let job = match req.path() {
        "/deferred" => Job::Answer(res.defer()),
        "/stream" => Job::Stream(res.stream()),
        "/deferred-stream" => Job::AnswerStream(res.defer()),
        _ => {
            res.body_static(b"now");
            return;
        }
    };
    JOBS.get().unwrap().lock().unwrap().send(job).unwrap();
}

/// Jobs the completing thread gathers before completing them together.
/// The worker pools exchanges, and needs as many as are in use at once;
/// how many that is in a round depends on how answers and requests
/// interleave. The warm-up gathers every later answer of a round, so it
/// meets the most a round can use, and a measured round never needs one
/// more.
static GATHER: AtomicUsize = AtomicUsize::new(1);

fn complete(jobs: Receiver<Job>) {
    let mut gathered = Vec::with_capacity(64);
    for job in jobs {
        gathered.push(job);
        if gathered.len() >= GATHER.load(Ordering::SeqCst) {
            gathered.drain(..).for_each(run);
        }
    }
}

fn run(job: Job) {
    match job {
        Job::Answer(mut responder) => {
            responder.header("X-Later", "1");
            responder.send(&b"deferred"[..]);
        }
        Job::AnswerStream(responder) => {
            let mut stream = responder.stream();
            let _ = stream.send(b"streamed later");
            stream.finish();
        }
        Job::Stream(mut stream) => {
            let _ = stream.send(b"part one;");
            let _ = stream.send(b"part two");
            stream.finish();
        }
    }
}

/// Reads one response (Content-Length or chunked) into `buf`; returns
/// the bytes of its body, de-chunked in place. Allocates nothing.
fn read_one<'b>(s: &mut TcpStream, buf: &'b mut [u8]) -> &'b [u8] {
    let mut filled = 0;
    let head_end = loop {
        if let Some(end) = buf[..filled].windows(4).position(|w| w == b"\r\n\r\n") {
            break end + 4;
        }
        filled += read_more(s, &mut buf[filled..]);
    };
    let head = &buf[..head_end];
    assert!(head.starts_with(b"HTTP/1.1 200 OK\r\n"), "bad status line");
    if head.windows(26).any(|w| w == b"Transfer-Encoding: chunked") {
        while !buf[..filled].ends_with(b"\r\n0\r\n\r\n") {
            filled += read_more(s, &mut buf[filled..]);
        }
        // De-chunk in place.
        let (mut at, mut out) = (head_end, head_end);
        loop {
            let line = buf[at..].windows(2).position(|w| w == b"\r\n").unwrap();
            let len = buf[at..at + line]
                .iter()
                .fold(0, |n, &d| n * 16 + (d as char).to_digit(16).unwrap() as usize);
            at += line + 2;
            if len == 0 {
                break;
            }
            buf.copy_within(at..at + len, out);
            (at, out) = (at + len + 2, out + len);
        }
        return &buf[head_end..out];
    }
    let key = b"Content-Length: ";
    let at = head.windows(key.len()).position(|w| w == key).unwrap() + key.len();
    let len =
        head[at..].iter().take_while(|b| b.is_ascii_digit()).fold(0, |n, d| n * 10 + usize::from(d - b'0'));
    while filled < head_end + len {
        filled += read_more(s, &mut buf[filled..]);
    }
    assert_eq!(filled, head_end + len, "unexpected extra bytes");
    &buf[head_end..filled]
}

fn read_more(s: &mut TcpStream, into: &mut [u8]) -> usize {
    let n = s.read(into).expect("read");
    assert!(n > 0, "server closed the connection");
    n
}

const CASES: [(&[u8], &[u8]); 4] = [
    (b"GET /deferred HTTP/1.1\r\nHost: x\r\n\r\n", b"deferred"),
    (b"GET /deferred-stream HTTP/1.1\r\nHost: x\r\n\r\n", b"streamed later"),
    (b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n", b"part one;part two"),
    (b"GET /now HTTP/1.1\r\nHost: x\r\n\r\n", b"now"),
];

/// The case in `CASES` answered at once, not later.
const NOW: usize = 3;

fn rounds(conns: &mut [TcpStream], buf: &mut [u8], n: usize) {
    for _ in 0..n {
        for (i, s) in conns.iter_mut().enumerate() {
            s.write_all(CASES[i % CASES.len()].0).unwrap();
        }
        for (i, s) in conns.iter_mut().enumerate() {
            assert!(read_one(s, buf) == CASES[i % CASES.len()].1, "wrong body");
        }
    }
}

#[test]
fn deferred_and_streamed_responses_allocate_nothing_once_warm() {
    let (tx, rx) = sync_channel(64);
    JOBS.set(Mutex::new(tx)).ok().unwrap();
    std::thread::spawn(move || complete(rx));
    let server = TestServer::start(Config::new().workers(1), handler);
    let mut conns: Vec<TcpStream> = (0..9).map(|_| server.connect()).collect();
    let mut buf = vec![0u8; 1 << 16];

    rounds(&mut conns, &mut buf, 200);
    // Between rounds nothing is gathered: every answer was read.
    let later = (0..conns.len()).filter(|i| i % CASES.len() != NOW).count();
    GATHER.store(later, Ordering::SeqCst);
    rounds(&mut conns, &mut buf, 3);
    GATHER.store(1, Ordering::SeqCst);
    let measured = measure(|| rounds(&mut conns, &mut buf, 500));

    let requests = 500 * conns.len();
    assert_eq!(measured.count, 0, "while serving {requests} requests: {measured}");
    drop(conns);
    server.stop().unwrap();
}
