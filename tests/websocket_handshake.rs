//! WebSocket opening handshakes (RFC 6455 §4): a valid request gets 101
//! with the accept key and then speaks WebSocket; bad ones get 400, other
//! versions 426, and the connection goes on serving HTTP; upgrades go to a
//! WebSocket thread with room (503 when all are full); a handler without
//! WebSockets (`Handler::WEBSOCKETS` false) cannot upgrade (500).
//!
//! The handshakes themselves run through `peregrine::testing`: the request
//! is parsed, answered and the connection handed over by the same code
//! over memory, a fresh connection per case. Which WebSocket thread takes
//! an upgrade (and the 503 when none has room) stays on a real server: a
//! `TestClient` has one connection and no WebSocket threads.

use std::sync::Arc;

use peregrine::testing::{TestClient, TestResponse};
use peregrine::ws;
use peregrine::{Config, Handler, Request, Response};

mod support;
use support::roundtrip;
use support::ws::{
    client, close_client, handshake, http_request, lock, masked, peer_of, start, App, Log, MemRaw, ACCEPT,
    CONNECTION, GET, KEY, UPGRADE, VERSION,
};

/// Sends `request` on `client`'s connection and takes the response (an
/// HTTP/1.1 one).
fn exchange<H: Handler>(client: &mut TestClient<H>, request: &[u8]) -> TestResponse {
    client.send(request);
    let shown = String::from_utf8_lossy(request);
    let line = String::from_utf8_lossy(client.written().split(|&b| b == b'\r').next().unwrap_or_default());
    assert!(line.starts_with("HTTP/1.1 "), "status line {line:?} for {shown:?}");
    client.response().unwrap_or_else(|| {
        panic!("no response to {shown:?}; written: {:?}", String::from_utf8_lossy(client.written()))
    })
}

// ---------------------------------------------------------------------------
// The opening handshake, by hand.
// ---------------------------------------------------------------------------

#[test]
fn valid_handshake_is_answered_101_with_the_accept_key() {
    let variants: [&[&str]; 3] = [
        &[UPGRADE, CONNECTION, KEY, VERSION],
        &[UPGRADE, "Connection: keep-alive, Upgrade", KEY, VERSION],
        &["Upgrade: WebSocket", "Connection: upgrade", KEY, VERSION],
    ];
    for headers in variants {
        let log = Arc::new(Log::default());
        let mut client = TestClient::new(App(Arc::clone(&log)));
        let res = exchange(&mut client, &http_request(GET, headers));
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
        assert!(client.is_websocket(), "{headers:?}: not handed over");
        let mut raw = MemRaw { client, log, case: format!("[{headers:?}] ") };
        raw.send(&masked(0x81, b"hi"));
        raw.expect(0x1, b"hi");
    }
}

#[test]
fn bad_handshakes_get_400_and_the_connection_keeps_working() {
    let log = Arc::new(Log::default());
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
        let mut client = TestClient::new(App(Arc::clone(&log)));
        let res = exchange(&mut client, &http_request(line, headers));
        assert_eq!(res.status, 400, "{what}: {res:?}");
        assert!(res.header("Sec-WebSocket-Accept").is_none(), "{what}: {res:?}");
        assert!(client.is_open() && !client.is_websocket(), "{what}: the connection did not stay HTTP");
        let next = exchange(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((next.status, &next.body[..]), (200, &b"hello"[..]), "{what}: the next request");
    }
    assert!(lock(&log.opened).is_empty(), "a refused handshake opened a WebSocket");
}

#[test]
fn other_websocket_versions_get_426_naming_version_13() {
    let log = Arc::new(Log::default());
    let cases: [(&str, &[&str]); 4] = [
        ("version 8", &[UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 8"]),
        ("version 14", &[UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 14"]),
        ("no version", &[UPGRADE, CONNECTION, KEY]),
        ("two versions", &[UPGRADE, CONNECTION, KEY, VERSION, "Sec-WebSocket-Version: 8"]),
    ];
    for (what, headers) in cases {
        let mut client = TestClient::new(App(Arc::clone(&log)));
        let res = exchange(&mut client, &http_request(GET, headers));
        assert_eq!(res.status, 426, "{what}: {res:?}");
        assert_eq!(res.header("Sec-WebSocket-Version"), Some("13"), "{what}: {res:?}");
        assert!(res.header("Sec-WebSocket-Accept").is_none(), "{what}: {res:?}");
        assert!(client.is_open() && !client.is_websocket(), "{what}: the connection did not stay HTTP");
        let next = exchange(&mut client, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!((next.status, &next.body[..]), (200, &b"hello"[..]), "{what}: the next request");
    }
    assert!(lock(&log.opened).is_empty(), "a refused handshake opened a WebSocket");
}

// ---------------------------------------------------------------------------
// Who may upgrade.
// ---------------------------------------------------------------------------

#[test]
fn upgrade_by_a_handler_without_websockets_is_500() {
    let mut client = TestClient::new(|req: &Request<'_>, res: &mut Response<'_>| {
        let _ = ws::upgrade(req, res);
    });
    let res = exchange(&mut client, &handshake());
    assert_eq!(res.status, 500, "{res:?}");
    assert!(res.header("Sec-WebSocket-Accept").is_none(), "{res:?}");
    assert!(res.header("Upgrade").is_none(), "{res:?}");
    assert!(!client.is_websocket(), "upgraded anyway");
}

// ---------------------------------------------------------------------------
// Where upgrades go: the WebSocket threads of a real server.
// ---------------------------------------------------------------------------

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
