//! Turning a request path into a relative file path that cannot leave the
//! served directory: decoded once, segment by segment, into a fixed buffer.

use crate::http::query::Decoded;

/// Longest relative path built (bytes, before the terminating NUL).
pub const PATH_MAX: usize = 1024;

/// A path that is never served: answered 404, which reveals nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused;

/// A request path resolved to a relative file path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// Bytes of the relative path in the buffer (`.` for the root itself);
    /// a NUL follows them.
    pub len: usize,
    /// The request path ended with `/`, or with a `.` segment, which names
    /// the same (RFC 3986 §5.2.4): a directory was asked for.
    pub trailing_slash: bool,
}

/// Builds the relative path for `raw` (the request path, still
/// percent-encoded, starting with `/`) into `out`, NUL-terminated.
///
/// Each segment is decoded once. Refused: `..`, a decoded `/`, `\` or NUL
/// inside a segment (encoded separators), a segment starting with `.`
/// unless `dotfiles`, and paths longer than the buffer. Empty and `.`
/// segments are dropped.
pub fn resolve(raw: &str, out: &mut [u8; PATH_MAX + 1], dotfiles: bool) -> Result<Resolved, Refused> {
    let rest = raw.strip_prefix('/').ok_or(Refused)?;
    let mut len = 0;
    let mut trailing_slash = false;
    for segment in rest.split('/') {
        let decoded = Decoded::segment(segment);
        let start = len + usize::from(len > 0);
        let mut end = start;
        for b in decoded.bytes() {
            if matches!(b, b'/' | b'\\' | 0) || end >= PATH_MAX {
                return Err(Refused);
            }
            out[end] = b;
            end += 1;
        }
        trailing_slash = matches!(&out[start..end], [] | [b'.']);
        match &out[start..end] {
            [] | [b'.'] => continue,
            [b'.', b'.'] => return Err(Refused),
            [b'.', ..] if !dotfiles => return Err(Refused),
            _ => {}
        }
        if len > 0 {
            out[len] = b'/';
        }
        len = end;
    }
    if len == 0 {
        out[0] = b'.';
        len = 1;
    }
    out[len] = 0;
    Ok(Resolved { len, trailing_slash })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(raw: &str, dotfiles: bool) -> Result<String, Refused> {
        let mut out = [0u8; PATH_MAX + 1];
        resolve(raw, &mut out, dotfiles).map(|res| {
            assert_eq!(out[res.len], 0);
            String::from_utf8(out[..res.len].to_vec()).unwrap()
        })
    }

    #[test]
    fn normalises() {
        assert_eq!(r("/", false).unwrap(), ".");
        assert_eq!(r("/a/b.txt", false).unwrap(), "a/b.txt");
        assert_eq!(r("//a/./b//", false).unwrap(), "a/b");
        let slash = |raw: &str| {
            let mut out = [0u8; PATH_MAX + 1];
            resolve(raw, &mut out, false).unwrap().trailing_slash
        };
        for (raw, want) in
            [("/", true), ("/a", false), ("/a/", true), ("/a/.", true), ("/a/%2e", true), ("/a/./b", false)]
        {
            assert_eq!(slash(raw), want, "{raw}");
        }
        assert_eq!(r("/a%20b/c%2Bd", false).unwrap(), "a b/c+d");
        assert_eq!(r("/%E2%82%AC", false).unwrap(), "€");
        assert_eq!(r("/.well-known/x", true).unwrap(), ".well-known/x");
    }

    #[test]
    fn refuses_escapes() {
        for bad in [
            "/..",
            "/../etc/passwd",
            "/a/../../b",
            "/a/%2e%2e/b",
            "/%2E%2E",
            "/a%2fb",
            "/a%2Fb",
            "/a%5cb",
            "/a\\b",
            "/a%00b",
            "/.env",
            "/a/.git/config",
            "/%2e/.htaccess",
            "relative",
            "",
        ] {
            assert_eq!(r(bad, false), Err(Refused), "{bad:?}");
        }
        assert_eq!(r(&format!("/{}", "a".repeat(PATH_MAX + 1)), false), Err(Refused));
    }
}
