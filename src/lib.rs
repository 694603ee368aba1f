//! # peregrine
//!
//! An HTTP/1.1 server library that runs straight on epoll (Linux) or kqueue
//! (BSD, macOS) through [`mio`](https://docs.rs/mio), with no async
//! runtime, and allocates nothing per request.
//!
//! You implement one trait, [`Handler`], and give it to a [`Server`]:
//!
//! ```no_run
//! use peregrine::{Config, Handler, Request, Response, Server};
//!
//! struct Hello;
//!
//! impl Handler for Hello {
//!     fn handle(&self, _req: &Request<'_>, res: &mut Response<'_>) {
//!         res.header("Content-Type", "text/plain").body_static(b"Hello, World!");
//!     }
//! }
//!
//! fn main() -> Result<(), peregrine::Error> {
//!     let server = Server::bind(Config::new().port(8080), Hello)?;
//!     println!("listening on http://{}", server.local_addr());
//!     server.run()
//! }
//! ```
//!
//! ## Threads
//!
//! ```text
//! main thread ──── Server::run: spawns the threads, sleeps until shutdown, joins them
//! accept thread(s) ── accept4 → inbox of the next worker with room + mio::Waker
//!                    (none by default on Linux: each worker accepts on its own
//!                    SO_REUSEPORT listener, passing on what it has no room for)
//! worker threads ─── one poll each; own their connections for life:
//!                    read → parse → Handler::handle → writev
//! WebSocket threads ─ only for a handler with `WEBSOCKETS`: one poll each;
//!                    take over upgraded sockets: frames → ws_* hooks
//! ```
//!
//! Workers and WebSocket threads run the same event loop (one poll, a
//! connection slab, timers, a waker-backed inbox), each with its own kind
//! of connection. No connection is shared between threads. The handler is shared (it is
//! `Send + Sync`) and called on whichever worker owns the connection;
//! `Server<H>` is generic over it, so the call is monomorphised into the
//! worker loop.
//!
//! ## Memory
//!
//! Each worker allocates its connection slab, timer links and scratch space
//! when it starts, and takes page-aligned read and write buffers from its
//! own pool as connections need them. A connection holds a buffer only
//! while it has a partial request or an unsent response, so an idle
//! keep-alive connection costs a slab entry. Bodies too large for the read
//! buffer, or chunked, go to pooled body buffers in doubling size classes
//! up to [`Config::max_body_size`]. Headers parse into a fixed
//! array on the worker's stack; the query string is parsed only when asked
//! for, without allocating. Serving a request allocates nothing (a test
//! with a counting global allocator checks this) unless the handler
//! allocates, or a copied body is larger than
//! [`Config::write_buffer_size`].
//!
//! ## What a handler may keep
//!
//! [`Request`] borrows the connection's read buffer and [`Response`] the
//! worker's scratch space: both are valid only during
//! [`Handler::handle`]. Copy out what must outlive the call. A body set
//! with [`Response::body_static`] is sent from where it is, without a copy.
//!
//! ## HTTP behaviour
//!
//! Keep-alive is the default on HTTP/1.1; HTTP/1.0 keeps the connection
//! only when asked (`Connection: keep-alive`, which the response confirms).
//! `Connection: close` is honoured both ways. Pipelined requests are
//! answered in order, their responses batched into one `writev`. A
//! response that does not fit the socket is resumed when the socket is
//! writable, and no further request is read meanwhile. Request bodies,
//! Content-Length or chunked, reach the handler as one slice, up to
//! [`Config::max_body_size`]; `Expect: 100-continue` is answered before the
//! body is read. Requests that cannot be accepted are answered with the
//! status RFC 9110 names (400, 408, 413, 414, 417, 431, 501, 505) and the
//! connection is closed.
//!
//! ## Responses that take time
//!
//! A handler that must wait for something does not hold its worker:
//! [`Response::defer`] gives a [`Responder`] that any thread completes,
//! once; [`Response::stream`] sends the head now and gives a [`Stream`]
//! for a body of unknown length (chunked, or close-delimited for
//! HTTP/1.0); [`sse`] sends server-sent events over one. The worker is
//! woken through its mailbox when there is something to send, keeps each
//! connection's responses in request order, answers `500` for a dropped
//! `Responder` and `503` after [`Config::response_timeout`], and tells the
//! other side when nobody waits any more (cancellation: the client left,
//! a timeout, the end of shutdown's grace period). The ordinary path does
//! not change: no allocation, no atomic operation.
//!
//! ## WebSockets
//!
//! [`ws::upgrade`] in [`Handler::handle`] answers a valid handshake with
//! `101`; the connection then moves to a WebSocket thread, which calls
//! [`Handler::ws_open`], [`Handler::ws_message`] and [`Handler::ws_close`].
//! A [`ws::WebSocket`] handle sends text, binary, ping and close from any
//! thread. The [`ws`] module has the details and an example.
//!
//! ## Shutdown
//!
//! SIGINT or SIGTERM (unless [`Config::handle_signals`] is off) or
//! [`ShutdownHandle::shutdown`] stop the accept threads (the port closes),
//! close idle connections and let in-flight requests finish, for at most
//! [`Config::shutdown_grace`]; then [`Server::run`] joins every thread and
//! returns `Ok(())`. WebSocket clients get a close frame with `1001`. A
//! second signal exits the process at once.
#![deny(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod access_log;
mod config;
mod error;
mod fs;
mod fuzzing;
mod handler;
mod http;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod interop;
mod logging;
pub mod metrics;
/// `multipart/form-data` bodies, parsed as they arrive (see [`Multipart`](multipart::Multipart)).
pub mod multipart {
    pub use crate::http::multipart::{Event, Limits, Multipart, Part};
}
mod net;
mod router;
mod rt;
mod server;
mod shutdown;
mod swar;
mod sys;
#[cfg(feature = "testing")]
#[cfg_attr(docsrs, doc(cfg(feature = "testing")))]
pub mod testing;
mod worker;
pub mod ws;
mod ws_thread;

