//! The request a handler sees: borrowed views into the connection's read
//! buffer, nothing copied.

use std::fmt;
use std::net::SocketAddr;

pub use super::method::Method;
use super::peer::Peer;
use super::query::{Decoded, Query};
use super::target::{self, origin_form};
use crate::swar;

/// The protocol version of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Version {
    /// `HTTP/1.0`
    Http10,
    /// `HTTP/1.1`
    Http11,
}

impl Version {
    /// `"HTTP/1.0"` or `"HTTP/1.1"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
    }
}

/// The request's header fields, in the order they arrived.
///
/// Names are kept as the client sent them; [`get`](Headers::get) compares
/// them case-insensitively.
#[derive(Clone, Copy)]
pub struct Headers<'a> {
    raw: &'a [httparse::Header<'a>],
}

impl<'a> Headers<'a> {
    pub(crate) fn new(raw: &'a [httparse::Header<'a>]) -> Self {
        Headers { raw }
    }

    /// The value of the first field named `name` (ASCII case-insensitive).
    ///
    /// ```
    /// # peregrine::doc_request!(req, "GET / HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\r\n");
    /// assert_eq!(req.headers().get("content-type"), Some(&b"text/plain"[..]));
    /// ```
    pub fn get(&self, name: &str) -> Option<&'a [u8]> {
        self.get_all(name).next()
    }

    /// The value of the first field named `name`, if it is valid UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&'a str> {
        self.get(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// Every value of the fields named `name`, in order.
    pub fn get_all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a [u8]> + 'n
    where
        'a: 'n,
    {
        self.raw
            .iter()
            .filter(move |h| h.name.len() == name.len() && h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    }

    /// Whether a field named `name` is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Every field as `(name, value)`, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.raw.iter().map(|h| (h.name, h.value))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether there are no fields.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }
}

impl fmt::Debug for Headers<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(n, v)| (n, String::from_utf8_lossy(v)))).finish()
    }
}

/// A parsed request, borrowed from the connection's read buffer.
///
/// It lives only for the [`Handler::handle`](crate::Handler::handle) call;
/// copy out what must outlive it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub(crate) method: Method<'a>,
    pub(crate) target: &'a str,
    pub(crate) version: Version,
    pub(crate) headers: Headers<'a>,
    pub(crate) body: &'a [u8],
    pub(crate) peer: Peer,
}

