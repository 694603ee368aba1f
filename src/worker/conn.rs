//! One connection's state machine: read → parse → handle → write, with
//! keep-alive, pipelining, back-pressure and lingering close.
//!
//! A connection's progress is a few small enums: [`State`] (serving,
//! waiting for a response another thread completes, streaming a body,
//! closing, lingering, upgrading); while it serves, where the request
//! being received stands (`incoming::Receiving`, with the body protocol);
//! and how far the client's sending side has got (`rt::input`).

use std::net::SocketAddr;
use std::panic::{self, AssertUnwindSafe};
use std::time::Instant;

use mio::net::TcpStream;

use super::access::{Entry, LogBuffer};
use super::after::After;
use super::ctx::{Ctx, Timer};
use super::incoming::{Answer, Incoming, Next, Plan};
use super::later::{self, Outcome, Pumped, Queue};
use super::socket::Socket;
use super::waiting::{Asked, Awaiting, Streaming, Waiting};
use crate::handler::Handler;
use crate::http::head::{self, Head};
use crate::http::intake::{BodySink, BodyWaker, Intake};
use crate::http::peer::Peer;
use crate::http::reply::StreamKind;
use crate::http::request::{Headers, Method, Request};
use crate::http::response::{Response, Ticket};
use crate::http::status::StatusCode;
use crate::http::write::{ContentRule, Flushed};
use crate::metrics::{Stat, Timeout};
use crate::rt::input::ReadOutcome;
use crate::rt::pool::BufSource;
use crate::rt::socket::{linger, Lingered, Transport};
use crate::rt::verdict::Verdict;
use crate::shutdown::ShutdownState;
use crate::ws_thread::WsRoute;

/// What the connection is doing.
enum State {
    /// Serving requests.
    Open,
    /// A response is being completed by another thread; requests behind
    /// it wait (read as far as the read buffer goes, not answered).
    Awaiting(Awaiting),
    /// A streamed body is being sent; requests behind it wait.
    Streaming(Streaming),
    /// A last response is queued; close once it is sent. `linger`: the
    /// client may still be sending, so half-close and drain first, or the
    /// kernel would answer its bytes with a reset that can destroy the
    /// response before the client reads it.
    Closing { linger: bool },
    /// Half-closed; discarding input until the client closes or the linger
    /// timer fires. The timer restarts while input comes, `restarts` more
    /// times at most: a client still sending a body it was refused (at its
    /// own pace) reads the refusal once done, as nginx's lingering close
    /// lets it, yet one that never stops cannot hold the connection.
    Lingering { restarts: u8 },
    /// A `101` is queued; once it is sent, the connection goes to the
    /// WebSocket thread `thread` (which holds a place for it).
    Upgrading { ticket: Ticket, thread: usize },
}

/// What a connection that is not serving requests does next in a drive.
enum Step {
    /// Flush what was queued, then look again.
    Again,
    /// As `Again`, having queued bytes of a streamed body.
    Pumped,
    /// Read (requests wait behind the response, or the client may leave).
    Read,
    /// The drive ends so.
    Done(Verdict),
}

/// Why a deferred response stopped being waited for.
#[derive(Clone, Copy)]
enum GiveUp {
    /// `response_timeout` ran out.
    ResponseTimeout,
    /// The worker closes every connection (shutdown's grace period
    /// ended, or its poll failed).
    Closing,
}

/// A client connection owned by one worker, over a TCP socket (or, for
/// tests without one, any [`Transport`]).
pub struct Conn<T = TcpStream> {
    sock: Socket<T>,
    incoming: Incoming,
    state: State,
}

/// Reads one `drive` makes at most before letting the worker's other
/// connections have their turn: a client that keeps its socket full (a
/// pipelining flood) is then served in turns, not to the end.
const READS_PER_TURN: usize = 8;

/// Times a lingering close's timer restarts at most while the client
/// keeps sending (once per half its time at most): a linger lasts at most
/// 15 linger timeouts in all (30 s by default, nginx's `lingering_time`).
const LINGER_RESTARTS: u8 = 14;

/// Write-buffer loads of a streamed body one `drive` sends at most, for
/// the same reason.
const PUMPS_PER_TURN: usize = 16;

impl<T: Transport> Conn<T> {
    /// A new connection, holding no buffers yet.
    pub fn new(stream: T, peer: SocketAddr) -> Self {
        Conn { sock: Socket::new(stream, peer), incoming: Incoming::new(), state: State::Open }
    }

    /// The socket, for (de)registration.
    pub fn stream_mut(&mut self) -> &mut T {
        &mut self.sock.stream
    }

