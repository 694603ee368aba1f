//! What the server is doing, counted by the threads that do it.
//!
//! Every worker and every WebSocket thread counts in its own memory (a
//! plain add per event, no atomic instruction) and publishes its counts to
//! a block of its own, on cache lines no other thread writes, at most
//! every 10 ms while they change; a [`Metrics`] handle, cloned from the
//! server's, reads those blocks from any thread and sums them. Nothing is
//! locked and nothing allocates on either side once the server is built.
//!
//! ```no_run
//! use peregrine::{Config, Metrics, Request, Response, Server};
//!
//! struct App {
//!     metrics: Metrics,
//! }
//!
//! impl peregrine::Handler for App {
//!     fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
//!         match req.path() {
//!             "/metrics" => {
//!                 res.header("Content-Type", peregrine::metrics::PROMETHEUS_CONTENT_TYPE);
//!                 let _ = self.metrics.write_prometheus(res);
//!             }
//!             _ => {
//!                 res.body(b"Hello, World!");
//!             }
//!         }
//!     }
//! }
//!
//! let metrics = Metrics::new();
//! let config = Config::new().metrics(&metrics);
//! let server = Server::bind(config, App { metrics: metrics.clone() })?;
//! println!("{} requests so far", server.metrics().total().requests());
//! server.run()?;
//! # Ok::<(), peregrine::Error>(())
//! ```
//!
//! **Exact and sampled.** Every counter is exact where it is kept: the
//! thread counts each event as it happens. A reader sees each thread's
//! counts as that thread last published them: at most 10 ms old while the
//! thread is busy (it wakes to publish if it would sleep first), and all
//! of them once the server has stopped; no counter goes backwards. A read
//! that meets a publication half done may take some counters from before
//! it and some from after, so a figure computed from two (the connections
//! open: accepted minus closed) can be off by what happened in those
//! 10 ms. The bytes a worker's buffer pools hold are sampled once a
//! second.
//!
//! Counting costs a few instructions per request; a build without the
//! default feature `metrics` keeps no counters at all (every figure reads
//! 0), which is how the README's cost figure is measured.

mod prometheus;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

pub use prometheus::PROMETHEUS_CONTENT_TYPE;

/// One counter of a thread's block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Stat {
    Accepted,
    Closed,
    Refused,
    BytesIn,
    BytesOut,
    Upgrades,
    DeferredStarted,
    DeferredFinished,
    PoolBytes,
    TimeoutIdle,
    TimeoutRequest,
    TimeoutWrite,
    TimeoutResponse,
    WsOpened,
    WsClosed,
    WsMessagesIn,
    WsMessagesOut,
    /// The first of the errors the server answered itself, one per status
    /// of [`ERROR_STATUSES`].
    Errors,
    /// The first of the responses by `status / 100`, in [`CLASSES`] slots
    /// (1 to 5 in use; a status is never above 599).
    Classes = Stat::Errors as usize + ERROR_STATUSES.len(),
}

/// The statuses the server answers with itself, when a request cannot be
/// served (counted by [`Counters::errors`]).
pub const ERROR_STATUSES: [u16; 10] = [400, 408, 413, 414, 417, 431, 500, 501, 503, 505];

/// Slots for responses by class: indexed by `status / 100` masked to four
/// bits, so counting a response takes no comparison.
const CLASSES: usize = 16;

const COUNT: usize = Stat::Classes as usize + CLASSES;

/// Why a connection timed out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timeout {
    /// A kept-alive connection sent no new request
    /// ([`Config::keep_alive_timeout`](crate::Config::keep_alive_timeout)).
    Idle,
    /// A request did not arrive whole in time: answered `408`
    /// ([`Config::request_timeout`](crate::Config::request_timeout)).
    Request,
    /// The client did not read its response
    /// ([`Config::write_timeout`](crate::Config::write_timeout)).
    Write,
    /// A deferred response was not completed in time: answered `503`
    /// ([`Config::response_timeout`](crate::Config::response_timeout)).
    Response,
}

impl Timeout {
    /// Every kind, in a fixed order.
    pub const ALL: [Timeout; 4] = [Timeout::Idle, Timeout::Request, Timeout::Write, Timeout::Response];

    /// The kind's name, as a label value.
    pub fn name(self) -> &'static str {
        match self {
            Timeout::Idle => "idle",
            Timeout::Request => "request",
            Timeout::Write => "write",
            Timeout::Response => "response",
        }
    }

    fn stat(self) -> Stat {
        match self {
            Timeout::Idle => Stat::TimeoutIdle,
            Timeout::Request => Stat::TimeoutRequest,
            Timeout::Write => Stat::TimeoutWrite,
            Timeout::Response => Stat::TimeoutResponse,
        }
    }
}

