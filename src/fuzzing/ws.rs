//! Oracles for the WebSocket code that reads a client's bytes: the
//! opening handshake, and frames with their reassembly into messages.

use crate::http::request::{Method, Version};
use crate::ws::handshake::{self, Rejection};

/// The handshake against a model of RFC 6455 §4.2.1: the input is header
/// lines (`\n`-separated) after a request line chosen by the first byte.
/// Accepted exactly when the model accepts, with the model's accept value
/// (its own base64 over SHA-1); refused with the model's status.
pub fn check_handshake(data: &[u8]) {
    let Some((&first, lines)) = data.split_first() else { return };
    let method = if first & 1 == 0 { "GET" } else { "POST" };
    let version = if first & 2 == 0 { "1.1" } else { "1.0" };
    let mut raw = format!("{method} /chat HTTP/{version}\r\nHost: a\r\n").into_bytes();
    for line in lines.split(|&b| b == b'\n') {
        raw.extend_from_slice(line);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    let mut slots = crate::http::head::header_slots();
    let Some(req) = super::request(&raw, &mut slots) else { return };
    let got = handshake::accept(&req).map(|key| key.to_vec()).map_err(Rejection::status);
    let headers: Vec<(String, &[u8])> =
        req.headers().iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect();
    let want = handshake_model(req.method(), req.version(), &headers).map_err(Rejection::status);
    assert_eq!(got, want, "handshake {:?}", String::from_utf8_lossy(&raw));
}

fn handshake_model(
    method: Method,
    version: Version,
    headers: &[(String, &[u8])],
) -> Result<Vec<u8>, Rejection> {
    let bad = Rejection::BadRequest("");
    fn values<'h>(headers: &'h [(String, &'h [u8])], name: &'h str) -> impl Iterator<Item = &'h [u8]> + 'h {
        headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| *v)
    }
    let lists = |name: &str, token: &str| {
        values(headers, name).any(|v| {
            String::from_utf8_lossy(v)
                .split(',')
                .any(|t| t.trim_matches([' ', '\t']).eq_ignore_ascii_case(token))
        })
    };
    if method != Method::Get || version != Version::Http11 {
        return Err(bad);
    }
    if !lists("upgrade", "websocket") || !lists("connection", "upgrade") {
        return Err(bad);
    }
    if values(headers, "sec-websocket-version").map(|v| v.trim_ascii()).collect::<Vec<_>>() != [b"13"] {
        return Err(Rejection::UnsupportedVersion);
    }
    let keys: Vec<&[u8]> = values(headers, "sec-websocket-key").map(|v| v.trim_ascii()).collect();
    let [key] = keys[..] else { return Err(bad) };
    // A nonce is 16 bytes, and its base64 is canonical: it decodes and
    // encodes back to the same text.
    match base64_decode(key) {
        Some(nonce) if nonce.len() == 16 && base64_encode(&nonce).as_bytes() == key => {}
        _ => return Err(bad),
    }
    let mut sha = sha1_smol::Sha1::new();
    sha.update(key);
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    Ok(base64_encode(&sha.digest().bytes()).into_bytes())
}

const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
        for _ in chunk.len()..3 {
            out.push('=');
        }
    }
    out
}

