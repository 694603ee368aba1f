//! `Range: bytes=…` for one range (RFC 9110 §14).

use crate::http::decimal;

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

/// Interprets a `Range` value for a representation of `size` bytes.
pub fn parse(value: &[u8], size: u64) -> ByteRange {
    let Some(spec) = value.trim_ascii().strip_prefix(b"bytes=") else {
        return ByteRange::Whole;
    };
    if spec.contains(&b',') {
        return ByteRange::Whole; // several ranges: the whole file is a valid answer
    }
    let Some(dash) = spec.iter().position(|&b| b == b'-') else {
        return ByteRange::Whole;
    };
    let (first, last) = (spec[..dash].trim_ascii(), spec[dash + 1..].trim_ascii());
    match (decimal(first), decimal(last)) {
        // `-n`: the last n bytes.
        (None, Some(n)) if first.is_empty() => match n {
            0 => ByteRange::Unsatisfiable,
            _ if size == 0 => ByteRange::Unsatisfiable,
            n => ByteRange::Part { start: size.saturating_sub(n), end: size - 1 },
        },
        // `a-`: from a to the end.
        (Some(a), None) if last.is_empty() => part(a, u64::MAX, size),
        (Some(a), Some(b)) if a <= b => part(a, b, size),
        _ => ByteRange::Whole,
    }
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
    }

    #[test]
    fn everything_else_is_the_whole_file() {
        for v in
            [&b"bytes=0-1,5-6"[..], b"items=0-1", b"bytes=9-1", b"bytes=x-1", b"bytes=", b"bytes=-", b"0-1"]
        {
            assert_eq!(parse(v, 100), ByteRange::Whole, "{:?}", String::from_utf8_lossy(v));
        }
        assert_eq!(parse(b"bytes=99999999999999999999999-", 100), ByteRange::Whole);
    }
}
