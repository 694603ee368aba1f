//! How WebSocket connections end (RFC 6455 §7): the closing handshake
//! (the client's code echoed, then the TCP close), close codes and reasons
//! checked (1002, 1007), replies sent before the close echo and nothing
//! after it, a client's FIN without a close frame (1006), and a failed
//! connection drained until the client closes.

use std::io::Write;
use std::time::Duration;

use peregrine::ws::CloseCode;
use peregrine::Config;
use tungstenite::protocol::CloseFrame;
use tungstenite::Message as WsMessage;

mod support;
use support::ws::{
    client, close_client, close_payload, expect_server_close, handshake, masked, peer_of, reaches_eof, recv,
    send, start, Raw,
};
use support::WAIT;

// ---------------------------------------------------------------------------
// The closing handshake.
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
fn data_after_the_client_close_is_not_answered() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    let mut burst = masked(0x88, &close_payload(1000, b""));
    burst.extend(masked(0x81, b"too late"));
    raw.send(&burst);
    raw.expect_closed(&log, 1000);
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
