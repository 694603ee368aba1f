//! RFC 6455 §5 framing: header parsing with every rule a server enforces,
//! server-frame headers (never masked), and unmasking. No sockets here.

use super::CloseCode;

/// Frame opcodes (RFC 6455 §5.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Opcode {
    /// The next fragment of a message.
    Continuation,
    /// The first (or only) frame of a text message.
    Text,
    /// The first (or only) frame of a binary message.
    Binary,
    /// Close.
    Close,
    /// Ping.
    Ping,
    /// Pong.
    Pong,
}

impl Opcode {
    pub(crate) fn from_bits(bits: u8) -> Option<Self> {
        Some(match bits {
            0x0 => Opcode::Continuation,
            0x1 => Opcode::Text,
            0x2 => Opcode::Binary,
            0x8 => Opcode::Close,
            0x9 => Opcode::Ping,
            0xA => Opcode::Pong,
            _ => return None,
        })
    }

    /// The 4-bit opcode.
    pub fn bits(self) -> u8 {
        match self {
            Opcode::Continuation => 0x0,
            Opcode::Text => 0x1,
            Opcode::Binary => 0x2,
            Opcode::Close => 0x8,
            Opcode::Ping => 0x9,
            Opcode::Pong => 0xA,
        }
    }

    /// Close, ping and pong: never fragmented, at most 125 bytes.
    pub fn is_control(self) -> bool {
        matches!(self, Opcode::Close | Opcode::Ping | Opcode::Pong)
    }
}

/// A client frame's header, checked against the rules that do not depend
/// on the connection's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHead {
    /// The final fragment of its message.
    pub fin: bool,
    /// What the frame carries.
    pub opcode: Opcode,
    /// The client's masking key.
    pub mask: [u8; 4],
    /// Bytes of header, payload follows.
    pub header_len: usize,
    /// Bytes of payload.
    pub payload_len: u64,
}

/// Largest header a frame can have: 2 + 8 (64-bit length) + 4 (mask).
pub const MAX_HEADER: usize = 14;

/// Largest payload of a control frame.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Parses the header of a client frame at the start of `buf`: `Ok(None)`
/// until it is all there, the close code to fail the connection with if
/// it breaks a rule, `1009` if it is a data frame whose payload alone
/// exceeds `max_payload`.
pub fn parse_head(buf: &[u8], max_payload: usize) -> Result<Option<FrameHead>, CloseCode> {
    let [b0, b1, ..] = *buf else { return Ok(None) };
    // No extension is ever negotiated, so no RSV bit may be set (§5.2).
    if b0 & 0x70 != 0 {
        return Err(CloseCode::PROTOCOL_ERROR);
    }
    let fin = b0 & 0x80 != 0;
    let opcode = Opcode::from_bits(b0 & 0x0F).ok_or(CloseCode::PROTOCOL_ERROR)?;
    // Every client frame is masked (§5.1).
    if b1 & 0x80 == 0 {
        return Err(CloseCode::PROTOCOL_ERROR);
    }
    let (payload_len, len_bytes) = match b1 & 0x7F {
        126 => {
            let Some(b) = buf.get(2..4) else { return Ok(None) };
            (u64::from(u16::from_be_bytes([b[0], b[1]])), 2)
        }
        127 => {
            let Some(b) = buf.get(2..10) else { return Ok(None) };
            let len = u64::from_be_bytes(b.try_into().expect("8 bytes"));
            // The most significant bit must be 0 (§5.2).
            if len >> 63 != 0 {
                return Err(CloseCode::PROTOCOL_ERROR);
            }
            (len, 8)
        }
        n => (u64::from(n), 0),
    };
    if opcode.is_control() && (!fin || payload_len > MAX_CONTROL_PAYLOAD as u64) {
        return Err(CloseCode::PROTOCOL_ERROR);
    }
    if !opcode.is_control() && payload_len > max_payload as u64 {
        return Err(CloseCode::MESSAGE_TOO_BIG);
    }
    let header_len = 2 + len_bytes + 4;
    let Some(mask) = buf.get(header_len - 4..header_len) else { return Ok(None) };
    Ok(Some(FrameHead { fin, opcode, mask: mask.try_into().expect("4 bytes"), header_len, payload_len }))
}

