//! One connection's state machine: read → parse → handle → write, with
//! keep-alive, pipelining, back-pressure and lingering close.

use std::net::{Shutdown, SocketAddr};
use std::panic::{self, AssertUnwindSafe};

use mio::net::TcpStream;

use super::body::BodyRx;
use super::ctx::{Ctx, Timer};
use crate::handler::Handler;
use crate::http::head::{self, Head, HeadError};
use crate::http::request::{Headers, Method, Request};
use crate::http::response::Response;
use crate::http::response::Ticket;
use crate::http::status::StatusCode;
use crate::http::target::HostMemo;
use crate::http::write::{Flushed, Outgoing, ResponseMeta};
use crate::rt::input::{Input, ReadOutcome};
use crate::rt::pool::BufSource;
use crate::rt::socket::{linger, Lingered};
use crate::rt::verdict::Verdict;
use crate::shutdown::ShutdownState;
use crate::ws_thread::WsRoute;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Serving requests.
    Open,
    /// A last response is queued; close once it is sent. `linger`: the
    /// client may still be sending, so half-close and drain first, or the
    /// kernel would answer its bytes with a reset that can destroy the
    /// response before the client reads it.
    Closing { linger: bool },
    /// Half-closed; discarding input until the client closes or the linger
    /// timer fires.
    Lingering,
    /// A `101` is queued; once it is sent, the connection goes to the
    /// WebSocket thread `thread` (which holds a place for it).
    Upgrading { ticket: Ticket, thread: usize },
}

/// The outcome of trying to serve one buffered request.
enum Step {
    Served,
    Incomplete,
    /// `100 Continue` was queued; the body is still to come.
    Continued,
    /// The head is in; its body is still to come.
    Started,
}

/// A client connection owned by one worker.
pub struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    input: Input,
    out: Outgoing,
    state: State,
    /// The client sent EOF: serve what is buffered, then close.
    eof: bool,
    /// The poll reported the client's FIN: reads go on until they reach
    /// it, across turns (no new edge will announce it).
    fin_seen: bool,
    /// `100 Continue` went out for the request being received.
    continued: bool,
    /// A body too large for the read buffer, or chunked, being received,
    /// with its head.
    body_rx: Option<BodyRx>,
    /// A request was served or body bytes arrived since the request timer
    /// was armed: what is pending now is new progress, not a stall.
    progressed: bool,
    /// `TCP_NODELAY` is set: done once the connection is known to carry
    /// more than one response (see `serve_one`).
    nodelay: bool,
}

/// Reads one `drive` makes at most before letting the worker's other
/// connections have their turn: a client that keeps its socket full (a
/// pipelining flood) is then served in turns, not to the end.
const READS_PER_TURN: usize = 8;

impl Conn {
    /// A new connection, holding no buffers yet.
    pub fn new(stream: TcpStream, peer: SocketAddr) -> Self {
        Conn {
            stream,
            peer,
            input: Input::new(),
            out: Outgoing::new(),
            state: State::Open,
            eof: false,
            fin_seen: false,
            continued: false,
            body_rx: None,
            progressed: false,
            nodelay: false,
        }
    }

    /// The socket, for (de)registration.
    pub fn stream_mut(&mut self) -> &mut TcpStream {
        &mut self.stream
    }

    /// The WebSocket ticket and thread of a connection whose `101` is queued.
    pub fn pending_upgrade(&self) -> Option<(Ticket, usize)> {
        match self.state {
            State::Upgrading { ticket, thread } => Some((ticket, thread)),
            _ => None,
        }
    }

    /// The ticket and thread of a connection whose `101` is sent: it goes to
    /// its WebSocket thread when it leaves the worker.
    pub fn upgrade_ready(&self) -> Option<(Ticket, usize)> {
        self.pending_upgrade().filter(|_| self.out.is_empty())
    }

    /// The socket and peer, and the bytes the client sent after its
    /// handshake, for a WebSocket thread; returns the buffers to the pools.
    pub fn into_upgraded<H>(mut self, ctx: &mut Ctx<H>) -> (TcpStream, SocketAddr, Vec<u8>) {
        let early = self.input.pending().to_vec();
        self.release(ctx);
        (self.stream, self.peer, early)
    }

    /// Between requests, with nothing half-read or unsent.
    pub fn is_idle(&self) -> bool {
        self.state == State::Open && self.between_requests() && self.out.is_empty()
    }

    /// No part of a request has arrived (head or body).
    fn between_requests(&self) -> bool {
        self.input.is_empty() && self.body_rx.is_none()
    }

