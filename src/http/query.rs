//! Lazily parsed query strings and lazily percent-decoded text.
//!
//! Nothing here allocates: pairs are found by iterating the raw string, and
//! values decode byte by byte, into a caller's buffer, or while comparing.

use std::fmt;

use super::hex_digit;

/// The query string of a request, parsed only as it is iterated.
///
/// Pairs are separated by `&`; a pair without `=` has an empty value;
/// empty pairs (`a=1&&b=2`) are skipped. Keys and values decode `%XX` and
/// `+` (as a space), as HTML forms encode them.
#[derive(Clone, Copy, Debug)]
pub struct Query<'a> {
    raw: &'a str,
}

impl<'a> Query<'a> {
    /// Wraps a raw query string (the part after `?`).
    pub fn new(raw: &'a str) -> Self {
        Query { raw }
    }

    /// The raw query string.
    pub fn as_str(&self) -> &'a str {
        self.raw
    }

    /// Iterates `(key, value)` pairs in order.
    pub fn iter(&self) -> QueryIter<'a> {
        QueryIter { rest: self.raw }
    }

    /// The value of the first pair whose decoded key equals `key`.
    ///
    /// ```
    /// let q = peregrine::Query::new("name=J%C3%BCrgen&lang=de+AT");
    /// assert!(q.get("name").unwrap() == "Jürgen");
    /// assert!(q.get("lang").unwrap() == "de AT");
    /// assert!(q.get("missing").is_none());
    /// ```
    pub fn get(&self, key: &str) -> Option<Decoded<'a>> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The values of every pair whose decoded key equals `key`, in order
    /// (`?tag=a&tag=b`, as forms send a multiple choice).
    ///
    /// ```
    /// let q = peregrine::Query::new("tag=a&x=1&tag=b%20c&tag");
    /// let tags: Vec<String> = q.get_all("tag").map(|v| v.to_string()).collect();
    /// assert_eq!(tags, ["a", "b c", ""]);
    /// ```
    pub fn get_all<'k>(&self, key: &'k str) -> impl Iterator<Item = Decoded<'a>> + 'k
    where
        'a: 'k,
    {
        self.iter().filter(move |(k, _)| *k == key).map(|(_, v)| v)
    }
}

/// Iterator over the pairs of a [`Query`].
#[derive(Clone, Debug)]
pub struct QueryIter<'a> {
    rest: &'a str,
}

impl<'a> Iterator for QueryIter<'a> {
    type Item = (Decoded<'a>, Decoded<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.rest.is_empty() {
                return None;
            }
            let (pair, rest) = match self.rest.find('&') {
                Some(i) => (&self.rest[..i], &self.rest[i + 1..]),
                None => (self.rest, ""),
            };
            self.rest = rest;
            if pair.is_empty() {
                continue;
            }
            let (k, v) = match pair.find('=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, ""),
            };
            return Some((Decoded::form(k), Decoded::form(v)));
        }
    }
}

/// Percent-encoded text that decodes only when read.
///
/// Compare it with `==` against a `&str` (decoding on the fly), copy the
/// decoded bytes into your own buffer with [`decode_into`](Decoded::decode_into),
/// iterate them with [`bytes`](Decoded::bytes), or print it. A `%` not
/// followed by two hex digits is kept as it is.
#[derive(Clone, Copy)]
pub struct Decoded<'a> {
    raw: &'a str,
    mode: Mode,
}

/// Which decoding a [`Decoded`] applies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// `%XX`, and `+` as a space.
    Form,
    /// `%XX`, except the escapes that would change a path's meaning.
    Path,
    /// Every `%XX`: one segment, whose bytes the caller checks.
    Segment,
}

/// Whether a path keeps the escape of `byte` as sent: a decoded `/` or
/// `\` would be a separator the client did not send, a NUL ends C
/// strings, and a decoded `%` could be decoded again into any of these.
fn kept_in_paths(byte: u8) -> bool {
    matches!(byte, b'/' | b'\\' | 0 | b'%')
}

/// The buffer given to [`Decoded::decode_into`] was too small.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTooSmall;

impl fmt::Display for BufferTooSmall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("buffer too small for the decoded text")
    }
}

impl std::error::Error for BufferTooSmall {}

impl<'a> Decoded<'a> {
    /// Query-string decoding: `%XX` and `+` as a space.
    pub fn form(raw: &'a str) -> Self {
        Decoded { raw, mode: Mode::Form }
    }

