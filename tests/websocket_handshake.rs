//! WebSocket opening handshakes (RFC 6455 §4): a valid request gets 101
//! with the accept key and then speaks WebSocket; bad ones get 400, other
//! versions 426, and the connection goes on serving HTTP; upgrades go to a
//! WebSocket thread with room (503 when all are full); a handler without
//! WebSockets (`Handler::WEBSOCKETS` false) cannot upgrade (500).

use peregrine::ws;
use peregrine::{Config, Request, Response};

mod support;
use support::ws::{
    client, close_client, handshake, http_request, lock, masked, peer_of, start, Raw, ACCEPT, CONNECTION,
    GET, KEY, UPGRADE, VERSION,
};
use support::{roundtrip, TestServer};

// ---------------------------------------------------------------------------
// The opening handshake, by hand.
// ---------------------------------------------------------------------------

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
// Where upgrades go, and who may make them.
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
