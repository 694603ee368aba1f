//! A connection's socket, its peer, and the responses queued on it.

use std::net::SocketAddr;

use mio::net::TcpStream;

use crate::http::peer::Peer;
use crate::http::write::Outgoing;
use crate::rt::socket::Transport;

/// Whether small responses may wait behind unacknowledged ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Nagle {
    /// The kernel's default, kept while a connection carries one response.
    On,
    /// `TCP_NODELAY` is set.
    Off,
}

/// The socket, its peer, and what is queued on it.
pub struct Socket<T = TcpStream> {
    pub stream: T,
    pub peer: Peer,
    pub out: Outgoing,
    nagle: Nagle,
}

impl<T: Transport> Socket<T> {
    /// A new connection's socket, nothing queued, Nagle on.
    pub fn new(stream: T, peer: SocketAddr) -> Self {
        Socket { stream, peer: Peer::from(peer), out: Outgoing::new(), nagle: Nagle::On }
    }

    /// Before queuing a response after which more will be written (the
    /// connection stays open, or the body is streamed): turns Nagle off if
    /// it is on.
    ///
    /// Nagle holds a small write back only while earlier data is
    /// unacknowledged, so a connection's first response never waits;
    /// later writes could, behind a delayed ACK. A connection that closes
    /// after one response written at once never needs the syscall.
    #[inline(always)]
    pub fn no_delay(&mut self, more_writes: bool) {
        if more_writes && self.nagle == Nagle::On {
            self.turn_nagle_off();
        }
    }

    /// The system call behind [`no_delay`](Socket::no_delay), once per
    /// connection: out of line.
    #[cold]
    #[inline(never)]
    fn turn_nagle_off(&mut self) {
        self.nagle = Nagle::Off;
        if let Err(e) = self.stream.set_nodelay(true) {
            crate::logging::log_debug!("TCP_NODELAY failed for {}: {e}", self.peer.addr());
        }
    }
}
