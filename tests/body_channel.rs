//! A request body read on another thread (`body_channel`): the bytes
//! arrive whole and in order, the reader answers through the request's
//! Responder, and while the reader is behind the worker stops reading that
//! connection (the client is held back by TCP) and serves the others.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peregrine::{body_channel, Config, Handler, Intake, Request, Response, StatusCode};

mod support;
use support::{chunked_post, read_response, roundtrip, TestServer};

/// Streams `POST /up` to a reader thread that waits for `gate` to open,
/// then sums the body and answers `N sum`; `POST /refuse` is refused by
/// its reader (422) after 10 bytes.
struct App {
    gate: Arc<AtomicBool>,
    /// The most bytes the reader ever found waiting at once.
    high_water: Arc<AtomicUsize>,
    aborted: Arc<Mutex<usize>>,
}

impl Handler for App {
    fn intake(&self, req: &Request<'_>) -> Intake {
        let (intake, mut reader) = body_channel(64 << 10);
        let refuse = req.path() == "/refuse";
        let (gate, high_water, aborted) = (self.gate.clone(), self.high_water.clone(), self.aborted.clone());
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !gate.load(Ordering::SeqCst) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(5));
            }
            let (mut n, mut sum) = (0u64, 0u64);
            let mut buf = vec![0u8; 1 << 20];
            loop {
                match reader.read(&mut buf) {
                    Ok(0) => break,
                    Ok(k) => {
                        high_water.fetch_max(k, Ordering::SeqCst);
                        n += k as u64;
                        sum = buf[..k].iter().fold(sum, |s, &b| s.wrapping_add(u64::from(b)));
                        if refuse && n >= 10 {
                            reader.refuse(StatusCode::UNPROCESSABLE_CONTENT);
                            return;
                        }
                    }
                    Err(_) => {
                        *aborted.lock().unwrap() += 1;
                        return;
                    }
                }
            }
            reader.responder().expect("the body ended").send(format!("{n} {sum}"));
        });
        intake
    }

    fn handle(&self, _req: &Request<'_>, res: &mut Response<'_>) {
        res.body_static(b"ok");
    }
}

fn start(open: bool) -> (TestServer, Arc<AtomicBool>, Arc<AtomicUsize>, Arc<Mutex<usize>>) {
    let gate = Arc::new(AtomicBool::new(open));
    let high_water = Arc::new(AtomicUsize::new(0));
    let aborted = Arc::new(Mutex::new(0));
    let app = App { gate: gate.clone(), high_water: high_water.clone(), aborted: aborted.clone() };
    (TestServer::start(Config::new().workers(1), app), gate, high_water, aborted)
}

fn byte(i: usize) -> u8 {
    (i * 31 % 251) as u8
}

#[test]
fn a_body_read_on_another_thread_arrives_whole_and_is_answered_from_there() {
    let (server, _, _, _) = start(true);
    let body: Vec<u8> = (0..3_000_000).map(byte).collect();
    let sum = body.iter().fold(0u64, |s, &b| s.wrapping_add(u64::from(b)));
    let mut s = server.connect();
    let mut wire =
        format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    wire.extend_from_slice(&body);
    let res = roundtrip(&mut s, &wire);
    assert_eq!(String::from_utf8(res.body).unwrap(), format!("3000000 {sum}"));
    // Chunked, on the same connection.
    let res = roundtrip(&mut s, &chunked_post("/up", &body, 100_000));
    assert_eq!(String::from_utf8(res.body).unwrap(), format!("3000000 {sum}"));
}

