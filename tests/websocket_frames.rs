//! WebSocket framing (RFC 6455 §5): echo of text and binary through a real
//! client (tungstenite, over a socket) in every length encoding; and every
//! framing rule the server enforces, with hand-built frames sent through
//! `peregrine::testing` (nothing in them is about sockets): masks, RSV
//! bits, opcodes, lengths, control frames, ping and pong, fragmentation,
//! UTF-8 (1007) and max_message_size (1009).

use std::sync::Arc;

use peregrine::testing::TestClient;
use peregrine::ws::CloseCode;
use peregrine::Config;
use tungstenite::Message as WsMessage;

mod support;
use support::ws::{
    client, close_client, close_payload, lock, masked, peer_of, recv, send, start, App, Log, MASK,
};

// ---------------------------------------------------------------------------
// Echo through a real client, every length encoding.
// ---------------------------------------------------------------------------

/// Payload lengths at and around the 7-bit, 16-bit and 64-bit encodings.
const LENGTHS: [usize; 9] = [0, 1, 125, 126, 127, 65_535, 65_536, 65_537, 200_000];

#[test]
fn echo_round_trips_text_and_binary_of_every_length_encoding() {
    let (server, log) = start(Config::new());
    let mut ws = client(&server);
    for len in LENGTHS {
        // Multi-byte characters too; cut to `len` bytes on a char boundary.
        let mut text: String = "héllo wörld €🦀 ".chars().cycle().take(len).collect();
        while text.len() > len {
            text.pop();
        }
        send(&mut ws, WsMessage::text(text.clone()));
        assert_eq!(recv(&mut ws), WsMessage::text(text), "text of {len} bytes");
        let bytes: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
        send(&mut ws, WsMessage::binary(bytes.clone()));
        assert_eq!(recv(&mut ws), WsMessage::binary(bytes), "binary of {len} bytes");
    }
    let peer = peer_of(&ws);
    close_client(&mut ws, 1000);
    assert_eq!(log.close_code(peer), CloseCode::NORMAL);
}

// ---------------------------------------------------------------------------
// The rest through `peregrine::testing`: an upgraded connection of the
// same echo handler, frames by hand.
// ---------------------------------------------------------------------------

/// An upgraded connection of `App` and its hooks' log.
struct Raw {
    client: TestClient<App>,
    log: Arc<Log>,
    /// What a test loop is trying, for failure messages.
    case: String,
}

impl Raw {
    fn open() -> Raw {
        Raw::with_config(Config::new())
    }

    fn with_config(config: Config) -> Raw {
        let log = Arc::new(Log::default());
        let mut client = TestClient::with_config(config, App(Arc::clone(&log)));
        assert_eq!(client.upgrade("/ws").status, 101);
        Raw { client, log, case: String::new() }
    }

    /// Labels this connection's failure messages with `case`.
    fn case(mut self, case: impl std::fmt::Debug) -> Raw {
        self.case = format!("[{case:?}] ");
        self
    }

    fn send(&mut self, bytes: &[u8]) {
        self.client.send(bytes);
    }

    /// The first byte and 7-bit length field of the next frame, and the
    /// frame; checks the length uses the shortest encoding (§5.2) and is
    /// not masked.
    fn frame(&mut self) -> (u8, u8, Vec<u8>) {
        let case = &self.case;
        let &[b0, b1, ..] = self.client.written() else { panic!("{case}no frame came back") };
        assert_eq!(b1 & 0x80, 0, "{case}a server frame must not be masked");
        let f = self.client.frame().unwrap_or_else(|| panic!("{case}no whole frame came back"));
        let len = f.payload.len();
        let shortest = match len {
            0..=125 => len as u8,
            126..=0xFFFF => 126,
            _ => 127,
        };
        assert_eq!(b1, shortest, "{case}length field of a {len}-byte frame");
        (b0, b1, f.payload)
    }

    /// The next frame is a final frame with `opcode` and `payload`.
    fn expect(&mut self, opcode: u8, payload: &[u8]) {
        let (b0, _, got) = self.frame();
        let case = &self.case;
        assert_eq!(b0, 0x80 | opcode, "{case}expected opcode {opcode:#x}");
        let (n, want) = (got.len(), payload.len());
        assert!(got == payload, "{case}payload of {n} bytes differs from the {want} expected");
    }

    /// The server's close frame carries exactly `code`, nothing follows it,
    /// the server closes its side, and once the client closes too
    /// `ws_close` reports `code`.
    fn expect_closed(mut self, code: u16) {
        let (b0, _, payload) = self.frame();
        let case = self.case.clone();
        assert_eq!(b0, 0x88, "{case}expected a close frame");
        assert!(payload.len() >= 2, "{case}close frame without a code");
        assert_eq!(u16::from_be_bytes([payload[0], payload[1]]), code, "{case}close code");
        assert!(self.client.written().is_empty(), "{case}bytes after the close frame");
        assert!(!self.client.is_open(), "{case}the server kept its side open after failing");
        assert!(lock(&self.log.closed).is_empty(), "{case}ws_close ran before the connection ended");
        // Closing our end ends the server's lingering drain.
        self.client.close_write();
        assert!(!self.client.is_websocket(), "{case}the connection outlived the client's close");
        let codes: Vec<CloseCode> = lock(&self.log.closed).iter().map(|&(_, c)| c).collect();
        assert_eq!(codes, [CloseCode(code)], "{case}the codes ws_close saw");
    }
}

