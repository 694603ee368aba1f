//! Request body framing: `Transfer-Encoding` validation and an incremental
//! chunked decoder (RFC 9112 §7.1). Pure functions over byte slices.

use super::hex_digit;
use super::lex::TCHAR;

/// Longest chunk-size line (size, extensions) accepted.
const MAX_CHUNK_LINE: usize = 4096;
/// Most trailer bytes accepted after the last chunk.
const MAX_TRAILERS: usize = 8192;

/// Why a chunked body was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChunkError {
    /// Not valid chunked framing (answered 400).
    Malformed,
    /// The sink refused the data: the body is over the limit (413).
    TooLarge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Hex digits of a chunk size; `any` once one was seen.
    Size { any: bool },
    /// Whitespace after the size, which only an extension may follow
    /// (`BWS ";"`, RFC 9112 §7.1.1).
    SizeWs,
    /// In a chunk extension (RFC 9112 §7.1.1), up to CR.
    Extension(Ext),
    /// Expecting the LF of the size line.
    SizeLf,
    /// Inside chunk data, this many bytes to go.
    Data,
    /// Expecting CR after chunk data.
    DataCr,
    /// Expecting LF after chunk data.
    DataLf,
    /// At the start of a trailer line (or the final empty line).
    TrailerStart,
    /// In a trailer field's name, up to its colon.
    TrailerName,
    /// In a trailer field's value, up to CR.
    TrailerValue,
    /// Expecting LF ending a trailer line.
    TrailerLf,
    /// Expecting the LF of the final empty line.
    EndLf,
    /// The body is complete.
    Done,
}

/// Where a chunk extension stands: `*( BWS ";" BWS name [ BWS "=" BWS
/// value ] )`, a name a token, a value a token or a quoted string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ext {
    /// After `;`: whitespace, then a name.
    NameStart,
    Name,
    /// Whitespace after a name: `=`, or `;` for the next.
    AfterName,
    /// After `=`: whitespace, then a value.
    ValueStart,
    Token,
    Quoted,
    /// After a `\` in a quoted string.
    QuotedPair,
    /// Right after a quoted string's closing quote.
    Closed,
    /// Whitespace after a value: `;` for the next.
    AfterValue,
}

/// Decodes a chunked body as it arrives, in any fragmentation.
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: State,
    size: u64,
    line: usize,
    trailers: usize,
}

impl Default for ChunkedDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkedDecoder {
    /// A decoder at the start of a body.
    pub const fn new() -> Self {
        ChunkedDecoder { state: State::Size { any: false }, size: 0, line: 0, trailers: 0 }
    }

    /// Whether the final chunk and trailers were read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Bytes of the current chunk still to come (0 between chunks).
    pub fn data_left(&self) -> u64 {
        if self.state == State::Data {
            self.size
        } else {
            0
        }
    }

    /// Decodes from `input`, passing chunk data to `sink` (which refuses
    /// data over the limit). Returns how many input bytes were used; stops
    /// right after the body ends, so bytes after it (a pipelined request)
    /// are left.
    pub fn decode(
        &mut self,
        input: &[u8],
        sink: &mut impl FnMut(&[u8]) -> Result<(), ChunkError>,
    ) -> Result<usize, ChunkError> {
        let mut i = 0;
        while i < input.len() && self.state != State::Done {
            if self.state == State::Data {
                let n = (input.len() - i).min(usize::try_from(self.size).unwrap_or(usize::MAX));
                sink(&input[i..i + n])?;
                i += n;
                self.size -= n as u64;
                if self.size == 0 {
                    self.state = State::DataCr;
                }
                continue;
            }
            self.step(input[i])?;
            i += 1;
        }
        Ok(i)
    }

