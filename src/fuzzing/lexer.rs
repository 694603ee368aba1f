//! The request-head lexer against `httparse`, which it replaced and must
//! agree with byte for byte (but for versions 1.2 to 1.9, read as 1.1,
//! and a `#` in the target, refused), and its CRLF-only mode against its lenient
//! one: a fuzzing oracle (under the `head` target) and the lexer's tests.

use std::mem::MaybeUninit;

use crate::http::lex::{lex, LexError};

/// What a parser made of a buffer, in terms both parsers share.
#[derive(Debug, PartialEq)]
enum Outcome {
    Partial,
    Error(LexError),
    Complete { method: String, target: String, minor: u8, headers: Vec<(String, Vec<u8>)>, len: usize },
}

fn ours(buf: &[u8], n: usize) -> Outcome {
    lexed(buf, n, true)
}

fn lexed(buf: &[u8], n: usize, bare_lf: bool) -> Outcome {
    let mut slots = vec![MaybeUninit::uninit(); n];
    match lex(buf, &mut slots, bare_lf) {
        Ok(None) => Outcome::Partial,
        Err(e) => Outcome::Error(e),
        Ok(Some((l, h))) => Outcome::Complete {
            method: l.method.as_str().into(),
            target: l.target.into(),
            // Read as 1.1 above 1.1, as httparse's version is, below.
            minor: l.minor.min(1),
            headers: h.iter().map(|h| (h.name.into(), h.value.into())).collect(),
            len: l.len,
        },
    }
}

fn reference(buf: &[u8], n: usize) -> Outcome {
    if fragment_in_target(buf) {
        return Outcome::Error(LexError::Malformed);
    }
    let mut slots = vec![MaybeUninit::uninit(); n];
    let mut req = httparse::Request::new(&mut []);
    match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Partial) => Outcome::Partial,
        Err(httparse::Error::TooManyHeaders) => Outcome::Error(LexError::TooManyHeaders),
        Err(httparse::Error::Version) => match read_as_1_1(buf) {
            Some(buf) => reference(&buf, n),
            None => Outcome::Error(LexError::Version),
        },
        Err(_) => Outcome::Error(LexError::Malformed),
        Ok(httparse::Status::Complete(len)) => Outcome::Complete {
            method: req.method.unwrap().into(),
            target: req.path.unwrap().into(),
            minor: req.version.unwrap(),
            headers: req.headers.iter().map(|h| (h.name.into(), h.value.into())).collect(),
            len,
        },
    }
}

/// Whether the request line's target, as far as it came, holds a `#`,
/// which the lexer refuses and httparse takes.
fn fragment_in_target(buf: &[u8]) -> bool {
    let Some(line) = buf.iter().position(|&b| b != b'\r' && b != b'\n') else { return false };
    let line = &buf[line..];
    let Some(space) = line.iter().position(|&b| b == b' ') else { return false };
    let target = &line[space + 1..];
    let end = target.iter().position(|&b| matches!(b, b' ' | b'\r' | b'\n')).unwrap_or(target.len());
    target[..end].contains(&b'#')
}

/// httparse refuses `HTTP/1.2` to `HTTP/1.9`, which a server of 1.1
/// reads as 1.1 (RFC 9110 §2.5): `buf` with such a version written as
/// `HTTP/1.1`, if it has one where httparse found a bad version (just
/// after the request line's second space).
fn read_as_1_1(buf: &[u8]) -> Option<Vec<u8>> {
    let line = buf.iter().position(|&b| b != b'\r' && b != b'\n')?;
    let version = buf[line..].iter().enumerate().filter(|&(_, &b)| b == b' ').nth(1)?.0 + line + 1;
    match buf.get(version..version + 8)? {
        [b'H', b'T', b'T', b'P', b'/', b'1', b'.', b'2'..=b'9'] => {
            let mut as_1_1 = buf.to_vec();
            as_1_1[version + 7] = b'1';
            Some(as_1_1)
        }
        _ => None,
    }
}

fn has_bare_lf(b: &[u8]) -> bool {
    b.iter().enumerate().any(|(i, &c)| c == b'\n' && (i == 0 || b[i - 1] != b'\r'))
}

