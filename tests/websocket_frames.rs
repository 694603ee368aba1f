//! WebSocket framing (RFC 6455 §5): echo of text and binary through a real
//! client (tungstenite, over a socket) in every length encoding; and every
//! framing rule the server enforces, with hand-built frames sent through
//! `peregrine::testing` (`MemRaw`; nothing in them is about sockets):
//! masks, RSV bits, opcodes, lengths, control frames, ping and pong,
//! fragmentation, UTF-8 (1007) and max_message_size (1009).

use peregrine::ws::CloseCode;
use peregrine::Config;
use tungstenite::Message as WsMessage;

mod support;
use support::ws::{client, close_client, close_payload, masked, peer_of, recv, send, start, MemRaw, MASK};

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
// The rest through `peregrine::testing` (`MemRaw`): an upgraded connection
// of the same echo handler, frames by hand.
// ---------------------------------------------------------------------------

#[test]
fn server_frames_use_the_shortest_length_encoding() {
    let mut raw = MemRaw::open();
    for (len, field) in [(0, 0), (125, 125), (126, 126), (65_535, 126), (65_536, 127), (70_000, 127)] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        raw.send(&masked(0x82, &payload));
        let f = raw.frame();
        assert_eq!((f.b0, f.len_field), (0x82, field), "echo of {len} bytes");
        assert!(f.payload == payload, "echo of {len} bytes differs");
    }
}

// ---------------------------------------------------------------------------
// Frames that break the protocol: 1002.
// ---------------------------------------------------------------------------

#[test]
fn unmasked_client_frame_is_1002() {
    let mut raw = MemRaw::open();
    raw.send(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
    raw.expect_closed(1002);
}

#[test]
fn reserved_bits_are_1002() {
    for rsv in [0x40, 0x20, 0x10] {
        let mut raw = MemRaw::open().case(format!("RSV bit {rsv:#x}"));
        raw.send(&masked(0x81 | rsv, b"x"));
        raw.expect_closed(1002);
    }
}

#[test]
fn unknown_opcodes_are_1002() {
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        let mut raw = MemRaw::open().case(format!("opcode {opcode:#x}"));
        raw.send(&masked(0x80 | opcode, b"x"));
        raw.expect_closed(1002);
    }
}

