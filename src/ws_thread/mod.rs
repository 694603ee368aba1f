//! WebSocket threads: each has its own poll, connection slab and buffers,
//! and owns every upgraded connection handed to it until that connection
//! ends. It runs the loop of `rt::event_loop` as one of its services,
//! reassembles messages, calls the handler's `ws_*` hooks and writes what
//! handles sent.

pub(crate) mod conn;
mod out;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::net::TcpStream;
use mio::{Interest, Poll, Token};

use self::conn::{Timer, WsConn, WsCtx, TURN_CAPACITY};
use crate::config::Config;
use crate::handler::Handler;
use crate::http::response::Ticket;
use crate::metrics::Tally;
use crate::rt::again::Again;
use crate::rt::event_loop::{self, Service, WAKER};
use crate::rt::inbox::Inbox;
use crate::rt::slab::Slab;
use crate::rt::timer::Timers;
use crate::rt::verdict::Verdict;
use crate::shutdown::ShutdownState;
use crate::ws::handle::{Cmd, WebSocket};
use crate::ws::CloseCode;

/// A connection whose `101` was sent, on its way to a WebSocket thread.
pub struct Upgraded {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub ticket: Ticket,
    /// Bytes the client sent after its handshake (frames already).
    pub early: Vec<u8>,
}

/// How workers reach the WebSocket threads: each thread's inbox, whose
/// seats count its places.
pub struct WsRoute {
    inboxes: Box<[Arc<Inbox<Upgraded>>]>,
}

impl WsRoute {
    /// Reserves a place for connection `id` on the thread with the most
    /// room (from `id` modulo the number of threads on, among equals);
    /// `None` if every thread is full.
    pub fn reserve(&self, id: u64) -> Option<usize> {
        let n = self.inboxes.len();
        let start = (id % n as u64) as usize;
        let in_turn = (0..n).map(|k| (start + k) % n);
        // The most free seats; among equals, the first from `start` on.
        let roomiest = in_turn.clone().rev().max_by_key(|&i| self.inboxes[i].seats().free());
        // Others may take seats meanwhile: then any thread with room will do.
        roomiest.into_iter().chain(in_turn).find(|&i| self.inboxes[i].seats().take())
    }

    /// A route to one thread of `capacity` places that never runs: the
    /// seats are real, the inbox is never read, as the client of
    /// `peregrine::testing` serves its upgraded connection itself.
    #[cfg(feature = "testing")]
    pub fn unserved(capacity: usize, waker: Arc<mio::Waker>) -> Self {
        WsRoute { inboxes: Box::new([Arc::new(Inbox::new(capacity, capacity, waker))]) }
    }

    /// Gives back a reservation that will not be used.
    pub fn unreserve(&self, index: usize) {
        self.inboxes[index].seats().give_back();
    }

    /// Hands an upgraded connection to the thread reserved for it.
    pub fn hand_over(&self, index: usize, upgraded: Upgraded) {
        let inbox = &self.inboxes[index];
        if inbox.push(upgraded).is_err() {
            // The inbox holds as many as the thread has places, and every
            // connection in it has one: it cannot be full, only closed (the
            // thread has ended). Dropping closes.
            inbox.seats().give_back();
        }
    }
}

/// A WebSocket thread, built on the starting thread (so failures surface
/// from `Server::bind`) and run on its own.
pub struct WsThread<H> {
    poll: Poll,
    inbox: Arc<Inbox<Upgraded>>,
    conns: Slab<WsConn>,
    ctx: WsCtx<H>,
    shutdown: Arc<ShutdownState>,
    grace: Duration,
    capacity: usize,
    /// What the inbox held, taken out at once.
    admitted: Vec<Upgraded>,
    /// Frames the outbox held, taken out at once.
    cmds: Vec<Cmd>,
    /// Connections with frames to write this turn, each once.
    dirty: Vec<usize>,
}

