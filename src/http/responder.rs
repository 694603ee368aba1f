//! Responses that take time: a [`Responder`] completes a request from any
//! thread, and what it completes travels to the connection's worker
//! through an exchange (`rt::exchange`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::body_waker::BodyWaker;
use super::field::{add_field, Added};
use super::reply::{Body, Exchanged, Phase, Reply, StreamEnd, StreamKind};
use super::status::StatusCode;
use super::stream::Stream;
use crate::rt::exchange::{Exchange, Held, Ready, Wake};
use crate::rt::mailbox::Mailbox;

/// Exchanges a worker keeps for reuse at most.
const POOLED: usize = 1024;

/// Bytes of header fields a new exchange has room for.
const REPLY_HEADERS: usize = 256;

/// Bytes of header fields a reused exchange keeps room for, at most.
const REPLY_HEADERS_KEPT: usize = 16 << 10;

/// Pooled exchanges looked at for one nobody else holds, from the front;
/// one still held goes to the back.
const REUSE_SCAN: usize = 8;

/// The right to answer one request, from any thread, once: taken in
/// [`Handler::handle`](crate::Handler::handle) with
/// [`Response::defer`](crate::Response::defer).
///
/// It starts with the status and headers the handler had set. Completing
/// it ([`send`](Responder::send), [`stream`](Responder::stream)) wakes the
/// connection's worker, which sends the response in its turn: after the
/// responses to earlier requests on the connection, before later ones.
///
/// Dropping it without completing answers `500 Internal Server Error`, so
/// a client never hangs on a lost responder. Completing it after the
/// request was cancelled does nothing.
///
/// **Cancellation.** The request is cancelled when the client disconnects
/// (it closed its side of the connection), when
/// [`Config::response_timeout`](crate::Config::response_timeout) passes
/// before it is completed (the client then gets `503` and the connection
/// closes), or when shutdown's grace period ends. The completing side can
/// ask ([`is_cancelled`](Responder::is_cancelled)), block until it happens
/// ([`wait_cancelled`](Responder::wait_cancelled), e.g. in place of a
/// sleep), or be called back ([`on_cancel`](Responder::on_cancel), e.g. to
/// abort an upstream call), and stop its work early.
///
/// ```
/// use std::time::Duration;
/// use peregrine::{Request, Response, StatusCode};
///
/// fn report(_: &Request<'_>, res: &mut Response<'_>) {
///     let mut responder = res.defer();
///     std::thread::spawn(move || {
///         // Work that takes a while, given up if the client goes.
///         if responder.wait_cancelled(Duration::from_millis(20)) {
///             return;
///         }
///         responder.status(StatusCode::CREATED).header("Content-Type", "text/plain");
///         responder.send(format!("made {}", 42));
///     });
/// }
/// # fn is_handler<H: peregrine::Handler>(_: &H) {}
/// # is_handler(&report);
/// ```
#[must_use = "dropping a Responder that has not answered sends a 500: keep it until the response is ready"]
pub struct Responder {
    exchange: Held<Reply>,
    status: StatusCode,
    headers: Vec<u8>,
    close: bool,
    invalid: bool,
    /// Completed (or turned into a stream): nothing left to do on drop.
    done: bool,
}

impl Responder {
    /// Sets the status.
    pub fn status(&mut self, status: StatusCode) -> &mut Self {
        self.status = status;
        self
    }

