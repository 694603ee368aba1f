//! The one trait a user implements.

use crate::http::intake::Intake;
use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::status::StatusCode;
use crate::ws::{CloseCode, Message, WebSocket};

/// Answers requests. One value is shared by every worker thread, so it
/// must be `Send + Sync`; the server is generic over it, so the call is
/// inlined into the worker loop (no `dyn`, no boxing).
///
/// `handle` runs on a worker thread between reads of that worker's
/// sockets: keep it short and non-blocking, or other connections of the
/// same worker wait. It fills `res` before returning, and the response is
/// sent as soon as it returns; or it hands the answer to another thread
/// with [`Response::defer`] (a [`Responder`](crate::Responder)) or
/// [`Response::stream`] (a body of unknown length). A panic in `handle` is
/// caught and answered `500`, and the connection is closed.
///
/// ```
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use peregrine::{Handler, Request, Response};
///
/// struct Counter(AtomicU64);
///
/// impl Handler for Counter {
///     fn handle(&self, _req: &Request<'_>, res: &mut Response<'_>) {
///         let n = self.0.fetch_add(1, Ordering::Relaxed);
///         res.header("Content-Type", "text/plain");
///         std::io::Write::write_fmt(res, format_args!("counter={n}\n")).unwrap();
///     }
/// }
/// ```
///
/// A closure works too:
///
/// ```
/// use peregrine::{Request, Response};
/// let hello = |_: &Request<'_>, res: &mut Response<'_>| {
///     res.body_static(b"Hello, World!");
/// };
/// # fn is_handler<H: peregrine::Handler>(_: &H) {}
/// # is_handler(&hello);
/// ```
///
/// A handler that serves WebSockets sets [`WEBSOCKETS`](Handler::WEBSOCKETS),
/// calls [`ws::upgrade`](crate::ws::upgrade) from `handle`, and overrides the
/// `ws_*` hooks (see [`ws`](crate::ws) for a whole example). The hooks run
/// on a WebSocket thread, one call at a time per thread: like `handle`, keep
/// them short and non-blocking.
pub trait Handler: Send + Sync + 'static {
    /// Whether `handle` may upgrade connections to WebSockets. The server
    /// starts its WebSocket threads only when this is `true`.
    const WEBSOCKETS: bool = false;

    /// Fills `res` for `req`.
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>);

    /// Decides, from a request's head, how its body is taken in: whole,
    /// for [`handle`](Handler::handle) ([`Intake::Buffer`], the default);
    /// piece by piece into a [`BodySink`](crate::BodySink) that then
    /// answers ([`Intake::Stream`]: uploads of any size in the memory of
    /// one read buffer); or not at all ([`Intake::Refuse`]).
    ///
    /// Called once per request that has a body (`Content-Length` above
    /// 0, or chunked), as soon as its head is in and before any of the
    /// body is read or a `100 Continue` is sent, so a client that sent
    /// `Expect: 100-continue` sends its body only if this takes it. A
    /// request without one (none declared, or `Content-Length: 0`) is not
    /// asked about: it goes to `handle`.
    /// `req.body()` is empty here. A panic is a `500`, and the connection
    /// closes. See [`BodySink`](crate::BodySink) for an example.
    fn intake(&self, req: &Request<'_>) -> Intake {
        let _ = req;
        Intake::Buffer
    }

    /// Shapes a response the server makes itself: `res` comes as a
    /// bodiless `status` that closes the connection, and this may add
    /// header fields and a body (a JSON error, a page; see
    /// [`Response::problem`]). The default adds nothing, at no cost.
    ///
    /// Called for the statuses a worker answers on its own: `400` (a
    /// malformed head), `408`, `413`, `414`, `417`, `431`, `501`, `505`
    /// (`req` is `None`: the request is not there, or not to be trusted);
    /// with the request: the `400` of a body's malformed chunked framing
    /// and the `413` of a body over the limit, once a body was being
    /// received apart from the read buffer, a [`BodySink`](crate::BodySink)'s
    /// refusal and [`Intake::Refuse`], `500` when `handle` panicked or
    /// gave an invalid header or a 1xx, and the `500`/`503` of a refused
    /// upgrade; and `503` when a deferred response timed out or was not
    /// ready when shutdown's grace period ended (`None`). Not called for
    /// the `503` a connection gets when no worker
    /// has room (written before any worker takes it), nor for a
    /// [`Responder`](crate::Responder)'s invalid answer.
    ///
    /// The status stays `status` whatever this sets, and the connection
    /// closes after the response either way (after such errors the request's
    /// framing cannot be trusted). A panic here, an invalid header, an
    /// upgrade or a deferral sends the bodiless error instead.
    fn error_response(&self, status: StatusCode, req: Option<&Request<'_>>, res: &mut Response<'_>) {
        let _ = (status, req, res);
    }

    /// A connection was upgraded and is now served by a WebSocket thread.
    fn ws_open(&self, ws: &WebSocket) {
        let _ = ws;
    }

    /// A whole message arrived (fragments reassembled, text checked to be
    /// UTF-8). `msg` borrows the connection's buffer. A panic here closes
    /// the connection with `1011`.
    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        let _ = (ws, msg);
    }

    /// The connection ended; called once per opened connection. `code` is
    /// the client's close code ([`CloseCode::NO_STATUS`] if its close frame
    /// had none), else the one the server closed with (e.g. `1002` for a
    /// protocol error, `1001` at shutdown), else [`CloseCode::ABNORMAL`]
    /// when the TCP connection ended without a close frame.
    fn ws_close(&self, ws: &WebSocket, code: CloseCode) {
        let _ = (ws, code);
    }
}

impl<F> Handler for F
where
    F: Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static,
{
    #[inline]
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self(req, res)
    }
}
