//! The hand-off of sockets between threads (accept thread → worker, worker
//! → WebSocket thread): a bounded queue, preallocated, the receiving
//! thread's `mio::Waker`, and the seats that say whether it has room.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mio::net::TcpStream;
use mio::Waker;

/// An accepted socket on its way to a worker.
pub type Accepted = (TcpStream, SocketAddr);

/// The places a thread has for connections. A seat is taken before a
/// connection is placed there (so a thread with no room is skipped, not
/// sent a connection it must refuse) and given back when the connection
/// leaves; written at connection, not request, frequency.
pub struct Seats {
    taken: AtomicUsize,
    capacity: usize,
}

impl Seats {
    /// `capacity` seats, all free.
    pub fn new(capacity: usize) -> Self {
        Seats { taken: AtomicUsize::new(0), capacity }
    }

    /// Takes a seat if one is free.
    pub fn take(&self) -> bool {
        let capacity = self.capacity;
        self.taken
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < capacity).then_some(n + 1))
            .is_ok()
    }

    /// Gives a taken seat back.
    pub fn give_back(&self) {
        let before = self.taken.fetch_sub(1, Ordering::AcqRel);
        debug_assert!(before > 0, "a seat given back twice");
    }

    /// Takes every seat, for good: the thread takes no more connections.
    pub fn close(&self) {
        self.taken.store(usize::MAX / 2, Ordering::Release);
    }

    /// Seats free now (a snapshot).
    pub fn free(&self) -> usize {
        self.capacity.saturating_sub(self.taken.load(Ordering::Acquire))
    }
}

/// A thread's inbox of `T`s (sockets, with what comes with them).
pub struct Handoff<T = Accepted> {
    queue: Mutex<VecDeque<T>>,
    capacity: usize,
    waker: Arc<Waker>,
    seats: Seats,
}

impl<T> Handoff<T> {
    /// An inbox for at most `capacity` sockets, waking the poll behind
    /// `waker`, for a thread that holds `seats` connections.
    pub fn new(capacity: usize, seats: usize, waker: Arc<Waker>) -> Self {
        Handoff {
            queue: Mutex::new(VecDeque::with_capacity(capacity)),
            capacity,
            waker,
            seats: Seats::new(seats),
        }
    }

    /// The receiving thread's seats.
    pub fn seats(&self) -> &Seats {
        &self.seats
    }

    /// Takes a seat and queues `item`, or gives it back when the thread has
    /// no seat free (or the queue is full); the seat is the item's until
    /// the thread gives it back.
    pub fn place(&self, item: T) -> Result<(), T> {
        if !self.seats.take() {
            return Err(item);
        }
        self.push(item).inspect_err(|_| self.seats.give_back())
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        // A panic while holding this lock cannot leave the queue half-updated
        // (push/pop are atomic with respect to it), so poisoning is ignored.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a socket and wakes the worker if it may be asleep; gives the
    /// socket back if the queue is full.
    pub fn push(&self, accepted: T) -> Result<(), T> {
        let was_empty = {
            let mut q = self.lock();
            if q.len() >= self.capacity {
                return Err(accepted);
            }
            q.push_back(accepted);
            q.len() == 1
        };
        // The worker empties the whole queue per wake-up, so only the push
        // that finds it empty needs to wake it.
        if was_empty {
            self.wake();
        }
        Ok(())
    }

    /// Moves every queued socket into `into` (which must be empty and have
    /// the same capacity, so the swap allocates nothing).
    pub fn take_all(&self, into: &mut VecDeque<T>) {
        debug_assert!(into.is_empty());
        std::mem::swap(&mut *self.lock(), into);
    }

    /// Wakes the worker (for a hand-off or for shutdown).
    pub fn wake(&self) {
        if let Err(e) = self.waker.wake() {
            log_wake_error(&e);
        }
    }
}

fn log_wake_error(e: &io::Error) {
    crate::logging::log_error!("cannot wake a worker: {e}");
}
