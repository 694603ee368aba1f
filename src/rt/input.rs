//! A connection's read side: the pooled read buffer and the unparsed bytes
//! in it, which survive between reads (split and pipelined requests).

use std::io::{self, Read};

use super::pool::BufSource;
use crate::sys::AlignedBuf;

/// What one read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes arrived; `emptied` when fewer came than there was room for,
    /// meaning the socket had nothing more at that moment.
    Data { emptied: bool },
    /// Nothing to read now.
    WouldBlock,
    /// The peer will send nothing more.
    Eof,
    /// The buffer is full of unparsed bytes; nothing was read.
    Full,
}

/// Unparsed input of one connection. Holds a pooled buffer only while
/// there are unparsed bytes.
pub struct Input {
    buf: Option<AlignedBuf>,
    start: usize,
    end: usize,
    /// Bytes consumed since the connection opened.
    consumed: u64,
}

impl Input {
    /// Empty, holding no buffer.
    pub const fn new() -> Self {
        Input { buf: None, start: 0, end: 0, consumed: 0 }
    }

    /// The bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.start..self.end],
            None => &[],
        }
    }

    /// Whether no unconsumed byte is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Bytes consumed since the connection opened (a measure of progress).
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Marks `n` pending bytes as used.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.consumed += n as u64;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// Reads once from `r`, taking a buffer from `pool` if none is held
    /// and moving pending bytes to the front first if they do not start it.
    pub fn read_from(&mut self, r: &mut impl Read, pool: &mut impl BufSource) -> io::Result<ReadOutcome> {
        let buf = self.buf.get_or_insert_with(|| pool.take());
        if self.start > 0 {
            buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
        }
        let room = buf.len() - self.end;
        if room == 0 {
            return Ok(ReadOutcome::Full);
        }
        loop {
            return match r.read(&mut buf[self.end..]) {
                Ok(0) => Ok(ReadOutcome::Eof),
                Ok(n) => {
                    self.end += n;
                    Ok(ReadOutcome::Data { emptied: n < room })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) => Err(e),
            };
        }
    }

    /// Returns the buffer to `pool` if nothing is pending.
    pub fn release(&mut self, pool: &mut impl BufSource) {
        if self.is_empty() {
            if let Some(buf) = self.buf.take() {
                pool.give(buf);
            }
        }
    }

    /// Drops all pending bytes and returns the buffer.
    pub fn discard(&mut self, pool: &mut impl BufSource) {
        (self.start, self.end) = (0, 0);
        self.release(pool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Pool;
    impl BufSource for Pool {
        fn take(&mut self) -> AlignedBuf {
            AlignedBuf::new(8)
        }
        fn give(&mut self, _: AlignedBuf) {}
    }

    #[test]
    fn keeps_the_unconsumed_tail_across_reads() {
        let mut input = Input::new();
        let mut src: &[u8] = b"abcdefghijkl";
        assert_eq!(input.read_from(&mut src, &mut Pool).unwrap(), ReadOutcome::Data { emptied: false });
        assert_eq!(input.pending(), b"abcdefgh");
        assert_eq!(input.read_from(&mut src, &mut Pool).unwrap(), ReadOutcome::Full);
        input.consume(6);
        assert_eq!(input.read_from(&mut src, &mut Pool).unwrap(), ReadOutcome::Data { emptied: true });
        assert_eq!(input.pending(), b"ghijkl");
        input.consume(6);
        assert!(input.is_empty());
        assert_eq!(input.read_from(&mut src, &mut Pool).unwrap(), ReadOutcome::Eof);
    }
}