fn base64_decode(text: &[u8]) -> Option<Vec<u8>> {
    if text.len() % 4 != 0 {
        return None;
    }
    let body = text.strip_suffix(b"==").or_else(|| text.strip_suffix(b"=")).unwrap_or(text);
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for &c in body {
        bits = bits << 6 | ALPHABET.iter().position(|&a| a == c)? as u32;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    Some(out)
}

#[cfg(feature = "testing")]
pub use frames::check_ws_frames;

#[cfg(feature = "testing")]
mod frames {
    use crate::config::Config;
    use crate::handler::Handler;
    use crate::http::request::Request;
    use crate::http::response::Response;
    use crate::testing::TestClient;
    use crate::ws::{self, CloseCode, Message, Opcode, WebSocket};
    use std::sync::Mutex;

    /// Largest message in the oracle: small, so the limit is reached.
    const MAX_MESSAGE: usize = 64;

    /// Records every message its hooks get.
    #[derive(Default)]
    struct Recorder {
        messages: Mutex<Vec<(Opcode, Vec<u8>)>>,
    }

    impl Handler for Recorder {
        const WEBSOCKETS: bool = true;

        fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
            let _ = ws::upgrade(req, res);
        }

        fn ws_message(&self, _: &WebSocket, msg: Message<'_>) {
            let msg = match msg {
                Message::Text(t) => (Opcode::Text, t.as_bytes().to_vec()),
                Message::Binary(b) => (Opcode::Binary, b.to_vec()),
            };
            self.messages.lock().expect("not poisoned").push(msg);
        }
    }

    /// What the connection did with a client's bytes: the messages the
    /// hooks got, and the frames the server sent back.
    type Outcome = (Vec<(Opcode, Vec<u8>)>, Vec<(Opcode, Vec<u8>)>);

    /// Client bytes after a `101` go to the code a WebSocket thread runs,
    /// all at once and in pieces (the first byte says how big); both must
    /// deliver the same messages and send the same frames as a model of
    /// RFC 6455 §5–7 written from the text (UTF-8 checked by `std` on
    /// what has arrived of a message).
    pub fn check_ws_frames(data: &[u8]) {
        let Some((&piece, stream)) = data.split_first() else { return };
        let whole = run(stream, None);
        let want = model(stream);
        assert_eq!(whole, want, "frames {stream:02x?}");
        let split = run(stream, Some(usize::from(piece % 16) + 1));
        assert_eq!(split, want, "frames {stream:02x?} in pieces of {}", piece % 16 + 1);
    }

    fn run(stream: &[u8], piece: Option<usize>) -> Outcome {
        let config = Config::new().max_message_size(MAX_MESSAGE);
        let mut client = TestClient::with_config(config, Recorder::default());
        assert_eq!(client.upgrade("/").status, 101);
        match piece {
            Some(n) => client.send_in_pieces(stream, n),
            None => client.send(stream),
        };
        let mut sent = Vec::new();
        while let Some(frame) = client.frame() {
            assert!(frame.fin && frame.rsv == 0 && !frame.masked, "{frame:?}");
            sent.push((frame.opcode, frame.payload));
        }
        let got = std::mem::take(&mut *client.handler().messages.lock().expect("not poisoned"));
        (got, sent)
    }

    /// The model: one frame at a time, each rule where RFC 6455 states it.
    fn model(mut stream: &[u8]) -> Outcome {
        let mut model = Model::default();
        loop {
            match next_frame(stream) {
                Ok(Next::Whole(frame, rest)) => match model.take(frame) {
                    true => stream = rest,
                    false => break,
                },
                Ok(Next::Part { opcode, len, arrived }) => {
                    // §8.1: invalid text fails the connection as soon as
                    // it is seen, also in a frame not all there yet.
                    model.arrived(opcode, len, &arrived);
                    break;
                }
                Ok(Next::Short) => break,
                Err(code) => {
                    model.fail(code);
                    break;
                }
            }
        }
        (model.messages, model.sent)
    }

    /// A frame as the model reads it: FIN, opcode bits, unmasked payload.
    type Frame = (bool, u8, Vec<u8>);

    /// How much of the first frame of a stream has arrived.
    enum Next<'s> {
        /// All of it, and what follows it.
        Whole(Frame, &'s [u8]),
        /// Its header, and its payload so far, unmasked (`len`: all of it).
        Part { opcode: u8, len: u64, arrived: Vec<u8> },
        /// Not all of its header.
        Short,
    }

    /// The first frame of `s`, as much of it as is there; the close code
    /// if its header breaks a rule.
    fn next_frame(s: &[u8]) -> Result<Next<'_>, CloseCode> {
        let [b0, b1, ..] = *s else { return Ok(Next::Short) };
        let (fin, opcode, masked) = (b0 & 0x80 != 0, b0 & 0x0F, b1 & 0x80 != 0);
        // §5.2: RSV bits without an extension, unknown opcodes; §5.1:
        // unmasked client frames.
        if b0 & 0x70 != 0 || !matches!(opcode, 0 | 1 | 2 | 8 | 9 | 10) || !masked {
            return Err(CloseCode::PROTOCOL_ERROR);
        }
        let (len, at) = match b1 & 0x7F {
            126 if s.len() >= 4 => (u64::from(u16::from_be_bytes([s[2], s[3]])), 4),
            127 if s.len() >= 10 => (u64::from_be_bytes(s[2..10].try_into().expect("8 bytes")), 10),
            126 | 127 => return Ok(Next::Short),
            n => (u64::from(n), 2),
        };
        let control = opcode >= 8;
        if len >> 63 != 0 || (control && (!fin || len > 125)) {
            return Err(CloseCode::PROTOCOL_ERROR);
        }
        if !control && len > MAX_MESSAGE as u64 {
            return Err(CloseCode::MESSAGE_TOO_BIG);
        }
        let Some(mask) = s.get(at..at + 4) else { return Ok(Next::Short) };
        let unmask = |masked: &[u8]| masked.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
        let end = at + 4 + len as usize;
        Ok(match s.get(at + 4..end) {
            Some(masked) => Next::Whole((fin, opcode, unmask(masked)), &s[end..]),
            None => Next::Part { opcode, len, arrived: unmask(&s[at + 4..]) },
        })
    }

    /// What the model has seen and sent.
    #[derive(Default)]
    struct Model {
        messages: Vec<(Opcode, Vec<u8>)>,
        sent: Vec<(Opcode, Vec<u8>)>,
        /// A fragmented message so far.
        partial: Option<(Opcode, Vec<u8>)>,
    }

    impl Model {
        /// Takes one frame; false once no more are read.
        fn take(&mut self, (fin, opcode, payload): Frame) -> bool {
            match opcode {
                9 => self.sent.push((Opcode::Pong, payload)),
                10 => {}
                8 => {
                    self.close(&payload);
                    return false;
                }
                1 | 2 if self.partial.is_some() => return self.fail(CloseCode::PROTOCOL_ERROR),
                0 if self.partial.is_none() => return self.fail(CloseCode::PROTOCOL_ERROR),
                _ => return self.data(fin, opcode, payload),
            }
            true
        }

        /// A close frame: echoed with its code (none for none), or the
        /// connection fails (§5.5.1, §7.4).
        fn close(&mut self, payload: &[u8]) {
            match *payload {
                [] => self.sent.push((Opcode::Close, Vec::new())),
                [_] => _ = self.fail(CloseCode::PROTOCOL_ERROR),
                // §7.4.1 and the IANA registry: codes a peer may send
                // (1012–1014 are registered: service restart, try again
                // later, bad gateway).
                [hi, lo, ..] if !matches!(u16::from_be_bytes([hi, lo]), 1000..=1003 | 1007..=1014 | 3000..=4999) => {
                    _ = self.fail(CloseCode::PROTOCOL_ERROR)
                }
                [hi, lo, ref reason @ ..] if std::str::from_utf8(reason).is_ok() => {
                    self.sent.push((Opcode::Close, vec![hi, lo]))
                }
                _ => _ = self.fail(CloseCode::INVALID_DATA),
            }
        }

        /// A data frame or a continuation: a message is delivered when its
        /// last fragment came; text is checked as it arrives.
        fn data(&mut self, fin: bool, opcode: u8, payload: Vec<u8>) -> bool {
            let (kind, mut bytes) = self
                .partial
                .take()
                .unwrap_or_else(|| (if opcode == 1 { Opcode::Text } else { Opcode::Binary }, Vec::new()));
            bytes.extend_from_slice(&payload);
            if bytes.len() > MAX_MESSAGE {
                return self.fail(CloseCode::MESSAGE_TOO_BIG);
            }
            // An error in the text so far; an unfinished character only
            // if the message ends here.
            let bad_utf8 = std::str::from_utf8(&bytes).err().is_some_and(|e| fin || e.error_len().is_some());
            if kind == Opcode::Text && bad_utf8 {
                return self.fail(CloseCode::INVALID_DATA);
            }
            match fin {
                true => self.messages.push((kind, bytes)),
                false => self.partial = Some((kind, bytes)),
            }
            true
        }

        /// Part of a frame with `opcode` and `len` bytes of payload arrived:
        /// the connection fails if it continues a message past its limit
        /// (known from the header), or carries text and the message so far
        /// cannot be valid UTF-8 whatever follows.
        fn arrived(&mut self, opcode: u8, len: u64, payload: &[u8]) {
            if let (Some((_, bytes)), 0) = (&self.partial, opcode) {
                if bytes.len() as u64 + len > MAX_MESSAGE as u64 {
                    self.fail(CloseCode::MESSAGE_TOO_BIG);
                    return;
                }
            }
            let so_far = match (&self.partial, opcode) {
                (None, 1) => payload.to_vec(),
                (Some((Opcode::Text, bytes)), 0) => [&bytes[..], payload].concat(),
                _ => return,
            };
            if std::str::from_utf8(&so_far).is_err_and(|e| e.error_len().is_some()) {
                self.fail(CloseCode::INVALID_DATA);
            }
        }

        /// Fails the connection with `code`: a close frame, nothing more read.
        fn fail(&mut self, code: CloseCode) -> bool {
            self.sent.push((Opcode::Close, code.0.to_be_bytes().to_vec()));
            false
        }
    }
}