    /// Adds a header field, checked as
    /// [`Response::header`](crate::Response::header) checks it: an invalid
    /// one makes the response a 500.
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        match add_field(&mut self.headers, name, value.as_ref()) {
            Added::Invalid => self.invalid = true,
            Added::Close => self.close = true,
            Added::Line | Added::Skipped => {}
        }
        self
    }

    /// Drops the header fields named `name` set so far.
    pub(crate) fn remove_header(&mut self, name: &str) -> &mut Self {
        super::field::remove_field(&mut self.headers, name);
        self
    }

    /// Closes the connection after this response.
    pub fn close(&mut self) -> &mut Self {
        self.close = true;
        self
    }

    /// Sends the response with `body`.
    pub fn send(mut self, body: impl Into<Body>) {
        self.complete(Phase::Done(body.into()));
    }

    /// Sends the status and headers now, and a body of unknown length
    /// written through the returned [`Stream`] (see
    /// [`Response::stream`](crate::Response::stream)).
    pub fn stream(self) -> Stream {
        self.stream_of(StreamKind::Plain)
    }

    pub(crate) fn stream_of(mut self, kind: StreamKind) -> Stream {
        let stream = Stream::new(self.exchange.share());
        self.complete(Phase::Streaming(kind));
        stream
    }

    /// Whether the request was cancelled: nothing will be sent any more.
    pub fn is_cancelled(&self) -> bool {
        self.exchange.is_cancelled()
    }

    /// Blocks until the request is cancelled or `timeout` passes; returns
    /// whether it was cancelled: a sleep, on a thread of your own, that
    /// ends early when there is no one left to answer. On a server thread
    /// (in a handler) it does not block: it says whether the request is
    /// cancelled already.
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        self.exchange.wait_cancelled(timeout)
    }

    /// Calls `f` once, when the request is cancelled (at once if it
    /// already is), on the thread that cancels it: usually the worker, so
    /// `f` must be short and must not block (send on a channel, set a flag,
    /// abort a socket). Replaces a callback set before. Not called if the
    /// response is sent first.
    pub fn on_cancel(&self, f: impl FnOnce() + Send + 'static) {
        self.exchange.on_cancel(Box::new(f));
    }

    fn complete(&mut self, phase: Phase) {
        self.done = true;
        self.exchange.let_go(|inner| {
            let reply = &mut inner.payload;
            reply.status = self.status;
            std::mem::swap(&mut reply.headers, &mut self.headers);
            reply.close = self.close;
            reply.invalid = self.invalid;
            reply.phase = phase;
            Wake::Always
        });
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        if !self.done {
            self.status = StatusCode::INTERNAL_SERVER_ERROR;
            self.headers.clear();
            self.invalid = false;
            if !self.exchange.is_cancelled() {
                crate::logging::log_error!("a Responder was dropped without answering; answered 500");
            }
            self.complete(Phase::Done(Body::Empty));
        }
    }
}

impl fmt::Debug for Responder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Responder")
            .field("status", &self.status)
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// A worker's source of exchanges: where completions are announced, the
/// exchanges kept for reuse, and the connection being served.
pub(crate) struct Deferrals {
    /// The exchange the handler being called handed its answer to.
    pub handed: Option<Exchanged>,
    mailbox: Option<Arc<Mailbox<Ready>>>,
    /// Pooled exchanges: those nobody else held when given back in front,
    /// the others behind.
    free: VecDeque<Exchanged>,
    /// The slab key of the connection whose request is being handled.
    pub key: usize,
    next_id: u64,
    limit: usize,
}

impl Deferrals {
    /// Not connected to a worker yet.
    pub fn new() -> Self {
        Deferrals { handed: None, mailbox: None, free: VecDeque::new(), key: 0, next_id: 0, limit: 0 }
    }

    /// Completions go to `mailbox`; streams queue `limit` bytes.
    pub fn connect(&mut self, mailbox: Arc<Mailbox<Ready>>, limit: usize) {
        self.mailbox = Some(mailbox);
        self.limit = limit;
    }

