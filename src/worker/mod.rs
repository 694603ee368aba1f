//! An HTTP worker thread: one poll, one connection slab, its own buffers,
//! timers and `Date` stamp; it owns every connection placed on it for
//! life, or until it hands an upgraded one to a WebSocket thread. It runs
//! the loop of `rt::event_loop` as one of its services.

pub mod access;
pub mod after;
pub mod body;
pub mod conn;
pub mod ctx;
pub mod incoming;
pub mod later;
pub mod socket;
pub mod waiting;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Poll, Token};

use self::access::LogBuffer;
use self::conn::Conn;
use self::ctx::{Ctx, Timer};
use crate::config::Config;
use crate::handler::Handler;
use crate::http::response::Ticket;
use crate::metrics::{Stat, Tally};
use crate::rt::accept::{classify, AcceptError, EXHAUSTED_BACKOFF};
use crate::rt::again::Again;
use crate::rt::event_loop::{self, Service, WAKER};
use crate::rt::exchange::Ready;
use crate::rt::inbox::{place, Accepted, Inbox};
use crate::rt::mailbox::Mailbox;
use crate::rt::slab::Slab;
use crate::rt::socket::refuse_overload;
use crate::rt::timer::Timers;
use crate::rt::verdict::Verdict;
use crate::shutdown::ShutdownState;
use crate::ws_thread::Upgraded;

/// Token of the worker's own listener, when it accepts for itself.
const LISTENER: Token = Token(usize::MAX - 1);

/// A worker, built on the starting thread (so failures surface from
/// `Server::bind`) and run on its own.
pub struct Worker<H> {
    poll: Poll,
    inbox: Arc<Inbox<Accepted>>,
    /// Where responders and streams on other threads announce changes.
    completions: Arc<Mailbox<Ready>>,
    /// What the completions mailbox held, taken out at once.
    completed: Vec<Ready>,
    conns: Slab<Conn>,
    ctx: Ctx<H>,
    shutdown: Arc<ShutdownState>,
    grace: Duration,
    /// Connections this worker holds at most.
    capacity: usize,
    /// The worker's own listener, when there are no accept threads.
    listener: Option<TcpListener>,
    /// Every worker's inbox (this one's too), where a connection this
    /// worker accepted goes when it has no room itself.
    peers: Vec<Arc<Inbox<Accepted>>>,
    /// The peer tried first with the next such connection.
    next_peer: usize,
    /// Accepting paused (out of descriptors) until then.
    accept_paused: Option<Instant>,
    accept_exhausted: bool,
    /// What the inbox held, taken out at once (allocated once).
    admitted: Vec<Accepted>,
    /// Keys of idle connections, collected at shutdown (allocated once).
    idle: Vec<usize>,
}

impl<H: Handler> Worker<H> {
    /// Creates the worker's poll and inbox.
    pub fn new(
        config: &Config,
        handler: Arc<H>,
        shutdown: Arc<ShutdownState>,
        ws: Option<Arc<crate::ws_thread::WsRoute>>,
        listener: Option<std::net::TcpListener>,
        tally: Tally,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let listener = match listener {
            Some(l) => {
                let mut l = TcpListener::from_std(l);
                poll.registry().register(&mut l, LISTENER, Interest::READABLE)?;
                Some(l)
            }
            None => None,
        };
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        shutdown.add_waker(Arc::clone(&waker));
        let capacity = config.connections_per_worker();
        let in_flight = inbox_capacity(capacity);
        // Grows only if more completions arrive between two polls. The
        // list it is swapped with has the same room: a swap hands the
        // mailbox that list, which must not have to grow either.
        let completions_room = in_flight.min(256);
        let completions = Arc::new(Mailbox::growing(completions_room, Arc::clone(&waker)));
        let mut ctx = Ctx::new(config, handler, Arc::clone(&shutdown), ws);
        ctx.tally = tally;
        ctx.scratch.later.connect(Arc::clone(&completions), config.stream_buffer_size);
        Ok(Worker {
            poll,
            inbox: Arc::new(Inbox::new(in_flight, capacity, waker)),
            completions,
            completed: Vec::with_capacity(completions_room),
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
            admitted: Vec::with_capacity(in_flight),
            idle: Vec::with_capacity(capacity),
        })
    }

    /// The inbox accept threads hand sockets to.
    pub fn inbox(&self) -> Arc<Inbox<Accepted>> {
        Arc::clone(&self.inbox)
    }

    /// Every worker's inbox, for a worker that accepts for itself: a
    /// connection it has no room for goes to one that has.
    pub fn set_peers(&mut self, peers: Vec<Arc<Inbox<Accepted>>>) {
        self.peers = peers;
    }

    /// Serves until shutdown has drained every connection (or the grace
    /// period ran out).
    pub fn run(mut self) {
        let (shutdown, grace, capacity) = (Arc::clone(&self.shutdown), self.grace, self.capacity);
        event_loop::run(&mut self, &shutdown, grace, capacity);
    }