    /// The socket.
    #[cfg(feature = "testing")]
    pub fn stream(&self) -> &T {
        &self.sock.stream
    }

    /// Another thread announced `id`: returns whether the connection waits
    /// for it (a deferred response, a stream's writer, or the sink that
    /// paused the body being received, which is asked again now), and so
    /// is to be driven.
    pub fn woken<H: Handler>(&mut self, id: u64, key: usize, ctx: &mut Ctx<H>) -> bool {
        match &self.state {
            State::Awaiting(a) => a.id == id,
            State::Streaming(s) => s.id == id,
            State::Open if self.incoming.paused_for() == Some(id) => {
                self.ask_paused_sink(key, ctx);
                true
            }
            _ => false,
        }
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
        self.pending_upgrade().filter(|_| self.sock.out.is_empty())
    }

    /// The socket and peer, and the bytes the client sent after its
    /// handshake, for a WebSocket thread; returns the buffers to the pools.
    pub fn into_upgraded<H>(mut self, ctx: &mut Ctx<H>) -> (T, SocketAddr, Vec<u8>) {
        let early = self.incoming.pending().to_vec();
        self.release(ctx);
        (self.sock.stream, self.sock.peer.addr(), early)
    }

    /// Between requests, with nothing half-read or unsent.
    pub fn is_idle(&self) -> bool {
        matches!(self.state, State::Open) && self.incoming.between_requests() && self.sock.out.is_empty()
    }

    /// Shutdown has begun: an event stream, which has no end to wait for,
    /// ends now (its client reconnects, to wherever the service went);
    /// returns whether there was one to end, so the worker drives it.
    pub fn end_event_stream(&self) -> bool {
        matches!(&self.state, State::Streaming(s) if later::end_event_stream(s))
    }

    /// The connection is leaving the worker: cancels the response another
    /// thread was completing, and returns the buffers to the pools.
    pub fn release<H>(&mut self, ctx: &mut Ctx<H>) {
        match std::mem::replace(&mut self.state, State::Lingering { restarts: 0 }) {
            State::Awaiting(Awaiting { exchange, .. }) | State::Streaming(Streaming { exchange, .. }) => {
                ctx.tally.add(Stat::DeferredFinished, 1);
                exchange.cancel();
            }
            _ => {}
        }
        self.incoming.discard(ctx);
        self.sock.out.discard(&mut ctx.out_pool);
    }

