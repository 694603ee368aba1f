//! Receiving a request body that does not fit the read buffer, or is
//! chunked, into a pooled buffer, so the handler still gets one slice.

use super::pool::BodyPool;
use crate::http::body::{ChunkError, ChunkedDecoder};
use crate::http::head::HeadError;
use crate::sys::AlignedBuf;

enum Framing {
    /// This many bytes still to come.
    Length(u64),
    Chunked(ChunkedDecoder),
}

/// A body being received; its head stays at the front of the read buffer.
pub struct BodyRx {
    buf: AlignedBuf,
    len: usize,
    framing: Framing,
    limit: usize,
    /// Bytes of the head in front of the body in the read buffer.
    pub head_len: usize,
}

impl BodyRx {
    /// Starts receiving a body of `content_length` bytes, or a chunked one;
    /// refuses (413) a declared length over `limit` before reading any.
    pub fn start(
        head_len: usize,
        content_length: u64,
        chunked: bool,
        limit: usize,
        pool: &mut BodyPool,
    ) -> Result<Self, HeadError> {
        if content_length > limit as u64 {
            return Err(HeadError::BodyTooLarge);
        }
        let framing =
            if chunked { Framing::Chunked(ChunkedDecoder::new()) } else { Framing::Length(content_length) };
        // The smallest buffer, grown as bytes arrive: memory follows what a
        // client sent, not what it declared (a declared length costs it
        // nothing to send, and could otherwise pin `limit` bytes each).
        let buf = pool.take_at_least(1).ok_or(HeadError::BodyTooLarge)?;
        Ok(BodyRx { buf, len: 0, framing, limit, head_len })
    }

    /// Moves body bytes from the front of `input` (what follows the head)
    /// into the body buffer; returns how many were used. Bytes after the
    /// end of the body are left (a pipelined request).
    pub fn absorb(&mut self, input: &[u8], pool: &mut BodyPool) -> Result<usize, HeadError> {
        let BodyRx { buf, len, framing, limit, .. } = self;
        match framing {
            Framing::Length(remaining) => {
                let n = input.len().min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                append(buf, len, &input[..n], *limit, pool).map_err(|_| HeadError::BodyTooLarge)?;
                *remaining -= n as u64;
                Ok(n)
            }
            Framing::Chunked(decoder) => {
                let mut sink = |data: &[u8]| append(buf, len, data, *limit, pool);
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

    /// The body received so far.
    pub fn body(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Returns the buffer to the pool.
    pub fn release(self, pool: &mut BodyPool) {
        pool.give(self.buf);
    }
}

/// Appends body bytes, moving to a larger pooled buffer when needed.
fn append(
    buf: &mut AlignedBuf,
    len: &mut usize,
    data: &[u8],
    limit: usize,
    pool: &mut BodyPool,
) -> Result<(), ChunkError> {
    let need = *len + data.len();
    if need > limit {
        return Err(ChunkError::TooLarge);
    }
    if need > buf.len() {
        let mut bigger = pool.take_at_least(need).ok_or(ChunkError::TooLarge)?;
        bigger[..*len].copy_from_slice(&buf[..*len]);
        pool.give(std::mem::replace(buf, bigger));
    }
    buf[*len..need].copy_from_slice(data);
    *len = need;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_grow_across_classes() {
        let mut pool = BodyPool::new(16384, 1 << 20, 4);
        let mut rx = BodyRx::start(0, 0, true, 1 << 20, &mut pool).unwrap();
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
    }

    #[test]
    fn declared_lengths_take_memory_only_as_bytes_arrive() {
        let mut pool = BodyPool::new(16384, 1 << 20, 4);
        let mut rx = BodyRx::start(0, 1 << 20, false, 1 << 20, &mut pool).unwrap();
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
        let mut pool = BodyPool::new(16384, 1 << 20, 4);
        assert_eq!(BodyRx::start(0, 2 << 20, false, 1 << 20, &mut pool).err(), Some(HeadError::BodyTooLarge));
        let mut rx = BodyRx::start(0, 0, true, 100, &mut pool).unwrap();
        assert_eq!(rx.absorb(b"65\r\n", &mut pool), Ok(4));
        assert_eq!(rx.absorb(&[b'a'; 101], &mut pool), Err(HeadError::BodyTooLarge));
    }
}
