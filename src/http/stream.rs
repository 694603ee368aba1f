//! A response body of unknown length, written from any thread: the
//! writer's side of an exchange's pipe, and the chunked framing the
//! worker puts around what it takes from the pipe.

use std::fmt;
use std::io;
use std::time::Duration;

use super::reply::{Exchanged, Reply, StreamEnd};
use crate::rt::exchange::{Held, Wake};

/// The body of a streamed response, written from any thread; made by
/// [`Response::stream`](crate::Response::stream) or
/// [`Responder::stream`](crate::Responder::stream).
///
/// Each write is queued whole in a pipe the connection's worker empties
/// as the client reads. The pipe holds
/// [`Config::stream_buffer_size`](crate::Config::stream_buffer_size) bytes
/// before writers wait (plus at most one write), so a client that reads
/// slowly holds that much memory, not the whole body; one that stops
/// reading is dropped after [`Config::write_timeout`](crate::Config::write_timeout).
///
/// - [`send`](Stream::send) (and `io::Write`) blocks while the pipe is
///   full: for threads of your own; [`send_timeout`](Stream::send_timeout)
///   blocks at most so long.
/// - [`try_send`](Stream::try_send) never blocks: it says
///   [`StreamError::Full`], and [`wait_ready`](Stream::wait_ready) blocks
///   until there is room, with a timeout.
///
/// Nothing here blocks a server thread (a handler, a WebSocket hook): there
/// `send` acts as `try_send`, and the waits return at once, since only a
/// server thread makes room or cancels, and a worker waiting for another
/// worker's client could wait for ever. Write from threads of your own
/// what may not fit.
///
/// [`finish`](Stream::finish) ends the body properly (the last chunk of a
/// chunked body); dropping the stream without finishing closes the
/// connection after what was queued, so the client sees a cut-off body,
/// never a wrong one. Once the request is cancelled (the client left, a
/// write timed out, shutdown's grace period ended), writes fail with
/// [`StreamError::Cancelled`].
#[must_use = "a Stream dropped before `finish` is abandoned, and the client sees its body cut off"]
pub struct Stream {
    exchange: Held<Reply>,
    ended: bool,
}

/// Why a write to a [`Stream`] did not go through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StreamError {
    /// The pipe is full ([`Stream::try_send`] only): wait with
    /// [`Stream::wait_ready`] and write again.
    Full,
    /// Nobody will read it: the client left, a write timed out, the
    /// server shut down, or the answer carries no body (to a `HEAD`, a
    /// `204` or `304`, a 2xx to `CONNECT`, or a `500` that replaced an
    /// answer with an invalid header): the head went out, and the writer
    /// can stop at once.
    Cancelled,
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StreamError::Full => "the stream's buffer is full",
            StreamError::Cancelled => "the stream was cancelled",
        })
    }
}

impl std::error::Error for StreamError {}

impl Stream {
    pub(crate) fn new(exchange: Exchanged) -> Self {
        Stream { exchange: Held::new(exchange), ended: false }
    }

    /// Queues `bytes`, waiting while the pipe is full.
    pub fn send(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        self.queue(bytes, Some(Duration::MAX))
    }

    /// Queues `bytes`, waiting at most `timeout` for room: for a pool
    /// thread that must not be held by one slow client. [`StreamError::Full`]
    /// if there was none by then.
    pub fn send_timeout(&mut self, bytes: &[u8], timeout: Duration) -> Result<(), StreamError> {
        self.queue(bytes, Some(timeout))
    }

    /// Queues `bytes` if the pipe has room, without waiting.
    pub fn try_send(&mut self, bytes: &[u8]) -> Result<(), StreamError> {
        self.queue(bytes, None)
    }

