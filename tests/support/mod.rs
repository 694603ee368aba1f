//! Helpers shared by the behaviour tests: a server on 127.0.0.1:0 in this
//! process, a raw-socket client with bounded waits, Chromium for the
//! browser tests, and a test run as a child process. `ws` holds the
//! WebSocket clients and handler; `counting_alloc.rs`, the counting
//! allocator, is included by path from the two zero-allocation tests only.
#![allow(dead_code)]

pub mod ws;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use peregrine::{Config, Handler, Server, ShutdownHandle};

/// How long any single client wait may take before a test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A server running on its own thread; shut down and joined on drop.
pub struct TestServer {
    pub addr: SocketAddr,
    pub handle: ShutdownHandle,
    thread: Option<JoinHandle<Result<(), peregrine::Error>>>,
}

impl TestServer {
    /// Starts `handler` with `config` bound to 127.0.0.1:0, signals off.
    pub fn start<H: Handler>(config: Config, handler: H) -> Self {
        let config = config.addr("127.0.0.1:0".parse().unwrap()).handle_signals(false);
        Self::from_server(Server::bind(config, handler).expect("bind"))
    }

    /// Runs `server`, bound already, on a thread of its own.
    pub fn from_server<H: Handler>(server: Server<H>) -> Self {
        let addr = server.local_addr();
        let handle = server.shutdown_handle();
        let thread = Some(std::thread::spawn(move || server.run()));
        TestServer { addr, handle, thread }
    }

    /// Two workers, defaults otherwise.
    pub fn with<H: Handler>(handler: H) -> Self {
        Self::start(Config::new().workers(2), handler)
    }

    /// A connected client with read/write timeouts.
    pub fn connect(&self) -> TcpStream {
        let s = TcpStream::connect(self.addr).expect("connect");
        s.set_read_timeout(Some(WAIT)).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        s.set_nodelay(true).unwrap();
        s
    }

    /// Requests shutdown and waits for `run` to return its result.
    pub fn stop(mut self) -> Result<(), peregrine::Error> {
        self.handle.shutdown();
        self.thread.take().unwrap().join().expect("server thread panicked")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.handle.shutdown();
            let _ = t.join();
        }
    }
}

/// A response as read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// `(name, value)` in order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Reads one response from `s` (Content-Length framed, or to EOF when the
/// head has none). `head_only`: the request was HEAD (no body follows).
pub fn read_response(s: &mut TcpStream, buf: &mut Vec<u8>, head_only: bool) -> RawResponse {
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf);
    };
    let head = String::from_utf8(buf[..head_end].to_vec()).expect("head is UTF-8");
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap();
    assert!(status_line.starts_with("HTTP/1.1 "), "status line {status_line:?}");
    let status = status_line[9..12].parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (n, v) = l.split_once(':').expect("header line has a colon");
            (n.to_string(), v.trim().to_string())
        })
        .collect();
    let mut res = RawResponse { status, headers, body: Vec::new() };
    // HEAD responses and 1xx, 204 and 304 never carry a body (RFC 9112 §6.3).
    let bodiless = head_only || status < 200 || status == 204 || status == 304;
    let len = match res.header("content-length") {
        _ if bodiless => 0,
        Some(l) => l.parse::<usize>().unwrap(),
        None => {
            buf.drain(..head_end);
            read_to_end(s, buf);
            res.body = std::mem::take(buf);
            return res;
        }
    };
    while buf.len() < head_end + len {
        fill(s, buf);
    }
    res.body = buf[head_end..head_end + len].to_vec();
    buf.drain(..head_end + len);
    res
}

/// Sends `raw` and reads one response.
pub fn roundtrip(s: &mut TcpStream, raw: &[u8]) -> RawResponse {
    s.write_all(raw).unwrap();
    let head_only = raw.starts_with(b"HEAD ");
    read_response(s, &mut Vec::new(), head_only)
}

/// One request on a fresh connection.
pub fn request(server: &TestServer, raw: &[u8]) -> RawResponse {
    roundtrip(&mut server.connect(), raw)
}

/// Reads once more into `buf`; panics on EOF or timeout.
fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) {
    let mut chunk = [0u8; 65536];
    let n = s.read(&mut chunk).expect("read");
    assert!(n > 0, "connection closed mid-response; got {:?}", String::from_utf8_lossy(buf));
    buf.extend_from_slice(&chunk[..n]);
}

fn read_to_end(s: &mut TcpStream, buf: &mut Vec<u8>) {
    s.read_to_end(buf).expect("read to end");
}

/// Whether the server closed `s`: EOF (or reset) within `WAIT`, with no
/// further bytes.
pub fn is_closed(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 1];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => matches!(e.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe),
    }
}

