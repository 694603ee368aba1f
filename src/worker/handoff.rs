//! The hand-off of sockets between threads (accept thread → worker, worker
//! → WebSocket thread): a bounded queue, preallocated, and the receiving
//! thread's `mio::Waker`.

use std::collections::VecDeque;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use mio::net::TcpStream;
use mio::Waker;

/// An accepted socket on its way to a worker.
pub type Accepted = (TcpStream, SocketAddr);

/// A thread's inbox of `T`s (sockets, with what comes with them).
pub struct Handoff<T = Accepted> {
    queue: Mutex<VecDeque<T>>,
    capacity: usize,
    waker: Arc<Waker>,
}

impl<T> Handoff<T> {
    /// An inbox for at most `capacity` sockets, waking the poll behind `waker`.
    pub fn new(capacity: usize, waker: Arc<Waker>) -> Self {
        Handoff { queue: Mutex::new(VecDeque::with_capacity(capacity)), capacity, waker }
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