    /// Makes the progress possible without blocking, within a turn's
    /// budget: flush, serve buffered requests, read more; then arms the
    /// timer for what the connection waits for. `read_closed`: the poll
    /// reported the peer's FIN (or a hang-up), which the reads must reach,
    /// in this turn or a later one.
    pub fn drive<H: Handler>(&mut self, key: usize, ctx: &mut Ctx<H>, read_closed: bool) -> Verdict {
        if read_closed {
            self.incoming.fin_reported();
            let waiting = matches!(self.state, State::Awaiting(_) | State::Streaming(_));
            if (waiting || self.incoming.paused_for().is_some()) && self.sock.stream.peer_gone() {
                if !waiting {
                    // The client left (or reset) before its body's end,
                    // which then can never come: no need to wait for the
                    // application.
                    return Verdict::Close;
                }
                self.client_gone(key, ctx);
            }
        }
        let progress = self.incoming.progress();
        // A short read means the socket was empty; the edge-triggered poll
        // reports the next arrival, so reading again would only cost a
        // syscall returning EAGAIN (unless a FIN is to be reached: see
        // `ReadOutcome::Data`).
        let mut emptied = false;
        let mut reads = 0;
        // Writes of a streamed body queued in this drive.
        let mut pumped = 0;
        loop {
            if !self.sock.out.is_empty() {
                match self.sock.out.flush(&mut self.sock.stream) {
                    Ok(Flushed::All { sent }) => ctx.tally.add(Stat::BytesOut, sent as u64),
                    Ok(Flushed::Blocked { sent }) => {
                        ctx.tally.add(Stat::BytesOut, sent as u64);
                        ctx.timers.arm_since_progress(key, Timer::Write, sent > 0, ctx.now);
                        return Verdict::Keep;
                    }
                    Err(_) => return Verdict::Close,
                }
            }
            self.sock.out.release(&mut ctx.out_pool);
            if !matches!(self.state, State::Open) {
                match self.step(key, ctx) {
                    Step::Again => continue,
                    Step::Pumped if pumped == PUMPS_PER_TURN => {
                        // A writer as fast as its reader would hold the
                        // worker: the rest is for the next turn.
                        ctx.again.push(key);
                        break;
                    }
                    Step::Pumped => {
                        pumped += 1;
                        continue;
                    }
                    Step::Read => {}
                    Step::Done(verdict) => return verdict,
                }
            }
            if self.serve(key, ctx) {
                continue;
            }
            if self.incoming.at_eof() {
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
            match self.incoming.read_from(&mut self.sock.stream, &mut ctx.in_pool) {
                Ok(ReadOutcome::Data { emptied: e, read }) => {
                    emptied = e;
                    ctx.tally.add(Stat::BytesIn, read as u64);
                }
                Ok(ReadOutcome::WouldBlock) => break,
                Ok(ReadOutcome::Eof) => {} // `at_eof` now says so
                // Requests wait behind a response being completed: read
                // no further until it is sent; a client gone meanwhile,
                // whose FIN cannot be read behind them, has gone.
                Ok(ReadOutcome::Full) if !matches!(self.state, State::Open) => {
                    if self.incoming.fin_reported_unread() {
                        return Verdict::Close;
                    }
                    break;
                }
                Ok(ReadOutcome::Full) => {
                    let status = head::too_large(self.incoming.pending(), ctx.rules).status();
                    self.refuse(status, self.unparsed_content(), ctx)
                }
                Err(_) => return Verdict::Close,
            }
        }
        self.incoming.release_buffer(&mut ctx.in_pool);
        if !matches!(self.state, State::Open) {
            self.arm_waiting(key, pumped > 0, ctx);
            return Verdict::Keep;
        }
        if self.incoming.between_requests() {
            if ctx.draining {
                return self.drain_idle(key, ctx);
            }
            // From the last answer (or the connection's start): empty
            // lines, which are skipped, do not keep it open.
            let progressed = self.incoming.progress() != progress;
            ctx.timers.arm_since_progress(key, Timer::Idle, progressed, ctx.now);
        } else {
            // A client whose requests move on (requests answered, body
            // bytes taken) is not stalled: time the request pending now
            // afresh. One whose body a sink paused waits for the
            // application, not the client: timed as a response another
            // thread completes, from the last piece the sink took (a slow
            // reader whose body moves is not stalled either).
            let progressed = self.incoming.progress() != progress;
            let kind = if self.incoming.paused_for().is_some() { Timer::Response } else { Timer::Request };
            ctx.timers.arm_since_progress(key, kind, progressed, ctx.now);
        }
        Verdict::Keep
    }

    /// Asks the sink that paused the body being received again, on its
    /// wake: the next drive reads on if it now says yes. Out of line: the
    /// ordinary path never pauses.
    #[cold]
    #[inline(never)]
    fn ask_paused_sink<H: Handler>(&mut self, key: usize, ctx: &mut Ctx<H>) {
        let Conn { incoming, sock, .. } = self;
        if let Err(status) = incoming.ask_paused_sink(ctx, &mut Serving { sock, key }) {
            // It panicked: the answer goes out in the next drive.
            let content = self.unparsed_content();
            self.refuse(status, content, ctx);
        }
    }

    /// Takes a connection that is not serving requests a step further,
    /// once what was queued is sent. Out of line: the ordinary path never
    /// comes here.
    #[inline(never)]
    fn step<H>(&mut self, key: usize, ctx: &mut Ctx<H>) -> Step {
        match &self.state {
            State::Open => Step::Read,
            State::Awaiting(awaiting) => match later::take_reply(awaiting, &mut self.sock, ctx) {
                Outcome::Answered(after, waiting) => {
                    ctx.waiting = waiting;
                    self.go_on(after, key, ctx);
                    Step::Again
                }
                Outcome::Waiting => Step::Read,
            },
            State::Streaming(streaming) => match later::pump(streaming, &mut self.sock, ctx) {
                Pumped::Queued => Step::Pumped,
                Pumped::Idle => Step::Read,
                Pumped::Ended(after) => {
                    self.go_on(after, key, ctx);
                    Step::Again
                }
            },
            &State::Closing { linger } => Step::Done(self.begin_close(linger, key, ctx)),
            State::Lingering { .. } => Step::Done(self.linger(key, ctx)),
            // Its `101` is out: the worker hands it over.
            State::Upgrading { .. } => Step::Done(Verdict::Close),
        }
    }

    /// At the end of a drive that left a response to another thread:
    /// arms the timer for what the connection waits for.
    #[inline(never)]
    fn arm_waiting<H>(&self, key: usize, pumped: bool, ctx: &mut Ctx<H>) {
        match &self.state {
            // Timed from when the handler deferred, not from each read of
            // the requests waiting behind it.
            State::Awaiting(_) => ctx.timers.arm_once(key, Timer::Response, ctx.now),
            State::Streaming(s) if s.kind == StreamKind::Events => {
                ctx.timers.arm_since_progress(key, Timer::Heartbeat, pumped, ctx.now);
            }
            // A stream's writer sets its pace; a client that does not read
            // is timed by the write timer.
            _ => ctx.timers.disarm(key),
        }
    }

    /// Handles an expired timer of this connection.
    pub fn on_timeout<H: Handler>(&mut self, kind: Timer, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        match (kind, &self.state) {
            (Timer::Request, State::Open) if self.sock.out.is_empty() => {
                ctx.tally.timeout(Timeout::Request);
                self.refuse(StatusCode::REQUEST_TIMEOUT, self.unparsed_content(), ctx);
                self.drive(key, ctx, false)
            }
            (Timer::Response, State::Awaiting(_)) if self.sock.out.is_empty() => {
                self.stop_awaiting(GiveUp::ResponseTimeout, key, ctx)
            }
            (Timer::Response, State::Open)
                if self.incoming.paused_for().is_some() && self.sock.out.is_empty() =>
            {
                crate::logging::log_warn!(
                    "a request body's sink stayed paused longer than response_timeout; answered 503"
                );
                ctx.tally.timeout(Timeout::Response);
                self.refuse(StatusCode::SERVICE_UNAVAILABLE, self.unparsed_content(), ctx);
                self.drive(key, ctx, false)
            }
            // A connection shutdown found fresh, whose request did not
            // come: half-closed and drained too, so one arriving just now
            // meets an end of stream, not a reset.
            (Timer::Linger, State::Open) if self.sock.out.is_empty() => self.begin_close(true, key, ctx),
            (Timer::Heartbeat, State::Streaming(streaming)) => {
                later::keep_alive_comment(streaming, &mut self.sock, ctx);
                self.drive(key, ctx, false)
            }
            _ => {
                if let Some(timeout) = kind.timeout() {
                    ctx.tally.timeout(timeout);
                }
                Verdict::Close
            }
        }
    }

    /// Shutdown's grace period is over: a deferred response that has
    /// sent nothing yet is answered `503`, as when `response_timeout`
    /// runs out, rather than the connection closed without a word;
    /// written as far as the socket takes it now.
    pub fn end_for_shutdown<H: Handler>(&mut self, key: usize, ctx: &mut Ctx<H>) {
        if matches!(self.state, State::Awaiting(_)) && self.sock.out.is_empty() {
            self.stop_awaiting(GiveUp::Closing, key, ctx);
        }
    }

    /// Stops waiting for a deferred response (`why`): answered `503` and
    /// closed, unless its answer came in this very turn.
    fn stop_awaiting<H: Handler>(&mut self, why: GiveUp, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        let State::Awaiting(awaiting) = &self.state else { return Verdict::Close };
        if let Outcome::Answered(after, waiting) = later::take_reply(awaiting, &mut self.sock, ctx) {
            ctx.waiting = waiting;
            self.go_on(after, key, ctx);
            return self.drive(key, ctx, false);
        }
        match why {
            GiveUp::ResponseTimeout => {
                crate::logging::log_warn!(
                    "a deferred response took longer than response_timeout; answered 503"
                );
                ctx.tally.timeout(Timeout::Response);
            }
            GiveUp::Closing => {
                crate::logging::log_warn!(
                    "a deferred response was not ready when its worker closed its connections; answered 503"
                );
            }
        }
        awaiting.exchange.cancel();
        let content = awaiting.asked.content;
        self.go_on(After::Close, key, ctx);
        self.refuse(StatusCode::SERVICE_UNAVAILABLE, content, ctx);
        self.drive(key, ctx, false)
    }

    /// Goes on as `after` says once a response is queued (or its body
    /// ended); an exchange done with goes back to the worker's pool.
    #[inline(never)]
    fn go_on<H>(&mut self, after: After, key: usize, ctx: &mut Ctx<H>) {
        let next = match after {
            After::KeepAlive => State::Open,
            After::Close => State::Closing { linger: !self.incoming.pending().is_empty() },
            After::Upgrade { ticket, thread } => State::Upgrading { ticket, thread },
            After::Later => match ctx.waiting.take().expect("an answer given later waits") {
                Waiting::Reply(awaiting) => {
                    // From this deferral, whatever timer ran before (the
                    // last one's, if it came right behind another).
                    ctx.timers.arm(key, Timer::Response, ctx.now);
                    State::Awaiting(awaiting)
                }
                Waiting::Body(streaming) => State::Streaming(streaming),
            },
        };
        if matches!(next, State::Awaiting(_) | State::Streaming(_)) {
            ctx.tally.add(Stat::DeferredStarted, 1);
        }
        match std::mem::replace(&mut self.state, next) {
            State::Awaiting(Awaiting { exchange, .. }) | State::Streaming(Streaming { exchange, .. }) => {
                ctx.tally.add(Stat::DeferredFinished, 1);
                // A deferred answer that became a stream goes on in the
                // same exchange, given back once, when the stream ends (a
                // pool holding it twice could never reuse it).
                let goes_on = matches!(&self.state, State::Streaming(s) if std::sync::Arc::ptr_eq(&s.exchange, &exchange));
                if !goes_on {
                    ctx.scratch.later.give(exchange);
                }
            }
            _ => {}
        }
    }

    /// The client closed while an answer was being made for it: a reply
    /// made before that still goes out (and what is behind it is served
    /// as usual); else the answer is cancelled, and the connection closes
    /// once what is queued ahead of it is sent. Seen before any write,
    /// since one that blocks (a client no longer reading) returns before
    /// the reads that reach the FIN.
    #[cold]
    fn client_gone<H>(&mut self, key: usize, ctx: &mut Ctx<H>) {
        if let State::Awaiting(awaiting) = &self.state {
            if let Outcome::Answered(after, waiting) = later::take_reply(awaiting, &mut self.sock, ctx) {
                ctx.waiting = waiting;
                self.go_on(after, key, ctx);
            }
        }
        match &self.state {
            State::Awaiting(Awaiting { exchange, .. }) | State::Streaming(Streaming { exchange, .. }) => {
                exchange.cancel();
            }
            _ => return,
        }
        // A stream is cut where it stands, its last chunk never sent: the
        // client can tell it from a whole one.
        self.go_on(After::Close, key, ctx);
    }

    /// Serves the complete requests buffered, as long as responses can be
    /// queued. Returns whether anything was queued (or the connection is
    /// closing), so the caller flushes before going on.
    fn serve<H: Handler>(&mut self, key: usize, ctx: &mut Ctx<H>) -> bool {
        let mut queued = false;
        while matches!(self.state, State::Open) && !self.incoming.pending().is_empty() {
            if !self.sock.out.can_queue() {
                return true;
            }
            let Conn { incoming, sock, .. } = self;
            let next = incoming.next(ctx, &mut Serving { sock, key });
            match next {
                Ok(Next::Answered(After::KeepAlive)) => queued = true,
                Ok(Next::Answered(after)) => {
                    queued = true;
                    self.go_on(after, key, ctx);
                }
                Ok(Next::Incomplete) => break,
                Ok(Next::Started) => {}
                Ok(Next::Continue) => {
                    self.sock.out.push_continue(&mut ctx.out_pool);
                    return true;
                }
                Ok(Next::Refused) => {
                    self.incoming.discard(ctx);
                    self.state = State::Closing { linger: true };
                    return true;
                }
                Err(status) => {
                    self.refuse(status, self.unparsed_content(), ctx);
                    return true;
                }
            }
        }
        queued
    }

    /// Answers a request the server cannot accept (whose method makes
    /// `content` of the answer), then closes.
    fn refuse<H: Handler>(&mut self, status: StatusCode, content: ContentRule, ctx: &mut Ctx<H>) {
        queue_error(&mut self.sock, status, None, content, ctx);
        self.incoming.discard(ctx);
        self.state = State::Closing { linger: true };
    }

    /// What the method of a request refused before its head was whole
    /// (or understood) makes of the answer: a `HEAD` gets no content, even
    /// an error the handler shaped (RFC 9110 §9.3.2); its request line says
    /// so as far as it came.
    fn unparsed_content(&self) -> ContentRule {
        let start = self.incoming.request_start();
        let line = &start[head::leading_empty_lines(start, true)..];
        let method =
            line.iter().position(|&b| b == b' ').and_then(|end| std::str::from_utf8(&line[..end]).ok());
        method.map_or(ContentRule::Send, |m| ContentRule::for_method(Method::from_token(m)))
    }

    /// Shutdown found the connection between requests.
    fn drain_idle<H>(&mut self, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        if self.incoming.progress() == 0 {
            // It has sent nothing yet: its client opened it for a request
            // that is on its way (behind the handshake, or queued for this
            // worker when shutdown began). That request is answered, and
            // the connection closed after it, if it comes within the
            // linger time; else the connection closes then.
            ctx.timers.arm_once(key, Timer::Linger, ctx.now);
            return Verdict::Keep;
        }
        // Half-closed and drained rather than closed: a request the client
        // sends as the server goes then meets an end of stream (which
        // clients retry on a new connection), never a reset.
        self.begin_close(true, key, ctx)
    }

    fn begin_close<H>(&mut self, linger: bool, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        if !linger || self.incoming.at_eof() {
            return Verdict::Close;
        }
        if self.sock.stream.shutdown_write().is_err() {
            return Verdict::Close;
        }
        self.state = State::Lingering { restarts: LINGER_RESTARTS };
        ctx.timers.arm(key, Timer::Linger, ctx.now);
        self.linger(key, ctx)
    }

    /// Reads and drops whatever the client still sends, until it closes:
    /// a few reads per turn at most, so a client that keeps sending cannot
    /// hold the worker; the linger timer ends it regardless.
    fn linger<H>(&mut self, key: usize, ctx: &mut Ctx<H>) -> Verdict {
        self.incoming.discard(ctx);
        // A pooled buffer, lent as scratch for what is thrown away.
        let mut scratch = ctx.in_pool.take();
        let (lingered, came) = linger(&mut self.sock.stream, &mut scratch, READS_PER_TURN);
        ctx.in_pool.give(scratch);
        if let State::Lingering { restarts } = &mut self.state {
            // Restarted once at most per half its time: however often the
            // client's bytes come, the linger lasts a bounded time in all.
            if came && *restarts > 0 && ctx.timers.half_gone(key, ctx.now) {
                *restarts -= 1;
                ctx.timers.arm(key, Timer::Linger, ctx.now);
            }
        }
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

/// The application, answering the requests of connection `key`.
struct Serving<'s, T> {
    sock: &'s mut Socket<T>,
    key: usize,
}

impl<H: Handler, T: Transport> Answer<H> for Serving<'_, T> {
    type Out = After;

    // Out of line: only requests with a body come here, and inlined it
    // would take the request's building out of line from `answer`.
    #[inline(never)]
    fn intake(&mut self, head: &Head<'_>, ctx: &mut Ctx<H>) -> Plan {
        let req = request(head, &[], self.sock.peer);
        let handler = &*ctx.handler;
        let status = match panic::catch_unwind(AssertUnwindSafe(|| handler.intake(&req))) {
            Ok(Intake::Buffer) => return Plan::Buffer,
            Ok(Intake::Stream(sink)) => return Plan::Stream(sink),
            Ok(Intake::Refuse(status)) if status.as_u16() >= 400 => status,
            Ok(Intake::Refuse(status)) => {
                crate::logging::log_error!(
                    "intake refused {} {} with {status}, not an error; answered 500",
                    req.method,
                    req.path()
                );
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Err(_) => {
                crate::logging::log_error!("intake panicked on {} {}; answered 500", req.method, req.path());
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        queue_error(self.sock, status, Some(&req), ContentRule::for_method(req.method), ctx);
        Plan::Refused
    }

    fn answer(&mut self, head: Head<'_>, body: &[u8], ctx: &mut Ctx<H>) -> After {
        let req = request(&head, body, self.sock.peer);
        respond(&req, &head, |h: &H, req, res| h.handle(req, res), self.key, ctx, self.sock)
    }

    fn body_waker(&mut self, ctx: &mut Ctx<H>) -> BodyWaker {
        ctx.scratch.later.body_waker(self.key)
    }

    #[inline(never)]
    fn refuse(&mut self, head: Head<'_>, status: StatusCode, ctx: &mut Ctx<H>) {
        let req = request(&head, &[], self.sock.peer);
        queue_error(self.sock, status, Some(&req), ContentRule::for_method(req.method), ctx);
    }

    #[inline(never)]
    fn answer_streamed(&mut self, head: Head<'_>, sink: Box<dyn BodySink>, ctx: &mut Ctx<H>) -> After {
        let req = request(&head, &[], self.sock.peer);
        respond(&req, &head, move |_: &H, req, res| sink.end(req, res), self.key, ctx, self.sock)
    }
}

/// The request whose head is `head`, with `body`.
#[inline(always)]
fn request<'r>(head: &Head<'r>, body: &'r [u8], peer: Peer) -> Request<'r> {
    Request {
        method: head.method,
        target: head.target,
        version: head.version,
        headers: Headers::new(head.headers),
        body,
        peer,
    }
}

/// Queues the error `status` answers a request (`req`, if it can be
/// trusted; its method makes `content` of the answer) with, shaped by the
/// handler; counted and logged.
fn queue_error<H: Handler, T: Transport>(
    sock: &mut Socket<T>,
    status: StatusCode,
    req: Option<&Request<'_>>,
    content: ContentRule,
    ctx: &mut Ctx<H>,
) {
    ctx.tally.response(status.as_u16());
    ctx.tally.error(status.as_u16());
    let mut res = Response::new(&mut ctx.scratch);
    res.reset_to_error(status);
    shape_error(&*ctx.handler, status, req, &mut res);
    if let Some(log) = &mut ctx.access_log {
        let bytes = if content.sends(status) { res.body_len() } else { 0 };
        log_response(log, req, sock.peer.addr(), status, Some(bytes), Instant::now(), ctx.date.secs());
    }
    sock.out.push_error(&mut ctx.out_pool, &mut res, content, ctx.date.get());
}

/// Has `answer` fill the response to `req` (the handler, or for a body it
/// streamed, the sink) and queues it, or a 500 if that failed; says what
/// the connection does next.
fn respond<H: Handler, T: Transport>(
    req: &Request<'_>,
    head: &Head<'_>,
    answer: impl FnOnce(&H, &Request<'_>, &mut Response<'_>),
    key: usize,
    ctx: &mut Ctx<H>,
    sock: &mut Socket<T>,
) -> After {
    // Names the connection in a Responder the handler may take.
    ctx.scratch.later.key = key;
    let mut res = Response::new(&mut ctx.scratch);
    let start = ctx.access_log.is_some().then(Instant::now);
    if !call_handler(&*ctx.handler, req, &mut res, answer) {
        ctx.tally.error(StatusCode::INTERNAL_SERVER_ERROR.as_u16());
    }
    let asked = Asked::of(req, head.keep_alive, head.keep_alive_explicit);
    if res.is_later() {
        if let (Some(log), Some(start)) = (&mut ctx.access_log, start) {
            log_response(log, Some(req), req.peer_addr(), res.status_code(), None, start, ctx.date.secs());
        }
        let q = Queue {
            pool: &mut ctx.out_pool,
            stamp: ctx.date.get(),
            keep_alive_secs: ctx.keep_alive_secs,
            shutdown: &ctx.shutdown,
        };
        let (after, waiting) = later::answer_later(&mut res, asked, sock, q);
        if !matches!(waiting, Some(Waiting::Reply(_))) {
            // A stream's head went out now; a deferred reply counts when
            // it comes.
            ctx.tally.response(res.status_code().as_u16());
        }
        ctx.waiting = waiting;
        return after;
    }
    let after = match res.upgrade() {
        Some(ticket) => match upgrade_to(ticket.id, ctx.ws.as_deref(), &ctx.shutdown) {
            Ok(thread) => After::Upgrade { ticket, thread },
            Err(status) => {
                ctx.tally.error(status.as_u16());
                res.reset_to_error(status);
                shape_error(&*ctx.handler, status, Some(req), &mut res);
                After::Close
            }
        },
        None if asked.keep_alive && !res.wants_close() && !ctx.shutdown.is_requested() => After::KeepAlive,
        None => After::Close,
    };
    if let (Some(log), Some(start)) = (&mut ctx.access_log, start) {
        // The status is final here: a refused upgrade became an error.
        let bytes = match after {
            After::Upgrade { .. } => None,
            _ if !asked.content.sends(res.status_code()) => Some(0),
            _ => Some(res.body_len()),
        };
        log_response(log, Some(req), req.peer_addr(), res.status_code(), bytes, start, ctx.date.secs());
    }
    ctx.tally.response(res.status_code().as_u16());
    let keep_alive = !matches!(after, After::Close);
    sock.no_delay(keep_alive);
    let meta = asked.meta(keep_alive, ctx.keep_alive_secs);
    sock.out.push_sending(&mut ctx.out_pool, &mut res, &meta, ctx.date.get(), &mut sock.stream);
    after
}

/// Adds the access log line of a response to `req` (`None`: refused
/// before its head was whole), whose handler began at `start`, in the
/// wall clock's second `secs`. Out of line: with the log off, a response
/// costs one branch.
#[inline(never)]
fn log_response(
    log: &mut LogBuffer,
    req: Option<&Request<'_>>,
    peer: SocketAddr,
    status: StatusCode,
    bytes: Option<u64>,
    start: Instant,
    secs: u64,
) {
    let now = Instant::now();
    let entry = Entry {
        peer,
        request: req.map(|r| (r.method().as_str(), r.target(), r.version().as_str())),
        status: status.as_u16(),
        bytes,
        referer: req.and_then(|r| r.header("referer")),
        user_agent: req.and_then(|r| r.header("user-agent")),
        taken: now - start,
        secs,
    };
    log.add(&entry, now);
}

/// Calls `answer` (the handler, or a sink); a panic, an invalid header or a 1xx as the final
/// status becomes a 500, logged. Returns whether the handler's answer
/// stands.
#[inline(always)]
fn call_handler<H: Handler>(
    handler: &H,
    req: &Request<'_>,
    res: &mut Response<'_>,
    answer: impl FnOnce(&H, &Request<'_>, &mut Response<'_>),
) -> bool {
    if panic::catch_unwind(AssertUnwindSafe(|| answer(handler, req, res))).is_err() {
        crate::logging::log_error!("handler panicked on {} {}; answered 500", req.method, req.path());
    } else if res.has_invalid_header() {
        crate::logging::log_error!(
            "handler set an invalid header on {} {}; answered 500",
            req.method,
            req.path()
        );
    } else if res.status_code().as_u16() < 200 && res.upgrade().is_none() {
        // A 1xx is interim: as the final response it would pair the
        // client's next response with the wrong request.
        let status = res.status_code();
        crate::logging::log_error!(
            "handler answered {} {} with {status}; answered 500",
            req.method,
            req.path()
        );
    } else {
        return true;
    }
    res.reset_to_error(StatusCode::INTERNAL_SERVER_ERROR);
    shape_error(handler, StatusCode::INTERNAL_SERVER_ERROR, Some(req), res);
    false
}

/// Lets the handler shape an error the server answers itself
/// ([`Handler::error_response`]); the bodiless error stands if the hook
/// panics, sets an invalid header, upgrades or defers. The status stays.
#[cold]
#[inline(never)]
fn shape_error<H: Handler>(
    handler: &H,
    status: StatusCode,
    req: Option<&Request<'_>>,
    res: &mut Response<'_>,
) {
    let hooked = panic::catch_unwind(AssertUnwindSafe(|| handler.error_response(status, req, res)));
    if hooked.is_err() {
        crate::logging::log_error!("error_response panicked; answered a bodiless {status}");
    }
    if hooked.is_err() || res.has_invalid_header() || res.upgrade().is_some() || res.is_later() {
        res.reset_to_error(status);
    }
    res.status(status);
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

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::config::Config;

    fn hello(_: &Request<'_>, res: &mut Response<'_>) {
        res.body_static(b"hi");
    }

    /// Bytes waiting to be read on `stream` (up to 1 MiB).
    fn unread(stream: &TcpStream) -> usize {
        let mut peek = vec![0u8; 1 << 20];
        stream.peek(&mut peek).unwrap_or(0)
    }

    /// Reads what the server sent so far, without waiting.
    fn answers(client: &mut std::net::TcpStream, into: &mut Vec<u8>) -> usize {
        let mut chunk = [0u8; 65536];
        while let Ok(n) = client.read(&mut chunk) {
            if n == 0 {
                break;
            }
            into.extend_from_slice(&chunk[..n]);
        }
        into.windows(17).filter(|w| w == b"HTTP/1.1 200 OK\r\n").count()
    }

    #[test]
    fn a_full_socket_is_served_in_turns() {
        // A client keeps far more pipelined requests waiting than one turn
        // may read: one drive stops after its budget and asks to come
        // back, with the rest still in the socket.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, peer) = listener.accept().unwrap();
        socket2::SockRef::from(&server).set_recv_buffer_size(1 << 20).unwrap();
        server.set_nonblocking(true).unwrap();
        let mut conn = Conn::new(TcpStream::from_std(server), peer);
        let config = Config::new().workers(1);
        let mut ctx = Ctx::new(&config, Arc::new(hello), Arc::default(), None);
        let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "p".repeat(1000));
        let wire = request.repeat(100).into_bytes();
        let sent = wire.len();
        let mut writer = client.try_clone().unwrap();
        std::thread::spawn(move || writer.write_all(&wire));
        let deadline = Instant::now() + Duration::from_secs(10);
        while unread(conn.stream_mut()) < sent {
            assert!(Instant::now() < deadline, "the requests did not arrive");
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(conn.drive(0, &mut ctx, false), Verdict::Keep);
        let mut turn = Vec::with_capacity(1);
        ctx.again.take(&mut turn);
        assert_eq!(turn, [0], "the connection was not queued for its next turn");
        let read = sent - unread(conn.stream_mut());
        assert!(
            read < sent && read <= READS_PER_TURN * config.read_buffer_size,
            "one turn read {read} bytes"
        );
        // Turn after turn, everything is answered.
        client.set_nonblocking(true).unwrap();
        let mut got = Vec::new();
        for _ in 0..100 {
            conn.drive(0, &mut ctx, false);
            turn.clear();
            ctx.again.take(&mut turn);
            if turn.is_empty() {
                break;
            }
        }
        while answers(&mut client, &mut got) < 100 {
            assert!(Instant::now() < deadline, "not every request was answered");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
