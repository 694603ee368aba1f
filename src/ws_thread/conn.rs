//! One WebSocket connection: frames in (checked, unmasked, reassembled,
//! answered), frames out (queued, written as the socket allows), and the
//! closing handshake.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::Waker;

use super::out::{OutQueue, Written};
use crate::config::Config;
use crate::handler::Handler;
use crate::metrics::{Stat, Tally};
use crate::rt::again::Again;
use crate::rt::input::{Input, ReadOutcome};
use crate::rt::pool::{release_freed, TrimClock};
use crate::rt::socket::{linger, Lingered, Transport};
use crate::rt::timer::{TimerKind, Timers};
use crate::rt::verdict::Verdict;
use crate::ws::frame::{self, FrameHead, Opcode, Utf8Stream, MAX_HEADER};
use crate::ws::handle::{Cmd, Outbox, WebSocket};
use crate::ws::pool::VecPool;
use crate::ws::{CloseCode, Message};

/// What a WebSocket connection waits for; each kind has its own duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// Frames the client is not reading.
    Write,
    /// A close sent, waiting for the client's answer (or a failed
    /// connection draining what the client still sends).
    Linger,
}

impl TimerKind for Timer {
    const ALL: &'static [Self] = &[Timer::Write, Timer::Linger];

    fn index(self) -> usize {
        self as usize
    }
}

impl Timer {
    /// How long a connection may wait so.
    pub fn duration(self, config: &Config) -> std::time::Duration {
        match self {
            Timer::Write => config.write_timeout,
            Timer::Linger => config.linger_timeout,
        }
    }
}

/// What a connection needs from its WebSocket thread.
pub struct WsCtx<H> {
    pub handler: Arc<H>,
    pub outbox: Arc<Outbox>,
    /// Read and reassembly buffers.
    pub pool: VecPool,
    /// Frame buffers written out this round, to go back to the outbox.
    pub spent: Vec<Vec<u8>>,
    /// Frames for other connections that a hook's connection took out of
    /// the outbox with its own (see `WsConn::take_own_sends`); the thread
    /// applies them before what the outbox holds, as they were queued first.
    pub deferred: Vec<Cmd>,
    /// Scratch for `WsConn::take_own_sends`, kept for its capacity.
    pub taken: Vec<Cmd>,
    /// Connections to drive again next turn, readiness or not: reading
    /// stopped at its per-turn cap, or resumed after back-pressure.
    pub again: Again,
    pub timers: Timers<Timer>,
    pub now: Instant,
    pub max_message: usize,
    /// Unsent bytes past which a connection stops reading (its replies
    /// would pile up), until half of them are written.
    pub high_water: usize,
    /// Unsent bytes a connection may hold, even after trying to write
    /// them, before it is dropped as a client that does not read.
    pub max_buffered: usize,
    /// This thread's counters.
    pub tally: Tally,
    /// When the pools are trimmed next.
    pub trim: TrimClock,
}

impl<H> WsCtx<H> {
    /// Trims the read and reassembly pool and the outbox's frame buffers
    /// (what a burst grew goes back once it is over).
    pub fn trim_pools(&mut self) {
        release_freed(self.pool.trim() + self.outbox.trim_spares(), self.now);
    }

    /// Bytes of the free buffers the pools hold.
    pub fn pool_bytes(&self) -> usize {
        self.pool.free_bytes() + self.outbox.spare_bytes()
    }

    /// A WebSocket thread's context for `capacity` connections; handles
    /// wake the thread through `waker`.
    pub fn new(config: &Config, handler: Arc<H>, capacity: usize, waker: Arc<Waker>) -> Self {
        let max_message = config.max_message_size;
        // Small limits still leave room for a burst of small frames.
        let high_water = max_message.max(64 * 1024);
        let max_payload = 2 * high_water;
        WsCtx {
            handler,
            outbox: Arc::new(Outbox::new(capacity, max_payload, waker)),
            pool: VecPool::new(config.read_buffer_size, max_message + MAX_HEADER, capacity.min(1024)),
            spent: Vec::with_capacity(TURN_CAPACITY),
            deferred: Vec::with_capacity(TURN_CAPACITY),
            taken: Vec::with_capacity(TURN_CAPACITY),
            again: Again::new(capacity),
            timers: Timers::new(capacity, |kind: Timer| kind.duration(config)),
            now: Instant::now(),
            max_message,
            high_water,
            max_buffered: max_payload + MAX_HEADER,
            tally: Tally::detached(),
            trim: TrimClock::new(Instant::now()),
        }
    }
}

