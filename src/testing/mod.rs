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
//!
//! After a `101`, the same client speaks WebSocket to the code a WebSocket
//! thread runs: it sends masked frames (or any bytes), the handler's
//! `ws_*` hooks run, and [`TestClient::frame`] reads what they sent back;
//! [`TestClient::wait_frame`] waits for what a handle sends from another
//! thread.
//!
//! ```
//! use peregrine::testing::TestClient;
//! use peregrine::ws::{self, CloseCode, Message, Opcode, WebSocket};
//! use peregrine::{Handler, Request, Response};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     const WEBSOCKETS: bool = true;
//!
//!     fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
//!         let _ = ws::upgrade(req, res);
//!     }
//!
//!     fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
//!         if let Message::Text(text) = msg {
//!             let _ = ws.send_text(&text.to_uppercase());
//!         }
//!     }
//! }
//!
//! let mut client = TestClient::new(Echo);
//! assert_eq!(client.upgrade("/chat").status, 101);
//! client.send_text("hi");
//! assert_eq!(client.frame().unwrap().text(), Some("HI"));
//! // The closing handshake: the server echoes the code and closes.
//! client.send_close(CloseCode::NORMAL, "bye");
//! let close = client.frame().unwrap();
//! assert_eq!((close.opcode, close.close_code()), (Opcode::Close, Some(CloseCode::NORMAL)));
//! assert!(!client.is_open());
//! ```
//!
//! What is about sockets and clocks is not simulated: timeouts do not
//! fire, and there are no resets or signals; test those against a
//! [`Server`](crate::Server).

mod pipe;
mod wire;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Waker};

use self::pipe::Pipe;
use self::wire::{masked_frame, parse_frame, parse_partial, parse_response};
pub use self::wire::{TestFrame, TestResponse};
use crate::config::Config;
use crate::handler::Handler;
use crate::http::response::Ticket;
use crate::metrics::Tally;
use crate::rt::event_loop::WAKER;
use crate::rt::exchange::Ready;
use crate::rt::mailbox::Mailbox;
use crate::rt::verdict::Verdict;
use crate::worker::conn::Conn;
use crate::worker::ctx::Ctx;
use crate::ws::handle::WebSocket;
use crate::ws::{CloseCode, Opcode};
use crate::ws_thread::conn::{WsConn, WsCtx};
use crate::ws_thread::WsRoute;

/// What the client is connected to.
enum Link<H> {
    /// The HTTP connection code, as a worker runs it.
    Http(Box<Conn<Pipe>>),
    /// After a `101`, the WebSocket connection code, as a WebSocket thread
    /// runs it.
    WebSocket(Box<WsLink<H>>),
    /// The server closed the connection.
    Closed,
}

/// An upgraded connection and the context a WebSocket thread would give it.
struct WsLink<H> {
    conn: WsConn<Pipe>,
    ctx: WsCtx<H>,
}

/// The slot an upgraded connection has (the client has only one).
const WS_KEY: usize = 0;

/// A client connected to a handler through the real connection code,
/// over memory; see the [module docs](self).
pub struct TestClient<H> {
    config: Config,
    ctx: Ctx<H>,
    link: Link<H>,
    /// What the server wrote before it closed (the connection's pipe went
    /// with it).
    leftover: Vec<u8>,
    /// Wakes `wait_response` when a responder completes, and `wait_frame`
    /// when a WebSocket handle sends.
    poll: Poll,
    waker: Arc<Waker>,
    events: Events,
    completions: Arc<Mailbox<Ready>>,
    completed: Vec<Ready>,
    again: Vec<usize>,
    read_max: usize,
    write_max: usize,
    /// The counters of a WebSocket connection, until one opens.
    ws_tally: Option<Tally>,
}

/// Counters as a server's worker and WebSocket thread keep them, into
/// `config`'s [`Metrics`](crate::metrics::Metrics) handle if it has one.
fn tallies(config: &Config, websockets: bool) -> (Tally, Tally) {
    let Some(metrics) = &config.metrics else { return (Tally::detached(), Tally::detached()) };
    let taken = metrics.prepare(1, usize::from(websockets)).and_then(|(mut worker, mut ws, attachment)| {
        let ws = ws.pop().unwrap_or_else(Tally::detached);
        metrics.attach(attachment).then(|| (worker.pop().expect("one worker's"), ws))
    });
    taken.unwrap_or_else(|| panic!("TestClient::with_config: {}", crate::metrics::HANDLE_IN_USE))
}

