//! "Zero allocations per WebSocket message" as a tested fact: a counting
//! global allocator sees no allocation, on any thread, while warmed-up
//! WebSocket threads echo thousands of messages: text and binary, empty,
//! small, 1 KiB and 20 KiB (larger than the 8 KiB read buffer), fragmented
//! ones (a ping between fragments, a UTF-8 character split across two),
//! pipelined bursts, a frame whose head arrives in two writes, and pings
//! answered with pongs.
//!
//! The warm-up holds each WebSocket thread once per step while every
//! client writes, so the pools grow to what a turn answering all of a
//! thread's connections at once needs before the window, not inside it
//! when the scheduler first makes such a turn; and it cuts every step's
//! requests at the same points on all connections, so that every
//! connection holds a partial frame at once (found on a loaded CI run:
//! one read buffer taken inside the window).
//!
//! This file holds a single test so no other test allocates meanwhile;
//! the client side allocates nothing inside the measured window either:
//! every frame it sends is built beforehand, and echoes are read into a
//! fixed buffer and compared with prebuilt expectations.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;

use peregrine::ws::{self, Message, WebSocket};
use peregrine::{Config, Handler, Request, Response};

mod support;
use support::{eventually, TestServer};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{measure, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Echoes every message on `/ws`.
struct Echo;

impl Handler for Echo {
    const WEBSOCKETS: bool = true;

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        if req.path() == "/ws" {
            let _ = ws::upgrade(req, res);
        } else {
            res.status(peregrine::StatusCode::NOT_FOUND);
        }
    }

    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        let sent = match msg {
            Message::Text(WHERE) => ws.send_text(thread::current().name().unwrap_or("unnamed")),
            Message::Text(HOLD) => return hold(),
            Message::Text(text) => ws.send_text(text),
            Message::Binary(bytes) => ws.send_binary(bytes),
        };
        // A failed send would only show up as a missing echo: say why.
        sent.expect("echo");
    }
}

/// Asks which WebSocket thread serves the connection: the answer is its name.
const WHERE: &str = "where?";
/// Holds the thread that reads it in the hook until the gate opens.
const HOLD: &str = "hold";

/// Threads held in a `HOLD` hook, and whether the gate is open.
static HELD: AtomicUsize = AtomicUsize::new(0);
static GATE_OPEN: AtomicBool = AtomicBool::new(true);

/// Waits in a hook, its thread counted in `HELD`, until the test opens the
/// gate (at most `support::WAIT`: a test that forgot would fail, not hang).
fn hold() {
    HELD.fetch_add(1, Ordering::SeqCst);
    assert!(eventually(|| GATE_OPEN.load(Ordering::SeqCst)), "the gate stayed shut");
}

const TEXT: u8 = 0x1;
const BINARY: u8 = 0x2;
const PING: u8 = 0x9;
const PONG: u8 = 0xA;
const FIN: u8 = 0x80;

/// One exchange: bytes the client writes, and the frames the server must
/// answer with. Echoes come in the order of the messages and pongs in the
/// order of the pings; how the two interleave is not this test's concern.
struct Step {
    request: Vec<u8>,
    /// Where the request is split into two writes (0: one write).
    split: usize,
    /// `(opcode, payload)` of each echo, in order.
    echoes: Vec<(u8, Vec<u8>)>,
    /// The payload of each pong, in order.
    pongs: Vec<Vec<u8>>,
}

/// Appends a masked client frame; `first` holds FIN and the opcode. The
/// mask varies with `seed` so every byte position meets every key byte.
fn frame(out: &mut Vec<u8>, first: u8, payload: &[u8], seed: u32) {
    support::ws::masked_frame(out, first, payload, seed.wrapping_mul(0x9E37_79B9).to_be_bytes());
}

/// Text of exactly `len` bytes mixing one-, two- and three-byte characters.
fn text_of(len: usize) -> String {
    let mut s = String::with_capacity(len);
    for c in "peregrine é € ".chars().cycle() {
        if s.len() + c.len_utf8() > len {
            break;
        }
        s.push(c);
    }
    while s.len() < len {
        s.push('.');
    }
    s
}

fn binary_of(len: usize, salt: u8) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8 ^ salt).collect()
}

/// A step sending one unfragmented message.
fn single(opcode: u8, payload: &[u8], seed: u32) -> Step {
    let mut request = Vec::new();
    frame(&mut request, FIN | opcode, payload, seed);
    Step { request, split: 0, echoes: vec![(opcode, payload.to_vec())], pongs: vec![] }
}

