//! Receiving a request body apart from the read buffer, behind a copy of
//! its head: into a pooled buffer, when it does not fit the read buffer or
//! is chunked, so the handler still gets one slice and every read of the
//! body gets the whole read buffer, whatever the head's size; or piece by
//! piece into the application's [`BodySink`].

use std::panic::{self, AssertUnwindSafe};

use crate::http::body::{ChunkError, ChunkedDecoder};
use crate::http::head::HeadError;
use crate::http::intake::{BodySink, BodyWaker};
use crate::http::status::StatusCode;
use crate::rt::pool::SizeClasses;
use crate::sys::AlignedBuf;

/// How a head says its body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declared {
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// How much of the body is still to come.
enum Framing {
    /// This many bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// Where the body's bytes go.
enum Destination {
    /// Into the buffer behind the head: `len` bytes so far, `limit` at most.
    Buffer { len: usize, limit: usize },
    /// To the application, piece by piece.
    Sink(SinkSlot),
}

/// The application's sink while the body arrives (`None` once the body
/// ended and it went to answer). One dropped here was abandoned; its
/// `Drop` is the application's code, so a panic there is caught too.
struct SinkSlot(Option<Box<dyn BodySink>>);

impl Drop for SinkSlot {
    fn drop(&mut self) {
        if let Some(sink) = self.0.take() {
            if panic::catch_unwind(AssertUnwindSafe(move || drop(sink))).is_err() {
                crate::logging::log_error!("a body sink panicked when dropped");
            }
        }
    }
}

/// A body being received, behind its request's head: `buf` holds the
/// head, then the body so far when it is buffered.
pub struct BodyRx {
    buf: AlignedBuf,
    head_len: usize,
    framing: Framing,
    to: Destination,
    /// How the sink wakes the worker, once it was asked whether it takes
    /// more; `paused`: it said no, and has not been asked again since.
    waker: Option<BodyWaker>,
    paused: bool,
}

impl BodyRx {
    /// Starts receiving the body of the request whose head is `head`
    /// (copied in) into a buffer; refuses (413) a declared length over
    /// `limit` before reading any.
    pub fn start(
        head: &[u8],
        declared: Declared,
        limit: usize,
        pool: &mut SizeClasses,
    ) -> Result<Self, StatusCode> {
        if matches!(declared, Declared::Length(length) if length > limit as u64) {
            return Err(HeadError::BodyTooLarge.status());
        }
        // The smallest buffer that holds the head, grown as bytes arrive:
        // memory follows what a client sent, not what it declared (a
        // declared length costs it nothing to send, and could otherwise
        // pin `limit` bytes each).
        Self::behind(head, declared, Destination::Buffer { len: 0, limit }, 1, pool)
    }

    /// Starts giving the body of the request whose head is `head` (copied
    /// in) to `sink`, whatever its size. `reads`: the most one read gives
    /// (the read buffer's size), for which room is kept behind the head:
    /// a read's chunks are gathered there, so the sink is called once per
    /// read, however small the chunks a client sends.
    pub fn start_streaming(
        head: &[u8],
        declared: Declared,
        sink: Box<dyn BodySink>,
        reads: usize,
        pool: &mut SizeClasses,
    ) -> Result<Self, StatusCode> {
        Self::behind(head, declared, Destination::Sink(SinkSlot(Some(sink))), reads, pool)
    }

    /// A body framed as `declared`, going `to` its destination, behind a
    /// copy of `head` in a pooled buffer with at least `room` bytes after it.
    fn behind(
        head: &[u8],
        declared: Declared,
        to: Destination,
        room: usize,
        pool: &mut SizeClasses,
    ) -> Result<Self, StatusCode> {
        let framing = match declared {
            Declared::Length(length) => Framing::Length(length),
            Declared::Chunked => Framing::Chunked(ChunkedDecoder::new()),
        };
        let mut buf = pool.take_at_least(head.len() + room).ok_or(HeadError::BodyTooLarge.status())?;
        buf[..head.len()].copy_from_slice(head);
        Ok(BodyRx { buf, head_len: head.len(), framing, to, waker: None, paused: false })
    }

