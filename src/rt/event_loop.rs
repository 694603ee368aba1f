//! The loop an HTTP worker and a WebSocket thread both run: poll, hand
//! each event to the service, give the connections queued for another turn
//! theirs, expire timers, and on shutdown let the service drain for at
//! most the grace period. What a service does with its connections is its
//! own; when and in which order is decided here, once.

use std::cell::Cell;
use std::io;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::{Events, Poll, Token};

use super::again::Again;
use super::timer::{TimerKind, Timers};
use crate::shutdown::ShutdownState;

thread_local! {
    /// Whether this thread runs a server loop: such a thread must never
    /// wait for another (a worker's waiting would hold every connection
    /// it serves, and could wait for itself or for a peer waiting for it).
    static ON_LOOP: Cell<bool> = const { Cell::new(false) };
}

/// Whether the calling thread runs a server loop (a worker or a WebSocket
/// thread), where nothing may block.
pub fn on_loop_thread() -> bool {
    ON_LOOP.with(Cell::get)
}

/// Token of a loop's waker; connection tokens are slab keys below it.
pub const WAKER: Token = Token(usize::MAX);

/// How many events one `epoll_wait` may return.
const EVENTS_CAPACITY: usize = 1024;

/// What a thread's loop serves: its connections, and the hooks the loop
/// calls at each step of a turn.
pub trait Service {
    /// The kinds of timeout its connections have.
    type Timer: TimerKind;

    /// What the thread is called in log messages.
    const NAME: &'static str;

    /// The poll the loop waits on.
    fn poll(&mut self) -> &mut Poll;

    /// The connections' timers.
    fn timers(&mut self) -> &mut Timers<Self::Timer>;

    /// Connections to drive again next turn, readiness or not.
    fn again(&mut self) -> &mut Again;

    /// Sets the time of this turn.
    fn set_now(&mut self, now: Instant);

    /// Work is waiting that no event would announce: poll without sleeping.
    fn busy(&self) -> bool {
        false
    }

    /// A time to wake at, besides the timers (a paused accept, log lines
    /// due to be written).
    fn wake_at(&self) -> Option<Instant> {
        None
    }

    /// The waker fired: take in what other threads sent.
    fn on_wake(&mut self);

    /// Readiness for a token other than the waker.
    fn on_event(&mut self, event: &Event);

    /// A connection queued for another turn gets it.
    fn on_again(&mut self, key: usize);

    /// The events and the again-list are done; timers are next.
    fn end_turn(&mut self) {}

    /// A connection's timer expired.
    fn on_timer(&mut self, key: usize, kind: Self::Timer);

    /// Shutdown was requested: take no more connections, and close or wind
    /// down the ones there are.
    fn begin_drain(&mut self);

    /// Connections still open.
    fn open_connections(&self) -> usize;

    /// Closes every connection left (the grace period is over, or none is
    /// left).
    fn close_all(&mut self);
}

/// Runs `service` until shutdown has drained its connections, or the grace
/// period ran out; `turn_capacity` bounds the again-list.
pub fn run<S: Service>(service: &mut S, shutdown: &ShutdownState, grace: Duration, turn_capacity: usize) {
    ON_LOOP.with(|on| on.set(true));
    let mut events = Events::with_capacity(EVENTS_CAPACITY);
    let mut turn = Vec::with_capacity(turn_capacity);
    let mut drain_deadline: Option<Instant> = None;
    loop {
        let timeout = if !service.again().is_empty() || service.busy() {
            Some(Duration::ZERO)
        } else {
            [service.timers().next_deadline(), drain_deadline, service.wake_at()]
                .into_iter()
                .flatten()
                .min()
                .map(|d| d.saturating_duration_since(Instant::now()))
        };
        if let Err(e) = service.poll().poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                crate::logging::log_error!("{} poll failed; shutting the server down: {e}", S::NAME);
                shutdown.request();
                break;
            }
        }
        let now = Instant::now();
        service.set_now(now);
        for event in events.iter() {
            match event.token() {
                WAKER => service.on_wake(),
                _ => service.on_event(event),
            }
        }
        // Taken out, so driving may queue keys for the next turn.
        service.again().take(&mut turn);
        for key in turn.drain(..) {
            service.on_again(key);
        }
        service.end_turn();
        while let Some((key, kind)) = service.timers().pop_expired(now) {
            service.on_timer(key, kind);
        }
        if drain_deadline.is_none() && shutdown.is_requested() {
            // From the request, not from `now`, which a handler that ran
            // long this turn may have left behind.
            drain_deadline = Some(shutdown.requested_at().unwrap_or(now) + grace);
            service.begin_drain();
        }
        if let Some(deadline) = drain_deadline {
            let open = service.open_connections();
            if open == 0 {
                break;
            }
            if now >= deadline {
                crate::logging::log_warn!(
                    "shutdown grace period over: a {} closes {open} connections",
                    S::NAME
                );
                break;
            }
        }
    }
    service.close_all();
}