/// Frames handled per turn before they are written: the scratch lists'
/// first capacity.
pub const TURN_CAPACITY: usize = 1024;

/// Reads per connection per turn of the thread's loop, so one fast sender
/// cannot hold the others up.
const READS_PER_TURN: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Open,
    /// We sent a close frame and wait for the client's.
    CloseSent,
    /// The client's close was answered: once that is written, close, or
    /// drain if the client sent more.
    Closing,
    /// We failed the connection (a close frame with the error is queued):
    /// once it is written, drain.
    Failing,
    /// Half-closed after the last close frame went out: what the client
    /// still sends is read and dropped until it closes (or the linger
    /// timer fires), so it reads that frame rather than a reset.
    Draining,
}

/// A WebSocket connection owned by one WebSocket thread, over a TCP
/// socket (or memory, for `peregrine::testing`).
pub struct WsConn<T = TcpStream> {
    stream: T,
    handle: WebSocket,
    /// Unprocessed input; a buffer is held only while some is pending.
    input: Input<Vec<u8>>,
    /// The fragments of the message being received, and its type.
    partial: Option<(Opcode, Vec<u8>)>,
    /// The UTF-8 of the text message being received, checked as it comes.
    utf8: Utf8Stream,
    /// Bytes of the payload of the frame at the front of `input` already
    /// unmasked (and checked, if text): a frame that arrives in parts is
    /// looked at part by part.
    fed: usize,
    /// Unsent frames.
    out: OutQueue,
    state: State,
    /// The close code the hook will be told.
    code: Option<CloseCode>,
    /// More output was queued than a connection may buffer.
    overflow: bool,
    /// Reading stopped until the output goes below half `high_water`.
    read_paused: bool,
    /// Queued for a flush this turn.
    dirty: bool,
}

impl<T: Transport> WsConn<T> {
    /// A connection that was just handed over.
    pub fn new(stream: T, handle: WebSocket) -> Self {
        WsConn {
            stream,
            handle,
            input: Input::new(),
            partial: None,
            utf8: Utf8Stream::default(),
            fed: 0,
            out: OutQueue::default(),
            state: State::Open,
            code: None,
            overflow: false,
            read_paused: false,
            dirty: false,
        }
    }

    /// The socket, for (de)registration.
    pub fn stream_mut(&mut self) -> &mut T {
        &mut self.stream
    }

    /// The socket.
    #[cfg(feature = "testing")]
    pub fn stream(&self) -> &T {
        &self.stream
    }

    /// Calls the open hook, then handles any frames that arrived with the
    /// handshake.
    pub fn open<H: Handler>(&mut self, early: &[u8], ctx: &mut WsCtx<H>) {
        ctx.tally.add(Stat::WsOpened, 1);
        self.call(ctx, |h, ws| h.ws_open(ws));
        if !early.is_empty() {
            self.input.preload(early, &mut ctx.pool);
            self.process(ctx);
            self.input.release(&mut ctx.pool);
        }
    }

    /// Marks the connection for this turn's flush; false if it already is.
    pub fn mark_dirty(&mut self) -> bool {
        !std::mem::replace(&mut self.dirty, true)
    }

    /// Reads and handles what the client sent. `read_closed`: the poll saw
    /// the client's FIN, which the reads must reach.
    pub fn on_readable<H: Handler>(&mut self, ctx: &mut WsCtx<H>, read_closed: bool) -> Verdict {
        if read_closed {
            self.input.fin_reported();
        }
        if !self.input.is_empty() {
            // Frames left when back-pressure stopped the last pass.
            self.process(ctx);
        }
        for _ in 0..READS_PER_TURN {
            if matches!(self.state, State::Closing | State::Failing) || self.read_paused {
                // Nothing more is read until the last frame is out, or the
                // client has read enough of its replies.
                return Verdict::Keep;
            }
            if let State::Draining = self.state {
                return self.linger(ctx);
            }
            match self.input.read_from(&mut self.stream, &mut ctx.pool) {
                Ok(ReadOutcome::Data { emptied, .. }) => {
                    self.process(ctx);
                    if emptied {
                        self.input.release(&mut ctx.pool);
                        return Verdict::Keep;
                    }
                }
                Ok(ReadOutcome::WouldBlock) => {
                    self.input.release(&mut ctx.pool);
                    return Verdict::Keep;
                }
                // `process` made room for every frame whose head it read,
                // and a head is shorter than any buffer: a full buffer is
                // not reachable, and would be a client to drop.
                Ok(ReadOutcome::Eof | ReadOutcome::Full) | Err(_) => return Verdict::Close,
            }
        }
        // More may be waiting, and no new edge will say so.
        ctx.again.push(self.key());
        Verdict::Keep
    }

