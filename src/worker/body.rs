//! Receiving a request body that does not fit the read buffer, or is
//! chunked, into a pooled buffer behind a copy of its head, so the handler
//! still gets one slice and every read of the body gets the whole read
//! buffer, whatever the head's size.

use crate::http::body::{ChunkError, ChunkedDecoder};
use crate::http::head::HeadError;
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

/// A body being received, behind its request's head: `buf` holds the
/// head, then the body so far.
pub struct BodyRx {
    buf: AlignedBuf,
    head_len: usize,
    /// Body bytes received.
    len: usize,
    framing: Framing,
    limit: usize,
}

impl BodyRx {
    /// Starts receiving the body of the request whose head is `head`
    /// (copied in); refuses (413) a declared length over `limit` before
    /// reading any.
    pub fn start(
        head: &[u8],
        declared: Declared,
        limit: usize,
        pool: &mut SizeClasses,
    ) -> Result<Self, HeadError> {
        let framing = match declared {
            Declared::Length(length) if length > limit as u64 => return Err(HeadError::BodyTooLarge),
            Declared::Length(length) => Framing::Length(length),
            Declared::Chunked => Framing::Chunked(ChunkedDecoder::new()),
        };
        // The smallest buffer that holds the head, grown as bytes arrive:
        // memory follows what a client sent, not what it declared (a
        // declared length costs it nothing to send, and could otherwise
        // pin `limit` bytes each).
        let mut buf = pool.take_at_least(head.len() + 1).ok_or(HeadError::BodyTooLarge)?;
        buf[..head.len()].copy_from_slice(head);
        Ok(BodyRx { buf, head_len: head.len(), len: 0, framing, limit })
    }

    /// Moves body bytes from the front of `input` (what follows the head)
    /// into the body buffer; returns how many were used. Bytes after the
    /// end of the body are left (a pipelined request).
    pub fn absorb(&mut self, input: &[u8], pool: &mut SizeClasses) -> Result<usize, HeadError> {
        let BodyRx { buf, head_len, len, framing, limit } = self;
        let mut body = Growing { buf, head_len: *head_len, len, limit: *limit };
        match framing {
            Framing::Length(remaining) => {
                let n = input.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                body.append(&input[..n], pool).map_err(|_| HeadError::BodyTooLarge)?;
                *remaining -= n as u64;
                Ok(n)
            }
            Framing::Chunked(decoder) => {
                let mut sink = |data: &[u8]| body.append(data, pool);
                decoder.decode(input, &mut sink).map_err(|e| match e {
                    ChunkError::Malformed => HeadError::Malformed,
                    ChunkError::TooLarge => HeadError::BodyTooLarge,
                })
            }
        }
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

    /// The body received so far.
    pub fn body(&self) -> &[u8] {
        &self.buf[self.head_len..self.head_len + self.len]
    }

    /// Returns the buffer to the pool.
    pub fn release(self, pool: &mut SizeClasses) {
        pool.give(self.buf);
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
    fn append(&mut self, data: &[u8], pool: &mut SizeClasses) -> Result<(), ChunkError> {
        let len = *self.len + data.len();
        if len > self.limit {
            return Err(ChunkError::TooLarge);
        }
        let (used, need) = (self.head_len + *self.len, self.head_len + len);
        if need > self.buf.len() {
            let mut bigger = pool.take_at_least(need).ok_or(ChunkError::TooLarge)?;
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
            Some(HeadError::BodyTooLarge)
        );
        let mut rx = BodyRx::start(b"", Declared::Chunked, 100, &mut pool).unwrap();
        assert_eq!(rx.absorb(b"65\r\n", &mut pool), Ok(4));
        assert_eq!(rx.absorb(&[b'a'; 101], &mut pool), Err(HeadError::BodyTooLarge));
    }
}
