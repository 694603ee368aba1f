//! WebSockets (RFC 6455) end to end: the opening handshake, echo through a
//! real client (tungstenite), every protocol rule the server enforces
//! (hand-built frames on a raw socket), the closing handshake, message size
//! limits, partial and early input, clients that stop reading, sends from
//! other threads, many clients at once, shutdown, and panicking hooks.
//!
//! Every read has a timeout and every loop a bound, so a misbehaving server
//! fails a test instead of hanging it.

use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use peregrine::ws::{self, CloseCode, SendError, WebSocket};
use peregrine::{Config, Request, Response};
use tungstenite::protocol::CloseFrame;
use tungstenite::Message as WsMessage;

mod support;
use support::ws::{
    client, client_at, close_client, close_payload, expect_server_close, handshake, http_request, lock,
    masked, peer_of, reaches_eof, recv, send, start, Client, Raw, ACCEPT, CONNECTION, GET, GIVE_UP, KEY,
    MASK, UPGRADE, VERSION,
};
use support::{eventually, roundtrip, TestServer, WAIT};

// ---------------------------------------------------------------------------
// 1. The opening handshake.
// ---------------------------------------------------------------------------

#[test]
fn frames_then_fin_end_the_connection_once_read() {
    // The handshake, ~100 KB of frames and the FIN, sent at once: every
    // frame is answered, and the FIN (which the poll reports once, even
    // if the frames take more than one turn to read) closes the
    // connection with 1006, no close frame having come.
    let (server, log) = start(Config::new());
    let mut s = server.connect();
    let peer = s.local_addr().unwrap();
    let mut wire = handshake();
    let payload = vec![b'f'; 1000];
    for _ in 0..100 {
        wire.extend_from_slice(&masked(0x81, &payload));
    }
    let mut writer = s.try_clone().unwrap();
    let sent = std::thread::spawn(move || {
        writer.write_all(&wire).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    assert!(reaches_eof(&mut s, WAIT), "the server never closed after the client's FIN");
    sent.join().unwrap();
    assert_eq!(log.close_code(peer), CloseCode::ABNORMAL);
}

#[test]
fn upgrades_go_to_a_websocket_thread_with_room() {
    // Two places per WebSocket thread, four clients dealt out over both;
    // once one thread's clients leave, the next two upgrades must go
    // there, not to the thread that is still full (which would answer 503).
    let (server, log) = start(Config::new().websocket_threads(2).max_connections(4));
    let mut clients: Vec<_> = (0..4)
        .map(|_| {
            let ws = client(&server);
            let thread = log.thread(peer_of(&ws));
            (thread, ws)
        })
        .collect();
    let emptied = clients[1].0.clone();
    assert_eq!(clients.iter().filter(|(t, _)| *t == emptied).count(), 2, "not dealt out evenly");
    for (_, ws) in clients.iter_mut().filter(|(t, _)| *t == emptied) {
        let peer = peer_of(ws);
        close_client(ws, 1000);
        // The thread gives the place back before the hook runs.
        log.close_code(peer);
    }
    clients.retain(|(t, _)| *t != emptied);
    for _ in 0..2 {
        let ws = client(&server);
        assert_eq!(log.thread(peer_of(&ws)), emptied, "placed on the full thread");
        clients.push((emptied.clone(), ws));
    }
    let refused = roundtrip(&mut server.connect(), &handshake());
    assert_eq!(refused.status, 503, "every WebSocket thread is full");
}

#[test]
fn valid_handshake_is_answered_101_with_the_accept_key() {
    let (server, _log) = start(Config::new());
    let variants: [&[&str]; 3] = [
        &[UPGRADE, CONNECTION, KEY, VERSION],
        &[UPGRADE, "Connection: keep-alive, Upgrade", KEY, VERSION],
        &["Upgrade: WebSocket", "Connection: upgrade", KEY, VERSION],
    ];
    for headers in variants {
        let mut s = server.connect();
        let res = roundtrip(&mut s, &http_request(GET, headers));
        assert_eq!(res.status, 101, "{headers:?}: {res:?}");
        assert_eq!(res.header("Sec-WebSocket-Accept"), Some(ACCEPT), "{headers:?}");
        assert!(
            res.header("Upgrade").is_some_and(|v| v.eq_ignore_ascii_case("websocket")),
            "{headers:?}: {res:?}"
        );
        assert!(
            res.header("Connection").is_some_and(|v| v.eq_ignore_ascii_case("upgrade")),
            "{headers:?}: {res:?}"
        );
        assert!(res.body.is_empty());
        // The connection now speaks WebSocket.
        let mut raw = Raw { s, buf: Vec::new(), case: format!("[{headers:?}] ") };
        raw.send(&masked(0x81, b"hi"));
        raw.expect(0x1, b"hi");
    }
}

#[test]
fn bad_handshakes_get_400_and_the_connection_keeps_working() {
    let (server, log) = start(Config::new());
    let cases: [(&str, &str, &[&str]); 11] = [
        ("POST", "POST /ws HTTP/1.1", &[UPGRADE, CONNECTION, KEY, VERSION, "Content-Length: 0"]),
        ("no Upgrade", GET, &[CONNECTION, KEY, VERSION]),
        ("Upgrade to another protocol", GET, &["Upgrade: h2c", CONNECTION, KEY, VERSION]),
        ("no Connection", GET, &[UPGRADE, KEY, VERSION]),
        ("Connection without the upgrade token", GET, &[UPGRADE, "Connection: keep-alive", KEY, VERSION]),
        ("no key", GET, &[UPGRADE, CONNECTION, VERSION]),
        ("key of 5 bytes", GET, &[UPGRADE, CONNECTION, "Sec-WebSocket-Key: c2hvcnQ=", VERSION]),
        ("key of 15 bytes", GET, &[UPGRADE, CONNECTION, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j", VERSION]),
        (
            "key of 17 bytes",
            GET,
            &[UPGRADE, CONNECTION, "Sec-WebSocket-Key: eHh4eHh4eHh4eHh4eHh4eHg=", VERSION],
        ),
        (
            "key not base64",
            GET,
            &[UPGRADE, CONNECTION, "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j*Q==", VERSION],
        ),
        ("two keys", GET, &[UPGRADE, CONNECTION, KEY, KEY, VERSION]),
    ];
    for (what, line, headers) in cases {
        let mut s = server.connect();
        let res = roundtrip(&mut s, &http_request(line, headers));
        assert_eq!(res.status, 400, "{what}: {res:?}");
        assert!(res.header("Sec-WebSocket-Accept").is_none(), "{what}: {res:?}");
        let next = roundtrip(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((next.status, &next.body[..]), (200, &b"hello"[..]), "{what}: the next request");
    }
    assert!(lock(&log.opened).is_empty(), "a refused handshake opened a WebSocket");
}

#[test]
fn other_websocket_versions_get_426_naming_version_13() {
    let (server, log) = start(Config::new());
    let cases: [(&str, &[&str]); 4] = [
        ("version 8", &[UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 8"]),
        ("version 14", &[UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 14"]),
        ("no version", &[UPGRADE, CONNECTION, KEY]),
        ("two versions", &[UPGRADE, CONNECTION, KEY, VERSION, "Sec-WebSocket-Version: 8"]),
    ];
    for (what, headers) in cases {
        let mut s = server.connect();
        let res = roundtrip(&mut s, &http_request(GET, headers));
        assert_eq!(res.status, 426, "{what}: {res:?}");
        assert_eq!(res.header("Sec-WebSocket-Version"), Some("13"), "{what}: {res:?}");
        assert!(res.header("Sec-WebSocket-Accept").is_none(), "{what}: {res:?}");
        let next = roundtrip(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((next.status, &next.body[..]), (200, &b"hello"[..]), "{what}: the next request");
    }
    assert!(lock(&log.opened).is_empty(), "a refused handshake opened a WebSocket");
}

// ---------------------------------------------------------------------------
// 2. Echo through a real client, every length encoding.
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

#[test]
fn server_frames_use_the_shortest_length_encoding() {
    let (server, _log) = start(Config::new());
    let mut raw = Raw::open(&server);
    for (len, field) in [(0, 0), (125, 125), (126, 126), (65_535, 126), (65_536, 127), (70_000, 127)] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        raw.send(&masked(0x82, &payload));
        let f = raw.frame();
        assert_eq!((f.b0, f.len_field), (0x82, field), "echo of {len} bytes");
        assert!(f.payload == payload, "echo of {len} bytes differs");
    }
}

// ---------------------------------------------------------------------------
// 3–6. Frames that break the protocol: 1002.
// ---------------------------------------------------------------------------

#[test]
fn unmasked_client_frame_is_1002() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    raw.send(&[0x81, 0x05, b'h', b'e', b'l', b'l', b'o']);
    raw.expect_closed(&log, 1002);
}

#[test]
fn reserved_bits_are_1002() {
    let (server, log) = start(Config::new());
    for rsv in [0x40, 0x20, 0x10] {
        let mut raw = Raw::open(&server).case(format!("RSV bit {rsv:#x}"));
        raw.send(&masked(0x81 | rsv, b"x"));
        raw.expect_closed(&log, 1002);
    }
}

#[test]
fn unknown_opcodes_are_1002() {
    let (server, log) = start(Config::new());
    for opcode in (0x3..=0x7).chain(0xB..=0xF) {
        let mut raw = Raw::open(&server).case(format!("opcode {opcode:#x}"));
        raw.send(&masked(0x80 | opcode, b"x"));
        raw.expect_closed(&log, 1002);
    }
}

#[test]
fn length_with_the_top_bit_set_is_1002() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    let mut f = vec![0x82, 0x80 | 127];
    f.extend_from_slice(&(1u64 << 63 | 5).to_be_bytes());
    f.extend_from_slice(&MASK);
    raw.send(&f);
    raw.expect_closed(&log, 1002);
}

#[test]
fn control_frame_over_125_bytes_is_1002() {
    let (server, log) = start(Config::new());
    for opcode in [0x9, 0xA, 0x8] {
        let mut raw = Raw::open(&server).case(format!("opcode {opcode:#x}"));
        // 126 bytes: the 16-bit length encoding, which no control frame may use.
        let payload = if opcode == 0x8 { close_payload(1000, &[b'a'; 124]) } else { vec![b'p'; 126] };
        raw.send(&masked(0x80 | opcode, &payload));
        raw.expect_closed(&log, 1002);
    }
}

#[test]
fn fragmented_control_frame_is_1002() {
    let (server, log) = start(Config::new());
    for opcode in [0x9, 0xA, 0x8] {
        let mut raw = Raw::open(&server).case(format!("opcode {opcode:#x}"));
        // FIN clear.
        let payload = if opcode == 0x8 { close_payload(1000, b"") } else { b"ping".to_vec() };
        raw.send(&masked(opcode, &payload));
        raw.expect_closed(&log, 1002);
    }
}

// ---------------------------------------------------------------------------
// 7. Ping and pong.
// ---------------------------------------------------------------------------

#[test]
fn ping_is_answered_with_an_identical_pong() {
    let (server, _log) = start(Config::new());
    let mut raw = Raw::open(&server);
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
    let (server, _log) = start(Config::new());
    let mut raw = Raw::open(&server);
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
// 8. The closing handshake.
// ---------------------------------------------------------------------------

#[test]
fn client_close_is_echoed_then_the_connection_closes() {
    let (server, log) = start(Config::new());
    for (code, reason) in [(1000, &b""[..]), (4000, b"done here"), (1001, b"leaving"), (3000, b"")] {
        let mut raw = Raw::open(&server).case(code);
        raw.send(&masked(0x88, &close_payload(code, reason)));
        raw.expect_closed(&log, code);
    }
    // With tungstenite too.
    let mut ws = client(&server);
    let peer = peer_of(&ws);
    close_client(&mut ws, 1000);
    assert_eq!(log.close_code(peer), CloseCode::NORMAL);
}

#[test]
fn close_without_a_code_is_echoed_without_one() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    raw.send(&masked(0x88, b""));
    raw.expect(0x8, b"");
    raw.expect_eof();
    let peer = raw.peer();
    drop(raw);
    assert_eq!(log.close_code(peer), CloseCode::NO_STATUS);
}

#[test]
fn close_with_an_invalid_code_is_1002() {
    let (server, log) = start(Config::new());
    let mut payloads: Vec<Vec<u8>> =
        [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535].iter().map(|&c| close_payload(c, b"")).collect();
    payloads.push(vec![0x03]); // one byte: half a code
    for payload in payloads {
        let mut raw = Raw::open(&server).case(&payload);
        raw.send(&masked(0x88, &payload));
        raw.expect_closed(&log, 1002);
    }
}

#[test]
fn close_with_an_invalid_utf8_reason_is_1007() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    raw.send(&masked(0x88, &close_payload(1000, &[b'o', 0xFF, b'k'])));
    raw.expect_closed(&log, 1007);
}

#[test]
fn reply_to_a_message_just_before_the_close_is_sent_before_the_close_echo() {
    let (server, log) = start(Config::new());
    // Message and close in one write: the hook's echo (sent while the
    // connection was open) must not be dropped or overtaken by the close.
    let mut raw = Raw::open(&server);
    let mut burst = masked(0x81, b"last words");
    burst.extend(masked(0x88, &close_payload(1000, b"")));
    raw.send(&burst);
    raw.expect(0x1, b"last words");
    raw.expect_closed(&log, 1000);
    // The same through tungstenite: send, then close right away.
    let mut ws = client(&server);
    let peer = peer_of(&ws);
    send(&mut ws, WsMessage::text("goodbye"));
    ws.close(Some(CloseFrame { code: 1000.into(), reason: "".into() })).expect("send close");
    assert_eq!(recv(&mut ws), WsMessage::text("goodbye"));
    expect_server_close(&mut ws, 1000);
    assert_eq!(log.close_code(peer), CloseCode::NORMAL);
}

#[test]
fn replies_keep_the_order_of_the_frames_they_answer() {
    let (server, _log) = start(Config::new());
    let mut raw = Raw::open(&server);
    let mut burst = masked(0x81, b"first");
    burst.extend(masked(0x89, b"ping"));
    burst.extend(masked(0x82, b"second"));
    raw.send(&burst);
    raw.expect(0x1, b"first");
    raw.expect(0xA, b"ping");
    raw.expect(0x2, b"second");
}

#[test]
fn data_after_the_client_close_is_not_answered() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    let mut burst = masked(0x88, &close_payload(1000, b""));
    burst.extend(masked(0x81, b"too late"));
    raw.send(&burst);
    raw.expect_closed(&log, 1000);
}

// ---------------------------------------------------------------------------
// 9. UTF-8.
// ---------------------------------------------------------------------------

#[test]
fn invalid_utf8_text_is_1007() {
    let (server, log) = start(Config::new());
    let cases: [&[u8]; 5] = [
        &[0xC3, 0x28],       // a bad continuation byte
        &[b'a', 0xFF, b'b'], // a byte never valid
        &[b'a', 0xE2, 0x82], // a character cut off at the end
        &[0xED, 0xA0, 0x80], // a surrogate
        &[0xC0, 0xAF],       // an overlong encoding
    ];
    for payload in cases {
        let mut raw = Raw::open(&server).case(payload);
        raw.send(&masked(0x81, payload));
        raw.expect_closed(&log, 1007);
    }
}

#[test]
fn invalid_utf8_across_fragments_is_1007() {
    let (server, log) = start(Config::new());
    let cases: [(&str, &[&[u8]]); 4] = [
        ("bad byte in the last fragment", &[b"ab", &[0xFF]]),
        ("valid start, bad continuation in the next fragment", &[&[b'a', 0xE2, 0x82], b"x"]),
        ("character never finished", &[&[0xE2], &[0x82]]),
        ("bad byte in a middle fragment", &[b"a", &[0x80], b"b"]),
    ];
    for (what, fragments) in cases {
        let mut raw = Raw::open(&server).case(what);
        for (i, fragment) in fragments.iter().enumerate() {
            let opcode = if i == 0 { 0x1 } else { 0x0 };
            let fin = if i + 1 == fragments.len() { 0x80 } else { 0 };
            raw.send(&masked(fin | opcode, fragment));
        }
        raw.expect_closed(&log, 1007);
    }
}

#[test]
fn invalid_utf8_in_an_unfinished_message_is_caught_before_its_end() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    // The last fragment never comes: the 1007 must not wait for it.
    raw.send(&masked(0x01, &[b'o', b'k', 0xFF]));
    raw.expect_closed(&log, 1007);
}

#[test]
fn characters_split_across_fragments_are_accepted() {
    let (server, _log) = start(Config::new());
    let mut raw = Raw::open(&server);
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
// 10. Fragmentation rules.
// ---------------------------------------------------------------------------

#[test]
fn continuation_without_a_started_message_is_1002() {
    let (server, log) = start(Config::new());
    for b0 in [0x80, 0x00] {
        let mut raw = Raw::open(&server).case(format!("first byte {b0:#x}"));
        raw.send(&masked(b0, b"orphan"));
        raw.expect_closed(&log, 1002);
    }
    // Also right after a complete fragmented message.
    let mut raw = Raw::open(&server);
    raw.send(&masked(0x01, b"a"));
    raw.send(&masked(0x80, b"b"));
    raw.expect(0x1, b"ab");
    raw.send(&masked(0x80, b"c"));
    raw.expect_closed(&log, 1002);
}

#[test]
fn new_message_while_one_is_fragmented_is_1002() {
    let (server, log) = start(Config::new());
    for (first, second) in [(0x01, 0x81), (0x01, 0x82), (0x02, 0x81), (0x02, 0x01)] {
        let mut raw = Raw::open(&server).case(format!("{first:#x} then {second:#x}"));
        raw.send(&masked(first, b"part"));
        raw.send(&masked(second, b"new"));
        raw.expect_closed(&log, 1002);
    }
}

// ---------------------------------------------------------------------------
// 11. max_message_size.
// ---------------------------------------------------------------------------

#[test]
fn messages_over_max_message_size_are_1009() {
    let (server, log) = start(Config::new().max_message_size(1000));
    // One frame one byte over.
    let mut raw = Raw::open(&server);
    raw.send(&masked(0x82, &[0; 1001]));
    raw.expect_closed(&log, 1009);
    // Text too.
    let mut raw = Raw::open(&server);
    raw.send(&masked(0x81, &[b'a'; 1001]));
    raw.expect_closed(&log, 1009);
    // Fragments that each fit but together do not.
    let mut raw = Raw::open(&server);
    raw.send(&masked(0x02, &[0; 600]));
    raw.send(&masked(0x80, &[0; 401]));
    raw.expect_closed(&log, 1009);
    // Only the head of a huge frame: refused without waiting for its payload.
    let mut raw = Raw::open(&server);
    let mut head = vec![0x82, 0x80 | 127];
    head.extend_from_slice(&(1u64 << 40).to_be_bytes());
    head.extend_from_slice(&MASK);
    raw.send(&head);
    raw.expect_closed(&log, 1009);
}

#[test]
fn messages_at_max_message_size_are_echoed() {
    let (server, _log) = start(Config::new().max_message_size(1000));
    let mut raw = Raw::open(&server);
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

// ---------------------------------------------------------------------------
// 12. Clients that do not read.
// ---------------------------------------------------------------------------

#[test]
fn flooding_client_that_never_reads_is_dropped() {
    let config = Config::new().max_message_size(1000).write_timeout(Duration::from_secs(1));
    let (server, log) = start(config);
    let mut raw = Raw::open(&server);
    let peer = raw.peer();
    let msg = masked(0x82, &[0xAB; 1000]);
    let deadline = Instant::now() + GIVE_UP;
    // Send until the server gives up on us: its hook reports the close, or
    // our writes fail because it closed.
    let mut sent = 0u64;
    while log.codes(peer).is_empty() {
        assert!(Instant::now() < deadline, "still connected after {sent} unread 1000-byte echoes");
        if raw.s.write_all(&msg).is_err() {
            break;
        }
        sent += 1;
    }
    // Dropped without a close frame (a client that does not read would not
    // see one): the abnormal-closure code.
    assert_eq!(log.close_code(peer), CloseCode::ABNORMAL);
    assert!(
        reaches_eof(&mut raw.s, deadline.saturating_duration_since(Instant::now())),
        "the server's socket is still open"
    );
}

#[test]
fn stalled_reader_below_the_buffer_cap_is_dropped_by_the_write_timeout() {
    // 24 MiB of echoes never reach the 2 × 16 MiB cap: only the write
    // timeout can end this connection.
    let config = Config::new().max_message_size(16 << 20).write_timeout(Duration::from_secs(1));
    let (server, log) = start(config);
    let mut raw = Raw::open(&server);
    let peer = raw.peer();
    let msg = masked(0x82, &vec![0x5A; 1 << 20]);
    for _ in 0..24 {
        if raw.s.write_all(&msg).is_err() {
            break; // dropped already
        }
    }
    let deadline = Instant::now() + GIVE_UP;
    while log.codes(peer).is_empty() {
        assert!(Instant::now() < deadline, "a client that stopped reading was never dropped");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(log.close_code(peer), CloseCode::ABNORMAL);
    assert!(
        reaches_eof(&mut raw.s, deadline.saturating_duration_since(Instant::now())),
        "the server's socket is still open"
    );
}

// ---------------------------------------------------------------------------
// 13–14. Early and partial input.
// ---------------------------------------------------------------------------

#[test]
fn frames_sent_with_the_handshake_are_not_lost() {
    let (server, _log) = start(Config::new());
    let mut early = masked(0x81, b"early text");
    early.extend(masked(0x82, &[1, 2, 3]));
    early.extend(masked(0x89, b"early ping"));
    let mut raw = Raw::open_with(&server, &early);
    raw.expect(0x1, b"early text");
    raw.expect(0x2, &[1, 2, 3]);
    raw.expect(0xA, b"early ping");
    // And the connection goes on.
    raw.send(&masked(0x81, b"later"));
    raw.expect(0x1, b"later");
}

#[test]
fn frame_cut_short_in_the_handshake_write_is_completed_later() {
    let (server, _log) = start(Config::new());
    let frame = masked(0x81, &[b'q'; 300]);
    let (early, rest) = frame.split_at(7);
    let mut raw = Raw::open_with(&server, early);
    raw.send(rest);
    raw.expect(0x1, &[b'q'; 300]);
}

#[test]
fn frames_arriving_one_byte_per_write_are_handled() {
    let (server, _log) = start(Config::new());
    let mut raw = Raw::open(&server);
    let payload: Vec<u8> = (0..200).map(|i| b'a' + (i % 26) as u8).collect();
    for (b0, payload) in [(0x81, &b"tiny"[..]), (0x82, &payload[..])] {
        for byte in masked(b0, payload) {
            raw.send(&[byte]);
            std::thread::sleep(Duration::from_millis(1));
        }
        raw.expect(b0 & 0x0F, payload);
    }
}

#[test]
fn large_frame_arriving_in_small_pieces_is_handled() {
    let (server, _log) = start(Config::new());
    let mut raw = Raw::open(&server);
    let payload: Vec<u8> = (0..70_000).map(|i| (i % 241) as u8).collect();
    for piece in masked(0x82, &payload).chunks(7_001) {
        raw.send(piece);
        std::thread::sleep(Duration::from_millis(2));
    }
    raw.expect(0x2, &payload);
}

// ---------------------------------------------------------------------------
// 15. Handles, from other threads.
// ---------------------------------------------------------------------------

#[test]
fn handles_send_from_other_threads_until_their_connection_ends() {
    let (server, log) = start(Config::new());
    let mut clients: Vec<Client> = (0..3).map(|_| client(&server)).collect();
    let peers: Vec<SocketAddr> = clients.iter().map(peer_of).collect();
    let handles: Vec<WebSocket> = peers.iter().map(|&p| log.handle(p)).collect();
    for (h, &p) in handles.iter().zip(&peers) {
        assert!(h.is_open());
        assert_eq!(h.peer_addr(), p);
    }
    assert!(handles[0].id() != handles[1].id() && handles[1].id() != handles[2].id());

    // From the test thread.
    for (i, h) in handles.iter().enumerate() {
        h.send_text(&format!("to client {i}")).unwrap();
        h.send_binary(&[i as u8; 3]).unwrap();
    }
    for (i, c) in clients.iter_mut().enumerate() {
        assert_eq!(recv(c), WsMessage::text(format!("to client {i}")));
        assert_eq!(recv(c), WsMessage::binary(vec![i as u8; 3]));
    }
    // A broadcast from yet another thread.
    let all = handles.clone();
    std::thread::spawn(move || all.iter().for_each(|h| h.send_text("to everyone").unwrap())).join().unwrap();
    for c in &mut clients {
        assert_eq!(recv(c), WsMessage::text("to everyone"));
    }

    // Client 0 vanishes without a close frame.
    drop(clients.remove(0));
    assert!(eventually(|| !handles[0].is_open()), "the handle of a closed connection still reports open");
    assert_eq!(handles[0].send_text("anyone?"), Err(SendError::Closed));
    assert_eq!(log.close_code(peers[0]), CloseCode::ABNORMAL);

    // Client 1 leaves with a closing handshake.
    close_client(&mut clients[0], 1000);
    assert!(eventually(|| !handles[1].is_open()), "the handle of a closed connection still reports open");
    assert_eq!(handles[1].send_binary(b"anyone?"), Err(SendError::Closed));
    assert_eq!(log.close_code(peers[1]), CloseCode::NORMAL);

    // Client 2 is unaffected.
    assert!(handles[2].is_open());
    handles[2].send_text("still here").unwrap();
    assert_eq!(recv(&mut clients[1]), WsMessage::text("still here"));
}

#[test]
fn hook_broadcast_reaches_every_connection_of_the_thread() {
    // One WebSocket thread: the hook sends to connections of its own thread.
    let (server, log) = start(Config::new().websocket_threads(1));
    let mut raws: Vec<Raw> = (0..3).map(|i| Raw::open(&server).case(format!("client {i}"))).collect();
    for raw in &raws {
        log.handle(raw.peer());
    }
    raws[0].send(&masked(0x81, b"all:one"));
    for raw in &mut raws {
        raw.expect(0x1, b"all:one");
    }
    // A broadcast, a ping and an echo in one write: the sender's answers
    // keep their order, the others get the broadcast alone.
    let mut burst = masked(0x81, b"all:two");
    burst.extend(masked(0x89, b"ping"));
    burst.extend(masked(0x81, b"just me"));
    raws[1].send(&burst);
    raws[1].expect(0x1, b"all:two");
    raws[1].expect(0xA, b"ping");
    raws[1].expect(0x1, b"just me");
    for i in [0, 2] {
        raws[i].expect(0x1, b"all:two");
    }
    // After one leaves, broadcasts still reach the rest.
    let gone = raws.remove(0);
    let gone_peer = gone.peer();
    drop(gone);
    assert_eq!(log.close_code(gone_peer), CloseCode::ABNORMAL);
    raws[1].send(&masked(0x81, b"all:three"));
    for raw in &mut raws {
        raw.expect(0x1, b"all:three");
    }
}

#[test]
fn handle_refuses_what_it_cannot_send_and_closes_on_request() {
    let (server, log) = start(Config::new().max_message_size(1000));
    let mut ws = client(&server);
    let peer = peer_of(&ws);
    let h = log.handle(peer);
    // The limit is twice max_message_size, but at least twice 64 KiB.
    const LIMIT: usize = 2 * 64 * 1024;
    assert_eq!(h.send_binary(&vec![0; LIMIT + 1]), Err(SendError::TooLarge), "over the limit");
    h.send_binary(&vec![7; LIMIT]).unwrap();
    assert_eq!(recv(&mut ws), WsMessage::binary(vec![7u8; LIMIT]));
    assert_eq!(h.ping(&[0; 126]), Err(SendError::TooLarge));
    h.ping(b"are you there").unwrap();
    assert_eq!(recv(&mut ws), WsMessage::Ping(b"are you there".to_vec().into()));
    assert_eq!(h.close(CloseCode::NO_STATUS, ""), Err(SendError::InvalidCode));
    assert_eq!(h.close(CloseCode(999), ""), Err(SendError::InvalidCode));
    assert_eq!(h.close(CloseCode(4001), &"x".repeat(124)), Err(SendError::TooLarge));
    h.close(CloseCode(4001), "bye").unwrap();
    match recv(&mut ws) {
        WsMessage::Close(Some(f)) => assert_eq!((u16::from(f.code), f.reason.as_str()), (4001, "bye")),
        other => panic!("expected the handle's close, got {other:?}"),
    }
    // tungstenite echoes the close on this read; the server then closes.
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the server to close the TCP connection, got {other:?}"),
    }
    assert_eq!(log.close_code(peer), CloseCode(4001));
    assert!(eventually(|| !h.is_open()));
    assert_eq!(h.send_text("late"), Err(SendError::Closed));
}

// ---------------------------------------------------------------------------
// 16. Many clients at once.
// ---------------------------------------------------------------------------

#[test]
fn two_hundred_concurrent_clients_each_get_their_messages_echoed() {
    const CLIENTS: usize = 200;
    const MESSAGES: usize = 20;
    let (server, log) = start(Config::new().websocket_threads(2));
    let addr = server.addr;
    let connected = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let connected = Arc::clone(&connected);
            std::thread::spawn(move || {
                let mut ws = client_at(addr);
                connected.fetch_add(1, Ordering::SeqCst);
                // All open at once (bounded: a failed client must not hang the rest).
                let until = Instant::now() + WAIT;
                while connected.load(Ordering::SeqCst) < CLIENTS && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(5));
                }
                let msg = |j: usize| {
                    let text = format!("client {i} message {j}");
                    if j % 2 == 0 {
                        WsMessage::text(text)
                    } else {
                        WsMessage::binary(text.into_bytes())
                    }
                };
                for j in 0..MESSAGES {
                    send(&mut ws, msg(j));
                }
                for j in 0..MESSAGES {
                    assert_eq!(recv(&mut ws), msg(j), "client {i}");
                }
                let peer = peer_of(&ws);
                close_client(&mut ws, 1000);
                peer
            })
        })
        .collect();
    let peers: Vec<SocketAddr> = threads.into_iter().map(|t| t.join().expect("a client failed")).collect();
    for peer in peers {
        assert_eq!(log.close_code(peer), CloseCode::NORMAL);
    }
}

// ---------------------------------------------------------------------------
// 17. Shutdown.
// ---------------------------------------------------------------------------

#[test]
fn shutdown_closes_websockets_with_1001_and_run_returns_ok() {
    let (server, log) = start(Config::new().websocket_threads(2));
    let mut clients: Vec<Client> = (0..4).map(|_| client(&server)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        send(c, WsMessage::text(format!("hello {i}")));
        assert_eq!(recv(c), WsMessage::text(format!("hello {i}")));
    }
    let peers: Vec<SocketAddr> = clients.iter().map(peer_of).collect();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(server.stop());
    });
    for c in &mut clients {
        expect_server_close(c, 1001);
    }
    let result = rx.recv_timeout(GIVE_UP).expect("Server::run did not return after shutdown");
    assert!(result.is_ok(), "run returned {result:?}");
    for peer in peers {
        assert_eq!(log.close_code(peer), CloseCode::GOING_AWAY);
    }
}

