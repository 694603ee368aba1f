//! Header fields a response carries besides the ones the server writes:
//! the checks every way of adding one goes through ([`Response::header`],
//! a [`Responder`]'s, a [`Field`] made in a `const`), so none can forge
//! a line.
//!
//! [`Response::header`]: crate::Response::header
//! [`Responder`]: crate::Responder

use std::fmt;

use super::lex::TCHAR;
use crate::swar;

/// A header field checked once, when it is made. Made in a `const`, it is
/// checked at compile time, and
/// [`Response::field`](crate::Response::field) adds it with a plain copy:
/// the way to send fixed headers at no cost per request.
///
/// ```
/// use peregrine::{Field, Request, Response};
///
/// const TEXT: Field = Field::new("Content-Type", "text/plain; charset=utf-8");
///
/// fn hello(_: &Request<'_>, res: &mut Response<'_>) {
///     res.field(&TEXT).body_static(b"Hello");
/// }
/// ```
///
/// What [`Response::header`](crate::Response::header) would refuse does
/// not compile: a name that is not a token, a value with a control byte
/// other than tab (CR, LF, NUL, …), or
/// a header the server writes itself (`Content-Length`,
/// `Transfer-Encoding`, `Date`, `Connection`, `Keep-Alive`).
///
/// ```compile_fail
/// const SPLIT: peregrine::Field = peregrine::Field::new("X-A", "1\r\nSet-Cookie: a=b");
/// ```
///
/// ```compile_fail
/// const LENGTH: peregrine::Field = peregrine::Field::new("Content-Length", "5");
/// ```
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Field {
    name: &'static str,
    value: &'static str,
    /// `name: value\r\n`, joined when made, if it fits; then adding the
    /// field is one copy.
    pub(crate) line: [u8; FIELD_LINE_MAX],
    /// Length of `line`; 0 when it did not fit.
    pub(crate) line_len: usize,
}

impl fmt::Debug for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Field").field("name", &self.name).field("value", &self.value).finish()
    }
}

/// Longest field line kept joined in a [`Field`]; longer ones are copied in
/// four pieces.
pub(crate) const FIELD_LINE_MAX: usize = 128;

impl Field {
    /// The field `name: value`.
    ///
    /// # Panics
    ///
    /// If the name is not an HTTP token or is one of the headers the server
    /// writes itself, or the value holds a control byte other than tab
    /// (CR, LF, NUL, …) or DEL; in a `const`, that
    /// is a compile error instead.
    pub const fn new(name: &'static str, value: &'static str) -> Field {
        let n = name.as_bytes();
        assert!(!n.is_empty(), "a header name cannot be empty");
        let mut i = 0;
        while i < n.len() {
            assert!(TCHAR.contains(n[i]), "a header name must be an HTTP token");
            i += 1;
        }
        assert!(!is_managed_name(n), "the server writes this header itself");
        let v = value.as_bytes();
        let mut i = 0;
        while i < v.len() {
            assert!(
                !is_control(v[i]) || v[i] == b'\t',
                "a header value cannot hold a control byte other than tab"
            );
            i += 1;
        }
        let mut line = [0u8; FIELD_LINE_MAX];
        let line_len = n.len() + v.len() + 4;
        if line_len > FIELD_LINE_MAX {
            return Field { name, value, line, line_len: 0 };
        }
        let mut at = 0;
        let parts: [&[u8]; 4] = [n, b": ", v, b"\r\n"];
        let mut p = 0;
        while p < parts.len() {
            let mut i = 0;
            while i < parts[p].len() {
                line[at] = parts[p][i];
                at += 1;
                i += 1;
            }
            p += 1;
        }
        Field { name, value, line, line_len }
    }

    /// The name, as given.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The value.
    pub const fn value(&self) -> &'static str {
        self.value
    }
}

/// What a header name passed to [`Response::header`](crate::Response::header) is.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldName {
    /// Not an HTTP token (RFC 9110 §5.6.2).
    Invalid,
    /// A header the server writes itself; `connection`: it is `Connection`,
    /// whose `close` the server honours.
    Managed { connection: bool },
    /// Any other name, written as given.
    Plain,
}

