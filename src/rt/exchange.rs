//! One piece of a loop's work that another thread finishes: a payload the
//! other thread fills, a bounded pipe of bytes it writes, and a
//! cancellation flag the loop raises. The loop names it by (slab key,
//! generation id); every change the loop must see is announced by pushing
//! that name to the loop's mailbox, whose waker ends its poll. The loop
//! checks the name against what the connection at that key waits for, so
//! an announcement for a connection that has gone (or whose slot now
//! serves another) is dropped without touching anything.
//!
//! Exchanges are pooled by the loop: one whose only holder is the loop is
//! reset and used again, so steady traffic allocates none. The completing
//! side holds its end as a [`Held`], which lets go before its last
//! announcement: the loop, once told, is the only holder, so an exchange
//! is free for the next request as soon as its answer is sent.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::event_loop::on_loop_thread;
use super::mailbox::Mailbox;

/// The name of an exchange, pushed to its loop's mailbox when it changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ready {
    /// The slab key of the connection it belongs to.
    pub key: usize,
    /// Which use of that key (a slot is reused; ids are not).
    pub id: u64,
}

/// Pipe capacity a pooled exchange keeps.
const KEPT_PIPE: usize = 4096;

/// Pipe capacity a new exchange starts with: room for the usual burst of
/// small writes (an event, a few chunks) before the loop takes them, so
/// a stream that gets any pooled exchange, not only one that once grew,
/// writes them without allocating.
const FIRST_PIPE: usize = 1024;

/// A callback run once, when the exchange is cancelled.
type OnCancel = Box<dyn FnOnce() + Send>;

/// Runs an application's cancellation callback, usually on a worker: a
/// panic in it is logged, never let through to take the worker down.
fn run_callback(f: OnCancel) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).is_err() {
        crate::logging::log_error!("an on_cancel callback panicked");
    }
}

/// The completing side's end of an exchange: the exchange while it is
/// held, let go of by [`Held::let_go`] before the last announcement.
pub struct Held<P>(Option<Arc<Exchange<P>>>);

impl<P> Held<P> {
    /// Holds `exchange`.
    pub fn new(exchange: Arc<Exchange<P>>) -> Self {
        Held(Some(exchange))
    }

    /// Another holder of the same exchange.
    pub fn share(&self) -> Arc<Exchange<P>> {
        Arc::clone(self.0.as_ref().expect("held"))
    }

    /// The last word of the completing side: `finish` updates the shared
    /// state under its lock and says whether to announce the change
    /// ([`Wake`]); then this end lets go of the exchange, and only then is
    /// the change announced. Were it announced first, the loop could send
    /// the answer and pool the exchange while this thread still held it,
    /// and a burst of requests right after would find every pooled
    /// exchange held and allocate new ones. Nothing is done once let go.
    pub fn let_go(&mut self, finish: impl FnOnce(&mut Inner<P>) -> Wake) {
        let Some(exchange) = self.0.take() else { return };
        let name = {
            let mut inner = exchange.lock();
            let wake = finish(&mut inner);
            inner.announcement(wake)
        };
        let Some(name) = name else { return };
        let mailbox = Arc::clone(&exchange.mailbox);
        drop(exchange);
        let _ = mailbox.push(name);
    }
}

impl<P> std::ops::Deref for Held<P> {
    type Target = Exchange<P>;

    fn deref(&self) -> &Exchange<P> {
        // Let go of only by the owner's last word, after which it is not
        // used.
        self.0.as_deref().expect("used only while held")
    }
}

/// Whether a change is announced to the loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Always: the loop waits for it (an answer).
    Always,
    /// If the loop asked to hear of the next write (a stream's end, which
    /// it also finds when it drains the pipe).
    IfWanted,
}

/// The shared state of one exchange.
pub struct Exchange<P> {
    mailbox: Arc<Mailbox<Ready>>,
    /// Read without the lock, so `is_cancelled` is one load.
    cancelled: AtomicBool,
    inner: Mutex<Inner<P>>,
    /// Signalled when the pipe drains and when the exchange is cancelled.
    changed: Condvar,
}

/// What the lock guards.
pub struct Inner<P> {
    name: Ready,
    /// What the other thread fills in.
    pub payload: P,
    /// Bytes written; those from `taken` on are not yet taken by the loop.
    pipe: Vec<u8>,
    taken: usize,
    /// Bytes the pipe holds before writers wait.
    pub limit: usize,
    /// The loop found the pipe empty and wants to hear of the next write.
    wanted: bool,
    on_cancel: Option<OnCancel>,
}

impl<P> Inner<P> {
    /// The exchange's name.
    pub fn name(&self) -> Ready {
        self.name
    }

