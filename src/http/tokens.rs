//! Comma-separated lists in field values (RFC 9110 §5.6.1, `#element`):
//! `Connection`, `Transfer-Encoding`, `Content-Length` repeated in one
//! field, `Upgrade`. One iterator for all of them; entity-tag lists
//! (`If-None-Match`), whose elements may hold commas, have their own.

/// The elements of a comma-separated list, trimmed of whitespace; empty
/// elements (`a, , b`) are skipped, as recipients must (§5.6.1).
#[derive(Clone, Debug)]
pub struct List<'a> {
    rest: Option<&'a [u8]>,
}

/// The elements of `value`.
#[inline]
pub fn list(value: &[u8]) -> List<'_> {
    List { rest: Some(value) }
}

/// Whether the list in `value` has `token` (ASCII case-insensitive).
#[inline]
pub fn has(value: &[u8], token: &[u8]) -> bool {
    list(value).any(|t| t.eq_ignore_ascii_case(token))
}

impl<'a> Iterator for List<'a> {
    type Item = &'a [u8];

    #[inline]
    fn next(&mut self) -> Option<&'a [u8]> {
        loop {
            let rest = self.rest?;
            let (element, after) = match rest.iter().position(|&b| b == b',') {
                Some(comma) => (&rest[..comma], Some(&rest[comma + 1..])),
                None => (rest, None),
            };
            self.rest = after;
            let element = element.trim_ascii();
            if !element.is_empty() {
                return Some(element);
            }
        }
    }
}

/// Whether the entity-tag list `value` (`If-None-Match`, RFC 9110 §8.8.3,
/// §13.1.2) is `*` or holds `tag` (an opaque tag with its quotes) by the
/// weak comparison: `W/` is ignored. A malformed list holds nothing from
/// the point where it breaks the grammar.
pub fn has_entity_tag(value: &[u8], tag: &[u8]) -> bool {
    let value = value.trim_ascii();
    if value == b"*" {
        return true;
    }
    let mut rest = value;
    loop {
        // Empty elements and the whitespace around them (§5.6.1).
        let start = rest.iter().position(|&b| !matches!(b, b',' | b' ' | b'\t')).unwrap_or(rest.len());
        rest = &rest[start..];
        if rest.is_empty() {
            return false;
        }
        let Some((opaque, after)) = entity_tag(rest) else { return false };
        if opaque == tag {
            return true;
        }
        let after = after.trim_ascii_start();
        if !(after.is_empty() || after[0] == b',') {
            return false;
        }
        rest = after;
    }
}

/// `[ W/ ] DQUOTE *etagc DQUOTE` at the start of `s`: the opaque tag (with
/// its quotes) and what follows it.
fn entity_tag(s: &[u8]) -> Option<(&[u8], &[u8])> {
    let s = s.strip_prefix(b"W/").unwrap_or(s);
    let body = s.strip_prefix(b"\"")?;
    let close = body.iter().position(|&b| b == b'"')?;
    // etagc: %x21 / %x23-7E / obs-text (§8.8.3).
    body[..close].iter().all(|&b| b == 0x21 || b >= 0x23 && b != 0x7F).then(|| s.split_at(close + 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_trimmed_and_empty_ones_skipped() {
        let all =
            |v: &str| list(v.as_bytes()).map(|t| String::from_utf8(t.to_vec()).unwrap()).collect::<Vec<_>>();
        assert_eq!(all("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(all(" , a,,\t,b, "), ["a", "b"]);
        assert!(all("").is_empty() && all(" , ,").is_empty());
        assert_eq!(all("W/\"x\", \"y\""), ["W/\"x\"", "\"y\""]);
        assert!(has(b"keep-alive, Close", b"close"));
        assert!(!has(b"closed, x", b"close"));
    }

    #[test]
    fn entity_tag_lists() {
        assert!(has_entity_tag(b"\"a\"", b"\"a\""));
        assert!(has_entity_tag(b" * ", b"\"a\""));
        assert!(has_entity_tag(b"W/\"x\", , \"a\"", b"\"a\""));
        assert!(has_entity_tag(b"\"x,y\",\"a\"", b"\"a\""), "a comma inside a tag");
        assert!(!has_entity_tag(b"\"x,\"a\"", b"\"a\""), "not a list of two tags");
        assert!(!has_entity_tag(b"\"a", b"\"a\""));
        assert!(!has_entity_tag(b"a", b"a"));
        assert!(!has_entity_tag(b"\"x\" junk, \"a\"", b"\"a\""), "malformed from `junk` on");
        assert!(!has_entity_tag(b"\"a b\"", b"\"a b\""), "a space is not etagc");
        assert!(!has_entity_tag(b"w/\"a\"", b"\"a\""), "W/ is case-sensitive");
    }
}
