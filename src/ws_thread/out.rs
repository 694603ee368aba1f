//! A connection's unsent frames: whole frame buffers in order, written with
//! `writev`, never copied into one another.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Frames a `writev` takes at most.
const IOV_MAX: usize = 64;

/// Frames queued for one connection.
#[derive(Default)]
pub struct OutQueue {
    frames: VecDeque<Vec<u8>>,
    /// Bytes of the first frame already written.
    sent: usize,
    /// Unsent bytes in all.
    queued: usize,
}

/// How far a [`OutQueue::write_to`] got.
pub enum Written {
    /// Everything queued is out.
    All,
    /// The socket is full; `progressed`: some bytes went out first.
    Blocked { progressed: bool },
}

impl OutQueue {
    /// Nothing left to write.
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Unsent bytes.
    pub fn queued(&self) -> usize {
        self.queued
    }

    /// Queues a whole frame.
    pub fn push(&mut self, frame: Vec<u8>) {
        self.queued += frame.len();
        self.frames.push_back(frame);
    }

    /// Writes as much as `w` takes; each frame fully written goes to `spent`.
    pub fn write_to(&mut self, w: &mut impl Write, spent: &mut Vec<Vec<u8>>) -> io::Result<Written> {
        let mut progressed = false;
        while !self.frames.is_empty() {
            let mut iov = [IoSlice::new(&[]); IOV_MAX];
            let mut n = 0;
            for (slot, frame) in iov.iter_mut().zip(&self.frames) {
                let start = if n == 0 { self.sent } else { 0 };
                *slot = IoSlice::new(&frame[start..]);
                n += 1;
            }
            match w.write_vectored(&iov[..n]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    progressed = true;
                    self.advance(written, spent);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(Written::Blocked { progressed })
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Written::All)
    }

    fn advance(&mut self, mut written: usize, spent: &mut Vec<Vec<u8>>) {
        self.queued -= written;
        while written > 0 {
            let left = self.frames[0].len() - self.sent;
            if written < left {
                self.sent += written;
                return;
            }
            written -= left;
            self.sent = 0;
            spent.extend(self.frames.pop_front());
        }
    }

    /// Gives every queued frame to `spent`, unsent.
    pub fn discard(&mut self, spent: &mut Vec<Vec<u8>>) {
        spent.extend(self.frames.drain(..));
        (self.sent, self.queued) = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Takes at most `cap` bytes per call, then blocks once.
    struct Trickle {
        got: Vec<u8>,
        cap: usize,
        block_next: bool,
    }

    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if std::mem::take(&mut self.block_next) {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.block_next = true;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.cap - n);
                self.got.extend_from_slice(&b[..take]);
                n += take;
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn partial_writes_resume_in_order() {
        let mut q = OutQueue::default();
        let mut expected = Vec::new();
        for i in 0..100u8 {
            let frame = vec![i; usize::from(i % 7) + 1];
            expected.extend_from_slice(&frame);
            q.push(frame);
        }
        let mut w = Trickle { got: Vec::new(), cap: 5, block_next: false };
        let mut spent = Vec::new();
        for _ in 0..10_000 {
            if let Written::All = q.write_to(&mut w, &mut spent).unwrap() {
                break;
            }
        }
        assert!(q.is_empty());
        assert_eq!(q.queued(), 0);
        assert_eq!(w.got, expected);
        assert_eq!(spent.len(), 100);
    }
}