    /// Whether the pipe has room for more bytes.
    pub fn has_room(&self) -> bool {
        self.pipe.len() - self.taken < self.limit
    }

    /// Whether the loop has taken every byte written.
    pub fn pipe_is_empty(&self) -> bool {
        self.taken == self.pipe.len()
    }

    /// The name to announce a change by, if `wake` says the loop is to
    /// hear of it; the loop then waits for no further write.
    fn announcement(&mut self, wake: Wake) -> Option<Ready> {
        let announce = match wake {
            Wake::Always => true,
            Wake::IfWanted => self.wanted,
        };
        announce.then(|| {
            self.wanted = false;
            self.name
        })
    }

    /// Writer side: adds `bytes` to the pipe.
    pub fn write(&mut self, bytes: &[u8]) {
        self.pipe.extend_from_slice(bytes);
    }
}

impl<P> Exchange<P> {
    /// A new exchange for connection `name`, announcing itself in
    /// `mailbox`, with a pipe of `limit` bytes.
    pub fn new(mailbox: Arc<Mailbox<Ready>>, name: Ready, payload: P, limit: usize) -> Arc<Self> {
        Arc::new(Exchange {
            mailbox,
            cancelled: AtomicBool::new(false),
            inner: Mutex::new(Inner {
                name,
                payload,
                pipe: Vec::with_capacity(FIRST_PIPE),
                taken: 0,
                limit,
                wanted: false,
                on_cancel: None,
            }),
            changed: Condvar::new(),
        })
    }

    /// Takes a pooled exchange for a new use, if the loop is its only
    /// holder (no other thread can reach it, or ever will again); parks it
    /// first if that could not be done when it was pooled.
    pub fn reuse(this: &mut Arc<Self>, name: Ready, reset: impl Fn(&mut P)) -> bool {
        if !Self::park(this) {
            return false;
        }
        let Some(ex) = Arc::get_mut(this) else { return false };
        *ex.cancelled.get_mut() = false;
        let inner = ex.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        inner.name = name;
        inner.wanted = false;
        reset(&mut inner.payload);
        true
    }

    /// Puts an exchange nobody else holds aside for reuse: drops what it
    /// held for its last use (a callback and what it holds, a large
    /// stream's memory). Returns whether nobody else holds it.
    pub fn park(this: &mut Arc<Self>) -> bool {
        let Some(ex) = Arc::get_mut(this) else { return false };
        let inner = ex.inner.get_mut().unwrap_or_else(|e| e.into_inner());
        inner.on_cancel = None;
        inner.pipe.clear();
        inner.pipe.shrink_to(KEPT_PIPE);
        inner.taken = 0;
        true
    }

    /// Locks the shared state. Every update under the lock is a few field
    /// writes that a panic cannot leave half-done, so poisoning is ignored.
    pub fn lock(&self) -> MutexGuard<'_, Inner<P>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the loop of bytes written, if it waits for them (a push to
    /// its mailbox; one that finds the loop gone is dropped, as nobody
    /// waits for it).
    pub fn announce_if_wanted(&self, inner: &mut Inner<P>) {
        if let Some(name) = inner.announcement(Wake::IfWanted) {
            let _ = self.mailbox.push(name);
        }
    }

    /// Loop side: takes up to `n` bytes off the front of the pipe with
    /// `take`; asks to be told of the next write once the pipe is empty,
    /// and wakes writers waiting for room.
    pub fn drain_pipe(&self, inner: &mut Inner<P>, take: impl FnOnce(&[u8]) -> usize) -> usize {
        let was_full = !inner.has_room();
        let n = if inner.pipe_is_empty() { 0 } else { take(&inner.pipe[inner.taken..]) };
        inner.taken += n;
        if inner.pipe_is_empty() {
            (inner.taken, inner.wanted) = (0, true);
            inner.pipe.clear();
        } else if inner.taken > inner.pipe.len() / 2 {
            // Moved down once at least half is taken: linear in all.
            inner.pipe.drain(..inner.taken);
            inner.taken = 0;
        }
        if was_full && inner.has_room() {
            self.changed.notify_all();
        }
        n
    }

    /// Whether the exchange was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Loop side: cancels the exchange, waking whoever waits on it and
    /// running its callback (on the calling thread, without the lock).
    pub fn cancel(&self) {
        let callback = {
            let mut inner = self.lock();
            if self.cancelled.swap(true, Ordering::AcqRel) {
                return;
            }
            self.changed.notify_all();
            inner.on_cancel.take()
        };
        if let Some(f) = callback {
            run_callback(f);
        }
    }

    /// Runs `f` once the exchange is cancelled (at once, on this thread,
    /// if it already is), replacing a callback set before.
    pub fn on_cancel(&self, f: OnCancel) {
        let mut inner = self.lock();
        if self.is_cancelled() {
            drop(inner);
            return run_callback(f);
        }
        inner.on_cancel = Some(f);
    }

