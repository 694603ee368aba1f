//! `Range: bytes=…` for one range (RFC 9110 §14).

use crate::http::{decimal, tokens};

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteRange {
    /// No usable single range: send the whole representation (also for
    /// several ranges, units other than bytes, or a malformed header).
    Whole,
    /// Bytes `start..=end`.
    Part { start: u64, end: u64 },
    /// No byte of it exists: 416.
    Unsatisfiable,
}

/// Interprets a `Range` value for a representation of `size` bytes
/// (`bytes=` and one range-spec, RFC 9110 §14.1.1; the unit is
/// case-insensitive, list elements may be empty or spaced).
pub fn parse(value: &[u8], size: u64) -> ByteRange {
    let Some(eq) = value.iter().position(|&b| b == b'=') else { return ByteRange::Whole };
    if !value[..eq].eq_ignore_ascii_case(b"bytes") {
        return ByteRange::Whole;
    }
    let mut specs = tokens::list(&value[eq + 1..]);
    let (Some(spec), None) = (specs.next(), specs.next()) else {
        // None, or several: the whole representation is a valid answer.
        return ByteRange::Whole;
    };
    let Some(dash) = spec.iter().position(|&b| b == b'-') else { return ByteRange::Whole };
    let (first, last) = (&spec[..dash], &spec[dash + 1..]);
    match (position(first), position(last)) {
        // `-n`: the last n bytes. Of an empty representation, that is all
        // of it (satisfiable, §14.1.1, but no byte to name in a 206).
        (None, Some(n)) if first.is_empty() => match n {
            0 => ByteRange::Unsatisfiable,
            _ if size == 0 => ByteRange::Whole,
            n => ByteRange::Part { start: size.saturating_sub(n), end: size - 1 },
        },
        // `a-`: from a to the end.
        (Some(a), None) if last.is_empty() => part(a, u64::MAX, size),
        // Compared as written: two positions past u64 both read as MAX.
        (Some(a), Some(b)) if not_after(first, last) => part(a, b, size),
        _ => ByteRange::Whole,
    }
}

/// A position in a range-spec. One past `u64` is a position past the end
/// of any representation, not a malformed header: a last-pos that large
/// is cut to the end, a suffix that long is the whole representation, and
/// a first-pos that large cannot be satisfied (§14.1.1).
fn position(digits: &[u8]) -> Option<u64> {
    let past_u64 = || !digits.is_empty() && digits.iter().all(u8::is_ascii_digit);
    decimal(digits).or_else(|| past_u64().then_some(u64::MAX))
}

/// Whether the decimal `a` is at most `b`, however long either is.
fn not_after(a: &[u8], b: &[u8]) -> bool {
    fn significant(d: &[u8]) -> &[u8] {
        &d[d.iter().take_while(|&&c| c == b'0').count()..]
    }
    let (a, b) = (significant(a), significant(b));
    (a.len(), a) <= (b.len(), b)
}

fn part(start: u64, end: u64, size: u64) -> ByteRange {
    if start >= size {
        return ByteRange::Unsatisfiable;
    }
    ByteRange::Part { start, end: end.min(size - 1) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse(b"bytes=0-9", 100), ByteRange::Part { start: 0, end: 9 });
        assert_eq!(parse(b"bytes=90-200", 100), ByteRange::Part { start: 90, end: 99 });
        assert_eq!(parse(b"bytes=50-", 100), ByteRange::Part { start: 50, end: 99 });
        assert_eq!(parse(b"bytes=-10", 100), ByteRange::Part { start: 90, end: 99 });
        assert_eq!(parse(b"bytes=-500", 100), ByteRange::Part { start: 0, end: 99 });
        assert_eq!(parse(b"bytes=100-", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse(b"bytes=-0", 100), ByteRange::Unsatisfiable);
        assert_eq!(parse(b"bytes=0-0", 0), ByteRange::Unsatisfiable);
        assert_eq!(parse(b"bytes=-5", 0), ByteRange::Whole);
        assert_eq!(parse(b"Bytes=0-9", 100), ByteRange::Part { start: 0, end: 9 });
        assert_eq!(parse(b"bytes=, 0-9 ,", 100), ByteRange::Part { start: 0, end: 9 });
    }

    #[test]
    fn everything_else_is_the_whole_file() {
        for v in [
            &b"bytes=0-1,5-6"[..],
            b"items=0-1",
            b"bytes=0 -1",
            b"bytes =0-1",
            b"bytes=+0-1",
            b"bytes=0-1-",
            b"bytes=9-1",
            b"bytes=x-1",
            b"bytes=",
            b"bytes=-",
            b"0-1",
        ] {
            assert_eq!(parse(v, 100), ByteRange::Whole, "{:?}", String::from_utf8_lossy(v));
        }
    }

    #[test]
    fn positions_past_u64_are_past_the_end_not_malformed() {
        let huge = "99999999999999999999999";
        let cases = [
            (format!("bytes=0-{huge}"), ByteRange::Part { start: 0, end: 99 }),
            (format!("bytes=-{huge}"), ByteRange::Part { start: 0, end: 99 }),
            (format!("bytes={huge}-"), ByteRange::Unsatisfiable),
            (format!("bytes={huge}-{huge}"), ByteRange::Unsatisfiable),
            ("bytes=18446744073709551616-".to_string(), ByteRange::Unsatisfiable),
            (format!("bytes={huge}-5"), ByteRange::Whole),
            // First past last, both past u64: no valid range-spec.
            ("bytes=18446744073709551617-18446744073709551616".to_string(), ByteRange::Whole),
            ("bytes=0018446744073709551616-18446744073709551616".to_string(), ByteRange::Unsatisfiable),
            (format!("bytes=0-{huge}x"), ByteRange::Whole),
        ];
        for (value, want) in cases {
            assert_eq!(parse(value.as_bytes(), 100), want, "{value}");
        }
    }
}
