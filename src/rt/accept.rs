//! What an `accept(2)` error means for the loop that got it.

use std::io;
use std::time::Duration;

/// How long to pause accepting after EMFILE/ENFILE before trying again.
pub const EXHAUSTED_BACKOFF: Duration = Duration::from_millis(50);

/// The classes of accept errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptError {
    /// The backlog is empty.
    Done,
    /// This one connection failed (reset before accept, signal): go on.
    Transient,
    /// Out of descriptors or memory: pause, do not spin.
    Exhausted,
    /// Anything else.
    Fatal,
}

/// Which class `e` is in.
pub fn classify(e: &io::Error) -> AcceptError {
    match e.kind() {
        io::ErrorKind::WouldBlock => return AcceptError::Done,
        io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset => {
            return AcceptError::Transient
        }
        _ => {}
    }
    match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => AcceptError::Exhausted,
        Some(libc::EPROTO | libc::EPERM) => AcceptError::Transient,
        _ => AcceptError::Fatal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_fall_in_their_classes() {
        let os = io::Error::from_raw_os_error;
        assert_eq!(classify(&io::ErrorKind::WouldBlock.into()), AcceptError::Done);
        assert_eq!(classify(&os(libc::ECONNABORTED)), AcceptError::Transient);
        assert_eq!(classify(&os(libc::EMFILE)), AcceptError::Exhausted);
        assert_eq!(classify(&os(libc::ENFILE)), AcceptError::Exhausted);
        assert_eq!(classify(&os(libc::EBADF)), AcceptError::Fatal);
    }
}
