//! `WebSocket`: a handle that sends to one connection from any thread, and
//! the outbox of the WebSocket thread that owns it.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use mio::Waker;

use super::frame::{self, Opcode, MAX_CONTROL_PAYLOAD, MAX_HEADER};
use super::pool::FramePool;
use super::CloseCode;
use crate::http::response::Ticket;
use crate::rt::mailbox::Mailbox;

/// Why a frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SendError {
    /// The connection is closed or closing, or the server is stopping.
    Closed,
    /// The payload is longer than the connection may buffer (twice
    /// [`Config::max_message_size`](crate::Config::max_message_size), or
    /// 128 KiB if that is more), or a ping or close payload is longer than
    /// 125 bytes.
    TooLarge,
    /// The close code is not one a close frame may carry (1000–1003,
    /// 1007–1014, 3000–4999).
    InvalidCode,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SendError::Closed => "the WebSocket connection is closed",
            SendError::TooLarge => "the WebSocket payload is too large",
            SendError::InvalidCode => "the close code may not be sent",
        })
    }
}

impl std::error::Error for SendError {}

/// The bit of a slot's generation that says its connection is closing:
/// a close frame has been queued, by a handle or by the thread, and no
/// message may follow it (RFC 6455 §5.5.1).
const CLOSING: u32 = 1;

/// A frame queued for a connection by some thread.
pub struct Cmd {
    pub key: u32,
    pub generation: u32,
    /// The whole frame, header included.
    pub frame: Vec<u8>,
}

/// The queue through which any thread sends frames to a WebSocket thread's
/// connections; the thread applies them between its polls.
pub struct Outbox {
    mailbox: Mailbox<Cmd>,
    /// Frame buffers to reuse, so steady traffic allocates nothing.
    spare: Mutex<FramePool>,
    /// Each connection slot's generation, even while its connection takes
    /// frames, with [`CLOSING`] set once a close frame is on its way;
    /// moved to the next even number when the connection ends, so a handle
    /// to an earlier connection in the slot sends nothing.
    generations: Box<[AtomicU32]>,
    stopped: AtomicBool,
    /// Largest payload one frame may carry.
    max_payload: usize,
}

impl Outbox {
    /// An outbox for `capacity` connection slots, waking `waker`.
    pub fn new(capacity: usize, max_payload: usize, waker: Arc<Waker>) -> Self {
        Outbox {
            mailbox: Mailbox::growing(1024, waker),
            spare: Mutex::new(FramePool::default()),
            generations: (0..capacity).map(|_| AtomicU32::new(0)).collect(),
            stopped: AtomicBool::new(false),
            max_payload,
        }
    }

    fn spare(&self) -> MutexGuard<'_, FramePool> {
        // Taking or giving a buffer cannot be left half-done by a panic.
        self.spare.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets go of half of the frame buffers kept that no send needed
    /// lately; the bytes let go of.
    pub fn trim_spares(&self) -> usize {
        self.spare().trim()
    }

    /// Bytes of the frame buffers kept for reuse.
    pub fn spare_bytes(&self) -> usize {
        self.spare().free_bytes()
    }

    /// Marks the calling thread as this outbox's WebSocket thread: its own
    /// hooks' sends need no wake-up, since it drains its outbox before it
    /// polls again.
    pub fn claim_current_thread(&self) {
        self.mailbox.claim_current_thread();
    }

    /// The generation of the connection now in slot `key`, closing or not.
    pub fn generation(&self, key: usize) -> u32 {
        self.generations[key].load(Ordering::Acquire) & !CLOSING
    }

    /// Whether the connection of `generation` in slot `key` still takes frames.
    fn takes_frames(&self, key: usize, generation: u32) -> bool {
        !self.stopped.load(Ordering::Acquire) && self.generations[key].load(Ordering::Acquire) == generation
    }

    /// The connection now in slot `key` sent or is sending a close frame:
    /// sends to it are refused from now on (called by its thread).
    pub fn closing(&self, key: usize) {
        self.generations[key].fetch_or(CLOSING, Ordering::AcqRel);
    }

    /// The connection in slot `key` ended: handles to it go stale.
    pub fn retire(&self, key: usize) {
        let next = |g: u32| Some((g | CLOSING).wrapping_add(1));
        let _ = self.generations[key].fetch_update(Ordering::AcqRel, Ordering::Acquire, next);
    }

