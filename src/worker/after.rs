//! What a connection does once a response is queued.

use crate::http::response::Ticket;

/// What the connection does once a response is queued.
pub enum After {
    /// Serve the next request.
    KeepAlive,
    /// Close once the response is sent.
    Close,
    /// Go to WebSocket thread `thread` once the `101` is sent.
    Upgrade { ticket: Ticket, thread: usize },
    /// Wait for another thread: for the response it completes, or for the
    /// streamed body it writes (`Ctx::waiting` says which). Plain, so
    /// that every request's answer stays small to pass around.
    Later,
}
