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

/// How two entity tags are compared (RFC 9110 §8.8.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Comparison {
    /// Both strong and the same (`If-Match`, `If-Range`).
    Strong,
    /// The same, `W/` or not (`If-None-Match`).
    Weak,
}

/// Whether the entity-tag list `value` (`If-Match`, `If-None-Match`,
/// RFC 9110 §8.8.3, §13.1) is `*` or holds `tag` (a strong opaque tag
/// with its quotes) by `comparison`. A malformed list holds nothing from
/// the point where it breaks the grammar.
pub fn has_entity_tag(value: &[u8], tag: &[u8], comparison: Comparison) -> bool {
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
        let Some((weak, opaque, after)) = entity_tag(rest) else { return false };
        if opaque == tag && !(weak && comparison == Comparison::Strong) {
            return true;
        }
        let after = after.trim_ascii_start();
        if !(after.is_empty() || after[0] == b',') {
            return false;
        }
        rest = after;
    }
}

/// `[ W/ ] DQUOTE *etagc DQUOTE` at the start of `s`: whether it is weak,
/// the opaque tag (with its quotes) and what follows it.
fn entity_tag(s: &[u8]) -> Option<(bool, &[u8], &[u8])> {
    let (weak, s) = match s.strip_prefix(b"W/") {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let body = s.strip_prefix(b"\"")?;
    let close = body.iter().position(|&b| b == b'"')?;
    // etagc: %x21 / %x23-7E / obs-text (§8.8.3).
    let valid = body[..close].iter().all(|&b| b == 0x21 || b >= 0x23 && b != 0x7F);
    valid.then(|| {
        let (opaque, after) = s.split_at(close + 2);
        (weak, opaque, after)
    })
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
        use Comparison::{Strong, Weak};
        assert!(has_entity_tag(b"\"a\"", b"\"a\"", Weak));
        assert!(has_entity_tag(b" * ", b"\"a\"", Weak));
        assert!(has_entity_tag(b"W/\"x\", , \"a\"", b"\"a\"", Weak));
        assert!(has_entity_tag(b"\"x,y\",\"a\"", b"\"a\"", Weak), "a comma inside a tag");
        assert!(!has_entity_tag(b"\"x,\"a\"", b"\"a\"", Weak), "not a list of two tags");
        assert!(!has_entity_tag(b"\"a", b"\"a\"", Weak));
        assert!(!has_entity_tag(b"a", b"a", Weak));
        assert!(!has_entity_tag(b"\"x\" junk, \"a\"", b"\"a\"", Weak), "malformed from `junk` on");
        assert!(!has_entity_tag(b"\"a b\"", b"\"a b\"", Weak), "a space is not etagc");
        assert!(!has_entity_tag(b"w/\"a\"", b"\"a\"", Weak), "W/ is case-sensitive");
        assert!(has_entity_tag(b"W/\"x\", \"a\"", b"\"a\"", Strong));
        assert!(!has_entity_tag(b"W/\"a\"", b"\"a\"", Strong), "a weak tag never matches strongly");
        assert!(has_entity_tag(b"W/\"a\", \"a\"", b"\"a\"", Strong));
        assert!(has_entity_tag(b"*", b"\"a\"", Strong));
    }
}
