//! The oracle for `DirServer`'s path resolution: whatever the bytes, an
//! accepted path names a file under the root, and it is the path a plain
//! model of the rules gives.

use crate::fs::path::{resolve, Refused, PATH_MAX};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};

/// `data` is a request path (the first byte says whether dotfiles are
/// served). An accepted path is relative, made of normal components
/// only (or `.` for the root), with no dotfile unless they are served,
/// and equal to the model's; a refused one is refused by the model too.
pub fn check_path(data: &[u8]) {
    let Some((&flags, raw)) = data.split_first() else { return };
    let Ok(raw) = std::str::from_utf8(raw) else { return };
    let dotfiles = flags & 1 != 0;
    let mut out = [0u8; PATH_MAX + 1];
    let got = resolve(raw, &mut out, dotfiles).map(|r| {
        assert_eq!(out[r.len], 0, "not NUL-terminated");
        // A trailing slash, or a last segment that decodes to `.`, which
        // names the same (RFC 3986 §5.2.4).
        let last = raw.rsplit('/').next().unwrap_or("");
        assert_eq!(r.trailing_slash, matches!(percent_decode(last.as_bytes()).as_slice(), b"" | b"."));
        out[..r.len].to_vec()
    });
    assert_eq!(got, model(raw, dotfiles), "path {raw:?}");
    let Ok(path) = got else { return };
    assert!(!path.contains(&0));
    let path = Path::new(OsStr::from_bytes(&path));
    if path == Path::new(".") {
        return;
    }
    for component in path.components() {
        let Component::Normal(name) = component else { panic!("{path:?} has {component:?}") };
        assert!(dotfiles || !name.as_encoded_bytes().starts_with(b"."), "{path:?} names a dotfile");
    }
    let depth = path.components().count();
    assert!(Path::new("/root").join(path).starts_with("/root") && depth > 0);
}

/// The rules, written plainly: split at `/`, percent-decode each segment
/// (a `%` without two hex digits is itself), drop empty and `.` segments,
/// refuse `..`, decoded separators and NULs, dotfiles unless served, and
/// paths longer than the buffer.
fn model(raw: &str, dotfiles: bool) -> Result<Vec<u8>, Refused> {
    let rest = raw.strip_prefix('/').ok_or(Refused)?;
    let mut segments: Vec<Vec<u8>> = Vec::new();
    for segment in rest.split('/') {
        let decoded = percent_decode(segment.as_bytes());
        // Every segment is decoded after the path so far and a separator.
        let built = segments.iter().map(|s| s.len() + 1).sum::<usize>();
        if !decoded.is_empty() && built + decoded.len() > PATH_MAX {
            return Err(Refused);
        }
        if decoded.iter().any(|&b| matches!(b, b'/' | b'\\' | 0)) {
            return Err(Refused);
        }
        match decoded.as_slice() {
            b"" | b"." => {}
            b".." => return Err(Refused),
            [b'.', ..] if !dotfiles => return Err(Refused),
            _ => segments.push(decoded),
        }
    }
    if segments.is_empty() {
        return Ok(b".".to_vec());
    }
    Ok(segments.join(&b'/'))
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (s[i], s.get(i + 1).copied().and_then(hex), s.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}
