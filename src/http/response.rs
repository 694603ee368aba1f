//! The response a handler fills: status, extra headers and a body, all in
//! the worker's preallocated scratch space.

use super::problem::{Problem, PROBLEM_CONTENT_TYPE};
use std::fmt;
use std::fs::File;
use std::io;

use super::field::{add_field, has_close_token, is_safe_value, Added, Field, FieldName};
use super::reply::{Body, Exchanged, FileBody, StreamKind};
use super::responder::{Deferrals, Responder};
use super::status::StatusCode;
use super::stream::Stream;

/// What a response that upgrades its connection (a WebSocket `101`)
/// carries for the server: the connection's id and the handler's tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ticket {
    pub id: u64,
    pub tag: u64,
}

/// Per-worker space a [`Response`] writes into; cleared between requests,
/// and trimmed back to `keep` bytes where a response grew it further, so
/// one large response does not pin its size for the worker's life. (A
/// response that fits the write buffer cannot have grown it: its headers
/// and body are smaller than `keep`, unless a larger body was replaced,
/// which trims there.)
pub struct Scratch {
    pub(crate) headers: Vec<u8>,
    pub(crate) body: Vec<u8>,
    pub(crate) file: Option<FileBody>,
    keep: usize,
    /// Where deferred and streamed responses get their exchanges.
    pub(crate) later: Deferrals,
}

impl Scratch {
    /// Scratch space with room for `headers` bytes of extra headers and a
    /// `body`-byte copied body before anything grows; each is trimmed back
    /// to `body` bytes (or `headers`, if more) after a response grew it.
    pub fn with_capacity(headers: usize, body: usize) -> Self {
        Scratch {
            headers: Vec::with_capacity(headers),
            body: Vec::with_capacity(body),
            file: None,
            keep: headers.max(body),
            later: Deferrals::new(),
        }
    }

    /// Once a response is queued: gives back what it grew the space to
    /// beyond `keep` bytes.
    pub fn trim(&mut self) {
        for v in [&mut self.headers, &mut self.body] {
            if v.capacity() > self.keep {
                v.clear();
                v.shrink_to(self.keep);
            }
        }
    }

    /// Empties the copied body, giving back what an earlier, larger one
    /// grew it to beyond `keep` bytes.
    #[inline]
    fn clear_body(&mut self) {
        if !self.body.is_empty() {
            self.body.clear();
            if self.body.capacity() > self.keep {
                self.body.shrink_to(self.keep);
            }
        }
    }
}

/// Where a response's body comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BodySource {
    /// None given: no bytes, and no length to state to a `HEAD`, whose
    /// handler may have left out the body a `GET` gets.
    Unset,
    /// The bytes in the scratch body buffer (possibly none).
    Copied,
    /// A static slice, sent without copying.
    Static(&'static [u8]),
    /// A file range (in the scratch), sent with `sendfile(2)`.
    File,
}

/// The response to one request.
///
/// Defaults to `200 OK` with an empty body. The server adds `Date`,
/// `Content-Length` and `Connection` (and `Keep-Alive` for HTTP/1.0) itself;
/// setting those through [`header`](Response::header) is ignored, except
/// that `Connection: close` closes the connection after this response (as
/// does [`close`](Response::close)).
///
/// Answer `HEAD` as `GET`: the server sends the same head, with the
/// `Content-Length` of the body given, and leaves the body out. (A
/// handler that gives a `HEAD` no body gets no `Content-Length`, since a
/// wrong one is forbidden: RFC 9110 §8.6.)
///
/// ```
/// use std::io::Write;
/// use peregrine::{Handler, Request, Response, StatusCode};
///
/// struct Hello;
/// impl Handler for Hello {
///     fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
///         if req.path() != "/" {
///             res.status(StatusCode::NOT_FOUND);
///             return;
///         }
///         res.header("Content-Type", "text/plain");
///         write!(res, "Hello from {}", req.path()).unwrap();
///     }
/// }
/// ```
pub struct Response<'w> {
    status: StatusCode,
    scratch: &'w mut Scratch,
    source: BodySource,
    close: bool,
    invalid_header: bool,
    /// Set by [`ws::upgrade`](crate::ws::upgrade).
    upgrade: Option<Ticket>,
    /// Whether the handler answered, or handed the answer to another
    /// thread.
    later: Later,
}