impl<H: Handler> TestClient<H> {
    /// A client of `handler` served with the default [`Config`].
    pub fn new(handler: H) -> Self {
        Self::with_config(Config::new(), handler)
    }

    /// A client of `handler` served with `config`'s limits and timeouts
    /// (its addresses and threads play no part). A
    /// [`Metrics`](crate::metrics::Metrics) handle given to
    /// [`Config::metrics`] counts what the connection counts (requests,
    /// responses, errors, bytes, WebSocket messages), published after each
    /// exchange; accepting connections is no part of a test client.
    ///
    /// # Panics
    ///
    /// If [`Server::bind`](crate::Server::bind) would refuse `config`, with
    /// the same message: a test runs only what a server could.
    pub fn with_config(config: Config, handler: H) -> Self {
        if let Err(e) = config.validate() {
            panic!("TestClient::with_config: {e}");
        }
        let config = config.workers(1).max_connections(1);
        let poll = Poll::new().expect("an epoll or kqueue instance for the test's waker");
        let waker = Arc::new(Waker::new(poll.registry(), WAKER).expect("a waker"));
        // Upgrades are served when the handler says it uses WebSockets, as
        // `Server` starts WebSocket threads only then.
        let ws = H::WEBSOCKETS.then(|| Arc::new(WsRoute::unserved(1, Arc::clone(&waker))));
        // The list swapped with the mailbox's has the same room, so
        // neither has to grow (see the worker's).
        let completions = Arc::new(Mailbox::growing(16, Arc::clone(&waker)));
        let mut ctx = Ctx::new(&config, Arc::new(handler), Arc::default(), ws);
        ctx.scratch.later.connect(Arc::clone(&completions), config.stream_buffer_size);
        let (tally, ws_tally) = tallies(&config, H::WEBSOCKETS);
        ctx.tally = tally;
        let peer = SocketAddr::from((Ipv4Addr::LOCALHOST, 40000));
        let pipe = Pipe::new();
        TestClient {
            config,
            ctx,
            link: Link::Http(Box::new(Conn::new(pipe, peer))),
            leftover: Vec::new(),
            poll,
            waker,
            events: Events::with_capacity(4),
            completions,
            completed: Vec::with_capacity(16),
            again: Vec::new(),
            read_max: usize::MAX,
            write_max: usize::MAX,
            ws_tally: Some(ws_tally),
        }
    }

    /// The handler, to look at what it recorded.
    pub fn handler(&self) -> &H {
        &self.ctx.handler
    }

    /// Lets the server read at most `n` bytes at a time (`1`: byte by byte).
    pub fn read_at_most(&mut self, n: usize) -> &mut Self {
        self.read_max = n.max(1);
        if let Some(pipe) = self.pipe_mut() {
            pipe.read_max = n.max(1);
        }
        self
    }

    /// Lets the server write at most `n` bytes per call, each such write
    /// followed by one that would block: every response goes out in
    /// partial writes, resumed when the socket is writable again.
    pub fn write_at_most(&mut self, n: usize) -> &mut Self {
        self.write_max = n.max(1);
        if let Some(pipe) = self.pipe_mut() {
            pipe.write_max = n.max(1);
        }
        self
    }

