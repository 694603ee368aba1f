//! The in-memory socket a test client's connection is served over.

use std::cell::Cell;
use std::io::{self, IoSlice, Read, Write};
use std::os::unix::fs::FileExt;

use crate::rt::input::Receive;
use crate::rt::socket::{Sink, Transport};

/// The in-memory stream a [`TestClient`]'s connection is served over.
#[derive(Debug)]
pub struct Pipe {
    /// What the client sent; the server has read up to `read`.
    pub inbound: Vec<u8>,
    pub read: usize,
    /// The client closed its sending side.
    pub fin: bool,
    /// The most one server read takes.
    pub read_max: usize,
    /// What the server wrote.
    pub outbound: Vec<u8>,
    /// The most one server write puts out (a partial write beyond); when
    /// limited, every write that put something out is followed by one
    /// that would block, as on a full socket.
    pub write_max: usize,
    /// The last write would have blocked: the server waits for the socket
    /// to become writable, which the client's next turn makes it.
    pub blocked: bool,
    /// The server closed its sending side (it is closing, lingering
    /// for the client's end).
    pub shut: Cell<bool>,
}

impl Pipe {
    /// Empty both ways, reads and writes unlimited.
    pub fn new() -> Self {
        Pipe {
            inbound: Vec::new(),
            read: 0,
            fin: false,
            read_max: usize::MAX,
            outbound: Vec::new(),
            write_max: usize::MAX,
            blocked: false,
            shut: Cell::new(false),
        }
    }

    /// Bytes the client sent that the server has not read.
    pub fn unread(&self) -> usize {
        self.inbound.len() - self.read
    }

    /// Whether the connection must be driven again though no other event
    /// says so: a socket's reader learns of bytes still waiting from a new
    /// readiness edge, and a read cut short here raises none, so it goes on
    /// while its reads make progress (`unread_before`: what was unread
    /// before the pass); and a socket that would have blocked becomes
    /// writable.
    pub fn goes_on(&self, unread_before: usize) -> bool {
        let unread = self.unread();
        (unread > 0 && unread < unread_before) || self.blocked
    }
}

impl Read for Pipe {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = &self.inbound[self.read..];
        if left.is_empty() {
            return if self.fin { Ok(0) } else { Err(io::ErrorKind::WouldBlock.into()) };
        }
        let n = left.len().min(buf.len()).min(self.read_max);
        buf[..n].copy_from_slice(&left[..n]);
        self.read += n;
        if self.read == self.inbound.len() {
            self.inbound.clear();
            self.read = 0;
        }
        Ok(n)
    }
}

impl Write for Pipe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_vectored(&[IoSlice::new(buf)])
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        if self.shut.get() {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        if self.write_max != usize::MAX {
            self.blocked = !self.blocked;
            if self.blocked {
                return Err(io::ErrorKind::WouldBlock.into());
            }
        }
        let mut room = self.write_max;
        let mut n = 0;
        for buf in bufs {
            let take = buf.len().min(room);
            self.outbound.extend_from_slice(&buf[..take]);
            (n, room) = (n + take, room - take);
            if room == 0 {
                break;
            }
        }
        if n == 0 && bufs.iter().any(|b| !b.is_empty()) {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Receive for Pipe {
    fn receive(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.read(buf)
    }
}

impl Sink for Pipe {
    fn send_file(&mut self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize> {
        let mut chunk = vec![0u8; count.min(self.write_max)];
        let n = file.read_at(&mut chunk, offset)?;
        self.write(&chunk[..n])
    }
}

impl Transport for Pipe {
    fn set_nodelay(&self, _: bool) -> io::Result<()> {
        Ok(())
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shut.set(true);
        Ok(())
    }

    fn peer_gone(&self) -> bool {
        self.fin && self.read == self.inbound.len()
    }
}
