//! Pools of buffers, one family for every buffer a loop reuses: of one
//! size (a connection's read and write buffers), and in size classes
//! (request bodies; WebSocket frames and messages). Grown on demand up to
//! a cap, then reused, so steady-state serving allocates nothing; each
//! class keeps a bounded number of free buffers, and [`trim`](BufPool::trim)
//! lets go of half of those no take reached in a while, so what a burst
//! grew goes back to the system once the burst is over.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sys::AlignedBuf;

/// How often a loop's pools let go of half of the free buffers they did
/// not need since the last time: memory a burst grew goes back within
/// minutes, while steady traffic keeps what it uses.
pub const TRIM_EVERY: Duration = Duration::from_secs(10);

/// When a loop's pools are trimmed next: every [`TRIM_EVERY`], checked at
/// the start of each turn; while they hold free buffers, a loop with
/// nothing else to do wakes for it (an idle loop gives back what a burst
/// grew).
#[derive(Debug)]
pub struct TrimClock {
    next: Instant,
}

impl TrimClock {
    /// The first trim a [`TRIM_EVERY`] after `now`.
    pub fn new(now: Instant) -> Self {
        TrimClock { next: now + TRIM_EVERY }
    }

    /// Whether a trim is due at `now`; if so, the next is set from now.
    pub fn due(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        self.next = now + TRIM_EVERY;
        true
    }

    /// When the loop must wake for the next trim, its pools holding `held`
    /// bytes of free buffers: never while they hold none.
    pub fn wake_at(&self, held: usize) -> Option<Instant> {
        (held > 0).then_some(self.next)
    }
}

/// Bytes the pools must have let go of before the C library is asked to
/// hand free pages back: that walks the whole heap under its locks, which
/// takes milliseconds on a large one.
const RELEASE_MIN: usize = 1 << 20;

/// After a loop's trim let go of `freed` bytes at `now`: once the loops
/// together let go of [`RELEASE_MIN`], asks the allocator to return its
/// free pages ([`release_free_memory`](crate::sys::release_free_memory)),
/// at most once per [`TRIM_EVERY`] for the whole process (one walk serves
/// every thread's arena), and never while another thread is at it.
pub fn release_freed(freed: usize, now: Instant) {
    static PENDING: AtomicUsize = AtomicUsize::new(0);
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    if PENDING.fetch_add(freed, Ordering::Relaxed) + freed < RELEASE_MIN {
        return;
    }
    let Ok(mut last) = LAST.try_lock() else { return };
    if last.is_some_and(|at| now.saturating_duration_since(at) < TRIM_EVERY) {
        return;
    }
    *last = Some(now);
    PENDING.store(0, Ordering::Relaxed);
    crate::sys::release_free_memory();
}

/// A buffer a pool can hand out and take back: made at a size, which it
/// keeps (zero-filled when new).
pub trait PoolBuf {
    /// A new buffer of `size` bytes.
    fn with_size(size: usize) -> Self;
    /// Its size.
    fn size(&self) -> usize;
}

impl PoolBuf for AlignedBuf {
    fn with_size(size: usize) -> Self {
        AlignedBuf::new(size)
    }

    fn size(&self) -> usize {
        self.len()
    }
}

/// A `Vec` is pooled by its capacity (its length is its user's business).
impl PoolBuf for Vec<u8> {
    fn with_size(size: usize) -> Self {
        vec![0; size]
    }

    fn size(&self) -> usize {
        self.capacity()
    }
}

/// A source of pooled buffers of one size.
pub trait BufSource<B = AlignedBuf> {
    /// Takes a buffer.
    fn take(&mut self) -> B;
    /// Gives a buffer back.
    fn give(&mut self, buf: B);
}

/// A source of buffers of one usual size that also has larger ones.
pub trait GrowingSource<B>: BufSource<B> {
    /// A buffer of at least `n` bytes.
    fn take_at_least(&mut self, n: usize) -> B;
}

/// Free buffers of one size.
pub struct BufPool<B = AlignedBuf> {
    free: Vec<B>,
    size: usize,
    /// The fewest free buffers since the last trim: that many were of no
    /// use in that time.
    low: usize,
    /// The same for the time between the two trims before, less what the
    /// last trim let go of.
    low_before: usize,
}