impl<'a> Request<'a> {
    /// The method.
    pub fn method(&self) -> Method<'a> {
        self.method
    }

    /// The request target exactly as sent (origin form `/a/b?x=1`, absolute
    /// form `http://h/a`, or `*`).
    pub fn target(&self) -> &'a str {
        self.target
    }

    /// The path part of the target, still percent-encoded: for
    /// `/a%20b?x=1` it is `/a%20b`; for the absolute form
    /// `http://host/a?x` it is `/a` (and `/` when that form has no path).
    // Always inlined: most handlers call it first, on every request, and
    // once the inliner left it out of the serve loop (after unrelated
    // changes), costing 12 more instructions per pipelined request.
    #[inline(always)]
    pub fn path(&self) -> &'a str {
        let origin = origin_form(self.target);
        match &origin[..query_mark(origin)] {
            "" => "/",
            path => path,
        }
    }

    /// The path, percent-decoded lazily, except for what would change its
    /// meaning: `%2F` (`/`), `%5C` (`\`), `%00` (NUL) and `%25` (`%`) stay
    /// as sent. So the decoded path splits into the same segments as the
    /// raw one (`/admin%2Fx` is one segment, never `/admin/x`), holds no
    /// NUL, and cannot be decoded a second time into either. See
    /// [`Decoded::path`].
    ///
    /// ```
    /// # peregrine::doc_request!(req, "GET /a%20b/c%2Fd%00 HTTP/1.1\r\nHost: x\r\n\r\n");
    /// assert_eq!(req.path_decoded().to_string(), "/a b/c%2Fd%00");
    /// ```
    pub fn path_decoded(&self) -> Decoded<'a> {
        Decoded::path(self.path())
    }

    /// The authority the request is for, `host[:port]`: the absolute-form
    /// target's (`GET http://example.com/ HTTP/1.1`), which wins over the
    /// `Host` field (RFC 9112 §3.2.2), else the `Host` field's value.
    /// `None` only for an HTTP/1.0 request without either; `Some("")` for
    /// the empty `Host` a client sends for a URI without an authority.
    ///
    /// Checked before the handler runs: a request whose `Host` is not
    /// `uri-host [ ":" port ]` is answered `400`. The host's case is as
    /// sent; compare it case-insensitively.
    ///
    /// ```
    /// # peregrine::doc_request!(req, "GET http://Example.com:8080/x HTTP/1.1\r\nHost: other\r\n\r\n");
    /// assert_eq!(req.host(), Some("Example.com:8080"));
    /// ```
    pub fn host(&self) -> Option<&'a str> {
        if !self.target.starts_with('/') {
            if let Some(authority) = target::authority(self.target) {
                return Some(authority);
            }
        }
        // Checked before the handler ran: ASCII, so this never fails.
        self.headers.get("host").and_then(|h| std::str::from_utf8(h).ok())
    }

    /// The raw query string after `?` (empty if none).
    pub fn query_str(&self) -> &'a str {
        let origin = origin_form(self.target);
        origin.get(query_mark(origin) + 1..).unwrap_or_default()
    }

    /// The query, parsed lazily as `key=value` pairs when iterated.
    ///
    /// ```
    /// # peregrine::doc_request!(req, "GET /s?q=a%20b&n=2 HTTP/1.1\r\nHost: x\r\n\r\n");
    /// let q = req.query();
    /// assert!(q.get("q").unwrap() == "a b");
    /// assert_eq!(q.iter().count(), 2);
    /// ```
    pub fn query(&self) -> Query<'a> {
        Query::new(self.query_str())
    }

    /// The protocol version.
    pub fn version(&self) -> Version {
        self.version
    }

    /// The header fields.
    pub fn headers(&self) -> Headers<'a> {
        self.headers
    }

    /// Shorthand for `headers().get(name)`.
    pub fn header(&self, name: &str) -> Option<&'a [u8]> {
        self.headers.get(name)
    }

    /// The body's declared length (`Content-Length`), if it has one; a
    /// chunked body has none. The server has checked it is one valid
    /// number before the handler sees the request.
    ///
    /// ```
    /// # peregrine::doc_request!(req, "PUT /f HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    /// assert_eq!(req.content_length(), Some(3));
    /// ```
    pub fn content_length(&self) -> Option<u64> {
        // Equal values repeated (`3, 3`) are one length (RFC 9110 §8.6).
        let value = self.headers.get("content-length")?.split(|&b| b == b',').next()?;
        std::str::from_utf8(value).ok()?.trim().parse().ok()
    }

    /// The request body (empty when there is none, and when it was
    /// streamed: see [`Handler::intake`](crate::Handler::intake)).
    pub fn body(&self) -> &'a [u8] {
        self.body
    }

    /// The body as an HTML form's fields, when its `Content-Type` is
    /// `application/x-www-form-urlencoded` (parameters such as `charset`
    /// aside): parsed lazily and without allocating, as
    /// [`query`](Request::query) is, `+` and `%XX` decoded. `None` for
    /// another type, or a body that is not UTF-8 (a form's encoding is
    /// ASCII).
    ///
    /// ```
    /// # peregrine::doc_request!(req, "POST /f HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 22\r\n\r\nname=J%C3%BCrgen&n=1+2");
    /// let form = req.form().unwrap();
    /// assert!(form.get("name").unwrap() == "Jürgen");
    /// assert!(form.get("n").unwrap() == "1 2");
    /// ```
    pub fn form(&self) -> Option<Query<'a>> {
        let content_type = self.headers.get("content-type")?;
        let media_type = content_type.split(|&b| b == b';').next().unwrap_or_default().trim_ascii();
        if !media_type.eq_ignore_ascii_case(b"application/x-www-form-urlencoded") {
            return None;
        }
        std::str::from_utf8(self.body).ok().map(Query::new)
    }

    /// The client's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer.addr()
    }
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("target", &self.target)
            .field("version", &self.version)
            .field("headers", &self.headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Where the `?` before a query is, or the length if there is none: eight
/// bytes per step (paths are short, and `str::find`'s `memchr` set-up
/// costs more than the whole scan).
#[inline]
fn query_mark(origin: &str) -> usize {
    let bytes = origin.as_bytes();
    let mut words = bytes.chunks_exact(8);
    for (n, word) in (&mut words).enumerate() {
        let flags = swar::equal(swar::word(word), b'?');
        if flags != 0 {
            return n * 8 + swar::first(flags);
        }
    }
    let done = bytes.len() - words.remainder().len();
    words.remainder().iter().position(|&b| b == b'?').map_or(bytes.len(), |i| done + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str) -> Request<'_> {
        Request {
            method: Method::Get,
            target,
            version: Version::Http11,
            headers: Headers::new(&[]),
            body: b"",
            peer: SocketAddr::from(([127, 0, 0, 1], 0)).into(),
        }
    }

    #[test]
    fn query_mark_finds_the_first_question_mark_at_any_length() {
        for len in 0..40 {
            let plain = "a".repeat(len);
            assert_eq!(query_mark(&plain), len);
            for at in 0..len {
                let mut s = plain.clone().into_bytes();
                s[at] = b'?';
                if at + 3 < len {
                    s[at + 3] = b'?';
                }
                let s = String::from_utf8(s).unwrap();
                assert_eq!(query_mark(&s), at, "{s}");
            }
        }
    }

    #[test]
    fn path_and_query_split() {
        assert_eq!(req("/a/b?x=1").path(), "/a/b");
        assert_eq!(req("/a/b?x=1").query_str(), "x=1");
        assert_eq!(req("/a").query_str(), "");
        assert_eq!(req("/?").path(), "/");
        assert_eq!(req("http://h:80/p?q").path(), "/p");
        assert_eq!(req("http://h:80/p?q").query_str(), "q");
        assert_eq!(req("http://h").path(), "/");
        assert_eq!(req("http://h?q").path(), "/");
        assert_eq!(req("http://h?q").query_str(), "q");
        assert_eq!(req("*").path(), "*");
    }

    #[test]
    fn header_lookup_ignores_case_keeps_names() {
        let raw = [
            httparse::Header { name: "X-Thing", value: b"1" },
            httparse::Header { name: "x-thing", value: b"2" },
            httparse::Header { name: "Other", value: b"3" },
        ];
        let h = Headers::new(&raw);
        assert_eq!(h.get("X-THING"), Some(&b"1"[..]));
        assert_eq!(h.get_all("x-thing").collect::<Vec<_>>(), [&b"1"[..], b"2"]);
        assert_eq!(h.iter().next().unwrap().0, "X-Thing");
        assert!(h.get("x-thin").is_none());
        assert!(h.get("missing").is_none());
    }
}