    /// Accepts from the worker's own listener until its backlog is empty;
    /// out of descriptors, pauses (the backlog keeps the connections, and
    /// no new edge would announce them, so the retry is timed).
    fn accept(&mut self) {
        self.accept_paused = None;
        loop {
            let Some(listener) = &self.listener else { return };
            match listener.accept() {
                Ok((stream, peer)) => {
                    if std::mem::take(&mut self.accept_exhausted) {
                        crate::logging::log_info!("accepting again");
                    }
                    if self.inbox.seats().take() {
                        self.register(stream, peer);
                    } else if let Err((mut stream, _)) =
                        place(&self.peers, &mut self.next_peer, (stream, peer))
                    {
                        self.ctx.tally.add(Stat::Refused, 1);
                        refuse_overload(&mut stream);
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

    /// Registers the sockets accept threads (or peers) handed over.
    fn admit(&mut self) {
        let mut admitted = std::mem::take(&mut self.admitted);
        self.inbox.take_all(&mut admitted);
        for (stream, peer) in admitted.drain(..) {
            self.register(stream, peer);
        }
        self.admitted = admitted;
    }

    /// Drives the connections whose responders or streams announced a
    /// change; an announcement for a connection that has gone, or whose
    /// slot now serves another, is dropped.
    fn take_completions(&mut self) {
        let mut completed = std::mem::take(&mut self.completed);
        self.completions.take_all(&mut completed);
        for ready in completed.drain(..) {
            if self.conns.get_mut(ready.key).is_some_and(|c| c.woken(ready.id, ready.key, &mut self.ctx)) {
                self.drive(ready.key, false);
            }
        }
        self.completed = completed;
    }

    /// Takes a new connection, for which a seat was taken, into the slab
    /// and the poll (or answers 503).
    ///
    /// It is driven once first: a client usually sends its request right
    /// behind the handshake, so it is often there already. A connection
    /// served and closed at once (`Connection: close`) then never costs an
    /// `epoll_ctl`. Registering afterwards loses no wake-up: edge-triggered
    /// registration reports what is ready at that moment.
    fn register(&mut self, stream: TcpStream, peer: SocketAddr) {
        let key = match self.conns.insert(Conn::new(stream, peer)) {
            Ok(key) => key,
            Err(mut conn) => {
                // As many seats as slab entries: only a bug gets here.
                self.inbox.seats().give_back();
                self.ctx.tally.add(Stat::Refused, 1);
                return refuse_overload(conn.stream_mut());
            }
        };
        self.ctx.tally.add(Stat::Accepted, 1);
        let conn = self.conns.get_mut(key).expect("just inserted");
        let verdict = conn.drive(key, &mut self.ctx, false);
        // Registered even when it leaves at once for its WebSocket thread,
        // which takes it off this poll.
        let upgrading = conn.upgrade_ready().is_some();
        if verdict == Verdict::Close && !upgrading {
            return self.close(key);
        }
        let registered = self.poll.registry().register(
            conn.stream_mut(),
            Token(key),
            Interest::READABLE | Interest::WRITABLE,
        );
        if let Err(e) = registered {
            crate::logging::log_error!("cannot register a connection: {e}");
            return self.close(key);
        }
        if verdict == Verdict::Close {
            self.close(key);
        }
    }

    fn drive(&mut self, key: usize, read_closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.drive(key, &mut self.ctx, read_closed) == Verdict::Close {
            self.close(key);
        }
    }

    /// Takes a connection out of the worker: to its WebSocket thread if its
    /// `101` went out, else closed.
    fn close(&mut self, key: usize) {
        self.remove(key, true);
    }

    /// Takes a connection out of the worker, handing it over if
    /// `hand_over` and its `101` went out, else closing it.
    fn remove(&mut self, key: usize, hand_over: bool) {
        self.ctx.timers.disarm(key);
        let Some(mut conn) = self.conns.remove(key) else { return };
        self.inbox.seats().give_back();
        self.ctx.tally.add(Stat::Closed, 1);
        match conn.upgrade_ready().filter(|_| hand_over) {
            Some((ticket, thread)) => self.hand_over(conn, ticket, thread),
            None => {
                if let (Some((_, thread)), Some(route)) = (conn.pending_upgrade(), &self.ctx.ws) {
                    route.unreserve(thread);
                }
                // Dropping the socket closes it, which also takes it off
                // the poll.
                conn.release(&mut self.ctx);
            }
        }
    }

    /// Gives a connection whose `101` went out to its WebSocket thread.
    fn hand_over(&mut self, mut conn: Conn, ticket: Ticket, thread: usize) {
        // Only a route can have reserved the thread.
        let Some(route) = self.ctx.ws.clone() else { return conn.release(&mut self.ctx) };
        if let Err(e) = self.poll.registry().deregister(conn.stream_mut()) {
            crate::logging::log_error!("cannot hand a WebSocket connection over: {e}");
            route.unreserve(thread);
            return conn.release(&mut self.ctx);
        }
        let (stream, peer, early) = conn.into_upgraded(&mut self.ctx);
        self.ctx.tally.add(Stat::Upgrades, 1);
        route.hand_over(thread, Upgraded { stream, peer, ticket, early });
    }
}

impl<H: Handler> Service for Worker<H> {
    type Timer = Timer;

    const NAME: &'static str = "worker";

    fn poll(&mut self) -> &mut Poll {
        &mut self.poll
    }

    fn timers(&mut self) -> &mut Timers<Timer> {
        &mut self.ctx.timers
    }

    fn again(&mut self) -> &mut Again {
        &mut self.ctx.again
    }

    fn set_now(&mut self, now: Instant) {
        self.ctx.now = now;
        self.ctx.tally.touch();
        let second = self.ctx.date.secs();
        self.ctx.date.update(now);
        if self.ctx.trim.due(now) {
            // Checked every turn: a wake for the trim must find it due.
            self.ctx.trim_pools();
        }
        if self.ctx.date.secs() != second {
            // Once a second: what the pools hold moves slowly.
            self.ctx.tally.set(Stat::PoolBytes, self.ctx.pool_bytes() as u64);
        }
    }

    /// A paused accept's retry, access log lines due to be written,
    /// counts due to be published, or the pools' next trim.
    fn wake_at(&self) -> Option<Instant> {
        let log_due = self.ctx.access_log.as_ref().and_then(LogBuffer::due);
        let trim = self.ctx.trim.wake_at(self.ctx.pool_bytes());
        [self.accept_paused, log_due, self.ctx.tally.wake_at(), trim].into_iter().flatten().min()
    }

    fn on_wake(&mut self) {
        self.admit();
        self.take_completions();
    }

    fn on_event(&mut self, event: &Event) {
        match event.token() {
            LISTENER => self.accept(),
            Token(key) => self.drive(key, event.is_read_closed()),
        }
    }

    fn on_again(&mut self, key: usize) {
        self.drive(key, false);
    }

    fn end_turn(&mut self) {
        if self.accept_paused.is_some_and(|t| self.ctx.now >= t) {
            self.accept();
        }
        if let Some(log) = &mut self.ctx.access_log {
            log.flush_if_due(self.ctx.now);
        }
        self.ctx.tally.end_turn(self.ctx.now);
    }

    fn on_timer(&mut self, key: usize, kind: Timer) {
        // Timers fire after the turn's counts were published.
        self.ctx.tally.touch();
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.on_timeout(kind, key, &mut self.ctx) == Verdict::Close {
            self.close(key);
        }
    }

    /// Stops keep-alive and closes every idle connection; busy ones close
    /// after their current response. Idle-looking ones are driven rather
    /// than closed outright: one just handed over may hold an unread
    /// request, which is then answered (with `Connection: close`). Event
    /// streams end now; deferred responses and other streams get the
    /// grace period, at whose end they are cancelled (a deferred response
    /// that sent nothing is answered 503).
    fn begin_drain(&mut self) {
        // Runs after the turn's counts were published.
        self.ctx.tally.touch();
        self.ctx.draining = true;
        // Connections already waiting in this worker's backlog (it may have
        // been busy in a handler) are taken and answered, not reset with
        // the listener; the port closes with the last listener.
        self.accept();
        if let Some(mut listener) = self.listener.take() {
            // A socket shared with others (a passed one, duplicated per
            // worker) stays open after this copy closes, and so would its
            // registration, waking this worker for nothing.
            let _ = self.poll.registry().deregister(&mut listener);
        }
        self.accept_paused = None;
        // Sockets accepted before the listener closed may carry requests.
        self.admit();
        let mut idle = std::mem::take(&mut self.idle);
        self.ctx.timers.keys_of(Timer::Idle, &mut idle);
        for &key in &idle {
            if self.conns.get_mut(key).is_some_and(|c| c.is_idle()) {
                self.drive(key, false);
            }
        }
        self.idle = idle;
        for key in 0..self.conns.key_bound() {
            if self.conns.get_mut(key).is_some_and(|c| c.end_event_stream()) {
                self.drive(key, false);
            }
        }
    }

    fn open_connections(&self) -> usize {
        self.conns.len()
    }

    fn close_all(&mut self) {
        // No peer may place a connection here any more; one placed just
        // before is closed with the rest (dropping a socket closes it).
        self.inbox.close();
        self.completions.close();
        // The WebSocket threads are stopping too: nothing is handed over.
        for key in 0..self.conns.key_bound() {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.end_for_shutdown(key, &mut self.ctx);
            }
            self.remove(key, false);
        }
        self.ctx.tally.publish_final();
    }
}

/// Sockets an inbox holds at most: enough for a burst of accepts, bounded
/// so a stalled worker cannot hoard descriptors.
fn inbox_capacity(connections: usize) -> usize {
    connections.min(4096)
}
