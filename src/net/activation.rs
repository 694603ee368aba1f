//! Listening sockets passed by a service manager: systemd's socket
//! activation (`LISTEN_PID`, `LISTEN_FDS`, descriptors from 3 on), read by
//! the rules of `sd_listen_fds(3)`. The manager holds the port, so a
//! restart never closes it (connections wait in the backlog meanwhile),
//! and the server can start on its first connection.
//!
//! ```no_run
//! use peregrine::{activation, Config, Request, Response, Server};
//!
//! fn hello(_: &Request<'_>, res: &mut Response<'_>) {
//!     res.body_static(b"hello");
//! }
//!
//! fn main() -> Result<(), peregrine::Error> {
//!     let config = Config::new().port(8080);
//!     // Passed a socket (`systemd-socket-activate -l 8080 ./server`):
//!     // serve on it; else bind as usual.
//!     let server = match activation::listeners()?.pop() {
//!         Some(listener) => Server::with_listener(config, listener, hello)?,
//!         None => Server::bind(config, hello)?,
//!     };
//!     server.run()
//! }
//! ```
//!
//! The environment is left as it is: a child process sees a `LISTEN_PID`
//! that is not its own, and so takes nothing, as the protocol intends.

use std::net::TcpListener;
use std::os::fd::BorrowedFd;

use crate::error::Error;
use crate::net::listener;

/// The first descriptor a service manager passes (`SD_LISTEN_FDS_START`).
const FIRST_FD: i32 = 3;

/// More descriptors than this is taken for a corrupt environment.
const MAX_FDS: usize = 4096;

/// The listening sockets passed to this process, in order; none if it was
/// not socket-activated (no `LISTEN_PID`, or another process's). Each is
/// handed out once: a second call returns none.
///
/// # Errors
///
/// [`Error::Listener`] when the variables are malformed (`LISTEN_PID` or
/// `LISTEN_FDS` not a number, an absurd count), or a passed descriptor is
/// not open, or not a listening TCP socket.
pub fn listeners() -> Result<Vec<TcpListener>, Error> {
    let var = |name| std::env::var(name).ok();
    let count = passed(var("LISTEN_PID").as_deref(), var("LISTEN_FDS").as_deref(), std::process::id())?;
    let fds = FIRST_FD..FIRST_FD + count as i32;
    let passed = crate::sys::take_passed_listeners(fds, check).map_err(|(fd, why)| passed_error(fd, why))?;
    for listener in &passed {
        listener.set_nonblocking(true).map_err(|e| Error::Listener(format!("a passed listener: {e}")))?;
    }
    Ok(passed)
}

/// Whether a passed descriptor is a listening TCP socket, and if not, why.
fn check(fd: BorrowedFd<'_>) -> Result<(), String> {
    listener::check_socket(socket2::SockRef::from(&fd))
}

fn passed_error(fd: i32, why: String) -> Error {
    Error::Listener(format!("descriptor {fd} from LISTEN_FDS: {why}"))
}

/// How many descriptors were passed to the process `me`, by the values of
/// `LISTEN_PID` and `LISTEN_FDS`.
fn passed(pid: Option<&str>, fds: Option<&str>, me: u32) -> Result<usize, Error> {
    let bad = |what: &str, value: &str| Error::Listener(format!("{what} is {value:?}, not a count"));
    let Some(pid) = pid else { return Ok(0) };
    let pid: u32 = pid.trim().parse().map_err(|_| bad("LISTEN_PID", pid))?;
    if pid != me {
        // Meant for another process (a parent's, inherited).
        return Ok(0);
    }
    let Some(fds) = fds else { return Ok(0) };
    let count: usize = fds.trim().parse().map_err(|_| bad("LISTEN_FDS", fds))?;
    if count > MAX_FDS {
        return Err(Error::Listener(format!("LISTEN_FDS is {count}, more than {MAX_FDS} sockets")));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_follow_sd_listen_fds() {
        let count = |pid, fds| passed(pid, fds, 42).map_err(|e| e.to_string());
        assert_eq!(count(None, Some("2")), Ok(0), "not activated");
        assert_eq!(count(Some("41"), Some("2")), Ok(0), "another process's");
        assert_eq!(count(Some("42"), Some("2")), Ok(2));
        assert_eq!(count(Some("42"), None), Ok(0));
        assert_eq!(count(Some("42"), Some("0")), Ok(0));
        for (pid, fds) in [("x", "1"), ("42", "-1"), ("42", "two"), ("42", "")] {
            let err = count(Some(pid), Some(fds)).unwrap_err();
            assert!(err.contains("not a count"), "{pid}/{fds}: {err}");
        }
        assert!(count(Some("42"), Some("100000")).unwrap_err().contains("more than"));
    }
}