    /// Path decoding: `%XX` (`+` stays `+`), except that `%2F`, `%5C`,
    /// `%00` and `%25` stay as sent, in either case. A decoded path then
    /// splits on `/` exactly as the raw one does, holds no NUL, and cannot
    /// be decoded again into any of them.
    ///
    /// ```
    /// let d = peregrine::Decoded::path("/a%20b/admin%2Fx/%2e%00/100%25");
    /// assert_eq!(d.to_string(), "/a b/admin%2Fx/.%00/100%25");
    /// ```
    pub fn path(raw: &'a str) -> Self {
        Decoded { raw, mode: Mode::Path }
    }

    /// Decoding of one path segment: every `%XX`, `%2F` and `%00`
    /// included. The result may hold `/`, `\` or NUL, which the caller
    /// must refuse or handle (as [`DirServer`](crate::DirServer) does).
    ///
    /// ```
    /// assert_eq!(peregrine::Decoded::segment("a%2Fb").to_string(), "a/b");
    /// ```
    pub fn segment(raw: &'a str) -> Self {
        Decoded { raw, mode: Mode::Segment }
    }

    /// The text as it was sent, still encoded.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether decoding would change anything.
    pub fn is_encoded(&self) -> bool {
        !self.bytes().eq(self.raw.bytes())
    }

    /// The decoded bytes, one at a time.
    pub fn bytes(&self) -> DecodedBytes<'a> {
        DecodedBytes { rest: self.raw.as_bytes(), mode: self.mode }
    }

    /// Decodes into `buf` and returns the filled part.
    ///
    /// ```
    /// let mut buf = [0u8; 16];
    /// let d = peregrine::Decoded::form("a%2Fb+c");
    /// assert_eq!(d.decode_into(&mut buf).unwrap(), b"a/b c");
    /// assert!(d.decode_into(&mut [0u8; 2]).is_err());
    /// ```
    pub fn decode_into<'b>(&self, buf: &'b mut [u8]) -> Result<&'b [u8], BufferTooSmall> {
        let mut n = 0;
        for b in self.bytes() {
            *buf.get_mut(n).ok_or(BufferTooSmall)? = b;
            n += 1;
        }
        Ok(&buf[..n])
    }

    /// Decodes into `buf` and checks the result is UTF-8.
    pub fn decode_str_into<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        std::str::from_utf8(self.decode_into(buf).ok()?).ok()
    }

    /// The decoded text parsed as a `T` (a number, a `bool`, an address,
    /// …); `None` if it is not UTF-8 or does not parse. Allocates nothing
    /// when nothing is encoded or the decoded text fits 128 bytes (more is
    /// decoded into a `String` first).
    ///
    /// ```
    /// let limit = peregrine::Decoded::form("%32%35").parse::<u32>();
    /// assert_eq!(limit, Some(25));
    /// assert_eq!(peregrine::Decoded::form("25x").parse::<u32>(), None);
    /// ```
    pub fn parse<T: std::str::FromStr>(&self) -> Option<T> {
        if !self.is_encoded() {
            return self.raw.parse().ok();
        }
        let mut buf = [0u8; 128];
        match self.decode_into(&mut buf) {
            Ok(bytes) => std::str::from_utf8(bytes).ok()?.parse().ok(),
            Err(BufferTooSmall) => String::from_utf8(self.bytes().collect()).ok()?.parse().ok(),
        }
    }
}

impl PartialEq<str> for Decoded<'_> {
    fn eq(&self, other: &str) -> bool {
        self.bytes().eq(other.bytes())
    }
}

impl PartialEq<&str> for Decoded<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == **other
    }
}

impl fmt::Display for Decoded<'_> {
    /// Writes the decoded text, with invalid UTF-8 replaced by U+FFFD.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        let mut len = 0;
        let mut bytes = self.bytes();
        loop {
            let mut done = false;
            while len < buf.len() {
                match bytes.next() {
                    Some(b) => {
                        buf[len] = b;
                        len += 1;
                    }
                    None => {
                        done = true;
                        break;
                    }
                }
            }
            // A sequence cut by the end of this chunk may complete in the next.
            let mut carry = 0;
            for chunk in buf[..len].utf8_chunks() {
                f.write_str(chunk.valid())?;
                let bad = chunk.invalid();
                let at_end = bad.as_ptr_range().end == buf[..len].as_ptr_range().end;
                if !done && at_end && !bad.is_empty() && bad.len() < 4 {
                    carry = bad.len();
                } else if !bad.is_empty() {
                    f.write_str("\u{FFFD}")?;
                }
            }
            if done {
                return Ok(());
            }
            buf.copy_within(len - carry..len, 0);
            len = carry;
        }
    }
}

impl fmt::Debug for Decoded<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.raw)
    }
}

/// Iterator over the decoded bytes of a [`Decoded`].
#[derive(Clone, Debug)]
pub struct DecodedBytes<'a> {
    rest: &'a [u8],
    mode: Mode,
}

