//! The [`http`](https://docs.rs/http) crate's types, for code written
//! against them (feature `http`).
//!
//! - Conversions between [`Method`], [`StatusCode`] and [`Version`] and
//!   `http`'s, both ways; the standard methods and every status convert
//!   without allocating, and `http::Method` converts into a `Method`
//!   borrowing its name.
//! - [`Request::http_parts`] and [`Request::http_headers`]: the request as
//!   `http::request::Parts` or its headers as an `http::HeaderMap`, for
//!   code that wants them. **These allocate** (a `HeaderMap`, the `Uri`):
//!   the one way off the zero-allocation path here, taken only when asked.
//! - [`Response::send_http`] and [`Responder::send_http`]: answer with an
//!   `http::Response<B>` whose body is any [`Body`] source (`Vec<u8>`,
//!   `String`, `&'static str`, `&'static [u8]`, `()`, a [`Body`]).
//!
//! ```
//! use peregrine::{Request, Response};
//!
//! // A function written against the `http` crate…
//! fn teapot(path: &str) -> http::Response<&'static str> {
//!     http::Response::builder()
//!         .status(http::StatusCode::IM_A_TEAPOT)
//!         .header(http::header::CONTENT_TYPE, "text/plain")
//!         .body(if path == "/tea" { "short and stout" } else { "no tea here" })
//!         .unwrap()
//! }
//!
//! // …answers a peregrine request (a `HEAD` too: the server sends the
//! // same head, `Content-Length` included, without the body).
//! fn handle(req: &Request<'_>, res: &mut Response<'_>) {
//!     res.send_http(teapot(req.path()));
//! }
//! # fn is_handler<H: peregrine::Handler>(_: &H) {}
//! # is_handler(&handle);
//! ```

use crate::http::reply::Body;
use crate::http::request::{Method, Request, Version};
use crate::http::responder::Responder;
use crate::http::response::Response;
use crate::http::status::StatusCode;

/// Fails only on a method `http` refuses, which one this server parsed
/// never is: `http` takes any token, of any length, as this parser does.
impl<'a> TryFrom<Method<'a>> for http::Method {
    type Error = http::method::InvalidMethod;

    fn try_from(method: Method<'a>) -> Result<Self, Self::Error> {
        Ok(match method {
            Method::Get => http::Method::GET,
            Method::Head => http::Method::HEAD,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Delete => http::Method::DELETE,
            Method::Connect => http::Method::CONNECT,
            Method::Options => http::Method::OPTIONS,
            Method::Trace => http::Method::TRACE,
            Method::Patch => http::Method::PATCH,
            Method::Other(token) => http::Method::from_bytes(token.as_bytes())?,
        })
    }
}

/// Borrows the method's name.
impl<'a> From<&'a http::Method> for Method<'a> {
    fn from(method: &'a http::Method) -> Self {
        Method::from_token(method.as_str())
    }
}

