//! Streamed bodies (`Response::stream`, `Responder::stream` → `Stream`):
//! chunked framing checked by an independent client (Python's
//! `http.client`, and `h11` where installed) and by a strict parser here;
//! close-delimited bodies for HTTP/1.0; HEAD; a stream dropped unfinished;
//! back-pressure and the timeouts; cancellation (client gone, failed
//! handler, shutdown); a stream started by a responder; many streams at
//! once; pipelined requests behind a stream; Nagle off for a stream on a
//! connection that closes after it.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine::{Config, Request, Responder, Response, StatusCode, Stream, StreamError};

#[path = "support/later.rs"]
mod later;
mod support;

use later::{
    fill_or_eof, join_within, pattern_bytes, pattern_mismatch, read_complete, read_reply, read_to_close,
    silent_for, End, Framing, Reply, Running, XorShift,
};
use support::WAIT;

/// What a handler hands to the test, with its request's `id`.
enum Held {
    Stream(Stream, String),
    Responder(Responder, String),
}

fn query<'a>(req: &Request<'a>, key: &str) -> String {
    req.query().get(key).map(|v| v.to_string()).unwrap_or_default()
}

/// `sizes=a,b,c` (empty: none).
fn sizes_of(req: &Request<'_>) -> Vec<usize> {
    query(req, "sizes").split(',').filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect()
}

/// Writes the pattern in pieces of `sizes` (each one `send`), then
/// finishes the stream, or drops it unfinished if `finish` is false.
fn write_pieces(mut stream: Stream, base: u64, sizes: &[usize], finish: bool) {
    let mut at = base;
    for &size in sizes {
        if stream.send(&pattern_bytes(at, size)).is_err() {
            return;
        }
        at += size as u64;
    }
    if finish {
        stream.finish();
    }
}

/// The pieces `/many?id=ID` writes.
fn many_sizes(id: u64) -> Vec<usize> {
    let mut rng = XorShift::new(id + 1);
    (0..40).map(|_| 1 + rng.below(16_000) as usize).collect()
}

/// The handler of the tests here:
///
/// - `/stream?sizes=a,b,…` → a stream (header `X-Kind: stream`), written
///   piece by piece with the pattern by another thread, then finished;
/// - `/drop-stream?sizes=…` → the same, dropped unfinished;
/// - `/inline` → a stream written and finished inside `handle`;
/// - `/hold-stream?id=X` → a stream handed to the test;
/// - `/stream-then-panic?id=X`, `/stream-bad-header?id=X` → a stream
///   handed to the test by a handler that then fails;
/// - `/defer?id=X` → a responder (header `X-Id: X` set before) handed to
///   the test;
/// - `/many?id=N` → the pieces of [`many_sizes`], the pattern from `N << 32`;
/// - `/now?id=X` → `now X`.
fn app(held: Sender<Held>) -> impl Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static {
    move |req: &Request<'_>, res: &mut Response<'_>| {
        let id = query(req, "id");
        match req.path() {
            "/stream" | "/drop-stream" => {
                let sizes = sizes_of(req);
                let finish = req.path() == "/stream";
                res.header("X-Kind", "stream");
                let stream = res.stream();
                std::thread::spawn(move || write_pieces(stream, 0, &sizes, finish));
            }
            "/inline" => {
                // Written and finished inside `handle`, without blocking.
                let mut stream = res.stream();
                stream.try_send(b"written in handle, ").unwrap();
                stream.try_send(b"finished there").unwrap();
                stream.finish();
            }
            "/stream-then-panic" | "/stream-bad-header" => {
                // The stream is handed out, then the handler fails: the
                // client gets a 500 instead, and nothing will read the pipe.
                if req.path() == "/stream-bad-header" {
                    res.header("Bad Name", "x");
                }
                let _ = held.send(Held::Stream(res.stream(), id));
                if req.path() == "/stream-then-panic" {
                    panic!("handler fails after handing out its stream (expected by the test)");
                }
            }
            "/hold-stream" => {
                let _ = held.send(Held::Stream(res.stream(), id));
            }
            "/defer" => {
                res.header("X-Id", &id);
                let _ = held.send(Held::Responder(res.defer(), id));
            }
            "/many" => {
                let n: u64 = id.parse().unwrap();
                let stream = res.stream();
                std::thread::spawn(move || write_pieces(stream, n << 32, &many_sizes(n), true));
            }
            "/now" => {
                write!(res, "now {id}").unwrap();
            }
            _ => {
                res.status(StatusCode::NOT_FOUND).body(b"not found");
            }
        }
    }
}

