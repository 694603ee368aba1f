//! A cross-thread queue in front of a loop: any thread pushes, the loop's
//! thread takes everything at once between its polls, and a push that
//! finds the queue empty wakes the loop's poll. Sockets handed to a worker
//! or a WebSocket thread, and frames sent to WebSocket connections, travel
//! this way.

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};

use mio::Waker;

/// A queue of `T`s and the waker of the loop that empties it.
pub struct Mailbox<T> {
    queue: Mutex<Queue<T>>,
    /// Items it holds at most (`usize::MAX`: it grows past what it was
    /// made with).
    limit: usize,
    waker: Arc<Waker>,
}

/// The items, and whether the loop still takes them.
struct Queue<T> {
    items: Vec<T>,
    open: bool,
}

impl<T> Queue<T> {
    fn with_capacity(capacity: usize) -> Mutex<Self> {
        Mutex::new(Queue { items: Vec::with_capacity(capacity), open: true })
    }
}

thread_local! {
    /// The mailbox the loop running on this thread empties, if it claimed
    /// one: a push from that loop's own thread needs no wake-up, since the
    /// loop empties it before it polls again.
    static OWN: Cell<*const ()> = const { Cell::new(std::ptr::null()) };
}

impl<T> Mailbox<T> {
    /// A mailbox for at most `capacity` items (allocated now, so pushing
    /// and taking allocate nothing), waking the poll behind `waker`.
    pub fn bounded(capacity: usize, waker: Arc<Waker>) -> Self {
        Mailbox { queue: Queue::with_capacity(capacity), limit: capacity, waker }
    }

    /// A mailbox made with room for `capacity` items that grows past it
    /// (a burst allocates; steady traffic below it does not).
    pub fn growing(capacity: usize, waker: Arc<Waker>) -> Self {
        Mailbox { queue: Queue::with_capacity(capacity), limit: usize::MAX, waker }
    }

    fn lock(&self) -> MutexGuard<'_, Queue<T>> {
        // Every update under this lock is a single push or swap: a panic
        // cannot leave it half-done, so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks the calling thread as the one whose loop empties this mailbox
    /// (one mailbox per thread). The mailbox is known by its address, so
    /// it must not move afterwards (it lives in an `Arc`).
    pub fn claim_current_thread(&self) {
        OWN.with(|c| c.set((self as *const Self).cast()));
    }

    /// Queues `item`, waking the loop if it may be asleep; gives the item
    /// back if the queue is full or closed.
    pub fn push(&self, item: T) -> Result<(), T> {
        let was_empty = {
            let mut q = self.lock();
            if q.items.len() >= self.limit || !q.open {
                return Err(item);
            }
            q.items.push(item);
            q.items.len() == 1
        };
        // The loop takes everything per wake-up, so only the push that
        // finds the queue empty needs to wake it; its own thread never.
        if was_empty && !OWN.with(|c| std::ptr::eq(c.get(), (self as *const Self).cast())) {
            self.wake();
        }
        Ok(())
    }

    /// Whether items are waiting.
    pub fn has_pending(&self) -> bool {
        !self.lock().items.is_empty()
    }

    /// Moves every queued item into `into` (empty, and as large as the
    /// mailbox, so the swap allocates nothing).
    pub fn take_all(&self, into: &mut Vec<T>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut self.lock().items, into);
    }

    /// Drops what is queued and refuses every later push: the loop is
    /// ending, and an item queued after this would wait for nobody.
    pub fn close(&self) {
        let mut q = self.lock();
        q.open = false;
        q.items.clear();
    }

    /// Wakes the loop (for a hand-off, or for shutdown).
    pub fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            crate::logging::log_error!("cannot wake a server thread: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_taken_whole() {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let mailbox = Mailbox::bounded(2, waker);
        assert!(mailbox.push(1).is_ok() && mailbox.push(2).is_ok());
        assert_eq!(mailbox.push(3), Err(3));
        assert!(mailbox.has_pending());
        let mut got = Vec::with_capacity(2);
        mailbox.take_all(&mut got);
        assert_eq!(got, [1, 2]);
        assert!(!mailbox.has_pending());
        mailbox.push(4).unwrap();
        mailbox.close();
        assert!(!mailbox.has_pending(), "what was queued is dropped");
        assert_eq!(mailbox.push(5), Err(5), "a closed mailbox takes nothing");
    }
}