/// Builds `n` WebSocket threads and the route to them.
pub fn build<H: Handler>(
    config: &Config,
    n: usize,
    handler: &Arc<H>,
    shutdown: &Arc<ShutdownState>,
    tallies: Vec<Tally>,
) -> io::Result<(Vec<WsThread<H>>, WsRoute)> {
    let threads = tallies
        .into_iter()
        .map(|tally| WsThread::new(config, Arc::clone(handler), Arc::clone(shutdown), n, tally))
        .collect::<io::Result<Vec<_>>>()?;
    let inboxes = threads.iter().map(|t| Arc::clone(&t.inbox)).collect();
    Ok((threads, WsRoute { inboxes }))
}

impl<H: Handler> WsThread<H> {
    fn new(
        config: &Config,
        handler: Arc<H>,
        shutdown: Arc<ShutdownState>,
        n: usize,
        tally: Tally,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER)?);
        shutdown.add_waker(Arc::clone(&waker));
        let capacity = (config.max_connections / n).max(1);
        let mut ctx = WsCtx::new(config, handler, capacity, Arc::clone(&waker));
        ctx.tally = tally;
        Ok(WsThread {
            poll,
            inbox: Arc::new(Inbox::new(capacity, capacity, waker)),
            conns: Slab::with_capacity(capacity),
            ctx,
            shutdown,
            grace: config.shutdown_grace,
            capacity,
            admitted: Vec::with_capacity(capacity),
            cmds: Vec::with_capacity(TURN_CAPACITY),
            dirty: Vec::with_capacity(TURN_CAPACITY),
        })
    }

    /// Serves until shutdown has closed every connection (or the grace
    /// period ran out).
    pub fn run(mut self) {
        self.ctx.outbox.claim_current_thread();
        let (shutdown, grace, capacity) = (Arc::clone(&self.shutdown), self.grace, self.capacity);
        event_loop::run(&mut self, &shutdown, grace, capacity);
    }

    /// Takes over the connections workers handed over.
    fn admit(&mut self) {
        let mut admitted = std::mem::take(&mut self.admitted);
        self.inbox.take_all(&mut admitted);
        for up in admitted.drain(..) {
            let Upgraded { stream, peer, ticket, early } = up;
            // Room was reserved before the `101` went out.
            let Ok(key) = self.conns.insert_with(|key| {
                let ws = WebSocket::new(Arc::clone(&self.ctx.outbox), key, ticket, peer);
                WsConn::new(stream, ws)
            }) else {
                self.inbox.seats().give_back();
                continue;
            };
            let conn = self.conns.get_mut(key).expect("just inserted");
            let registered = self.poll.registry().register(
                conn.stream_mut(),
                Token(key),
                Interest::READABLE | Interest::WRITABLE,
            );
            if let Err(e) = registered {
                crate::logging::log_error!("cannot register a WebSocket connection: {e}");
                // Never opened, so no hook hears of it.
                self.conns.remove(key);
                self.ctx.outbox.retire(key);
                self.inbox.seats().give_back();
                continue;
            }
            conn.open(&early, &mut self.ctx);
            if self.shutdown.is_requested() {
                conn.close_with(CloseCode::GOING_AWAY, &mut self.ctx);
            }
            self.mark_dirty(key);
        }
        self.admitted = admitted;
    }

    /// Queues `key` for this turn's flush, once.
    fn mark_dirty(&mut self, key: usize) {
        if self.conns.get_mut(key).is_some_and(WsConn::mark_dirty) {
            self.dirty.push(key);
        }
    }

    fn read(&mut self, key: usize, read_closed: bool) {
        let Some(conn) = self.conns.get_mut(key) else { return };
        if conn.on_readable(&mut self.ctx, read_closed) == Verdict::Close {
            self.close(key);
        }
    }

    /// Queues the frames sent through handles on their connections: first
    /// those a hook's connection set aside (they were queued earlier), then
    /// the outbox's.
    fn apply(&mut self) {
        // Swapped out and back, so both keep their capacity.
        let mut deferred = std::mem::take(&mut self.ctx.deferred);
        self.apply_cmds(&mut deferred);
        self.ctx.deferred = deferred;
        let mut cmds = std::mem::take(&mut self.cmds);
        self.ctx.outbox.take_all(&mut cmds);
        self.apply_cmds(&mut cmds);
        self.cmds = cmds;
    }

    fn apply_cmds(&mut self, cmds: &mut Vec<Cmd>) {
        for cmd in cmds.drain(..) {
            let key = cmd.key as usize;
            match self.conns.get_mut(key) {
                Some(conn) => {
                    conn.enqueue_current(cmd, &mut self.ctx);
                    if conn.mark_dirty() {
                        self.dirty.push(key);
                    }
                }
                None => self.ctx.spent.push(cmd.frame),
            }
        }
    }

    fn flush(&mut self) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for key in dirty.drain(..) {
            let Some(conn) = self.conns.get_mut(key) else { continue };
            if conn.flush(&mut self.ctx) == Verdict::Close {
                self.close(key);
            }
        }
        self.dirty = dirty;
    }

    fn close(&mut self, key: usize) {
        self.ctx.timers.disarm(key);
        if let Some(conn) = self.conns.remove(key) {
            self.ctx.outbox.retire(key);
            self.inbox.seats().give_back();
            conn.finish(&mut self.ctx);
        }
    }
}