    /// A fresh exchange for the current connection (pooled if one is
    /// free), for a responder, or for a stream of `stream`'s kind.
    fn exchange(&mut self, stream: Option<StreamKind>) -> Exchanged {
        let name = self.next_name(self.key);
        let reset = |reply: &mut Reply| {
            reply.status = StatusCode::OK;
            reply.headers.clear();
            if reply.headers.capacity() > REPLY_HEADERS_KEPT {
                // Not every pooled exchange keeps one answer's huge fields.
                reply.headers = Vec::with_capacity(REPLY_HEADERS);
            }
            reply.close = false;
            reply.invalid = false;
            reply.phase = stream.map_or(Phase::Building, Phase::Streaming);
            reply.end = StreamEnd::Open;
        };
        // Free ones are at the front (see `give`). One found still held (a
        // Responder whose request timed out, kept by a slow thread) goes
        // to the back, so a few such cannot stand in front of every free
        // one, and are looked at again in turn.
        for _ in 0..self.free.len().min(REUSE_SCAN) {
            let Some(mut exchange) = self.free.pop_front() else { break };
            if Exchange::reuse(&mut exchange, name, reset) {
                return exchange;
            }
            self.free.push_back(exchange);
        }
        let mailbox = self.mailbox.clone().expect("a response deferred outside a worker");
        let mut reply = Reply {
            status: StatusCode::OK,
            // Room for a few fields from the start: a pooled exchange
            // first used for a stream (which sets none here) and later
            // for a deferred answer would else grow it then.
            headers: Vec::with_capacity(REPLY_HEADERS),
            close: false,
            invalid: false,
            phase: Phase::Taken,
            end: StreamEnd::Open,
        };
        reset(&mut reply);
        Exchange::new(mailbox, name, reply, self.limit)
    }

    /// A waker for a paused body of connection `key`.
    pub fn body_waker(&mut self, key: usize) -> BodyWaker {
        let name = self.next_name(key);
        let mailbox = self.mailbox.clone().expect("a body paused outside a worker");
        BodyWaker::new(mailbox, name)
    }

    /// A name for a new wait of connection `key`: ids are never reused.
    fn next_name(&mut self, key: usize) -> Ready {
        self.next_id += 1;
        Ready { key, id: self.next_id }
    }

    /// A responder for the current request, starting from what the
    /// handler set, and the worker's end of it.
    pub fn responder(&mut self, status: StatusCode, headers: &[u8], close: bool) -> (Exchanged, Responder) {
        let exchange = self.exchange(None);
        let mut own = std::mem::take(&mut exchange.lock().payload.headers);
        own.extend_from_slice(headers);
        let responder = Responder {
            exchange: Held::new(Arc::clone(&exchange)),
            status,
            headers: own,
            close,
            invalid: false,
            done: false,
        };
        (exchange, responder)
    }

    /// A stream for the current request's body, and the worker's end of it.
    pub fn stream(&mut self, kind: StreamKind) -> (Exchanged, Stream) {
        let exchange = self.exchange(Some(kind));
        (Arc::clone(&exchange), Stream::new(exchange))
    }

    /// Takes back an exchange the worker is done with, for reuse once
    /// nobody else holds it. Kept even while another thread still does:
    /// a Responder whose request was cancelled (a timeout, the client
    /// gone) may be held for long after, and a Stream's end may be found
    /// in the pipe a moment before its writer lets go.
    pub fn give(&mut self, mut exchange: Exchanged) {
        if self.free.len() < POOLED {
            // Free ones in front, taken first (the newest, warm in cache);
            // still held ones behind.
            if Exchange::park(&mut exchange) {
                self.free.push_front(exchange);
            } else {
                self.free.push_back(exchange);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Exchanges still held by their completing threads (answers that
    /// timed out, whose slow threads have not returned) must not stand in
    /// front of the free ones: every deferral would make a new exchange.
    #[test]
    fn exchanges_still_held_do_not_hide_free_ones() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let mut later = Deferrals::new();
        later.connect(Arc::new(Mailbox::growing(1024, waker)), 4096);
        let mut slow = Vec::new();
        for _ in 0..REUSE_SCAN {
            let (exchange, responder) = later.responder(StatusCode::OK, b"", false);
            exchange.cancel();
            later.give(exchange);
            slow.push(responder);
        }
        // Answers completed and sent one after the other: one exchange
        // serves them all.
        for _ in 0..20 {
            let (exchange, responder) = later.responder(StatusCode::OK, b"", false);
            responder.send(&b"x"[..]);
            later.give(exchange);
        }
        assert_eq!(later.free.len(), REUSE_SCAN + 1, "exchanges made for 20 answers in turn");
        drop(slow);
    }
}