fn steps() -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, len) in [0, 7, 1024, 20 * 1024].into_iter().enumerate() {
        steps.push(single(TEXT, text_of(len).as_bytes(), 10 + i as u32));
        steps.push(single(BINARY, &binary_of(len, i as u8), 20 + i as u32));
    }

    // A 20 KiB frame whose head arrives in two writes (mid length field).
    let mut split = single(TEXT, text_of(20 * 1024 - 3).as_bytes(), 30);
    split.split = 3;
    steps.push(split);

    // Pings of 0, 13 and 125 bytes, one write.
    let mut request = Vec::new();
    let pings: Vec<Vec<u8>> = vec![vec![], b"are you there".to_vec(), binary_of(125, 7)];
    for (i, p) in pings.iter().enumerate() {
        frame(&mut request, FIN | PING, p, 40 + i as u32);
    }
    steps.push(Step { request, split: 0, echoes: vec![], pongs: pings });

    // A 3 KiB text in three fragments, the first cut inside a three-byte
    // character, a ping between the first two fragments.
    let text = text_of(3 * 1024);
    let bytes = text.as_bytes();
    let cut = (1000..).find(|&i| !text.is_char_boundary(i)).unwrap();
    let mut request = Vec::new();
    frame(&mut request, TEXT, &bytes[..cut], 50);
    frame(&mut request, FIN | PING, b"between fragments", 51);
    frame(&mut request, 0x0, &bytes[cut..2048], 52);
    frame(&mut request, FIN, &bytes[2048..], 53);
    steps.push(Step {
        request,
        split: 0,
        echoes: vec![(TEXT, bytes.to_vec())],
        pongs: vec![b"between fragments".to_vec()],
    });

    // A 20 KiB binary message in four uneven fragments.
    let data = binary_of(20 * 1024, 0x5A);
    let mut request = Vec::new();
    let cuts = [0, 100, 9000, 15_000, data.len()];
    for (i, w) in cuts.windows(2).enumerate() {
        let first = if i == 0 { BINARY } else { 0x0 } | if w[1] == data.len() { FIN } else { 0 };
        frame(&mut request, first, &data[w[0]..w[1]], 60 + i as u32);
    }
    steps.push(Step { request, split: 0, echoes: vec![(BINARY, data)], pongs: vec![] });

    // A burst of 16 small messages in one write, echoed in order.
    let mut request = Vec::new();
    let mut echoes = Vec::new();
    for i in 0..16u32 {
        let (opcode, payload) = if i % 2 == 0 {
            (TEXT, text_of(i as usize * 5).into_bytes())
        } else {
            (BINARY, binary_of(i as usize, 1))
        };
        frame(&mut request, FIN | opcode, &payload, 70 + i);
        echoes.push((opcode, payload));
    }
    steps.push(Step { request, split: 0, echoes, pongs: vec![] });
    steps
}

/// A connection and its fixed read buffer.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    filled: usize,
}

impl Client {
    /// Connects and performs the opening handshake (this allocates; it
    /// happens before the measured window).
    fn open(server: &TestServer) -> Client {
        let mut stream = server.connect();
        stream
            .write_all(
                b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                  Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            )
            .unwrap();
        // Byte by byte, so no frame is read along with the head.
        let mut head = Vec::new();
        let mut b = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101 "), "no upgrade: {head}");
        assert!(head.contains("\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"), "{head}");
        Client { stream, buf: vec![0; 64 * 1024], filled: 0 }
    }

    /// The name of the WebSocket thread serving this connection.
    fn thread(&mut self) -> String {
        self.send(&single(TEXT, WHERE.as_bytes(), 91));
        let (opcode, len, end) = self.next_frame();
        assert_eq!(opcode, TEXT, "the answer to {WHERE}");
        let name = String::from_utf8(self.buf[end - len..end].to_vec()).expect("a thread name");
        self.buf.copy_within(end..self.filled, 0);
        self.filled -= end;
        name
    }

    fn send(&mut self, step: &Step) {
        let (a, b) = step.request.split_at(step.split);
        self.stream.write_all(a).unwrap();
        self.stream.write_all(b).unwrap();
    }

    /// Reads the next server frame: its opcode and the end of its payload
    /// (which starts at `end - len`).
    fn next_frame(&mut self) -> (u8, usize, usize) {
        loop {
            if let Some(found) = self.parsed() {
                return found;
            }
            assert!(self.filled < self.buf.len(), "a server frame larger than the read buffer");
            let n = self.stream.read(&mut self.buf[self.filled..]).expect("read");
            assert!(n > 0, "the server closed the connection");
            self.filled += n;
        }
    }

