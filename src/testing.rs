//! Handlers tested without sockets or threads (feature `testing`).
//!
//! A [`TestClient`] drives the real connection code — the same lexer,
//! framing, limits and response writer that serve production traffic —
//! over memory instead of a socket: what it sends is what the server
//! reads, what the server writes is parsed back into [`TestResponse`]s.
//! Delivery is in the test's hands: all at once, a few bytes at a time,
//! several requests pipelined in one write, reads and writes the server
//! gets only part of.
//!
//! ```
//! use peregrine::testing::TestClient;
//! use peregrine::{Request, Response};
//!
//! fn hello(req: &Request<'_>, res: &mut Response<'_>) {
//!     res.header("Content-Type", "text/plain");
//!     let _ = std::io::Write::write_fmt(res, format_args!("hello {}", req.path()));
//! }
//!
//! let mut client = TestClient::new(hello);
//! let res = client.get("/world");
//! assert_eq!(res.status, 200);
//! assert_eq!(res.header("content-type"), Some("text/plain"));
//! assert_eq!(res.body, b"hello /world");
//! assert!(client.is_open(), "HTTP/1.1 keeps the connection");
//!
//! // Malformed input gets the status the RFC names, and the connection closes.
//! let mut client = TestClient::new(hello);
//! client.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
//! assert_eq!(client.response().unwrap().status, 400);
//! assert!(!client.is_open());
//! ```
//!
//! A deferred or streamed response is completed on another thread;
//! [`TestClient::wait_response`] waits (bounded) for it, woken as a worker
//! would be.

use std::cell::Cell;
use std::io::{self, IoSlice, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::FileExt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Waker};

use crate::config::Config;
use crate::handler::Handler;
use crate::rt::event_loop::WAKER;
use crate::rt::exchange::Ready;
use crate::rt::mailbox::Mailbox;
use crate::rt::socket::{Sink, Transport};
use crate::rt::verdict::Verdict;
use crate::worker::conn::Conn;
use crate::worker::ctx::Ctx;

/// The in-memory stream a [`TestClient`]'s connection is served over.
#[derive(Debug)]
struct Pipe {
    /// What the client sent; the server has read up to `read`.
    inbound: Vec<u8>,
    read: usize,
    /// The client closed its sending side.
    fin: bool,
    /// The most one server read takes.
    read_max: usize,
    /// What the server wrote.
    outbound: Vec<u8>,
    /// The most one server write puts out (a partial write beyond); when
    /// limited, every write that put something out is followed by one
    /// that would block, as on a full socket.
    write_max: usize,
    /// The last write would have blocked: the server waits for the socket
    /// to become writable, which the client's next turn makes it.
    blocked: bool,
    /// The server closed its sending side (it is closing, lingering
    /// for the client's end).
    shut: Cell<bool>,
}

