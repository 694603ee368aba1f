//! What the loops do with a connected socket beyond reading and writing
//! bytes: send file ranges, hold a head back for what follows it, refuse a
//! connection there is no room for, and drain a closing one.

use std::io::{self, IoSlice, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

use super::input::Receive;

/// Where responses are written: a byte stream that can also send file
/// ranges (with `sendfile(2)` on a socket).
pub trait Sink: Write {
    /// Sends up to `count` bytes of `file` from `offset`; `Ok(0)` means the
    /// file ended early.
    fn send_file(&mut self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize>;

    /// Writes bytes that more will follow at once (a head before its file),
    /// so the stream may hold them back to share a packet with what comes.
    fn write_more(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_vectored(bufs)
    }

    /// Writes what it can of `bufs` now, in order: `write_vectored`, for
    /// which a socket makes the system call directly ([`sys::writev`]).
    ///
    /// [`sys::writev`]: crate::sys::writev
    fn send(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.write_vectored(bufs)
    }
}

impl Receive for TcpStream {
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        crate::sys::recv(self, buf)
    }
}

impl Sink for TcpStream {
    fn send(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        crate::sys::writev(self, bufs)
    }

    fn send_file(&mut self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize> {
        crate::sys::sendfile(self, file, offset, count)
    }

    #[cfg(target_os = "linux")]
    fn write_more(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        // MSG_MORE: the head waits for the file's first bytes, as with
        // TCP_CORK, instead of leaving in a packet of its own.
        socket2::SockRef::from(&*self).send_vectored_with_flags(bufs, libc::MSG_MORE)
    }
}

/// A connected byte stream an HTTP connection is served over: a TCP
/// socket, or memory (for tests that need none).
pub trait Transport: Read + Receive + Sink {
    /// Turns Nagle's algorithm off (or on).
    fn set_nodelay(&self, on: bool) -> io::Result<()>;

    /// Closes this side for writing (the peer reads an end of stream).
    fn shutdown_write(&self) -> io::Result<()>;

    /// Whether the peer reset the connection, or what a read would meet
    /// next is its end of stream: nothing more will come. Looks without
    /// taking anything.
    fn peer_gone(&self) -> bool;
}

impl Transport for TcpStream {
    fn peer_gone(&self) -> bool {
        // A reset, whatever bytes came before it: no answer can reach the
        // peer any more.
        if !matches!(self.take_error(), Ok(None)) {
            return true;
        }
        match self.peek(&mut [0u8; 1]) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => e.kind() != io::ErrorKind::WouldBlock && e.kind() != io::ErrorKind::Interrupted,
        }
    }

    fn set_nodelay(&self, on: bool) -> io::Result<()> {
        TcpStream::set_nodelay(self, on)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }
}

/// Best-effort `503` to a connection no thread has room for; dropping the
/// stream then closes it.
pub fn refuse_overload(stream: &mut TcpStream) {
    const BUSY: &[u8] =
        b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n";
    let _ = stream.write(BUSY);
    let _ = stream.shutdown(Shutdown::Write);
}

/// How far a [`linger`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lingered {
    /// The client closed (or the socket failed): close it now.
    Done,
    /// Nothing more to read for now; readiness will say when there is.
    Blocked,
    /// The turn's reads ran out with more perhaps waiting: go on next
    /// turn (no new edge would announce what is already there).
    More,
}

/// A lingering close: after this side's half-close, reads and drops what
/// the client still sends, `reads` reads at most, until it closes. The
/// client then reads the last answer instead of a reset that could destroy
/// it; a timer bounds the linger. Also says whether anything came.
pub fn linger(stream: &mut impl Read, scratch: &mut [u8], reads: usize) -> (Lingered, bool) {
    let mut came = false;
    for _ in 0..reads {
        match stream.read(scratch) {
            Ok(0) => return (Lingered::Done, came),
            Ok(_) => came = true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (Lingered::Blocked, came),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return (Lingered::Done, came),
        }
    }
    (Lingered::More, came)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out its chunks, then WouldBlock, or EOF when `then_eof`.
    struct Script(Vec<&'static [u8]>, bool);
    impl Read for Script {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.0.pop() {
                Some(chunk) => {
                    buf[..chunk.len()].copy_from_slice(chunk);
                    Ok(chunk.len())
                }
                None if self.1 => Ok(0),
                None => Err(io::ErrorKind::WouldBlock.into()),
            }
        }
    }

    #[test]
    fn lingering_reads_to_the_end_within_its_budget() {
        let mut scratch = [0u8; 8];
        assert_eq!(linger(&mut Script(vec![b"ab", b"cd"], true), &mut scratch, 8), (Lingered::Done, true));
        assert_eq!(linger(&mut Script(vec![b"ab"], false), &mut scratch, 8), (Lingered::Blocked, true));
        assert_eq!(linger(&mut Script(vec![], false), &mut scratch, 8), (Lingered::Blocked, false));
        assert_eq!(
            linger(&mut Script(vec![b"a", b"b", b"c"], true), &mut scratch, 2),
            (Lingered::More, true)
        );
    }
}