    /// Queues a frame another thread (or a hook) sent.
    pub fn enqueue<H>(&mut self, frame: Vec<u8>, ctx: &mut WsCtx<H>) {
        if self.state != State::Open {
            // After a close frame, nothing more may be sent (§5.5.1).
            ctx.spent.push(frame);
            return;
        }
        if frame[0] & 0x0F == Opcode::Close.bits() {
            self.state = State::CloseSent;
            let code = u16::from_be_bytes([frame[2], frame[3]]);
            self.code.get_or_insert(CloseCode(code));
            ctx.timers.arm(self.key(), Timer::Linger, ctx.now);
        } else if matches!(frame[0] & 0x0F, 0x1 | 0x2) {
            ctx.tally.add(Stat::WsMessagesOut, 1);
        }
        self.put(frame, ctx);
    }

    /// Writes what is queued; closes, half-closes or arms timers as the
    /// state asks.
    pub fn flush<H>(&mut self, ctx: &mut WsCtx<H>) -> Verdict {
        if self.overflow {
            crate::logging::log_debug!("dropping a WebSocket client that does not read its messages");
            return Verdict::Close;
        }
        self.dirty = false;
        let key = self.key();
        let written = self.out.write_to(&mut self.stream, &mut ctx.spent);
        if self.read_paused && self.out.held() <= ctx.high_water / 2 {
            self.read_paused = false;
            ctx.again.push(key);
        }
        match written {
            Ok(Written::All) => {}
            Ok(Written::Blocked { progressed }) => {
                if self.state != State::CloseSent {
                    ctx.timers.arm_since_progress(key, Timer::Write, progressed, ctx.now);
                }
                return Verdict::Keep;
            }
            Err(_) => return Verdict::Close,
        }
        if self.state == State::Closing && !self.unread() {
            return Verdict::Close;
        }
        match self.state {
            State::Open if ctx.timers.armed(key) == Some(Timer::Write) => ctx.timers.disarm(key),
            State::Closing | State::Failing => {
                if self.stream.shutdown_write().is_err() {
                    return Verdict::Close;
                }
                self.state = State::Draining;
                self.input.discard(&mut ctx.pool);
                ctx.timers.arm(key, Timer::Linger, ctx.now);
                return self.linger(ctx);
            }
            _ => {}
        }
        Verdict::Keep
    }

    /// Sends a close frame (server shutdown, or a hook's panic).
    pub fn close_with<H>(&mut self, code: CloseCode, ctx: &mut WsCtx<H>) {
        if self.state == State::Open {
            self.state = State::CloseSent;
            self.code.get_or_insert(code);
            self.put_control(Opcode::Close, &code.0.to_be_bytes(), ctx);
            ctx.timers.arm(self.key(), Timer::Linger, ctx.now);
        }
    }

    /// The connection is gone: tells the handler, returns the buffers.
    pub fn finish<H: Handler>(mut self, ctx: &mut WsCtx<H>) {
        ctx.tally.add(Stat::WsClosed, 1);
        let code = self.code.unwrap_or(CloseCode::ABNORMAL);
        let handler = &*ctx.handler;
        let ws = &self.handle;
        if panic::catch_unwind(AssertUnwindSafe(|| handler.ws_close(ws, code))).is_err() {
            crate::logging::log_error!("ws_close panicked");
        }
        self.input.discard(&mut ctx.pool);
        if let Some((_, buf)) = self.partial.take() {
            ctx.pool.give(buf);
        }
        self.out.discard(&mut ctx.spent);
    }