/// Writes the header of an unmasked, final server frame carrying `len`
/// bytes into `out`; returns its length.
pub fn encode_head(opcode: Opcode, len: usize, out: &mut [u8; MAX_HEADER]) -> usize {
    out[0] = 0x80 | opcode.bits();
    if len < 126 {
        out[1] = len as u8;
        2
    } else if len <= usize::from(u16::MAX) {
        out[1] = 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        4
    } else {
        out[1] = 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        10
    }
}

/// Unmasks `payload` in place; `offset` is its position in the frame's
/// payload (the key repeats every four bytes).
pub fn unmask(payload: &mut [u8], mask: [u8; 4], offset: usize) {
    let mut key = mask;
    key.rotate_left(offset % 4);
    // Eight bytes at a time: the key repeated twice is a u64 in memory order.
    let wide = u64::from_ne_bytes([key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3]]);
    let mut chunks = payload.chunks_exact_mut(8);
    for chunk in &mut chunks {
        let word = u64::from_ne_bytes((&*chunk).try_into().expect("8 bytes")) ^ wide;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    for (i, b) in chunks.into_remainder().iter_mut().enumerate() {
        *b ^= key[i % 4];
    }
}

/// Checks a close frame's payload (§5.5.1, §7.4): empty, or a code a peer
/// may send followed by UTF-8. Returns the code (`1005` for none).
pub fn parse_close(payload: &[u8]) -> Result<CloseCode, CloseCode> {
    match payload {
        [] => Ok(CloseCode::NO_STATUS),
        [_] => Err(CloseCode::PROTOCOL_ERROR),
        [hi, lo, reason @ ..] => {
            let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
            if !code.may_be_sent() {
                return Err(CloseCode::PROTOCOL_ERROR);
            }
            if std::str::from_utf8(reason).is_err() {
                return Err(CloseCode::INVALID_DATA);
            }
            Ok(code)
        }
    }
}

/// Validates UTF-8 fed in pieces (the fragments of a message, or the
/// parts of a frame as they arrive): a character may be split between
/// pieces, but a piece that cannot continue valid UTF-8 is refused at once
/// (RFC 6455 §8.1: fail as soon as invalid data is seen).
#[derive(Debug, Default)]
pub struct Utf8Stream {
    /// The start of a character the pieces so far ended in.
    carry: [u8; 4],
    /// How many bytes of `carry` are held (0 to 3).
    carried: usize,
}

impl Utf8Stream {
    /// Checks the next piece of the message.
    pub fn feed(&mut self, mut piece: &[u8]) -> Result<(), CloseCode> {
        if self.carried > 0 {
            // Finish the character the last piece began, from this one.
            let take = (char_len(self.carry[0]) - self.carried).min(piece.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&piece[..take]);
            self.carried += take;
            piece = &piece[take..];
            match std::str::from_utf8(&self.carry[..self.carried]) {
                Ok(_) => self.carried = 0,
                // Still short: this piece ended too.
                Err(e) if e.error_len().is_none() => return Ok(()),
                Err(_) => return Err(CloseCode::INVALID_DATA),
            }
        }
        match std::str::from_utf8(piece) {
            Ok(_) => Ok(()),
            Err(e) if e.error_len().is_none() => {
                let start = &piece[e.valid_up_to()..];
                self.carry[..start.len()].copy_from_slice(start);
                self.carried = start.len();
                Ok(())
            }
            Err(_) => Err(CloseCode::INVALID_DATA),
        }
    }

