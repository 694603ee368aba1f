//! What a connection waits for once its handler handed the answer to
//! another thread: the data the worker keeps (`later.rs` holds what it
//! does with it).

use crate::http::reply::{Exchanged, StreamKind};
use crate::http::request::{Request, Version};
use crate::http::write::{ContentRule, ResponseMeta};

/// What a request asked of its response that an answer given later must
/// still honour (its head is gone by then).
#[derive(Clone, Copy, Debug)]
pub struct Asked {
    /// The client would keep the connection (HTTP/1.1, or 1.0 asking).
    pub keep_alive: bool,
    /// It asked for keep-alive explicitly (HTTP/1.0): the answer confirms.
    pub explicit: bool,
    /// What the method makes of the response's content (`HEAD`: none).
    pub content: ContentRule,
    /// HTTP/1.0: no chunked bodies.
    pub http10: bool,
}

impl Asked {
    /// What `req` (whose head said `keep_alive`, `explicit`) asked.
    pub fn of(req: &Request<'_>, keep_alive: bool, explicit: bool) -> Self {
        let content = ContentRule::for_method(req.method);
        Asked {
            // What follows a CONNECT is a tunnel's bytes (this server opens
            // none), not another request: the connection ends with the answer.
            keep_alive: keep_alive && content != ContentRule::NoTunnel,
            explicit,
            content,
            http10: req.version == Version::Http10,
        }
    }

    /// How a response that `keep_alive`s (or not) is written.
    pub fn meta(self, keep_alive: bool, keep_alive_secs: u64) -> ResponseMeta {
        ResponseMeta {
            keep_alive,
            confirm_keep_alive: keep_alive && self.explicit,
            keep_alive_secs,
            content: self.content,
        }
    }
}

/// A connection waiting for a response another thread completes.
pub struct Awaiting {
    pub exchange: Exchanged,
    /// The exchange's id: an announcement naming another is stale.
    pub id: u64,
    pub asked: Asked,
}

/// How a streamed body's bytes go on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// As chunks (HTTP/1.1).
    Chunked,
    /// As they are; the connection closes after them (HTTP/1.0).
    UntilClose,
    /// Not at all: `HEAD`, 204, 205, 304, a 2xx to `CONNECT`.
    Discard,
}

/// A connection sending a streamed body.
pub struct Streaming {
    pub exchange: Exchanged,
    pub id: u64,
    pub kind: StreamKind,
    pub framing: Framing,
    /// The connection stays open once the body has ended.
    pub keep_alive: bool,
}

/// A connection's wait for another thread, once its handler returned.
pub enum Waiting {
    /// For the response a [`Responder`](crate::Responder) completes.
    Reply(Awaiting),
    /// For the streamed body a [`Stream`](crate::Stream) writes.
    Body(Streaming),
}
