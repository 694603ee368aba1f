//! A connection's socket, its peer, and the responses queued on it.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

use mio::net::TcpStream;

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

    /// Before queuing a response after which the connection stays open
    /// (`keep_alive`): turns Nagle off if it is on.
    ///
    /// Nagle holds a small write back only while earlier data is
    /// unacknowledged, so a connection's first response never waits;
    /// later ones could, behind a delayed ACK. A connection that closes
    /// after one response never needs the syscall.
    #[inline]
    pub fn no_delay(&mut self, keep_alive: bool) {
        if keep_alive && self.nagle == Nagle::On {
            self.nagle = Nagle::Off;
            if let Err(e) = self.stream.set_nodelay(true) {
                crate::logging::log_debug!("TCP_NODELAY failed for {}: {e}", self.peer.addr());
            }
        }
    }
}

/// A client's address in 24 bytes rather than `SocketAddr`'s 32, as every
/// connection, idle ones too, holds one. IPv6 flow information is not
/// kept: the kernel reports none for an accepted connection unless asked
/// (`IPV6_FLOWINFO`), which this server never does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// IPv4 addresses in the first four bytes.
    ip: [u8; 16],
    scope_id: u32,
    port: u16,
    v6: bool,
}

impl Peer {
    /// The address, as accepted.
    pub fn addr(self) -> SocketAddr {
        if self.v6 {
            SocketAddrV6::new(self.ip.into(), self.port, 0, self.scope_id).into()
        } else {
            let [a, b, c, d, ..] = self.ip;
            SocketAddr::new(IpAddr::from([a, b, c, d]), self.port)
        }
    }
}

impl From<SocketAddr> for Peer {
    fn from(addr: SocketAddr) -> Self {
        let mut ip = [0; 16];
        match addr {
            SocketAddr::V4(v4) => {
                ip[..4].copy_from_slice(&v4.ip().octets());
                Peer { ip, scope_id: 0, port: v4.port(), v6: false }
            }
            SocketAddr::V6(v6) => {
                Peer { ip: v6.ip().octets(), scope_id: v6.scope_id(), port: v6.port(), v6: true }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_round_trip_but_for_flow_information() {
        for addr in ["127.0.0.1:40000", "[::1]:8080", "[fe80::1%3]:443", "[::ffff:10.0.0.1]:1"] {
            let addr: SocketAddr = addr.parse().unwrap();
            assert_eq!(Peer::from(addr).addr(), addr);
        }
        let flow = SocketAddr::V6(SocketAddrV6::new("::1".parse().unwrap(), 1, 7, 0));
        assert_eq!(Peer::from(flow).addr(), "[::1]:1".parse::<SocketAddr>().unwrap());
        assert_eq!(std::mem::size_of::<Peer>(), 24);
    }
}
