//! Helpers for the tests of responses that take time (`deferred.rs`,
//! `streaming.rs`): a server whose `run` is joined within a bound, a
//! response reader that also takes chunked and close-delimited bodies
//! (and says how a body ended), a deterministic body pattern, a tiny
//! xorshift generator, and bounded waits on threads and descriptor limits.
//!
//! Included with `#[path = "support/later.rs"] mod later;` next to
//! `mod support;` (whose `WAIT` it uses).
#![allow(dead_code)]

use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peregrine::{Config, Handler, Server, ShutdownHandle};

use crate::support::WAIT;

/// A server on 127.0.0.1, port 0, signals off, run on its own thread;
/// shut down and joined (within a bound) on drop.
pub struct Running {
    pub addr: SocketAddr,
    pub handle: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), peregrine::Error>>>,
}

impl Running {
    /// Binds `handler` with `config` on 127.0.0.1:0 and runs it.
    pub fn start<H: Handler>(config: Config, handler: H) -> Self {
        let config = config.port(0).handle_signals(false);
        let server = Server::bind(config, handler).expect("bind");
        let addr = server.local_addr();
        assert!(addr.ip().is_loopback(), "bound to {addr}");
        let handle = server.shutdown_handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        Running { addr, handle, thread }
    }

    /// A connected client with read/write timeouts of `WAIT`.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// Whether `run` has returned.
    pub fn has_returned(&self) -> bool {
        self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits (at most `limit`) for `run` to return, without asking for
    /// shutdown; panics if it does not.
    pub fn join_within(mut self, limit: Duration) -> Result<(), peregrine::Error> {
        let thread = self.thread.take().unwrap();
        join_within(thread, limit, "server.run()")
    }

    /// Requests shutdown and waits (at most `limit`) for `run`'s result.
    pub fn stop_within(self, limit: Duration) -> Result<(), peregrine::Error> {
        self.handle.shutdown();
        self.join_within(limit)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            // Bounded: a test that failed must not hang on a stuck server.
            let end = Instant::now() + 2 * WAIT;
            while !t.is_finished() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// Joins `thread` if it ends within `limit`; panics (naming `what`) if it
/// does not, and passes a panic of the thread on.
pub fn join_within<T>(thread: JoinHandle<T>, limit: Duration, what: &str) -> T {
    let end = Instant::now() + limit;
    while !thread.is_finished() {
        assert!(Instant::now() < end, "{what} did not return within {limit:?}");
        std::thread::sleep(Duration::from_millis(2));
    }
    match thread.join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// How a response's body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Content-Length`.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Neither: the body ends when the connection closes.
    UntilClose,
    /// None at all (HEAD, 1xx, 204, 304).
    NoBody,
}

/// How the body of a [`Reply`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// As its framing says: all of its length, the last chunk and the
    /// trailer section, or EOF for a close-delimited body.
    Complete,
    /// EOF after whole chunks, with no last chunk (a chunked body cut
    /// short between chunks).
    CutBetweenChunks,
    /// EOF inside a chunk, its size line, or before all of a
    /// `Content-Length` arrived.
    CutInside,
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct Reply {
    /// `HTTP/1.1` (or whatever the status line said).
    pub version: String,
    pub status: u16,
    /// `(name, value)` in order, names as sent.
    pub headers: Vec<(String, String)>,
    /// The body's bytes (dechunked), as far as they came.
    pub body: Vec<u8>,
    pub framing: Framing,
    pub end: End,
    /// The chunk sizes of a chunked body, in order (the last, 0, left out).
    pub chunks: Vec<usize>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Every value of header `name`.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect()
    }

    /// The `Connection` header, lower-cased.
    pub fn connection(&self) -> Option<String> {
        self.header("connection").map(str::to_ascii_lowercase)
    }

    pub fn body_str(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Reads more into `buf`; false on EOF (or a reset). Panics on a timeout.
pub fn fill_or_eof(s: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 65536];
    match s.read(&mut chunk) {
        Ok(0) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        Err(e) if e.kind() == ErrorKind::ConnectionReset => false,
        Err(e) => panic!("read failed ({e}) after {:?}", String::from_utf8_lossy(&buf[..buf.len().min(300)])),
    }
}

/// Reads until the peer closes (EOF or reset); returns whether it did
/// within `WAIT` per read (panics otherwise, through `fill_or_eof`).
pub fn read_to_close(s: &mut TcpStream, buf: &mut Vec<u8>) {
    while fill_or_eof(s, buf) {}
}

/// Takes the line ending in CRLF at the front of `buf[at..]`, reading more
/// as needed; `None` on EOF first.
fn take_line(s: &mut TcpStream, buf: &mut Vec<u8>, at: usize) -> Option<(String, usize)> {
    loop {
        if let Some(i) = buf[at..].windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8(buf[at..at + i].to_vec()).expect("a line is UTF-8");
            return Some((line, at + i + 2));
        }
        if !fill_or_eof(s, buf) {
            return None;
        }
    }
}

/// Reads one response from `s` (with what was read before in `buf`),
/// whatever its framing; leaves the bytes after it in `buf`. `head_only`:
/// it answers a HEAD request. Panics if the head is cut short or
/// malformed; a body cut short is reported in [`Reply::end`].
pub fn read_reply(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Reply {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        assert!(
            fill_or_eof(s, buf),
            "connection closed before a response head; got {:?}",
            String::from_utf8_lossy(buf)
        );
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("head is UTF-8");
    buf.drain(..head_end);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap().to_string();
    assert!(version.starts_with("HTTP/1."), "status line {status_line:?}");
    let status: u16 =
        parts.next().and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("status line {status_line:?}"));
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').unwrap_or_else(|| panic!("header line without a colon: {l:?}"));
            assert!(!n.is_empty() && !n.contains(' '), "bad header name in {l:?}");
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let mut reply = Reply {
        version,
        status,
        headers,
        body: Vec::new(),
        framing: Framing::NoBody,
        end: End::Complete,
        chunks: Vec::new(),
    };
    let chunked = reply
        .header("transfer-encoding")
        .map(|te| te.split(',').next_back().unwrap().trim().eq_ignore_ascii_case("chunked"))
        .unwrap_or(false);
    let length =
        reply.header("content-length").map(|l| l.parse::<usize>().expect("Content-Length is a number"));
    if chunked && length.is_some() {
        panic!("both Transfer-Encoding: chunked and Content-Length: {:?}", reply.headers);
    }
    if head_only || status < 200 || status == 204 || status == 304 {
        return reply;
    }
    if chunked {
        reply.framing = Framing::Chunked;
        read_chunked(s, buf, &mut reply);
    } else if let Some(len) = length {
        reply.framing = Framing::Length(len);
        while buf.len() < len {
            if !fill_or_eof(s, buf) {
                reply.end = End::CutInside;
                reply.body = std::mem::take(buf);
                return reply;
            }
        }
        reply.body = buf.drain(..len).collect();
    } else {
        reply.framing = Framing::UntilClose;
        read_to_close(s, buf);
        reply.body = std::mem::take(buf);
    }
    reply
}

/// Decodes a chunked body strictly (hex sizes, CRLFs where they belong, no
/// extensions: the server sends none).
fn read_chunked(s: &mut TcpStream, buf: &mut Vec<u8>, reply: &mut Reply) {
    loop {
        let Some((line, at)) = take_line(s, buf, 0) else {
            // EOF where a size line would start: cut between chunks, if
            // nothing of a line came.
            reply.end = if buf.is_empty() { End::CutBetweenChunks } else { End::CutInside };
            return;
        };
        assert!(
            !line.is_empty() && line.len() <= 16 && line.bytes().all(|b| b.is_ascii_hexdigit()),
            "bad chunk size line {line:?}"
        );
        let size = usize::from_str_radix(&line, 16).unwrap();
        buf.drain(..at);
        if size == 0 {
            // The trailer section: lines until an empty one.
            loop {
                let Some((trailer, at)) = take_line(s, buf, 0) else {
                    reply.end = End::CutInside;
                    return;
                };
                buf.drain(..at);
                if trailer.is_empty() {
                    return;
                }
            }
        }
        while buf.len() < size + 2 {
            if !fill_or_eof(s, buf) {
                reply.end = End::CutInside;
                reply.body.extend_from_slice(&buf[..buf.len().min(size)]);
                buf.clear();
                return;
            }
        }
        assert_eq!(&buf[size..size + 2], b"\r\n", "chunk of {size} bytes not followed by CRLF");
        reply.body.extend_from_slice(&buf[..size]);
        reply.chunks.push(size);
        buf.drain(..size + 2);
    }
}

/// Reads one response, panicking unless its body came complete.
pub fn read_complete(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> Reply {
    let reply = read_reply(s, buf, head_only);
    assert_eq!(
        reply.end,
        End::Complete,
        "body cut short: {:?} after {} bytes",
        reply.framing,
        reply.body.len()
    );
    reply
}

/// Whether nothing arrives on `s` (no byte, no EOF) for `wait`.
pub fn silent_for(s: &mut TcpStream, wait: Duration) -> Result<(), String> {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 256];
    let r = s.read(&mut b);
    s.set_read_timeout(Some(WAIT)).unwrap();
    match r {
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Ok(()),
        Ok(0) => Err("the connection was closed".into()),
        Ok(n) => Err(format!("{n} bytes arrived: {:?}", String::from_utf8_lossy(&b[..n]))),
        Err(e) => Err(format!("read failed: {e}")),
    }
}

/// Byte `i` of a test body: a hash of its position, so a lost, repeated or
/// misplaced stretch of any length shows.
pub fn pattern(i: u64) -> u8 {
    (i.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8
}

/// `len` bytes of the pattern from position `from`.
pub fn pattern_bytes(from: u64, len: usize) -> Vec<u8> {
    (0..len as u64).map(|i| pattern(from + i)).collect()
}

/// The first position where `body` differs from the pattern from `from`.
pub fn pattern_mismatch(body: &[u8], from: u64) -> Option<usize> {
    body.iter().enumerate().position(|(i, &b)| b != pattern(from + i as u64))
}

/// A tiny xorshift64* generator, for orders and sizes that vary but repeat
/// from a seed.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            v.swap(i, j);
        }
    }
}

/// A seed that differs from run to run, printed so a failure can be
/// replayed (`PEREGRINE_SEED=…` fixes it).
pub fn seed(test: &str) -> u64 {
    let seed = std::env::var("PEREGRINE_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    println!("{test}: seed {seed} (set PEREGRINE_SEED to replay)");
    seed
}

/// Raises the soft RLIMIT_NOFILE towards `want` (never past the hard
/// limit); returns the soft limit now in force.
pub fn raise_nofile(want: u64) -> Result<u64, String> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    let target = want.min(lim.rlim_max);
    if lim.rlim_cur >= target {
        return Ok(lim.rlim_cur);
    }
    lim.rlim_cur = target;
    // SAFETY: `lim` is a valid rlimit whose soft limit is at most its hard
    // one, which any process may set for itself.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
    }
    Ok(target)
}
