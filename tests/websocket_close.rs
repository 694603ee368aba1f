//! How WebSocket connections end (RFC 6455 §7): the closing handshake
//! (the client's code echoed, then the TCP close), close codes and reasons
//! checked (1002, 1007), replies sent before the close echo and nothing
//! after it, a client's FIN without a close frame (1006), and a failed
//! connection drained until the client closes.
//!
//! The closing handshakes, close codes and reasons, and what is sent
//! around a close run through `peregrine::testing` (`MemRaw`): they are
//! about frames and the connection's state, decided the same over memory
//! by the code a WebSocket thread runs. On a socket stay a real client
//! (tungstenite) closing, and the two tests whose point is the WebSocket
//! thread's poll: a FIN that arrives with frames still unread and is
//! reported once, and a failed connection's drain going on turn after turn
//! with no new readiness edge. A `TestClient` reads every byte it is sent
//! before `close_write` can mark the end, and drives the connection again
//! while its reads make progress, so breaking either (tried) leaves an
//! in-memory version passing.

use std::io::Write;
use std::time::Duration;

use peregrine::ws::CloseCode;
use peregrine::Config;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message as WsMessage;

mod support;
use support::ws::{
    client, close_client, close_payload, expect_server_close, handshake, masked, peer_of, reaches_eof, recv,
    send, start, MemRaw, Raw,
};
use support::WAIT;

// ---------------------------------------------------------------------------
// The closing handshake.
// ---------------------------------------------------------------------------

#[test]
fn client_close_is_echoed_then_the_connection_closes() {
    for (code, reason) in [
        (1000, &b""[..]),
        (4000, b"done here"),
        (1001, b"leaving"),
        (3000, b""),
        (1012, b"restart"),
        (1013, b""),
        (1014, b""),
    ] {
        let mut raw = MemRaw::open().case(code);
        raw.send(&masked(0x88, &close_payload(code, reason)));
        // The code, echoed (§5.5.1); the reason is not.
        raw.expect(0x8, &code.to_be_bytes());
        raw.expect_ended(CloseCode(code));
    }
}

#[test]
fn a_real_client_closing_gets_its_code_echoed() {
    let (server, log) = start(Config::new());
    let mut ws = client(&server);
    let peer = peer_of(&ws);
    close_client(&mut ws, 1000);
    assert_eq!(log.close_code(peer), CloseCode::NORMAL);
}

#[test]
fn close_without_a_code_is_echoed_without_one() {
    let mut raw = MemRaw::open();
    raw.send(&masked(0x88, b""));
    raw.expect(0x8, b"");
    raw.expect_ended(CloseCode::NO_STATUS);
}

#[test]
fn close_with_an_invalid_code_is_1002() {
    let mut payloads: Vec<Vec<u8>> =
        [0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535].iter().map(|&c| close_payload(c, b"")).collect();
    payloads.push(vec![0x03]); // one byte: half a code
    for payload in payloads {
        let mut raw = MemRaw::open().case(&payload);
        raw.send(&masked(0x88, &payload));
        raw.expect_closed(1002);
    }
}

#[test]
fn close_with_an_invalid_utf8_reason_is_1007() {
    let mut raw = MemRaw::open();
    raw.send(&masked(0x88, &close_payload(1000, &[b'o', 0xFF, b'k'])));
    raw.expect_closed(1007);
}

#[test]
fn reply_to_a_message_just_before_the_close_is_sent_before_the_close_echo() {
    // Message and close in one write: the hook's echo (sent while the
    // connection was open) must not be dropped or overtaken by the close.
    let mut raw = MemRaw::open();
    let mut burst = masked(0x81, b"last words");
    burst.extend(masked(0x88, &close_payload(1000, b"")));
    raw.send(&burst);
    raw.expect(0x1, b"last words");
    raw.expect(0x8, &1000u16.to_be_bytes());
    raw.expect_ended(CloseCode::NORMAL);
}

#[test]
fn a_real_client_closing_right_after_a_message_gets_the_reply_first() {
    // Send, then close right away, through tungstenite.
    let (server, log) = start(Config::new());
    let mut ws = client(&server);
    let peer = peer_of(&ws);
    send(&mut ws, WsMessage::text("goodbye"));
    ws.close(Some(CloseFrame { code: 1000.into(), reason: "".into() })).expect("send close");
    assert_eq!(recv(&mut ws), WsMessage::text("goodbye"));
    expect_server_close(&mut ws, 1000);
    assert_eq!(log.close_code(peer), CloseCode::NORMAL);
}

#[test]
fn data_after_the_client_close_is_not_answered() {
    let mut raw = MemRaw::open();
    let mut burst = masked(0x88, &close_payload(1000, b""));
    burst.extend(masked(0x81, b"too late"));
    raw.send(&burst);
    raw.expect(0x8, &1000u16.to_be_bytes());
    raw.expect_drained(CloseCode::NORMAL);
}

// ---------------------------------------------------------------------------
// Ends without a closing handshake.
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
