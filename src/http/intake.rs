//! How a request's body is taken in, decided from its head: whole, as one
//! slice (the default), piece by piece into a [`BodySink`], or not at all.

use std::fmt;

pub use super::body_waker::BodyWaker;
use super::request::Request;
use super::response::Response;
use super::status::StatusCode;

/// What [`Handler::intake`](crate::Handler::intake) decides for a request
/// whose head is in and whose body is still to be read.
#[non_exhaustive]
pub enum Intake {
    /// Receive the whole body, then call [`Handler::handle`](crate::Handler::handle)
    /// with it as one slice ([`Request::body`]), up to
    /// [`Config::max_body_size`](crate::Config::max_body_size) (`413`
    /// beyond). The default.
    Buffer,
    /// Give the body to this sink piece by piece as it is decoded, then
    /// let the sink answer; `handle` is not called. No limit but the
    /// sink's: `max_body_size` does not apply.
    Stream(Box<dyn BodySink>),
    /// Answer this status (4xx or 5xx) without reading the body: the
    /// response goes through [`Handler::error_response`](crate::Handler::error_response)
    /// with the request, and the connection closes after it. For a client
    /// that sent `Expect: 100-continue`, this is the answer it gets
    /// instead of `100 Continue`, so it never sends the body.
    Refuse(StatusCode),
}

impl Intake {
    /// Streams the body into `sink`.
    pub fn stream(sink: impl BodySink) -> Self {
        Intake::Stream(Box::new(sink))
    }
}

impl fmt::Debug for Intake {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Intake::Buffer => f.write_str("Buffer"),
            Intake::Stream(_) => f.write_str("Stream(..)"),
            Intake::Refuse(status) => f.debug_tuple("Refuse").field(status).finish(),
        }
    }
}

/// Takes a request body as it arrives ([`Intake::Stream`]).
///
/// The worker calls [`data`](BodySink::data) with each piece of the
/// body in order, as it is decoded from the connection (`Content-Length`
/// or chunked; chunk framing and trailers removed), then
/// [`end`](BodySink::end) once the body is whole. Both run on the worker
/// thread, between reads of that connection: the worker reads the next
/// piece only once `data` has returned, so the body comes at the pace the
/// sink takes it, and what it holds at once is one read buffer, whatever
/// the body's size. Keep them short (a write to a file, a hash update),
/// or the worker's other connections wait; a slow client costs nothing
/// between its pieces.
///
/// A sink is made on the worker thread that uses it, and stays there;
/// it is `Send` because the worker's state is built before its thread
/// starts.
///
/// A sink dropped without `end` was abandoned: the client went away, sent
/// a malformed body, was too slow, or the server shut down; its `Drop` is
/// the place to clean up (a partial file, …).
///
/// ```
/// use peregrine::{BodySink, Handler, Intake, Request, Response, StatusCode};
///
/// /// Counts a body's bytes without keeping them.
/// struct Count(u64);
///
/// impl BodySink for Count {
///     fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
///         self.0 += piece.len() as u64;
///         Ok(())
///     }
///     fn end(self: Box<Self>, _req: &Request<'_>, res: &mut Response<'_>) {
///         std::io::Write::write_fmt(res, format_args!("{}\n", self.0)).unwrap();
///     }
/// }
///
/// struct App;
///
/// impl Handler for App {
///     fn intake(&self, req: &Request<'_>) -> Intake {
///         match req.path() {
///             "/count" => Intake::stream(Count(0)),
///             _ => Intake::Buffer,
///         }
///     }
///     fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
///         res.body(req.body());
///     }
/// }
/// ```
pub trait BodySink: Send + 'static {
    /// The next piece of the body (never empty). An `Err` refuses the
    /// body with that status (e.g. `413` past the sink's limit, `500`
    /// when the disk is full): the request gets it through
    /// [`Handler::error_response`](crate::Handler::error_response) and
    /// the connection closes. A panic here is a `500`.
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode>;

    /// Whether the sink takes another piece now. Asked after each `data`
    /// while the body has more to come; the default says yes.
    ///
    /// A sink that hands pieces to another thread (which is behind) says
    /// no and keeps `waker` (clone it): the worker then reads no more of
    /// this connection, so the client is held back by TCP's flow control
    /// and memory stays bounded, and other connections are served as
    /// usual. Once it has room again, the sink's other side calls
    /// [`BodyWaker::wake`] (from any thread), and the worker asks again.
    /// A body whose sink stays paused, taking nothing, for
    /// [`response_timeout`](crate::Config::response_timeout) is abandoned
    /// and the client gets `503`. See [`body_channel`](crate::body_channel)
    /// for a sink that does all this.
    fn poll_ready(&mut self, waker: &BodyWaker) -> bool {
        let _ = waker;
        true
    }

    /// The whole body arrived: answer `req` as
    /// [`Handler::handle`](crate::Handler::handle) would (`req.body()` is
    /// empty; the body went to [`data`](BodySink::data)), in place or
    /// later through [`Response::defer`].
    fn end(self: Box<Self>, req: &Request<'_>, res: &mut Response<'_>);
}