    /// Returns the connection's buffers to the worker's pools.
    pub fn release<H>(&mut self, ctx: &mut Ctx<H>) {
        if let Some(rx) = self.body_rx.take() {
            rx.release(&mut ctx.body_pool);
        }
        self.input.discard(&mut ctx.in_pool);
        self.out.discard(&mut ctx.out_pool);
    }

    /// Makes the progress possible without blocking, within a turn's
    /// budget: flush, serve buffered requests, read more; then arms the
    /// timer for what the connection waits for. `read_closed`: the poll
    /// reported the peer's FIN (or a hang-up), which the reads must reach,
    /// in this turn or a later one.
    pub fn drive<H: Handler>(&mut self, key: usize, ctx: &mut Ctx<H>, read_closed: bool) -> Verdict {
        self.fin_seen |= read_closed;
        // A short read means the socket was empty; the edge-triggered poll
        // reports the next arrival, so reading again would only cost a
        // syscall returning EAGAIN. A FIN that came with the data raises no
        // new edge, though, so then read on until EOF.
        let mut emptied = false;
        let mut reads = 0;
        loop {
            if !self.out.is_empty() {
                match self.out.flush(&mut self.stream) {
                    Ok(Flushed::All) => {}
                    Ok(Flushed::Blocked { progressed }) => {
                        ctx.timers.arm_since_progress(key, Timer::Write, progressed, ctx.now);
                        return Verdict::Keep;
                    }
                    Err(_) => return Verdict::Close,
                }
            }
            self.out.release(&mut ctx.out_pool);
            match self.state {
                State::Open => {}
                State::Closing { linger } => return self.begin_close(linger, key, ctx),
                State::Lingering => return self.linger(key, ctx),
                // Its `101` is out: the worker hands it over.
                State::Upgrading { .. } => return Verdict::Close,
            }
            if self.serve(ctx) {
                continue;
            }
            if self.eof {
                return Verdict::Close;
            }
            if emptied {
                break;
            }
            if reads == READS_PER_TURN {
                // More may be waiting, and bytes already there raise no
                // new edge: come back next turn.
                ctx.again.push(key);
                break;
            }
            reads += 1;
            match self.input.read_from(&mut self.stream, &mut ctx.in_pool) {
                Ok(ReadOutcome::Data { emptied: e }) => emptied = e && !self.fin_seen,
                Ok(ReadOutcome::WouldBlock) => break,
                Ok(ReadOutcome::Eof) => self.eof = true,
                Ok(ReadOutcome::Full) => self.refuse(head::too_large(self.input.pending()).status(), ctx),
                Err(_) => return Verdict::Close,
            }
        }
        self.input.release(&mut ctx.in_pool);
        if self.between_requests() {
            if ctx.draining {
                return Verdict::Close;
            }
            ctx.timers.arm(key, Timer::Idle, ctx.now);
        } else {
            // A client that keeps completing requests, or sending body
            // bytes, is not stalled: time the request pending now afresh.
            let progressed = std::mem::take(&mut self.progressed);
            ctx.timers.arm_since_progress(key, Timer::Request, progressed, ctx.now);
        }
        Verdict::Keep
    }

    /// Handles an expired timer of this connection.
    pub fn on_timeout<H: Handler>(&mut self, kind: Timer, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        match kind {
            Timer::Request if self.state == State::Open && self.out.is_empty() => {
                self.refuse(StatusCode::REQUEST_TIMEOUT, ctx);
                self.drive(key, ctx, false)
            }
            _ => Verdict::Close,
        }
    }

    /// Serves the complete requests buffered, as long as responses can be
    /// queued. Returns whether anything changed (a response was queued or
    /// the connection is closing), so the caller flushes before going on.
    fn serve<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> bool {
        let mut progressed = false;
        while self.state == State::Open && !self.input.is_empty() {
            if !self.out.can_queue() {
                return true;
            }
            match self.serve_one(ctx) {
                Ok(Step::Served) => progressed = true,
                Ok(Step::Incomplete) => break,
                Ok(Step::Continued) => return true,
                Ok(Step::Started) => {
                    if self.body_rx.is_none() {
                        break; // the body arrives in the read buffer
                    }
                }
                Err(e) => {
                    self.refuse(e.status(), ctx);
                    return true;
                }
            }
        }
        progressed
    }

