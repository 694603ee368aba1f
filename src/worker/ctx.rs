//! What a worker's connections share while they are driven: the handler,
//! the buffer pools, the timers and their kinds, the `Date` stamp, the
//! response scratch space and the rules heads are read by.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::access::LogBuffer;
use super::body::BodyRx;
use super::waiting::Waiting;
use crate::config::Config;
use crate::http::date::DateCache;
use crate::http::head::Rules;
use crate::http::response::Scratch;
use crate::http::target::HostMemo;
use crate::metrics::{Tally, Timeout};
use crate::rt::again::Again;
use crate::rt::pool::{release_freed, BufPool, SizeClasses, TrimClock};
use crate::rt::timer::{TimerKind, Timers};
use crate::shutdown::ShutdownState;
use crate::sys::BoxPool;
use crate::ws_thread::WsRoute;

/// Free memory a body buffer class keeps at most, per worker.
const BODY_CLASS_BUDGET: usize = 64 << 20;

/// Empty body-state boxes a worker keeps for reuse at most.
const BODY_RX_KEPT: usize = 256;

/// What an HTTP connection waits for; each kind has its own duration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timer {
    /// An idle keep-alive connection waiting for its next request.
    Idle,
    /// A request started but not complete.
    Request,
    /// A response the client is not reading.
    Write,
    /// A closing connection draining what the client still sends.
    Linger,
    /// A response another thread completes.
    Response,
    /// A quiet stream of server-sent events, due a keep-alive comment.
    Heartbeat,
}

impl Timer {
    /// The timeout this timer's expiry is counted as, if any (a lingering
    /// close or a heartbeat ends no wait of the client's).
    pub fn timeout(self) -> Option<Timeout> {
        match self {
            Timer::Idle => Some(Timeout::Idle),
            Timer::Request => Some(Timeout::Request),
            Timer::Write => Some(Timeout::Write),
            Timer::Response => Some(Timeout::Response),
            Timer::Linger | Timer::Heartbeat => None,
        }
    }
}

impl TimerKind for Timer {
    const ALL: &'static [Self] =
        &[Timer::Idle, Timer::Request, Timer::Write, Timer::Linger, Timer::Response, Timer::Heartbeat];

    fn index(self) -> usize {
        self as usize
    }
}

impl Timer {
    /// How long a connection may wait so.
    fn duration(self, config: &Config) -> Duration {
        match self {
            Timer::Idle => config.keep_alive_timeout,
            Timer::Request => config.request_timeout,
            Timer::Write => config.write_timeout,
            Timer::Linger => config.linger_timeout,
            Timer::Response => config.response_timeout,
            Timer::Heartbeat => config.event_stream_keep_alive,
        }
    }
}

/// Everything a connection needs from its worker while it is driven.
pub struct Ctx<H> {
    pub handler: Arc<H>,
    pub in_pool: BufPool,
    pub out_pool: BufPool,
    /// Buffers for bodies that do not fit the read buffer, or are chunked.
    pub body_pool: SizeClasses,
    /// Boxes for the state of such bodies, kept out of every connection.
    pub body_rx: BoxPool<BodyRx>,
    pub timers: Timers<Timer>,
    pub date: DateCache,
    pub scratch: Scratch,
    pub rules: Rules,
    /// The last valid `Host` its clients sent.
    pub hosts: HostMemo,
    pub max_body: usize,
    pub keep_alive_secs: u64,
    /// The time of the current loop iteration.
    pub now: Instant,
    /// When the pools next let go of free buffers they did not need.
    pub trim: TrimClock,
    /// Shutting down: idle connections close.
    pub draining: bool,
    /// Read per response, so one being made when shutdown starts already
    /// says `Connection: close`.
    pub shutdown: Arc<ShutdownState>,
    /// The WebSocket threads, if the handler uses WebSockets.
    pub ws: Option<Arc<WsRoute>>,
    /// Connections to drive again on the next turn of the loop, readiness
    /// or not (one that stopped at its turn's budget with input left).
    pub again: Again,
    /// An answer just handed to another thread, on its way into its
    /// connection's state.
    pub waiting: Option<Waiting>,
    /// This worker's access log lines, if the log is on.
    pub access_log: Option<LogBuffer>,
    /// This worker's counters.
    pub tally: Tally,
}

impl<H> Ctx<H> {
    /// Trims the buffer pools.
    pub fn trim_pools(&mut self) {
        let freed = self.in_pool.trim() + self.out_pool.trim() + self.body_pool.trim();
        release_freed(freed, self.now);
    }

    /// Bytes of the free buffers the pools hold.
    pub fn pool_bytes(&self) -> usize {
        self.in_pool.free_bytes() + self.out_pool.free_bytes() + self.body_pool.free_bytes()
    }

    /// A worker's context for `config`, its pools empty.
    pub fn new(
        config: &Config,
        handler: Arc<H>,
        shutdown: Arc<ShutdownState>,
        ws: Option<Arc<WsRoute>>,
    ) -> Self {
        let capacity = config.connections_per_worker();
        Ctx {
            handler,
            in_pool: BufPool::new(config.read_buffer_size, capacity),
            out_pool: BufPool::new(config.write_buffer_size, capacity),
            // A body buffer holds its head too (at most a read buffer),
            // then the body, or a read's worth of a streamed body.
            body_pool: SizeClasses::doubling(
                2 * config.read_buffer_size,
                config.read_buffer_size + config.max_body_size.max(config.read_buffer_size),
                BODY_CLASS_BUDGET,
                capacity,
            ),
            body_rx: BoxPool::new(capacity.min(BODY_RX_KEPT)),
            timers: Timers::new(capacity, |kind: Timer| kind.duration(config)),
            date: DateCache::new(),
            scratch: Scratch::with_capacity(4096, config.write_buffer_size),
            rules: Rules { max_headers: config.max_headers, bare_lf: config.bare_lf },
            hosts: HostMemo::new(),
            max_body: config.max_body_size,
            keep_alive_secs: config.keep_alive_timeout.as_secs().max(1),
            now: Instant::now(),
            trim: TrimClock::new(Instant::now()),
            draining: false,
            shutdown,
            ws,
            again: Again::new(capacity),
            waiting: None,
            access_log: config.access_log.clone().map(LogBuffer::new),
            tally: Tally::detached(),
        }
    }
}
