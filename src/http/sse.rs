//! Server-sent events (`text/event-stream`, the HTML standard's
//! `EventSource`), a thin layer over a [`Stream`].
//!
//! ```
//! use std::time::Duration;
//! use peregrine::sse::{self, Event, EventStream};
//! use peregrine::{Request, Response};
//!
//! fn ticks(req: &Request<'_>, res: &mut Response<'_>) {
//!     // A reconnecting browser says where it got to.
//!     let first = sse::last_event_id(req).and_then(|id| id.parse::<u64>().ok()).map_or(1, |n| n + 1);
//!     let mut events = EventStream::start(res);
//!     std::thread::spawn(move || {
//!         for n in first.. {
//!             let id = n.to_string();
//!             let data = format!("tick {n}");
//!             if events.send(&Event::new(&data).id(&id)).is_err() {
//!                 return; // the browser went away
//!             }
//!             if events.wait_cancelled(Duration::from_secs(1)) {
//!                 return;
//!             }
//!         }
//!     });
//! }
//! # fn is_handler<H: peregrine::Handler>(_: &H) {}
//! # is_handler(&ticks);
//! ```
//!
//! While nothing else is sent, the worker sends a comment line every
//! [`Config::event_stream_keep_alive`](crate::Config::event_stream_keep_alive),
//! so proxies and browsers do not take a quiet stream for a dead one.

use std::time::Duration;

use super::field::Field;
use super::reply::StreamKind;
use super::request::Request;
use super::responder::Responder;
use super::response::Response;
use super::stream::{Stream, StreamError};

const EVENT_STREAM: Field = Field::new("Content-Type", "text/event-stream");
const NO_CACHE: Field = Field::new("Cache-Control", "no-cache");

/// The comment the worker sends to keep a quiet stream alive.
pub(crate) const KEEP_ALIVE: &[u8] = b": keep-alive\n\n";

/// The `Last-Event-ID` a reconnecting `EventSource` sends: the id of the
/// last event it received.
pub fn last_event_id<'r>(req: &Request<'r>) -> Option<&'r str> {
    req.header("Last-Event-ID").and_then(|v| std::str::from_utf8(v).ok())
}

/// One event. `data` may hold several lines (split at CR, LF or CRLF, as
/// the client joins them back with LF); line breaks in `id` and `event`,
/// which would start fields of their own, are sent as spaces, and NUL is
/// dropped from `id` (clients ignore an id holding one). An event with
/// empty `data` is sent as one empty `data` line, which clients dispatch
/// as an event whose data is the empty string (only an event with no
/// `data` line at all is not dispatched).
#[derive(Clone, Copy, Debug, Default)]
pub struct Event<'a> {
    data: &'a str,
    id: Option<&'a str>,
    event: Option<&'a str>,
    retry: Option<Duration>,
}

impl<'a> Event<'a> {
    /// An event of the default type (`message`) carrying `data`.
    pub fn new(data: &'a str) -> Self {
        Event { data, ..Event::default() }
    }

    /// Its id, which the client sends back as `Last-Event-ID` when it
    /// reconnects.
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Its type (`addEventListener(type, …)` on the client).
    pub fn event(mut self, event: &'a str) -> Self {
        self.event = Some(event);
        self
    }

    /// Tells the client how long to wait before reconnecting.
    pub fn retry(mut self, after: Duration) -> Self {
        self.retry = Some(after);
        self
    }

    /// Appends the event in the wire format to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        if let Some(event) = self.event {
            field(out, b"event", event);
        }
        if let Some(id) = self.id {
            // A NUL makes clients ignore the id: dropped, as line breaks are.
            field(out, b"id", &id.replace('\0', ""));
        }
        if let Some(retry) = self.retry {
            out.extend_from_slice(format!("retry: {}\n", retry.as_millis()).as_bytes());
        }
        let mut rest = self.data;
        loop {
            let end = rest.find(['\r', '\n']).unwrap_or(rest.len());
            out.extend_from_slice(b"data: ");
            out.extend_from_slice(&rest.as_bytes()[..end]);
            out.push(b'\n');
            if end == rest.len() {
                break;
            }
            let skip = if rest[end..].starts_with("\r\n") { 2 } else { 1 };
            rest = &rest[end + skip..];
        }
        out.push(b'\n');
    }
}

