//! Errors a server reports to its owner: start-up failures and thread deaths.
//!
//! Errors in a client's request never surface here: they become a status
//! code on that connection (see [`crate::http::head::HeadError`]).

use std::fmt;
use std::io;
use std::net::SocketAddr;

/// Why a server could not start or did not stop cleanly.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// A configuration value is out of range; the message names it.
    Config(String),
    /// Creating, binding or listening on the socket failed.
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// What the operating system said.
        source: io::Error,
    },
    /// Another start-up step failed (creating a poll, spawning a thread,
    /// installing signal handlers); the message says which.
    Setup {
        /// The step that failed.
        what: &'static str,
        /// What the operating system said.
        source: io::Error,
    },
    /// A server thread panicked; its connections were lost.
    ThreadPanicked(String),
    /// A listening socket given to the server (by the program, or by a
    /// service manager through `LISTEN_FDS`) cannot be used; the message
    /// says why.
    Listener(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(msg) => write!(f, "invalid configuration: {msg}"),
            Error::Bind { addr, source } => {
                write!(f, "cannot listen on {addr}: {source}")?;
                match source.kind() {
                    io::ErrorKind::AddrInUse => {
                        f.write_str(" (another process holds this port; choose another)")
                    }
                    io::ErrorKind::PermissionDenied => {
                        f.write_str(" (ports below 1024 need privileges; use a higher port)")
                    }
                    io::ErrorKind::AddrNotAvailable => f.write_str(" (no local interface has this address)"),
                    _ => Ok(()),
                }
            }
            Error::Setup { what, source } => write!(f, "cannot {what}: {source}"),
            Error::ThreadPanicked(name) => write!(f, "server thread {name} panicked"),
            Error::Listener(why) => write!(f, "cannot serve on the listening socket given: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Bind { source, .. } | Error::Setup { source, .. } => Some(source),
            Error::Config(_) | Error::ThreadPanicked(_) | Error::Listener(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_error_names_address_and_cause() {
        let e = Error::Bind {
            addr: "127.0.0.1:80".parse().unwrap(),
            source: io::Error::from(io::ErrorKind::AddrInUse),
        };
        let msg = e.to_string();
        assert!(msg.contains("127.0.0.1:80"), "{msg}");
        assert!(msg.contains("another process"), "{msg}");
        assert!(std::error::Error::source(&e).is_some());
    }
}