impl<B: PoolBuf> BufPool<B> {
    /// A pool of `size`-byte buffers keeping at most `max_free` free ones
    /// (the free list is allocated now, so giving back never allocates).
    pub fn new(size: usize, max_free: usize) -> Self {
        BufPool { free: Vec::with_capacity(max_free), size, low: 0, low_before: 0 }
    }

    /// Size of the buffers.
    pub fn buf_size(&self) -> usize {
        self.size
    }

    /// A free buffer, or a new one.
    #[inline]
    pub fn take_buf(&mut self) -> B {
        let buf = self.free.pop().unwrap_or_else(|| B::with_size(self.size));
        self.low = self.low.min(self.free.len());
        buf
    }

    /// Lets go of half (rounded up) of the free buffers no take reached
    /// since the trim before the last one (the oldest kept), and starts
    /// counting afresh; returns the bytes let go. Called now and then, it
    /// gives back what a burst grew while keeping what steady traffic
    /// uses: load that peaks higher every other time is met from what
    /// stays, not by allocating again.
    pub fn trim(&mut self) -> usize {
        let unused = self.low.min(self.low_before).div_ceil(2);
        self.free.drain(..unused);
        self.low_before = self.low - unused;
        self.low = self.free.len();
        unused * self.size
    }

    /// Keeps `buf` for reuse, unless as many are kept as the pool may.
    #[inline]
    pub fn give_buf(&mut self, buf: B) {
        if self.free.len() < self.free.capacity() {
            self.free.push(buf);
        }
    }

    /// Bytes of the free buffers kept.
    pub fn free_bytes(&self) -> usize {
        self.free.len() * self.size
    }

    /// Whether a free buffer is kept.
    fn has_free(&self) -> bool {
        !self.free.is_empty()
    }
}

impl BufSource for BufPool<AlignedBuf> {
    #[inline]
    fn take(&mut self) -> AlignedBuf {
        self.take_buf()
    }

    #[inline]
    fn give(&mut self, buf: AlignedBuf) {
        debug_assert_eq!(buf.len(), self.size);
        self.give_buf(buf);
    }
}

/// Buffers in size classes: a buffer comes from the smallest class that
/// holds what is asked, so a reused one never has to grow.
pub struct SizeClasses<B = AlignedBuf> {
    classes: Vec<BufPool<B>>,
}

impl<B: PoolBuf> SizeClasses<B> {
    /// Classes of `sizes` (ascending); each keeps at most `budget` bytes
    /// of free buffers, and between 2 and `max_free` of them.
    pub fn new(sizes: impl IntoIterator<Item = usize>, budget: usize, max_free: usize) -> Self {
        let keep = |size: usize| (budget / size).clamp(2, max_free.max(2));
        SizeClasses { classes: sizes.into_iter().map(|size| BufPool::new(size, keep(size))).collect() }
    }

    /// Classes from `min` (rounded up to a power of two) doubling, the
    /// last one exactly `max` bytes (not the next power of two, which
    /// could double what the largest buffer holds).
    pub fn doubling(min: usize, max: usize, budget: usize, max_free: usize) -> Self {
        let mut sizes = Vec::new();
        let mut size = min.next_power_of_two();
        loop {
            sizes.push(size.min(max));
            if size >= max {
                break;
            }
            size *= 2;
        }
        Self::new(sizes, budget, max_free)
    }

    /// A buffer of at least `n` bytes, or `None` above the largest class.
    pub fn take_at_least(&mut self, n: usize) -> Option<B> {
        self.classes.iter_mut().find(|c| c.buf_size() >= n).map(BufPool::take_buf)
    }

    /// The largest free buffer kept, if any.
    pub fn take_largest(&mut self) -> Option<B> {
        self.classes.iter_mut().rev().find(|c| c.has_free()).map(BufPool::take_buf)
    }

    /// Bytes of the free buffers kept, in every class.
    pub fn free_bytes(&self) -> usize {
        self.classes.iter().map(BufPool::free_bytes).sum()
    }

    /// [`BufPool::trim`] for every class.
    pub fn trim(&mut self) -> usize {
        self.classes.iter_mut().map(BufPool::trim).sum()
    }

