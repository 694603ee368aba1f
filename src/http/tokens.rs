//! Comma-separated lists in field values (RFC 9110 §5.6.1, `#element`):
//! `Connection`, `Transfer-Encoding`, `Content-Length` repeated in one
//! field, `Upgrade`, `If-None-Match`. One iterator for all of them.

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
}
