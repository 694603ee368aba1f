//! A worker thread: one poll, one connection slab, its own buffers, timers
//! and `Date` cache; it owns every connection handed to it for life.

pub mod again;
pub mod body;
pub mod conn;
pub mod handoff;
pub mod input;
pub mod pool;
pub mod slab;
pub mod timer;

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use self::again::Again;
use self::conn::{Conn, Verdict};
use self::handoff::{Accepted, Handoff};
use self::pool::{BodyPool, BufPool};
use self::slab::Slab;
use self::timer::{TimerKind, Timers};
use crate::config::Config;
use crate::handler::Handler;
use crate::http::date::DateCache;
use crate::http::head::Rules;
use crate::http::response::Scratch;
use crate::http::target::HostMemo;
use crate::shutdown::ShutdownState;
use crate::ws::thread::{Upgraded, WsRoute};

/// Token of the worker's waker; connection tokens are slab keys below it.
pub const WAKER: Token = Token(usize::MAX);
/// Token of the worker's own listener, when it accepts for itself.
const LISTENER: Token = Token(usize::MAX - 1);

/// How many events one `epoll_wait` may return.
const EVENTS_CAPACITY: usize = 1024;

/// Everything a connection needs from its worker while it is driven.
pub struct Ctx<H> {
    pub handler: Arc<H>,
    pub in_pool: BufPool,
    pub out_pool: BufPool,
    /// Buffers for bodies that do not fit the read buffer, or are chunked.
    pub body_pool: BodyPool,
    pub timers: Timers,
    pub date: DateCache,
    pub scratch: Scratch,
    pub rules: Rules,
    /// The last valid `Host` its clients sent.
    pub hosts: HostMemo,
    pub max_body: usize,
    pub keep_alive_secs: u64,
    /// The time of the current loop iteration.
    pub now: Instant,
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
}

impl<H> Ctx<H> {
    /// A worker's context for `config`, its pools empty.
    pub fn new(
        config: &Config,
        handler: Arc<H>,
        shutdown: Arc<ShutdownState>,
        ws: Option<Arc<WsRoute>>,
    ) -> Self {
        let capacity = config.connections_per_worker();
        let durations =
            [config.keep_alive_timeout, config.request_timeout, config.write_timeout, config.linger_timeout];
        Ctx {
            handler,
            in_pool: BufPool::new(config.read_buffer_size, capacity),
            out_pool: BufPool::new(config.write_buffer_size, capacity),
            // A body buffer holds its head too (at most a read buffer).
            body_pool: BodyPool::new(
                2 * config.read_buffer_size,
                config.read_buffer_size + config.max_body_size,
                capacity,
            ),
            timers: Timers::new(capacity, durations),
            date: DateCache::new(),
            scratch: Scratch::with_capacity(4096, config.write_buffer_size),
            rules: config.head_rules(),
            hosts: HostMemo::new(),
            max_body: config.max_body_size,
            keep_alive_secs: config.keep_alive_timeout.as_secs().max(1),
            now: Instant::now(),
            draining: false,
            shutdown,
            ws,
            again: Again::new(capacity),
        }
    }
}

/// A worker, built on the starting thread (so failures surface from
/// `Server::bind`) and run on its own.
pub struct Worker<H> {
    poll: Poll,
    handoff: Arc<Handoff<Accepted>>,
    conns: Slab<Conn>,
    ctx: Ctx<H>,
    shutdown: Arc<ShutdownState>,
    grace: Duration,
    /// Connections this worker holds at most.
    capacity: usize,
    /// The worker's own listener, when there are no accept threads.
    listener: Option<mio::net::TcpListener>,
    /// Every worker's inbox (this one's too), where a connection this
    /// worker accepted goes when it has no room itself.
    peers: Vec<Arc<Handoff<Accepted>>>,
    /// The peer tried first with the next such connection.
    next_peer: usize,
    /// Accepting paused (out of descriptors) until then.
    accept_paused: Option<Instant>,
    accept_exhausted: bool,
}

impl<H: Handler> Worker<H> {
    /// Creates the worker's poll and inbox.
    pub fn new(
        config: &Config,
        handler: Arc<H>,
        shutdown: Arc<ShutdownState>,
        ws: Option<Arc<WsRoute>>,
        listener: Option<std::net::TcpListener>,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let listener = match listener {
            Some(l) => {
                let mut l = mio::net::TcpListener::from_std(l);
                poll.registry().register(&mut l, LISTENER, Interest::READABLE)?;
                Some(l)
            }
            None => None,
        };
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        shutdown.add_waker(Arc::clone(&waker));
        let capacity = config.connections_per_worker();
        let handoff = Arc::new(Handoff::new(handoff_capacity(capacity), capacity, waker));
        let ctx = Ctx::new(config, handler, Arc::clone(&shutdown), ws);
        Ok(Worker {
            poll,
            handoff,
            conns: Slab::with_capacity(capacity),
            ctx,
            shutdown,
            grace: config.shutdown_grace,
            capacity,
            listener,
            peers: Vec::new(),
            next_peer: 0,
            accept_paused: None,
            accept_exhausted: false,
        })
    }