/// CRLF-only lexing is the lenient one (httparse's) wherever no bare LF
/// is involved, and refuses what holds one.
fn check_strict(buf: &[u8], n: usize) {
    let strict = lexed(buf, n, false);
    let lenient = lexed(buf, n, true);
    let shown = || format!("{:?} with {n} slots", buf.escape_ascii().to_string());
    if !has_bare_lf(buf) {
        assert_eq!(strict, lenient, "{}", shown());
        return;
    }
    match &strict {
        Outcome::Complete { len, .. } => {
            assert_eq!(strict, lenient, "{}", shown());
            assert!(!has_bare_lf(&buf[..*len]), "a head with a bare LF: {}", shown());
        }
        Outcome::Partial => panic!("a bare LF went unnoticed: {}", shown()),
        Outcome::Error(e) => {
            assert!(strict == lenient || *e == LexError::Malformed, "{}", shown());
        }
    }
}

/// Fuzzing oracle: lexes `buf` with 0, 1, 2 and 16 header slots and
/// panics unless the lexer agrees with `httparse` and its CRLF-only mode
/// with its lenient one.
pub fn check_lexer(buf: &[u8]) {
    for n in [0, 1, 2, 16] {
        check_lexer_with(buf, n);
    }
}

fn check_lexer_with(buf: &[u8], n: usize) {
    assert_eq!(ours(buf, n), reference(buf, n), "{:?} with {n} slots", buf.escape_ascii().to_string());
    check_strict(buf, n);
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEEDS: &[&[u8]] = &[
        b"GET /plaintext HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
        b"\r\n\nPOST /a?b=c%20d HTTP/1.0\nContent-Length: 5\nX-Y:\t v \t\n\nhello",
        b"OPTIONS * HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-E:\r\nCookie: a=b; c=d\r\n\r\n",
        b"M-SEARCH /\xc3\xa9t\xc3\xa9 HTTP/1.1\r\nH\xc3\xa9: x\r\nObs: \xff\x80\r\n\r\n",
        // Targets and values longer than one sixteen-byte step, and tabs,
        // spaces and obs-text across the steps' edges.
        b"GET /a/long/path/to/some/file.html?with=a&query=string HTTP/1.1\r\n\
          User-Agent: Mozilla/5.0 (X11; Linux x86_64)\tGecko/20100101 \x80\xff Firefox/133.0  \r\n\
          Accept-Language: en-US,en;q=0.5\r\n\r\n",
    ];

    /// Bytes that sit on the edges of the grammar.
    const PROBES: &[u8] = b" \t\r\n:/?#%H.01a\x00\x7f\x80\xc3\xff\"!";

    #[test]
    fn crlf_only_refuses_bare_lf_and_otherwise_agrees() {
        for seed in SEEDS {
            for end in 0..=seed.len() {
                for n in [0, 1, 16] {
                    check_strict(&seed[..end], n);
                }
            }
        }
        let mut slots = [MaybeUninit::uninit(); 4];
        for bad in [
            &b"GET / HTTP/1.1\nHost: a\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\nX: a\nHost: a\r\n\r\n",
            b"\nGET / HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n\n",
        ] {
            assert_eq!(
                lex(bad, &mut slots, false).err(),
                Some(LexError::Malformed),
                "{:?}",
                bad.escape_ascii().to_string()
            );
            assert!(lex(bad, &mut slots, true).is_ok());
        }
    }

    #[test]
    fn agrees_with_httparse_on_every_prefix_of_the_seeds() {
        for seed in SEEDS {
            for end in 0..=seed.len() {
                check_lexer(&seed[..end]);
            }
        }
    }

    #[test]
    fn agrees_with_httparse_on_a_million_mutants() {
        // xorshift: deterministic, so a failure reproduces.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut buf = Vec::new();
        for round in 0..1_000_000 {
            buf.clear();
            buf.extend_from_slice(SEEDS[round % SEEDS.len()]);
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % (buf.len() + 1);
                let probe = PROBES[(next() as usize) % PROBES.len()];
                match next() % 3 {
                    0 if at < buf.len() => buf[at] = probe,
                    1 if at < buf.len() => {
                        buf.remove(at);
                    }
                    _ => buf.insert(at, probe),
                }
            }
            check_lexer_with(&buf, (next() % 4) as usize);
        }
    }
}