impl Iterator for DecodedBytes<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        let (&b, rest) = self.rest.split_first()?;
        self.rest = rest;
        match b {
            b'+' if self.mode == Mode::Form => Some(b' '),
            b'%' => match rest {
                [h, l, tail @ ..] => match (hex_digit(*h), hex_digit(*l)) {
                    (Some(h), Some(l)) if !(self.mode == Mode::Path && kept_in_paths(h << 4 | l)) => {
                        self.rest = tail;
                        Some(h << 4 | l)
                    }
                    // Kept: the two digits follow as themselves.
                    _ => Some(b'%'),
                },
                _ => Some(b'%'),
            },
            b => Some(b),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.rest.len().div_ceil(3), Some(self.rest.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(q: &str) -> Vec<(String, String)> {
        Query::new(q).iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn values_parse_as_they_decode() {
        let q = Query::new("n=%2D7&ok=true&ip=%3A%3A1&bad=%FF&name=a+b&long=");
        assert_eq!(q.get("n").and_then(|d| d.parse::<i32>()), Some(-7));
        assert_eq!(q.get("ok").and_then(|d| d.parse::<bool>()), Some(true));
        assert_eq!(q.get("ip").and_then(|d| d.parse::<std::net::IpAddr>()), Some("::1".parse().unwrap()));
        assert_eq!(q.get("bad").and_then(|d| d.parse::<String>()), None, "not UTF-8");
        assert_eq!(q.get("name").and_then(|d| d.parse::<String>()).as_deref(), Some("a b"));
        assert_eq!(q.get("n").and_then(|d| d.parse::<u32>()), None, "does not parse");
        // Longer than the stack buffer once decoded.
        let long = format!("%41{}", "b".repeat(300));
        let parsed = Decoded::form(&long).parse::<String>().unwrap();
        assert_eq!((parsed.len(), &parsed[..2]), (301, "Ab"));
        let digits = format!("%31{}", "0".repeat(200));
        assert_eq!(Decoded::form(&digits).parse::<u64>(), None, "too large, not too long");
    }

    #[test]
    fn splits_pairs() {
        assert_eq!(
            pairs("a=1&b=&c&&d=x=y"),
            [("a", "1"), ("b", ""), ("c", ""), ("d", "x=y")].map(|(k, v)| (k.to_string(), v.to_string()))
        );
        assert!(pairs("").is_empty());
        assert!(pairs("&&").is_empty());
    }

    #[test]
    fn decodes_percent_and_plus() {
        let q = Query::new("k%20ey=v+a%2bl&bad=%zz%4&tail=%");
        assert!(q.get("k ey").unwrap() == "v a+l");
        assert!(q.get("bad").unwrap() == "%zz%4");
        assert!(q.get("tail").unwrap() == "%");
        assert!(Decoded::path("a+b%41") == "a+bA");
    }

    #[test]
    fn paths_keep_separators_nul_and_percent_encoded() {
        for (raw, want) in [
            ("/admin%2Fx", "/admin%2Fx"),
            ("/admin%2fx", "/admin%2fx"),
            ("/a%5Cb", "/a%5Cb"),
            ("/a%00b", "/a%00b"),
            ("/a%252Fb", "/a%252Fb"),
            ("/%41%2e%7E", "/A.~"),
            ("/caf%C3%A9", "/café"),
        ] {
            let d = Decoded::path(raw);
            assert_eq!(d.to_string(), want, "{raw}");
            assert!(!d.bytes().any(|b| b == 0), "{raw}");
            assert_eq!(d.bytes().filter(|&b| b == b'/').count(), raw.matches('/').count(), "{raw}");
            assert_eq!(d.is_encoded(), raw != want, "{raw}");
        }
        assert_eq!(Decoded::segment("a%2Fb%00%25").bytes().collect::<Vec<_>>(), b"a/b\0%");
    }

    #[test]
    fn display_replaces_invalid_utf8() {
        assert_eq!(Decoded::form("%FF%C3%A9").to_string(), "\u{FFFD}é");
        let long = "%C3%A9".repeat(40);
        assert_eq!(Decoded::form(&long).to_string(), "é".repeat(40));
        assert_eq!(Decoded::form("x%C3").to_string(), "x\u{FFFD}");
    }

    #[test]
    fn decode_into_bounds() {
        let mut buf = [0u8; 3];
        assert_eq!(Decoded::form("%41%42%43").decode_into(&mut buf), Ok(&b"ABC"[..]));
        assert_eq!(Decoded::form("%41%42%43%44").decode_into(&mut buf), Err(BufferTooSmall));
        assert_eq!(Decoded::form("%C3%A9").decode_str_into(&mut buf), Some("é"));
        assert_eq!(Decoded::form("%FF").decode_str_into(&mut buf), None);
    }
}