    /// Whether the client sent more than its close frame (against §5.5.1,
    /// but a client may): closing with bytes unread would send a reset,
    /// which can destroy the close frame before the client reads it, so
    /// such a connection is drained first. One read looks; what it takes
    /// is dropped.
    fn unread(&mut self) -> bool {
        if !self.input.is_empty() {
            return true;
        }
        let mut scratch = [0u8; 512];
        let (lingered, came) = linger(&mut self.stream, &mut scratch, 1);
        came && lingered != Lingered::Done
    }

    /// Reads and drops what a failed connection's client still sends, until
    /// it closes (a lingering close); the linger timer ends it anyway.
    fn linger<H>(&mut self, ctx: &mut WsCtx<H>) -> Verdict {
        let mut scratch = [0u8; 4096];
        match linger(&mut self.stream, &mut scratch, 8).0 {
            Lingered::Done => Verdict::Close,
            Lingered::Blocked => Verdict::Keep,
            Lingered::More => {
                // A client blocked on a full window raises no new edge.
                ctx.again.push(self.key());
                Verdict::Keep
            }
        }
    }

    fn key(&self) -> usize {
        self.handle.key()
    }

    /// Handles every whole frame in the input buffer.
    fn process<H: Handler>(&mut self, ctx: &mut WsCtx<H>) {
        // Out of `self` while frames borrow it and hooks run.
        let mut input = std::mem::take(&mut self.input);
        while matches!(self.state, State::Open | State::CloseSent) && !input.is_empty() {
            if self.out.held() >= ctx.high_water {
                // Back-pressure: the rest waits until the client reads.
                self.read_paused = true;
                break;
            }
            let head = match frame::parse_head(input.pending(), ctx.max_message) {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(code) => {
                    self.fail(code, ctx);
                    break;
                }
            };
            if self.overflows(&head, ctx.max_message) {
                self.fail(CloseCode::MESSAGE_TOO_BIG, ctx);
                break;
            }
            let total = head.header_len + head.payload_len as usize;
            if input.pending().len() < total {
                let arrived = &mut input.pending_mut()[head.header_len..];
                if let Err(code) = self.check_text(&head, arrived, false) {
                    self.fail(code, ctx);
                    break;
                }
                // The rest of the frame arrives behind it.
                input.reserve(total, &mut ctx.pool);
                break;
            }
            let payload = &mut input.pending_mut()[head.header_len..total];
            match self.check_text(&head, payload, true) {
                Ok(()) => self.on_frame(&head, payload, ctx),
                Err(code) => self.fail(code, ctx),
            }
            self.fed = 0;
            input.consume(total);
        }
        if let State::Failing = self.state {
            // Failed by a frame of this pass: the rest is not read either.
            input.discard(&mut ctx.pool);
        }
        self.input = input;
    }

    fn on_frame<H: Handler>(&mut self, head: &FrameHead, payload: &[u8], ctx: &mut WsCtx<H>) {
        match head.opcode {
            Opcode::Ping if self.state == State::Open => self.put_control(Opcode::Pong, payload, ctx),
            Opcode::Ping | Opcode::Pong => {}
            Opcode::Close => self.on_close(payload, ctx),
            // After our close, data is dropped (§1.4).
            _ if self.state != State::Open => {}
            Opcode::Text | Opcode::Binary if self.partial.is_some() => {
                self.fail(CloseCode::PROTOCOL_ERROR, ctx)
            }
            Opcode::Text | Opcode::Binary if head.fin => self.deliver(head.opcode, payload, ctx),
            Opcode::Text | Opcode::Binary => {
                let mut buf = ctx.pool.take_empty();
                buf.extend_from_slice(payload);
                self.partial = Some((head.opcode, buf));
            }
            Opcode::Continuation => self.on_continuation(head.fin, payload, ctx),
        }
    }

    fn on_continuation<H: Handler>(&mut self, fin: bool, payload: &[u8], ctx: &mut WsCtx<H>) {
        let Some((_, buf)) = &mut self.partial else {
            return self.fail(CloseCode::PROTOCOL_ERROR, ctx);
        };
        debug_assert!(
            buf.len() + payload.len() <= ctx.max_message,
            "`overflows` let a message past its limit"
        );
        buf.extend_from_slice(payload);
        if !fin {
            return;
        }
        let (opcode, buf) = self.partial.take().expect("checked above");
        self.deliver(opcode, &buf, ctx);
        ctx.pool.give(buf);
    }

