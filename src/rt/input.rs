//! A connection's read side: the pooled read buffer and the unparsed bytes
//! in it, which survive between reads (split and pipelined requests).

use std::io;
use std::ops::DerefMut;

use super::pool::{BufSource, GrowingSource, PoolBuf};
use crate::sys::AlignedBuf;

/// What one read brought.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadOutcome {
    /// Bytes arrived; `emptied` when fewer came than there was room for
    /// and no FIN is pending: the socket had nothing more at that moment,
    /// and the edge-triggered poll reports the next arrival.
    Data {
        /// The read was short: the socket is empty (see above).
        emptied: bool,
        /// Bytes read.
        read: usize,
    },
    /// Nothing to read now.
    WouldBlock,
    /// The peer will send nothing more.
    Eof,
    /// The buffer is full of unparsed bytes; nothing was read.
    Full,
}

/// Where a connection's bytes come from: one read, as `Read::read` (a
/// socket reads with [`sys::recv`](crate::sys::recv)).
pub trait Receive {
    /// Reads what is there into `buf`; `Ok(0)` is the end of the stream.
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// Bytes given whole, as tests give them.
#[cfg(test)]
impl Receive for &[u8] {
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        io::Read::read(self, buf)
    }
}

/// How far the peer's sending side has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadEnd {
    /// It may send more.
    Open,
    /// The poll reported its FIN (or a hang-up): reads go on until they
    /// reach it, across turns, since no new edge will announce it.
    FinReported,
    /// A read reached it.
    Eof,
}

/// Unparsed input of one connection. Holds a pooled buffer only while
/// there are unparsed bytes.
pub struct Input<B = AlignedBuf> {
    buf: Option<B>,
    start: usize,
    end: usize,
    read_end: ReadEnd,
}

impl<B> Default for Input<B> {
    fn default() -> Self {
        Self::new()
    }
}

impl<B> Input<B> {
    /// Empty, holding no buffer.
    pub const fn new() -> Self {
        Input { buf: None, start: 0, end: 0, read_end: ReadEnd::Open }
    }

    /// Whether no unconsumed byte is buffered.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Marks `n` pending bytes as used.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
    }

    /// The poll reported the peer's FIN: reads are to reach it.
    pub fn fin_reported(&mut self) {
        if self.read_end == ReadEnd::Open {
            self.read_end = ReadEnd::FinReported;
        }
    }

    /// The poll reported the peer's FIN, and no read has reached it yet.
    pub fn fin_reported_unread(&self) -> bool {
        self.read_end == ReadEnd::FinReported
    }

    /// A read reached the peer's FIN.
    pub fn at_eof(&self) -> bool {
        self.read_end == ReadEnd::Eof
    }

    /// Returns the buffer to `pool` if nothing is pending.
    pub fn release(&mut self, pool: &mut impl BufSource<B>) {
        if self.is_empty() {
            if let Some(buf) = self.buf.take() {
                pool.give(buf);
            }
        }
    }

    /// Drops all pending bytes and returns the buffer.
    pub fn discard(&mut self, pool: &mut impl BufSource<B>) {
        (self.start, self.end) = (0, 0);
        self.release(pool);
    }
}

impl<B: DerefMut<Target = [u8]>> Input<B> {
    /// The bytes received and not yet consumed.
    pub fn pending(&self) -> &[u8] {
        match &self.buf {
            Some(b) => &b[self.start..self.end],
            None => &[],
        }
    }

    /// The bytes received and not yet consumed, to change in place (a
    /// WebSocket payload is unmasked there).
    pub fn pending_mut(&mut self) -> &mut [u8] {
        match &mut self.buf {
            Some(b) => &mut b[self.start..self.end],
            None => &mut [],
        }
    }