    /// The message ended: a character left unfinished is invalid too.
    pub fn finish(&mut self) -> Result<(), CloseCode> {
        match std::mem::take(&mut self.carried) {
            0 => Ok(()),
            _ => Err(CloseCode::INVALID_DATA),
        }
    }

    /// Starts over for a new message.
    pub fn reset(&mut self) {
        self.carried = 0;
    }
}

/// The length of the character `lead` begins, for a byte that begins one
/// longer than a byte (as the start of a carry is).
fn char_len(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(first: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
        let mut f = vec![first];
        match payload.len() {
            n if n < 126 => f.push(0x80 | n as u8),
            n if n <= 0xFFFF => {
                f.push(0x80 | 126);
                f.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                f.push(0x80 | 127);
                f.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        f.extend_from_slice(&mask);
        f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        f
    }

    #[test]
    fn parses_all_three_length_encodings() {
        for len in [0, 1, 125, 126, 65_535, 65_536, 70_000] {
            let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let frame = masked(0x82, &payload, [1, 2, 3, 4]);
            let head = parse_head(&frame, 1 << 20).unwrap().unwrap();
            assert_eq!(head.payload_len, len as u64);
            assert_eq!(head.header_len + len, frame.len());
            assert_eq!(head.opcode, Opcode::Binary);
            let mut body = frame[head.header_len..].to_vec();
            unmask(&mut body, head.mask, 0);
            assert_eq!(body, payload);
            // Every prefix of the header is incomplete, not an error.
            for cut in 0..head.header_len {
                assert_eq!(parse_head(&frame[..cut], 1 << 20), Ok(None));
            }
        }
    }

    #[test]
    fn enforces_the_rules() {
        let m = [9, 9, 9, 9];
        assert_eq!(parse_head(&[0x81, 0x00], 100), Err(CloseCode::PROTOCOL_ERROR), "unmasked");
        assert_eq!(parse_head(&masked(0xC1, b"x", m), 100), Err(CloseCode::PROTOCOL_ERROR), "RSV1");
        assert_eq!(parse_head(&masked(0x83, b"x", m), 100), Err(CloseCode::PROTOCOL_ERROR), "opcode 3");
        assert_eq!(parse_head(&masked(0x0B, b"x", m), 100), Err(CloseCode::PROTOCOL_ERROR), "opcode B");
        assert_eq!(
            parse_head(&masked(0x09, b"x", m), 100),
            Err(CloseCode::PROTOCOL_ERROR),
            "fragmented ping"
        );
        assert_eq!(
            parse_head(&masked(0x89, &[0; 126], m), 1000),
            Err(CloseCode::PROTOCOL_ERROR),
            "long ping"
        );
        assert_eq!(parse_head(&masked(0x82, &[0; 101], m), 100), Err(CloseCode::MESSAGE_TOO_BIG));
        let huge = [0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4];
        assert_eq!(parse_head(&huge, usize::MAX), Err(CloseCode::PROTOCOL_ERROR), "64-bit MSB");
        assert!(parse_head(&masked(0x89, &[0; 125], m), 100).unwrap().is_some());
    }

    #[test]
    fn unmask_handles_any_offset_and_length() {
        let mask = [0xA1, 0xB2, 0xC3, 0xD4];
        let plain: Vec<u8> = (0..37).collect();
        let mut masked: Vec<u8> = plain.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        // In two pieces, the second starting mid-key.
        let (a, b) = masked.split_at_mut(11);
        unmask(a, mask, 0);
        unmask(b, mask, 11);
        assert_eq!(masked, plain);
    }

    #[test]
    fn server_heads_use_the_shortest_length() {
        let mut out = [0; MAX_HEADER];
        assert_eq!(encode_head(Opcode::Text, 5, &mut out), 2);
        assert_eq!(&out[..2], &[0x81, 5]);
        assert_eq!(encode_head(Opcode::Binary, 300, &mut out), 4);
        assert_eq!(&out[..4], &[0x82, 126, 1, 44]);
        assert_eq!(encode_head(Opcode::Pong, 70_000, &mut out), 10);
        assert_eq!(&out[..10], &[0x8A, 127, 0, 0, 0, 0, 0, 1, 0x11, 0x70]);
    }

    #[test]
    fn close_payloads() {
        assert_eq!(parse_close(&[]), Ok(CloseCode::NO_STATUS));
        assert_eq!(parse_close(&[3]), Err(CloseCode::PROTOCOL_ERROR));
        assert_eq!(parse_close(&[0x03, 0xE8, b'o', b'k']), Ok(CloseCode::NORMAL));
        assert_eq!(parse_close(&1005u16.to_be_bytes()), Err(CloseCode::PROTOCOL_ERROR));
        assert_eq!(parse_close(&999u16.to_be_bytes()), Err(CloseCode::PROTOCOL_ERROR));
        assert_eq!(parse_close(&4000u16.to_be_bytes()), Ok(CloseCode(4000)));
        assert_eq!(parse_close(&[0x03, 0xE8, 0xFF]), Err(CloseCode::INVALID_DATA));
    }

    /// Feeds `bytes` cut at `cuts` (sorted), then ends the message: the
    /// result, and the piece it came in (the number of pieces fed).
    fn fed_in_pieces(bytes: &[u8], cuts: &[usize]) -> (Result<(), CloseCode>, usize) {
        let mut v = Utf8Stream::default();
        let mut from = 0;
        for (n, &to) in cuts.iter().chain([bytes.len()].iter()).enumerate() {
            if let Err(e) = v.feed(&bytes[from..to]) {
                return (Err(e), n);
            }
            from = to;
        }
        (v.finish(), cuts.len() + 1)
    }

    #[test]
    fn utf8_fed_in_pieces_agrees_with_the_whole_and_fails_where_it_goes_wrong() {
        let valid = "aé€𐍈 z".as_bytes();
        let mut cases: Vec<Vec<u8>> = vec![valid.to_vec()];
        // Each byte of the valid text swapped for bytes that break it.
        for at in 0..valid.len() {
            for bad in [0x80, 0xC0, 0xE0, 0xED, 0xF4, 0xF5, 0xFF, b'a'] {
                let mut v = valid.to_vec();
                v[at] = bad;
                cases.push(v);
            }
        }
        cases.push(vec![0xED, 0xA0, 0x80]); // a surrogate
        cases.push(vec![0xE2, 0x82]); // unfinished at the end
        for bytes in &cases {
            let whole = std::str::from_utf8(bytes);
            // The piece holding the first byte that cannot continue valid
            // UTF-8 (for text ending unfinished, the end).
            let bad_at = match whole {
                Ok(_) => None,
                Err(e) => Some(
                    e.error_len()
                        .map_or(bytes.len(), |_| e.valid_up_to() + first_bad(&bytes[e.valid_up_to()..])),
                ),
            };
            for a in 0..=bytes.len() {
                for b in a..=bytes.len() {
                    let (got, piece) = fed_in_pieces(bytes, &[a, b]);
                    assert_eq!(got.is_ok(), whole.is_ok(), "{bytes:x?} cut at {a}, {b}");
                    if let Some(bad) = bad_at {
                        let want =
                            if bad == bytes.len() { 3 } else { [a, b].iter().filter(|&&c| c <= bad).count() };
                        assert_eq!(piece, want, "{bytes:x?} cut at {a}, {b}: refused in piece {piece}");
                    }
                }
            }
        }
    }

    /// Index in `rest` (which starts with an invalid sequence) of the byte
    /// where a decoder reading byte by byte knows it is invalid.
    fn first_bad(rest: &[u8]) -> usize {
        (1..=rest.len())
            .find(|&n| std::str::from_utf8(&rest[..n]).is_err_and(|e| e.error_len().is_some()))
            .map_or(rest.len(), |n| n - 1)
    }
}