    /// Whether `head` continues a message past `max_message`: known from
    /// its header, before its payload is read (a first frame that large
    /// was refused when its header was parsed).
    fn overflows(&self, head: &FrameHead, max_message: usize) -> bool {
        match (&self.partial, head.opcode) {
            (Some((_, buf)), Opcode::Continuation) if self.state == State::Open => {
                buf.len() as u64 + head.payload_len > max_message as u64
            }
            _ => false,
        }
    }

    /// Unmasks the payload of the frame at the front that is not yet, and
    /// checks its UTF-8 if it carries text: `payload` is what arrived of it
    /// (all of it if `whole`). Invalid text fails the connection where it
    /// is, not at the end of its frame or message (RFC 6455 §8.1). A
    /// message of one frame that came whole is checked as it is delivered
    /// instead, once.
    fn check_text(&mut self, head: &FrameHead, payload: &mut [u8], whole: bool) -> Result<(), CloseCode> {
        frame::unmask(&mut payload[self.fed..], head.mask, self.fed);
        let first = self.fed == 0;
        let fed = std::mem::replace(&mut self.fed, payload.len());
        let text = self.state == State::Open
            && match head.opcode {
                Opcode::Text => self.partial.is_none(),
                Opcode::Continuation => matches!(self.partial, Some((Opcode::Text, _))),
                _ => false,
            };
        if !text || (whole && first && head.fin && head.opcode == Opcode::Text) {
            return Ok(());
        }
        if first && head.opcode == Opcode::Text {
            self.utf8.reset();
        }
        self.utf8.feed(&payload[fed..])?;
        match whole && head.fin {
            true => self.utf8.finish(),
            false => Ok(()),
        }
    }

    fn deliver<H: Handler>(&mut self, opcode: Opcode, payload: &[u8], ctx: &mut WsCtx<H>) {
        let msg = if opcode == Opcode::Text {
            match std::str::from_utf8(payload) {
                Ok(text) => Message::Text(text),
                Err(_) => return self.fail(CloseCode::INVALID_DATA, ctx),
            }
        } else {
            Message::Binary(payload)
        };
        ctx.tally.add(Stat::WsMessagesIn, 1);
        self.call(ctx, |h, ws| h.ws_message(ws, msg));
    }

    fn on_close<H>(&mut self, payload: &[u8], ctx: &mut WsCtx<H>) {
        match frame::parse_close(payload) {
            Err(code) => self.fail(code, ctx),
            Ok(code) => {
                self.code = Some(code);
                if self.state == State::Open {
                    // Echo the code (§5.5.1); a close without one gets none.
                    let echo: &[u8] = if code == CloseCode::NO_STATUS { &[] } else { &payload[..2] };
                    self.put_control(Opcode::Close, echo, ctx);
                }
                self.state = State::Closing;
            }
        }
    }

    /// Fails the connection (§7.1.7): a close frame with `code`, then no
    /// more frames are read.
    fn fail<H>(&mut self, code: CloseCode, ctx: &mut WsCtx<H>) {
        if self.state == State::Open {
            self.put_control(Opcode::Close, &code.0.to_be_bytes(), ctx);
        }
        self.code.get_or_insert(code);
        self.state = State::Failing;
        if let Some((_, buf)) = self.partial.take() {
            ctx.pool.give(buf);
        }
        // Nothing more is read from a failed connection.
        self.input.discard(&mut ctx.pool);
    }

    /// Runs a hook; a panic in it closes the connection with `1011`.
    fn call<H: Handler>(&mut self, ctx: &mut WsCtx<H>, hook: impl FnOnce(&H, &WebSocket)) {
        let handler = &*ctx.handler;
        let ws = &self.handle;
        let panicked = panic::catch_unwind(AssertUnwindSafe(|| hook(handler, ws))).is_err();
        self.take_own_sends(ctx);
        if panicked {
            crate::logging::log_error!("a WebSocket hook panicked; closing the connection with 1011");
            self.fail(CloseCode::INTERNAL_ERROR, ctx);
        }
    }

