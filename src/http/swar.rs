//! Eight bytes at a time: flags for classes of bytes in a 64-bit word
//! (SIMD within a register), for the short scans of heads and fields.
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

/// Index of the byte the lowest flag marks (`flags` non-zero).
#[inline(always)]
pub fn first(flags: u64) -> usize {
    (flags.trailing_zeros() / 8) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowest_flag_and_any_flag_are_exact() {
        for pos in 0..8 {
            for b in 0..=255u8 {
                let mut bytes = [b'a'; 8];
                bytes[pos] = b;
                let w = word(&bytes);
                for n in [1u8, 0x20, 0x21, 0x80] {
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
