//! Helpers shared by the WebSocket tests (`websocket_*.rs`): `App`, an
//! echo handler whose hooks record what they saw in a `Log`; the opening
//! handshake by hand; `Raw`, a client that sends hand-built (masked, or
//! deliberately broken) frames over a socket and parses the server's;
//! `MemRaw`, the same through `peregrine::testing` (over memory, for the
//! tests nothing in which is about sockets); and a real client,
//! tungstenite, with bounded waits.
//!
//! Every read has a timeout and every loop a bound, so a misbehaving server
//! fails a test instead of hanging it.
#![allow(dead_code)]

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use peregrine::testing::TestClient;
use peregrine::ws::{self, CloseCode, Message, WebSocket};
use peregrine::{Config, Handler, Request, Response};
use tungstenite::protocol::CloseFrame;
use tungstenite::Message as WsMessage;

use super::{eventually, read_response, TestServer, WAIT};

/// How long a test waits for the server to drop a client that does not
/// read, or for `Server::run` to return after a shutdown.
pub const GIVE_UP: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------
// The server side: an echo handler that records what its hooks saw.
// ---------------------------------------------------------------------------

/// What the WebSocket hooks saw, for the tests to check.
#[derive(Default)]
pub struct Log {
    /// Every connection's handle, from `ws_open`.
    pub opened: Mutex<Vec<WebSocket>>,
    /// `(client address, code)` for every `ws_close`.
    pub closed: Mutex<Vec<(SocketAddr, CloseCode)>>,
    /// `(client address, thread name)` for every `ws_open`.
    pub threads: Mutex<Vec<(SocketAddr, String)>>,
}

/// Locks `m`, whether or not a panicking hook poisoned it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Log {
    /// The codes `ws_close` reported for the client at `peer` so far.
    pub fn codes(&self, peer: SocketAddr) -> Vec<CloseCode> {
        lock(&self.closed).iter().filter(|(p, _)| *p == peer).map(|&(_, c)| c).collect()
    }

    /// The code `ws_close` reported for the client at `peer`, waiting for
    /// the hook up to `WAIT`; it must have run exactly once.
    pub fn close_code(&self, peer: SocketAddr) -> CloseCode {
        assert!(eventually(|| !self.codes(peer).is_empty()), "ws_close never ran for {peer}");
        let codes = self.codes(peer);
        assert_eq!(codes.len(), 1, "ws_close ran more than once for {peer}: {codes:?}");
        codes[0]
    }

    /// The WebSocket thread that opened the client at `peer`, waiting for it.
    pub fn thread(&self, peer: SocketAddr) -> String {
        let find = || lock(&self.threads).iter().find(|(p, _)| *p == peer).map(|(_, t)| t.clone());
        assert!(eventually(|| find().is_some()), "ws_open never ran for {peer}");
        find().unwrap()
    }

    /// The handle `ws_open` got for the client at `peer`, waiting for it.
    pub fn handle(&self, peer: SocketAddr) -> WebSocket {
        let find = || lock(&self.opened).iter().find(|ws| ws.peer_addr() == peer).cloned();
        assert!(eventually(|| find().is_some()), "ws_open never ran for {peer}");
        find().unwrap()
    }
}

/// `/ws` upgrades and echoes every message, except: the text `"panic"`
/// makes `ws_message` panic, `"sleep"` holds the thread 300 ms before its
/// echo (`"slept"`), and a text starting `"all:"` goes to every
/// open connection (the sender's own copy last). Any other path answers
/// `200 hello`.
pub struct App(pub Arc<Log>);