    /// Queues, right after a hook ran, the frames it sent to this
    /// connection. Its sends go through the outbox, which the thread would
    /// apply only after this round's reads; meanwhile a pong or close this
    /// connection writes for a later frame of the same read would overtake
    /// them, and a close (the client's, answered) would make `enqueue` drop
    /// a reply the hook sent while the connection was still open. Frames for
    /// other connections, taken out with them, wait in `ctx.deferred`.
    fn take_own_sends<H>(&mut self, ctx: &mut WsCtx<H>) {
        let mut taken = std::mem::take(&mut ctx.taken);
        ctx.outbox.take_all(&mut taken);
        let key = self.key();
        let mut first = true;
        for cmd in taken.drain(..) {
            if cmd.key as usize != key {
                ctx.deferred.push(cmd);
                continue;
            }
            if std::mem::take(&mut first) {
                // Frames for this connection set aside by an earlier hook
                // were queued before these: they go first.
                self.take_deferred(ctx);
            }
            self.enqueue_current(cmd, ctx);
        }
        ctx.taken = taken;
    }

    /// Queues the frames for this connection waiting in `ctx.deferred`, in
    /// order, leaving the others there.
    fn take_deferred<H>(&mut self, ctx: &mut WsCtx<H>) {
        let key = self.key();
        if !ctx.deferred.iter().any(|c| c.key as usize == key) {
            return;
        }
        let mut deferred = std::mem::take(&mut ctx.deferred);
        let mut i = 0;
        while i < deferred.len() {
            if deferred[i].key as usize == key {
                let cmd = deferred.remove(i);
                self.enqueue_current(cmd, ctx);
            } else {
                i += 1;
            }
        }
        ctx.deferred = deferred;
    }

    /// Queues a frame sent to this slot, unless it was for an earlier
    /// connection in it (a frame queued behind a close is dropped by
    /// `enqueue`).
    pub fn enqueue_current<H>(&mut self, cmd: Cmd, ctx: &mut WsCtx<H>) {
        if cmd.generation == ctx.outbox.generation(self.key()) {
            self.enqueue(cmd.frame, ctx);
        } else {
            ctx.spent.push(cmd.frame);
        }
    }

    /// Queues a control frame written by this thread.
    fn put_control<H>(&mut self, opcode: Opcode, payload: &[u8], ctx: &mut WsCtx<H>) {
        if opcode == Opcode::Close {
            // Handles' sends are refused from here on.
            ctx.outbox.closing(self.key());
        }
        let mut head = [0; MAX_HEADER];
        let n = frame::encode_head(opcode, payload.len(), &mut head);
        let mut frame = ctx.outbox.take_buf(n + payload.len());
        frame.extend_from_slice(&head[..n]);
        frame.extend_from_slice(payload);
        self.put(frame, ctx);
    }

    fn put<H>(&mut self, frame: Vec<u8>, ctx: &mut WsCtx<H>) {
        let cost = OutQueue::cost(&frame);
        if self.out.held() + cost > ctx.max_buffered {
            // Over the cap only counts once the client has had the chance
            // to take what is queued (an error shows in the next flush);
            // a frame alone never is (what is sent is refused above the
            // cap before it gets here).
            let _ = self.out.write_to(&mut self.stream, &mut ctx.spent);
            if self.out.held() > 0 && self.out.held() + cost > ctx.max_buffered {
                self.overflow = true;
                ctx.spent.push(frame);
                return;
            }
        }
        self.out.push(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_give_back_what_a_burst_grew() {
        let poll = mio::Poll::new().expect("poll");
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).expect("waker"));
        let mut ctx = WsCtx::new(&Config::new(), Arc::new(()), 16, waker);
        // A burst: eight large read buffers and eight large frames in use
        // at once, then given back.
        let bufs: Vec<Vec<u8>> = (0..8).map(|_| ctx.pool.take_at_least(64 * 1024)).collect();
        bufs.into_iter().for_each(|b| ctx.pool.give(b));
        ctx.outbox.recycle(&mut (0..8).map(|_| Vec::with_capacity(64 * 1024)).collect());
        assert!(ctx.pool_bytes() >= 16 * 64 * 1024, "both pools keep their spares");
        // Idle from then on: each trim lets go of half of what no take
        // needed, until nothing is left.
        let mut held = vec![ctx.pool_bytes()];
        for _ in 0..12 {
            ctx.trim_pools();
            held.push(ctx.pool_bytes());
        }
        assert!(held.windows(2).all(|w| w[1] <= w[0]), "{held:?}");
        assert_eq!(held.last(), Some(&0), "{held:?}");
    }
}