impl Pipe {
    /// Bytes the client sent that the server has not read.
    fn unread(&self) -> usize {
        self.inbound.len() - self.read
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.inbound[self.read..];
        if left.is_empty() {
            return if self.fin { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        let n = left.len().min(buf.len()).min(self.read_max);
        buf[..n].copy_from_slice(&left[..n]);
        self.read += n;
        if self.read == self.inbound.len() {
            self.inbound.clear();
            self.read = 0;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.shut.get() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if self.write_max != usize::MAX {
            self.blocked = !self.blocked;
            if self.blocked {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        let mut room = self.write_max;
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(room);
            self.outbound.extend_from_slice(&buf[..take]);
            (n, room) = (n + take, room - take);
            if room == 0 {
                break;
            }
        }
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink for Pipe {
    fn send_file(&mut self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize> {
        let mut chunk = vec![0u8; count.min(self.write_max)];
        let n = file.read_at(&mut chunk, offset)?;
        self.write(&chunk[..n])
    }
}

impl Transport for Pipe {
    fn set_nodelay(&self, _: bool) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shut.set(true);
        Ok(())
    }
}

/// One response the server wrote, parsed back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The header fields, in order, names as written.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl TestResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A client connected to a handler through the real connection code,
/// over memory; see the [module docs](self).
pub struct TestClient<H> {
    ctx: Ctx<H>,
    /// `None` once the server closed the connection.
    conn: Option<Conn<Pipe>>,
    /// What the server wrote after it closed (the connection's pipe went
    /// with it).
    leftover: Vec<u8>,
    /// Wakes `wait_response` when a responder completes.
    poll: Poll,
    events: Events,
    completions: Arc<Mailbox<Ready>>,
    completed: Vec<Ready>,
    again: Vec<usize>,
    read_max: usize,
    write_max: usize,
}

impl<H: Handler> TestClient<H> {
    /// A client of `handler` served with the default [`Config`].
    pub fn new(handler: H) -> Self {
        Self::with_config(Config::new(), handler)
    }

    /// A client of `handler` served with `config`'s limits and timeouts
    /// (its addresses and threads play no part).
    pub fn with_config(config: Config, handler: H) -> Self {
        let config = config.workers(1).max_connections(1);
        let poll = Poll::new().expect("an epoll or kqueue instance for the test's waker");
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).expect("a waker"));
        let completions = Arc::new(Mailbox::growing(16, waker));
        let mut ctx = Ctx::new(&config, Arc::new(handler), Arc::default(), None);
        ctx.scratch.later.connect(Arc::clone(&completions), config.stream_buffer_size);
        let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
        let pipe = Pipe {
            inbound: Vec::new(),
            read: 0,
            fin: false,
            read_max: usize::MAX,
            outbound: Vec::new(),
            write_max: usize::MAX,
            blocked: false,
            shut: Cell::new(false),
        };
        TestClient {
            ctx,
            conn: Some(Conn::new(pipe, peer)),
            leftover: Vec::new(),
            poll,
            events: Events::with_capacity(4),
            completions,
            completed: Vec::new(),
            again: Vec::new(),
            read_max: usize::MAX,
            write_max: usize::MAX,
        }
    }

    /// Lets the server read at most `n` bytes at a time (`1`: byte by byte).
    pub fn read_at_most(&mut self, n: usize) -> &mut Self {
        self.read_max = n.max(1);
        if let Some(conn) = &mut self.conn {
            conn.stream_mut().read_max = self.read_max;
        }
        self
    }

    /// Lets the server write at most `n` bytes per call, each such write
    /// followed by one that would block: every response goes out in
    /// partial writes, resumed when the socket is writable again.
    pub fn write_at_most(&mut self, n: usize) -> &mut Self {
        self.write_max = n.max(1);
        if let Some(conn) = &mut self.conn {
            conn.stream_mut().write_max = self.write_max;
        }
        self
    }

    /// Delivers `bytes` (one request, part of one, several pipelined, or
    /// anything at all) and lets the server take them as far as it can.
    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        if let Some(conn) = &mut self.conn {
            conn.stream_mut().inbound.extend_from_slice(bytes);
        }
        self.run(false);
        self
    }

    /// Delivers `bytes` in pieces of `piece` bytes, the server taking each
    /// before the next arrives.
    pub fn send_in_pieces(&mut self, bytes: &[u8], piece: usize) -> &mut Self {
        for chunk in bytes.chunks(piece.max(1)) {
            self.send(chunk);
        }
        self
    }

    /// Closes the client's sending side (a FIN); the server reads the end.
    pub fn close_write(&mut self) -> &mut Self {
        if let Some(conn) = &mut self.conn {
            conn.stream_mut().fin = true;
        }
        self.run(true);
        self
    }

    /// Whether the server keeps the connection open: it has neither
    /// closed it nor begun to (a server closing after an error first shuts
    /// its side and drains what the client still sends).
    pub fn is_open(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| !c.stream().shut.get())
    }

    /// What the server wrote and no [`response`](TestClient::response)
    /// took yet, raw.
    pub fn written(&self) -> &[u8] {
        match &self.conn {
            Some(conn) => &conn.stream().outbound,
            None => &self.leftover,
        }
    }

    /// Forgets what the server wrote, keeping the memory for what it
    /// writes next: with [`send`](TestClient::send) and
    /// [`written`](TestClient::written), a loop that allocates nothing
    /// once warm, to assert that serving does not either.
    pub fn clear_written(&mut self) -> &mut Self {
        match &mut self.conn {
            Some(conn) => conn.stream_mut().outbound.clear(),
            None => self.leftover.clear(),
        }
        self
    }

    /// The next complete response the server wrote, taken out; `None` if
    /// there is none (yet).
    pub fn response(&mut self) -> Option<TestResponse> {
        self.take_response(false)
    }

    /// The next response, to a `HEAD` request (its head says a length,
    /// but no body follows).
    pub fn head_response(&mut self) -> Option<TestResponse> {
        self.take_response(true)
    }

    /// The next response, waiting up to `timeout` for another thread to
    /// complete it (a deferred or streamed response); woken as a worker
    /// is, through the completion queue.
    pub fn wait_response(&mut self, timeout: Duration) -> Option<TestResponse> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(res) = self.response() {
                return Some(res);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            // A closed connection gets no more answers.
            self.conn.as_ref()?;
            let _ = self.poll.poll(&mut self.events, Some(left));
            self.run(false);
        }
    }

    /// Sends `GET path` (HTTP/1.1, `Host: test`) and returns its response.
    ///
    /// # Panics
    ///
    /// If no complete response came back (a deferred one: use
    /// [`send`](TestClient::send) and [`wait_response`](TestClient::wait_response)).
    pub fn get(&mut self, path: &str) -> TestResponse {
        self.request("GET", path, &[], b"")
    }

    /// Sends one request — `method`, `target`, `headers`, and `body` with
    /// its `Content-Length` (unless `headers` frame it) — and returns its
    /// response.
    ///
    /// # Panics
    ///
    /// As [`get`](TestClient::get).
    pub fn request(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> TestResponse {
        let mut raw = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
        if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
            raw.extend_from_slice(b"Host: test\r\n");
        }
        let framed = headers.iter().any(|(n, _)| {
            n.eq_ignore_ascii_case("content-length") || n.eq_ignore_ascii_case("transfer-encoding")
        });
        for (name, value) in headers {
            raw.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        if !framed && (!body.is_empty() || matches!(method, "POST" | "PUT" | "PATCH")) {
            raw.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        raw.extend_from_slice(body);
        self.send(&raw);
        let res = self.take_response(method == "HEAD");
        res.unwrap_or_else(|| {
            panic!(
                "no complete response to {method} {target}; written: {:?}",
                String::from_utf8_lossy(self.written())
            )
        })
    }

    /// Drives the connection until it has done all it can: what was
    /// delivered, and what other threads completed meanwhile.
    fn run(&mut self, fin: bool) {
        let mut fin = fin;
        loop {
            let Some(conn) = &mut self.conn else { return };
            let unread_before = conn.stream().unread();
            let now = Instant::now();
            self.ctx.now = now;
            self.ctx.date.update(now);
            if conn.drive(0, &mut self.ctx, std::mem::take(&mut fin)) == Verdict::Close {
                let mut conn = self.conn.take().expect("present above");
                self.leftover = std::mem::take(&mut conn.stream_mut().outbound);
                conn.release(&mut self.ctx);
                return;
            }
            self.ctx.again.take(&mut self.again);
            let again = !self.again.is_empty();
            self.again.clear();
            self.completions.take_all(&mut self.completed);
            let completed = self.completed.drain(..).any(|r| conn.awaits(r.id));
            // A socket's reader learns of bytes still waiting from a new
            // readiness edge; a read cut short here raises none, so the
            // connection is driven again while its reads make progress.
            let unread = conn.stream().unread();
            let more_to_read = unread > 0 && unread < unread_before;
            // And a socket that would have blocked becomes writable.
            let writable = conn.stream().blocked;
            if !again && !completed && !more_to_read && !writable {
                return;
            }
        }
    }

    fn take_response(&mut self, head_only: bool) -> Option<TestResponse> {
        let open = self.conn.is_some();
        let out = match &mut self.conn {
            Some(conn) => &mut conn.stream_mut().outbound,
            None => &mut self.leftover,
        };
        let (res, used) = parse_response(out, head_only, !open)?;
        out.drain(..used);
        Some(res)
    }
}

/// Parses one response off the front of `out`: the response and the bytes
/// it took, or `None` if it is not all there. `closed`: the server closed
/// the connection, which ends a body without a length.
fn parse_response(out: &[u8], head_only: bool, closed: bool) -> Option<(TestResponse, usize)> {
    let mut slots = [httparse::EMPTY_HEADER; 128];
    let mut parsed = httparse::Response::new(&mut slots);
    let head_len = match parsed.parse(out).ok()? {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial => return None,
    };
    let status = parsed.code?;
    let headers: Vec<(String, String)> = parsed
        .headers
        .iter()
        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
        .collect();
    let res = |body: Vec<u8>| TestResponse { status, headers: headers.clone(), body };
    let get =
        |name: &str| headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
    let bodiless = head_only || status < 200 || status == 204 || status == 304;
    if bodiless {
        return Some((res(Vec::new()), head_len));
    }
    if get("transfer-encoding").is_some_and(|te| te.eq_ignore_ascii_case("chunked")) {
        let (body, used) = dechunk(&out[head_len..])?;
        return Some((res(body), head_len + used));
    }
    if let Some(length) = get("content-length") {
        let length: usize = length.trim().parse().ok()?;
        let body = out.get(head_len..head_len + length)?;
        return Some((res(body.to_vec()), head_len + length));
    }
    // Delimited by the close.
    closed.then(|| (res(out[head_len..].to_vec()), out.len()))
}

/// A chunked body's bytes and the bytes its framing took, if all there.
fn dechunk(mut rest: &[u8]) -> Option<(Vec<u8>, usize)> {
    let start = rest.len();
    let mut body = Vec::new();
    loop {
        let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            // Trailers, then the empty line.
            loop {
                let end = rest.windows(2).position(|w| w == b"\r\n")?;
                rest = &rest[end + 2..];
                if end == 0 {
                    return Some((body, start - rest.len()));
                }
            }
        }
        body.extend_from_slice(rest.get(..size)?);
        if rest.get(size..size + 2)? != b"\r\n" {
            return None;
        }
        rest = &rest[size + 2..];
    }
}