    /// One framing byte.
    fn step(&mut self, b: u8) -> Result<(), ChunkError> {
        use ChunkError::Malformed;
        self.state = match self.state {
            State::Size { any } => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE {
                    return Err(Malformed);
                }
                match (hex_digit(b), b) {
                    (Some(d), _) => {
                        self.size = self.size.checked_mul(16).ok_or(Malformed)? | u64::from(d);
                        State::Size { any: true }
                    }
                    (None, b';') if any => State::Extension(Ext::NameStart),
                    (None, b' ' | b'\t') if any => State::SizeWs,
                    (None, b'\r') if any => State::SizeLf,
                    _ => return Err(Malformed),
                }
            }
            State::SizeWs => {
                self.line += 1;
                match b {
                    _ if self.line > MAX_CHUNK_LINE => return Err(Malformed),
                    b' ' | b'\t' => State::SizeWs,
                    b';' => State::Extension(Ext::NameStart),
                    _ => return Err(Malformed),
                }
            }
            State::Extension(ext) => {
                self.line += 1;
                if self.line > MAX_CHUNK_LINE {
                    return Err(Malformed);
                }
                ext_step(ext, b).ok_or(Malformed)?
            }
            State::SizeLf if b == b'\n' => {
                self.line = 0;
                if self.size == 0 {
                    State::TrailerStart
                } else {
                    State::Data
                }
            }
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => {
                self.size = 0;
                State::Size { any: false }
            }
            State::TrailerStart
            | State::TrailerName
            | State::TrailerValue
            | State::TrailerLf
            | State::EndLf => self.trailer_step(b)?,
            _ => return Err(Malformed),
        };
        Ok(())
    }

    /// Trailer fields are ignored, but held to the syntax of header
    /// fields (RFC 9112 §7.1.2, §5): a token, a colon with nothing before
    /// it, a value of visible bytes, spaces and tabs; no line folding. Their
    /// size is bounded.
    fn trailer_step(&mut self, b: u8) -> Result<State, ChunkError> {
        self.trailers += 1;
        if self.trailers > MAX_TRAILERS {
            return Err(ChunkError::Malformed);
        }
        let value_byte = b == b'\t' || (b' '..=0x7e).contains(&b) || b >= 0x80;
        Ok(match (self.state, b) {
            (State::TrailerStart, b'\r') => State::EndLf,
            (State::EndLf, b'\n') => State::Done,
            (State::TrailerStart | State::TrailerName, b) if TCHAR.contains(b) => State::TrailerName,
            (State::TrailerName, b':') => State::TrailerValue,
            (State::TrailerValue, b'\r') => State::TrailerLf,
            (State::TrailerValue, _) if value_byte => State::TrailerValue,
            (State::TrailerLf, b'\n') => State::TrailerStart,
            _ => return Err(ChunkError::Malformed),
        })
    }
}

/// One byte of a chunk extension: the next state, or `None` if the
/// extension is malformed (400: a proxy could read it otherwise).
fn ext_step(ext: Ext, b: u8) -> Option<State> {
    let ws = b == b' ' || b == b'\t';
    let token = TCHAR.contains(b);
    Some(State::Extension(match (ext, b) {
        (Ext::Name | Ext::Token | Ext::Closed, b'\r') => return Some(State::SizeLf),
        (Ext::NameStart | Ext::ValueStart | Ext::AfterName | Ext::AfterValue, _) if ws => ext,
        (Ext::NameStart | Ext::Name, _) if token => Ext::Name,
        (Ext::Name, _) if ws => Ext::AfterName,
        (Ext::Token | Ext::Closed, _) if ws => Ext::AfterValue,
        (Ext::Name | Ext::AfterName, b'=') => Ext::ValueStart,
        (Ext::Name | Ext::AfterName | Ext::Token | Ext::Closed | Ext::AfterValue, b';') => Ext::NameStart,
        (Ext::ValueStart, b'"') => Ext::Quoted,
        (Ext::ValueStart | Ext::Token, _) if token => Ext::Token,
        (Ext::Quoted, b'"') => Ext::Closed,
        (Ext::Quoted, b'\\') => Ext::QuotedPair,
        // qdtext: HTAB, SP, visible ASCII but `"` and `\`, obs-text.
        (Ext::Quoted, _) if ws || (0x21..=0x7e).contains(&b) || b >= 0x80 => Ext::Quoted,
        // quoted-pair: `\` then HTAB, SP, VCHAR or obs-text.
        (Ext::QuotedPair, _) if ws || (0x21..=0x7e).contains(&b) || b >= 0x80 => Ext::Quoted,
        _ => return None,
    }))
}