#[test]
fn server_frames_use_the_shortest_length_encoding() {
    let mut raw = Raw::open();
    for (len, field) in [(0, 0), (125, 125), (126, 126), (65_535, 126), (65_536, 127), (70_000, 127)] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        raw.send(&masked(0x82, &payload));
        let (b0, len_field, echo) = raw.frame();
        assert_eq!((b0, len_field), (0x82, field), "echo of {len} bytes");
        assert!(echo == payload, "echo of {len} bytes differs");
    }
}

// ---------------------------------------------------------------------------
// Frames that break the protocol: 1002.
// ---------------------------------------------------------------------------

#[test]
fn unmasked_client_frame_is_1002() {
    let mut raw = Raw::open();
    raw.send(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
    raw.expect_closed(1002);
}

#[test]
fn reserved_bits_are_1002() {
    for rsv in [0x40, 0x20, 0x10] {
        let mut raw = Raw::open().case(format!("RSV bit {rsv:#x}"));
        raw.send(&masked(0x81 | rsv, b"x"));
        raw.expect_closed(1002);
    }
}

#[test]
fn unknown_opcodes_are_1002() {
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        let mut raw = Raw::open().case(format!("opcode {opcode:#x}"));
        raw.send(&masked(0x80 | opcode, b"x"));
        raw.expect_closed(1002);
    }
}

