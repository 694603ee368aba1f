//! Pools of aligned buffers: of one size (a loop's read and write
//! buffers), and in size classes (request bodies); grown on demand up to a
//! cap, then reused, so steady-state serving allocates nothing.

use crate::sys::AlignedBuf;

/// A source of pooled buffers of one size.
pub trait BufSource {
    /// Takes a buffer.
    fn take(&mut self) -> AlignedBuf;
    /// Gives a buffer back.
    fn give(&mut self, buf: AlignedBuf);
}

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
    #[inline]
    fn take(&mut self) -> AlignedBuf {
        self.free.pop().unwrap_or_else(|| AlignedBuf::new(self.size))
    }

    #[inline]
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

/// Buffers in size classes (doubling), for request bodies that do not
/// fit the read buffer. Each class keeps a bounded number of free buffers,
/// so a burst of large bodies does not pin memory forever.
pub struct SizeClasses {
    classes: Vec<BufPool>,
}

/// Free memory a class keeps at most, per pool.
const CLASS_BUDGET: usize = 64 << 20;

impl SizeClasses {
    /// Classes from `min` (rounded up to a power of two) doubling, the last
    /// one exactly `max` bytes (not the next power of two, which could
    /// double what the largest body holds); each keeps at most `max_free`
    /// free buffers (fewer for large classes).
    pub fn new(min: usize, max: usize, max_free: usize) -> Self {
        let mut classes = Vec::new();
        let mut size = min.next_power_of_two();
        loop {
            let class = size.min(max);
            let keep = (CLASS_BUDGET / class).clamp(2, max_free.max(2));
            classes.push(BufPool::new(class, keep));
            if class >= max {
                break;
            }
            size *= 2;
        }
        SizeClasses { classes }
    }

    /// A buffer of at least `n` bytes, or `None` above the largest class.
    pub fn take_at_least(&mut self, n: usize) -> Option<AlignedBuf> {
        self.classes.iter_mut().find(|c| c.buf_size() >= n).map(|c| c.take())
    }

    /// Gives a buffer back to its class.
    pub fn give(&mut self, buf: AlignedBuf) {
        if let Some(class) = self.classes.iter_mut().find(|c| c.buf_size() == buf.len()) {
            class.give(buf);
        }
    }
}

#[cfg(test)]
mod class_tests {
    use super::*;

    #[test]
    fn classes_cover_the_limit() {
        let mut pool = SizeClasses::new(10_000, 100_000, 4);
        assert_eq!(pool.take_at_least(1).unwrap().len(), 16384);
        assert_eq!(pool.take_at_least(20_000).unwrap().len(), 32768);
        assert_eq!(pool.take_at_least(70_000).unwrap().len(), 100_000, "the last class is the limit");
        assert_eq!(pool.take_at_least(100_000).unwrap().len(), 100_000);
        assert!(pool.take_at_least(100_001).is_none());
        let b = pool.take_at_least(40_000).unwrap();
        let ptr = b.as_ptr();
        pool.give(b);
        assert_eq!(pool.take_at_least(40_000).unwrap().as_ptr(), ptr);
    }
}
