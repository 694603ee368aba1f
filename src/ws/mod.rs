//! WebSockets (RFC 6455): the upgrade a handler performs, and the types its
//! WebSocket hooks see.
//!
//! A handler that sets [`Handler::WEBSOCKETS`](crate::Handler::WEBSOCKETS)
//! gets WebSocket threads (see [`Config::websocket_threads`]). Its
//! [`handle`](crate::Handler::handle) calls [`upgrade`]; once the `101`
//! response is sent, the connection leaves its HTTP worker for a WebSocket
//! thread, which reads frames and calls
//! [`ws_open`](crate::Handler::ws_open),
//! [`ws_message`](crate::Handler::ws_message) and
//! [`ws_close`](crate::Handler::ws_close). A [`WebSocket`] handle sends to
//! its connection from any thread.
//!
//! ```no_run
//! use peregrine::ws::{self, Message, WebSocket};
//! use peregrine::{Config, Handler, Request, Response, Server};
//!
//! struct Echo;
//!
//! impl Handler for Echo {
//!     const WEBSOCKETS: bool = true;
//!
//!     fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
//!         if req.path() == "/ws" {
//!             // On a bad handshake, `res` already holds the 400 or 426.
//!             let _ = ws::upgrade(req, res);
//!         } else {
//!             res.status(peregrine::StatusCode::NOT_FOUND);
//!         }
//!     }
//!
//!     fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
//!         let _ = match msg {
//!             Message::Text(text) => ws.send_text(text),
//!             Message::Binary(bytes) => ws.send_binary(bytes),
//!         };
//!     }
//! }
//!
//! fn main() -> Result<(), peregrine::Error> {
//!     Server::bind(Config::new().port(8080), Echo)?.run()
//! }
//! ```
//!
//! Protocol rules are enforced before the hooks see anything: client frames
//! must be masked (else close `1002`), RSV bits and unknown opcodes are
//! `1002` (no extension is negotiated), control frames must be whole and at
//! most 125 bytes (`1002`), text must be UTF-8 (`1007`, checked as its bytes
//! arrive, within a frame too), a message over [`Config::max_message_size`] is `1009`. Pings
//! are answered with pongs (also between fragments), a close is echoed and
//! then the TCP connection closed. Back-pressure: while a connection's
//! unsent output exceeds the maximum message size (at least 64 KiB), its
//! frames are not read; reading resumes once the client has taken half. A
//! peer that stops reading is dropped when its unsent output exceeds twice
//! that, or when none of it could be written for [`Config::write_timeout`].
//!
//! [`Config::websocket_threads`]: crate::Config::websocket_threads
//! [`Config::max_message_size`]: crate::Config::max_message_size
//! [`Config::write_timeout`]: crate::Config::write_timeout

pub(crate) mod frame;
pub(crate) mod handle;
pub(crate) mod handshake;
pub(crate) mod pool;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::http::request::Request;
use crate::http::response::{Response, Ticket};
use crate::http::status::StatusCode;

pub use frame::Opcode;
pub use handle::{SendError, WebSocket};
pub use handshake::Rejection;

/// A complete message, reassembled from its fragments and unmasked.
///
/// It borrows the connection's buffer: copy out what must outlive
/// [`Handler::ws_message`](crate::Handler::ws_message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// A text message (valid UTF-8; checked before the hook sees it).
    Text(&'a str),
    /// A binary message.
    Binary(&'a [u8]),
}

/// A close status code (RFC 6455 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// `1000`: the purpose of the connection is fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// `1001`: the server is shutting down (or the page is going away).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// `1002`: the peer broke the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// `1003`: a kind of data the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// `1005`: the peer's close frame had no code (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// `1006`: the connection ended without a close frame (never sent).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// `1007`: a text message was not UTF-8.
    pub const INVALID_DATA: CloseCode = CloseCode(1007);
    /// `1008`: the message broke the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// `1009`: a message was larger than the endpoint accepts.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// `1011`: the server hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);

    /// Whether a close frame may carry this code (§7.4.1, §7.4.2): the
    /// defined codes that are not reserved for local use, with the three
    /// IANA registered since (1012 service restart, 1013 try again later,
    /// 1014 bad gateway, which clients send), and 3000–4999.
    pub fn may_be_sent(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Source of connection ids: unique for the life of the process.
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// Accepts `req` as a WebSocket opening handshake: sets `res` to the `101
/// Switching Protocols` answer and returns the connection's id (the one
/// [`WebSocket::id`] will report, so a handler can note per-connection
/// state before [`ws_open`](crate::Handler::ws_open)). Allocates nothing.
///
/// The handler may add headers after this, e.g. `Sec-WebSocket-Protocol`
/// for a subprotocol it chose from the request's list. Setting another
/// status cancels the upgrade.
///
/// A request that is not a valid handshake gets `res` set to `400`, or to
/// `426` with `Sec-WebSocket-Version: 13` for another protocol version, and
/// the reason comes back as the error.
///
/// The connection is handed over only if the handler's type sets
/// [`Handler::WEBSOCKETS`](crate::Handler::WEBSOCKETS) (otherwise the
/// server answers `500`); during shutdown, or when the WebSocket threads
/// hold [`Config::max_connections`](crate::Config::max_connections)
/// already, it answers `503`.
pub fn upgrade(req: &Request<'_>, res: &mut Response<'_>) -> Result<u64, Rejection> {
    upgrade_tagged(req, res, 0)
}

/// [`upgrade`], with a `tag` the connection's [`WebSocket::tag`] will
/// return: a handler serving several WebSocket endpoints (an echo and a
/// chat, say) tells their connections apart in its hooks without keeping a
/// table from ids, which a refused upgrade would leave stale.
///
/// ```
/// use peregrine::ws::{self, Message, WebSocket};
/// use peregrine::{Handler, Request, Response};
///
/// const ECHO: u64 = 1;
/// const SHOUT: u64 = 2;
///
/// struct Endpoints;
///
/// impl Handler for Endpoints {
///     const WEBSOCKETS: bool = true;
///
///     fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
///         let tag = if req.path() == "/shout" { SHOUT } else { ECHO };
///         let _ = ws::upgrade_tagged(req, res, tag);
///     }
///
///     fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
///         if let Message::Text(text) = msg {
///             let _ = match ws.tag() {
///                 SHOUT => ws.send_text(&text.to_uppercase()),
///                 _ => ws.send_text(text),
///             };
///         }
///     }
/// }
/// ```
pub fn upgrade_tagged(req: &Request<'_>, res: &mut Response<'_>, tag: u64) -> Result<u64, Rejection> {
    match handshake::accept(req) {
        Ok(key) => {
            let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
            res.status(StatusCode::SWITCHING_PROTOCOLS).header("Upgrade", "websocket");
            res.header("Sec-WebSocket-Accept", key).set_upgrade(Ticket { id, tag });
            Ok(id)
        }
        Err(rejection) => {
            res.status(rejection.status());
            if rejection == Rejection::UnsupportedVersion {
                // A 426 names the protocol to upgrade to (RFC 9110 §15.5.22).
                res.header("Upgrade", "websocket").header("Sec-WebSocket-Version", "13");
            }
            Err(rejection)
        }
    }
}