/// How often a thread publishes its counts while it has new ones.
const PUBLISH_EVERY: Duration = Duration::from_millis(10);

/// A thread's counters as readers see them, on cache lines no other
/// thread writes; only the owning thread stores to them.
#[repr(align(128))]
pub(crate) struct Cells {
    #[cfg(feature = "metrics")]
    cells: [AtomicU64; COUNT],
}

impl Cells {
    fn new() -> Self {
        Cells {
            #[cfg(feature = "metrics")]
            cells: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }

    fn read(&self, into: &mut [u64; COUNT]) {
        #[cfg(feature = "metrics")]
        for (sum, cell) in into.iter_mut().zip(&self.cells) {
            *sum = sum.wrapping_add(cell.load(Ordering::Relaxed));
        }
        #[cfg(not(feature = "metrics"))]
        let _ = into;
    }
}

/// A thread's counts: kept in the thread's own memory as events happen
/// (a plain add, no atomic), and published to its [`Cells`] at the end of
/// a loop turn, at most every [`PUBLISH_EVERY`] after turns that may have
/// counted something; the thread wakes for that (`wake_at`) if it would
/// otherwise sleep first.
pub(crate) struct Tally {
    #[cfg(feature = "metrics")]
    counts: [u64; COUNT],
    /// Something ran since the counts were last published that may have
    /// counted (a turn's events, a timer): a store per turn or timer
    /// rather than one per count.
    dirty: bool,
    /// When they may be published next.
    due: Instant,
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    cells: Arc<Cells>,
}

impl Tally {
    /// Counts no [`Metrics`] reads: for a connection served outside a
    /// server (the test client), or before a server hands out its own.
    pub fn detached() -> Self {
        Self::new(Arc::new(Cells::new()))
    }

    fn new(cells: Arc<Cells>) -> Self {
        Tally {
            #[cfg(feature = "metrics")]
            counts: [0; COUNT],
            dirty: false,
            due: Instant::now(),
            cells,
        }
    }

    /// Adds `n` to `stat`.
    #[inline(always)]
    pub fn add(&mut self, stat: Stat, n: u64) {
        self.add_at(stat as usize, n);
    }

    #[inline(always)]
    fn add_at(&mut self, index: usize, n: u64) {
        #[cfg(feature = "metrics")]
        {
            self.counts[index] = self.counts[index].wrapping_add(n);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (index, n);
    }

    /// Sets a gauge.
    pub fn set(&mut self, stat: Stat, n: u64) {
        #[cfg(feature = "metrics")]
        {
            self.counts[stat as usize] = n;
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (stat, n);
    }

    /// One response sent, by its status code: one slot per class (the
    /// total is their sum), a `200` without arithmetic.
    #[inline(always)]
    pub fn response(&mut self, status: u16) {
        match status {
            200 => self.add_at(Stat::Classes as usize + 2, 1),
            _ => self.response_other(status),
        }
    }

    #[inline(never)]
    fn response_other(&mut self, status: u16) {
        self.add_at(Stat::Classes as usize + usize::from(status / 100) % CLASSES, 1);
    }

    /// A loop turn begins, or a timer fires: what they count is to be
    /// published.
    #[inline(always)]
    pub fn touch(&mut self) {
        #[cfg(feature = "metrics")]
        {
            self.dirty = true;
        }
    }

    /// An error response the server made itself (counted as a response
    /// apart).
    pub fn error(&mut self, status: u16) {
        if let Some(i) = ERROR_STATUSES.iter().position(|&s| s == status) {
            self.add_at(Stat::Errors as usize + i, 1);
        }
    }

    /// A connection timed out.
    pub fn timeout(&mut self, kind: Timeout) {
        self.add(kind.stat(), 1);
    }

    /// Publishes the counts if they changed and are due; called at the end
    /// of each loop turn.
    #[inline]
    pub fn end_turn(&mut self, now: Instant) {
        if self.dirty && now >= self.due {
            self.publish(now);
        }
    }

    #[cold]
    fn publish(&mut self, now: Instant) {
        #[cfg(feature = "metrics")]
        for (cell, &count) in self.cells.cells.iter().zip(&self.counts) {
            cell.store(count, Ordering::Relaxed);
        }
        self.dirty = false;
        self.due = now + PUBLISH_EVERY;
    }

    /// Publishes now, due or not: the thread's loop is ending, and a
    /// reader after `run` returns must see its last counts.
    pub fn publish_final(&mut self) {
        self.publish(Instant::now());
    }

    /// When the thread must wake to publish what it counted.
    pub fn wake_at(&self) -> Option<Instant> {
        self.dirty.then_some(self.due)
    }
}

/// A handle on a server's counters: cheap to clone, readable from any
/// thread (handlers included). Make one with [`Metrics::new`] and give it
/// to [`Config::metrics`](crate::Config::metrics) to hand it to a handler
/// before the server exists, or ask the server for its own with
/// [`Server::metrics`](crate::Server::metrics).
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Registry>,
}

#[derive(Default)]
struct Registry {
    threads: OnceLock<Threads>,
    /// Connections the accept threads turned away (rare, so shared).
    refused_by_acceptors: AtomicU64,
}

/// A server's counts, prepared, for [`Metrics::attach`].
pub(crate) struct Attachment(Threads);

struct Threads {
    workers: Box<[Arc<Cells>]>,
    websockets: Box<[Arc<Cells>]>,
}

/// Why a second server (or test client) cannot count into a handle.
pub(crate) const HANDLE_IN_USE: &str =
    "the Metrics handle given to Config::metrics already counts for another server";

impl Metrics {
    /// A handle no server counts into yet: every figure is 0 until one is
    /// built with it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the counts of a server's threads, which this handle reads
    /// once [`attach`](Metrics::attach) is given the attachment (when the
    /// server is built: a build that fails leaves the handle free);
    /// `None` if a server already counts into this handle.
    pub(crate) fn prepare(
        &self,
        workers: usize,
        websockets: usize,
    ) -> Option<(Vec<Tally>, Vec<Tally>, Attachment)> {
        if self.inner.threads.get().is_some() {
            return None;
        }
        let make = |n| (0..n).map(|_| Arc::new(Cells::new())).collect::<Vec<_>>();
        let (w, ws) = (make(workers), make(websockets));
        let tallies = |cells: &[Arc<Cells>]| cells.iter().cloned().map(Tally::new).collect();
        let (worker_tallies, ws_tallies) = (tallies(&w), tallies(&ws));
        Some((worker_tallies, ws_tallies, Attachment(Threads { workers: w.into(), websockets: ws.into() })))
    }