/// How a handler answered. Plain data: the exchange a deferred or
/// streamed answer goes through waits in the scratch space, so a
/// `Response` has nothing to drop (and the ordinary path no drop glue).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Later {
    /// With this response, now.
    Now,
    /// Through a [`Responder`], later.
    Deferred,
    /// With this response's head now, its body from a [`Stream`].
    Streamed(StreamKind),
}

/// The exchange a handler handed its answer to, and how.
pub(crate) enum Handed {
    /// A [`Responder`]'s.
    Deferred(Exchanged),
    /// A [`Stream`]'s, of this kind.
    Streamed(Exchanged, StreamKind),
}

impl<'w> Response<'w> {
    /// A fresh `200 OK` response writing into `scratch` (which it clears).
    pub(crate) fn new(scratch: &'w mut Scratch) -> Self {
        scratch.headers.clear();
        scratch.body.clear();
        scratch.file = None;
        Response {
            status: StatusCode::OK,
            scratch,
            source: BodySource::Unset,
            close: false,
            invalid_header: false,
            upgrade: None,
            later: Later::Now,
        }
    }

    /// Sets the status.
    pub fn status(&mut self, status: StatusCode) -> &mut Self {
        self.status = status;
        self
    }

    /// The status set so far.
    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    /// Adds a header field.
    ///
    /// A name that is not an HTTP token, or a value holding a control
    /// byte other than tab or DEL (CR, LF or NUL would let a value forge
    /// headers; none is field-content, RFC 9110 §5.5), makes the server answer
    /// `500` instead of this response. A field known in advance is better
    /// made once as a [`Field`] (checked at compile time) and added with
    /// [`field`](Response::field).
    // Inlined so that a constant name and value are checked at compile time.
    #[inline]
    pub fn header(&mut self, name: &str, value: impl AsRef<[u8]>) -> &mut Self {
        match add_field(&mut self.scratch.headers, name, value.as_ref()) {
            Added::Invalid => self.invalid_header = true,
            Added::Close => self.close = true,
            Added::Line | Added::Skipped => {}
        }
        self
    }

    /// Adds a header field whose value is formatted, without allocating:
    /// `res.header_fmt("X-Count", format_args!("{n}"))`.
    pub fn header_fmt(&mut self, name: &str, value: fmt::Arguments<'_>) -> &mut Self {
        if let Some(s) = value.as_str() {
            return self.header(name, s);
        }
        let class = FieldName::of(name);
        if class == FieldName::Invalid {
            self.invalid_header = true;
            return self;
        }
        // Format straight into place behind `name: `, then check the value there.
        let h = &mut self.scratch.headers;
        let start = h.len();
        if class == FieldName::Plain {
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(b": ");
        }
        let value_start = h.len();
        // Writing into a Vec cannot fail.
        let _ = io::Write::write_fmt(h, value);
        let value = &h[value_start..];
        match class {
            _ if !is_safe_value(value) => {
                self.invalid_header = true;
                h.truncate(start);
            }
            FieldName::Managed { connection } => {
                self.close |= connection && has_close_token(value);
                h.truncate(start);
            }
            _ => h.extend_from_slice(b"\r\n"),
        }
        self
    }