impl Handler for App {
    const WEBSOCKETS: bool = true;

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        if req.path() == "/ws" {
            // A bad handshake leaves the 400 or 426 in `res`.
            let _ = ws::upgrade(req, res);
        } else {
            res.body_static(b"hello");
        }
    }

    fn ws_open(&self, ws: &WebSocket) {
        lock(&self.0.opened).push(ws.clone());
        let thread = std::thread::current().name().unwrap_or_default().to_owned();
        lock(&self.0.threads).push((ws.peer_addr(), thread));
    }

    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        // A failed send means the connection is going away; nothing to do.
        let _ = match msg {
            Message::Text("panic") => panic!("ws_message panics, as the test asked"),
            Message::Text("sleep") => {
                // Holds the WebSocket thread, so frames pile up for one poll.
                std::thread::sleep(Duration::from_millis(300));
                ws.send_text("slept")
            }
            Message::Text(text) if text.starts_with("all:") => {
                for other in lock(&self.0.opened).iter().filter(|o| o.id() != ws.id()) {
                    // Connections that have closed refuse it.
                    let _ = other.send_text(text);
                }
                ws.send_text(text)
            }
            Message::Text(text) => ws.send_text(text),
            Message::Binary(bytes) => ws.send_binary(bytes),
        };
    }

    fn ws_close(&self, ws: &WebSocket, code: CloseCode) {
        lock(&self.0.closed).push((ws.peer_addr(), code));
    }
}

/// Starts `App` with `config` (two workers) on 127.0.0.1:0.
pub fn start(config: Config) -> (TestServer, Arc<Log>) {
    let log = Arc::new(Log::default());
    (TestServer::start(config.workers(2), App(Arc::clone(&log))), log)
}

// ---------------------------------------------------------------------------
// The opening handshake, by hand.
// ---------------------------------------------------------------------------

/// RFC 6455 §1.3's example key and the accept value it must produce.
pub const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
pub const ACCEPT: &str = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";
pub const UPGRADE: &str = "Upgrade: websocket";
pub const CONNECTION: &str = "Connection: Upgrade";
pub const VERSION: &str = "Sec-WebSocket-Version: 13";
pub const GET: &str = "GET /ws HTTP/1.1";

/// A request: `line`, `Host`, then `headers`.
pub fn http_request(line: &str, headers: &[&str]) -> Vec<u8> {
    let mut r = format!("{line}\r\nHost: x\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r.into_bytes()
}

/// A valid opening handshake for `/ws`.
pub fn handshake() -> Vec<u8> {
    http_request(GET, &[UPGRADE, CONNECTION, KEY, VERSION])
}

// ---------------------------------------------------------------------------
// A raw client: hand-built (masked, or deliberately broken) frames.
// ---------------------------------------------------------------------------

/// A client frame into `out`: first byte `first` (FIN, RSV, opcode), then
/// `payload` masked with `mask`, in the shortest length encoding. Written
/// here by hand, independent of the server's codec.
pub fn masked_frame(out: &mut Vec<u8>, first: u8, payload: &[u8], mask: [u8; 4]) {
    out.push(first);
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
}

/// The mask of every frame `masked` builds.
pub const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// A client frame: first byte `b0` (FIN, RSV, opcode), masked `payload`,
/// in the shortest length encoding.
pub fn masked(b0: u8, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    masked_frame(&mut f, b0, payload, MASK);
    f
}

/// A close frame's payload: `code`, then `reason`.
pub fn close_payload(code: u16, reason: &[u8]) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason);
    p
}

/// A server frame as read off the wire.
#[derive(Debug)]
pub struct Frame {
    /// FIN, RSV and opcode.
    pub b0: u8,
    /// The 7-bit length field: the length itself, or 126 / 127.
    pub len_field: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// This is a close frame carrying exactly `code` (`case` labels the
    /// failure message).
    pub fn expect_close(&self, code: u16, case: &str) {
        assert_eq!(self.b0, 0x88, "{case}expected a close frame, got {self:?}");
        assert!(self.payload.len() >= 2, "{case}close frame without a code: {self:?}");
        let got = u16::from_be_bytes([self.payload[0], self.payload[1]]);
        assert_eq!(got, code, "{case}close code (payload {:?})", self.payload);
    }
}