/// Whether `s` is still open after `wait` (no EOF, no data).
pub fn stays_open(s: &mut TcpStream, wait: Duration) -> bool {
    s.set_read_timeout(Some(wait)).unwrap();
    let mut b = [0u8; 1];
    let open = matches!(s.read(&mut b), Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    s.set_read_timeout(Some(WAIT)).unwrap();
    open
}

/// Polls `cond` every few milliseconds until it holds or `WAIT` passes.
pub fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + WAIT;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

/// Counts the open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|d| d.count()).unwrap_or(0)
}

/// Reads a response head byte by byte, then its `len`-byte body, slowly
/// for the first MiB (so the server's sends meet a full socket and must
/// resume), checking that body byte `i` is `byte(i)`. Returns the head.
pub fn read_pattern_response(s: &mut TcpStream, len: usize, byte: impl Fn(usize) -> u8) -> String {
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut b).unwrap();
        head.push(b[0]);
    }
    let mut chunk = vec![0u8; 1 << 16];
    let mut at = 0;
    while at < len {
        let n = s.read(&mut chunk[..(1 << 16).min(len - at)]).unwrap();
        assert!(n > 0, "connection closed after {at} of {len} body bytes");
        if let Some(i) = (0..n).find(|&i| chunk[i] != byte(at + i)) {
            panic!("body differs at byte {}", at + i);
        }
        at += n;
        if at < 1 << 20 {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    String::from_utf8(head).expect("head is UTF-8")
}

/// How the browser tests are run: `cargo test` leaves them out (ignored).
pub const CHROMIUM_TESTS: &str =
    "cargo test --test browser --test browser_chat --test browser_sse -- --ignored";

/// The Chromium the browser tests drive: `$PEREGRINE_CHROMIUM` when set
/// (and then only it), else Debian's `/usr/bin/chromium`. Panics, saying
/// how to install one, when it is missing: these tests run only when asked
/// for, so a missing browser is a failure, never a pass.
pub fn chromium() -> std::path::PathBuf {
    let (path, from) = match std::env::var_os("PEREGRINE_CHROMIUM") {
        Some(p) => (std::path::PathBuf::from(p), "$PEREGRINE_CHROMIUM"),
        None => ("/usr/bin/chromium".into(), "the default path"),
    };
    assert!(
        path.is_file(),
        "no Chromium at {} ({from}): install it (Debian/Ubuntu: `apt-get install chromium`) or set \
         PEREGRINE_CHROMIUM to a Chromium binary, then run `{CHROMIUM_TESTS}`",
        path.display()
    );
    path
}

/// Flags for a headless chromium that talks to nothing but our server.
pub const CHROMIUM_FLAGS: [&str; 8] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
];

/// Starts this test binary's test `test` in a child process with `env` set
/// (the test then runs a server instead), and returns the child and the
/// address it printed as `ADDR=…`. The child's output is drained from then
/// on, so it never blocks on a full pipe; a child that ends without an
/// address is reaped and the test fails.
pub fn spawn_test_child(test: &str, env: &str) -> (std::process::Child, SocketAddr) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // libtest prints the test's name on the same line.
    let addr = lines.by_ref().map_while(Result::ok).find_map(|line| {
        let at = line.find("ADDR=")?;
        line[at + 5..].trim().parse().ok()
    });
    let Some(addr) = addr else {
        let _ = child.kill();
        let _ = child.wait();
        panic!("child ended before printing its address");
    };
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

/// A server process started by a test, killed and reaped when dropped, so
/// a failing assertion leaves none behind.
pub struct ChildServer(pub std::process::Child);

impl Drop for ChildServer {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Waits up to `WAIT` for `child` to exit; kills it and panics if it does
/// not.
pub fn wait_exit(child: &mut std::process::Child) -> std::process::ExitStatus {
    let end = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            panic!("server process did not exit");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `POST path` with `body` chunked in pieces of `chunk` bytes, each with
/// an extension, and a trailer after the last.
pub fn chunked_post(path: &str, body: &[u8], chunk: usize) -> Vec<u8> {
    let mut wire =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    for piece in body.chunks(chunk) {
        wire.extend_from_slice(format!("{:x};ext=1\r\n", piece.len()).as_bytes());
        wire.extend_from_slice(piece);
        wire.extend_from_slice(b"\r\n");
    }
    wire.extend_from_slice(b"0\r\nTrailer: x\r\n\r\n");
    wire
}

/// `len` bytes of a xorshift sequence from `seed`: no two stretches of a
/// body alike, so a dropped, repeated or reordered piece shows.
pub fn xorshift_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}
