//! A request body read on another thread, with back-pressure: the worker
//! side is a [`BodySink`] that pauses the body while the reader is
//! behind; the reader is a blocking [`Read`] that gets the request's
//! [`Responder`] once the body has ended.

use std::fmt;
use std::io::{self, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::intake::{BodySink, BodyWaker, Intake};
use super::request::Request;
use super::responder::Responder;
use super::response::Response;
use super::status::StatusCode;

/// A body to be read on another thread: the worker's end, to stream into
/// ([`Intake::Stream`]), and the reader's, a [`BodyReader`]. The worker
/// stops reading the connection while `capacity` bytes wait unread, and
/// goes on once the reader has taken some; so memory per upload is about
/// `capacity` plus one read buffer, whatever the body's size, and a slow
/// reader slows the client, not the worker's other connections.
///
/// ```no_run
/// use std::io::Read;
/// use peregrine::{body_channel, Handler, Intake, Request, Response};
///
/// struct Uploads;
///
/// impl Handler for Uploads {
///     fn intake(&self, req: &Request<'_>) -> Intake {
///         let (intake, mut reader) = body_channel(64 << 10);
///         std::thread::spawn(move || {
///             // Blocking work at its own pace: say, a copy to storage.
///             let mut n = 0u64;
///             let mut buf = [0u8; 16384];
///             loop {
///                 match reader.read(&mut buf) {
///                     Ok(0) => break,
///                     Ok(k) => n += k as u64,
///                     Err(_) => return, // the client went away: nobody to answer
///                 }
///             }
///             if let Some(responder) = reader.responder() {
///                 responder.send(format!("{n} bytes\n"));
///             }
///         });
///         intake
///     }
///     fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
///         res.body(req.body());
///     }
/// }
/// ```
pub fn body_channel(capacity: usize) -> (Intake, BodyReader) {
    let shared = Arc::new(Shared {
        pipe: Mutex::new(Pipe {
            bytes: Vec::new(),
            taken: 0,
            capacity: capacity.max(1),
            end: End::Open,
            waker: None,
            responder: None,
        }),
        changed: Condvar::new(),
    });
    let sink = ChannelSink { shared: Arc::clone(&shared) };
    (Intake::stream(sink), BodyReader { shared })
}

/// What both ends share.
struct Shared {
    pipe: Mutex<Pipe>,
    /// Signalled when bytes arrive and when the body ends.
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Pipe> {
        self.pipe.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// How far the body has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// More may come.
    Open,
    /// It ended; the responder is there.
    Ended,
    /// It never will: the client went, the body was malformed or too slow,
    /// or the server stopped.
    Abandoned,
    /// The reader stopped reading (dropped, or refused it): the body is
    /// refused with this status.
    Refused(StatusCode),
}

struct Pipe {
    /// Bytes arrived; those from `taken` on are not read yet.
    bytes: Vec<u8>,
    taken: usize,
    capacity: usize,
    end: End,
    /// The worker's waker, while it waits for room.
    waker: Option<BodyWaker>,
    responder: Option<Responder>,
}

impl Pipe {
    fn unread(&self) -> usize {
        self.bytes.len() - self.taken
    }
}

/// The worker's end of a [`body_channel`].
struct ChannelSink {
    shared: Arc<Shared>,
}

impl BodySink for ChannelSink {
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        let mut pipe = self.shared.lock();
        if let End::Refused(status) = pipe.end {
            return Err(status);
        }
        // Read bytes are dropped before the pipe grows past its capacity.
        if pipe.taken > 0 && pipe.bytes.len() + piece.len() > pipe.capacity {
            let taken = std::mem::take(&mut pipe.taken);
            pipe.bytes.drain(..taken);
        }
        pipe.bytes.extend_from_slice(piece);
        drop(pipe);
        self.shared.changed.notify_all();
        Ok(())
    }

    fn poll_ready(&mut self, waker: &BodyWaker) -> bool {
        let mut pipe = self.shared.lock();
        if pipe.unread() < pipe.capacity || pipe.end != End::Open {
            return true;
        }
        pipe.waker = Some(waker.clone());
        false
    }

    fn end(self: Box<Self>, _req: &Request<'_>, res: &mut Response<'_>) {
        let mut pipe = self.shared.lock();
        if let End::Refused(status) = pipe.end {
            res.status(status);
            return;
        }
        pipe.responder = Some(res.defer());
        pipe.end = End::Ended;
        drop(pipe);
        self.shared.changed.notify_all();
    }
}

impl Drop for ChannelSink {
    /// Dropped with the body still open (not after `end`): abandoned.
    fn drop(&mut self) {
        let mut pipe = self.shared.lock();
        if pipe.end == End::Open {
            pipe.end = End::Abandoned;
            drop(pipe);
            self.shared.changed.notify_all();
        }
    }
}

/// The reading end of a [`body_channel`], for another thread: `read`
/// blocks until body bytes are there, returns `Ok(0)` once the whole body
/// was read, and fails with [`io::ErrorKind::ConnectionAborted`] if the
/// body was abandoned (the client went away, a malformed or stalled body,
/// the server stopped): then there is nobody to answer.
///
/// Dropped before the end, it refuses the body (`500`); [`refuse`](BodyReader::refuse)
/// chooses the status.
pub struct BodyReader {
    shared: Arc<Shared>,
}

impl BodyReader {
    /// The request's [`Responder`], once the whole body was read (`read`
    /// returned `Ok(0)`), to answer it; `None` before that, if the body was
    /// abandoned, or once taken.
    pub fn responder(&mut self) -> Option<Responder> {
        let mut pipe = self.shared.lock();
        if pipe.unread() > 0 {
            return None;
        }
        pipe.responder.take()
    }

    /// Refuses the rest of the body with `status` (4xx or 5xx): the
    /// client gets it and the connection closes, as when a sink refuses a
    /// piece ([`BodySink::data`]). If the body has already ended, the
    /// request is answered `status` instead.
    pub fn refuse(self, status: StatusCode) {
        let status = if status.as_u16() >= 400 { status } else { StatusCode::INTERNAL_SERVER_ERROR };
        self.stop(status);
    }

    fn stop(&self, status: StatusCode) {
        let mut pipe = self.shared.lock();
        match pipe.end {
            End::Open => {
                pipe.end = End::Refused(status);
                if let Some(waker) = pipe.waker.take() {
                    waker.wake();
                }
            }
            End::Ended => {
                if let Some(mut responder) = pipe.responder.take() {
                    responder.status(status);
                    drop(pipe);
                    responder.send(());
                }
            }
            End::Abandoned | End::Refused(_) => {}
        }
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut pipe = self.shared.lock();
        loop {
            let unread = pipe.unread();
            if unread > 0 {
                let n = unread.min(buf.len());
                let at = pipe.taken;
                buf[..n].copy_from_slice(&pipe.bytes[at..at + n]);
                pipe.taken += n;
                // Room again (half the capacity, so that a reader taking
                // little at a time does not wake the worker each time):
                // the worker reads on.
                if pipe.unread() <= pipe.capacity / 2 {
                    if let Some(waker) = pipe.waker.take() {
                        waker.wake();
                    }
                }
                return Ok(n);
            }
            match pipe.end {
                End::Open => pipe = self.shared.changed.wait(pipe).unwrap_or_else(|e| e.into_inner()),
                End::Ended => return Ok(0),
                End::Abandoned | End::Refused(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::ConnectionAborted,
                        "the request body was abandoned",
                    ))
                }
            }
        }
    }
}

impl Drop for BodyReader {
    fn drop(&mut self) {
        let open = self.shared.lock().end == End::Open;
        if open {
            self.stop(StatusCode::INTERNAL_SERVER_ERROR);
        }
    }
}

impl fmt::Debug for BodyReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pipe = self.shared.lock();
        f.debug_struct("BodyReader").field("unread", &pipe.unread()).field("end", &pipe.end).finish()
    }
}
