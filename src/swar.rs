//! Eight bytes at a time: flags for classes of bytes in a 64-bit word
//! (SIMD within a register), for the short scans of heads and fields.
//! Safe code only: the one SSE2 compare used on x86-64 is in `sys`.
//!
//! Each function sets bit 7 of every byte of `w` in the class. A flag can
//! also appear, through a borrow, on a byte *above* a flagged one, never
//! below: so "any flag" and "lowest flag" are exact, and that is all the
//! callers use.

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The first eight bytes of `bytes` as a little-endian word (byte 0 lowest).
#[inline(always)]
pub fn word(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"))
}

/// Flags the bytes of `w` below `n` (`n` ≤ 128).
#[inline(always)]
pub fn below(w: u64, n: u8) -> u64 {
    w.wrapping_sub(ONES * u64::from(n)) & !w & HIGHS
}

/// Flags the bytes of `w` equal to `b`.
#[inline(always)]
pub fn equal(w: u64, b: u8) -> u64 {
    below(w ^ (ONES * u64::from(b)), 1)
}

/// Whether any byte of `bytes` is in a class: `flags` flags a word's
/// bytes in it, eight at a time, and `is_in` decides bytes one by one
/// when there are fewer than eight. No early exit, so no branch per word.
#[inline(always)]
pub fn any(bytes: &[u8], flags: impl Fn(u64) -> u64, is_in: impl Fn(u8) -> bool) -> bool {
    if bytes.len() < 8 {
        return bytes.iter().any(|&b| is_in(b));
    }
    // The last eight bytes cover the remainder (overlapping is harmless).
    let last = flags(word(&bytes[bytes.len() - 8..]));
    bytes.chunks_exact(8).fold(last, |found, c| found | flags(word(c))) != 0
}

/// Index of the first byte of `block` below `n` (`n` ≤ 128) or equal to
/// DEL: the stops of a request target or a field value. One SSE2 compare
/// of all sixteen on x86-64, two words elsewhere.
#[inline(always)]
pub fn first_below_or_del(block: &[u8; 16], n: u8) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    {
        let flags = crate::sys::sse2_below_or_del(block, n);
        (flags != 0).then(|| flags.trailing_zeros() as usize)
    }
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    {
        first_below_or_del_in_words(block, n)
    }
}

/// [`first_below_or_del`] in two words, where there is no SSE2 (and in
/// the tests, against it).
#[cfg_attr(all(target_arch = "x86_64", target_feature = "sse2"), allow(dead_code))]
#[inline(always)]
fn first_below_or_del_in_words(block: &[u8; 16], n: u8) -> Option<usize> {
    let flags = |w| below(w, n) | equal(w, 0x7f);
    match (flags(word(&block[..8])), flags(word(&block[8..]))) {
        (0, 0) => None,
        (0, hi) => Some(8 + first(hi)),
        (lo, _) => Some(first(lo)),
    }
}

/// Index of the byte the lowest flag marks (`flags` non-zero).
#[inline(always)]
pub fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_agrees_with_a_byte_loop_at_every_length_and_position() {
        for len in 0..20 {
            for pos in 0..len {
                for probe in [0u8, b'\r', 0x7f, 0x80, 0xff, b'a'] {
                    let mut bytes = vec![b'a'; len];
                    bytes[pos] = probe;
                    let naive = bytes.iter().any(|&b| b >= 0x80);
                    assert_eq!(
                        any(&bytes, |w| w & 0x8080_8080_8080_8080, |b| b >= 0x80),
                        naive,
                        "len {len}, {probe:#04x} at {pos}"
                    );
                }
            }
        }
    }

    #[test]
    fn first_below_or_del_finds_the_first_stop_at_every_position() {
        for pos in 0..16 {
            for b in 0..=255u8 {
                // A later byte that is a stop, or high but not one.
                for last in [b'a', b'\r', 0xff] {
                    let mut block = [b'a'; 16];
                    block[15] = last;
                    block[pos] = b;
                    for n in [b' ', b'!', b'$'] {
                        let want = block.iter().position(|&x| x < n || x == 0x7f);
                        assert_eq!(first_below_or_del(&block, n), want, "{block:?} below {n:#x}");
                        assert_eq!(first_below_or_del_in_words(&block, n), want, "{block:?} below {n:#x}");
                    }
                }
            }
        }
    }

    #[test]
    fn lowest_flag_and_any_flag_are_exact() {
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = [b'a'; 8];
                bytes[pos] = b;
                let w = word(&bytes);
                for n in [1u8, 0x20, 0x21, 0x24, 0x80] {
                    let want = bytes.iter().position(|&x| x < n);
                    let flags = below(w, n);
                    assert_eq!((flags != 0).then(|| first(flags)), want, "{bytes:?} below {n:#x}");
                }
                let want = bytes.iter().position(|&x| x == b'?');
                let flags = equal(w, b'?');
                assert_eq!((flags != 0).then(|| first(flags)), want, "{bytes:?} equal '?'");
            }
        }
    }
}