    /// Parses the next request; if it is complete, calls the handler and
    /// queues the response. A body that will not fit the read buffer, or
    /// is chunked, is received apart, behind a copy of its head, so every
    /// read of the body gets the whole read buffer, whatever the head's
    /// size; its request is answered from there once it is whole.
    fn serve_one<H: Handler>(&mut self, ctx: &mut Ctx<H>) -> Result<Step, HeadError> {
        if let Some(rx) = &mut self.body_rx {
            let used = rx.absorb(self.input.pending(), &mut ctx.body_pool)?;
            self.input.consume(used);
            self.progressed |= used > 0;
            if !rx.is_complete() {
                return Ok(Step::Incomplete);
            }
        }
        let pending = self.input.pending();
        let pending_len = pending.len();
        let mut slots = head::header_slots();
        let parsed = if self.input.scanned == 0 && self.body_rx.is_none() {
            // Fast path: the whole head usually arrives in one read.
            head::parse(pending, &mut slots, ctx.rules, &mut ctx.hosts)?
        } else if let Some(rx) = &self.body_rx {
            // Parsed when it arrived; again now, from its copy.
            Some(reparse(rx.head(), &mut slots, ctx.rules)?)
        } else {
            // A slow head: look at the new bytes only, parse once it ended.
            match head::find_end(pending, self.input.scanned) {
                None => None,
                Some(end) => Some(
                    head::parse(&pending[..end], &mut slots, ctx.rules, &mut ctx.hosts)?
                        .ok_or(HeadError::Malformed)?,
                ),
            }
        };
        let Some(head) = parsed else {
            // Empty lines before a request are ignored (the lexer skips
            // them too): dropped now, so a connection that sent only those
            // is idle, and a slow head is scanned from its request line.
            let skip = head::leading_empty_lines(pending, ctx.rules.bare_lf);
            // A partial empty line (a lone CR) is looked at whole next time:
            // scanning for the head's end from it would take the empty
            // lines for that end.
            let partial_line = matches!(pending.get(skip), Some(b'\r' | b'\n'));
            self.input.consume(skip);
            self.input.scanned = if partial_line { 0 } else { pending_len - skip };
            return Ok(Step::Incomplete);
        };
        let (body, consumed) = if let Some(rx) = &self.body_rx {
            (rx.body(), 0)
        } else {
            if head.content_length > ctx.max_body as u64 {
                return Err(HeadError::BodyTooLarge);
            }
            let total = head.len as u64 + head.content_length;
            // 100 Continue is for a client still holding its body back.
            let want_continue = head.expect_continue && pending_len == head.len;
            if head.chunked || total > ctx.in_pool.buf_size() as u64 {
                let (len, chunked) = (head.content_length, head.chunked);
                let rx = BodyRx::start(&pending[..head.len], len, chunked, ctx.max_body, &mut ctx.body_pool)?;
                self.input.consume(head.len);
                self.body_rx = Some(rx);
                return Ok(self.maybe_continue(want_continue, ctx));
            }
            let total = total as usize;
            if pending_len < total {
                return Ok(self.maybe_continue(want_continue, ctx));
            }
            (&pending[head.len..total], total)
        };
        let req = Request {
            method: Method::from_token(head.method),
            target: head.target,
            version: head.version,
            headers: Headers::new(head.headers),
            body,
            peer: self.peer,
        };
        let mut res = Response::new(&mut ctx.scratch);
        let handler = &*ctx.handler;
        if panic::catch_unwind(AssertUnwindSafe(|| handler.handle(&req, &mut res))).is_err() {
            crate::logging::log_error!("handler panicked on {} {}; answered 500", req.method, req.path());
            res.reset_to_error(StatusCode::INTERNAL_SERVER_ERROR);
        } else if res.has_invalid_header() {
            crate::logging::log_error!(
                "handler set an invalid header on {} {}; answered 500",
                req.method,
                req.path()
            );
            res.reset_to_error(StatusCode::INTERNAL_SERVER_ERROR);
        } else if res.status_code().as_u16() < 200 && res.upgrade().is_none() {
            // A 1xx is interim: as the final response it would pair the
            // client's next response with the wrong request.
            crate::logging::log_error!(
                "handler answered {} {} with {}; answered 500",
                req.method,
                req.path(),
                res.status_code()
            );
            res.reset_to_error(StatusCode::INTERNAL_SERVER_ERROR);
        }
        let upgrade =
            res.upgrade().and_then(|ticket| match upgrade_to(ticket.id, ctx.ws.as_deref(), &ctx.shutdown) {
                Ok(thread) => Some(State::Upgrading { ticket, thread }),
                Err(status) => {
                    res.reset_to_error(status);
                    None
                }
            });
        let keep_alive =
            upgrade.is_some() || head.keep_alive && !res.wants_close() && !ctx.shutdown.is_requested();
        if keep_alive && !self.nodelay {
            // Nagle holds a small write back only while earlier data is
            // unacknowledged, so a connection's first response never
            // waits; later ones could, behind a delayed ACK. A connection
            // that closes after one response never needs the syscall.
            self.nodelay = true;
            if let Err(e) = self.stream.set_nodelay(true) {
                crate::logging::log_debug!("TCP_NODELAY failed for {}: {e}", self.peer);
            }
        }
        let meta = ResponseMeta {
            keep_alive,
            confirm_keep_alive: keep_alive && head.keep_alive_explicit,
            keep_alive_secs: ctx.keep_alive_secs,
            head_only: req.method == Method::Head,
        };
        self.out.push_sending(&mut ctx.out_pool, &mut res, &meta, ctx.date.get(), &mut self.stream);
        self.input.consume(consumed);
        if let Some(rx) = self.body_rx.take() {
            rx.release(&mut ctx.body_pool);
        }
        self.continued = false;
        self.progressed = true;
        if let Some(upgrading) = upgrade {
            self.state = upgrading;
        } else if !keep_alive {
            self.state = State::Closing { linger: !self.input.is_empty() };
        }
        Ok(Step::Served)
    }

