//! A worker's pool of aligned buffers: grown on demand up to a cap, then
//! reused, so steady-state serving allocates nothing.

use crate::http::write::BufSource;
use crate::sys::AlignedBuf;

/// Free buffers of one size.
pub struct BufPool {
    free: Vec<AlignedBuf>,
    size: usize,
}

impl BufPool {
    /// A pool of `size`-byte buffers keeping at most `max_free` free ones
    /// (the free list is allocated now, so giving back never allocates).
    pub fn new(size: usize, max_free: usize) -> Self {
        BufPool { free: Vec::with_capacity(max_free), size }
    }

    /// Size of the buffers.
    pub fn buf_size(&self) -> usize {
        self.size
    }
}

impl BufSource for BufPool {
    fn take(&mut self) -> AlignedBuf {
        self.free.pop().unwrap_or_else(|| AlignedBuf::new(self.size))
    }

    fn give(&mut self, buf: AlignedBuf) {
        debug_assert_eq!(buf.len(), self.size);
        if self.free.len() < self.free.capacity() {
            self.free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reuses_buffers_up_to_the_cap() {
        let mut pool = BufPool::new(4096, 1);
        let a = pool.take();
        let a_ptr = a.as_ptr();
        let b = pool.take();
        pool.give(a);
        pool.give(b); // over the cap: freed
        assert_eq!(pool.take().as_ptr(), a_ptr);
        assert_eq!(pool.buf_size(), 4096);
    }
}
