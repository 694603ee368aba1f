//! The request-head lexer: request line and header fields (RFC 9112 §3,
//! §5) in one forward pass over byte-class tables, into header slots the
//! caller owns. It accepts exactly what `httparse` accepts (but for a
//! `#` in the target, which it refuses, and `HTTP/1.2` to `HTTP/1.9`,
//! read as 1.1, which httparse refuses), which a
//! differential test checks, in fewer instructions on the short heads
//! that dominate: no UTF-8 decoding of ASCII, no dispatch per field, no
//! second look at a byte. Targets and values are scanned sixteen bytes a
//! step (one SSE2 compare on x86-64, two words elsewhere), then eight; see
//! `benches/http.rs`.
//!
//! What the fields mean (framing, keep-alive) is decided in `head`. The
//! agreement with `httparse` is checked by `fuzzing::lexer`, in its tests
//! and under the `head` fuzz target.

use std::mem::MaybeUninit;

use httparse::Header;

use super::method::Method;
use crate::swar;
use crate::sys::{AsciiSet, Filling};

/// Why a head could not be lexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LexError {
    /// Not an HTTP/1.x request head.
    Malformed,
    /// The version is not `HTTP/1.0` or `HTTP/1.1`.
    Version,
    /// More header fields than slots.
    TooManyHeaders,
}

/// A complete request head, as lexed.
#[derive(Debug)]
pub struct Lexed<'b> {
    /// The method.
    pub method: Method<'b>,
    /// The request target.
    pub target: &'b str,
    /// The minor version's digit, 0 to 9 (the caller reads 2 to 9 as 1).
    pub minor: u8,
    /// Bytes the head occupies, leading empty lines and terminator included.
    pub len: usize,
}

/// A byte-class table: which of the 256 byte values belong to a class.
type Class = [bool; 256];

const fn class(ranges: &[(u8, u8)]) -> Class {
    let mut t = [false; 256];
    let mut r = 0;
    while r < ranges.len() {
        let (lo, hi) = ranges[r];
        let mut b = lo as usize;
        while b <= hi as usize {
            t[b] = true;
            b += 1;
        }
        r += 1;
    }
    t
}

/// `tchar` (RFC 9110 §5.6.2): methods and field names.
pub(crate) static TCHAR: AsciiSet = AsciiSet::new(class(&[
    (b'0', b'9'),
    (b'A', b'Z'),
    (b'a', b'z'),
    (b'!', b'!'),
    (b'#', b'\''),
    (b'*', b'+'),
    (b'-', b'.'),
    (b'^', b'`'),
    (b'|', b'|'),
    (b'~', b'~'),
]));

/// Bytes of a request target: visible ASCII but `#`, and (as `httparse`
/// allows) bytes of UTF-8 sequences, checked afterwards. A `#` would
/// start a fragment, which no request target has (RFC 9112 §3.2): the
/// client's own, never sent, or a path the router and `http::Uri` would
/// read differently.
static TARGET: Class = class(&[(b'!', b'"'), (b'$', 0x7e), (0x80, 0xff)]);

/// Targets are scanned for bytes below this (and DEL), each then looked
/// up in [`TARGET`]: `!`, `"` and `#` stop the scan, so that `#` is seen.
const TARGET_STOP: u8 = b'$';

/// Bytes of a field value: HTAB, SP, visible ASCII, obs-text.
static VALUE: Class = class(&[(b'\t', b'\t'), (b' ', 0x7e), (0x80, 0xff)]);

/// Index of the first byte at or after `i` outside `class` (or the end),
/// for a class that holds every byte neither below `n` nor DEL: the
/// next such byte is found a block at a time ([`next_stop`]), and only
/// that byte is looked up in `class`.
#[inline(always)]
fn scan_words(buf: &[u8], mut i: usize, class: &Class, n: u8) -> usize {
    loop {
        i = next_stop(buf, i, n);
        match buf.get(i) {
            Some(&b) if class[usize::from(b)] => i += 1,
            _ => return i,
        }
    }
}

/// Index of the first byte at or after `i` below `n` or DEL: sixteen bytes
/// per step (one SSE2 compare on x86-64), then eight. Fewer than eight
/// bytes before the end are not looked at: the first of them is returned
/// (or the end), for the caller to decide.
#[inline(always)]
fn next_stop(buf: &[u8], mut i: usize, n: u8) -> usize {
    while let Some(block) = buf.get(i..i + 16) {
        match swar::first_below_or_del(block.try_into().expect("16 bytes"), n) {
            Some(at) => return i + at,
            None => i += 16,
        }
    }
    while let Some(word) = buf.get(i..i + 8) {
        let w = swar::word(word);
        match swar::below(w, n) | swar::equal(w, 0x7f) {
            0 => i += 8,
            flags => return i + swar::first(flags),
        }
    }
    i
}