#[test]
fn length_with_the_top_bit_set_is_1002() {
    let mut raw = MemRaw::open();
    let mut f = vec![0x82, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    f.extend_from_slice(&MASK);
    raw.send(&f);
    raw.expect_closed(1002);
}

#[test]
fn control_frame_over_125_bytes_is_1002() {
    for opcode in [0x9, 0xA, 0x8] {
        let mut raw = MemRaw::open().case(format!("opcode {opcode:#x}"));
        // 126 bytes: the 16-bit length encoding, which no control frame may use.
        let payload = if opcode == 0x8 { close_payload(1000, &[b'a'; 124]) } else { vec![b'p'; 126] };
        raw.send(&masked(0x80 | opcode, &payload));
        raw.expect_closed(1002);
    }
}

#[test]
fn fragmented_control_frame_is_1002() {
    for opcode in [0x9, 0xA, 0x8] {
        let mut raw = MemRaw::open().case(format!("opcode {opcode:#x}"));
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
    let mut raw = MemRaw::open();
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
    let mut raw = MemRaw::open();
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
        let mut raw = MemRaw::open().case(payload);
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
        let mut raw = MemRaw::open().case(what);
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
    let mut raw = MemRaw::open();
    // The last fragment never comes: the 1007 must not wait for it.
    raw.send(&masked(0x01, &[b'o', b'k', 0xFF]));
    raw.expect_closed(1007);
}

#[test]
fn characters_split_across_fragments_are_accepted() {
    let mut raw = MemRaw::open();
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

#[test]
fn invalid_utf8_in_a_frame_is_caught_before_the_frame_ends() {
    // One frame of 100 bytes, of which only the first part comes (as in
    // Autobahn 6.4.3 and 6.4.4): the 1007 must not wait for the rest.
    let cases: [(&str, &[u8], u8); 4] = [
        ("a byte never valid", &[b'o', b'k', 0xFF], 0x81),
        ("a bad continuation byte", &[b'a', 0xE2, 0x28], 0x81),
        ("a surrogate", &[0xED, 0xA0], 0x81),
        ("in a message's first fragment", &[b'a', 0xC0], 0x01),
    ];
    for (what, start, b0) in cases {
        let mut payload = start.to_vec();
        payload.resize(100, b'x');
        let frame = masked(b0, &payload);
        // The head and the start of the payload: all but 100 - len bytes.
        let arrived = frame.len() - (payload.len() - start.len());
        let mut raw = MemRaw::open().case(what);
        raw.send(&frame[..arrived]);
        raw.expect_closed(1007);
    }
    // In a continuation frame that has not all come.
    let mut raw = MemRaw::open();
    raw.send(&masked(0x01, b"fine "));
    let frame = masked(0x80, &[b'a', 0xFF, b'b', b'c', b'd', b'e']);
    raw.send(&frame[..frame.len() - 3]);
    raw.expect_closed(1007);
}

#[test]
fn frames_that_arrive_in_parts_are_delivered_whole() {
    // "héllo 🦀" in one frame, in a fragmented message, and a ping, each
    // cut at every byte (mid-head, mid-character) and sent in two parts.
    let text = "héllo 🦀".as_bytes();
    let single = masked(0x81, text);
    let (first, last) = (masked(0x01, &text[..3]), masked(0x80, &text[3..]));
    let ping = masked(0x89, b"are you there");
    for cut in 1..single.len() {
        let mut raw = MemRaw::open().case(format!("one frame cut at {cut}"));
        raw.send(&single[..cut]);
        assert!(raw.client.written().is_empty(), "{}an answer before the frame ended", raw.case);
        raw.send(&single[cut..]);
        raw.expect(0x1, text);
    }
    for cut in 1..last.len() {
        let mut raw = MemRaw::open().case(format!("last fragment cut at {cut}"));
        raw.send(&first);
        raw.send(&last[..cut]);
        raw.send(&last[cut..]);
        raw.expect(0x1, text);
    }
    for cut in 1..ping.len() {
        let mut raw = MemRaw::open().case(format!("ping cut at {cut}"));
        raw.send(&ping[..cut]);
        raw.send(&ping[cut..]);
        raw.expect(0xA, b"are you there");
    }
    // Binary is not text: bytes that are not UTF-8 pass, in parts too.
    let bytes = [0xFF, 0xC0, 0x80, 0xED, 0xA0];
    let frame = masked(0x82, &bytes);
    let mut raw = MemRaw::open();
    raw.send(&frame[..4]);
    raw.send(&frame[4..]);
    raw.expect(0x2, &bytes);
}

// ---------------------------------------------------------------------------
// Fragmentation rules.
// ---------------------------------------------------------------------------

#[test]
fn continuation_without_a_started_message_is_1002() {
    for b0 in [0x80, 0x00] {
        let mut raw = MemRaw::open().case(format!("first byte {b0:#x}"));
        raw.send(&masked(b0, b"orphan"));
        raw.expect_closed(1002);
    }
    // Also right after a complete fragmented message.
    let mut raw = MemRaw::open();
    raw.send(&masked(0x01, b"a"));
    raw.send(&masked(0x80, b"b"));
    raw.expect(0x1, b"ab");
    raw.send(&masked(0x80, b"c"));
    raw.expect_closed(1002);
}

#[test]
fn new_message_while_one_is_fragmented_is_1002() {
    for (first, second) in [(0x01, 0x81), (0x01, 0x82), (0x02, 0x81), (0x02, 0x01)] {
        let mut raw = MemRaw::open().case(format!("{first:#x} then {second:#x}"));
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
    let mut raw = MemRaw::with_config(Config::new().max_message_size(1000));
    raw.send(&masked(0x82, &[0; 1001]));
    raw.expect_closed(1009);
    // Text too.
    let mut raw = MemRaw::with_config(Config::new().max_message_size(1000));
    raw.send(&masked(0x81, &[b'a'; 1001]));
    raw.expect_closed(1009);
    // Fragments that each fit but together do not.
    let mut raw = MemRaw::with_config(Config::new().max_message_size(1000));
    raw.send(&masked(0x02, &[0; 600]));
    raw.send(&masked(0x80, &[0; 401]));
    raw.expect_closed(1009);
    // Only the head of a huge frame: refused without waiting for its payload.
    let mut raw = MemRaw::with_config(Config::new().max_message_size(1000));
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(1u64 << 40).to_be_bytes());
    head.extend_from_slice(&MASK);
    raw.send(&head);
    raw.expect_closed(1009);
    // Only the head of a fragment that would take the message over: the
    // same, before any of its payload comes.
    let mut raw = MemRaw::with_config(Config::new().max_message_size(1000));
    raw.send(&masked(0x02, &[0; 600]));
    raw.send(&masked(0x80, &[0; 401])[..8]);
    raw.expect_closed(1009);
}

#[test]
fn messages_at_max_message_size_are_echoed() {
    let mut raw = MemRaw::with_config(Config::new().max_message_size(1000));
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
