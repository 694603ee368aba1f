//! The hand-off of connections between threads (accept thread → worker,
//! worker → worker, worker → WebSocket thread): a mailbox, and the seats
//! that say whether the receiving thread has room; and placement, which
//! picks a thread with room.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mio::net::TcpStream;
use mio::Waker;

use super::mailbox::Mailbox;

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

/// A thread's inbox of `T`s (sockets, with what comes with them), and its
/// seats.
pub struct Inbox<T = Accepted> {
    mailbox: Mailbox<T>,
    seats: Seats,
}

impl<T> Inbox<T> {
    /// An inbox for at most `capacity` sockets in flight, waking the poll
    /// behind `waker`, for a thread that holds `seats` connections.
    pub fn new(capacity: usize, seats: usize, waker: Arc<Waker>) -> Self {
        Inbox { mailbox: Mailbox::bounded(capacity, waker), seats: Seats::new(seats) }
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

    /// Queues an item whose seat is already taken; gives it back if the
    /// queue is full.
    pub fn push(&self, item: T) -> Result<(), T> {
        self.mailbox.push(item)
    }

    /// Moves every queued item into `into` (empty, as large as the inbox).
    pub fn take_all(&self, into: &mut Vec<T>) {
        self.mailbox.take_all(into);
    }

    /// The thread is ending: no seat is given any more, no item is queued
    /// any more, and what is queued is dropped (a socket dropped is
    /// closed). Closing seats alone would leave a race: a sender that took
    /// a seat just before could still queue its item after the last look.
    pub fn close(&self) {
        self.seats.close();
        self.mailbox.close();
    }
}

/// Places `item` on the first inbox from `next` on whose thread has a free
/// seat, moving `next` past it; gives the item back if none has.
pub fn place<T>(inboxes: &[Arc<Inbox<T>>], next: &mut usize, mut item: T) -> Result<(), T> {
    let n = inboxes.len();
    for _ in 0..n {
        let inbox = &inboxes[*next % n];
        *next = (*next + 1) % n;
        match inbox.place(item) {
            Ok(()) => return Ok(()),
            Err(back) => item = back,
        }
    }
    Err(item)
}
