//! HTTP/1.x codecs: pure functions and types over byte slices, no sockets.

pub mod body;
pub mod body_channel;
pub mod body_waker;
pub mod date;
pub mod field;
pub mod head;
pub mod intake;
pub mod lex;
pub mod method;
pub mod multipart;
pub mod peer;
pub mod problem;
pub mod query;
pub mod reply;
pub mod request;
pub mod responder;
pub mod response;
pub mod sse;
pub mod status;
pub mod stream;
pub mod target;
pub mod tokens;
pub mod write;

/// The value of one hexadecimal digit.
fn hex_digit(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// `1*DIGIT` as a number: no sign, no whitespace, no overflow.
pub(crate) fn decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &d| {
        if !d.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}
