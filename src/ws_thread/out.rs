//! A connection's unsent frames: whole frame buffers in order, written with
//! `writev`, never copied into one another.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Write};

/// Frames a `writev` takes at most.
const IOV_MAX: usize = 64;

/// Memory a queued frame takes besides its bytes: a small frame's buffer
/// is of the smallest class (128 bytes), and its place in the queue and
/// the allocator's bookkeeping add to it. Counted, so that a client
/// sending tiny frames (each answered: pings, empty messages echoed) and
/// reading nothing is held to the limits as one sending large ones is.
/// (A large frame's buffer may be up to twice its bytes; that is not
/// counted, so limits stay what they say for large messages.)
const FRAME_OVERHEAD: usize = 128;

/// Frames queued for one connection.
#[derive(Default)]
pub struct OutQueue {
    frames: VecDeque<Vec<u8>>,
    /// Bytes of the first frame already written.
    sent: usize,
    /// Memory the unsent frames take ([`OutQueue::cost`] of each).
    held: usize,
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

    /// Memory the unsent frames take: what the limits on a client's
    /// unread output count.
    pub fn held(&self) -> usize {
        self.held
    }

    /// What `frame` counts for once queued: its bytes and the overhead.
    pub fn cost(frame: &[u8]) -> usize {
        frame.len() + FRAME_OVERHEAD
    }

    /// Queues a whole frame.
    pub fn push(&mut self, frame: Vec<u8>) {
        self.held += Self::cost(&frame);
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
        while written > 0 {
            let left = self.frames[0].len() - self.sent;
            if written < left {
                self.sent += written;
                return;
            }
            written -= left;
            self.sent = 0;
            if let Some(frame) = self.frames.pop_front() {
                self.held -= Self::cost(&frame);
                spent.push(frame);
            }
        }
    }

    /// Gives every queued frame to `spent`, unsent.
    pub fn discard(&mut self, spent: &mut Vec<Vec<u8>>) {
        spent.extend(self.frames.drain(..));
        (self.sent, self.held) = (0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_frames_count_what_they_take_not_only_their_bytes() {
        // 2-byte pongs to a client that reads nothing: a queue of 1 MiB
        // of them would be half a million buffers.
        let mut q = OutQueue::default();
        for _ in 0..1000 {
            q.push(vec![0x8a, 0]);
        }
        assert!(q.held() >= 1000 * (2 + FRAME_OVERHEAD), "held {}", q.held());
        let mut spent = Vec::new();
        q.discard(&mut spent);
        assert_eq!((q.held(), spent.len()), (0, 1000));
    }

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
        assert_eq!(q.held(), 0);
        assert_eq!(w.got, expected);
        assert_eq!(spent.len(), 100);
    }
}