fn start(config: Config) -> (Running, Receiver<Held>) {
    let (tx, rx) = mpsc::channel();
    (Running::start(config, app(tx)), rx)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// A client of `/hold-stream?id=ID` that has read the stream's first
/// chunk, `first`: the client, the stream, and what the client read.
fn stream_begun(server: &Running, held: &Receiver<Held>, id: &str) -> (TcpStream, Stream, Vec<u8>) {
    let mut s = server.connect();
    s.write_all(get(&format!("/hold-stream?id={id}")).as_bytes()).unwrap();
    let mut stream = next_stream(held, id);
    stream.send(b"first").unwrap();
    let mut got = Vec::new();
    while !got.windows(5).any(|w| w == b"first") {
        assert!(fill_or_eof(&mut s, &mut got), "closed before the first chunk");
    }
    (s, stream, got)
}

fn next_stream(held: &Receiver<Held>, id: &str) -> Stream {
    match held.recv_timeout(WAIT) {
        Ok(Held::Stream(stream, got)) if got == id => stream,
        Ok(_) => panic!("expected the stream of {id}"),
        Err(_) => panic!("the request for stream {id} never reached the handler"),
    }
}

fn next_responder(held: &Receiver<Held>, id: &str) -> Responder {
    match held.recv_timeout(WAIT) {
        Ok(Held::Responder(responder, got)) if got == id => responder,
        Ok(_) => panic!("expected the responder of {id}"),
        Err(_) => panic!("the request for responder {id} never reached the handler"),
    }
}

/// Checks a finished chunked stream: one `Transfer-Encoding: chunked`, no
/// length, the last chunk seen, the pattern from 0 for `len` bytes.
fn assert_chunked_pattern(r: &Reply, len: usize, what: &str) {
    assert_eq!(r.status, 200, "{what}");
    assert_eq!(r.headers_named("transfer-encoding"), ["chunked"], "{what}: {:?}", r.headers);
    assert_eq!(r.header("content-length"), None, "{what}: a stream has no length");
    assert_eq!((r.framing, r.end), (Framing::Chunked, End::Complete), "{what}");
    assert_eq!(r.body.len(), len, "{what}: body length");
    assert_eq!(pattern_mismatch(&r.body, 0), None, "{what}: body differs");
    assert!(r.chunks.iter().all(|&c| c > 0), "{what}: an empty chunk before the last");
}

// ---------------------------------------------------------------------
// Framing, checked by an independent client.

/// Fetches `paths` in order on one keep-alive connection with Python's
/// `http.client` (and, when it is installed, again with `h11`). Each line
/// of the output: `R <client> <status> <version> <chunked 0/1>`, then
/// `H <name>: <value>` per header, then `B <body in hex>`.
const PYTHON_CLIENT: &str = r#"
import sys, http.client, socket
host, port, paths = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
out = []
c = http.client.HTTPConnection(host, port, timeout=10)
for p in paths:
    c.request("GET", p)
    r = c.getresponse()
    body = r.read()  # raises IncompleteRead on a bad or cut chunked body
    out.append("R http.client %d %d %d" % (r.status, r.version, 1 if r.chunked else 0))
    out.extend("H %s: %s" % (k, v) for k, v in r.getheaders())
    out.append("B " + body.hex())
c.close()
try:
    import h11
except ImportError:
    h11 = None
if h11 is None:
    out.append("NO-H11")
else:
    s = socket.create_connection((host, port), timeout=10)
    conn = h11.Connection(h11.CLIENT)
    for p in paths:
        s.sendall(conn.send(h11.Request(method="GET", target=p, headers=[("Host", "x")])))
        s.sendall(conn.send(h11.EndOfMessage()))
        body = bytearray()
        while True:
            ev = conn.next_event()
            if ev is h11.NEED_DATA:
                conn.receive_data(s.recv(65536))
            elif isinstance(ev, h11.Response):
                chunked = any(k.lower() == b"transfer-encoding" and v.lower() == b"chunked" for k, v in ev.headers)
                out.append("R h11 %d 11 %d" % (ev.status_code, 1 if chunked else 0))
                out.extend("H %s: %s" % (k.decode(), v.decode()) for k, v in ev.headers)
            elif isinstance(ev, h11.Data):
                body += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                break
            else:
                raise Exception("unexpected h11 event %r" % (ev,))
        out.append("B " + bytes(body).hex())
        conn.start_next_cycle()
    s.close()
sys.stdout.write("\n".join(out) + "\n")
"#;

/// A response as the Python client saw it.
#[derive(Debug)]
struct PyResponse {
    client: String,
    status: u16,
    version: u32,
    chunked: bool,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn hex_decode(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex");
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

/// Runs [`PYTHON_CLIENT`] against `server` (at most 3 × `WAIT`); returns
/// what it saw and whether `h11` was there.
fn python_fetch(server: &Running, paths: &[&str]) -> (Vec<PyResponse>, bool) {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(PYTHON_CLIENT)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .args(paths)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is needed for this test (an HTTP client independent of this crate)");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut v = String::new();
        stdout.read_to_string(&mut v).map(|_| v)
    });
    let err = std::thread::spawn(move || {
        let mut v = String::new();
        let _ = stderr.read_to_string(&mut v);
        v
    });
    let end = Instant::now() + 3 * WAIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > end {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the Python client did not finish within {:?}", 3 * WAIT);
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = join_within(out, WAIT, "reading Python's output").unwrap();
    let stderr = join_within(err, WAIT, "reading Python's errors");
    assert!(status.success(), "the Python client failed ({status}):\n{stderr}");
    let mut responses: Vec<PyResponse> = Vec::new();
    let mut h11 = true;
    for line in stdout.lines() {
        let (tag, rest) = line.split_once(' ').unwrap_or((line, ""));
        match tag {
            "R" => {
                let f: Vec<&str> = rest.split(' ').collect();
                responses.push(PyResponse {
                    client: f[0].into(),
                    status: f[1].parse().unwrap(),
                    version: f[2].parse().unwrap(),
                    chunked: f[3] == "1",
                    headers: Vec::new(),
                    body: Vec::new(),
                });
            }
            "H" => {
                let (n, v) = rest.split_once(": ").unwrap();
                responses.last_mut().unwrap().headers.push((n.into(), v.into()));
            }
            "B" => responses.last_mut().unwrap().body = hex_decode(rest),
            "NO-H11" => h11 = false,
            _ => panic!("unexpected line from the Python client: {line:?}"),
        }
    }
    (responses, h11)
}

#[test]
fn chunked_streams_parse_with_an_independent_client() {
    let (server, _held) = start(Config::new().workers(1));
    let cases: [(&str, usize); 5] = [
        ("/stream?sizes=1,1000,70000,200000", 271_001),
        // Empty writes send nothing (an empty chunk would end the body).
        ("/stream?sizes=1,0,1000,0,70000,0,200000", 271_001),
        ("/stream?sizes=200000,1,70000,1", 270_002),
        // Finished without a write: an empty body.
        ("/stream?sizes=", 0),
        ("/stream?sizes=65536,65537,1,65535", 196_609),
    ];
    let mut paths: Vec<&str> = cases.iter().map(|c| c.0).collect();
    paths.push("/now?id=after-streams");
    let (responses, h11) = python_fetch(&server, &paths);
    if !h11 {
        println!("h11 is not installed: checked with http.client (and this file's own parser) only");
    }
    let clients = if h11 { 2 } else { 1 };
    assert_eq!(responses.len(), paths.len() * clients, "{responses:#?}");
    for (i, r) in responses.iter().enumerate() {
        let what = format!("{} for {}", r.client, paths[i % paths.len()]);
        assert_eq!((r.status, r.version), (200, 11), "{what}");
        if let Some(&(_, len)) = cases.get(i % paths.len()) {
            assert!(r.chunked, "{what}: not chunked");
            assert!(
                r.headers.iter().any(|(n, v)| n.eq_ignore_ascii_case("x-kind") && v == "stream"),
                "{what}: {:?}",
                r.headers
            );
            assert!(!r.headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-length")), "{what}");
            assert_eq!(r.body.len(), len, "{what}: body length");
            assert_eq!(pattern_mismatch(&r.body, 0), None, "{what}: body differs");
        } else {
            assert_eq!(r.body, b"now after-streams", "{what}: the connection after the streams");
        }
    }

    // The same with this file's strict parser, pipelined on one connection.
    let mut s = server.connect();
    s.write_all(paths.iter().map(|p| get(p)).collect::<String>().as_bytes()).unwrap();
    let mut buf = Vec::new();
    for (path, len) in cases {
        let r = read_complete(&mut s, &mut buf, false);
        assert_chunked_pattern(&r, len, path);
        assert_eq!(r.connection(), None, "{path}: the connection should stay open");
    }
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"now after-streams");
    assert!(buf.is_empty(), "stray bytes {:?}", String::from_utf8_lossy(&buf));
}

#[test]
fn a_stream_written_and_finished_inside_handle() {
    let (server, _held) = start(Config::new().workers(1));
    let mut s = server.connect();
    s.write_all(format!("{}{}", get("/inline"), get("/inline")).as_bytes()).unwrap();
    let mut buf = Vec::new();
    for _ in 0..2 {
        let r = read_complete(&mut s, &mut buf, false);
        assert_eq!((r.status, r.framing), (200, Framing::Chunked));
        assert_eq!(r.body_str(), "written in handle, finished there");
    }
    assert!(buf.is_empty());
}

#[test]
fn http10_stream_is_close_delimited() {
    let (server, _held) = start(Config::new().workers(1));
    for keep_alive in ["", "Connection: keep-alive\r\n"] {
        let mut s = server.connect();
        s.write_all(format!("GET /stream?sizes=1,1000,70000,3 HTTP/1.0\r\n{keep_alive}\r\n").as_bytes())
            .unwrap();
        let r = read_reply(&mut s, &mut Vec::new(), false);
        let what = format!("HTTP/1.0 with {keep_alive:?}");
        assert_eq!(r.status, 200, "{what}");
        assert_eq!(r.header("transfer-encoding"), None, "{what}: chunked sent to an HTTP/1.0 client");
        assert_eq!(r.header("content-length"), None, "{what}");
        assert_eq!(r.connection().as_deref(), Some("close"), "{what}: {:?}", r.headers);
        assert_eq!(r.header("keep-alive"), None, "{what}");
        assert_eq!(r.framing, Framing::UntilClose, "{what}");
        assert_eq!(r.body.len(), 71_004, "{what}");
        assert_eq!(pattern_mismatch(&r.body, 0), None, "{what}: body differs");
    }
}

#[test]
fn head_of_a_stream_route_has_no_body_and_the_connection_goes_on() {
    let (server, _held) = start(Config::new().workers(1));
    let mut s = server.connect();
    let pipeline = format!(
        "HEAD /stream?sizes=1000,70000 HTTP/1.1\r\nHost: x\r\n\r\n{}{}",
        get("/stream?sizes=3,4"),
        get("/now?id=after")
    );
    s.write_all(pipeline.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let head = read_reply(&mut s, &mut buf, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("x-kind"), Some("stream"));
    assert_eq!(head.header("content-length"), None, "HEAD of a stream claims a length: {:?}", head.headers);
    assert_eq!(head.connection(), None, "the connection should stay open after HEAD");
    let r = read_complete(&mut s, &mut buf, false);
    assert_chunked_pattern(&r, 7, "GET after HEAD");
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"now after");
    assert!(buf.is_empty(), "HEAD sent body bytes: {:?}", String::from_utf8_lossy(&buf));
    silent_for(&mut s, Duration::from_millis(100)).unwrap();
}

#[test]
fn a_stream_dropped_unfinished_cuts_the_body_short_and_closes() {
    let (server, _held) = start(Config::new().workers(1));
    let mut s = server.connect();
    // A request pipelined behind it is not answered: the connection closes.
    s.write_all(format!("{}{}", get("/drop-stream?sizes=10,20000,100"), get("/now?id=behind")).as_bytes())
        .unwrap();
    let mut buf = Vec::new();
    let r = read_reply(&mut s, &mut buf, false);
    assert_eq!(r.status, 200);
    assert_eq!(r.framing, Framing::Chunked);
    assert_eq!(r.end, End::CutBetweenChunks, "the client must see a cut-off chunked body, whole chunks");
    assert_eq!(r.body.len(), 20_110, "what was queued before the drop is all sent");
    assert_eq!(pattern_mismatch(&r.body, 0), None);
    assert!(buf.is_empty(), "after the cut: {:?}", String::from_utf8_lossy(&buf));

    // HTTP/1.0: the close ends the body; all that was queued is there.
    let mut s = server.connect();
    s.write_all(b"GET /drop-stream?sizes=10,20000 HTTP/1.0\r\n\r\n").unwrap();
    let r = read_reply(&mut s, &mut Vec::new(), false);
    assert_eq!((r.framing, r.body.len()), (Framing::UntilClose, 20_010));
    assert_eq!(pattern_mismatch(&r.body, 0), None);
}

#[test]
fn client_leaving_cancels_a_stream() {
    let (server, held) = start(Config::new().workers(1));
    let (s, mut stream, _) = stream_begun(&server, &held, "gone");
    let (tx, called) = mpsc::channel();
    stream.on_cancel(move || {
        let _ = tx.send(());
    });
    assert!(!stream.is_cancelled());
    drop(s);
    assert!(stream.wait_cancelled(WAIT), "the stream is not cancelled after the client left");
    called.recv_timeout(WAIT).expect("on_cancel callback never ran");
    // Writes now fail at once, blocking or not.
    assert_eq!(stream.send(b"more"), Err(StreamError::Cancelled));
    assert_eq!(stream.try_send(b"more"), Err(StreamError::Cancelled));
    assert!(!stream.wait_ready(Duration::from_millis(10)), "a cancelled stream is never ready");
    assert!(stream.write_all(b"io").is_err(), "io::Write on a cancelled stream");
}

#[test]
fn on_cancel_is_not_called_for_a_stream_that_finished_first() {
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    s.write_all(get("/hold-stream?id=done").as_bytes()).unwrap();
    let mut stream = next_stream(&held, "done");
    let (tx, called) = mpsc::channel();
    stream.on_cancel(move || {
        let _ = tx.send(());
    });
    stream.send(b"all of it").unwrap();
    stream.finish();
    assert_eq!(read_complete(&mut s, &mut Vec::new(), false).body, b"all of it");
    drop(s);
    let mut t = server.connect();
    t.write_all(get("/now?id=x").as_bytes()).unwrap();
    assert_eq!(read_complete(&mut t, &mut Vec::new(), false).body, b"now x");
    std::thread::sleep(Duration::from_millis(100));
    assert!(called.try_recv().is_err(), "on_cancel ran for a stream that had finished");
}

/// A handler that hands its stream to a thread and then fails (panics, or
/// had set an invalid header) is answered 500; its stream will never be
/// read, so its writer must be told (cancelled) rather than left to block
/// for ever in `send` once the pipe is full.
#[test]
fn a_stream_whose_handler_failed_is_cancelled_and_never_blocks_its_writer() {
    // Cancelling is immediate where it happens: far longer than needed.
    const PATIENCE: Duration = Duration::from_secs(3);
    let (server, held) = start(Config::new().workers(1));
    let mut failures = Vec::new();
    for path in ["/stream-then-panic", "/stream-bad-header"] {
        let mut s = server.connect();
        s.write_all(get(&format!("{path}?id=x")).as_bytes()).unwrap();
        let mut stream = next_stream(&held, "x");
        let r = read_complete(&mut s, &mut Vec::new(), false);
        assert_eq!(r.status, 500, "{path}");
        // A writer that writes until told to stop.
        let writer = std::thread::spawn(move || {
            let piece = vec![b'x'; 64 << 10];
            let mut written = 0u64;
            loop {
                if let Err(e) = stream.send(&piece) {
                    return (e, written);
                }
                written += piece.len() as u64;
                if written >= 64 << 20 {
                    return (StreamError::Full, written);
                }
            }
        });
        let end = Instant::now() + PATIENCE;
        while !writer.is_finished() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(5));
        }
        if !writer.is_finished() {
            // The thread is left blocked: nothing can wake it.
            failures.push(format!(
                "{path}: answered 500, and the writer of its stream, which nobody will ever read, is still \
                 blocked in send() after {PATIENCE:?} (never cancelled)"
            ));
            continue;
        }
        let (err, written) = writer.join().unwrap();
        if err != StreamError::Cancelled {
            failures
                .push(format!("{path}: the writer ended with {err:?} after {written} bytes, not Cancelled"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// ---------------------------------------------------------------------
// Back-pressure and the write timeout.

#[test]
fn back_pressure_bounds_what_a_client_that_does_not_read_holds() {
    /// Far above anything the pipe and socket buffers hold.
    const BOUND: u64 = 64 << 20;
    const PIECE: usize = 16 << 10;
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    s.write_all(get("/hold-stream?id=bp").as_bytes()).unwrap();
    let mut stream = next_stream(&held, "bp");

    // Writes that never wait, until the pipe stays full: `Full`, and no
    // room within 300 ms.
    let mut written = 0u64;
    let mut fulls = 0;
    loop {
        match stream.try_send(&pattern_bytes(written, PIECE)) {
            Ok(()) => written += PIECE as u64,
            Err(StreamError::Full) => {
                fulls += 1;
                if !stream.wait_ready(Duration::from_millis(300)) {
                    break;
                }
            }
            Err(StreamError::Cancelled) => panic!("cancelled after {written} bytes"),
        }
        assert!(
            written < BOUND,
            "try_send never said Full: {written} bytes taken for a client that reads nothing"
        );
    }
    println!("a client that reads nothing: try_send said Full after {written} bytes ({fulls} times)");
    assert!(written >= 64 << 10, "the pipe should take stream_buffer_size (64 KiB) at least: {written}");

    // A blocking send waits while the client reads nothing.
    let returned = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&returned);
    let writer = std::thread::spawn(move || {
        let mut at = written;
        stream.send(&pattern_bytes(at, PIECE)).expect("send once the client reads");
        flag.store(true, Ordering::SeqCst);
        at += PIECE as u64;
        let end = at + (1 << 20);
        while at < end {
            stream.send(&pattern_bytes(at, PIECE)).expect("send");
            at += PIECE as u64;
        }
        stream.finish();
        at
    });
    std::thread::sleep(Duration::from_millis(300));
    assert!(!returned.load(Ordering::SeqCst), "send returned while the pipe was full and nobody read");

    // The client reads everything: complete and correct.
    let r = read_complete(&mut s, &mut Vec::new(), false);
    let total = join_within(writer, WAIT, "the writer");
    assert!(returned.load(Ordering::SeqCst));
    assert_eq!(r.body.len() as u64, total, "body length");
    assert_eq!(pattern_mismatch(&r.body, 0), None, "body differs");
    s.write_all(get("/now?id=after").as_bytes()).unwrap();
    assert_eq!(read_complete(&mut s, &mut Vec::new(), false).body, b"now after");
}

/// The writer sets a stream's pace: pauses longer than every connection
/// timeout (write, keep-alive, request) do not cut a stream whose client
/// reads.
#[test]
fn a_slow_writer_is_not_cut_by_the_connection_timeouts() {
    const SHORT: Duration = Duration::from_millis(200);
    let config = Config::new()
        .workers(1)
        .write_timeout(SHORT)
        .keep_alive_timeout(SHORT)
        .request_timeout(SHORT)
        .response_timeout(SHORT);
    let (server, held) = start(config);
    let mut s = server.connect();
    s.write_all(get("/hold-stream?id=slow").as_bytes()).unwrap();
    let mut stream = next_stream(&held, "slow");
    let writer = std::thread::spawn(move || {
        let mut at = 0u64;
        for size in [1usize << 20, 10, 1 << 20] {
            stream.send(&pattern_bytes(at, size)).expect("cancelled while the client reads");
            at += size as u64;
            std::thread::sleep(SHORT * 3);
        }
        stream.finish();
        at
    });
    let r = read_complete(&mut s, &mut Vec::new(), false);
    let total = join_within(writer, WAIT, "the writer");
    assert_eq!(r.body.len() as u64, total);
    assert_eq!(pattern_mismatch(&r.body, 0), None);
}

#[test]
fn a_client_that_never_reads_is_dropped_after_write_timeout_and_the_writer_cancelled() {
    const WRITE_TIMEOUT: Duration = Duration::from_millis(500);
    const PIECE: usize = 64 << 10;
    let (server, held) = start(Config::new().workers(1).write_timeout(WRITE_TIMEOUT));
    let mut s = server.connect();
    s.write_all(get("/hold-stream?id=stuck").as_bytes()).unwrap();
    let mut stream = next_stream(&held, "stuck");
    let (tx, called) = mpsc::channel();
    stream.on_cancel(move || {
        let _ = tx.send(());
    });
    let writer = std::thread::spawn(move || {
        let piece = vec![b'x'; PIECE];
        let mut written = 0u64;
        let mut last_ok = Instant::now();
        loop {
            match stream.send(&piece) {
                Ok(()) => {
                    written += PIECE as u64;
                    last_ok = Instant::now();
                }
                Err(e) => return (e, written, last_ok.elapsed(), stream.is_cancelled()),
            }
            assert!(written < 1 << 30, "1 GiB taken for a client that reads nothing");
        }
    });
    let (err, written, blocked, cancelled) =
        join_within(writer, 2 * WAIT, "a send blocked on a client that never reads");
    println!("the writer queued {written} bytes, then its send blocked {blocked:?} until {err:?}");
    assert_eq!(err, StreamError::Cancelled);
    assert!(cancelled);
    assert!(
        blocked >= WRITE_TIMEOUT * 9 / 10,
        "the writer was cancelled {blocked:?} after its last write, before the {WRITE_TIMEOUT:?} write timeout"
    );
    called.recv_timeout(WAIT).expect("on_cancel callback never ran");
    // The server has closed the connection: what was in flight, then EOF.
    let mut rest = Vec::new();
    read_to_close(&mut s, &mut rest);
    // (Each chunk adds a few bytes of framing.)
    assert!((rest.len() as u64) < written + written / 64 + 4096, "more arrived than was written");
}

#[test]
fn a_half_close_cancels_a_stream_whose_writes_are_blocked() {
    // A client that stopped reading, then half-closed: its FIN arrives
    // while the server's writes would block. It is the documented
    // cancellation, not a wait for the write timeout.
    const PIECE: usize = 64 << 10;
    let (server, held) = start(Config::new().workers(1).write_timeout(Duration::from_secs(600)));
    let s = server.connect();
    (&s).write_all(get("/hold-stream?id=stalled").as_bytes()).unwrap();
    let mut stream = next_stream(&held, "stalled");
    let writer = std::thread::spawn(move || {
        let piece = vec![b'x'; PIECE];
        let mut written = 0u64;
        while stream.send(&piece).is_ok() {
            written += PIECE as u64;
            assert!(written < 1 << 30, "1 GiB taken for a client that reads nothing");
        }
        stream.is_cancelled()
    });
    // Long enough for both sockets' buffers to fill and the writes to block.
    std::thread::sleep(Duration::from_millis(500));
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let cancelled = join_within(writer, WAIT, "a stream not cancelled by its client's half-close");
    assert!(cancelled);
}

#[test]
fn a_half_close_behind_direct_answers_cancels_the_deferred_one_only() {
    // Ten 1 MiB answers queued (the client not reading yet), then a
    // deferred one, then the client's FIN: the direct answers, already
    // made, all arrive whole; the deferred one is cancelled, and when the
    // application then gives up (drops its Responder) nothing more is
    // sent, neither a 500 for it nor an answer to the request behind it.
    const BIG: usize = 1 << 20;
    static BODY: [u8; BIG] = [b'x'; BIG];
    let (tx, held) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let handler = move |req: &Request<'_>, res: &mut Response<'_>| match req.path() {
        "/defer" => {
            let _ = tx.lock().unwrap().send(res.defer());
        }
        _ => {
            res.body(&BODY[..]);
        }
    };
    let server = Running::start(Config::new().workers(1).write_buffer_size(16 << 20), handler);
    let mut s = server.connect();
    let requests = get("/big").repeat(10) + &get("/defer") + &get("/behind");
    s.write_all(requests.as_bytes()).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let responder: Responder =
        held.recv_timeout(WAIT).expect("the deferred request never reached the handler");
    let deadline = Instant::now() + WAIT;
    while !responder.is_cancelled() {
        assert!(Instant::now() < deadline, "the deferred answer outlived its client");
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(responder);
    let mut got = Vec::new();
    read_to_close(&mut s, &mut got);
    let heads = got.windows(9).filter(|w| w == b"HTTP/1.1 ").count();
    let ok = got.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count();
    assert_eq!((heads, ok), (10, 10), "{} bytes came", got.len());
    let one = got.len() / 10;
    assert!(one > BIG && got.len() == 10 * one, "not every answer whole: {} bytes", got.len());
}

#[test]
fn a_stream_cut_by_a_half_close_never_ends_as_if_whole() {
    // Its writer stops on the error and finishes: the last chunk must not
    // go out, or the client would take the cut body for the whole.
    let (server, held) = start(Config::new().workers(1));
    let (mut s, mut stream, mut got) = stream_begun(&server, &held, "cut");
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(stream.wait_cancelled(WAIT), "a half-close did not cancel the stream");
    assert!(stream.send(b"more").is_err());
    stream.finish();
    read_to_close(&mut s, &mut got);
    assert!(
        !got.ends_with(b"0\r\n\r\n"),
        "a cut stream ended with its last chunk: {:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn shutdown_waits_for_an_open_stream_and_cancels_it_when_the_grace_ends() {
    const GRACE: Duration = Duration::from_millis(600);
    let (server, held) = start(Config::new().workers(1).shutdown_grace(GRACE));
    let mut done = server.connect();
    done.write_all(get("/hold-stream?id=done").as_bytes()).unwrap();
    let mut finishing = next_stream(&held, "done");
    let mut never = server.connect();
    never.write_all(get("/hold-stream?id=never").as_bytes()).unwrap();
    let mut unfinished = next_stream(&held, "never");
    unfinished.send(b"begun").unwrap();
    let asked = Instant::now();
    server.handle.shutdown();
    // Within the grace: the streams go on.
    std::thread::sleep(GRACE / 4);
    assert!(!server.has_returned(), "run returned with streams open");
    assert!(!finishing.is_cancelled() && !unfinished.is_cancelled(), "cancelled within the grace period");
    finishing.send(b"finished ").unwrap();
    finishing.send(b"during shutdown").unwrap();
    finishing.finish();
    let r = read_complete(&mut done, &mut Vec::new(), false);
    assert_eq!(r.body_str(), "finished during shutdown");
    let mut rest = Vec::new();
    read_to_close(&mut done, &mut rest);
    assert!(rest.is_empty(), "after the stream: {:?}", String::from_utf8_lossy(&rest));
    // The other is never finished: cancelled when the grace ends.
    let writer = std::thread::spawn(move || loop {
        if let Err(e) = unfinished.send(b"more") {
            return e;
        }
        std::thread::sleep(Duration::from_millis(5));
    });
    let err = join_within(writer, WAIT + GRACE, "a writer of a stream open at shutdown");
    assert_eq!(err, StreamError::Cancelled);
    let result = server.join_within(WAIT);
    assert!(result.is_ok(), "run returned {result:?}");
    assert!(asked.elapsed() >= GRACE * 9 / 10, "the open stream was cut before the grace period ended");
    let r = read_reply(&mut never, &mut Vec::new(), false);
    assert_eq!(r.end, End::CutBetweenChunks, "the client must see a cut-off body");
    assert!(r.body.starts_with(b"begun"));
}

// ---------------------------------------------------------------------
// Streams from responders, many streams, pipelining.

#[test]
fn a_stream_started_from_a_responder() {
    // A streamed body is not limited by response_timeout once its head is out.
    const TIMEOUT: Duration = Duration::from_millis(300);
    let (server, held) = start(Config::new().workers(1).response_timeout(TIMEOUT));
    let mut s = server.connect();
    s.write_all(get("/defer?id=r").as_bytes()).unwrap();
    let mut responder = next_responder(&held, "r");
    silent_for(&mut s, TIMEOUT / 3).expect("nothing before the responder completes");
    responder.status(StatusCode::CREATED).header("X-From", "responder");
    let mut stream = responder.stream();
    let writer = std::thread::spawn(move || {
        let mut at = 0u64;
        // Longer in all than the response timeout.
        for size in [1, 1000, 70_000, 5, 200_000] {
            stream.send(&pattern_bytes(at, size)).unwrap();
            at += size as u64;
            std::thread::sleep(TIMEOUT / 3);
        }
        stream.finish();
    });
    let mut buf = Vec::new();
    let r = read_complete(&mut s, &mut buf, false);
    join_within(writer, WAIT, "the writer");
    assert_eq!(r.status, 201);
    assert_eq!((r.header("x-from"), r.header("x-id")), (Some("responder"), Some("r")), "{:?}", r.headers);
    assert_eq!(r.headers_named("transfer-encoding"), ["chunked"]);
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.body.len(), 271_006);
    assert_eq!(pattern_mismatch(&r.body, 0), None);
    s.write_all(get("/now?id=next").as_bytes()).unwrap();
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"now next");

    // For an HTTP/1.0 client: close-delimited.
    let mut s = server.connect();
    s.write_all(b"GET /defer?id=old HTTP/1.0\r\n\r\n").unwrap();
    let mut stream = next_responder(&held, "old").stream();
    stream.send(b"one ").unwrap();
    stream.send(b"two").unwrap();
    stream.finish();
    let r = read_reply(&mut s, &mut Vec::new(), false);
    assert_eq!((r.framing, r.body.as_slice()), (Framing::UntilClose, &b"one two"[..]));
    assert_eq!(r.header("transfer-encoding"), None);
    assert_eq!(r.connection().as_deref(), Some("close"));
}

#[test]
fn two_hundred_streams_at_once_each_written_by_its_own_thread() {
    const N: u64 = 200;
    let (server, _held) = start(Config::new().workers(2));
    let mut clients: Vec<TcpStream> = (0..N)
        .map(|id| {
            let mut s = server.connect();
            s.write_all(get(&format!("/many?id={id}")).as_bytes()).unwrap();
            s
        })
        .collect();
    for (id, s) in clients.iter_mut().enumerate() {
        let id = id as u64;
        let r = read_complete(s, &mut Vec::new(), false);
        let len: usize = many_sizes(id).iter().sum();
        assert_eq!((r.status, r.framing), (200, Framing::Chunked), "stream {id}");
        assert_eq!(r.body.len(), len, "stream {id}: body length");
        assert_eq!(pattern_mismatch(&r.body, id << 32), None, "stream {id}: body differs (another's bytes?)");
    }
    for (id, s) in clients.iter_mut().enumerate() {
        s.write_all(get(&format!("/now?id={id}")).as_bytes()).unwrap();
        let r = read_complete(s, &mut Vec::new(), false);
        assert_eq!(r.body_str(), format!("now {id}"), "connection {id} after its stream");
    }
}

#[test]
fn pipelined_requests_behind_a_stream_wait_for_it_and_follow_it() {
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    let mut pipeline: String =
        ["/hold-stream?id=s", "/now?id=2", "/stream?sizes=5,6", "/now?id=4"].map(get).concat();
    // More behind it than the 8 KiB read buffer holds.
    pipeline.extend((5..600).map(|i| get(&format!("/now?id={i}"))));
    s.write_all(pipeline.as_bytes()).unwrap();
    let mut stream = next_stream(&held, "s");
    stream.send(b"part one;").unwrap();
    let mut buf = Vec::new();
    while !buf.windows(9).any(|w| w == b"part one;") {
        assert!(fill_or_eof(&mut s, &mut buf), "closed before the first chunk");
    }
    // The stream is open: nothing of the requests behind it comes.
    if let Err(e) = silent_for(&mut s, Duration::from_millis(200)) {
        panic!("while the stream was open: {e}; had {:?}", String::from_utf8_lossy(&buf));
    }
    stream.send(b" part two").unwrap();
    stream.finish();
    let r = read_complete(&mut s, &mut buf, false);
    assert_eq!((r.framing, r.body.as_slice()), (Framing::Chunked, &b"part one; part two"[..]));
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"now 2");
    assert_chunked_pattern(&read_complete(&mut s, &mut buf, false), 11, "the second stream");
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"now 4");
    for i in 5..600 {
        assert_eq!(read_complete(&mut s, &mut buf, false).body_str(), format!("now {i}"));
    }
    assert!(buf.is_empty());
    silent_for(&mut s, Duration::from_millis(50)).expect("nothing more, and the connection stays open");
}

#[test]
fn an_event_stream_has_one_content_type_even_over_the_handlers() {
    use peregrine::sse::{Event, EventStream};
    use peregrine::testing::TestClient;
    // A handler that set a default type before it knew it would stream,
    // then streams now or, deferred, from its responder.
    let mut client = TestClient::new(|req: &Request<'_>, res: &mut Response<'_>| {
        res.header("content-type", "text/plain").header("Cache-Control", "private");
        let mut events = match req.path() {
            "/later" => EventStream::from_responder(res.defer()),
            _ => EventStream::start(res),
        };
        events.send(&Event::new("hi")).unwrap();
        events.finish();
    });
    for path in ["/now", "/later"] {
        client.send(get(path).as_bytes());
        let res = client.wait_response(WAIT).unwrap_or_else(|| panic!("no answer to {path}"));
        let all = |name: &str| -> Vec<String> {
            res.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.clone()).collect()
        };
        assert_eq!(
            all("content-type"),
            ["text/event-stream"],
            "{path}: RFC 9110 §5.3, Content-Type is no list"
        );
        assert_eq!(
            all("cache-control"),
            ["private", "no-cache"],
            "{path}: a list, the handler's directives stay"
        );
        assert_eq!(res.text(), "data: hi\n\n", "{path}");
    }
}

/// The server's end of the TCP connection whose client end is `client`,
/// found among this process's descriptors (the server runs in it), and
/// whether Nagle's algorithm is off on it.
#[cfg(target_os = "linux")]
fn server_side_nodelay(client: &TcpStream) -> bool {
    use std::os::fd::AsRawFd;
    let (ours, theirs) = (client.peer_addr().unwrap(), client.local_addr().unwrap());
    let addr = |fd: i32, peer: bool| {
        // SAFETY: `storage` is a writable `sockaddr_storage` and `len` says
        // its size, so the kernel writes within it; a descriptor that is no
        // socket (or closed since it was listed) only makes the call fail.
        unsafe {
            let mut storage: libc::sockaddr_storage = std::mem::zeroed();
            let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            let ptr = (&mut storage as *mut libc::sockaddr_storage).cast::<libc::sockaddr>();
            let rc = if peer {
                libc::getpeername(fd, ptr, &mut len)
            } else {
                libc::getsockname(fd, ptr, &mut len)
            };
            let sin = &*(ptr as *const libc::sockaddr_in);
            (rc == 0 && storage.ss_family == libc::AF_INET as libc::sa_family_t).then(|| {
                std::net::SocketAddr::from((
                    u32::from_be(sin.sin_addr.s_addr).to_be_bytes(),
                    u16::from_be(sin.sin_port),
                ))
            })
        }
    };
    for entry in std::fs::read_dir("/proc/self/fd").unwrap() {
        let fd: i32 = entry.unwrap().file_name().to_string_lossy().parse().unwrap();
        if fd == client.as_raw_fd() || addr(fd, false) != Some(ours) || addr(fd, true) != Some(theirs) {
            continue;
        }
        let mut on: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: `on` is a writable `c_int` and `len` its size, which is
        // what TCP_NODELAY reads back into.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&mut on as *mut libc::c_int).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "getsockopt on the server's socket");
        return on != 0;
    }
    panic!("no socket of this process is the server's end of {theirs} -> {ours}");
}

#[cfg(target_os = "linux")]
#[test]
fn a_stream_turns_nagle_off_on_a_connection_that_closes_after_it() {
    // HTTP/1.0 without keep-alive, as nginx speaks to its upstreams by
    // default: each piece of a stream (an event, say) must go at once, not
    // wait for the ACK of the last one (40-200 ms with delayed ACKs; a
    // loopback connection hides that, so the option itself is checked).
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    s.write_all(b"GET /hold-stream?id=nagle HTTP/1.0\r\n\r\n").unwrap();
    let mut stream = next_stream(&held, "nagle");
    stream.send(b"first").unwrap();
    let mut got = Vec::new();
    while !got.windows(5).any(|w| w == b"first") {
        assert!(fill_or_eof(&mut s, &mut got), "closed before the first piece");
    }
    assert!(server_side_nodelay(&s), "Nagle still on while the stream runs");
    stream.finish();
}
