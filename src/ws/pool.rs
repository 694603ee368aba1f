//! The WebSocket side's use of the pools of `rt::pool`: frame buffers for
//! what handles send, and a thread's read and reassembly buffers. Both are
//! `Vec`s in size classes; these are the policies on top.

use crate::rt::pool::SizeClasses;
use crate::rt::pool::{BufSource, GrowingSource};

/// Capacities of the frame buffer classes: a frame takes a buffer of the
/// smallest class that holds it, so a reused buffer never has to grow.
const FRAME_CLASSES: [usize; 6] = [128, 1024, 8 * 1024, 64 * 1024, 512 * 1024, 4 << 20];

/// Bytes of spare buffers one class keeps at most (and at most
/// `SPARES_MAX` buffers): enough for steady traffic, without holding on
/// to a burst's memory.
const CLASS_BUDGET: usize = 16 << 20;
const SPARES_MAX: usize = 4096;

/// Spare frame buffers in size classes; a frame buffer is handed out
/// empty, with room for its frame.
pub struct FramePool {
    classes: SizeClasses<Vec<u8>>,
}

impl Default for FramePool {
    fn default() -> Self {
        FramePool { classes: SizeClasses::new(FRAME_CLASSES, CLASS_BUDGET, SPARES_MAX) }
    }
}

impl FramePool {
    /// An empty buffer with room for `len` bytes: a spare of the right
    /// class, or a new one (of the class's full size, so it can be reused
    /// for any frame of its class).
    pub fn take(&mut self, len: usize) -> Vec<u8> {
        match self.classes.take_at_least(len) {
            Some(mut buf) => {
                buf.clear();
                buf
            }
            None => Vec::with_capacity(len),
        }
    }

    /// Keeps `buf` for reuse in the largest class it can serve, unless that
    /// class is full.
    pub fn give(&mut self, buf: Vec<u8>) {
        self.classes.give(buf);
    }

    /// Lets go of half of the spares no take needed lately
    /// ([`SizeClasses::trim`]); the bytes let go of.
    pub fn trim(&mut self) -> usize {
        self.classes.trim()
    }

    /// Bytes of the spares kept.
    pub fn free_bytes(&self) -> usize {
        self.classes.free_bytes()
    }
}

/// Read and reassembly buffers: `size`-byte ones, and larger ones for
/// large frames and messages (up to `keep_max` bytes) in doubling classes,
/// so that a large frame finds a large buffer again. A buffer's length is
/// its usable size (zero-filled).
pub struct VecPool {
    classes: SizeClasses<Vec<u8>>,
    size: usize,
}

impl VecPool {
    /// Buffers of `size` bytes and up to `keep_max`, keeping at most
    /// `limit` of each size (fewer of large ones).
    pub fn new(size: usize, keep_max: usize, limit: usize) -> Self {
        let classes = SizeClasses::doubling(size, keep_max.max(size), CLASS_BUDGET, limit);
        VecPool { classes, size }
    }

    /// A zero-filled buffer whose length is its usable size.
    pub fn take(&mut self) -> Vec<u8> {
        self.take_at_least(self.size)
    }

    /// A buffer of at least `len` usable bytes: a spare of the right class,
    /// or a new one.
    pub fn take_at_least(&mut self, len: usize) -> Vec<u8> {
        self.classes.take_at_least(len).unwrap_or_else(|| vec![0; len])
    }

    /// An empty buffer to append a message's fragments to: the largest
    /// spare, so that a long message rarely has to grow it.
    pub fn take_empty(&mut self) -> Vec<u8> {
        let mut buf = self.classes.take_largest().unwrap_or_else(|| vec![0; self.size]);
        buf.clear();
        buf
    }

    /// Takes `buf` back.
    pub fn give(&mut self, mut buf: Vec<u8>) {
        // Restore the full length (buffers are used by length); a read
        // buffer has it already, so this zeroes only what a reassembly
        // buffer held.
        if buf.len() != buf.capacity() {
            buf.resize(buf.capacity(), 0);
        }
        self.classes.give(buf);
    }

    /// Lets go of half of the spares no take needed lately
    /// ([`SizeClasses::trim`]); the bytes let go of.
    pub fn trim(&mut self) -> usize {
        self.classes.trim()
    }

    /// Bytes of the spares kept.
    pub fn free_bytes(&self) -> usize {
        self.classes.free_bytes()
    }
}

impl BufSource<Vec<u8>> for VecPool {
    fn take(&mut self) -> Vec<u8> {
        VecPool::take(self)
    }

    fn give(&mut self, buf: Vec<u8>) {
        VecPool::give(self, buf);
    }
}

impl GrowingSource<Vec<u8>> for VecPool {
    fn take_at_least(&mut self, n: usize) -> Vec<u8> {
        VecPool::take_at_least(self, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_buffers_are_reused_without_growing() {
        let mut pool = FramePool::default();
        let small = pool.take(10);
        let big = pool.take(5000);
        assert!(small.capacity() >= 10 && big.capacity() >= 5000);
        let big_ptr = big.as_ptr();
        pool.give(small);
        pool.give(big);
        // A 900-byte frame must not get the 128-byte buffer.
        assert!(pool.take(900).capacity() >= 900);
        assert!(pool.take(100).capacity() >= 100);
        let again = pool.take(5000);
        assert_eq!(again.as_ptr(), big_ptr, "the 8 KiB spare is reused");
    }

    #[test]
    fn read_buffers_of_the_right_size_come_back() {
        let mut pool = VecPool::new(1024, 64 * 1024, 8);
        let mut buf = pool.take();
        buf.resize(5000, 0);
        pool.give(buf);
        assert!(pool.take_at_least(4000).len() >= 4000);
        assert_eq!(pool.take().len(), 1024);
    }
}