    /// Reads the counts prepared for a server from now on; false if
    /// another server took the handle meanwhile.
    pub(crate) fn attach(&self, attachment: Attachment) -> bool {
        self.inner.threads.set(attachment.0).is_ok()
    }

    /// Counts a connection an accept thread turned away with `503`.
    pub(crate) fn refused_by_acceptor(&self) {
        self.inner.refused_by_acceptors.fetch_add(1, Ordering::Relaxed);
    }

    /// How many workers count into this handle (0 before a server is built).
    pub fn workers(&self) -> usize {
        self.inner.threads.get().map_or(0, |t| t.workers.len())
    }

    /// How many WebSocket threads count into this handle.
    pub fn websocket_threads(&self) -> usize {
        self.inner.threads.get().map_or(0, |t| t.websockets.len())
    }

    /// Worker `i`'s counters (`None` past the last).
    pub fn worker(&self, i: usize) -> Option<Counters> {
        let cells = self.inner.threads.get()?.workers.get(i)?;
        Some(Counters::of(std::slice::from_ref(cells)))
    }

    /// WebSocket thread `i`'s counters (`None` past the last).
    pub fn websocket_thread(&self, i: usize) -> Option<Counters> {
        let cells = self.inner.threads.get()?.websockets.get(i)?;
        Some(Counters::of(std::slice::from_ref(cells)))
    }

    /// Every thread's counters summed.
    pub fn total(&self) -> Counters {
        let mut total = match self.inner.threads.get() {
            Some(t) => Counters::of(t.workers.iter().chain(t.websockets.iter())),
            None => Counters::default(),
        };
        total.add_at(Stat::Refused as usize, self.inner.refused_by_acceptors.load(Ordering::Relaxed));
        total
    }

    /// Writes every counter in the Prometheus text exposition format
    /// (version 0.0.4): each worker's and WebSocket thread's figures under
    /// a `thread` label (`thread="worker-0"`, `thread="ws-0"`; the accept
    /// threads' refusals under `thread="accept"`), and no totals, which
    /// `sum()` makes without counting twice. No allocation: the text
    /// goes straight into `out` (a [`Response`](crate::Response), say,
    /// with [`PROMETHEUS_CONTENT_TYPE`]).
    pub fn write_prometheus(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        prometheus::write(self, out)
    }
}

impl fmt::Debug for Metrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metrics")
            .field("workers", &self.workers())
            .field("websocket_threads", &self.websocket_threads())
            .finish()
    }
}