    /// Moves body bytes from the front of `input` (what follows the head)
    /// to where the body goes; returns how many were used. Bytes after the
    /// end of the body are left (a pipelined request). An `Err` is the
    /// status the request is refused with.
    pub fn absorb(&mut self, input: &[u8], pool: &mut SizeClasses) -> Result<usize, StatusCode> {
        let BodyRx { buf, head_len, framing, to, .. } = self;
        // Why the body was refused (the chunked decoder only stops).
        let mut refusal = HeadError::BodyTooLarge.status();
        let mut refused = |status| {
            refusal = status;
            ChunkError::TooLarge
        };
        let used = match to {
            Destination::Buffer { len, limit } => {
                let mut body = Growing { buf, head_len: *head_len, len, limit: *limit };
                let used = decode(framing, input, &mut |data| body.append(data, pool).map_err(&mut refused));
                // A chunk declared past the limit is refused now, not once
                // it has come.
                let declared = match framing {
                    Framing::Chunked(decoder) => decoder.data_left(),
                    Framing::Length(_) => 0,
                };
                if used.is_ok() && (*len as u64).saturating_add(declared) > *limit as u64 {
                    return Err(HeadError::BodyTooLarge.status());
                }
                used
            }
            Destination::Sink(SinkSlot(None)) => decode(framing, input, &mut |_| Ok(())),
            // A read of a Content-Length body is one piece already.
            Destination::Sink(SinkSlot(Some(sink))) if matches!(framing, Framing::Length(_)) => {
                decode(framing, input, &mut |data| give(&mut **sink, data).map_err(&mut refused))
            }
            Destination::Sink(SinkSlot(Some(sink))) => {
                let mut gathered = Gathered { room: &mut buf[*head_len..], len: 0 };
                decode(framing, input, &mut |data| gathered.add(data, &mut **sink).map_err(&mut refused))
                    .and_then(|used| gathered.flush(&mut **sink).map(|()| used).map_err(&mut refused))
            }
        };
        used.map_err(|e| match e {
            ChunkError::Malformed => HeadError::Malformed.status(),
            ChunkError::TooLarge => refusal,
        })
    }

    /// Asks the sink whether it takes more now (always yes without one);
    /// `waker` makes the waker it may keep, the first time. Pauses if it
    /// does not; an `Err` (it panicked) is the status to refuse with.
    pub fn ready(&mut self, waker: impl FnOnce() -> BodyWaker) -> Result<bool, StatusCode> {
        let Destination::Sink(SinkSlot(Some(sink))) = &mut self.to else { return Ok(true) };
        let waker = self.waker.get_or_insert_with(waker);
        let ready = panic::catch_unwind(AssertUnwindSafe(|| sink.poll_ready(waker))).map_err(|_| {
            crate::logging::log_error!("a body sink panicked in poll_ready; answered 500");
            StatusCode::INTERNAL_SERVER_ERROR
        })?;
        self.paused = !ready;
        Ok(ready)
    }

    /// The id a wake of the paused sink comes with, if it is paused.
    pub fn paused_for(&self) -> Option<u64> {
        self.waker.as_ref().filter(|_| self.paused).map(BodyWaker::id)
    }

    /// Whether the whole body has arrived.
    pub fn is_complete(&self) -> bool {
        match &self.framing {
            Framing::Length(remaining) => *remaining == 0,
            Framing::Chunked(decoder) => decoder.is_done(),
        }
    }

    /// The request's head, as it arrived.
    pub fn head(&self) -> &[u8] {
        &self.buf[..self.head_len]
    }

    /// The body received so far (none, when it goes to a sink).
    pub fn body(&self) -> &[u8] {
        match self.to {
            Destination::Buffer { len, .. } => &self.buf[self.head_len..self.head_len + len],
            Destination::Sink(_) => &[],
        }
    }

    /// The sink the body went to, to answer the request once it is whole.
    pub fn take_sink(&mut self) -> Option<Box<dyn BodySink>> {
        match &mut self.to {
            Destination::Sink(slot) => slot.0.take(),
            Destination::Buffer { .. } => None,
        }
    }

    /// Returns the buffer to the pool (and drops a sink still here: the
    /// body was abandoned).
    pub fn release(self, pool: &mut SizeClasses) {
        pool.give(self.buf);
    }
}

/// Takes the body's bytes from `input` as `framing` says, passing them to
/// `deliver`; returns how many bytes of `input` were used.
fn decode(
    framing: &mut Framing,
    input: &[u8],
    deliver: &mut impl FnMut(&[u8]) -> Result<(), ChunkError>,
) -> Result<usize, ChunkError> {
    match framing {
        Framing::Length(remaining) => {
            let n = input.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
            if n > 0 {
                deliver(&input[..n])?;
            }
            *remaining -= n as u64;
            Ok(n)
        }
        Framing::Chunked(decoder) => decoder.decode(input, deliver),
    }
}

/// A read's worth of chunks, gathered to reach the sink as one piece.
struct Gathered<'a> {
    room: &'a mut [u8],
    len: usize,
}