/// `name: value\n`, with line breaks in `value` sent as spaces.
fn field(out: &mut Vec<u8>, name: &[u8], value: &str) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend(value.bytes().map(|b| if matches!(b, b'\r' | b'\n') { b' ' } else { b }));
    out.push(b'\n');
}

/// A stream of server-sent events, written from any thread.
///
/// Each event is queued whole (the worker's keep-alive comments go
/// between events, never inside one); back-pressure and cancellation are
/// those of [`Stream`].
#[derive(Debug)]
#[must_use = "an EventStream dropped before `finish` is abandoned, and the client sees its stream cut off"]
pub struct EventStream {
    stream: Stream,
    /// One event's bytes, reused.
    buf: Vec<u8>,
}

impl EventStream {
    /// Answers the request with an event stream: sets
    /// `Content-Type: text/event-stream` and `Cache-Control: no-cache`
    /// on `res` (the first in place of any `Content-Type` set before) and
    /// sends its head now.
    pub fn start(res: &mut Response<'_>) -> EventStream {
        // One Content-Type (RFC 9110 §5.3); Cache-Control is a list, so a
        // handler's own directives stay beside `no-cache`.
        res.remove_header(EVENT_STREAM.name());
        res.field(&EVENT_STREAM).field(&NO_CACHE);
        EventStream { stream: res.stream_of(StreamKind::Events), buf: Vec::new() }
    }

    /// Answers a deferred request with an event stream (as
    /// [`start`](EventStream::start) does).
    pub fn from_responder(mut responder: Responder) -> EventStream {
        responder.remove_header(EVENT_STREAM.name());
        responder.header(EVENT_STREAM.name(), EVENT_STREAM.value());
        responder.header(NO_CACHE.name(), NO_CACHE.value());
        EventStream { stream: responder.stream_of(StreamKind::Events), buf: Vec::new() }
    }

    /// Sends `event`, waiting while the stream's buffer is full.
    pub fn send(&mut self, event: &Event<'_>) -> Result<(), StreamError> {
        self.buf.clear();
        event.encode(&mut self.buf);
        self.stream.send(&self.buf)
    }

    /// Sends `event` if the buffer has room, without waiting.
    pub fn try_send(&mut self, event: &Event<'_>) -> Result<(), StreamError> {
        self.buf.clear();
        event.encode(&mut self.buf);
        self.stream.try_send(&self.buf)
    }

    /// Sends a comment line (ignored by clients).
    pub fn comment(&mut self, text: &str) -> Result<(), StreamError> {
        self.buf.clear();
        field(&mut self.buf, b"", text);
        self.buf.push(b'\n');
        self.stream.send(&self.buf)
    }

    /// See [`Stream::wait_ready`].
    pub fn wait_ready(&self, timeout: Duration) -> bool {
        self.stream.wait_ready(timeout)
    }

    /// See [`Stream::is_cancelled`].
    pub fn is_cancelled(&self) -> bool {
        self.stream.is_cancelled()
    }

    /// See [`Stream::wait_cancelled`].
    pub fn wait_cancelled(&self, timeout: Duration) -> bool {
        self.stream.wait_cancelled(timeout)
    }

    /// See [`Stream::on_cancel`].
    pub fn on_cancel(&self, f: impl FnOnce() + Send + 'static) {
        self.stream.on_cancel(f);
    }

    /// Ends the stream; the client reconnects unless it was told not to
    /// (a `204` to its next request, or closing the `EventSource`).
    pub fn finish(self) {
        self.stream.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(event: Event<'_>) -> String {
        let mut out = Vec::new();
        event.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn events_follow_the_wire_format() {
        assert_eq!(wire(Event::new("tick 1").id("1")), "id: 1\ndata: tick 1\n\n");
        assert_eq!(
            wire(Event::new("a\nb\r\nc\rd").event("up").retry(Duration::from_secs(3))),
            "event: up\nretry: 3000\ndata: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(wire(Event::new("")), "data: \n\n");
        assert_eq!(wire(Event::new("x\n")), "data: x\ndata: \n\n");
        assert_eq!(
            wire(Event::new("x").id("1\ndata: forged").event("a\rb")),
            "event: a b\nid: 1 data: forged\ndata: x\n\n"
        );
    }
}