/// A WebSocket connection driven by hand.
pub struct Raw {
    pub s: TcpStream,
    /// Bytes read but not yet parsed.
    pub buf: Vec<u8>,
    /// What a test loop is trying, for failure messages.
    pub case: String,
}

impl Raw {
    /// Connects and upgrades.
    pub fn open(server: &TestServer) -> Raw {
        Raw::open_with(server, &[])
    }

    /// Connects and upgrades, sending `early` in the same write as the
    /// handshake.
    pub fn open_with(server: &TestServer, early: &[u8]) -> Raw {
        let mut s = server.connect();
        let mut req = handshake();
        req.extend_from_slice(early);
        s.write_all(&req).unwrap();
        let mut buf = Vec::new();
        let res = read_response(&mut s, &mut buf, false);
        assert_eq!(res.status, 101, "handshake refused: {res:?}");
        Raw { s, buf, case: String::new() }
    }

    /// Labels this connection's failure messages with `case`.
    pub fn case(mut self, case: impl std::fmt::Debug) -> Raw {
        self.case = format!("[{case:?}] ");
        self
    }

    /// The client's address (what `WebSocket::peer_addr` reports).
    pub fn peer(&self) -> SocketAddr {
        self.s.local_addr().unwrap()
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.s.write_all(bytes).expect("send");
    }

    /// Reads more; panics on EOF, error or timeout.
    fn fill(&mut self) {
        let mut chunk = [0u8; 65536];
        match self.s.read(&mut chunk) {
            Ok(0) => panic!("{}the server closed the connection; unparsed: {:?}", self.case, self.buf),
            Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            Err(e) => panic!("{}read failed (or timed out) waiting for a frame: {e}", self.case),
        }
    }

    /// Reads one server frame; checks it is unmasked and its length uses
    /// the shortest encoding (§5.2).
    pub fn frame(&mut self) -> Frame {
        while self.buf.len() < 2 {
            self.fill();
        }
        let (b0, b1) = (self.buf[0], self.buf[1]);
        assert_eq!(b1 & 0x80, 0, "a server frame must not be masked");
        let len_field = b1 & 0x7F;
        let at = match len_field {
            126 => 4,
            127 => 10,
            _ => 2,
        };
        while self.buf.len() < at {
            self.fill();
        }
        let len = match len_field {
            126 => {
                let n = u16::from_be_bytes([self.buf[2], self.buf[3]]) as usize;
                assert!(n >= 126, "16-bit length {n} where 7 bits would do");
                n
            }
            127 => {
                let n = u64::from_be_bytes(self.buf[2..10].try_into().unwrap()) as usize;
                assert!(n > 0xFFFF, "64-bit length {n} where 16 bits would do");
                n
            }
            n => usize::from(n),
        };
        while self.buf.len() < at + len {
            self.fill();
        }
        let payload = self.buf[at..at + len].to_vec();
        self.buf.drain(..at + len);
        Frame { b0, len_field, payload }
    }

    /// Reads one frame and checks it is a final frame with `opcode` and
    /// `payload`.
    pub fn expect(&mut self, opcode: u8, payload: &[u8]) {
        let f = self.frame();
        let case = &self.case;
        assert_eq!(f.b0, 0x80 | opcode, "{case}frame {f:?}, expected opcode {opcode:#x}");
        let (got, want) = (f.payload.len(), payload.len());
        assert!(f.payload == payload, "{case}payload of {got} bytes differs from the {want} expected");
    }

    /// Checks that nothing follows but the end of the connection.
    pub fn expect_eof(&mut self) {
        let case = &self.case;
        assert!(self.buf.is_empty(), "{case}bytes after the close frame: {:?}", self.buf);
        let mut b = [0u8; 1];
        match self.s.read(&mut b) {
            Ok(0) => {}
            Ok(_) => panic!("{case}the server sent {:#x} after its close frame", b[0]),
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {}
            Err(e) => panic!("{case}the server did not close the TCP connection after its close frame: {e}"),
        }
    }