    /// Queues `100 Continue` once per request, if the client waits for it
    /// (RFC 9110 §10.1.1); a client already sending its body does not.
    fn maybe_continue<H>(&mut self, wanted: bool, ctx: &mut Ctx<H>) -> Step {
        if !wanted || self.continued {
            return Step::Started;
        }
        self.continued = true;
        self.out.push_continue(&mut ctx.out_pool);
        Step::Continued
    }

    /// Answers a request the server cannot accept, then closes.
    fn refuse<H>(&mut self, status: StatusCode, ctx: &mut Ctx<H>) {
        let mut res = Response::new(&mut ctx.scratch);
        res.reset_to_error(status);
        self.out.push_error(&mut ctx.out_pool, &mut res, ctx.date.get());
        if let Some(rx) = self.body_rx.take() {
            rx.release(&mut ctx.body_pool);
        }
        self.input.discard(&mut ctx.in_pool);
        self.state = State::Closing { linger: true };
    }

    fn begin_close<H>(&mut self, linger: bool, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        if !linger || self.eof {
            return Verdict::Close;
        }
        if self.stream.shutdown(Shutdown::Write).is_err() {
            return Verdict::Close;
        }
        self.state = State::Lingering;
        ctx.timers.arm(key, Timer::Linger, ctx.now);
        self.linger(key, ctx)
    }

    /// Reads and drops whatever the client still sends, until it closes:
    /// a few reads per turn at most, so a client that keeps sending cannot
    /// hold the worker; the linger timer ends it regardless.
    fn linger<H>(&mut self, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        self.input.discard(&mut ctx.in_pool);
        // A pooled buffer, lent as scratch for what is thrown away.
        let mut scratch = ctx.in_pool.take();
        let lingered = linger(&mut self.stream, &mut scratch, READS_PER_TURN);
        ctx.in_pool.give(scratch);
        match lingered {
            Lingered::Done => Verdict::Close,
            Lingered::Blocked => Verdict::Keep,
            Lingered::More => {
                // More may be waiting, and a client blocked on a full window
                // sends nothing new that would raise an edge.
                ctx.again.push(key);
                Verdict::Keep
            }
        }
    }
}

/// The head of a request whose body was received apart, parsed again: it
/// was valid when it arrived. Out of the way of the common path.
#[cold]
#[inline(never)]
fn reparse<'b>(
    head: &'b [u8],
    slots: &'b mut head::HeaderSlots<'b>,
    rules: head::Rules,
) -> Result<Head<'b>, HeadError> {
    head::parse(head, slots, rules, &mut HostMemo::new())?.ok_or(HeadError::Malformed)
}

/// Reserves a WebSocket thread's place for connection `id`, or says which
/// error the upgrade request gets instead of its `101`.
fn upgrade_to(id: u64, route: Option<&WsRoute>, shutdown: &ShutdownState) -> Result<usize, StatusCode> {
    let Some(route) = route else {
        crate::logging::log_error!(
            "the handler upgraded a connection to WebSocket, but its type does not set \
             `Handler::WEBSOCKETS`; answered 500"
        );
        return Err(StatusCode::INTERNAL_SERVER_ERROR);
    };
    if shutdown.is_requested() {
        return Err(StatusCode::SERVICE_UNAVAILABLE);
    }
    route.reserve(id).ok_or_else(|| {
        crate::logging::log_warn!("WebSocket threads are full (max_connections); answered 503");
        StatusCode::SERVICE_UNAVAILABLE
    })
}