#[test]
fn a_reader_that_is_behind_holds_the_client_back_not_the_worker() {
    const SIZE: usize = 64 << 20;
    let (server, gate, high_water, _) = start(false);
    let mut s = server.connect();
    let written = Arc::new(AtomicUsize::new(0));
    let mut writer = s.try_clone().unwrap();
    let counter = written.clone();
    let sender = std::thread::spawn(move || {
        writer
            .write_all(format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {SIZE}\r\n\r\n").as_bytes())
            .unwrap();
        let mut piece = vec![0u8; 65536];
        let mut at = 0;
        while at < SIZE {
            for (k, b) in piece.iter_mut().enumerate() {
                *b = byte(at + k);
            }
            writer.write_all(&piece).unwrap();
            at += piece.len();
            counter.store(at, Ordering::SeqCst);
        }
    });
    // The client's writes stall: the server stopped reading (the reader
    // has read nothing), far short of the body.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (0, Instant::now());
    loop {
        let now = written.load(Ordering::SeqCst);
        if now != last.0 {
            last = (now, Instant::now());
        } else if last.1.elapsed() > Duration::from_millis(500) {
            break;
        }
        assert!(Instant::now() < deadline, "the client's writes never stalled");
        std::thread::sleep(Duration::from_millis(10));
    }
    let stalled_at = written.load(Ordering::SeqCst);
    assert!(stalled_at < SIZE / 2, "the server read on: {stalled_at} of {SIZE} bytes written");
    // Meanwhile the only worker serves other connections.
    for _ in 0..5 {
        assert_eq!(roundtrip(&mut server.connect(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").body, b"ok");
    }
    gate.store(true, Ordering::SeqCst);
    sender.join().unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    let sum = (0..SIZE).fold(0u64, |s, i| s.wrapping_add(u64::from(byte(i))));
    assert_eq!(String::from_utf8(res.body).unwrap(), format!("{SIZE} {sum}"));
    // What waited for the reader at once: its capacity and one read.
    let most = high_water.load(Ordering::SeqCst);
    assert!(most <= (64 << 10) + (16 << 10), "{most} bytes waited at once");
}

#[test]
fn a_reader_may_refuse_the_body() {
    let (server, _, _, _) = start(true);
    let mut s = server.connect();
    s.write_all(b"POST /refuse HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n14\r\n01234567890123456789\r\n")
        .unwrap();
    // More chunks follow: the refusal comes with the next.
    std::thread::sleep(Duration::from_millis(100));
    let _ = s.write_all(b"5\r\nmore!\r\n");
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 422);
    assert_eq!(res.header("connection"), Some("close"));
}

#[test]
fn a_client_gone_mid_body_aborts_the_reader() {
    let (server, _, _, aborted) = start(true);
    let mut s = server.connect();
    s.write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nhalf").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    drop(s);
    assert!(support::eventually(|| *aborted.lock().unwrap() == 1), "the reader was not told");
}

#[test]
fn a_reader_behind_for_longer_than_response_timeout_is_503() {
    let gate = Arc::new(AtomicBool::new(false));
    let app = App { gate, high_water: Arc::default(), aborted: Arc::default() };
    let config = Config::new().workers(1).response_timeout(Duration::from_millis(300));
    let server = TestServer::start(config, app);
    let mut s = server.connect();
    let body = vec![7u8; 4 << 20];
    let mut writer = s.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(
            format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n", body.len()).as_bytes(),
        );
        let _ = writer.write_all(&body);
    });
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 503);
    assert_eq!(res.header("connection"), Some("close"));
    drop(s);
    sender.join().unwrap();
}

/// A sink that takes a piece only every `every`: after each it says it
/// is not ready until then, and (with `wake`) a thread wakes the worker
/// at that time; records when it is dropped unanswered. With
/// `panic_on_ask`, the second ask panics.
struct Slow {
    every: Duration,
    ready_at: Instant,
    taken: usize,
    asked: usize,
    panic_on_ask: bool,
    wake: bool,
    dropped: Arc<AtomicBool>,
}