impl<H: Handler> Service for WsThread<H> {
    type Timer = Timer;

    const NAME: &'static str = "WebSocket thread";

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
        if self.ctx.trim.due(now) {
            // Checked every turn: a wake for the trim must find it due.
            self.ctx.trim_pools();
        }
    }

    /// Hooks of this thread queued frames last turn, without a wake-up.
    fn busy(&self) -> bool {
        !self.ctx.deferred.is_empty() || self.ctx.outbox.has_pending()
    }

    fn on_wake(&mut self) {
        self.admit();
    }

    fn on_event(&mut self, event: &Event) {
        let Token(key) = event.token();
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            self.read(key, event.is_read_closed());
        }
        self.mark_dirty(key);
    }

    fn on_again(&mut self, key: usize) {
        self.read(key, false);
        self.mark_dirty(key);
    }

    /// Frames sent through handles are queued, and what is queued written.
    fn end_turn(&mut self) {
        self.apply();
        self.flush();
        self.ctx.outbox.recycle(&mut self.ctx.spent);
        self.ctx.tally.end_turn(self.ctx.now);
    }

    /// Counts due to be published, or the pools' next trim.
    fn wake_at(&self) -> Option<Instant> {
        let trim = self.ctx.trim.wake_at(self.ctx.pool_bytes());
        [self.ctx.tally.wake_at(), trim].into_iter().flatten().min()
    }

    fn on_timer(&mut self, key: usize, _: Timer) {
        // Timers fire after the turn's counts were published.
        self.ctx.tally.touch();
        self.close(key);
    }

    /// Says goodbye (`1001`) to every connection; each closes when its
    /// client answers, or when its linger timer or the grace period ends.
    fn begin_drain(&mut self) {
        // Runs after the turn's counts were published.
        self.ctx.tally.touch();
        self.admit();
        self.ctx.outbox.stop();
        for key in 0..self.conns.key_bound() {
            if let Some(conn) = self.conns.get_mut(key) {
                conn.close_with(CloseCode::GOING_AWAY, &mut self.ctx);
            }
            self.mark_dirty(key);
        }
        self.flush();
    }

    fn open_connections(&self) -> usize {
        self.conns.len()
    }

    fn close_all(&mut self) {
        // A connection handed over just now is closed too (dropping its
        // socket closes it), and none can be handed over any more.
        self.inbox.close();
        for key in 0..self.conns.key_bound() {
            self.close(key);
        }
        self.ctx.tally.publish_final();
    }
}