    /// Delivers `bytes` (one request, part of one, several pipelined,
    /// WebSocket frames after an upgrade, or anything at all) and lets the
    /// server take them as far as it can.
    pub fn send(&mut self, bytes: &[u8]) -> &mut Self {
        if let Some(pipe) = self.pipe_mut() {
            pipe.inbound.extend_from_slice(bytes);
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

    /// Delivers `bytes` followed by the client's FIN, both there when the
    /// server looks (as a client that sends its last request and
    /// half-closes at once): the server learns of the end with the data,
    /// and must read its way to it.
    pub fn send_and_close(&mut self, bytes: &[u8]) -> &mut Self {
        if let Some(pipe) = self.pipe_mut() {
            pipe.inbound.extend_from_slice(bytes);
            pipe.fin = true;
        }
        self.run(true);
        self
    }

    /// Closes the client's sending side (a FIN); the server reads the end.
    pub fn close_write(&mut self) -> &mut Self {
        if let Some(pipe) = self.pipe_mut() {
            pipe.fin = true;
        }
        self.run(true);
        self
    }

    /// Whether the server keeps the connection open: it has neither
    /// closed it nor begun to (a server closing after an error first shuts
    /// its side and drains what the client still sends).
    pub fn is_open(&self) -> bool {
        self.pipe().is_some_and(|p| !p.shut.get())
    }

    /// Whether the connection was upgraded to WebSocket (its `101` went
    /// out), and the server has not closed it.
    pub fn is_websocket(&self) -> bool {
        matches!(self.link, Link::WebSocket(_))
    }

    /// What the server wrote and no [`response`](TestClient::response) or
    /// [`frame`](TestClient::frame) took yet, raw.
    pub fn written(&self) -> &[u8] {
        match self.pipe() {
            Some(pipe) => &pipe.outbound,
            None => &self.leftover,
        }
    }

    /// Forgets what the server wrote, keeping the memory for what it
    /// writes next: with [`send`](TestClient::send) and
    /// [`written`](TestClient::written), a loop that allocates nothing
    /// once warm, to assert that serving does not either.
    pub fn clear_written(&mut self) -> &mut Self {
        self.outbound().clear();
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
        self.wait(timeout, Self::response)
    }

    /// [`wait_response`](TestClient::wait_response) for a response to a
    /// `HEAD` request (no body follows its head).
    pub fn wait_head_response(&mut self, timeout: Duration) -> Option<TestResponse> {
        self.wait(timeout, Self::head_response)
    }

    /// The next response not taken yet, as far as it has come (its head,
    /// and its body so far, de-chunked; an interim `100 Continue` passed
    /// over), once `until` holds for it, waiting up to `timeout`: for a
    /// stream or an event stream, which may never end. Nothing is taken
    /// out: a later [`response`](TestClient::response) still returns it
    /// whole.
    ///
    /// ```
    /// use std::time::Duration;
    /// use peregrine::sse::{Event, EventStream};
    /// use peregrine::testing::TestClient;
    /// use peregrine::{Request, Response};
    ///
    /// let ticks = |_: &Request<'_>, res: &mut Response<'_>| {
    ///     let mut events = EventStream::start(res);
    ///     std::thread::spawn(move || {
    ///         for i in 0..100 {
    ///             if events.send(&Event::new(&i.to_string())).is_err() {
    ///                 break; // the client left
    ///             }
    ///         }
    ///         events.finish();
    ///     });
    /// };
    /// let mut client = TestClient::new(ticks);
    /// client.send(b"GET /ticks HTTP/1.1\r\nHost: x\r\n\r\n");
    /// let so_far = client
    ///     .wait_partial(Duration::from_secs(5), |r| r.text().contains("data: 2\n"))
    ///     .expect("three events");
    /// assert!(so_far.text().starts_with("data: 0\n\ndata: 1\n\n"));
    /// ```
    pub fn wait_partial(
        &mut self,
        timeout: Duration,
        mut until: impl FnMut(&TestResponse) -> bool,
    ) -> Option<TestResponse> {
        self.wait(timeout, |client| parse_partial(client.written()).filter(|so_far| until(so_far)))
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
    /// As [`get`](TestClient::get); and if a header name or value holds a
    /// line break (or the name a colon), which would not make one field
    /// ([`send`](TestClient::send) takes any bytes).
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
            assert!(
                !value.contains(['\r', '\n']) && !name.contains(['\r', '\n', ':']),
                "header {name:?}: {value:?} would not be one field; send() takes raw bytes"
            );
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

    /// Sends a WebSocket handshake for `path` and returns the response:
    /// `101` if the handler upgraded the connection, after which frames
    /// go both ways ([`send_text`](TestClient::send_text),
    /// [`frame`](TestClient::frame), …) through the same code that serves
    /// them on a WebSocket thread.
    ///
    /// # Panics
    ///
    /// As [`get`](TestClient::get).
    pub fn upgrade(&mut self, path: &str) -> TestResponse {
        let headers = [
            ("Upgrade", "websocket"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Version", "13"),
        ];
        self.request("GET", path, &headers, b"")
    }

    /// Sends one WebSocket frame, masked as a client must.
    pub fn send_frame(&mut self, fin: bool, opcode: Opcode, payload: &[u8]) -> &mut Self {
        let bytes = masked_frame(fin, opcode, payload);
        self.send(&bytes)
    }

    /// Sends a text message in one frame.
    pub fn send_text(&mut self, text: &str) -> &mut Self {
        self.send_frame(true, Opcode::Text, text.as_bytes())
    }

    /// Sends a binary message in one frame.
    pub fn send_binary(&mut self, bytes: &[u8]) -> &mut Self {
        self.send_frame(true, Opcode::Binary, bytes)
    }

    /// Sends a close frame with `code` and `reason`.
    pub fn send_close(&mut self, code: CloseCode, reason: &str) -> &mut Self {
        let mut payload = code.0.to_be_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.send_frame(true, Opcode::Close, &payload)
    }

    /// The next whole WebSocket frame the server wrote, taken out; `None`
    /// if there is none (yet). Take the `101` with
    /// [`response`](TestClient::response) first.
    pub fn frame(&mut self) -> Option<TestFrame> {
        let out = self.outbound();
        let (frame, used) = parse_frame(out)?;
        out.drain(..used);
        Some(frame)
    }

    /// The next frame, waiting up to `timeout` for one sent through a
    /// [`WebSocket`] handle on another thread.
    pub fn wait_frame(&mut self, timeout: Duration) -> Option<TestFrame> {
        self.wait(timeout, Self::frame)
    }

    /// Waits up to `timeout` for `take` to find something, driving the
    /// connection each time the waker (a completion, a handle's send) says
    /// there may be more.
    fn wait<T>(&mut self, timeout: Duration, mut take: impl FnMut(&mut Self) -> Option<T>) -> Option<T> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = take(self) {
                return Some(found);
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            // A closed connection gets no more.
            self.pipe()?;
            let _ = self.poll.poll(&mut self.events, Some(left));
            self.run(false);
        }
    }

    /// The in-memory socket, while the server holds the connection.
    fn pipe(&self) -> Option<&Pipe> {
        match &self.link {
            Link::Http(conn) => Some(conn.stream()),
            Link::WebSocket(ws) => Some(ws.conn.stream()),
            Link::Closed => None,
        }
    }

    fn pipe_mut(&mut self) -> Option<&mut Pipe> {
        match &mut self.link {
            Link::Http(conn) => Some(conn.stream_mut()),
            Link::WebSocket(ws) => Some(ws.conn.stream_mut()),
            Link::Closed => None,
        }
    }

    /// What the server wrote and the client has not taken.
    fn outbound(&mut self) -> &mut Vec<u8> {
        match &mut self.link {
            Link::Http(conn) => &mut conn.stream_mut().outbound,
            Link::WebSocket(ws) => &mut ws.conn.stream_mut().outbound,
            Link::Closed => &mut self.leftover,
        }
    }

    /// Drives the connection until it has done all it can: what was
    /// delivered, and what other threads completed or sent meanwhile.
    fn run(&mut self, fin: bool) {
        match self.link {
            Link::Http(_) => self.run_http(fin),
            Link::WebSocket(_) => self.run_websocket(fin),
            Link::Closed => {}
        }
        // At once, where a thread publishes now and then: a test reads
        // what it just did.
        self.ctx.tally.publish_final();
        if let Link::WebSocket(ws) = &mut self.link {
            ws.ctx.tally.publish_final();
        }
    }

    fn run_http(&mut self, fin: bool) {
        let mut fin = fin;
        loop {
            let Link::Http(conn) = &mut self.link else { return };
            let unread_before = conn.stream().unread();
            let now = Instant::now();
            self.ctx.now = now;
            self.ctx.date.update(now);
            let verdict = conn.drive(0, &mut self.ctx, std::mem::take(&mut fin));
            // As a worker at the end of its turn; and written before this
            // returns, so that a test reads its lines at once.
            // (Lines may have been handed on before the flush, too.)
            if let Some(log) = &mut self.ctx.access_log {
                log.flush();
                let _ = log.sync(crate::access_log::SYNC_WAIT);
            }
            if verdict == Verdict::Close {
                return self.leave_http();
            }
            self.ctx.again.take(&mut self.again);
            let again = !self.again.is_empty();
            self.again.clear();
            self.completions.take_all(&mut self.completed);
            let mut completed = false;
            for ready in self.completed.drain(..) {
                completed |= conn.woken(ready.id, 0, &mut self.ctx);
            }
            if !again && !completed && !conn.stream().goes_on(unread_before) {
                return;
            }
        }
    }

    /// The HTTP connection is done: upgraded once its `101` went out (as a
    /// worker hands it to a WebSocket thread), else closed.
    fn leave_http(&mut self) {
        let Link::Http(conn) = std::mem::replace(&mut self.link, Link::Closed) else { return };
        match conn.upgrade_ready() {
            Some((ticket, _)) => self.open_websocket(*conn, ticket),
            None => {
                let mut conn = conn;
                self.leftover = std::mem::take(&mut conn.stream_mut().outbound);
                if let (Some((_, thread)), Some(route)) = (conn.pending_upgrade(), &self.ctx.ws) {
                    route.unreserve(thread);
                }
                conn.release(&mut self.ctx);
            }
        }
    }

    fn open_websocket(&mut self, conn: Conn<Pipe>, ticket: Ticket) {
        let (pipe, peer, early) = conn.into_upgraded(&mut self.ctx);
        let handler = Arc::clone(&self.ctx.handler);
        let mut ctx = WsCtx::new(&self.config, handler, 1, Arc::clone(&self.waker));
        if let Some(tally) = self.ws_tally.take() {
            ctx.tally = tally;
        }
        let handle = WebSocket::new(Arc::clone(&ctx.outbox), WS_KEY, ticket, peer);
        let mut conn = WsConn::new(pipe, handle);
        ctx.now = Instant::now();
        conn.open(&early, &mut ctx);
        self.link = Link::WebSocket(Box::new(WsLink { conn, ctx }));
        self.run_websocket(false);
    }

    /// One WebSocket thread's turns for this connection: read, queue what
    /// handles sent, write.
    fn run_websocket(&mut self, fin: bool) {
        let mut fin = fin;
        loop {
            let Link::WebSocket(ws) = &mut self.link else { return };
            let WsLink { conn, ctx } = &mut **ws;
            let unread_before = conn.stream().unread();
            ctx.now = Instant::now();
            let mut verdict = conn.on_readable(ctx, std::mem::take(&mut fin));
            if verdict == Verdict::Keep {
                // Set-aside frames first, as they were queued first.
                let mut cmds = std::mem::take(&mut ctx.deferred);
                ctx.outbox.take_all(&mut cmds);
                for cmd in cmds.drain(..) {
                    conn.enqueue_current(cmd, ctx);
                }
                ctx.deferred = cmds;
                verdict = conn.flush(ctx);
            }
            ctx.outbox.recycle(&mut ctx.spent);
            if verdict == Verdict::Close {
                return self.close_websocket();
            }
            ctx.again.take(&mut self.again);
            let again = !self.again.is_empty();
            self.again.clear();
            if !again && !ctx.outbox.has_pending() && !conn.stream().goes_on(unread_before) {
                return;
            }
        }
    }

    fn close_websocket(&mut self) {
        let Link::WebSocket(ws) = std::mem::replace(&mut self.link, Link::Closed) else { return };
        let WsLink { mut conn, mut ctx } = *ws;
        self.leftover = std::mem::take(&mut conn.stream_mut().outbound);
        ctx.timers.disarm(WS_KEY);
        ctx.outbox.retire(WS_KEY);
        if let Some(route) = &self.ctx.ws {
            route.unreserve(0);
        }
        conn.finish(&mut ctx);
        ctx.tally.publish_final();
    }

    fn take_response(&mut self, head_only: bool) -> Option<TestResponse> {
        let closed = matches!(self.link, Link::Closed);
        let out = self.outbound();
        let (res, used) = parse_response(out, head_only, closed)?;
        out.drain(..used);
        Some(res)
    }
}