    /// The frame at the front of the buffer, if it is all there.
    fn parsed(&self) -> Option<(u8, usize, usize)> {
        let b = &self.buf[..self.filled];
        let [b0, b1, ..] = *b else { return None };
        assert_eq!(b0 & 0xF0, FIN, "server frames are final, without RSV bits");
        assert_eq!(b1 & 0x80, 0, "server frames are not masked");
        let (len, head) = match b1 & 0x7F {
            126 => (usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])), 4),
            127 => (u64::from_be_bytes(b.get(2..10)?.try_into().unwrap()) as usize, 10),
            n => (usize::from(n), 2),
        };
        (self.filled >= head + len).then_some((b0 & 0x0F, len, head + len))
    }

    /// Reads and checks the answers to `step`; nothing else may arrive.
    fn check(&mut self, step: &Step) {
        let (mut echo, mut pong) = (0, 0);
        while echo < step.echoes.len() || pong < step.pongs.len() {
            let (opcode, len, end) = self.next_frame();
            let payload = &self.buf[end - len..end];
            if opcode == PONG {
                assert!(pong < step.pongs.len(), "an unexpected pong");
                assert!(payload == &step.pongs[pong][..], "wrong pong payload");
                pong += 1;
            } else {
                assert!(echo < step.echoes.len(), "an unexpected frame, opcode {opcode}");
                let (want_opcode, want) = &step.echoes[echo];
                assert_eq!(opcode, *want_opcode, "echo {echo} has the wrong opcode");
                assert!(payload == &want[..], "echo {echo} differs ({len} bytes, {} expected)", want.len());
                echo += 1;
            }
            self.buf.copy_within(end..self.filled, 0);
            self.filled -= end;
        }
        assert_eq!(self.filled, 0, "more bytes than the expected answers");
    }
}

/// Every step on every connection: all connections write, then all read,
/// so the WebSocket threads serve several at once; `rounds` times.
fn exchange(clients: &mut [Client], steps: &[Step], rounds: usize) {
    for _ in 0..rounds {
        for step in steps {
            for c in clients.iter_mut() {
                c.send(step);
            }
            for c in clients.iter_mut() {
                c.check(step);
            }
        }
    }
}

/// Each step once with every WebSocket thread held in a hook (by a
/// connection of its own) while all clients write: released, a thread
/// finds all of its connections readable at once and answers them in one
/// turn, the most frame buffers a turn can have in use with this traffic.
/// Left to chance, a turn like that might come first inside the measured
/// window, and the frame pool would grow there.
fn exchange_held(clients: &mut [Client], holders: &mut [Client], steps: &[Step]) {
    let hold = single(TEXT, HOLD.as_bytes(), 90);
    for step in steps {
        HELD.store(0, Ordering::SeqCst);
        GATE_OPEN.store(false, Ordering::SeqCst);
        for h in holders.iter_mut() {
            h.send(&hold);
        }
        let all_held = eventually(|| HELD.load(Ordering::SeqCst) == holders.len());
        assert!(all_held, "not every thread was held");
        for c in clients.iter_mut() {
            c.send(step);
        }
        GATE_OPEN.store(true, Ordering::SeqCst);
        for c in clients.iter_mut() {
            c.check(step);
        }
    }
}

/// Each step with every client's request cut at the same point, the
/// first part sent by all before the rest: every connection of a thread
/// then holds a partial frame (its read buffer, a larger one for a large
/// frame, a message's fragments) at once, as the scheduler may make them
/// do inside the window. The pause only gives the threads time to read
/// the first parts; a short one makes the warm-up weaker, not wrong.
fn exchange_cut(clients: &mut [Client], steps: &[Step], cut: (usize, usize)) {
    for step in steps {
        let at = step.request.len() * cut.0 / cut.1;
        let (first, rest) = step.request.split_at(at);
        for c in clients.iter_mut() {
            c.stream.write_all(first).unwrap();
        }
        thread::sleep(std::time::Duration::from_millis(20));
        for c in clients.iter_mut() {
            c.stream.write_all(rest).unwrap();
        }
        for c in clients.iter_mut() {
            c.check(step);
        }
    }
}

/// One more connection on each WebSocket thread that serves `clients`, to
/// hold that thread with.
fn holders_for(server: &TestServer, clients: &mut [Client]) -> Vec<Client> {
    let mut wanted: BTreeMap<String, Option<Client>> =
        clients.iter_mut().map(|c| (c.thread(), None)).collect();
    for _ in 0..4 * wanted.len() {
        let mut c = Client::open(server);
        if let Some(slot @ None) = wanted.get_mut(&c.thread()) {
            *slot = Some(c);
        }
    }
    wanted
        .into_iter()
        .map(|(thread, c)| c.unwrap_or_else(|| panic!("no second connection landed on {thread}")))
        .collect()
}

#[test]
fn websocket_messages_allocate_nothing() {
    let server = TestServer::start(Config::new().workers(2).websocket_threads(2), Echo);
    let mut clients: Vec<Client> = (0..6).map(|_| Client::open(&server)).collect();
    let mut holders = holders_for(&server, &mut clients);
    let steps = steps();
    let messages: usize = steps.iter().map(|s| s.echoes.len() + s.pongs.len()).sum();

    exchange_held(&mut clients, &mut holders, &steps);
    for cut in [(1, 4), (1, 2), (3, 4)] {
        exchange_cut(&mut clients, &steps, cut);
    }
    exchange(&mut clients, &steps, 200);
    let measured = measure(|| exchange(&mut clients, &steps, 300));

    let total = 300 * clients.len() * messages;
    assert_eq!(measured.count, 0, "while answering {total} messages: {measured}");
    drop((clients, holders));
    server.stop().unwrap();
}
