//! Accept threads: take connections off the listener and hand them to the
//! workers round-robin, backing off when the process runs out of descriptors.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use mio::net::TcpListener;
use mio::{Events, Interest, Poll, Token, Waker};

use crate::metrics::Metrics;
use crate::rt::accept::{classify, AcceptError, EXHAUSTED_BACKOFF};
use crate::rt::inbox::{place, Accepted, Inbox};
use crate::rt::socket::refuse_overload;
use crate::shutdown::ShutdownState;

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);

/// One accept thread, built on the starting thread and run on its own.
pub struct Acceptor {
    poll: Poll,
    listener: TcpListener,
    workers: Vec<Arc<Inbox<Accepted>>>,
    next: usize,
    shutdown: Arc<ShutdownState>,
    /// In a descriptor shortage: logged once when it starts and ends.
    exhausted: bool,
    /// Counts the connections turned away.
    metrics: Metrics,
}

impl Acceptor {
    /// Registers `listener` with a new poll and makes the poll wakeable
    /// for shutdown.
    pub fn new(
        listener: std::net::TcpListener,
        workers: Vec<Arc<Inbox<Accepted>>>,
        first: usize,
        shutdown: Arc<ShutdownState>,
        metrics: Metrics,
    ) -> io::Result<Self> {
        let poll = Poll::new()?;
        let mut listener = TcpListener::from_std(listener);
        poll.registry().register(&mut listener, LISTENER, Interest::READABLE)?;
        shutdown.add_waker(Arc::new(Waker::new(poll.registry(), WAKER)?));
        Ok(Acceptor { poll, listener, workers, next: first, shutdown, exhausted: false, metrics })
    }

    /// Accepts until shutdown; the listener closes when this returns.
    pub fn run(mut self) {
        let mut events = Events::with_capacity(8);
        let mut backoff = None;
        while !self.shutdown.is_requested() {
            if let Err(e) = self.poll.poll(&mut events, backoff) {
                if e.kind() != io::ErrorKind::Interrupted {
                    crate::logging::log_error!("accept poll failed; no longer accepting: {e}");
                    return;
                }
            }
            if self.shutdown.is_requested() {
                return;
            }
            backoff = self.accept_all();
        }
    }

    /// Accepts until the backlog is empty. Returns a pause to wait before
    /// trying again when descriptors ran out (the queued connections stay
    /// in the backlog, and no new readiness edge would announce them).
    fn accept_all(&mut self) -> Option<Duration> {
        loop {
            match self.listener.accept() {
                Ok((stream, peer)) => {
                    if std::mem::take(&mut self.exhausted) {
                        crate::logging::log_info!("accepting again");
                    }
                    self.hand_off((stream, peer));
                }
                Err(e) => match classify(&e) {
                    AcceptError::Done => return None,
                    AcceptError::Transient => continue,
                    AcceptError::Exhausted => {
                        if !std::mem::replace(&mut self.exhausted, true) {
                            crate::logging::log_warn!(
                                "accept: {e}; retrying every {EXHAUSTED_BACKOFF:?} until it clears"
                            );
                        }
                        return Some(EXHAUSTED_BACKOFF);
                    }
                    AcceptError::Fatal => {
                        crate::logging::log_error!("accept failed: {e}; retrying in {EXHAUSTED_BACKOFF:?}");
                        return Some(EXHAUSTED_BACKOFF);
                    }
                },
            }
        }
    }

    /// Gives the socket to the next worker with room (round-robin over
    /// those with a free seat); when no worker has room the client gets a 503.
    fn hand_off(&mut self, accepted: Accepted) {
        if let Err(mut refused) = place(&self.workers, &mut self.next, accepted) {
            refuse_overload(&mut refused.0);
            self.metrics.refused_by_acceptor();
        }
    }
}