/// What a `Transfer-Encoding` field list asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Coding {
    /// Exactly `chunked`: decodable.
    Chunked,
    /// A coding we do not decode, under a final `chunked` (501, RFC 9112
    /// §6.1): the body's end can be found, its content not decoded.
    Unsupported,
    /// An empty list, `chunked` twice, or no final `chunked` (a coding
    /// alone too), so the body's end cannot be found: a request gets 400
    /// and a close (RFC 9112 §6.3, item 4).
    Invalid,
}

/// Accumulates the codings of one or more `Transfer-Encoding` fields.
#[derive(Debug, Default, Clone, Copy)]
pub struct CodingList {
    any: bool,
    chunked: usize,
    last_chunked: bool,
    other: bool,
}

impl CodingList {
    /// Adds one field value (a comma-separated list).
    pub fn add(&mut self, value: &[u8]) {
        for token in super::tokens::list(value) {
            self.any = true;
            self.last_chunked = token.eq_ignore_ascii_case(b"chunked");
            if self.last_chunked {
                self.chunked += 1;
            } else {
                self.other = true;
            }
        }
    }

    /// What the codings seen so far ask for.
    pub fn coding(&self) -> Coding {
        match (self.any, self.chunked, self.last_chunked, self.other) {
            (false, ..) => Coding::Invalid,
            (_, c, _, _) if c > 1 => Coding::Invalid,
            (_, _, false, _) => Coding::Invalid,
            (_, _, true, false) => Coding::Chunked,
            (_, _, true, true) => Coding::Unsupported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `step` bytes; returns the data and
    /// the bytes left after the body.
    fn decode_in_steps(input: &[u8], step: usize, limit: usize) -> Result<(Vec<u8>, usize), ChunkError> {
        let mut d = ChunkedDecoder::new();
        let mut out = Vec::new();
        let mut sink = |data: &[u8]| {
            if out.len() + data.len() > limit {
                return Err(ChunkError::TooLarge);
            }
            out.extend_from_slice(data);
            Ok(())
        };
        let mut at = 0;
        while at < input.len() && !d.is_done() {
            let piece = &input[at..(at + step).min(input.len())];
            let used = d.decode(piece, &mut sink)?;
            at += used;
            if used < piece.len() {
                break; // the body ended inside this piece
            }
        }
        if !d.is_done() {
            return Err(ChunkError::Malformed);
        }
        Ok((out, input.len() - at))
    }

    #[test]
    fn decodes_in_any_fragmentation() {
        let body = b"5\r\nhello\r\n1;ext=1\r\n \r\nA \t;e\r\n0123456789\r\n0\r\nTrailer: x\r\nX-Empty:\r\nX-Obs:\t\xe9 v \r\n\r\nGET";
        for step in 1..body.len() {
            let (data, left) = decode_in_steps(body, step, 1 << 20).unwrap();
            assert_eq!(data, b"hello 0123456789", "step {step}");
            assert_eq!(left, 3, "step {step}");
        }
    }

    #[test]
    fn rejects_malformed_framing() {
        for bad in [
            &b"x\r\n"[..],
            b"\r\n",
            b";ext\r\n",
            b"5\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloX\r\n0\r\n\r\n",
            b"5\r\nhello\r\n0\r\n\n",
            b"ffffffffffffffffff\r\n",
            b"-5\r\nhello\r\n0\r\n\r\n",
            b"0\r\nBad\nTrailer\r\n\r\n",
            b"0\r\nBad Trailer\r\n\r\n",
            b"0\r\nX : a\r\n\r\n",
            b"0\r\n X: a\r\n\r\n",
            b"0\r\nX: a\r\n folded\r\n\r\n",
            b"0\r\n: a\r\n\r\n",
            b"0\r\nX: a\x00b\r\n\r\n",
            b"0\r\nX: a\rb\r\n\r\n",
            b"5 5\r\nhello\r\n0\r\n\r\n",
            b"5 junk\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",
        ] {
            assert_eq!(decode_in_steps(bad, 1, 1 << 20), Err(ChunkError::Malformed), "{bad:?}");
        }
        let long_ext = format!("1;{}\r\nx\r\n0\r\n\r\n", "e".repeat(MAX_CHUNK_LINE));
        assert_eq!(decode_in_steps(long_ext.as_bytes(), 64, 1 << 20), Err(ChunkError::Malformed));
    }

    #[test]
    fn chunk_extensions_follow_their_grammar() {
        // RFC 9112 §7.1.1: *( BWS ";" BWS token [ BWS "=" BWS ( token / quoted-string ) ] )
        let body = |line: &[u8]| [line, b"hello\r\n0\r\n\r\n"].concat();
        for good in [
            &b"5;a\r\n"[..],
            b"5;a=b\r\n",
            b"5 ;a\r\n",
            b"5; a = b ;c;d=\"\"\r\n",
            b"5;a=\"x\" ;b\r\n",
            b"5;a=\"x y;z=\\\"q\\\\\"\r\n",
            b"5;a=\"\t\x80\xff\"\r\n",
            b"5;!#$%&'*+-.^_`|~=1\r\n",
        ] {
            let body = body(good);
            for step in [1, 3, body.len()] {
                let got = decode_in_steps(&body, step, 1 << 20);
                assert_eq!(
                    got,
                    Ok((b"hello".to_vec(), 0)),
                    "{:?} in steps of {step}",
                    good.escape_ascii().to_string()
                );
            }
        }
        for bad in [
            &b"5;\r\n"[..],
            b"5;;\r\n",
            b"5;=v\r\n",
            b"5;a b\r\n",
            b"5;a=\r\n",
            b"5;a=v\"\r\n",
            b"5;a=\"open\r\n",
            b"5;a=\"x\"y\r\n",
            b"5;a=\x80\r\n",
            b"5;\x01\r\n",
            b"5;a\x7f\r\n",
            b"5;a=\"\x7f\"\r\n",
            b"5;a \r\n",
            b"5;a=b \r\n",
            b"5;(a)\r\n",
        ] {
            let got = decode_in_steps(&body(bad), 1, 1 << 20);
            assert_eq!(got, Err(ChunkError::Malformed), "{:?}", bad.escape_ascii().to_string());
        }
    }

    #[test]
    fn limit_is_enforced_by_the_sink() {
        assert_eq!(decode_in_steps(b"5\r\nhello\r\n0\r\n\r\n", 4, 4), Err(ChunkError::TooLarge));
    }

    #[test]
    fn transfer_codings() {
        let coding = |values: &[&[u8]]| {
            let mut list = CodingList::default();
            values.iter().for_each(|v| list.add(v));
            list.coding()
        };
        assert_eq!(coding(&[b"chunked"]), Coding::Chunked);
        assert_eq!(coding(&[b" Chunked "]), Coding::Chunked);
        assert_eq!(coding(&[b"gzip, chunked"]), Coding::Unsupported);
        assert_eq!(coding(&[b"chunked, gzip"]), Coding::Invalid);
        assert_eq!(coding(&[b"chunked", b"gzip"]), Coding::Invalid);
        // No final chunked: the body's end is unknown (RFC 9112 §6.3).
        assert_eq!(coding(&[b"gzip"]), Coding::Invalid);
        assert_eq!(coding(&[b"identity"]), Coding::Invalid);
        assert_eq!(coding(&[b"chunked", b"chunked"]), Coding::Invalid);
        assert_eq!(coding(&[b""]), Coding::Invalid);
        assert_eq!(coding(&[b"gzip", b"chunked"]), Coding::Unsupported);
    }
}