    /// Reads once from `r`, taking a buffer from `pool` if none is held
    /// and moving pending bytes to the front first if they do not start it.
    pub fn read_from(
        &mut self,
        r: &mut impl Receive,
        pool: &mut impl BufSource<B>,
    ) -> io::Result<ReadOutcome> {
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
            return match r.receive(&mut buf[self.end..]) {
                Ok(0) => {
                    self.read_end = ReadEnd::Eof;
                    Ok(ReadOutcome::Eof)
                }
                Ok(n) => {
                    self.end += n;
                    // A FIN that came with the data raises no new edge.
                    Ok(ReadOutcome::Data { emptied: n < room && self.read_end == ReadEnd::Open, read: n })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadOutcome::WouldBlock),
                Err(e) => Err(e),
            };
        }
    }

    /// Starts with `bytes` pending: what arrived before this reader took
    /// the connection over, in a buffer from `pool` that holds them all.
    pub fn preload(&mut self, bytes: &[u8], pool: &mut impl GrowingSource<B>)
    where
        B: PoolBuf,
    {
        debug_assert!(self.buf.is_none(), "preloaded once, first");
        let mut buf = pool.take_at_least(bytes.len());
        buf[..bytes.len()].copy_from_slice(bytes);
        self.buf = Some(buf);
        (self.start, self.end) = (0, bytes.len());
    }

    /// Makes the buffer able to hold `total` bytes from the front of the
    /// pending ones (a unit longer than what has arrived of it): moves
    /// them to the front, or into a buffer of at least `total` bytes from
    /// `pool` if this one is too small, so the rest arrives behind them.
    pub fn reserve(&mut self, total: usize, pool: &mut impl GrowingSource<B>)
    where
        B: PoolBuf,
    {
        let Some(buf) = &mut self.buf else { return };
        if buf.len() - self.start >= total {
            return;
        }
        let len = self.end - self.start;
        if buf.len() < total {
            let mut larger = pool.take_at_least(total);
            larger[..len].copy_from_slice(&buf[self.start..self.end]);
            pool.give(std::mem::replace(buf, larger));
        } else {
            buf.copy_within(self.start..self.end, 0);
        }
        (self.start, self.end) = (0, len);
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

    /// Vectors of eight bytes, and larger ones on request.
    struct Vecs;
    impl BufSource<Vec<u8>> for Vecs {
        fn take(&mut self) -> Vec<u8> {
            vec![0; 8]
        }
        fn give(&mut self, _: Vec<u8>) {}
    }
    impl GrowingSource<Vec<u8>> for Vecs {
        fn take_at_least(&mut self, n: usize) -> Vec<u8> {
            vec![0; n.max(8)]
        }
    }

    #[test]
    fn a_reported_fin_is_read_to_and_remembered() {
        let mut input: Input = Input::new();
        let mut src: &[u8] = b"abc";
        input.fin_reported();
        assert_eq!(
            input.read_from(&mut src, &mut Pool).unwrap(),
            ReadOutcome::Data { emptied: false, read: 3 },
            "a short read is not the end when a FIN is still to be read"
        );
        assert!(!input.at_eof());
        assert_eq!(input.read_from(&mut src, &mut Pool).unwrap(), ReadOutcome::Eof);
        assert!(input.at_eof());
    }

    #[test]
    fn reserve_moves_a_unit_to_the_front_or_into_a_larger_buffer() {
        let mut input: Input<Vec<u8>> = Input::new();
        let mut src: &[u8] = b"xxxxxxab";
        input.read_from(&mut src, &mut Vecs).unwrap();
        input.consume(6);
        input.reserve(4, &mut Vecs);
        assert_eq!(input.pending(), b"ab");
        let mut src: &[u8] = b"cd";
        input.read_from(&mut src, &mut Vecs).unwrap();
        assert_eq!(input.pending(), b"abcd");
        input.reserve(20, &mut Vecs);
        let mut src: &[u8] = &[b'e'; 16];
        // The larger buffer has room for exactly the rest of the unit.
        assert_eq!(
            input.read_from(&mut src, &mut Vecs).unwrap(),
            ReadOutcome::Data { emptied: false, read: 16 }
        );
        assert_eq!(input.pending().len(), 20);
        assert_eq!(&input.pending()[..5], b"abcde");
    }

    #[test]
    fn preloaded_bytes_get_a_buffer_that_holds_them() {
        let mut input: Input<Vec<u8>> = Input::new();
        input.preload(&[b'p'; 30], &mut Vecs);
        assert_eq!(input.pending(), &[b'p'; 30][..]);
        input.pending_mut()[0] = b'q';
        input.consume(1);
        assert_eq!(input.pending(), &[b'p'; 29][..]);
    }

    #[test]
    fn keeps_the_unconsumed_tail_across_reads() {
        let mut input: Input = Input::new();
        let mut src: &[u8] = b"abcdefghijkl";
        assert_eq!(
            input.read_from(&mut src, &mut Pool).unwrap(),
            ReadOutcome::Data { emptied: false, read: 8 }
        );
        assert_eq!(input.pending(), b"abcdefgh");
        assert_eq!(input.read_from(&mut src, &mut Pool).unwrap(), ReadOutcome::Full);
        input.consume(6);
        assert_eq!(
            input.read_from(&mut src, &mut Pool).unwrap(),
            ReadOutcome::Data { emptied: true, read: 4 }
        );
        assert_eq!(input.pending(), b"ghijkl");
        input.consume(6);
        assert!(input.is_empty());
        assert_eq!(input.read_from(&mut src, &mut Pool).unwrap(), ReadOutcome::Eof);
    }
}