/// Server-sent events over a streamed response.
pub mod sse {
    pub use crate::http::sse::{last_event_id, Event, EventStream};
}

pub use access_log::{AccessLog, LogFormat};
pub use config::{Config, MAX_HEADERS_LIMIT};
pub use error::Error;
pub use fs::body_file::BodyFile;
pub use fs::dir_server::DirServer;
pub use handler::Handler;
pub use http::body_channel::{body_channel, BodyReader};
pub use http::field::Field;
pub use http::intake::{BodySink, BodyWaker, Intake};
pub use http::problem::{Problem, PROBLEM_CONTENT_TYPE};
pub use http::query::{BufferTooSmall, Decoded, DecodedBytes, Query, QueryIter};
pub use http::reply::{Body, FileBody};
pub use http::request::{Headers, Method, Request, Version};
pub use http::responder::Responder;
pub use http::response::Response;
pub use http::status::StatusCode;
pub use http::stream::{Stream, StreamError};
pub use metrics::Metrics;
pub use net::activation;
pub use router::{NoWebSockets, Params, Route, Router, WsHooks};
pub use server::Server;
pub use shutdown::ShutdownHandle;

/// Parsing helpers for tests and doc examples; not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::fuzzing::*;
    pub use crate::http::head::{header_slots, HeaderSlots};
    /// The WebSocket frame codec, for benches.
    pub use crate::ws::frame::{encode_head, parse_head, unmask, FrameHead, Opcode, Utf8Stream, MAX_HEADER};

    /// Parses a complete request head (and a Content-Length body) from
    /// `raw` into a [`Request`](crate::Request).
    ///
    /// # Panics
    /// If `raw` is not a complete, valid request.
    pub fn parse_request<'b>(raw: &'b [u8], slots: &'b mut HeaderSlots<'b>) -> crate::Request<'b> {
        crate::fuzzing::request(raw, slots).expect("a whole, valid request")
    }
}

/// The README's examples, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

/// Binds `$req` to a [`Request`] parsed from the string `$raw` (doc examples).
#[doc(hidden)]
#[macro_export]
macro_rules! doc_request {
    ($req:ident, $raw:expr) => {
        let mut __slots = $crate::__private::header_slots();
        let $req = $crate::__private::parse_request($raw.as_bytes(), &mut __slots);
    };
}