    /// The server's close frame carries exactly `code`, the server then
    /// closes the TCP connection, and `ws_close` reports `code`.
    pub fn expect_closed(mut self, log: &Log, code: u16) {
        let f = self.frame();
        let case = self.case.clone();
        f.expect_close(code, &case);
        self.expect_eof();
        // Closing our end ends the server's lingering drain at once.
        let peer = self.peer();
        drop(self);
        assert_eq!(log.close_code(peer), CloseCode(code), "{case}the code ws_close saw");
    }
}

// ---------------------------------------------------------------------------
// The raw client without a socket: `peregrine::testing`.
// ---------------------------------------------------------------------------

/// `Raw`'s counterpart over memory: a connection of `App` upgraded through
/// `peregrine::testing::TestClient` (the code a WebSocket thread runs, no
/// socket or thread), sent hand-built frames. For tests about the protocol
/// rather than the socket; everything is answered by the time `send`
/// returns, so nothing waits.
pub struct MemRaw {
    pub client: TestClient<App>,
    /// What this connection's hooks saw (its client is always
    /// 127.0.0.1:40000).
    pub log: Arc<Log>,
    /// What a test loop is trying, for failure messages.
    pub case: String,
}

impl MemRaw {
    /// A new connection, upgraded.
    pub fn open() -> MemRaw {
        MemRaw::with_config(Config::new())
    }

    /// A new connection served with `config`'s limits, upgraded.
    pub fn with_config(config: Config) -> MemRaw {
        let log = Arc::new(Log::default());
        let mut client = TestClient::with_config(config, App(Arc::clone(&log)));
        let res = client.upgrade("/ws");
        assert_eq!(res.status, 101, "handshake refused: {res:?}");
        MemRaw { client, log, case: String::new() }
    }

    /// Labels this connection's failure messages with `case`.
    pub fn case(mut self, case: impl std::fmt::Debug) -> MemRaw {
        self.case = format!("[{case:?}] ");
        self
    }

    /// Delivers `bytes`; the server handles all it can before this returns.
    pub fn send(&mut self, bytes: &[u8]) {
        self.client.send(bytes);
    }

    /// The codes `ws_close` reported so far.
    pub fn codes(&self) -> Vec<CloseCode> {
        lock(&self.log.closed).iter().map(|&(_, c)| c).collect()
    }

    /// Takes the next server frame; checks it is unmasked and its length
    /// uses the shortest encoding (§5.2).
    pub fn frame(&mut self) -> Frame {
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
        Frame { b0, len_field: b1, payload: f.payload }
    }

    /// The next frame is a final frame with `opcode` and `payload`.
    pub fn expect(&mut self, opcode: u8, payload: &[u8]) {
        let f = self.frame();
        let case = &self.case;
        assert_eq!(f.b0, 0x80 | opcode, "{case}expected opcode {opcode:#x}, got {:#x}", f.b0);
        let (got, want) = (f.payload.len(), payload.len());
        assert!(f.payload == payload, "{case}payload of {got} bytes differs from the {want} expected");
    }

    /// The server failed the connection: its close frame carries exactly
    /// `code`, nothing follows it, the server shuts its side and drains
    /// (`ws_close` has not run), and once the client closes too the
    /// connection ends and `ws_close` reports `code`.
    pub fn expect_closed(mut self, code: u16) {
        let f = self.frame();
        let case = self.case.clone();
        f.expect_close(code, &case);
        assert!(self.client.written().is_empty(), "{case}bytes after the close frame");
        assert!(!self.client.is_open(), "{case}the server kept its side open after failing");
        assert!(self.codes().is_empty(), "{case}ws_close ran before the connection ended");
        // Closing our end ends the server's lingering drain.
        self.client.close_write();
        assert!(!self.client.is_websocket(), "{case}the connection outlived the client's close");
        assert_eq!(self.codes(), [CloseCode(code)], "{case}the codes ws_close saw");
    }