/// Counters read at one moment: one thread's, or a sum.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Counters {
    values: [u64; COUNT],
}

impl Default for Counters {
    fn default() -> Self {
        Counters { values: [0; COUNT] }
    }
}

impl Counters {
    fn of<'a>(blocks: impl IntoIterator<Item = &'a Arc<Cells>>) -> Self {
        let mut values = [0; COUNT];
        for block in blocks {
            block.read(&mut values);
        }
        Counters { values }
    }

    fn get(&self, stat: Stat) -> u64 {
        self.values[stat as usize]
    }

    fn add_at(&mut self, index: usize, n: u64) {
        self.values[index] = self.values[index].wrapping_add(n);
    }

    /// Connections taken in by the workers.
    pub fn connections_accepted(&self) -> u64 {
        self.get(Stat::Accepted)
    }

    /// Connections open now (accepted, not yet closed or handed to a
    /// WebSocket thread).
    pub fn connections_open(&self) -> u64 {
        self.get(Stat::Accepted).saturating_sub(self.get(Stat::Closed))
    }

    /// Connections turned away with `503` because the server was full
    /// ([`Config::max_connections`](crate::Config::max_connections)).
    pub fn connections_refused(&self) -> u64 {
        self.get(Stat::Refused)
    }

    /// Responses sent (whole heads queued), the server's own errors
    /// included.
    pub fn requests(&self) -> u64 {
        (1..=5).map(|class| self.responses(class)).sum()
    }

    /// Responses whose status is in class `class` (1 to 5: 1xx to 5xx).
    pub fn responses(&self, class: u8) -> u64 {
        match class {
            1..=5 => self.values[Stat::Classes as usize + usize::from(class)],
            _ => 0,
        }
    }

    /// Responses with `status` that the server answered itself: bad
    /// input, limits, timeouts, handler failures, a deferred response
    /// not completed in time, an upgrade with no WebSocket thread free
    /// (one of [`ERROR_STATUSES`]; 0 for any other status). Connections
    /// refused with `503` because no worker had room are
    /// [`connections_refused`](Counters::connections_refused) only.
    pub fn errors(&self, status: u16) -> u64 {
        ERROR_STATUSES.iter().position(|&s| s == status).map_or(0, |i| self.values[Stat::Errors as usize + i])
    }

    /// Connections that timed out for `kind`.
    pub fn timeouts(&self, kind: Timeout) -> u64 {
        self.get(kind.stat())
    }

    /// Bytes the workers read from HTTP clients (not WebSocket traffic,
    /// nor what a closing connection drains).
    pub fn bytes_in(&self) -> u64 {
        self.get(Stat::BytesIn)
    }

    /// Bytes the workers wrote to HTTP clients (not WebSocket traffic).
    pub fn bytes_out(&self) -> u64 {
        self.get(Stat::BytesOut)
    }

    /// Connections upgraded to WebSocket (`101` sent and the connection
    /// handed to a WebSocket thread).
    pub fn upgrades(&self) -> u64 {
        self.get(Stat::Upgrades)
    }

    /// Deferred and streamed responses not yet complete.
    pub fn deferred_pending(&self) -> u64 {
        self.get(Stat::DeferredStarted).saturating_sub(self.get(Stat::DeferredFinished))
    }

    /// Bytes the workers' buffer pools hold free (sampled once a second).
    pub fn pool_bytes(&self) -> u64 {
        self.get(Stat::PoolBytes)
    }

    /// WebSocket connections open now.
    pub fn websockets_open(&self) -> u64 {
        self.get(Stat::WsOpened).saturating_sub(self.get(Stat::WsClosed))
    }

    /// WebSocket messages received (whole, after reassembly).
    pub fn websocket_messages_in(&self) -> u64 {
        self.get(Stat::WsMessagesIn)
    }

    /// WebSocket messages sent.
    pub fn websocket_messages_out(&self) -> u64 {
        self.get(Stat::WsMessagesOut)
    }
}

impl fmt::Debug for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Counters")
            .field("connections_accepted", &self.connections_accepted())
            .field("connections_open", &self.connections_open())
            .field("connections_refused", &self.connections_refused())
            .field("requests", &self.requests())
            .field("responses", &[1, 2, 3, 4, 5].map(|c| self.responses(c)))
            .field("bytes_in", &self.bytes_in())
            .field("bytes_out", &self.bytes_out())
            .field("upgrades", &self.upgrades())
            .field("deferred_pending", &self.deferred_pending())
            .field("pool_bytes", &self.pool_bytes())
            .field("websockets_open", &self.websockets_open())
            .finish_non_exhaustive()
    }
}
