//! WebSocket input and output over time: frames sent with the handshake,
//! cut anywhere or trickling in byte by byte; replies in the order of the
//! frames they answer, also across hooks; back-pressure for a client that
//! reads while it sends a burst; and clients that stop reading, dropped
//! by the buffer cap or the write timeout.

use std::io::Write;
use std::time::{Duration, Instant};

use peregrine::ws::CloseCode;
use peregrine::Config;

mod support;
use support::ws::{masked, reaches_eof, start, Raw, GIVE_UP};

// ---------------------------------------------------------------------------
// Early and partial input.
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
// Ordering.
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Back-pressure: bursts, and clients that do not read.
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
