//! Creating the listening socket with the options the config asks for.

use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;
use crate::error::Error;

/// Binds and listens as configured; a failure names the address and cause.
pub fn bind(config: &Config) -> Result<TcpListener, Error> {
    bind_to(config, config.addr, config.reuse_port)
}

/// `n` listeners on one address with `SO_REUSEPORT`, one per worker that
/// accepts for itself: the kernel spreads new connections over them.
pub fn bind_per_worker(config: &Config, n: usize) -> Result<Vec<TcpListener>, Error> {
    // `SO_REUSEPORT` would let these listeners join a port another process
    // of this user already serves, splitting its traffic silently; a plain
    // bind first fails as a server's bind should. Kept until the first
    // listener is up, so nothing joins in between.
    let _probe = if !config.reuse_port && config.addr.port() != 0 {
        let probe = Socket::new(Domain::for_address(config.addr), Type::STREAM, Some(Protocol::TCP))
            .and_then(|s| s.set_reuse_address(true).and_then(|()| s.bind(&config.addr.into())).map(|()| s));
        Some(probe.map_err(|source| Error::Bind { addr: config.addr, source })?)
    } else {
        None
    };
    let first = bind_to(config, config.addr, true)?;
    // With port 0, the others must join the port the first one got.
    let addr = local_addr(&first, config.addr)?;
    let mut listeners = vec![first];
    for _ in 1..n {
        listeners.push(bind_to(config, addr, true)?);
    }
    Ok(listeners)
}

fn bind_to(config: &Config, addr: SocketAddr, reuse_port: bool) -> Result<TcpListener, Error> {
    let bind_err = |source| Error::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(bind_err)?;
    // Restarting the server must not fail on the previous run's TIME_WAIT sockets.
    socket.set_reuse_address(true).map_err(bind_err)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(bind_err)?;
    }
    socket.bind(&addr.into()).map_err(bind_err)?;
    let backlog = i32::try_from(config.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).map_err(bind_err)?;
    if config.defer_accept {
        // One second, as nginx and h2o: a silent client is handed over
        // after that (the kernel's retry of its SYN-ACK), not dropped.
        // Only an optimisation: without it, connections are taken as made.
        if let Err(e) = crate::sys::defer_accept(&socket, 1) {
            crate::logging::log_warn!("cannot defer accepting on {addr} (TCP_DEFER_ACCEPT): {e}");
        }
    }
    socket.set_nonblocking(true).map_err(bind_err)?;
    Ok(socket.into())
}

/// The address actually bound (with the real port when port 0 was asked for).
pub fn local_addr(listener: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, Error> {
    listener.local_addr().map_err(|source| Error::Bind { addr: asked, source })
}

/// Checks that a listener given to the server is a listening TCP socket
/// (IPv4 or IPv6), and makes it non-blocking as the loops need.
pub fn check_given(listener: &TcpListener) -> Result<(), Error> {
    check_socket(socket2::SockRef::from(listener)).map_err(Error::Listener)?;
    listener.set_nonblocking(true).map_err(|e| Error::Listener(format!("cannot make it non-blocking: {e}")))
}

/// Whether `sock` is a listening TCP socket, and if not, why.
pub fn check_socket(sock: socket2::SockRef<'_>) -> Result<(), String> {
    let domain = sock.domain().map_err(|e| format!("not a socket ({e})"))?;
    if domain != Domain::IPV4 && domain != Domain::IPV6 {
        return Err(format!("not a TCP/IP socket (domain {domain:?})"));
    }
    if sock.r#type().map_err(|e| e.to_string())? != Type::STREAM {
        return Err("not a stream (TCP) socket".into());
    }
    if !sock.is_listener().map_err(|e| e.to_string())? {
        return Err("the socket is not listening (listen(2) was not called)".into());
    }
    Ok(())
}