    /// Gives a buffer back to the largest class it can serve; one smaller
    /// than every class, or more than twice the largest, is dropped.
    pub fn give(&mut self, buf: B) {
        let size = buf.size();
        if self.classes.last().is_some_and(|c| size > 2 * c.buf_size()) {
            return;
        }
        if let Some(class) = self.classes.iter_mut().rev().find(|c| c.buf_size() <= size) {
            class.give_buf(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_come_every_interval_and_wake_a_loop_only_while_pools_hold_memory() {
        let t0 = Instant::now();
        let mut clock = TrimClock::new(t0);
        assert!(!clock.due(t0 + TRIM_EVERY - Duration::from_nanos(1)));
        assert_eq!(clock.wake_at(0), None, "nothing to give back: no wake-up");
        assert_eq!(clock.wake_at(1), Some(t0 + TRIM_EVERY));
        // A turn that comes late sets the next trim from when it ran.
        let late = t0 + TRIM_EVERY + Duration::from_millis(3);
        assert!(clock.due(late));
        assert!(!clock.due(late), "once per interval");
        assert_eq!(clock.wake_at(1), Some(late + TRIM_EVERY));
        assert!(clock.due(late + TRIM_EVERY));
    }

    #[test]
    fn reuses_buffers_up_to_the_cap() {
        let mut pool: BufPool = BufPool::new(4096, 1);
        let a = pool.take();
        let a_ptr = a.as_ptr();
        let b = pool.take();
        pool.give(a);
        pool.give(b); // over the cap: freed
        assert_eq!(pool.take().as_ptr(), a_ptr);
        assert_eq!(pool.buf_size(), 4096);
    }

    #[test]
    fn trimming_lets_go_of_half_of_what_was_not_used() {
        let mut pool: BufPool = BufPool::new(4096, 16);
        let bufs: Vec<_> = (0..8).map(|_| pool.take()).collect();
        bufs.into_iter().for_each(|b| pool.give(b));
        let use_two = |pool: &mut BufPool| {
            let (a, b) = (pool.take(), pool.take());
            pool.give(a);
            pool.give(b);
        };
        // Since the start, as few as none were free: nothing goes.
        assert_eq!(pool.trim(), 0);
        // Then two at a time are used: six of eight stay free throughout,
        // twice in a row before half of them go.
        use_two(&mut pool);
        assert_eq!(pool.trim(), 0, "one time with six unused is not enough");
        use_two(&mut pool);
        assert_eq!(pool.trim(), 3 * 4096, "half of the six never taken twice");
        assert_eq!(pool.free_bytes(), 5 * 4096);
        // Idle: halves each time, to none (an idle worker holds nothing).
        let trims: Vec<usize> = (0..5).map(|_| pool.trim() / 4096).collect();
        assert_eq!(trims, [2, 2, 1, 0, 0]);
        assert_eq!(pool.free_bytes(), 0);
    }

    #[test]
    fn a_load_that_peaks_higher_every_other_time_allocates_once() {
        // Twelve buffers in use at the peak of one time, ten of the next,
        // and so on: what the higher peak grew is kept.
        let mut pool: BufPool<Vec<u8>> = BufPool::new(64, 64);
        let mut made = 0;
        for period in 0..12 {
            let peak = if period % 2 == 0 { 12 } else { 10 };
            let held: Vec<_> = (0..peak)
                .map(|_| {
                    made += usize::from(pool.free.is_empty());
                    pool.take_buf()
                })
                .collect();
            held.into_iter().for_each(|b| pool.give_buf(b));
            pool.trim();
        }
        assert_eq!(made, 12, "buffers made after the first peak");
    }

    #[test]
    fn classes_cover_the_limit() {
        let mut pool: SizeClasses = SizeClasses::doubling(10_000, 100_000, 64 << 20, 4);
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

    #[test]
    fn vecs_go_back_to_the_class_their_capacity_serves() {
        let mut pool: SizeClasses<Vec<u8>> = SizeClasses::new([128, 1024, 8192], 1 << 20, 8);
        let mut grown = pool.take_at_least(100).unwrap();
        grown.reserve(3000); // now serves the 1024 class, not the 8192 one
        let ptr = grown.as_ptr();
        pool.give(grown);
        let again = pool.take_at_least(900).unwrap();
        assert_eq!(again.as_ptr(), ptr);
        assert!(pool.take_at_least(5000).unwrap().capacity() >= 5000);
        pool.give(Vec::new());
        pool.give(Vec::with_capacity(1 << 20)); // past twice the largest: dropped
        assert!(pool.take_largest().is_none());
    }
}