impl peregrine::BodySink for Slow {
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        self.taken += piece.len();
        self.ready_at = Instant::now() + self.every;
        Ok(())
    }

    fn poll_ready(&mut self, waker: &peregrine::BodyWaker) -> bool {
        self.asked += 1;
        if self.panic_on_ask && self.asked == 2 {
            panic!("poll_ready panics");
        }
        if Instant::now() >= self.ready_at {
            return true;
        }
        if self.wake {
            let (waker, at) = (waker.clone(), self.ready_at);
            std::thread::spawn(move || {
                std::thread::sleep(at.saturating_duration_since(Instant::now()));
                waker.wake();
            });
        }
        false
    }

    fn end(self: Box<Self>, _: &Request<'_>, res: &mut Response<'_>) {
        let _ = write!(res, "{}", self.taken);
    }
}

impl Drop for Slow {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

struct SlowApp {
    every: Duration,
    panic_on_ask: bool,
    wake: bool,
    dropped: Arc<AtomicBool>,
}

impl Handler for SlowApp {
    fn intake(&self, _: &Request<'_>) -> Intake {
        Intake::stream(Slow {
            every: self.every,
            ready_at: Instant::now(),
            taken: 0,
            asked: 0,
            panic_on_ask: self.panic_on_ask,
            wake: self.wake,
            dropped: self.dropped.clone(),
        })
    }

    fn handle(&self, _: &Request<'_>, _: &mut Response<'_>) {}
}

fn post_in_background(s: &std::net::TcpStream, len: usize) -> std::thread::JoinHandle<()> {
    let mut writer = s.try_clone().unwrap();
    std::thread::spawn(move || {
        let _ = writer
            .write_all(format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {len}\r\n\r\n").as_bytes());
        let _ = writer.write_all(&vec![1u8; len]);
    })
}

#[test]
fn a_slow_sink_whose_body_keeps_moving_outlasts_response_timeout() {
    // Paused after every read, woken 5 ms later: 64 reads take longer than
    // the response timeout, but the body never stops moving.
    let dropped = Arc::new(AtomicBool::new(false));
    let app = SlowApp { every: Duration::from_millis(5), panic_on_ask: false, wake: true, dropped };
    let config = Config::new().workers(1).response_timeout(Duration::from_millis(150));
    let server = TestServer::start(config, app);
    let mut s = server.connect();
    let started = Instant::now();
    let sender = post_in_background(&s, 512 << 10);
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!((res.status, res.body), (200, (512usize << 10).to_string().into_bytes()));
    assert!(
        started.elapsed() > Duration::from_millis(150),
        "too fast to show anything: {:?}",
        started.elapsed()
    );
    sender.join().unwrap();
}

#[test]
fn a_sink_panicking_when_asked_again_is_answered_500() {
    let dropped = Arc::new(AtomicBool::new(false));
    let app = SlowApp { every: Duration::from_millis(20), panic_on_ask: true, wake: true, dropped };
    let server = TestServer::start(Config::new().workers(1), app);
    let mut s = server.connect();
    let sender = post_in_background(&s, 1 << 20);
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 500);
    drop(s);
    sender.join().unwrap();
}

#[test]
fn a_client_gone_while_its_body_is_paused_is_let_go_at_once() {
    // Never woken, and a long response timeout: only noticing the reset
    // drops the sink.
    let dropped = Arc::new(AtomicBool::new(false));
    let app = SlowApp {
        every: Duration::from_secs(60),
        panic_on_ask: false,
        wake: false,
        dropped: dropped.clone(),
    };
    let server = TestServer::start(Config::new().workers(1).response_timeout(Duration::from_secs(60)), app);
    let s = server.connect();
    let mut writer = s.try_clone().unwrap();
    writer.write_all(b"POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n").unwrap();
    writer.write_all(&[1u8; 20_000]).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    assert!(!dropped.load(Ordering::SeqCst), "let go while the client was there");
    socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
    drop(writer);
    drop(s); // a reset
    assert!(support::eventually(|| dropped.load(Ordering::SeqCst)), "the paused connection was kept");
}
