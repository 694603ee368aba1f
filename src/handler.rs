//! The one trait a user implements.

use crate::http::request::Request;
use crate::http::response::Response;

/// Answers requests. One value is shared by every worker thread, so it
/// must be `Send + Sync`; the server is generic over it, so the call is
/// inlined into the worker loop (no `dyn`, no boxing).
///
/// `handle` runs on a worker thread between reads of that worker's
/// sockets: keep it short and non-blocking, or other connections of the
/// same worker wait. It must fill `res` before returning: the response is
/// sent as soon as it returns. A panic in `handle` is caught and answered
/// `500`, and the connection is closed.
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
pub trait Handler: Send + Sync + 'static {
    /// Fills `res` for `req`.
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>);
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