/// Where a line ending at `i` (`\r\n`, or `\n` if `bare_lf`) is followed
/// by the next line; `Ok(None)` if the buffer ends first.
#[inline(always)]
fn newline(buf: &[u8], i: usize, bare_lf: bool) -> Result<Option<usize>, LexError> {
    if buf.get(i..i + 2) == Some(b"\r\n") {
        return Ok(Some(i + 2));
    }
    match (buf.get(i), buf.get(i + 1)) {
        (Some(b'\n'), _) if bare_lf => Ok(Some(i + 1)),
        (None, _) | (Some(b'\r'), None) => Ok(None),
        _ => Err(LexError::Malformed),
    }
}

/// Lexes the head at the start of `buf`; its fields go to `slots`.
/// `Ok(None)`: the head is incomplete but valid so far. `bare_lf`: a
/// lone LF ends a line too (as in `httparse`); else only CRLF does.
pub fn lex<'s, 'b>(
    buf: &'b [u8],
    slots: &'s mut [MaybeUninit<Header<'b>>],
    bare_lf: bool,
) -> Result<Option<(Lexed<'b>, &'s [Header<'b>])>, LexError> {
    macro_rules! need {
        ($e:expr) => {
            match $e {
                Some(v) => v,
                None => return Ok(None),
            }
        };
    }
    let mut i = 0;
    // Empty lines before the request line are ignored (RFC 9112 §2.2).
    while matches!(buf.get(i), Some(b'\r' | b'\n')) {
        i = need!(newline(buf, i, bare_lf)?);
    }
    // Most requests are GETs: one comparison instead of a scan.
    let (method, len) = match buf[i..].starts_with(b"GET ") {
        true => (Method::Get, 3),
        false => {
            let token = TCHAR.run(&buf[i..]);
            (Method::from_token(token), token.len())
        }
    };
    i += len;
    if *need!(buf.get(i)) != b' ' || len == 0 {
        return Err(LexError::Malformed);
    }
    i += 1;
    let start = i;
    i = scan_words(buf, i, &TARGET, TARGET_STOP);
    if *need!(buf.get(i)) != b' ' || i == start {
        return Err(LexError::Malformed);
    }
    let target = &buf[start..i];
    let target = match crate::sys::ascii_str(target) {
        Some(s) => s,
        None => std::str::from_utf8(target).map_err(|_| LexError::Malformed)?,
    };
    i += 1;
    // One word compare: `HTTP/1.` and then the minor digit. A minor
    // version above ours is read as ours, 1.1 (RFC 9110 §2.5).
    const HTTP_1: u64 = u64::from_le_bytes(*b"HTTP/1.\0");
    let version = buf.get(i..i + 8).map(|v| u64::from_le_bytes(v.try_into().expect("8 bytes")));
    let minor = match version {
        Some(v) if v & 0x00ff_ffff_ffff_ffff == HTTP_1 && ((v >> 56) as u8).is_ascii_digit() => {
            (v >> 56) as u8 - b'0'
        }
        Some(_) => return Err(LexError::Version),
        // Short: refuse now unless it can still become a version.
        None if b"HTTP/1.".starts_with(&buf[i..]) => return Ok(None),
        None => return Err(LexError::Version),
    };
    i = need!(newline(buf, i + 8, bare_lf)?);
    let mut fields = Filling::new(slots);
    loop {
        if matches!(buf.get(i), Some(b'\r' | b'\n') | None) {
            i = need!(newline(buf, i, bare_lf)?);
            return Ok(Some((Lexed { method, target, minor, len: i }, fields.into_filled())));
        }
        let name = TCHAR.run(&buf[i..]);
        i += name.len();
        // No whitespace between name and colon (RFC 9112 §5.1).
        if *need!(buf.get(i)) != b':' || name.is_empty() {
            return Err(LexError::Malformed);
        }
        i += 1;
        while matches!(buf.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let value_start = i;
        i = scan_words(buf, i, &VALUE, b' ');
        let mut value_end = i;
        i = need!(newline(buf, i, bare_lf)?);
        while value_end > value_start && matches!(buf[value_end - 1], b' ' | b'\t') {
            value_end -= 1;
        }
        // As in httparse: a field is lexed whole before it needs a slot.
        fields
            .push(Header { name, value: &buf[value_start..value_end] })
            .map_err(|_| LexError::TooManyHeaders)?;
    }
}