    /// The inbox accept threads hand sockets to.
    pub fn handoff(&self) -> Arc<Handoff<Accepted>> {
        Arc::clone(&self.handoff)
    }

    /// Every worker's inbox, for a worker that accepts for itself: a
    /// connection it has no room for goes to one that has.
    pub fn set_peers(&mut self, peers: Vec<Arc<Handoff<Accepted>>>) {
        self.peers = peers;
    }

    /// Serves until shutdown has drained every connection (or the grace
    /// period ran out).
    pub fn run(mut self) {
        let mut events = Events::with_capacity(EVENTS_CAPACITY);
        let mut inbox = VecDeque::with_capacity(handoff_capacity(self.capacity));
        let mut keys = Vec::with_capacity(self.capacity);
        let mut again = Vec::with_capacity(self.capacity);
        let mut drain_deadline: Option<Instant> = None;
        loop {
            let deadline = [self.ctx.timers.next_deadline(), drain_deadline, self.accept_paused]
                .into_iter()
                .flatten()
                .min();
            let timeout = if self.ctx.again.is_empty() {
                deadline.map(|d| d.saturating_duration_since(Instant::now()))
            } else {
                Some(Duration::ZERO)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::logging::log_error!("worker poll failed; shutting the server down: {e}");
                    self.shutdown.request();
                    break;
                }
            }
            self.ctx.now = Instant::now();
            self.ctx.date.update(self.ctx.now);
            for event in events.iter() {
                match event.token() {
                    WAKER => self.admit(&mut inbox),
                    LISTENER => self.accept(),
                    Token(key) => self.drive(key, event.is_read_closed()),
                }
            }
            // Taken out, so driving may queue keys for the next turn.
            self.ctx.again.take(&mut again);
            for key in again.drain(..) {
                self.drive(key, false);
            }
            if self.accept_paused.is_some_and(|t| self.ctx.now >= t) {
                self.accept();
            }
            self.expire_timers();
            if drain_deadline.is_none() && self.shutdown.is_requested() {
                drain_deadline = Some(self.ctx.now + self.grace);
                self.begin_drain(&mut inbox, &mut keys);
            }
            if let Some(deadline) = drain_deadline {
                if self.conns.is_empty() {
                    break;
                }
                if self.ctx.now >= deadline {
                    crate::logging::log_warn!(
                        "shutdown grace period over: closing {} connections",
                        self.conns.len()
                    );
                    break;
                }
            }
        }
        // No peer may place a connection here any more; one placed just
        // before is closed with the rest.
        self.handoff.seats().close();
        let mut inbox = VecDeque::new();
        self.handoff.take_all(&mut inbox);
        self.close_all();
    }

    /// Accepts from the worker's own listener until its backlog is empty;
    /// out of descriptors, pauses (the backlog keeps the connections, and
    /// no new edge would announce them, so the retry is timed).
    fn accept(&mut self) {
        use crate::net::accept::{classify, AcceptError, EXHAUSTED_BACKOFF};
        self.accept_paused = None;
        loop {
            let Some(listener) = &self.listener else { return };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if std::mem::take(&mut self.accept_exhausted) {
                        crate::logging::log_info!("accepting again");
                    }
                    if self.handoff.seats().take() {
                        self.register(stream, peer);
                    } else if let Err((mut stream, _)) =
                        crate::net::accept::place(&self.peers, &mut self.next_peer, (stream, peer))
                    {
                        conn::refuse_overload(&mut stream);
                    }
                }
                Err(e) => match classify(&e) {
                    AcceptError::Done => return,
                    AcceptError::Transient => {}
                    AcceptError::Exhausted | AcceptError::Fatal => {
                        // Logged once per shortage, not per retry.
                        if !std::mem::replace(&mut self.accept_exhausted, true) {
                            crate::logging::log_warn!("accept: {e}; retrying every {EXHAUSTED_BACKOFF:?}");
                        }
                        self.accept_paused = Some(self.ctx.now + EXHAUSTED_BACKOFF);
                        return;
                    }
                },
            }
        }
    }

    /// Registers the sockets accept threads handed over.
    fn admit(&mut self, inbox: &mut VecDeque<Accepted>) {
        self.handoff.take_all(inbox);
        while let Some((stream, peer)) = inbox.pop_front() {
            self.register(stream, peer);
        }
    }

    /// Takes a new connection, for which a seat was taken, into the slab
    /// and the poll (or answers 503).
    ///
    /// It is driven once first: a client usually sends its request right
    /// behind the handshake, so it is often there already. A connection
    /// served and closed at once (`Connection: close`) then never costs an
    /// `epoll_ctl`. Registering afterwards loses no wake-up: edge-triggered
    /// registration reports what is ready at that moment.
    fn register(&mut self, stream: mio::net::TcpStream, peer: std::net::SocketAddr) {
        let key = match self.conns.insert(Conn::new(stream, peer)) {
            Ok(key) => key,
            Err(mut conn) => {
                // As many seats as slab entries: only a bug gets here.
                self.handoff.seats().give_back();
                return conn::refuse_overload(conn.stream_mut());
            }
        };
        let conn = self.conns.get_mut(key).expect("just inserted");
        let verdict = conn.drive(key, &mut self.ctx, false);
        if verdict == Verdict::Close {
            return self.close(key);
        }
        let conn = self.conns.get_mut(key).expect("still there");
        let registered = self.poll.registry().register(
            conn.stream_mut(),
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            crate::logging::log_error!("cannot register a connection: {e}");
            return self.close(key);
        }
        if verdict == Verdict::Upgrade {
            // Handed over from the poll it was just added to.
            self.upgrade(key);
        }
    }

    fn drive(&mut self, key: usize, read_closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        match conn.drive(key, &mut self.ctx, read_closed) {
            Verdict::Keep => {}
            Verdict::Close => self.close(key),
            Verdict::Upgrade => self.upgrade(key),
        }
    }

    /// Hands a connection whose `101` is sent to its WebSocket thread.
    fn upgrade(&mut self, key: usize) {
        self.ctx.timers.disarm(key);
        let Some(mut conn) = self.conns.remove(key) else { return };
        self.handoff.seats().give_back();
        let (Some((ticket, thread)), Some(route)) = (conn.pending_upgrade(), self.ctx.ws.clone()) else {
            return conn.release(&mut self.ctx);
        };
        if let Err(e) = self.poll.registry().deregister(conn.stream_mut()) {
            crate::logging::log_error!("cannot hand a WebSocket connection over: {e}");
            route.unreserve(thread);
            conn.release(&mut self.ctx);
            return;
        }
        let (stream, peer, early) = conn.into_upgraded(&mut self.ctx);
        route.hand_over(thread, Upgraded { stream, peer, ticket, early });
    }

    fn expire_timers(&mut self) {
        while let Some((key, kind)) = self.ctx.timers.pop_expired(self.ctx.now) {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            match conn.on_timeout(kind, key, &mut self.ctx) {
                Verdict::Keep => {}
                Verdict::Close => self.close(key),
                Verdict::Upgrade => self.upgrade(key),
            }
        }
    }

    /// Stops keep-alive and closes every idle connection; busy ones close
    /// after their current response. Idle-looking ones are driven rather
    /// than closed outright: one just handed over may hold an unread
    /// request, which is then answered (with `Connection: close`).
    fn begin_drain(&mut self, inbox: &mut VecDeque<Accepted>, keys: &mut Vec<usize>) {
        self.ctx.draining = true;
        // Connections already waiting in this worker's backlog (it may have
        // been busy in a handler) are taken and answered, not reset with
        // the listener; the port closes with the last listener.
        self.accept();
        self.listener = None;
        self.accept_paused = None;
        // Sockets accepted before the listener closed may carry requests.
        self.admit(inbox);
        self.ctx.timers.keys_of(TimerKind::Idle, keys);
        for &key in keys.iter() {
            if self.conns.get_mut(key).is_some_and(|c| c.is_idle()) {
                self.drive(key, false);
            }
        }
    }

    fn close(&mut self, key: usize) {
        self.ctx.timers.disarm(key);
        if let Some(mut conn) = self.conns.remove(key) {
            self.handoff.seats().give_back();
            if let (Some((_, thread)), Some(route)) = (conn.pending_upgrade(), &self.ctx.ws) {
                route.unreserve(thread);
            }
            conn.release(&mut self.ctx);
            // Dropping the socket closes it, which also removes it from the poll.
        }
    }

    fn close_all(&mut self) {
        for key in 0..self.conns.key_bound() {
            self.close(key);
        }
    }
}

/// Sockets an inbox holds at most: enough for a burst of accepts, bounded
/// so a stalled worker cannot hoard descriptors.
fn handoff_capacity(connections: usize) -> usize {
    connections.min(4096)
}
