//! The opening handshake (RFC 6455 §4.2): checks a client's upgrade request
//! and computes `Sec-WebSocket-Accept`, on the stack.

use crate::http::request::{Method, Request, Version};
use crate::http::status::StatusCode;
use crate::http::tokens;

/// The GUID every accept key is derived with (§1.3).
const GUID: &[u8; 36] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The length of a `Sec-WebSocket-Accept` value: base64 of a SHA-1 digest.
pub const ACCEPT_LEN: usize = 28;

/// Why a request is not a WebSocket handshake this server accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// Not a valid handshake: answered `400`.
    BadRequest(&'static str),
    /// A WebSocket version other than 13: answered `426` with
    /// `Sec-WebSocket-Version: 13`.
    UnsupportedVersion,
}

impl Rejection {
    /// The status the request is answered with.
    pub fn status(self) -> StatusCode {
        match self {
            Rejection::BadRequest(_) => StatusCode::BAD_REQUEST,
            Rejection::UnsupportedVersion => StatusCode::UPGRADE_REQUIRED,
        }
    }
}

/// Checks `req` as an opening handshake; returns the accept value.
pub fn accept(req: &Request<'_>) -> Result<[u8; ACCEPT_LEN], Rejection> {
    use Rejection::BadRequest;
    if req.method() != Method::Get {
        return Err(BadRequest("a WebSocket handshake must be a GET"));
    }
    if req.version() != Version::Http11 {
        return Err(BadRequest("a WebSocket handshake needs HTTP/1.1"));
    }
    let headers = req.headers();
    if !headers.get_all("upgrade").any(|v| tokens::has(v, b"websocket")) {
        return Err(BadRequest("no `Upgrade: websocket`"));
    }
    if !headers.get_all("connection").any(|v| tokens::has(v, b"upgrade")) {
        return Err(BadRequest("`Connection` does not list `upgrade`"));
    }
    let mut versions = headers.get_all("sec-websocket-version");
    if !(versions.next().is_some_and(|v| v.trim_ascii() == b"13") && versions.next().is_none()) {
        return Err(Rejection::UnsupportedVersion);
    }
    let mut keys = headers.get_all("sec-websocket-key");
    let key = match (keys.next(), keys.next()) {
        (Some(k), None) => k.trim_ascii(),
        _ => return Err(BadRequest("not exactly one `Sec-WebSocket-Key`")),
    };
    if !is_nonce(key) {
        return Err(BadRequest("`Sec-WebSocket-Key` is not 16 bytes in base64"));
    }
    Ok(accept_key(key))
}

/// `base64(SHA-1(key ++ GUID))` (§4.2.2).
pub fn accept_key(key: &[u8]) -> [u8; ACCEPT_LEN] {
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(GUID);
    base64_20(&sha.digest().bytes())
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Whether `key` is the base64 of 16 bytes: 22 symbols and `==`, the last
/// symbol carrying no bits beyond the 128 (canonical encoding).
fn is_nonce(key: &[u8]) -> bool {
    let [body @ .., last, b'=', b'='] = key else { return false };
    body.len() == 21
        && body.iter().all(|b| ALPHABET.contains(b))
        && ALPHABET.iter().position(|b| b == last).is_some_and(|v| v & 0x0F == 0)
}

/// Base64 of a 20-byte digest: 27 symbols and one `=`.
fn base64_20(bytes: &[u8; 20]) -> [u8; ACCEPT_LEN] {
    let mut out = [b'='; ACCEPT_LEN];
    let mut padded = [0u8; 21];
    padded[..20].copy_from_slice(bytes);
    for (i, chunk) in padded.chunks_exact(3).enumerate() {
        let n = u32::from(chunk[0]) << 16 | u32::from(chunk[1]) << 8 | u32::from(chunk[2]);
        for j in 0..4 {
            let pos = i * 4 + j;
            if pos < 27 {
                out[pos] = ALPHABET[(n >> (18 - 6 * j) & 0x3F) as usize];
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6455_example_key() {
        // RFC 6455 §1.3.
        assert_eq!(&accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn nonces() {
        assert!(is_nonce(b"dGhlIHNhbXBsZSBub25jZQ=="));
        assert!(is_nonce(b"AAAAAAAAAAAAAAAAAAAAAA=="));
        assert!(!is_nonce(b"dGhlIHNhbXBsZSBub25jZQ="), "too short");
        assert!(!is_nonce(b"dGhlIHNhbXBsZSBub25jZR=="), "bits beyond 16 bytes");
        assert!(!is_nonce(b"dGhlIHNhbXBsZSBub25j*Q=="), "not base64");
        assert!(!is_nonce(b"dGhlIHNhbXBsZSBub25jZQdGhl"), "no padding");
    }

    #[test]
    fn tokens() {
        assert!(tokens::has(b"keep-alive, Upgrade", b"upgrade"));
        assert!(tokens::has(b"WebSocket", b"websocket"));
        assert!(!tokens::has(b"upgrades", b"upgrade"));
    }
}