    /// The closing handshake is over, but the client sent more after its
    /// close: the server half-closed after its close frame and drains
    /// until the client closes (a close with bytes unread would be a
    /// reset, which can destroy the close frame), then `ws_close`
    /// reported `code`, once.
    pub fn expect_drained(mut self, code: CloseCode) {
        let case = &self.case;
        let after = self.client.written();
        assert!(after.is_empty(), "{case}the server sent {after:?} after its close frame");
        assert!(!self.client.is_open(), "{case}the server did not half-close after its close frame");
        self.client.close_write();
        assert!(!self.client.is_websocket(), "{case}the connection outlived the client's close");
        assert_eq!(self.codes(), [code], "{case}the codes ws_close saw");
    }

    /// The closing handshake is over (the server answered the client's
    /// close, whose frame the test took): nothing follows the server's
    /// close frame, the server closed the connection without waiting for
    /// the client, and `ws_close` reported `code`, once.
    pub fn expect_ended(self, code: CloseCode) {
        let case = &self.case;
        let after = self.client.written();
        assert!(after.is_empty(), "{case}the server sent {after:?} after its close frame");
        assert!(!self.client.is_open(), "{case}the server did not close after its close frame");
        assert!(!self.client.is_websocket(), "{case}the connection outlived the closing handshake");
        assert_eq!(self.codes(), [code], "{case}the codes ws_close saw");
    }
}

/// Reads and drops whatever arrives until the server's end closes (EOF or
/// reset); false if `limit` passes first.
pub fn reaches_eof(s: &mut TcpStream, limit: Duration) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let end = Instant::now() + limit;
    let mut chunk = vec![0u8; 1 << 16];
    while Instant::now() < end {
        match s.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted) => {
                return true
            }
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                ) => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    false
}

// ---------------------------------------------------------------------------
// A real client: tungstenite.
// ---------------------------------------------------------------------------

pub type Client = tungstenite::WebSocket<TcpStream>;

/// A tungstenite client connected to `/ws` at `addr`, with bounded waits.
pub fn client_at(addr: SocketAddr) -> Client {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s.set_nodelay(true).unwrap();
    match tungstenite::client::client(format!("ws://{addr}/ws"), s) {
        Ok((ws, res)) => {
            assert_eq!(res.status().as_u16(), 101);
            ws
        }
        Err(e) => panic!("handshake failed: {e}"),
    }
}

pub fn client(server: &TestServer) -> Client {
    client_at(server.addr)
}

pub fn peer_of(ws: &Client) -> SocketAddr {
    ws.get_ref().local_addr().unwrap()
}

pub fn recv(ws: &mut Client) -> WsMessage {
    ws.read().unwrap_or_else(|e| panic!("read failed: {e}"))
}

pub fn send(ws: &mut Client, msg: WsMessage) {
    ws.send(msg).unwrap_or_else(|e| panic!("send failed: {e}"));
}

/// Reads the server's close frame, checks its code, and then that the
/// server closes the TCP connection (tungstenite answers the close on the
/// way, if the server started it).
pub fn expect_server_close(ws: &mut Client, code: u16) {
    match recv(ws) {
        WsMessage::Close(Some(frame)) => assert_eq!(u16::from(frame.code), code, "close code"),
        other => panic!("expected a close frame with {code}, got {other:?}"),
    }
    match ws.read() {
        Err(tungstenite::Error::ConnectionClosed) => {}
        other => panic!("expected the server to close the TCP connection, got {other:?}"),
    }
}

/// Closes from the client's side with `code`; the server must echo it.
pub fn close_client(ws: &mut Client, code: u16) {
    ws.close(Some(CloseFrame { code: code.into(), reason: "".into() })).expect("send close");
    expect_server_close(ws, code);
}