// ---------------------------------------------------------------------------
// 18–19. Handler mistakes.
// ---------------------------------------------------------------------------

#[test]
fn upgrade_by_a_handler_without_websockets_is_500() {
    let server = TestServer::with(|req: &Request<'_>, res: &mut Response<'_>| {
        let _ = ws::upgrade(req, res);
    });
    let mut s = server.connect();
    let res = roundtrip(&mut s, &handshake());
    assert_eq!(res.status, 500, "{res:?}");
    assert!(res.header("Sec-WebSocket-Accept").is_none(), "{res:?}");
    assert!(res.header("Upgrade").is_none(), "{res:?}");
}

#[test]
fn panicking_message_hook_closes_with_1011_and_the_server_goes_on() {
    let (server, log) = start(Config::new());
    let mut bystander = client(&server);
    send(&mut bystander, WsMessage::text("before"));
    assert_eq!(recv(&mut bystander), WsMessage::text("before"));

    let mut raw = Raw::open(&server);
    raw.send(&masked(0x81, b"panic"));
    raw.expect_closed(&log, 1011);

    // The same hook, through tungstenite.
    let mut victim = client(&server);
    let peer = peer_of(&victim);
    send(&mut victim, WsMessage::text("panic"));
    expect_server_close(&mut victim, 1011);
    drop(victim);
    assert_eq!(log.close_code(peer), CloseCode::INTERNAL_ERROR);

    // Other connections, old and new, WebSocket and HTTP, are served.
    send(&mut bystander, WsMessage::text("after"));
    assert_eq!(recv(&mut bystander), WsMessage::text("after"));
    let mut newcomer = client(&server);
    send(&mut newcomer, WsMessage::binary(vec![9; 10]));
    assert_eq!(recv(&mut newcomer), WsMessage::binary(vec![9; 10]));
    let res = roundtrip(&mut server.connect(), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!((res.status, &res.body[..]), (200, &b"hello"[..]));
}

// ---------------------------------------------------------------------------
// Back-pressure and ordering (found in review).
// ---------------------------------------------------------------------------

/// A client that sends a burst and reads its echoes concurrently is served,
/// not dropped: the server stops reading while replies pile up, instead of
/// counting one read pass's replies against the slow-reader cap.
#[test]
fn burst_from_a_reading_client_is_echoed_whole() {
    for (max, size, count) in [(64 * 1024, 64 * 1024, 8), (1 << 20, 1000, 4000), (16 * 1024, 100, 20_000)] {
        let (server, log) = start(Config::new().max_message_size(max));
        let mut raw = Raw::open(&server).case((max, size, count));
        let one = masked(0x82, &vec![1u8; size]);
        let burst: Vec<u8> = one.iter().copied().cycle().take(one.len() * count).collect();
        let mut writer = raw.s.try_clone().unwrap();
        let upload = std::thread::spawn(move || writer.write_all(&burst));
        for _ in 0..count {
            raw.expect(0x2, &vec![1u8; size]);
        }
        upload.join().unwrap().unwrap();
        assert!(log.codes(raw.peer()).is_empty(), "the client was dropped");
    }
}

/// Frames for one connection arrive in the order they were sent, also when
/// one was sent by another connection's hook and the other by its own hook
/// in the same turn of the thread.
#[test]
fn frames_to_a_connection_keep_their_order_across_hooks() {
    let (server, _log) = start(Config::new());
    let mut staller = Raw::open(&server);
    let mut a = Raw::open(&server);
    let mut b = Raw::open(&server);
    // A round trip each first: the 101 goes out before the hand-off, so
    // only an answer shows the WebSocket thread polls a connection. (Else
    // `a` and `b` could still wait in its inbox through the sleep, and be
    // registered, and so read, in either order.)
    for raw in [&mut staller, &mut a, &mut b] {
        raw.send(&masked(0x81, b"ready"));
        raw.expect(0x1, b"ready");
    }
    staller.send(&masked(0x81, b"sleep"));
    std::thread::sleep(Duration::from_millis(50));
    // Both arrive while the thread sleeps, so one poll returns them.
    a.send(&masked(0x81, b"all:1"));
    std::thread::sleep(Duration::from_millis(20));
    b.send(&masked(0x81, b"2"));
    b.expect(0x1, b"all:1");
    b.expect(0x1, b"2");
    a.expect(0x1, b"all:1");
    staller.expect(0x1, b"slept");
}

/// A failed connection's client that had sent much more than the server
/// reads per turn: the drain goes on turn after turn (no new edge comes),
/// so the connection ends when the client closes, long before the linger
/// timeout.
#[test]
fn failed_connection_is_drained_until_the_client_closes() {
    let (server, log) = start(Config::new().linger_timeout(Duration::from_secs(60)));
    let mut raw = Raw::open(&server);
    let peer = raw.peer();
    // An unmasked frame (1002), then 512 KiB the server must drain.
    let mut bytes = vec![0x82u8, 0x00];
    bytes.extend(vec![0u8; 512 * 1024]);
    raw.send(&bytes);
    let f = raw.frame();
    assert_eq!((f.b0, f.payload.as_slice()), (0x88, &1002u16.to_be_bytes()[..]));
    assert!(reaches_eof(&mut raw.s, Duration::from_secs(20)), "the server never half-closed");
    raw.s.shutdown(std::net::Shutdown::Both).unwrap();
    drop(raw);
    // `close_code` waits up to WAIT (far below the 60 s linger timeout).
    assert_eq!(log.close_code(peer), CloseCode::PROTOCOL_ERROR);
}
