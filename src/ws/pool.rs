//! Per-thread pool of byte buffers for WebSocket reads and reassembly.

/// Grown buffers a pool keeps at most, in bytes (of `keep_max` each) and
/// in number.
const LARGE_BUDGET: usize = 16 << 20;
const LARGE_MAX: usize = 64;

/// Read and reassembly buffers: `size`-byte ones, and the larger ones
/// that grew for large frames or messages (up to `keep_max` bytes), kept
/// apart so that a large frame finds a large buffer again.
pub struct VecPool {
    free: Vec<Vec<u8>>,
    large: Vec<Vec<u8>>,
    size: usize,
    keep_max: usize,
    /// `size`-byte buffers kept at most.
    limit: usize,
    /// Grown buffers kept at most.
    large_limit: usize,
}

impl VecPool {
    /// A pool of `size`-byte buffers, keeping at most `limit` of them.
    pub fn new(size: usize, keep_max: usize, limit: usize) -> Self {
        let keep_max = keep_max.max(size);
        let large_limit = (LARGE_BUDGET / keep_max).clamp(2, LARGE_MAX);
        VecPool {
            free: Vec::with_capacity(limit.min(1024)),
            large: Vec::with_capacity(large_limit),
            size,
            keep_max,
            limit,
            large_limit,
        }
    }

    /// A zero-filled buffer whose length is its usable size.
    pub fn take(&mut self) -> Vec<u8> {
        self.free.pop().unwrap_or_else(|| vec![0; self.size])
    }

    /// A buffer of at least `len` usable bytes: a large spare that is big
    /// enough, if there is one.
    pub fn take_at_least(&mut self, len: usize) -> Vec<u8> {
        if len <= self.size {
            return self.take();
        }
        match self.large.iter().position(|b| b.len() >= len) {
            Some(i) => self.large.swap_remove(i),
            None => vec![0; len],
        }
    }

    /// An empty buffer to append a message's fragments to: the largest
    /// spare, so that a long message rarely has to grow it.
    pub fn take_empty(&mut self) -> Vec<u8> {
        let largest = (0..self.large.len()).max_by_key(|&i| self.large[i].len());
        let mut v = match largest {
            Some(i) => self.large.swap_remove(i),
            None => self.take(),
        };
        v.clear();
        v
    }

    /// Takes `buf` back (dropping it if its list is full or it grew past
    /// `keep_max`).
    pub fn give(&mut self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap < self.size || cap > self.keep_max {
            return;
        }
        // Restore the full length (buffers are used by length); a read
        // buffer has it already, so this zeroes only what a reassembly
        // buffer held.
        if buf.len() != cap {
            buf.resize(cap, 0);
        }
        let (list, limit) =
            if cap == self.size { (&mut self.free, self.limit) } else { (&mut self.large, self.large_limit) };
        if list.len() < limit {
            list.push(buf);
        }
    }
}

/// Capacities of the frame buffer classes: a frame takes a buffer of the
/// smallest class that holds it, so a reused buffer never has to grow.
const FRAME_CLASSES: [usize; 6] = [128, 1024, 8 * 1024, 64 * 1024, 512 * 1024, 4 << 20];

/// Bytes of spare buffers one class keeps at most (and at most
/// `FRAME_SPARES_MAX` buffers): enough for steady traffic, without holding
/// on to a burst's memory.
const FRAME_CLASS_BUDGET: usize = 16 << 20;
const FRAME_SPARES_MAX: usize = 4096;

/// Spare frame buffers in size classes.
#[derive(Default)]
pub struct FramePool {
    classes: [Vec<Vec<u8>>; FRAME_CLASSES.len()],
}

impl FramePool {
    /// An empty buffer with room for `len` bytes: a spare of the right
    /// class, or a new one (of the class's full size, so it can be reused
    /// for any frame of its class).
    pub fn take(&mut self, len: usize) -> Vec<u8> {
        match FRAME_CLASSES.iter().position(|&c| c >= len) {
            Some(class) => {
                self.classes[class].pop().unwrap_or_else(|| Vec::with_capacity(FRAME_CLASSES[class]))
            }
            None => Vec::with_capacity(len),
        }
    }

    /// Keeps `buf` for reuse in the largest class it can serve, unless that
    /// class is full; buffers below the smallest class or past the largest
    /// are dropped.
    pub fn give(&mut self, mut buf: Vec<u8>) {
        let cap = buf.capacity();
        if cap > 2 * FRAME_CLASSES[FRAME_CLASSES.len() - 1] {
            return;
        }
        let Some(class) = FRAME_CLASSES.iter().rposition(|&c| c <= cap) else { return };
        let list = &mut self.classes[class];
        if list.len() < FRAME_SPARES_MAX.min(FRAME_CLASS_BUDGET / FRAME_CLASSES[class]).max(2) {
            buf.clear();
            list.push(buf);
        }
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
        pool.give(small);
        pool.give(big);
        // A 900-byte frame must not get the 128-byte buffer.
        assert!(pool.take(900).capacity() >= 900);
        assert!(pool.take(100).capacity() >= 100);
        // Empty buffers (no memory) are not kept.
        let kept = |p: &FramePool| p.classes.iter().map(Vec::len).sum::<usize>();
        let before = kept(&pool);
        pool.give(Vec::new());
        assert_eq!(kept(&pool), before);
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
