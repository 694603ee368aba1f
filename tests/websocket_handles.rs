//! WebSocket handles and the server around them: sends from other threads
//! and from hooks to other connections, what a handle refuses, 200 clients
//! at once, shutdown (1001, and run returns Ok), and a panicking hook
//! (1011, the server goes on).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use peregrine::ws::{CloseCode, SendError, WebSocket};
use peregrine::Config;
use tungstenite::Message as WsMessage;

mod support;
use support::ws::{
    client, client_at, close_client, expect_server_close, masked, peer_of, recv, send, start, Client, Raw,
    GIVE_UP,
};
use support::{eventually, roundtrip, WAIT};

// ---------------------------------------------------------------------------
// Handles, from other threads and from hooks.
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
    // No message may follow a close frame (RFC 6455 §5.5.1): from now on
    // every handle of the connection says so, before the client answers.
    let other = h.clone();
    assert!(!h.is_open() && !other.is_open(), "a closing connection still reports open");
    assert_eq!(other.send_text("after the close"), Err(SendError::Closed));
    assert_eq!(h.close(CloseCode(4002), "again"), Err(SendError::Closed));
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
// Many clients at once.
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
// Shutdown.
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
// Panicking hooks.
// ---------------------------------------------------------------------------

/// When the server fails a connection, its handles stop taking sends at
/// once, while it still waits for the client's close.
#[test]
fn a_connection_the_server_closes_refuses_sends_before_it_ends() {
    let (server, log) = start(Config::new());
    let mut raw = Raw::open(&server);
    let h = log.handle(raw.peer());
    assert!(h.is_open());
    // An unmasked frame: the server fails the connection with 1002 and
    // waits for the client's close frame, which does not come.
    raw.send(&[0x81, 0x01, b'x']);
    raw.frame().expect_close(1002, "unmasked");
    assert!(!h.is_open(), "a handle of a failed connection still reports open");
    assert_eq!(h.send_text("too late"), Err(SendError::Closed));
    raw.expect_eof();
    let peer = raw.peer();
    drop(raw);
    assert_eq!(log.close_code(peer), CloseCode::PROTOCOL_ERROR);
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