#[test]
fn length_with_the_top_bit_set_is_1002() {
    let mut raw = Raw::open();
    let mut f = vec![0x82, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    f.extend_from_slice(&MASK);
    raw.send(&f);
    raw.expect_closed(1002);
}

#[test]
fn control_frame_over_125_bytes_is_1002() {
    for opcode in [0x9, 0xA, 0x8] {
        let mut raw = Raw::open().case(format!("opcode {opcode:#x}"));
        // 126 bytes: the 16-bit length encoding, which no control frame may use.
        let payload = if opcode == 0x8 { close_payload(1000, &[b'a'; 124]) } else { vec![b'p'; 126] };
        raw.send(&masked(0x80 | opcode, &payload));
        raw.expect_closed(1002);
    }
}

#[test]
fn fragmented_control_frame_is_1002() {
    for opcode in [0x9, 0xA, 0x8] {
        let mut raw = Raw::open().case(format!("opcode {opcode:#x}"));
        // FIN clear.
        let payload = if opcode == 0x8 { close_payload(1000, b"") } else { b"ping".to_vec() };
        raw.send(&masked(opcode, &payload));
        raw.expect_closed(1002);
    }
}

// ---------------------------------------------------------------------------
// Ping and pong.
// ---------------------------------------------------------------------------

#[test]
fn ping_is_answered_with_an_identical_pong() {
    let mut raw = Raw::open();
    let all_bytes: Vec<u8> = (0..125).map(|i| (i * 2) as u8).collect();
    for payload in [&b""[..], b"hello ping", &[0x00, 0xFF, 0x80, 0x7F], &all_bytes] {
        raw.send(&masked(0x89, payload));
        raw.expect(0xA, payload);
    }
    // An unsolicited pong is ignored: the next thing back is the echo.
    raw.send(&masked(0x8A, b"unsolicited"));
    raw.send(&masked(0x81, b"after the pong"));
    raw.expect(0x1, b"after the pong");
}

#[test]
fn ping_between_fragments_is_answered_before_the_message_completes() {
    let mut raw = Raw::open();
    raw.send(&masked(0x01, b"hel"));
    raw.send(&masked(0x89, b"mid-message"));
    // The pong comes while the message is still incomplete.
    raw.expect(0xA, b"mid-message");
    raw.send(&masked(0x00, b"lo, "));
    raw.send(&masked(0x89, b"again"));
    raw.expect(0xA, b"again");
    raw.send(&masked(0x80, b"world"));
    raw.expect(0x1, b"hello, world");
    // Binary the same way, with the ping and all fragments in one write.
    let mut burst = masked(0x02, &[1, 2]);
    burst.extend(masked(0x89, b"p"));
    burst.extend(masked(0x80, &[3]));
    raw.send(&burst);
    raw.expect(0xA, b"p");
    raw.expect(0x2, &[1, 2, 3]);
}

// ---------------------------------------------------------------------------
// UTF-8.
// ---------------------------------------------------------------------------

#[test]
fn invalid_utf8_text_is_1007() {
    let cases: [&[u8]; 5] = [
        &[0xC3, 0x28],       // a bad continuation byte
        &[b'a', 0xFF, b'b'], // a byte never valid
        &[b'a', 0xE2, 0x82], // a character cut off at the end
        &[0xED, 0xA0, 0x80], // a surrogate
        &[0xC0, 0xAF],       // an overlong encoding
    ];
    for payload in cases {
        let mut raw = Raw::open().case(payload);
        raw.send(&masked(0x81, payload));
        raw.expect_closed(1007);
    }
}

#[test]
fn invalid_utf8_across_fragments_is_1007() {
    let cases: [(&str, &[&[u8]]); 4] = [
        ("bad byte in the last fragment", &[b"ab", &[0xFF]]),
        ("valid start, bad continuation in the next fragment", &[&[b'a', 0xE2, 0x82], b"x"]),
        ("character never finished", &[&[0xE2], &[0x82]]),
        ("bad byte in a middle fragment", &[b"a", &[0x80], b"b"]),
    ];
    for (what, fragments) in cases {
        let mut raw = Raw::open().case(what);
        for (i, fragment) in fragments.iter().enumerate() {
            let opcode = if i == 0 { 0x1 } else { 0x0 };
            let fin = if i + 1 == fragments.len() { 0x80 } else { 0 };
            raw.send(&masked(fin | opcode, fragment));
        }
        raw.expect_closed(1007);
    }
}

#[test]
fn invalid_utf8_in_an_unfinished_message_is_caught_before_its_end() {
    let mut raw = Raw::open();
    // The last fragment never comes: the 1007 must not wait for it.
    raw.send(&masked(0x01, &[b'o', b'k', 0xFF]));
    raw.expect_closed(1007);
}

#[test]
fn characters_split_across_fragments_are_accepted() {
    let mut raw = Raw::open();
    // "héllo": é (C3 A9) split between two fragments.
    raw.send(&masked(0x01, &[b'h', 0xC3]));
    raw.send(&masked(0x80, &[0xA9, b'l', b'l', b'o']));
    raw.expect(0x1, "héllo".as_bytes());
    // 🦀 (F0 9F A6 80) over three fragments, one of them empty.
    raw.send(&masked(0x01, &[0xF0]));
    raw.send(&masked(0x00, &[0x9F, 0xA6]));
    raw.send(&masked(0x00, b""));
    raw.send(&masked(0x80, &[0x80, b'!']));
    raw.expect(0x1, "🦀!".as_bytes());
}

// ---------------------------------------------------------------------------
// Fragmentation rules.
// ---------------------------------------------------------------------------

#[test]
fn continuation_without_a_started_message_is_1002() {
    for b0 in [0x80, 0x00] {
        let mut raw = Raw::open().case(format!("first byte {b0:#x}"));
        raw.send(&masked(b0, b"orphan"));
        raw.expect_closed(1002);
    }
    // Also right after a complete fragmented message.
    let mut raw = Raw::open();
    raw.send(&masked(0x01, b"a"));
    raw.send(&masked(0x80, b"b"));
    raw.expect(0x1, b"ab");
    raw.send(&masked(0x80, b"c"));
    raw.expect_closed(1002);
}

#[test]
fn new_message_while_one_is_fragmented_is_1002() {
    for (first, second) in [(0x01, 0x81), (0x01, 0x82), (0x02, 0x81), (0x02, 0x01)] {
        let mut raw = Raw::open().case(format!("{first:#x} then {second:#x}"));
        raw.send(&masked(first, b"part"));
        raw.send(&masked(second, b"new"));
        raw.expect_closed(1002);
    }
}

// ---------------------------------------------------------------------------
// max_message_size.
// ---------------------------------------------------------------------------

#[test]
fn messages_over_max_message_size_are_1009() {
    // One frame one byte over.
    let mut raw = Raw::with_config(Config::new().max_message_size(1000));
    raw.send(&masked(0x82, &[0; 1001]));
    raw.expect_closed(1009);
    // Text too.
    let mut raw = Raw::with_config(Config::new().max_message_size(1000));
    raw.send(&masked(0x81, &[b'a'; 1001]));
    raw.expect_closed(1009);
    // Fragments that each fit but together do not.
    let mut raw = Raw::with_config(Config::new().max_message_size(1000));
    raw.send(&masked(0x02, &[0; 600]));
    raw.send(&masked(0x80, &[0; 401]));
    raw.expect_closed(1009);
    // Only the head of a huge frame: refused without waiting for its payload.
    let mut raw = Raw::with_config(Config::new().max_message_size(1000));
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(1u64 << 40).to_be_bytes());
    head.extend_from_slice(&MASK);
    raw.send(&head);
    raw.expect_closed(1009);
}

#[test]
fn messages_at_max_message_size_are_echoed() {
    let mut raw = Raw::with_config(Config::new().max_message_size(1000));
    let bytes: Vec<u8> = (0..1000).map(|i| i as u8).collect();
    raw.send(&masked(0x82, &bytes));
    raw.expect(0x2, &bytes);
    raw.send(&masked(0x81, &[b'z'; 1000]));
    raw.expect(0x1, &[b'z'; 1000]);
    // Exactly the limit in fragments.
    raw.send(&masked(0x02, &bytes[..500]));
    raw.send(&masked(0x00, &bytes[500..999]));
    raw.send(&masked(0x80, &bytes[999..]));
    raw.expect(0x2, &bytes);
}