impl Gathered<'_> {
    fn add(&mut self, data: &[u8], sink: &mut dyn BodySink) -> Result<(), StatusCode> {
        if self.len + data.len() > self.room.len() {
            // More than a read's worth: never, as room was kept for one.
            self.flush(sink)?;
            if data.len() > self.room.len() {
                return give(sink, data);
            }
        }
        self.room[self.len..self.len + data.len()].copy_from_slice(data);
        self.len += data.len();
        Ok(())
    }

    fn flush(&mut self, sink: &mut dyn BodySink) -> Result<(), StatusCode> {
        let len = std::mem::take(&mut self.len);
        if len == 0 {
            return Ok(());
        }
        give(sink, &self.room[..len])
    }
}

/// Gives a piece of the body to the application's sink; a panic there is
/// a 500.
fn give(sink: &mut dyn BodySink, piece: &[u8]) -> Result<(), StatusCode> {
    match panic::catch_unwind(AssertUnwindSafe(|| sink.data(piece))) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(status)) if status.as_u16() >= 400 => Err(status),
        Ok(Err(status)) => {
            crate::logging::log_error!("a body sink refused a piece with {status}; answered 500");
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
        Err(_) => {
            crate::logging::log_error!("a body sink panicked; answered 500");
            Err(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

/// The body buffer while bytes are appended to it.
struct Growing<'a> {
    buf: &'a mut AlignedBuf,
    head_len: usize,
    len: &'a mut usize,
    limit: usize,
}

impl Growing<'_> {
    /// Appends body bytes, moving to a larger pooled buffer when needed.
    fn append(&mut self, data: &[u8], pool: &mut SizeClasses) -> Result<(), StatusCode> {
        let len = *self.len + data.len();
        if len > self.limit {
            return Err(HeadError::BodyTooLarge.status());
        }
        let (used, need) = (self.head_len + *self.len, self.head_len + len);
        if need > self.buf.len() {
            let mut bigger = pool.take_at_least(need).ok_or(HeadError::BodyTooLarge.status())?;
            bigger[..used].copy_from_slice(&self.buf[..used]);
            pool.give(std::mem::replace(self.buf, bigger));
        }
        self.buf[used..need].copy_from_slice(data);
        *self.len = len;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_grow_across_classes() {
        let mut pool = SizeClasses::doubling(16384, 1 << 20, 64 << 20, 4);
        let mut rx = BodyRx::start(b"HEAD", Declared::Chunked, 1 << 20, &mut pool).unwrap();
        let chunk = [b'z'; 10_000];
        let mut wire = Vec::new();
        for _ in 0..5 {
            wire.extend_from_slice(b"2710\r\n");
            wire.extend_from_slice(&chunk);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\nNEXT");
        let used = rx.absorb(&wire, &mut pool).unwrap();
        assert_eq!(&wire[used..], b"NEXT");
        assert!(rx.is_complete());
        assert_eq!(rx.body().len(), 50_000);
        assert!(rx.body().iter().all(|&b| b == b'z'));
        assert_eq!(rx.head(), b"HEAD", "the head survives the moves to larger buffers");
    }

    #[test]
    fn declared_lengths_take_memory_only_as_bytes_arrive() {
        let mut pool = SizeClasses::doubling(16384, 2 << 20, 64 << 20, 4);
        let mut rx = BodyRx::start(b"", Declared::Length(1 << 20), 1 << 20, &mut pool).unwrap();
        assert_eq!(rx.absorb(b"x", &mut pool), Ok(1));
        assert_eq!(rx.buf.len(), 16384, "one byte of a declared MiB holds the smallest buffer");
        let rest = vec![b'y'; (1 << 20) - 1];
        assert_eq!(rx.absorb(&rest, &mut pool), Ok(rest.len()));
        assert!(rx.is_complete());
        assert_eq!(rx.body().len(), 1 << 20);
        assert_eq!(rx.body()[0], b'x');
        assert!(rx.body()[1..].iter().all(|&b| b == b'y'));
    }

    #[test]
    fn limits_hold() {
        let mut pool = SizeClasses::doubling(16384, 1 << 20, 64 << 20, 4);
        assert_eq!(
            BodyRx::start(b"", Declared::Length(2 << 20), 1 << 20, &mut pool).err(),
            Some(StatusCode::PAYLOAD_TOO_LARGE)
        );
        // A chunk past the limit is refused by its size line.
        let mut rx = BodyRx::start(b"", Declared::Chunked, 100, &mut pool).unwrap();
        assert_eq!(rx.absorb(b"65\r\n", &mut pool), Err(StatusCode::PAYLOAD_TOO_LARGE));
        let mut rx = BodyRx::start(b"", Declared::Chunked, 100, &mut pool).unwrap();
        assert_eq!(rx.absorb(b"64\r\n", &mut pool), Ok(4));
        assert_eq!(rx.absorb(&[b'a'; 100], &mut pool), Ok(100));
        assert_eq!(rx.absorb(b"\r\n1\r\n", &mut pool), Err(StatusCode::PAYLOAD_TOO_LARGE));
    }
}
