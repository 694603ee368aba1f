//! A client's address as a connection keeps it, and as a request carries
//! it to the handler: compact, turned into a `SocketAddr` when asked for.

use std::net::{IpAddr, SocketAddr, SocketAddrV6};

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
    #[inline]
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
