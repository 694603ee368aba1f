//! Creating the listening socket with the options the config asks for.

use std::net::{SocketAddr, TcpListener};

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::Config;
use crate::error::Error;

/// Binds and listens as configured; a failure names the address and cause.
pub fn bind(config: &Config) -> Result<TcpListener, Error> {
    let addr = config.addr;
    let bind_err = |source| Error::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(bind_err)?;
    // Restarting the server must not fail on the previous run's TIME_WAIT sockets.
    socket.set_reuse_address(true).map_err(bind_err)?;
    if config.reuse_port {
        socket.set_reuse_port(true).map_err(bind_err)?;
    }
    socket.bind(&addr.into()).map_err(bind_err)?;
    let backlog = i32::try_from(config.backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).map_err(bind_err)?;
    socket.set_nonblocking(true).map_err(bind_err)?;
    Ok(socket.into())
}

/// The address actually bound (with the real port when port 0 was asked for).
pub fn local_addr(listener: &TcpListener, asked: SocketAddr) -> Result<SocketAddr, Error> {
    listener.local_addr().map_err(|source| Error::Bind { addr: asked, source })
}