impl From<StatusCode> for http::StatusCode {
    fn from(status: StatusCode) -> Self {
        // Ours are 100–599, theirs 100–999: the fallback is never taken.
        http::StatusCode::from_u16(status.as_u16()).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<http::StatusCode> for StatusCode {
    fn from(status: http::StatusCode) -> Self {
        // 600–999 are not HTTP statuses (RFC 9110 §15), which a client
        // would read as a server error: they become one.
        StatusCode::from_u16(status.as_u16()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

impl From<Version> for http::Version {
    fn from(version: Version) -> Self {
        match version {
            Version::Http10 => http::Version::HTTP_10,
            Version::Http11 => http::Version::HTTP_11,
        }
    }
}

/// A version this server does not speak (HTTP/0.9, 2, 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnsupportedVersion(pub http::Version);

impl std::fmt::Display for UnsupportedVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not HTTP/1.0 or HTTP/1.1", self.0)
    }
}

impl std::error::Error for UnsupportedVersion {}

impl TryFrom<http::Version> for Version {
    type Error = UnsupportedVersion;

    fn try_from(version: http::Version) -> Result<Self, Self::Error> {
        match version {
            http::Version::HTTP_10 => Ok(Version::Http10),
            http::Version::HTTP_11 => Ok(Version::Http11),
            other => Err(UnsupportedVersion(other)),
        }
    }
}

impl Request<'_> {
    /// The header fields as an `http::HeaderMap` (allocates). A field
    /// `http` refuses is left out; the parser here accepts only what
    /// RFC 9110 allows, which `http` takes, so none is in practice.
    pub fn http_headers(&self) -> http::HeaderMap {
        let headers = self.headers();
        let mut map = http::HeaderMap::with_capacity(headers.len());
        for (name, value) in headers.iter() {
            let (Ok(name), Ok(value)) =
                (http::HeaderName::from_bytes(name.as_bytes()), http::HeaderValue::from_bytes(value))
            else {
                continue;
            };
            map.append(name, value);
        }
        map
    }

    /// The request's method, target, version and headers as
    /// `http::request::Parts` (allocates: the `Uri`, the `HeaderMap`).
    /// Fails only on what `http` refuses and the parser here accepts: a
    /// target `http::Uri` cannot hold (bytes such as `"`, `<` or `` ` ``,
    /// which browsers percent-encode, or one longer than 65,534 bytes).
    pub fn http_parts(&self) -> Result<http::request::Parts, http::Error> {
        let method = http::Method::try_from(self.method())?;
        let (mut parts, ()) = http::Request::builder()
            .method(method)
            .uri(self.target())
            .version(self.version().into())
            .body(())?
            .into_parts();
        parts.headers = self.http_headers();
        Ok(parts)
    }
}

impl Response<'_> {
    /// Answers with `response`: its status, its headers (checked as
    /// [`header`](Response::header) checks them; the ones the server writes
    /// itself are dropped, `Connection: close` is honoured) and its body,
    /// in place of the status, body and fields of the same names set
    /// before (others set before stay: a wrapping handler's, say). Not carried
    /// over: a status of 600–999, which `http` allows and HTTP does not
    /// (RFC 9110 §15), and a final 1xx (both sent as `500`), the version
    /// (the server answers in the request's) and the extensions.
    pub fn send_http<B: Into<Body>>(&mut self, response: http::Response<B>) -> &mut Self {
        let (parts, body) = response.into_parts();
        for name in parts.headers.keys() {
            self.remove_header(name.as_str());
        }
        self.status(parts.status.into());
        for (name, value) in &parts.headers {
            self.header(name.as_str(), value.as_bytes());
        }
        self.set_body(body.into())
    }
}

impl Responder {
    /// Completes the request with `response`, as
    /// [`Response::send_http`] would answer it (its fields in place of
    /// those of the same names set before).
    pub fn send_http<B: Into<Body>>(mut self, response: http::Response<B>) {
        let (parts, body) = response.into_parts();
        for name in parts.headers.keys() {
            self.remove_header(name.as_str());
        }
        self.status(parts.status.into());
        for (name, value) in &parts.headers {
            self.header(name.as_str(), value.as_bytes());
        }
        self.send(body);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_convert_both_ways() {
        for token in ["GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", "PURGE"]
        {
            let ours = Method::from_token(token);
            let theirs = http::Method::try_from(ours).unwrap();
            assert_eq!(theirs.as_str(), token);
            assert_eq!(Method::from(&theirs), ours);
        }
    }

    #[test]
    fn statuses_and_versions_convert_both_ways() {
        for code in [100, 101, 200, 204, 304, 404, 418, 503, 599] {
            let ours = StatusCode::from_u16(code).unwrap();
            let theirs = http::StatusCode::from(ours);
            assert_eq!(theirs.as_u16(), code);
            assert_eq!(StatusCode::from(theirs), ours);
        }
        let beyond = http::StatusCode::from_u16(600).unwrap();
        assert_eq!(StatusCode::from(beyond), StatusCode::INTERNAL_SERVER_ERROR);
        for v in [Version::Http10, Version::Http11] {
            assert_eq!(Version::try_from(http::Version::from(v)), Ok(v));
        }
        assert_eq!(Version::try_from(http::Version::HTTP_2), Err(UnsupportedVersion(http::Version::HTTP_2)));
    }
}
