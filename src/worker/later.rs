//! The worker's side of responses that take time: a connection waiting for
//! another thread's [`Responder`](crate::Responder), and one sending a
//! streamed body as its writer fills the pipe.
//!
//! The completing thread announces each change through the worker's
//! mailbox; the worker then drives the connection, which looks at its
//! exchange here. Nothing on the ordinary path (an answer given inside
//! `handle`) comes through this module.

use super::after::After;
use super::ctx::Ctx;
use super::socket::Socket;
use super::waiting::{Asked, Awaiting, Framing, Streaming, Waiting};
use crate::http::date::Stamp;
use crate::http::reply::{Body, Exchanged, Phase, StreamEnd, StreamKind};
use crate::http::response::{Handed, Response};
use crate::http::sse::KEEP_ALIVE;
use crate::http::status::StatusCode;
use crate::http::stream::{frame_chunk, CHUNK_FRAMING, LAST_CHUNK};
use crate::http::write::Length;
use crate::rt::pool::BufPool;
use crate::rt::socket::Transport;
use crate::shutdown::ShutdownState;

/// What queuing a response takes from the worker besides the scratch
/// space the response is in (which a `Response` borrows).
pub struct Queue<'a> {
    pub pool: &'a mut BufPool,
    pub stamp: &'a Stamp,
    pub keep_alive_secs: u64,
    pub shutdown: &'a ShutdownState,
}

impl Queue<'_> {
    /// Whether the connection stays open after a response that asked for
    /// `close` (or not), to a request that would keep it.
    fn keeps(&self, asked: Asked, close: bool) -> bool {
        asked.keep_alive && !close && !self.shutdown.is_requested()
    }
}

/// What a look at a deferred response found.
pub enum Outcome {
    /// Not completed yet.
    Waiting,
    /// Completed and queued; the connection goes on as `After` says (and
    /// waits as `Waiting` says, for a stream).
    Answered(After, Option<Waiting>),
}

/// What a look at a stream's pipe did.
pub enum Pumped {
    /// Bytes were queued (or room must be made first): flush, then look
    /// again.
    Queued,
    /// Nothing to send until the writer writes.
    Idle,
    /// The body ended; the connection goes on as `After` says.
    Ended(After),
}

/// The handler deferred or streamed its answer: starts waiting for the
/// responder, or queues the stream's head.
#[cold]
pub fn answer_later<T: Transport>(
    res: &mut Response<'_>,
    asked: Asked,
    sock: &mut Socket<T>,
    q: Queue<'_>,
) -> (After, Option<Waiting>) {
    match res.take_handed().expect("a handler that answered later") {
        Handed::Deferred(exchange) => {
            let id = exchange.lock().name().id;
            (After::Later, Some(Waiting::Reply(Awaiting { exchange, id, asked })))
        }
        Handed::Streamed(exchange, kind) => {
            let keep_alive = q.keeps(asked, res.wants_close());
            start_stream(exchange, kind, res, asked, keep_alive, sock, q)
        }
    }
}

/// Queues the head of a streamed response and sets out how its body goes.
/// A response that has no body (`HEAD`, 204, 205, 304, a 2xx to
/// `CONNECT`) is whole with its head: its stream is cancelled at once, and
/// requests behind it do not wait.
fn start_stream<T: Transport>(
    exchange: Exchanged,
    kind: StreamKind,
    res: &mut Response<'_>,
    asked: Asked,
    keep_alive: bool,
    sock: &mut Socket<T>,
    q: Queue<'_>,
) -> (After, Option<Waiting>) {
    let framing = match res.status_code() {
        s if !asked.content.sends(s) => Framing::Discard,
        _ if asked.http10 => Framing::UntilClose,
        _ => Framing::Chunked,
    };
    // A HEAD answer says what a GET's would.
    let length = if asked.http10 { Length::UntilClose } else { Length::Chunked };
    let keep_alive = keep_alive && framing != Framing::UntilClose;
    // A body's pieces go as they come, on any connection: with Nagle on,
    // each would wait for the last one's ACK (an event stream behind a
    // proxy that speaks HTTP/1.0 to its upstreams, as nginx does).
    sock.no_delay(keep_alive || framing != Framing::Discard);
    let meta = asked.meta(keep_alive, q.keep_alive_secs);
    sock.out.push_stream_head(q.pool, res, length, &meta, q.stamp);
    let after = if keep_alive { After::KeepAlive } else { After::Close };
    if framing == Framing::Discard {
        exchange.cancel();
        return (after, None);
    }
    let id = exchange.lock().name().id;
    let streaming = Streaming { exchange, id, kind, framing, keep_alive };
    if q.shutdown.is_requested() {
        // Started while draining: an event stream ends at once.
        end_event_stream(&streaming);
    }
    (After::Later, Some(Waiting::Body(streaming)))
}