    /// Refuses every later send (the thread is stopping).
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
    }

    /// An empty buffer with room for a `len`-byte frame.
    pub fn take_buf(&self, len: usize) -> Vec<u8> {
        self.spare().take(len)
    }

    /// Whether frames are waiting.
    pub fn has_pending(&self) -> bool {
        self.mailbox.has_pending()
    }

    /// Moves the queued frames into `into` (empty, so the swap keeps both
    /// vectors' capacity and allocates nothing).
    pub fn take_all(&self, into: &mut Vec<Cmd>) {
        self.mailbox.take_all(into);
    }

    /// Keeps frame buffers for reuse.
    pub fn recycle(&self, bufs: &mut Vec<Vec<u8>>) {
        if bufs.is_empty() {
            return;
        }
        let mut spare = self.spare();
        for buf in bufs.drain(..) {
            spare.give(buf);
        }
    }

    fn push(&self, key: u32, generation: u32, opcode: Opcode, parts: [&[u8]; 2]) -> Result<(), SendError> {
        let len = parts[0].len() + parts[1].len();
        if len > self.max_payload {
            return Err(SendError::TooLarge);
        }
        if !self.takes_frames(key as usize, generation) {
            return Err(SendError::Closed);
        }
        // A close is the last frame: whoever marks the connection closing
        // first sends it, and every later send is refused. (A send that
        // passed the check above just before may still be queued behind
        // it; the thread drops it.)
        let generations = &self.generations[key as usize];
        if opcode == Opcode::Close
            && generations
                .compare_exchange(generation, generation | CLOSING, Ordering::AcqRel, Ordering::Acquire)
                .is_err()
        {
            return Err(SendError::Closed);
        }
        let mut head = [0; MAX_HEADER];
        let head_len = frame::encode_head(opcode, len, &mut head);
        let mut frame = self.take_buf(head_len + len);
        frame.extend_from_slice(&head[..head_len]);
        frame.extend_from_slice(parts[0]);
        frame.extend_from_slice(parts[1]);
        // A growing mailbox takes every frame.
        let _ = self.mailbox.push(Cmd { key, generation, frame });
        Ok(())
    }
}

/// One WebSocket connection, as its hooks see it; clone it to send to the
/// connection from anywhere (e.g. to broadcast from another connection's
/// hook, or from a timer thread).
///
/// Sends queue a frame for the connection's WebSocket thread, which writes
/// it out between its polls; they never block and, in steady state, never
/// allocate (frame buffers are reused). A send to a connection that has
/// ended returns [`SendError::Closed`] (or, if it ends before the thread
/// writes the frame, is dropped).
#[derive(Clone)]
pub struct WebSocket {
    outbox: Arc<Outbox>,
    key: u32,
    generation: u32,
    id: u64,
    tag: u64,
    peer: SocketAddr,
}

impl fmt::Debug for WebSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebSocket").field("id", &self.id).field("peer", &self.peer).finish()
    }
}

impl WebSocket {
    pub(crate) fn new(outbox: Arc<Outbox>, key: usize, ticket: Ticket, peer: SocketAddr) -> Self {
        let generation = outbox.generation(key);
        WebSocket { outbox, key: key as u32, generation, id: ticket.id, tag: ticket.tag, peer }
    }

    pub(crate) fn key(&self) -> usize {
        self.key as usize
    }

    /// The id [`upgrade`](super::upgrade) returned for this connection.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The tag given to [`upgrade_tagged`](super::upgrade_tagged) (0 after
    /// [`upgrade`](super::upgrade)): which endpoint or room the connection
    /// is for, without a lookup.
    pub fn tag(&self) -> u64 {
        self.tag
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    /// Whether the connection still takes sends: false from the moment
    /// either side starts the closing handshake ([`close`](Self::close),
    /// the client's close frame, or the server failing or stopping the
    /// connection), as no message may follow a close frame.
    pub fn is_open(&self) -> bool {
        self.outbox.takes_frames(self.key as usize, self.generation)
    }

    /// Sends a text message (one frame).
    pub fn send_text(&self, text: &str) -> Result<(), SendError> {
        self.push(Opcode::Text, [text.as_bytes(), &[]])
    }

    /// Sends a binary message (one frame).
    pub fn send_binary(&self, bytes: &[u8]) -> Result<(), SendError> {
        self.push(Opcode::Binary, [bytes, &[]])
    }

    /// Sends a ping; the client's pong is not reported. At most 125 bytes.
    pub fn ping(&self, payload: &[u8]) -> Result<(), SendError> {
        if payload.len() > MAX_CONTROL_PAYLOAD {
            return Err(SendError::TooLarge);
        }
        self.push(Opcode::Ping, [payload, &[]])
    }

    /// Starts the closing handshake with `code` and a `reason` of at most
    /// 123 bytes. Later sends, from any handle, return
    /// [`SendError::Closed`]; so does this one if the connection is
    /// already closing. Messages that arrive afterwards are dropped; the
    /// connection closes when the client answers, or after
    /// [`Config::linger_timeout`](crate::Config::linger_timeout)'s wait.
    pub fn close(&self, code: CloseCode, reason: &str) -> Result<(), SendError> {
        if !code.may_be_sent() {
            return Err(SendError::InvalidCode);
        }
        if reason.len() > MAX_CONTROL_PAYLOAD - 2 {
            return Err(SendError::TooLarge);
        }
        self.push(Opcode::Close, [&code.0.to_be_bytes(), reason.as_bytes()])
    }

    fn push(&self, opcode: Opcode, parts: [&[u8]; 2]) -> Result<(), SendError> {
        self.outbox.push(self.key, self.generation, opcode, parts)
    }
}