impl FieldName {
    #[inline]
    pub(crate) fn of(name: &str) -> FieldName {
        let b = name.as_bytes();
        // A fold, not `all`: no early exit, so no branch per byte.
        if b.is_empty() || !b.iter().fold(true, |ok, &c| ok & TCHAR.contains(c)) {
            return FieldName::Invalid;
        }
        match b.len() {
            10 if b.eq_ignore_ascii_case(b"connection") => FieldName::Managed { connection: true },
            _ if is_managed_name(b) => FieldName::Managed { connection: false },
            _ => FieldName::Plain,
        }
    }
}

/// Whether `name` is one of the headers the server writes itself. Checks
/// the length first, since most names are none of these; `const` for
/// [`Field::new`].
const fn is_managed_name(name: &[u8]) -> bool {
    const MANAGED: [&[u8]; 5] =
        [b"date", b"connection", b"keep-alive", b"content-length", b"transfer-encoding"];
    let mut m = 0;
    while m < MANAGED.len() {
        if const_eq_ignore_case(name, MANAGED[m]) {
            return true;
        }
        m += 1;
    }
    false
}

/// `<[u8]>::eq_ignore_ascii_case`, which is `const` only from Rust 1.89
/// (the MSRV is 1.85).
const fn const_eq_ignore_case(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if !a[i].eq_ignore_ascii_case(&b[i]) {
            return false;
        }
        i += 1;
    }
    true
}

/// What [`add_field`] did with a header.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Added {
    /// Appended as a line.
    Line,
    /// A header the server writes itself: not appended.
    Skipped,
    /// A `Connection` header listing `close`: not appended, the connection
    /// closes after the response.
    Close,
    /// A name that is not a token, or a value that could end its line.
    Invalid,
}

/// Drops every line named `name` (ASCII case-insensitive) from a
/// response's extra headers, in place: for a field that must be sent
/// once, set over whatever the handler set before.
pub(crate) fn remove_field(h: &mut Vec<u8>, name: &str) {
    let (mut read, mut kept) = (0, 0);
    while read < h.len() {
        let end = h[read..].windows(2).position(|w| w == b"\r\n").map_or(h.len(), |i| read + i + 2);
        let line = &h[read..end];
        let named = line.len() > name.len()
            && line[name.len()] == b':'
            && line[..name.len()].eq_ignore_ascii_case(name.as_bytes());
        if !named {
            h.copy_within(read..end, kept);
            kept += end - read;
        }
        read = end;
    }
    h.truncate(kept);
}

/// Appends `name: value` to a response's extra headers, unless it is
/// invalid or one the server writes itself.
#[inline(always)]
pub(crate) fn add_field(h: &mut Vec<u8>, name: &str, value: &[u8]) -> Added {
    match (FieldName::of(name), is_safe_value(value)) {
        (FieldName::Invalid, _) | (_, false) => Added::Invalid,
        (FieldName::Managed { connection }, true) if connection && has_close_token(value) => Added::Close,
        (FieldName::Managed { .. }, true) => Added::Skipped,
        (FieldName::Plain, true) => {
            h.reserve(name.len() + value.len() + 4);
            h.extend_from_slice(name.as_bytes());
            h.extend_from_slice(b": ");
            h.extend_from_slice(value);
            h.extend_from_slice(b"\r\n");
            Added::Line
        }
    }
}

/// A value of field-content (RFC 9110 §5.5): no control byte but HTAB,
/// and no DEL, so it cannot end its line early (CR, LF, NUL) or carry
/// what a client would refuse.
#[inline]
pub(crate) fn is_safe_value(value: &[u8]) -> bool {
    let stop = |w| swar::below(w, b' ') | swar::equal(w, 0x7f);
    // Exact when it finds none; a tab (allowed) stops it too, and then
    // each byte is looked at.
    !swar::any(value, stop, is_control) || !value.iter().any(|&b| is_control(b) && b != b'\t')
}

/// A control byte or DEL.
#[inline(always)]
const fn is_control(b: u8) -> bool {
    b < b' ' || b == 0x7f
}

/// Whether a `Connection` value lists `close`.
pub(crate) fn has_close_token(value: &[u8]) -> bool {
    super::tokens::has(value, b"close")
}