/// Looks at a deferred response: queues it if it is complete. (Kept out
/// of the connection's drive loop, as is all of this module, so the
/// ordinary path compiles as it would without it.)
#[inline(never)]
pub fn take_reply<H, T: Transport>(awaiting: &Awaiting, sock: &mut Socket<T>, ctx: &mut Ctx<H>) -> Outcome {
    let Awaiting { exchange, asked, .. } = awaiting;
    let mut inner = exchange.lock();
    let phase = match std::mem::replace(&mut inner.payload.phase, Phase::Taken) {
        p @ (Phase::Building | Phase::Taken) => {
            inner.payload.phase = p;
            return Outcome::Waiting;
        }
        p => p,
    };
    let reply = &mut inner.payload;
    let mut res = Response::new(&mut ctx.scratch);
    let q = Queue {
        pool: &mut ctx.out_pool,
        stamp: ctx.date.get(),
        keep_alive_secs: ctx.keep_alive_secs,
        shutdown: &ctx.shutdown,
    };
    let (body, stream) = match phase {
        Phase::Done(body) => (body, None),
        Phase::Streaming(kind) => (Body::Empty, Some(kind)),
        Phase::Building | Phase::Taken => unreachable!("handled above"),
    };
    res.load(reply.status, &reply.headers, reply.close, body);
    reply.headers.clear();
    let invalid = reply.invalid;
    drop(inner);
    let mut stream = stream;
    if invalid || res.status_code().as_u16() < 200 {
        crate::logging::log_error!(
            "a Responder completed with an invalid header or a 1xx status; answered 500"
        );
        res.reset_to_error(StatusCode::INTERNAL_SERVER_ERROR);
        ctx.tally.error(StatusCode::INTERNAL_SERVER_ERROR.as_u16());
        if stream.take().is_some() {
            // Its writer is told nobody reads its body.
            exchange.cancel();
        }
    }
    ctx.tally.response(res.status_code().as_u16());
    let keep_alive = q.keeps(*asked, res.wants_close());
    if let Some(kind) = stream {
        let (after, waiting) = start_stream(exchange.clone(), kind, &mut res, *asked, keep_alive, sock, q);
        return Outcome::Answered(after, waiting);
    }
    sock.no_delay(keep_alive);
    let meta = asked.meta(keep_alive, q.keep_alive_secs);
    sock.out.push_sending(q.pool, &mut res, &meta, q.stamp, &mut sock.stream);
    Outcome::Answered(if keep_alive { After::KeepAlive } else { After::Close }, None)
}

/// Moves what the stream's writer queued into the write buffer, framed.
#[inline(never)]
pub fn pump<H, T: Transport>(streaming: &Streaming, sock: &mut Socket<T>, ctx: &mut Ctx<H>) -> Pumped {
    let Streaming { exchange, framing, keep_alive, .. } = streaming;
    let mut inner = exchange.lock();
    let pool = &mut ctx.out_pool;
    let taken = exchange.drain_pipe(&mut inner, |data| match framing {
        Framing::Discard => data.len(),
        Framing::UntilClose => sock.out.fill(pool, 1, |room| {
            let n = room.len().min(data.len());
            room[..n].copy_from_slice(&data[..n]);
            n
        }),
        Framing::Chunked => {
            let mut took = 0;
            sock.out.fill(pool, CHUNK_FRAMING + 1, |room| {
                let (written, t) = frame_chunk(room, data);
                took = t;
                written
            });
            took
        }
    });
    if taken > 0 || !inner.pipe_is_empty() {
        // Some was taken, or there was no room: flush, then more.
        return Pumped::Queued;
    }
    match inner.payload.end {
        StreamEnd::Open => Pumped::Idle,
        StreamEnd::Abandoned => Pumped::Ended(After::Close),
        StreamEnd::Finished => {
            if *framing == Framing::Chunked
                && sock.out.fill(pool, LAST_CHUNK.len(), |room| put(room, LAST_CHUNK)) == 0
            {
                return Pumped::Queued;
            }
            Pumped::Ended(if *keep_alive { After::KeepAlive } else { After::Close })
        }
    }
}

/// Sends a keep-alive comment on a quiet event stream, if nothing is
/// queued (so it cannot land inside an event).
pub fn keep_alive_comment<H, T: Transport>(streaming: &Streaming, sock: &mut Socket<T>, ctx: &mut Ctx<H>) {
    let inner = streaming.exchange.lock();
    if !inner.pipe_is_empty() || !sock.out.is_empty() {
        return;
    }
    drop(inner);
    let pool = &mut ctx.out_pool;
    match streaming.framing {
        Framing::Chunked => {
            sock.out.fill(pool, KEEP_ALIVE.len() + CHUNK_FRAMING, |room| frame_chunk(room, KEEP_ALIVE).0)
        }
        Framing::UntilClose => sock.out.fill(pool, KEEP_ALIVE.len(), |room| put(room, KEEP_ALIVE)),
        Framing::Discard => 0,
    };
}

/// Ends an event stream from the server's side (shutdown has begun): its
/// body ends properly after what is queued, and its writer learns it is
/// cancelled. Returns whether it was an event stream.
pub fn end_event_stream(streaming: &Streaming) -> bool {
    if streaming.kind != StreamKind::Events {
        return false;
    }
    let mut inner = streaming.exchange.lock();
    if inner.payload.end == StreamEnd::Open {
        inner.payload.end = StreamEnd::Finished;
    }
    drop(inner);
    streaming.exchange.cancel();
    true
}

/// Copies `bytes` to the front of `room` (which holds them).
fn put(room: &mut [u8], bytes: &[u8]) -> usize {
    room[..bytes.len()].copy_from_slice(bytes);
    bytes.len()
}
