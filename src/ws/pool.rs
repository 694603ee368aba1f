//! Per-thread pool of byte buffers for WebSocket reads and reassembly.

/// Buffers of at least `size` bytes, handed out and taken back; buffers
/// that grew for a large frame are kept only up to `keep_max` bytes.
pub struct VecPool {
    free: Vec<Vec<u8>>,
    size: usize,
    keep_max: usize,
    /// Buffers kept at most.
    limit: usize,
}

impl VecPool {
    /// A pool of `size`-byte buffers, keeping at most `limit` free ones.
    pub fn new(size: usize, keep_max: usize, limit: usize) -> Self {
        VecPool { free: Vec::with_capacity(limit.min(1024)), size, keep_max: keep_max.max(size), limit }
    }

    /// A zero-filled buffer whose length is its usable size.
    pub fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.size])
    }

    /// An empty buffer to append to.
    pub fn take_empty(&mut self) -> Vec<u8> {
        let mut v = self.take();
        v.clear();
        v
    }

    /// Takes `buf` back (dropping it if the pool is full or it grew large).
    pub fn give(&mut self, mut buf: Vec<u8>) {
        if self.free.len() < self.limit && buf.capacity() <= self.keep_max && buf.capacity() >= self.size {
            // Restore the full length (reading buffers are used by length);
            // a read buffer has it already, so this zeroes only what a
            // reassembly buffer held.
            if buf.len() != buf.capacity() {
                buf.resize(buf.capacity(), 0);
            }
            self.free.push(buf);
        }
    }
}