    /// Blocks until the pipe has room or the stream is cancelled, for at
    /// most `timeout`; returns whether a write would now go through.
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        let inner = self.exchange.wait_while(self.exchange.lock(), timeout, |i| !i.has_room());
        inner.has_room() && !self.exchange.is_cancelled()
    }

    /// Ends the body: the worker sends the last chunk after what is
    /// queued (or, for HTTP/1.0, closes the connection).
    pub fn finish(mut self) {
        self.end(StreamEnd::Finished);
    }

    /// Whether the stream was cancelled: nothing more will be sent.
    pub fn is_cancelled(&self) -> bool {
        self.exchange.is_cancelled()
    }

    /// Blocks until the stream is cancelled or `timeout` passes; returns
    /// whether it was cancelled (a sleep between writes that ends when
    /// nobody is listening any more).
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        self.exchange.wait_cancelled(timeout)
    }

    /// Calls `f` once, when the stream is cancelled (at once if it already
    /// is), on the thread that cancels it (usually the worker: keep `f`
    /// short and non-blocking). Not called if the stream finishes first.
    pub fn on_cancel(&self, f: impl FnOnce() + Send + 'static) {
        self.exchange.on_cancel(Box::new(f));
    }

    /// Queues `bytes` whole, waiting up to `wait` for room (`None`: not at
    /// all).
    fn queue(&mut self, bytes: &[u8], wait: Option<Duration>) -> Result<(), StreamError> {
        let mut inner = self.exchange.lock();
        if let Some(timeout) = wait {
            // Returns at once on a server thread.
            inner = self.exchange.wait_while(inner, timeout, |i| !i.has_room());
        }
        if self.exchange.is_cancelled() {
            return Err(StreamError::Cancelled);
        }
        if !inner.has_room() {
            return Err(StreamError::Full);
        }
        if bytes.is_empty() {
            // An empty chunk would end a chunked body.
            return Ok(());
        }
        inner.write(bytes);
        self.exchange.announce_if_wanted(&mut inner);
        Ok(())
    }

    fn end(&mut self, how: StreamEnd) {
        self.ended = true;
        self.exchange.let_go(|inner| {
            // The worker may have ended it first (an event stream at shutdown).
            if inner.payload.end == StreamEnd::Open {
                inner.payload.end = how;
            }
            Wake::IfWanted
        });
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        if !self.ended {
            self.end(StreamEnd::Abandoned);
        }
    }
}

/// Writes through [`Stream::send`]; a cancelled stream is a
/// `BrokenPipe` error.
impl io::Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.send(buf) {
            Ok(()) => Ok(buf.len()),
            Err(e) => Err(io::Error::new(io::ErrorKind::BrokenPipe, e)),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Stream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stream").field("cancelled", &self.is_cancelled()).finish_non_exhaustive()
    }
}

/// Room a chunk's framing takes besides its data: up to 16 hex digits and
/// two CRLFs.
pub(crate) const CHUNK_FRAMING: usize = 20;

/// Writes as much of `data` as fits `out` as one chunk (nothing if not a
/// byte fits); returns (bytes written, bytes of `data` taken).
pub(crate) fn frame_chunk(out: &mut [u8], data: &[u8]) -> (usize, usize) {
    let take = data.len().min(out.len().saturating_sub(CHUNK_FRAMING));
    if take == 0 {
        return (0, 0);
    }
    let digits = (usize::BITS - take.leading_zeros()).div_ceil(4) as usize;
    for (i, d) in out[..digits].iter_mut().enumerate() {
        *d = b"0123456789abcdef"[(take >> (4 * (digits - 1 - i))) & 0xf];
    }
    let mut at = digits;
    out[at..at + 2].copy_from_slice(b"\r\n");
    at += 2;
    out[at..at + take].copy_from_slice(&data[..take]);
    at += take;
    out[at..at + 2].copy_from_slice(b"\r\n");
    (at + 2, take)
}

/// The end of a chunked body: the last chunk and an empty trailer section.
pub(crate) const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_framed_in_hex_and_cut_to_fit() {
        let mut out = [0u8; 64];
        let (n, took) = frame_chunk(&mut out, b"hello");
        assert_eq!((&out[..n], took), (&b"5\r\nhello\r\n"[..], 5));
        let data = [b'x'; 300];
        let mut out = vec![0u8; 300];
        let (n, took) = frame_chunk(&mut out, &data);
        assert_eq!(took, 300 - CHUNK_FRAMING);
        assert_eq!(&out[..5], b"118\r\n");
        assert_eq!(n, 3 + 2 + took + 2);
        assert_eq!(frame_chunk(&mut [0u8; CHUNK_FRAMING], b"x"), (0, 0));
    }
}