    /// Adds a header field checked when it was made (see [`Field`]): no
    /// check here, just the copy.
    #[inline(always)]
    pub fn field(&mut self, field: &Field) -> &mut Self {
        let h = &mut self.scratch.headers;
        if field.line_len > 0 {
            h.extend_from_slice(&field.line[..field.line_len]);
        } else {
            h.extend_from_slice(field.name().as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(field.value().as_bytes());
            h.extend_from_slice(b"\r\n");
        }
        self
    }

    /// Sets the body to a copy of `bytes` (replacing any earlier body).
    ///
    /// The copy goes to the connection's write buffer beside its head; a
    /// body too large for that is sent from the worker's scratch buffer it
    /// was copied into, which then goes with the response (the worker
    /// takes a fresh one: an allocation, for bodies larger than about
    /// [`Config::write_buffer_size`](crate::Config::write_buffer_size)).
    pub fn body(&mut self, bytes: &[u8]) -> &mut Self {
        self.scratch.clear_body();
        self.scratch.file = None;
        self.scratch.body.extend_from_slice(bytes);
        self.source = BodySource::Copied;
        self
    }

    /// Answers with a problem details object (RFC 9457): its status, the
    /// `application/problem+json` type, and the object as the body (in
    /// place of any body set before), without allocating. Call it on a
    /// response without a `Content-Type` of its own yet.
    ///
    /// ```
    /// # fn handler(req: &peregrine::Request<'_>, res: &mut peregrine::Response<'_>) {
    /// use peregrine::{Problem, StatusCode};
    /// res.problem(&Problem::new(StatusCode::UNPROCESSABLE_CONTENT).detail("`age` must be a number"));
    /// # }
    /// ```
    pub fn problem(&mut self, problem: &Problem<'_>) -> &mut Self {
        self.status(problem.status()).header("Content-Type", PROBLEM_CONTENT_TYPE).body(b"");
        // Writing into the body cannot fail.
        let _ = problem.write_json(self);
        self
    }

    /// Sets the body to a static slice, which is sent without copying.
    pub fn body_static(&mut self, bytes: &'static [u8]) -> &mut Self {
        self.scratch.clear_body();
        self.scratch.file = None;
        self.source = BodySource::Static(bytes);
        self
    }

    /// Sets the body to `len` bytes of `file` from `offset`, sent after the
    /// head with `sendfile(2)`: no copy through user space, never the whole
    /// file in memory. The connection owns the file until it is sent.
    ///
    /// The file must hold the range while it is sent; if it shrinks, the
    /// connection is closed (the client sees a short body).
    ///
    /// ```no_run
    /// # use peregrine::{Request, Response};
    /// fn download(_: &Request<'_>, res: &mut Response<'_>) {
    ///     match std::fs::File::open("big.iso").and_then(|f| Ok((f.metadata()?.len(), f))) {
    ///         Ok((len, file)) => {
    ///             res.header("Content-Type", "application/octet-stream").body_file(file, 0, len);
    ///         }
    ///         Err(_) => {
    ///             res.status(peregrine::StatusCode::NOT_FOUND);
    ///         }
    ///     }
    /// }
    /// ```
    pub fn body_file(&mut self, file: File, offset: u64, len: u64) -> &mut Self {
        self.scratch.clear_body();
        self.scratch.file = Some(FileBody { file, offset, len });
        self.source = BodySource::File;
        self
    }

    /// Answers later, from any thread: the returned [`Responder`] carries
    /// the status and headers set so far, and completing it sends the
    /// response. What this `Response` is given afterwards is not sent.
    ///
    /// Meanwhile the worker serves its other connections; requests
    /// pipelined behind this one on the same connection wait for it.
    ///
    /// ```
    /// use peregrine::{Request, Response};
    ///
    /// fn slow(_: &Request<'_>, res: &mut Response<'_>) {
    ///     res.header("Content-Type", "text/plain");
    ///     let responder = res.defer();
    ///     std::thread::spawn(move || {
    ///         // ... a database call, an upstream request ...
    ///         responder.send("done");
    ///     });
    /// }
    /// # fn is_handler<H: peregrine::Handler>(_: &H) {}
    /// # is_handler(&slow);
    /// ```
    pub fn defer(&mut self) -> Responder {
        self.cancel_handed();
        let (exchanged, responder) =
            self.scratch.later.responder(self.status, &self.scratch.headers, self.close);
        self.scratch.later.handed = Some(exchanged);
        self.later = Later::Deferred;
        responder
    }

    /// Answers with the status and headers this `Response` has when the
    /// handler returns (the head is sent then), and a body of unknown
    /// length written through the returned [`Stream`], from any thread:
    /// chunked for HTTP/1.1 clients, delimited by closing the connection
    /// for HTTP/1.0 ones, nothing for `HEAD` (and for 204, 205, 304 and
    /// a 2xx to `CONNECT`).
    /// Any body set on this `Response` is not sent.
    ///
    /// The stream's bytes wait in a pipe of
    /// [`Config::stream_buffer_size`](crate::Config::stream_buffer_size)
    /// bytes until the worker takes them. The handler itself may write to
    /// it before returning, as much as that holds: on the worker's thread
    /// [`Stream::send`] does not wait, it says [`StreamError::Full`](crate::StreamError::Full).
    ///
    /// ```
    /// use peregrine::{Request, Response};
    ///
    /// fn feed(_: &Request<'_>, res: &mut Response<'_>) {
    ///     res.header("Content-Type", "text/plain");
    ///     let mut stream = res.stream();
    ///     std::thread::spawn(move || {
    ///         for i in 0..3 {
    ///             if stream.send(format!("line {i}\n").as_bytes()).is_err() {
    ///                 return; // the client left
    ///             }
    ///         }
    ///         stream.finish();
    ///     });
    /// }
    /// # fn is_handler<H: peregrine::Handler>(_: &H) {}
    /// # is_handler(&feed);
    /// ```
    pub fn stream(&mut self) -> Stream {
        self.stream_of(StreamKind::Plain)
    }

    /// [`stream`](Response::stream), of the given kind.
    pub(crate) fn stream_of(&mut self, kind: StreamKind) -> Stream {
        self.cancel_handed();
        let (exchanged, stream) = self.scratch.later.stream(kind);
        self.scratch.later.handed = Some(exchanged);
        self.later = Later::Streamed(kind);
        stream
    }

    /// The exchange the handler handed its answer to, if it did; leaves
    /// this an answer given now.
    pub(crate) fn take_handed(&mut self) -> Option<Handed> {
        let later = std::mem::replace(&mut self.later, Later::Now);
        let exchange = self.scratch.later.handed.take()?;
        match later {
            Later::Now => None,
            Later::Deferred => Some(Handed::Deferred(exchange)),
            Later::Streamed(kind) => Some(Handed::Streamed(exchange, kind)),
        }
    }

    /// Cancels a Responder or Stream handed out before: it is no longer
    /// waited for, and what it sends is dropped.
    fn cancel_handed(&mut self) {
        if let Some(Handed::Deferred(exchange) | Handed::Streamed(exchange, _)) = self.take_handed() {
            exchange.cancel();
        }
    }

    /// Whether the handler deferred or streamed its answer.
    #[inline]
    pub(crate) fn is_later(&self) -> bool {
        !matches!(self.later, Later::Now)
    }

    /// Fills this fresh response with what a [`Responder`] completed.
    pub(crate) fn load(&mut self, status: StatusCode, headers: &[u8], close: bool, body: Body) {
        self.status = status;
        self.close = close;
        self.scratch.headers.extend_from_slice(headers);
        self.set_body(body);
    }

    /// Sets the body from any [`Body`] source (replacing an earlier one).
    pub(crate) fn set_body(&mut self, body: Body) -> &mut Self {
        match body {
            Body::Empty => {
                self.scratch.clear_body();
                self.scratch.file = None;
                self.source = BodySource::Unset;
                self
            }
            Body::Bytes(mut bytes) if bytes.len() > self.scratch.keep => {
                // Large: sent from the application's own buffer, not copied.
                self.body_static(b"");
                std::mem::swap(&mut self.scratch.body, &mut bytes);
                self.source = BodySource::Copied;
                self
            }
            Body::Bytes(bytes) => self.body(&bytes),
            Body::Static(bytes) => self.body_static(bytes),
            Body::File(f) => self.body_file(f.file, f.offset, f.len),
        }
    }

    /// Closes the connection after this response.
    pub fn close(&mut self) -> &mut Self {
        self.close = true;
        self
    }

    pub(crate) fn wants_close(&self) -> bool {
        self.close
    }

    pub(crate) fn has_invalid_header(&self) -> bool {
        self.invalid_header
    }

    /// Drops the header fields named `name` set so far.
    pub(crate) fn remove_header(&mut self, name: &str) -> &mut Self {
        super::field::remove_field(&mut self.scratch.headers, name);
        self
    }

    pub(crate) fn extra_headers(&self) -> &[u8] {
        &self.scratch.headers
    }

    pub(crate) fn body_source(&self) -> BodySource {
        self.source
    }

    /// The body's bytes in memory (none for a file body).
    pub(crate) fn body_bytes(&self) -> &[u8] {
        match self.source {
            BodySource::Unset | BodySource::Copied => &self.scratch.body,
            BodySource::Static(s) => s,
            BodySource::File => &[],
        }
    }

    /// The body's length, whatever its source.
    pub(crate) fn body_len(&self) -> u64 {
        match (&self.source, &self.scratch.file) {
            (BodySource::File, Some(f)) => f.len,
            _ => self.body_bytes().len() as u64,
        }
    }

    /// Takes the file body out, for the connection to send.
    pub(crate) fn take_file(&mut self) -> Option<FileBody> {
        self.scratch.file.take()
    }

    /// Takes the copied body out, for the connection to send from where it
    /// is (no second copy), leaving a fresh buffer of `capacity` bytes.
    pub(crate) fn take_body(&mut self, capacity: usize) -> Vec<u8> {
        std::mem::replace(&mut self.scratch.body, Vec::with_capacity(capacity))
    }

    /// Once the response is queued: see [`Scratch::trim`].
    pub(crate) fn trim_scratch(&mut self) {
        self.scratch.trim();
    }

    /// Turns this response into a bodiless error with the given status.
    pub(crate) fn reset_to_error(&mut self, status: StatusCode) {
        self.scratch.headers.clear();
        self.scratch.clear_body();
        self.scratch.file = None;
        self.status = status;
        self.source = BodySource::Copied;
        self.close = true;
        self.invalid_header = false;
        self.upgrade = None;
        if self.is_later() {
            self.cancel_handed();
        }
    }

    pub(crate) fn set_upgrade(&mut self, ticket: Ticket) {
        self.upgrade = Some(ticket);
    }

    /// The WebSocket id, if this is an upgrade the handler still stands by
    /// (it did not change the status from `101` afterwards).
    pub(crate) fn upgrade(&self) -> Option<Ticket> {
        self.upgrade.filter(|_| self.status == StatusCode::SWITCHING_PROTOCOLS)
    }
}

/// Appends to the copied body (after a static or file body, starts a
/// copied one in its place).
impl io::Write for Response<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.source {
            BodySource::Static(s) => {
                self.scratch.body.clear();
                self.scratch.body.extend_from_slice(s);
            }
            BodySource::File => self.scratch.file = None,
            BodySource::Unset | BodySource::Copied => {}
        }
        self.source = BodySource::Copied;
        self.scratch.body.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl fmt::Debug for Response<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("status", &self.status)
            .field("headers", &String::from_utf8_lossy(&self.scratch.headers))
            .field("body_len", &self.body_bytes().len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn headers_serialise_and_managed_ones_are_skipped() {
        let mut s = Scratch::with_capacity(64, 64);
        let mut r = Response::new(&mut s);
        r.header("X-A", "1").header("content-length", "99").header("Connection", "x, Close");
        r.header_fmt("X-N", format_args!("{}", 42));
        assert_eq!(r.extra_headers(), b"X-A: 1\r\nX-N: 42\r\n");
        assert!(r.wants_close());
        let mut s = Scratch::with_capacity(64, 64);
        let mut r = Response::new(&mut s);
        r.header_fmt("connection", format_args!("{}", "close"));
        assert!(r.wants_close());
        assert!(r.extra_headers().is_empty());
        assert!(!r.has_invalid_header());
    }

    #[test]
    fn names_are_exactly_the_tokens_of_rfc_9110() {
        const TCHAR_SPECIALS: &[u8] = b"!#$%&'*+-.^_`|~";
        for c in 0..=255u8 {
            let token = c.is_ascii_alphanumeric() || TCHAR_SPECIALS.contains(&c);
            let mut s = Scratch::with_capacity(64, 64);
            let mut r = Response::new(&mut s);
            let name = [b'X', c];
            match std::str::from_utf8(&name) {
                Ok(name) => r.header(name, "v"),
                Err(_) => continue, // not a &str at all
            };
            assert_eq!(r.has_invalid_header(), !token, "byte {c:#04x}");
            let mut s = Scratch::with_capacity(64, 64);
            let mut r = Response::new(&mut s);
            r.header_fmt(std::str::from_utf8(&name).unwrap(), format_args!("{}", 7));
            assert_eq!(r.has_invalid_header(), !token, "byte {c:#04x}, formatted");
        }
    }

    #[test]
    fn value_check_agrees_with_a_byte_loop_at_every_length_and_position() {
        for len in 0..40 {
            for pos in 0..len {
                for probe in
                    [0u8, b'\r', b'\n', 1, b'\t', 0x0b, 0x0c, 0x0e, 0x1f, b' ', 0x7f, 0x80, 0x8a, 0x8d, 0xff]
                {
                    let mut value = vec![b'a'; len];
                    value[pos] = probe;
                    let naive = !value.iter().any(|&b| (b < 0x20 && b != b'\t') || b == 0x7f);
                    assert_eq!(is_safe_value(&value), naive, "len {len}, {probe:#04x} at {pos}");
                }
            }
            assert!(is_safe_value(&vec![0xff; len]));
            // Tabs, and a space right after one (which a word's borrow
            // from the tab would flag as below a space), are content.
            assert!(is_safe_value(&b"a\t b\t\t c\t ".repeat(len)), "tabs, len {len}");
        }
    }

    #[test]
    fn fields_are_checked_once_and_copied() {
        const TEXT: Field = Field::new("Content-Type", "text/plain");
        let mut s = Scratch::with_capacity(64, 64);
        let mut r = Response::new(&mut s);
        const LONG: Field = Field::new(
            "X-Long",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\
             0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        );
        r.field(&TEXT).field(&Field::new("X-Empty", "")).field(&LONG);
        let long = format!("X-Long: {}\r\n", LONG.value());
        assert_eq!(LONG.line_len, 0, "the long field is copied in pieces");
        assert_eq!(r.extra_headers(), format!("Content-Type: text/plain\r\nX-Empty: \r\n{long}").as_bytes());
        for (name, value) in [
            ("", "v"),
            ("Bad Name", "v"),
            ("X", "a\rb"),
            ("X", "a\nb"),
            ("X", "\0"),
            ("DATE", "x"),
            ("Keep-Alive", "x"),
        ] {
            let made = std::panic::catch_unwind(|| Field::new(name, value));
            assert!(made.is_err(), "{name:?}: {value:?}");
        }
    }

    #[test]
    fn formatted_values_are_checked_in_place() {
        let mut s = Scratch::with_capacity(64, 64);
        let mut r = Response::new(&mut s);
        r.header_fmt("X-A", format_args!("{}-{}", 1, 2)).header_fmt("Date", format_args!("{}", 3));
        r.header_fmt("Connection", format_args!("{}, {}", "x", "close"));
        assert_eq!(r.extra_headers(), b"X-A: 1-2\r\n");
        assert!(r.wants_close() && !r.has_invalid_header());
        r.header_fmt("X-B", format_args!("{}", "\0"));
        assert!(r.has_invalid_header());
        assert_eq!(r.extra_headers(), b"X-A: 1-2\r\n");
    }

    #[test]
    fn header_injection_is_refused() {
        for (name, value) in [("X", "a\r\nSet-Cookie: x"), ("Bad Name", "v"), ("", "v"), ("X", "a\0")] {
            let mut s = Scratch::with_capacity(64, 64);
            let mut r = Response::new(&mut s);
            r.header(name, value);
            assert!(r.has_invalid_header(), "{name:?}: {value:?}");
            assert!(r.extra_headers().is_empty());
        }
        let mut s = Scratch::with_capacity(64, 64);
        let mut r = Response::new(&mut s);
        r.header_fmt("X", format_args!("a{}b", "\n"));
        assert!(r.has_invalid_header());
        assert!(r.extra_headers().is_empty());
    }

    #[test]
    fn bodies() {
        let mut s = Scratch::with_capacity(64, 64);
        let mut r = Response::new(&mut s);
        r.body_static(b"static");
        assert_eq!(r.body_source(), BodySource::Static(b"static"));
        write!(r, "+{}", 1).unwrap();
        assert_eq!(r.body_bytes(), b"static+1");
        r.body(b"copy");
        assert_eq!(r.body_bytes(), b"copy");
    }
}
