//! Soak: keeps a server under steady keep-alive load while misbehaving
//! clients hit it, for a bounded time, then checks that no good request
//! failed, nothing leaked, and the server still answers and exits cleanly.
//!
//! A tool rather than an example of the API, kept with the examples so it
//! builds with them and can drive them. It only ever connects to loopback
//! addresses, and every loop ends with the run.
//!
//! ```sh
//! cargo build --release --examples
//! # 60 s against hello (GET and HEAD, some pipelined; "Hello, World!" checked):
//! target/release/examples/soak --mode hello -- target/release/examples/hello --port 0
//! # 60 s against echo (POST bodies of 0 B to 1 MiB, Content-Length or chunked;
//! # every echoed byte and the echoed Content-Type checked):
//! target/release/examples/soak --mode echo -- target/release/examples/echo --port 0
//! # the hello soak against nginx (`apt-get install nginx`): the tool writes a
//! # one-process config answering "Hello, World!", starts nginx on a free port
//! # and stops it with SIGQUIT. nginx closes the sockets of clients that reset
//! # only when its 75 s keepalive_timeout fires, hence the longer settle time:
//! target/release/examples/soak --mode hello --nginx --settle-secs 90
//! # then also 10 000 idle keep-alive connections, with the server's RSS:
//! target/release/examples/soak --mode hello --idle-conns 10000 -- target/release/examples/hello --port 0
//! # a server already running (its exit status is not checked then):
//! target/release/examples/soak --mode hello --addr 127.0.0.1:8080 --pid 12345
//! ```
//!
//! Flags: `--seconds N` (default 60); `--mode hello|echo` (default hello);
//! `--clients KIND,…` (default all: good, churn, half-close, slowloris,
//! reset, bad-head, never-read; fewer narrow a failure down); `--good N`
//! keep-alive load connections (default 8); `--churn-rate N` new
//! connections per second (default 200); `--idle-conns N` (default 0);
//! `--settle-secs N` (default 20); `--warmup-secs N` (default half the
//! run); `--rss-tolerance PCT` (default 5);
//! `--stop-signal TERM|INT|QUIT` (default TERM, QUIT for nginx); and the
//! server: `-- COMMAND ARGS…`, `--nginx`, or `--addr` with `--pid`. A
//! command's address is read from its `listening on http://ADDR` line (as
//! the examples print it), so give the examples `--port 0`.
//!
//! All at once, for the whole run:
//! - good load: `--good` keep-alive connections, a thread each, sending
//!   requests back to back and checking every response (status, framing,
//!   body byte for byte, echoed `Content-Type`);
//! - churn: a new connection per request, half with `Connection: close`;
//! - half-close: requests, then `shutdown(SHUT_WR)`; answers read to EOF;
//! - slowloris: 32 connections sending a few bytes every 250 ms, half of a
//!   head that never ends, half of a 1 MB body;
//! - resets: connections closed with RST at once, halfway through a
//!   request, or while a large response is coming;
//! - garbage and oversized heads (binary, bad version, no Host, smuggling,
//!   bad chunk size, 16 KiB header, 12 KiB target, 1 MiB of headers): an
//!   error status is expected;
//! - never-read: 8 connections sending requests until their socket is full,
//!   never reading, closed after 2–6 s (with RST, as answers are unread).
//!
//! Good, churn and half-close requests are the "good requests", whose
//! every failure counts; the abuse is tallied by outcome, for the record.
//!
//! The server's RSS (`/proc/PID/status`) and open descriptors
//! (`/proc/PID/fd`) are sampled every 250 ms. PASS/FAIL lines at the end:
//! - no good request failed (and some succeeded);
//! - descriptors back to the baseline: counted with the server idle after
//!   a first few requests (so whatever a server opens lazily, such as a
//!   signal pipe, is in it), and waited for up to `--settle-secs` after
//!   the clients stop (a server closes its end only once it sees the
//!   client's FIN or RST, or a timer fires). No slack: with every client
//!   gone, any extra descriptor is a leaked socket; the extra ones are
//!   listed with their TCP state;
//! - RSS at the end of the load, and after it, at most `--rss-tolerance` %
//!   above the RSS at the end of warm-up, plus 256 KiB for page rounding in
//!   a small process. Warm-up is the first half of the run (`--warmup-secs`
//!   to change it): buffer pools grow to the load's peak concurrency, and
//!   glibc's heap keeps growing in ever smaller steps for a minute or more
//!   under echo's randomly sized large responses (their buffers come from
//!   malloc; with `MALLOC_MMAP_THRESHOLD_=131072` in the environment, which
//!   maps every large buffer on its own, RSS is flat from the start). A
//!   leak keeps growing in the second half; that growth is what is checked.
//!   Samples every tenth of the run are printed, so the trend is visible;
//! - the server still answers (fresh and kept connections) afterwards;
//! - for a server the tool started: exit status 0 within 20 s of the stop
//!   signal.
//!
//! Exits 1 if any line is FAIL, 2 on bad usage or a server that never came up.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::ops::Range;
use std::process::{exit, Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

const HELLO: &[u8] = b"Hello, World!";
const ECHO_TYPE: &str = "application/x-soak";
/// The longest one client read or write may block. The server is on this
/// machine: an answer this late is a failure, not a slow network.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// The same for abuse connections, whose outcome is only tallied.
const ABUSE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the server may take to exit after the stop signal (the
/// examples' shutdown grace is 10 s).
const EXIT_WAIT: Duration = Duration::from_secs(20);
const SAMPLE_EVERY: Duration = Duration::from_millis(250);
const SLOWLORIS: usize = 32;
const NEVER_READ: usize = 8;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    Hello,
    Echo,
}

struct Opts {
    seconds: u64,
    mode: Mode,
    addr: Option<SocketAddr>,
    pid: Option<u32>,
    nginx: bool,
    stop_signal: Option<i32>,
    good: usize,
    churn_rate: u64,
    idle_conns: usize,
    /// How long the descriptors may take to come back after the clients stop.
    settle: Duration,
    /// Default: half the run.
    warmup: Option<Duration>,
    rss_tolerance: f64,
    /// Which client kinds run (all by default); for narrowing a failure down.
    clients: Vec<String>,
    server: Vec<String>,
}

const CLIENT_KINDS: [&str; 7] =
    ["good", "churn", "half-close", "slowloris", "reset", "bad-head", "never-read"];

fn usage(code: i32) -> ! {
    eprintln!(
        "usage: soak [--seconds N] [--mode hello|echo] [--clients KIND,…] [--good N]\n\
         \x20           [--churn-rate N] [--idle-conns N] [--settle-secs N] [--warmup-secs N]\n\
         \x20           [--rss-tolerance PCT] [--stop-signal TERM|INT|QUIT]\n\
         \x20           (-- SERVER ARGS… | --nginx | --addr 127.0.0.1:PORT --pid PID)"
    );
    exit(code)
}

fn parse_opts() -> Opts {
    let mut o = Opts {
        seconds: 60,
        mode: Mode::Hello,
        addr: None,
        pid: None,
        nginx: false,
        stop_signal: None,
        good: 8,
        churn_rate: 200,
        idle_conns: 0,
        settle: Duration::from_secs(20),
        warmup: None,
        rss_tolerance: 5.0,
        clients: CLIENT_KINDS.iter().map(|k| k.to_string()).collect(),
        server: Vec::new(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "--" {
            o.server = args.by_ref().collect();
            break;
        }
        if flag == "-h" || flag == "--help" {
            usage(0);
        }
        if flag == "--nginx" {
            o.nginx = true;
            continue;
        }
        let Some(value) = args.next() else {
            eprintln!("error: {flag} needs a value");
            usage(2)
        };
        fn num<T: std::str::FromStr>(flag: &str, v: &str) -> T {
            v.parse().unwrap_or_else(|_| {
                eprintln!("error: {flag} cannot take {v:?}");
                usage(2)
            })
        }
        match flag.as_str() {
            "--seconds" => o.seconds = num(&flag, &value),
            "--good" => o.good = num(&flag, &value),
            "--churn-rate" => o.churn_rate = num(&flag, &value),
            "--idle-conns" => o.idle_conns = num(&flag, &value),
            "--settle-secs" => o.settle = Duration::from_secs(num(&flag, &value)),
            "--warmup-secs" => o.warmup = Some(Duration::from_secs(num(&flag, &value))),
            "--rss-tolerance" => o.rss_tolerance = num(&flag, &value),
            "--pid" => o.pid = Some(num(&flag, &value)),
            "--clients" => {
                o.clients = value.split(',').map(str::to_string).collect();
                if let Some(bad) = o.clients.iter().find(|c| !CLIENT_KINDS.contains(&c.as_str())) {
                    eprintln!("error: unknown client kind {bad:?}; kinds: {}", CLIENT_KINDS.join(","));
                    usage(2)
                }
            }
            "--addr" => o.addr = Some(num(&flag, &value)),
            "--mode" => {
                o.mode = match value.as_str() {
                    "hello" => Mode::Hello,
                    "echo" => Mode::Echo,
                    _ => usage(2),
                }
            }
            "--stop-signal" => {
                o.stop_signal = Some(match value.trim_start_matches("SIG") {
                    "TERM" => libc::SIGTERM,
                    "INT" => libc::SIGINT,
                    "QUIT" => libc::SIGQUIT,
                    _ => usage(2),
                })
            }
            _ => {
                eprintln!("error: unknown flag {flag}");
                usage(2)
            }
        }
    }
    let sources = usize::from(!o.server.is_empty()) + usize::from(o.nginx) + usize::from(o.pid.is_some());
    if sources != 1 || o.seconds == 0 || o.good == 0 {
        usage(2);
    }
    if o.pid.is_some() && o.addr.is_none() {
        eprintln!("error: --pid needs --addr");
        usage(2);
    }
    if o.nginx && o.mode == Mode::Echo {
        eprintln!("error: nginx cannot echo bodies by itself; use --mode hello with --nginx");
        exit(2);
    }
    if let Some(addr) = o.addr {
        // A soak is a flood: it may only ever go to this machine.
        if !addr.ip().is_loopback() {
            eprintln!("error: --addr must be a loopback address, not {addr}");
            exit(2);
        }
    }
    o
}

// ---------------------------------------------------------------------------
// Counters

#[derive(Default)]
struct Refusals {
    conns: AtomicU64,
    /// Answered with a 4xx or 5xx, as a malformed request should be.
    refused: AtomicU64,
    /// Answered with a 2xx (legal for some "oversized" inputs a server
    /// chooses to accept).
    accepted: AtomicU64,
    /// Closed or reset without an answer.
    unanswered: AtomicU64,
}

impl Refusals {
    fn note(&self, status: Option<u16>) {
        let counter = match status {
            Some(s) if s >= 400 => &self.refused,
            Some(_) => &self.accepted,
            None => &self.unanswered,
        };
        counter.fetch_add(1, Relaxed);
    }

    fn line(&self) -> String {
        format!(
            "{} conns: {} answered 4xx/5xx, {} answered 2xx, {} closed unanswered",
            self.conns.load(Relaxed),
            self.refused.load(Relaxed),
            self.accepted.load(Relaxed),
            self.unanswered.load(Relaxed)
        )
    }
}

#[derive(Default)]
struct Stats {
    ka_ok: AtomicU64,
    ka_failed: AtomicU64,
    churn_ok: AtomicU64,
    churn_failed: AtomicU64,
    half_ok: AtomicU64,
    half_failed: AtomicU64,
    slowloris: AtomicU64,
    /// Slowloris connections the server ended (408 or close) first.
    slowloris_ended: AtomicU64,
    resets: AtomicU64,
    garbage: Refusals,
    oversized: Refusals,
    never_read: AtomicU64,
    abuse_connect_errors: AtomicU64,
    /// Slowest keep-alive exchange (request written to last answer read),
    /// in µs, and how many took over 100 ms and over 1 s: not checked (a
    /// shared machine has hiccups), shown so a stall under abuse is visible.
    slowest_us: AtomicU64,
    over_100ms: AtomicU64,
    over_1s: AtomicU64,
    /// The first few failures of good requests, with their reason.
    failures: Mutex<Vec<String>>,
}

impl Stats {
    fn fail(&self, counter: &AtomicU64, n: u64, what: &str, why: &str) {
        counter.fetch_add(n, Relaxed);
        let mut f = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if f.len() < 20 {
            f.push(format!("{what}: {why}"));
        }
    }

    fn good(&self) -> (u64, u64) {
        let ok = self.ka_ok.load(Relaxed) + self.churn_ok.load(Relaxed) + self.half_ok.load(Relaxed);
        let failed =
            self.ka_failed.load(Relaxed) + self.churn_failed.load(Relaxed) + self.half_failed.load(Relaxed);
        (ok, failed)
    }
}

// ---------------------------------------------------------------------------
// A small HTTP/1.1 client

/// xorshift64*: cheap, deterministic per thread, good enough for choosing
/// request shapes and body bytes.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `len` pseudo-random bytes from `seed`, into `out`.
fn fill_body(out: &mut Vec<u8>, len: usize, seed: u64) {
    out.clear();
    let mut rng = Rng::new(seed);
    while out.len() < len {
        let word = rng.next().to_le_bytes();
        let take = (len - out.len()).min(8);
        out.extend_from_slice(&word[..take]);
    }
}

struct Resp {
    status: u16,
    close: bool,
    content_type: Option<String>,
    body: Range<usize>,
}

/// A connection with its read buffer; responses are parsed out of it.
struct Client {
    s: TcpStream,
    buf: Vec<u8>,
    lo: usize,
    hi: usize,
}

impl Client {
    fn connect(addr: SocketAddr, timeout: Duration) -> io::Result<Client> {
        let s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.set_nodelay(true)?;
        Ok(Client { s, buf: vec![0; 16 * 1024], lo: 0, hi: 0 })
    }

    fn send(&mut self, bytes: &[u8]) -> Result<(), String> {
        self.s.write_all(bytes).map_err(|e| format!("write: {e}"))
    }

    /// Reads more bytes; EOF is an error (a response was still expected).
    fn fill(&mut self) -> Result<(), String> {
        match self.read_more() {
            Ok(0) => Err(format!("connection closed with {} bytes of a response", self.hi - self.lo)),
            Ok(_) => Ok(()),
            Err(e) => Err(format!("read: {e}")),
        }
    }

    /// Reads once into the buffer, growing it if it is full; 0 at EOF.
    fn read_more(&mut self) -> io::Result<usize> {
        if self.lo == self.hi {
            (self.lo, self.hi) = (0, 0);
        }
        if self.hi == self.buf.len() {
            if self.lo > 0 {
                self.buf.copy_within(self.lo..self.hi, 0);
                (self.lo, self.hi) = (0, self.hi - self.lo);
            } else {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        let n = self.s.read(&mut self.buf[self.hi..])?;
        self.hi += n;
        Ok(n)
    }

    /// Reads one final response (skipping 1xx). Its body is
    /// `self.body(&resp)` until the next call.
    fn response(&mut self, head_only: bool) -> Result<Resp, String> {
        loop {
            let resp = self.response_or_interim(head_only)?;
            if !(100..200).contains(&resp.status) {
                return Ok(resp);
            }
        }
    }

    fn response_or_interim(&mut self, head_only: bool) -> Result<Resp, String> {
        let head_len = loop {
            if let Some(i) = find(&self.buf[self.lo..self.hi], b"\r\n\r\n") {
                break i + 4;
            }
            if self.hi - self.lo > 64 * 1024 {
                return Err("response head over 64 KiB".into());
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.buf[self.lo..self.lo + head_len])
            .map_err(|_| "response head is not UTF-8".to_string())?;
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or_default();
        let status = status_line
            .strip_prefix("HTTP/1.1 ")
            .or_else(|| status_line.strip_prefix("HTTP/1.0 "))
            .and_then(|rest| rest.get(..3))
            .and_then(|code| code.parse::<u16>().ok())
            .ok_or_else(|| format!("bad status line {status_line:?}"))?;
        let (mut length, mut close, mut chunked, mut content_type) = (None, false, false, None);
        for line in lines.filter(|l| !l.is_empty()) {
            let (name, value) = line.split_once(':').ok_or_else(|| format!("bad header line {line:?}"))?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-length") {
                length = Some(value.parse::<usize>().map_err(|_| format!("bad Content-Length {value:?}"))?);
            } else if name.eq_ignore_ascii_case("connection") {
                close |= value.eq_ignore_ascii_case("close");
            } else if name.eq_ignore_ascii_case("transfer-encoding") {
                chunked = true;
            } else if name.eq_ignore_ascii_case("content-type") {
                content_type = Some(value.to_string());
            }
        }
        self.lo += head_len;
        let bodiless = head_only || status < 200 || status == 204 || status == 304;
        if chunked && !bodiless {
            return Err("chunked response (this client does not decode them)".into());
        }
        let len = match length {
            _ if bodiless => 0,
            Some(len) => len,
            None if close => {
                // Delimited by the end of the connection.
                while self.read_more().map_err(|e| format!("read: {e}"))? > 0 {}
                self.hi - self.lo
            }
            None => return Err(format!("status {status} without Content-Length on a kept connection")),
        };
        while self.hi - self.lo < len {
            self.fill()?;
        }
        let body = self.lo..self.lo + len;
        self.lo += len;
        Ok(Resp { status, close, content_type, body })
    }

    fn body(&self, resp: &Resp) -> &[u8] {
        &self.buf[resp.body.clone()]
    }

    /// Whether the server closes the connection next (EOF, or a reset),
    /// with nothing more sent.
    fn expect_eof(&mut self) -> Result<(), String> {
        if self.lo != self.hi {
            return Err(format!("{} unexpected bytes after the response", self.hi - self.lo));
        }
        match self.s.read(&mut [0u8; 1]) {
            Ok(0) => Ok(()),
            Ok(_) => Err("bytes after the last response".into()),
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(()),
            Err(e) => Err(format!("waiting for the server to close: {e}")),
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Reads until the status line's code is in (or EOF, reset, timeout) and
/// returns it. No further: waiting for the server's close would tie the
/// abuse rate to how long each server lingers.
fn answer_status(s: &mut TcpStream) -> Option<u16> {
    let mut got = Vec::new();
    let mut chunk = [0u8; 4096];
    while got.len() < 12 {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&chunk[..n]),
        }
    }
    let text = std::str::from_utf8(got.get(..12)?).ok()?;
    text.strip_prefix("HTTP/1.")?.get(2..5)?.parse().ok()
}

/// Closes `s` with a reset rather than a FIN: SO_LINGER with a zero time.
fn reset(s: TcpStream) {
    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
    drop(s);
}

// ---------------------------------------------------------------------------
// Good requests

/// One good request (or a pipelined few) built into `req`; `body` is what
/// an echo must send back, `heads` which requests were HEAD.
struct Exchange {
    req: Vec<u8>,
    body: Vec<u8>,
    /// HEAD per response, in order.
    heads: Vec<bool>,
}

impl Exchange {
    fn new() -> Self {
        Exchange { req: Vec::with_capacity(64 * 1024), body: Vec::new(), heads: Vec::new() }
    }

    /// `close`: ask the server to close after the (last) response.
    fn build(&mut self, mode: Mode, rng: &mut Rng, pipeline_ok: bool, close: bool) {
        self.req.clear();
        self.heads.clear();
        let conn = if close { "Connection: close\r\n" } else { "" };
        match mode {
            Mode::Hello => {
                let n = if pipeline_ok && rng.below(4) == 0 { 1 + rng.below(4) as usize } else { 1 };
                for i in 0..n {
                    let head = rng.below(8) == 0;
                    let method = if head { "HEAD" } else { "GET" };
                    let last_conn = if i + 1 == n { conn } else { "" };
                    self.req.extend_from_slice(
                        format!("{method} /plaintext HTTP/1.1\r\nHost: 127.0.0.1\r\n{last_conn}\r\n")
                            .as_bytes(),
                    );
                    self.heads.push(head);
                }
            }
            Mode::Echo => {
                let len = match rng.below(20) {
                    0 => 0,
                    1..=6 => rng.below(1000) as usize,
                    7..=12 => rng.below(16 * 1024) as usize,
                    13..=17 => rng.below(256 * 1024) as usize,
                    _ => rng.below(1 << 20) as usize + 1,
                };
                let seed = rng.next();
                fill_body(&mut self.body, len, seed);
                let chunked = rng.below(3) == 0;
                let framing = if chunked {
                    "Transfer-Encoding: chunked".to_string()
                } else {
                    format!("Content-Length: {len}")
                };
                let head = format!("POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: {ECHO_TYPE}\r\n");
                self.req.extend_from_slice(head.as_bytes());
                self.req.extend_from_slice(format!("{framing}\r\n{conn}\r\n").as_bytes());
                if chunked {
                    let mut at = 0;
                    while at < len {
                        let n = (1 + rng.below(64 * 1024) as usize).min(len - at);
                        self.req.extend_from_slice(format!("{n:x}\r\n").as_bytes());
                        self.req.extend_from_slice(&self.body[at..at + n]);
                        self.req.extend_from_slice(b"\r\n");
                        at += n;
                    }
                    self.req.extend_from_slice(b"0\r\n\r\n");
                } else {
                    self.req.extend_from_slice(&self.body);
                }
                self.heads.push(false);
            }
        }
    }

    /// One GET, or for echo one POST of `HELLO`.
    fn build_small(&mut self, mode: Mode) {
        self.req.clear();
        self.heads.clear();
        self.heads.push(false);
        match mode {
            Mode::Hello => self.req.extend_from_slice(b"GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n"),
            Mode::Echo => {
                self.body.clear();
                self.body.extend_from_slice(HELLO);
                let head = format!("POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: {ECHO_TYPE}\r\n");
                self.req.extend_from_slice(head.as_bytes());
                self.req.extend_from_slice(format!("Content-Length: {}\r\n\r\n", HELLO.len()).as_bytes());
                self.req.extend_from_slice(HELLO);
            }
        }
    }

    /// Reads and checks every response; returns how many were right and
    /// whether the server said it closes, or the first error with the
    /// count of responses right before it.
    fn check(&self, mode: Mode, c: &mut Client) -> Result<(u64, bool), (u64, String)> {
        let mut ok = 0;
        for (i, &head) in self.heads.iter().enumerate() {
            let resp = c.response(head).map_err(|e| (ok, e))?;
            let ok_so_far = ok;
            let bad = |why: String| Err((ok_so_far, why));
            if resp.status != 200 {
                return bad(format!("status {}", resp.status));
            }
            match mode {
                Mode::Hello if !head && c.body(&resp) != HELLO => {
                    return bad(format!("body {:?}", String::from_utf8_lossy(c.body(&resp))));
                }
                Mode::Echo if c.body(&resp) != self.body.as_slice() => {
                    let got = c.body(&resp);
                    let at = got
                        .iter()
                        .zip(&self.body)
                        .position(|(a, b)| a != b)
                        .unwrap_or(got.len().min(self.body.len()));
                    return bad(format!(
                        "echoed body differs: {} bytes back for {} sent, first difference at {at}",
                        got.len(),
                        self.body.len()
                    ));
                }
                Mode::Echo if resp.content_type.as_deref() != Some(ECHO_TYPE) => {
                    return bad(format!("Content-Type {:?}", resp.content_type));
                }
                _ => {}
            }
            ok += 1;
            if resp.close {
                let rest = self.heads.len() - i - 1;
                if rest > 0 {
                    return bad(format!("Connection: close with {rest} pipelined requests unanswered"));
                }
                return Ok((ok, true));
            }
        }
        Ok((ok, false))
    }
}

/// Keep-alive load: one connection, requests back to back, until `end`.
fn keep_alive_load(addr: SocketAddr, mode: Mode, seed: u64, end: Instant, stats: &Stats) {
    let mut rng = Rng::new(seed);
    let mut ex = Exchange::new();
    let mut conn: Option<Client> = None;
    while Instant::now() < end {
        let c = match &mut conn {
            Some(c) => c,
            None => match Client::connect(addr, IO_TIMEOUT) {
                Ok(c) => conn.insert(c),
                Err(e) => {
                    stats.fail(&stats.ka_failed, 1, "keep-alive connect", &e.to_string());
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        ex.build(mode, &mut rng, true, false);
        let sent = Instant::now();
        if let Err(e) = c.send(&ex.req) {
            stats.fail(&stats.ka_failed, ex.heads.len() as u64, "keep-alive request", &e);
            conn = None;
            continue;
        }
        let checked = ex.check(mode, c);
        let took = sent.elapsed();
        stats.slowest_us.fetch_max(took.as_micros() as u64, Relaxed);
        if took > Duration::from_millis(100) {
            stats.over_100ms.fetch_add(1, Relaxed);
        }
        if took > Duration::from_secs(1) {
            stats.over_1s.fetch_add(1, Relaxed);
        }
        match checked {
            Ok((n, closes)) => {
                stats.ka_ok.fetch_add(n, Relaxed);
                if closes {
                    conn = None;
                }
            }
            Err((n, e)) => {
                stats.ka_ok.fetch_add(n, Relaxed);
                stats.fail(&stats.ka_failed, ex.heads.len() as u64 - n, "keep-alive response", &e);
                conn = None;
            }
        }
    }
}

/// Connection churn: a new connection per request, at about `rate` per
/// second (bounded so client-side TIME_WAIT sockets cannot use up the
/// ephemeral ports). Half ask the server to close, half close themselves.
fn churn(addr: SocketAddr, mode: Mode, rate: u64, end: Instant, stats: &Stats) {
    let mut rng = Rng::new(0xC4);
    let mut ex = Exchange::new();
    let gap = Duration::from_secs(1) / rate.max(1) as u32;
    let mut next = Instant::now();
    while Instant::now() < end {
        next += gap;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let server_closes = rng.below(2) == 0;
        ex.build(mode, &mut rng, false, server_closes);
        let result =
            Client::connect(addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}")).and_then(|mut c| {
                c.send(&ex.req)?;
                let (_, closes) = ex.check(mode, &mut c).map_err(|(_, e)| e)?;
                if server_closes {
                    if !closes {
                        return Err(
                            "no Connection: close in the answer to a Connection: close request".into()
                        );
                    }
                    c.expect_eof()?;
                }
                Ok(())
            });
        match result {
            Ok(()) => _ = stats.churn_ok.fetch_add(1, Relaxed),
            Err(e) => stats.fail(&stats.churn_failed, 1, "churn", &e),
        }
    }
}

/// Half-close: one or a few requests, then `shutdown(SHUT_WR)`; every
/// answer must come, then EOF.
fn half_close(addr: SocketAddr, mode: Mode, end: Instant, stats: &Stats) {
    let mut rng = Rng::new(0x4A1F);
    let mut ex = Exchange::new();
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
        ex.build(mode, &mut rng, true, false);
        let n = ex.heads.len() as u64;
        let result =
            Client::connect(addr, IO_TIMEOUT).map_err(|e| (0, format!("connect: {e}"))).and_then(|mut c| {
                c.send(&ex.req).map_err(|e| (0, e))?;
                c.s.shutdown(Shutdown::Write).map_err(|e| (0, format!("shutdown: {e}")))?;
                let (ok, _) = ex.check(mode, &mut c)?;
                c.expect_eof().map_err(|e| (ok, e))?;
                Ok(ok)
            });
        match result {
            Ok(ok) => _ = stats.half_ok.fetch_add(ok, Relaxed),
            Err((ok, e)) => {
                stats.half_ok.fetch_add(ok, Relaxed);
                stats.fail(&stats.half_failed, n - ok, "half-close", &e);
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Abuse

fn abuse_connect(addr: SocketAddr, stats: &Stats) -> Option<TcpStream> {
    match TcpStream::connect_timeout(&addr, ABUSE_TIMEOUT) {
        Ok(s) => {
            let _ = s.set_read_timeout(Some(ABUSE_TIMEOUT));
            let _ = s.set_write_timeout(Some(ABUSE_TIMEOUT));
            Some(s)
        }
        Err(_) => {
            stats.abuse_connect_errors.fetch_add(1, Relaxed);
            std::thread::sleep(Duration::from_millis(50));
            None
        }
    }
}

/// Slowloris: `SLOWLORIS` connections each sending a few bytes every
/// 250 ms: half a head that never ends (the server's request timeout
/// should answer 408 and close), half a body far longer than they send.
fn slowloris(addr: SocketAddr, end: Instant, stats: &Stats) {
    let mut slots: Vec<Option<(TcpStream, bool)>> = (0..SLOWLORIS).map(|_| None).collect();
    while Instant::now() < end {
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                let Some(mut s) = abuse_connect(addr, stats) else { continue };
                stats.slowloris.fetch_add(1, Relaxed);
                let body = i % 2 == 1;
                // The body is never complete, so even hello (405 for a POST)
                // has to hold the connection while it trickles in.
                let start: &[u8] = if body {
                    b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"
                } else {
                    b"GET /slow HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                };
                if s.write_all(start).is_err() || s.set_nonblocking(true).is_err() {
                    continue;
                }
                *slot = Some((s, body));
            }
            let Some((s, body)) = slot else { continue };
            let piece: &[u8] = if *body { b"0123456789" } else { b"X-Slow: 1\r\n" };
            let mut probe = [0u8; 256];
            let ended = match s.read(&mut probe) {
                Ok(_) => true, // an answer (408) or EOF: the server ended it
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    matches!(s.write(piece), Err(e) if e.kind() != io::ErrorKind::WouldBlock)
                }
                Err(_) => true,
            };
            if ended {
                stats.slowloris_ended.fetch_add(1, Relaxed);
                *slot = None;
            }
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Resets: connections closed with RST before a request, halfway through
/// one, or while a large response is coming.
fn resets(addr: SocketAddr, mode: Mode, end: Instant, stats: &Stats) {
    let mut rng = Rng::new(0x5E7);
    let mut big = Vec::new();
    // Requests whose answers are large: many pipelined GETs, or a 1 MiB echo.
    match mode {
        Mode::Hello => {
            for _ in 0..500 {
                big.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            }
        }
        Mode::Echo => {
            big.extend_from_slice(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1048576\r\n\r\n");
            big.resize(big.len() + (1 << 20), b'r');
        }
    }
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
        let Some(mut s) = abuse_connect(addr, stats) else { continue };
        stats.resets.fetch_add(1, Relaxed);
        match rng.below(3) {
            0 => {}
            1 => {
                let cut = 1 + rng.below(big.len() as u64 - 1) as usize;
                let _ = s.write_all(&big[..cut]);
            }
            _ => {
                if s.write_all(&big).is_ok() {
                    let mut some = vec![0u8; 1 + rng.below(32 * 1024) as usize];
                    let _ = s.read(&mut some);
                }
            }
        }
        reset(s);
    }
}

/// Garbage and oversized heads: each on a new connection; the answer's
/// status is tallied (a 4xx or 5xx is expected), then the client closes.
fn bad_heads(addr: SocketAddr, end: Instant, stats: &Stats) {
    let mut rng = Rng::new(0xBAD);
    let garbage: Vec<Vec<u8>> = vec![
        b"\x00\x01\x02\xff\xfe garbage\r\n\r\n".to_vec(),
        b"GET / HTTP/7.0\r\nHost: x\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\n\r\n".to_vec(), // no Host
        b"GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n".to_vec(),
        b"G@T / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
            .to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n".to_vec(),
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999\r\n\r\n".to_vec(),
        b"GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n".to_vec(),
    ];
    let mut oversized: Vec<Vec<u8>> = Vec::new();
    let mut long_header = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: ".to_vec();
    long_header.resize(long_header.len() + 16 * 1024, b'h');
    long_header.extend_from_slice(b"\r\n\r\n");
    oversized.push(long_header);
    let mut long_target = b"GET /".to_vec();
    long_target.resize(long_target.len() + 12 * 1024, b't');
    long_target.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    oversized.push(long_target);
    let mut endless = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    while endless.len() < 1 << 20 {
        endless.extend_from_slice(b"X-Endless-Header-Line: 0123456789abcdef\r\n");
    }
    oversized.push(endless);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_millis(10));
        let Some(mut s) = abuse_connect(addr, stats) else { continue };
        let kind = rng.below(garbage.len() as u64 + oversized.len() as u64) as usize;
        let (payload, tally) = match garbage.get(kind) {
            Some(p) => (p, &stats.garbage),
            None => (&oversized[kind - garbage.len()], &stats.oversized),
        };
        tally.conns.fetch_add(1, Relaxed);
        // The server may answer and close before all of a large payload is
        // in; what matters is the answer, read below.
        let _ = s.write_all(payload);
        tally.note(answer_status(&mut s));
    }
}

/// Never-read: `NEVER_READ` connections that send requests until their
/// socket is full, never read an answer, and after 2–6 s close (a reset,
/// since answers are unread). The server must neither stall nor hoard them.
fn never_read(addr: SocketAddr, mode: Mode, end: Instant, stats: &Stats) {
    let mut rng = Rng::new(0x2EAD);
    let mut chunk = Vec::new();
    match mode {
        Mode::Hello => {
            for _ in 0..256 {
                chunk.extend_from_slice(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
            }
        }
        Mode::Echo => {
            chunk.extend_from_slice(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 262144\r\n\r\n");
            chunk.resize(chunk.len() + 256 * 1024, b'n');
        }
    }
    let mut slots: Vec<Option<(TcpStream, Instant)>> = (0..NEVER_READ).map(|_| None).collect();
    while Instant::now() < end {
        let now = Instant::now();
        for slot in slots.iter_mut() {
            if slot.as_ref().is_some_and(|(_, until)| now >= *until) {
                *slot = None; // dropped: closed with answers unread
            }
            if slot.is_some() {
                continue;
            }
            let Some(mut s) = abuse_connect(addr, stats) else { continue };
            stats.never_read.fetch_add(1, Relaxed);
            if s.set_nonblocking(true).is_err() {
                continue;
            }
            // Whole requests, until the socket takes no more (bounded:
            // 16 MiB). A partial write resumes where it stopped: these
            // clients are slow readers, not senders of garbage.
            let (mut sent, mut at) = (0, 0);
            while sent < 16 << 20 {
                match s.write(&chunk[at..]) {
                    Ok(n) => (sent, at) = (sent + n, (at + n) % chunk.len()),
                    Err(_) => break,
                }
            }
            let hold = Duration::from_millis(2000 + rng.below(4000));
            *slot = Some((s, now + hold));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---------------------------------------------------------------------------
// The server process

struct Server {
    addr: SocketAddr,
    pid: u32,
    /// Started by this tool: stopped and its exit status checked at the end.
    child: Option<Child>,
    describe: String,
    stop_signal: i32,
    /// nginx's temporary directory, removed at the end.
    temp_dir: Option<std::path::PathBuf>,
}

/// Raises this process's soft descriptor limit to the hard one. A server
/// this tool starts inherits it, so both sides can hold `--idle-conns`.
fn raise_nofile() -> libc::rlim_t {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024;
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit; raising the soft limit up to the hard
    // one is always permitted and changes nothing else.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        eprintln!("warning: could not raise RLIMIT_NOFILE: {}", io::Error::last_os_error());
    }
    lim.rlim_cur
}

fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0 to find a free port");
    l.local_addr().unwrap().port()
}

fn nginx_command(nofile: libc::rlim_t) -> (Command, SocketAddr, std::path::PathBuf) {
    let bin = ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .unwrap_or("nginx");
    let dir = std::env::temp_dir().join(format!("peregrine-soak-nginx-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("create nginx's temporary directory");
    let addr: SocketAddr = ([127, 0, 0, 1], free_port()).into();
    let d = dir.display();
    // One process (no master), one worker loop: its RSS and descriptors are
    // the whole server's, like the example's. Keep-alive requests unlimited,
    // as peregrine's are, so pipelines are never cut short.
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile {nofile};\n\
         pid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections {conns}; }}\n\
         http {{\n  access_log off;\n  keepalive_requests 1000000000;\n\
         \x20 client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         \x20 server {{\n    listen {addr};\n\
         \x20   location / {{ default_type text/plain; return 200 \"Hello, World!\"; }}\n  }}\n}}\n",
        conns = nofile.saturating_sub(64).max(1024),
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).expect("write nginx.conf");
    let mut cmd = Command::new(bin);
    cmd.arg("-p").arg(&dir).arg("-e").arg(dir.join("error.log")).arg("-c").arg(&path);
    (cmd, addr, dir)
}

fn start_server(o: &Opts, nofile: libc::rlim_t) -> Server {
    if let Some(pid) = o.pid {
        let addr = o.addr.expect("checked in parse_opts");
        return Server {
            addr,
            pid,
            child: None,
            describe: format!("pid {pid} (attached)"),
            stop_signal: 0,
            temp_dir: None,
        };
    }
    let (mut cmd, known_addr, temp_dir, describe, default_signal) = if o.nginx {
        let (cmd, addr, dir) = nginx_command(nofile);
        (cmd, Some(addr), Some(dir), "nginx (one process)".to_string(), libc::SIGQUIT)
    } else {
        let mut cmd = Command::new(&o.server[0]);
        cmd.args(&o.server[1..]);
        (cmd, o.addr, None, o.server.join(" "), libc::SIGTERM)
    };
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).spawn().unwrap_or_else(|e| {
        eprintln!("error: cannot start {describe}: {e}");
        exit(2)
    });
    // Read its output on a thread (forever, so it never blocks on a full
    // pipe), passing the listening address on.
    let out = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if let Some(at) = line.find("listening on http://") {
                let _ = tx.send(line[at + 20..].trim().trim_end_matches('/').to_string());
            }
        }
    });
    let addr = match known_addr {
        Some(a) => a,
        None => match rx.recv_timeout(Duration::from_secs(30)).ok().and_then(|a| a.parse().ok()) {
            Some(a) => a,
            None => {
                let _ = child.kill();
                eprintln!("error: {describe} printed no `listening on http://ADDR` line (give it --port 0)");
                exit(2)
            }
        },
    };
    if !addr.ip().is_loopback() {
        let _ = child.kill();
        eprintln!("error: the server listens on {addr}; the soak only targets loopback addresses");
        exit(2);
    }
    Server {
        addr,
        pid: child.id(),
        child: Some(child),
        describe,
        stop_signal: o.stop_signal.unwrap_or(default_signal),
        temp_dir,
    }
}

impl Server {
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    fn fds(&self) -> Option<usize> {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid)).ok().map(|d| d.count())
    }

    /// Each open descriptor and what it refers to (`socket:[…]`, a path).
    fn fd_list(&self) -> Vec<(String, String)> {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{}/fd", self.pid)) else { return Vec::new() };
        let mut list: Vec<(String, String)> = dir
            .filter_map(Result::ok)
            .map(|e| {
                let target = std::fs::read_link(e.path()).map_or("?".into(), |t| t.display().to_string());
                (e.file_name().to_string_lossy().into_owned(), target)
            })
            .collect();
        list.sort_by_key(|(fd, _)| fd.parse::<u32>().unwrap_or(u32::MAX));
        list
    }

    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Sends the stop signal and waits (bounded) for the exit status.
    fn stop(&mut self) -> Result<(ExitStatus, Duration), String> {
        let Some(child) = &mut self.child else { return Err("attached: not stopped by the soak".into()) };
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("had already exited: {status}"));
        }
        let pid = child.id() as libc::pid_t;
        // SAFETY: kill(2) touches no memory of ours. `pid` is our child and
        // has not been reaped: try_wait just found it running, and nothing
        // else can wait for it meanwhile (this holds `&mut self`), so the id
        // cannot have been reused by another process.
        if unsafe { libc::kill(pid, self.stop_signal) } != 0 {
            return Err(format!("kill: {}", io::Error::last_os_error()));
        }
        let sent = Instant::now();
        while sent.elapsed() < EXIT_WAIT {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok((status, sent.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("did not exit within {EXIT_WAIT:?} of the signal; killed"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            if let Ok(None) = child.try_wait() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if let Some(dir) = &self.temp_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Good requests, alternately on a fresh connection and on the one kept
/// from before, until the first failure; returns how many were answered
/// right, how many were to be sent, and the failure.
fn still_answers(addr: SocketAddr, mode: Mode, n: usize) -> (usize, usize, Option<String>) {
    let mut rng = Rng::new(0xA5);
    let mut ex = Exchange::new();
    let mut kept: Option<Client> = None;
    for i in 0..n {
        ex.build(mode, &mut rng, false, false);
        let fresh = i % 2 == 0;
        let result = (|| {
            let c = match (&mut kept, fresh) {
                (Some(c), false) => c,
                _ => kept.insert(Client::connect(addr, IO_TIMEOUT).map_err(|e| format!("connect: {e}"))?),
            };
            c.send(&ex.req)?;
            ex.check(mode, c).map_err(|(_, e)| e)?;
            Ok::<_, String>(())
        })();
        if let Err(e) = result {
            return (i, n, Some(e));
        }
    }
    (n, n, None)
}

/// For a `socket:[INODE]` that is a TCP socket: " (STATE, send queue N,
/// receive queue N)" from /proc/net/tcp, to tell a leak from a slow close.
fn tcp_state(target: &str) -> String {
    const STATES: [&str; 12] = [
        "?",
        "ESTABLISHED",
        "SYN_SENT",
        "SYN_RECV",
        "FIN_WAIT1",
        "FIN_WAIT2",
        "TIME_WAIT",
        "CLOSE",
        "CLOSE_WAIT",
        "LAST_ACK",
        "LISTEN",
        "CLOSING",
    ];
    let Some(inode) = target.strip_prefix("socket:[").and_then(|t| t.strip_suffix(']')) else {
        return String::new();
    };
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            if cols.get(9) == Some(&inode) {
                let state =
                    usize::from_str_radix(cols[3], 16).ok().and_then(|i| STATES.get(i)).unwrap_or(&"?");
                let (tx, rx) = cols[4].split_once(':').unwrap_or(("?", "?"));
                let queue = |hex: &str| u64::from_str_radix(hex, 16).map_or("?".into(), |n| n.to_string());
                return format!(" ({state}, send queue {}, receive queue {})", queue(tx), queue(rx));
            }
        }
    }
    String::new()
}

/// Polls the server's descriptor count until it is `want` or `settle`
/// passes; returns the last count and how long it took.
fn settle_fds(server: &Server, want: usize, settle: Duration) -> (Option<usize>, Duration) {
    let start = Instant::now();
    loop {
        let fds = server.fds();
        if fds == Some(want) || start.elapsed() >= settle {
            return (fds, start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Descriptor count once it has held still for 300 ms (bounded: 5 s).
fn steady_fds(server: &Server) -> Option<usize> {
    let start = Instant::now();
    let mut last = server.fds();
    let mut since = Instant::now();
    while start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
        let now = server.fds();
        if now != last {
            (last, since) = (now, Instant::now());
        } else if since.elapsed() >= Duration::from_millis(300) {
            break;
        }
    }
    last
}

/// Opens `n` connections, sends a request on each (all in flight at once),
/// reads every answer, and measures the server holding them idle.
fn idle_connections(server: &Server, mode: Mode, n: usize, settle: Duration) -> Result<(), String> {
    // Settled first: the check before this one has just closed its connections.
    let before_fds = steady_fds(server).unwrap_or(0);
    let before_rss = server.rss_kib().unwrap_or(0);
    // A small request: what is measured is the cost of an idle connection,
    // not of 10 000 large bodies in flight at once.
    let mut ex = Exchange::new();
    ex.build_small(mode);
    let started = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let c =
            Client::connect(server.addr, IO_TIMEOUT).map_err(|e| format!("connection {i}: connect: {e}"))?;
        conns.push(c);
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.send(&ex.req).map_err(|e| format!("connection {i}: {e}"))?;
    }
    for (i, c) in conns.iter_mut().enumerate() {
        ex.check(mode, c).map_err(|(_, e)| format!("connection {i}: {e}"))?;
        // Keep only a small read buffer per idle connection.
        c.buf = Vec::new();
        c.buf.shrink_to_fit();
    }
    let took = started.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let rss = server.rss_kib().unwrap_or(0);
    let fds = server.fds().unwrap_or(0);
    println!(
        "idle connections: {n} opened, one request each in flight at once, all answered in {:.2} s",
        took.as_secs_f64()
    );
    println!(
        "  server RSS: {before_rss} KiB before, {rss} KiB with {n} idle keep-alive connections \
         ({:.0} bytes per connection); fds {before_fds} -> {fds}",
        (rss.saturating_sub(before_rss) * 1024) as f64 / n as f64
    );
    drop(conns);
    let (after, took) = settle_fds(server, before_fds, settle);
    println!(
        "  after closing them: fds {} in {:.1} s, RSS {} KiB",
        after.map_or("?".into(), |f| f.to_string()),
        took.as_secs_f64(),
        server.rss_kib().unwrap_or(0)
    );
    if after != Some(before_fds) {
        return Err(format!("fds {after:?} after closing, {before_fds} before"));
    }
    Ok(())
}

fn main() {
    let o = parse_opts();
    let nofile = raise_nofile();
    let mut server = start_server(&o, nofile);
    let addr = server.addr;
    println!(
        "soak: mode {:?}, {} s, against {} (pid {}) at {addr}",
        o.mode, o.seconds, server.describe, server.pid
    );

    // Up and answering, then the baseline: idle, after a first few requests.
    let up = Instant::now();
    loop {
        let (ok, _, err) = still_answers(addr, o.mode, 4);
        if ok == 4 {
            break;
        }
        if up.elapsed() > Duration::from_secs(30) || server.exited().is_some() {
            eprintln!("error: the server does not answer: {}", err.unwrap_or_default());
            drop(server); // stops it, if it still runs
            exit(2);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let fds_before = steady_fds(&server).unwrap_or(0);
    let fd_list_before = server.fd_list();
    let rss_before = server.rss_kib().unwrap_or(0);

    let stats = Stats::default();
    let start = Instant::now();
    let end = start + Duration::from_secs(o.seconds);
    let warmup = o.warmup.unwrap_or(Duration::from_secs(o.seconds / 2)).max(Duration::from_secs(1));
    let mut samples: Vec<(Duration, u64, usize)> = Vec::new();
    std::thread::scope(|scope| {
        let stats = &stats;
        let on = |kind: &str| o.clients.iter().any(|c| c == kind);
        if on("good") {
            for i in 0..o.good {
                scope.spawn(move || keep_alive_load(addr, o.mode, 1 + i as u64, end, stats));
            }
        }
        if on("churn") {
            scope.spawn(|| churn(addr, o.mode, o.churn_rate, end, stats));
        }
        if on("half-close") {
            scope.spawn(|| half_close(addr, o.mode, end, stats));
        }
        if on("slowloris") {
            scope.spawn(|| slowloris(addr, end, stats));
        }
        if on("reset") {
            scope.spawn(|| resets(addr, o.mode, end, stats));
        }
        if on("bad-head") {
            scope.spawn(|| bad_heads(addr, end, stats));
        }
        if on("never-read") {
            scope.spawn(|| never_read(addr, o.mode, end, stats));
        }
        let mut next_report = start;
        while Instant::now() < end {
            std::thread::sleep(SAMPLE_EVERY);
            let (Some(rss), Some(fds)) = (server.rss_kib(), server.fds()) else { break };
            samples.push((start.elapsed(), rss, fds));
            if Instant::now() >= next_report {
                let (ok, failed) = stats.good();
                println!(
                    "  {:>5.1} s: good {ok} ok / {failed} failed; server RSS {rss} KiB, {fds} fds",
                    start.elapsed().as_secs_f64()
                );
                next_report += Duration::from_secs(o.seconds.div_ceil(10).max(1));
            }
        }
    });
    let load_took = start.elapsed();

    let (fds_after, fds_took) = settle_fds(&server, fds_before, o.settle);
    let extra_fds: Vec<String> = server
        .fd_list()
        .into_iter()
        .filter(|fd| !fd_list_before.contains(fd))
        .map(|(fd, target)| format!("{fd} -> {target}{}", tcp_state(&target)))
        .collect();
    let rss_after = server.rss_kib();
    let (answered, tried, answer_err) = still_answers(addr, o.mode, 200);
    let rss_warm = samples.iter().find(|s| s.0 >= warmup).or(samples.last()).map_or(0, |s| s.1);
    let rss_end = samples.last().map_or(0, |s| s.1);
    let rss_max = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let fds_max = samples.iter().map(|s| s.2).max().unwrap_or(0);

    let idle = (o.idle_conns > 0).then(|| idle_connections(&server, o.mode, o.idle_conns, o.settle));
    let stopped = server.stop();

    let (ok, failed) = stats.good();
    let n = |a: &AtomicU64| a.load(Relaxed);
    println!(
        "\n== soak summary: mode {:?}, {:.1} s of load, {}",
        o.mode,
        load_took.as_secs_f64(),
        server.describe
    );
    println!(
        "good requests: {ok} ok, {failed} failed (keep-alive {}/{}, churn {}/{}, half-close {}/{})",
        n(&stats.ka_ok),
        n(&stats.ka_failed),
        n(&stats.churn_ok),
        n(&stats.churn_failed),
        n(&stats.half_ok),
        n(&stats.half_failed)
    );
    println!(
        "keep-alive exchanges: slowest {:.1} ms; {} over 100 ms, {} over 1 s",
        n(&stats.slowest_us) as f64 / 1000.0,
        n(&stats.over_100ms),
        n(&stats.over_1s)
    );
    for f in stats.failures.lock().unwrap_or_else(|e| e.into_inner()).iter() {
        println!("  failure: {f}");
    }
    println!(
        "abuse: slowloris {} conns ({} ended by the server); resets {}; never-read {} conns; \
         abuse connects failed {}",
        n(&stats.slowloris),
        n(&stats.slowloris_ended),
        n(&stats.resets),
        n(&stats.never_read),
        n(&stats.abuse_connect_errors)
    );
    println!("  garbage heads: {}", stats.garbage.line());
    println!("  oversized heads: {}", stats.oversized.line());
    let opt = |v: Option<u64>| v.map_or("?".to_string(), |v| v.to_string());
    println!(
        "server RSS (KiB): before {rss_before}, after warm-up ({:.0} s) {rss_warm}, max during {rss_max}, \
         end of load {rss_end}, after {}",
        warmup.as_secs_f64(),
        opt(rss_after)
    );
    println!(
        "server fds: before {fds_before}, max during {fds_max}, after {} ({:.1} s after the clients stopped)",
        opt(fds_after.map(|f| f as u64)),
        fds_took.as_secs_f64()
    );
    if !extra_fds.is_empty() {
        println!("  descriptors not open before: {}", extra_fds.join(", "));
    }
    println!(
        "answers after the abuse: {answered}/{tried}{}",
        answer_err.as_deref().map_or(String::new(), |e| format!(" (first failure: {e})"))
    );
    match &stopped {
        Ok((status, took)) => println!(
            "server exit status: {} ({:.2} s after signal {})",
            status.code().map_or(status.to_string(), |c| c.to_string()),
            took.as_secs_f64(),
            server.stop_signal
        ),
        Err(e) => println!("server exit status: none: {e}"),
    }

    let mut all_pass = true;
    let mut verdict = |pass: bool, what: String| {
        println!("{} {what}", if pass { "PASS" } else { "FAIL" });
        all_pass &= pass;
    };
    verdict(failed == 0 && ok > 0, format!("good requests: {failed} failed, {ok} ok"));
    verdict(
        fds_after == Some(fds_before),
        format!("fds back to baseline: {} after, {fds_before} before", opt(fds_after.map(|f| f as u64))),
    );
    // Page rounding of a small process: a few buffers' worth of slack.
    let limit = (rss_warm as f64 * (1.0 + o.rss_tolerance / 100.0)) as u64 + 256;
    let rss_final = rss_end.max(rss_after.unwrap_or(u64::MAX));
    verdict(
        rss_final <= limit,
        format!(
            "RSS flat after warm-up: {rss_warm} KiB after warm-up, {rss_end} KiB at the end of load, \
             {} after \
             ({:+.1} %; limit {limit} KiB = +{}% + 256 KiB)",
            opt(rss_after),
            (rss_final as f64 / rss_warm.max(1) as f64 - 1.0) * 100.0,
            o.rss_tolerance
        ),
    );
    verdict(answered == tried, format!("server still answers: {answered}/{tried}"));
    if let Some(idle) = idle {
        verdict(
            idle.is_ok(),
            format!("{} idle connections: {}", o.idle_conns, idle.err().unwrap_or("ok".into())),
        );
    }
    if server.child.is_some() {
        let code = stopped.as_ref().ok().and_then(|(s, _)| s.code());
        verdict(code == Some(0), format!("exit status 0 after the stop signal: {code:?}"));
    }
    drop(server); // removes nginx's temporary directory
    exit(if all_pass { 0 } else { 1 })
}