    /// Blocks until the exchange is cancelled or `timeout` passes; returns
    /// whether it was cancelled.
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        drop(self.wait_while(self.lock(), timeout, |_| true));
        self.is_cancelled()
    }

    /// Blocks while `busy` holds and the exchange is not cancelled, for at
    /// most `timeout`; gives the lock back. (The flag is raised under the
    /// lock, so a waiter cannot miss it between its check and its wait.)
    pub fn wait_while<'a>(
        &'a self,
        mut inner: MutexGuard<'a, Inner<P>>,
        timeout: Duration,
        busy: impl Fn(&Inner<P>) -> bool,
    ) -> MutexGuard<'a, Inner<P>> {
        if on_loop_thread() {
            // Only a loop makes room or cancels: it must not wait for it.
            return inner;
        }
        // No deadline representable: wait in long steps, for ever.
        let deadline = Instant::now().checked_add(timeout);
        while busy(&inner) && !self.is_cancelled() {
            let left =
                deadline.map_or(Duration::from_secs(3600), |d| d.saturating_duration_since(Instant::now()));
            if left.is_zero() {
                break;
            }
            inner = self.changed.wait_timeout(inner, left).unwrap_or_else(|e| e.into_inner()).0;
        }
        inner
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;

    fn exchange(limit: usize) -> (mio::Poll, Arc<Mailbox<Ready>>, Arc<Exchange<u32>>) {
        let poll = mio::Poll::new().unwrap();
        let waker = Arc::new(mio::Waker::new(poll.registry(), mio::Token(0)).unwrap());
        let mailbox = Arc::new(Mailbox::bounded(8, waker));
        let ex = Exchange::new(Arc::clone(&mailbox), Ready { key: 3, id: 7 }, 0, limit);
        (poll, mailbox, ex)
    }

    #[test]
    fn cancelling_wakes_waiters_and_runs_the_callback_once() {
        let (_poll, _mailbox, ex) = exchange(4);
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        ex.on_cancel(Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }));
        assert!(!ex.wait_cancelled(Duration::from_millis(10)), "not cancelled yet");
        let waiter = {
            let ex = Arc::clone(&ex);
            std::thread::spawn(move || ex.wait_cancelled(Duration::from_secs(60)))
        };
        std::thread::sleep(Duration::from_millis(20));
        ex.cancel();
        ex.cancel();
        assert!(waiter.join().unwrap(), "the waiter was not woken by the cancellation");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // A callback set afterwards runs at once.
        let c = Arc::clone(&calls);
        ex.on_cancel(Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }));
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn the_pipe_announces_once_per_want_and_wakes_writers_as_it_drains() {
        let (_poll, mailbox, ex) = exchange(4);
        let mut got = Vec::with_capacity(8);
        {
            let mut inner = ex.lock();
            inner.write(b"abcdef");
            ex.announce_if_wanted(&mut inner);
        }
        mailbox.take_all(&mut got);
        assert!(got.is_empty(), "announced before the loop asked");
        let writer = {
            let ex = Arc::clone(&ex);
            std::thread::spawn(move || {
                let inner = ex.wait_while(ex.lock(), Duration::from_secs(60), |i| !i.has_room());
                inner.has_room()
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        let mut inner = ex.lock();
        assert_eq!(ex.drain_pipe(&mut inner, |d| d.len().min(4)), 4);
        assert_eq!(ex.drain_pipe(&mut inner, |d| d.len()), 2);
        drop(inner);
        assert!(writer.join().unwrap(), "the writer was not woken when room was made");
        let mut inner = ex.lock();
        inner.write(b"x");
        ex.announce_if_wanted(&mut inner);
        ex.announce_if_wanted(&mut inner);
        drop(inner);
        mailbox.take_all(&mut got);
        assert_eq!(got, [Ready { key: 3, id: 7 }], "one announcement per emptied pipe");
    }

    #[test]
    fn only_an_exchange_nobody_else_holds_is_reused() {
        let (_poll, _mailbox, mut ex) = exchange(4);
        let other = Arc::clone(&ex);
        assert!(!Exchange::reuse(&mut ex, Ready { key: 1, id: 9 }, |p| *p = 5));
        drop(other);
        ex.cancel();
        assert!(Exchange::reuse(&mut ex, Ready { key: 1, id: 9 }, |p| *p = 5));
        let inner = ex.lock();
        assert_eq!((inner.name(), inner.payload), (Ready { key: 1, id: 9 }, 5));
        drop(inner);
        assert!(!ex.is_cancelled(), "a reused exchange starts uncancelled");
    }
}
