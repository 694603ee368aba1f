//! Deferred responses (`Response::defer` → `Responder`): ten thousand of
//! them pending at once on one worker and completed from other threads in
//! random order; pipelined requests answered in order behind them;
//! cancellation (client gone, `response_timeout`, shutdown's grace); a
//! completion for a connection whose slot now serves another; dropped
//! responders, failed handlers, invalid headers and the kinds of body;
//! HTTP/1.0 and HEAD.

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use peregrine::{Body, Config, Request, Responder, Response, ShutdownHandle, StatusCode, StreamError};

#[path = "support/later.rs"]
mod later;
mod support;

use later::{
    join_within, pattern_bytes, pattern_mismatch, raise_nofile, read_complete, read_reply, read_to_close,
    silent_for, Framing, Running, XorShift,
};
use support::{is_closed, WAIT};

/// A responder handed from the handler to the test, with its request's `id`.
type Held = (Responder, String);

fn id_of(req: &Request<'_>) -> String {
    req.query().get("id").map(|v| v.to_string()).unwrap_or_default()
}

/// Bytes of the file body tests' file.
const FILE_LEN: usize = 3 << 20;

/// The handler of most tests here:
///
/// - `/now?id=X` → `now X`, at once;
/// - `/hold?id=X` → deferred (header `X-Id: X` set before), the responder
///   handed to the test through `held`;
/// - `/hold-then-panic?id=X`, `/hold-bad-header?id=X` → deferred, the
///   responder handed to the test, then the handler fails;
/// - `/sync?id=X` → deferred and completed inside `handle` (`sync X`); a
///   header set before deferring is kept, a body set after is not sent;
/// - `/drop` → deferred, the responder dropped inside `handle`;
///   `/drop-later` → dropped by another thread 50 ms later;
/// - `/bad-name`, `/bad-value` → completed by another thread with an
///   invalid header, then a body; `/bad-status` → with a 1xx status;
/// - `/body?kind=K` → completed by another thread with a body of kind K
///   (`vec`, `string`, `str`, `bytes`, `empty`, `file`, `close`, `length`).
fn app(
    held: Sender<Held>,
    file: Option<std::path::PathBuf>,
) -> impl Fn(&Request<'_>, &mut Response<'_>) + Send + Sync + 'static {
    move |req: &Request<'_>, res: &mut Response<'_>| {
        let id = id_of(req);
        match req.path() {
            "/now" => {
                write!(res, "now {id}").unwrap();
            }
            "/hold" => {
                res.header("X-Id", &id);
                let responder = res.defer();
                let _ = held.send((responder, id));
            }
            "/hold-then-panic" | "/hold-bad-header" => {
                // The responder is handed out, then the handler fails: the
                // client gets a 500, and the responder can never answer.
                if req.path() == "/hold-bad-header" {
                    res.header("Bad Name", "x");
                }
                let _ = held.send((res.defer(), id));
                if req.path() == "/hold-then-panic" {
                    panic!("handler fails after deferring (expected by the test)");
                }
            }
            "/sync" => {
                res.header("X-Before", "kept");
                let responder = res.defer();
                res.body(b"a body set after defer() must not be sent");
                responder.send(format!("sync {id}"));
            }
            "/drop" => {
                res.header("X-Id", &id);
                drop(res.defer());
            }
            "/drop-later" => {
                let responder = res.defer();
                std::thread::spawn(move || {
                    std::thread::sleep(Duration::from_millis(50));
                    drop(responder);
                });
            }
            "/bad-status" => {
                let mut responder = res.defer();
                std::thread::spawn(move || {
                    responder.status(StatusCode::CONTINUE);
                    responder.send("secret body of an interim response");
                });
            }
            "/bad-name" | "/bad-value" => {
                let mut responder = res.defer();
                let bad_name = req.path() == "/bad-name";
                std::thread::spawn(move || {
                    responder.header("X-Fine", "yes");
                    if bad_name {
                        responder.header("Bad Name", "x");
                    } else {
                        responder.header("X-Evil", "a\r\nSet-Cookie: injected=1");
                    }
                    responder.send("secret body of an invalid response");
                });
            }
            "/body" => {
                let kind = req.query().get("kind").map(|v| v.to_string()).unwrap_or_default();
                let mut responder = res.defer();
                let file = file.clone();
                std::thread::spawn(move || {
                    responder.header("X-Kind", &kind);
                    match kind.as_str() {
                        "vec" => responder.send(pattern_bytes(0, 1 << 20)),
                        "string" => responder.send(String::from("an owned String")),
                        "str" => responder.send("a static str"),
                        "bytes" => responder.send(b"static bytes"),
                        "empty" => responder.send(()),
                        "file" => {
                            let f = std::fs::File::open(file.unwrap()).unwrap();
                            responder.send(Body::file(f, 1000, (FILE_LEN - 5000) as u64));
                        }
                        "close" => {
                            responder.header("Connection", "close");
                            responder.send("then closed");
                        }
                        "length" => {
                            // The server writes the length itself.
                            responder.header("Content-Length", "999");
                            responder.send("eleven byte");
                        }
                        _ => {
                            responder.status(StatusCode::NOT_FOUND);
                            responder.send("no such kind");
                        }
                    }
                });
            }
            _ => {
                res.status(StatusCode::NOT_FOUND).body(b"not found");
            }
        }
    }
}

/// A server running [`app`] and the receiving end of its held responders.
fn start(config: Config) -> (Running, mpsc::Receiver<Held>) {
    let (tx, rx) = mpsc::channel();
    (Running::start(config, app(tx, None)), rx)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// The next held responder, which must be for `id`.
fn next_held(rx: &mpsc::Receiver<Held>, id: &str) -> Responder {
    let (responder, got) =
        rx.recv_timeout(WAIT).unwrap_or_else(|_| panic!("/hold?id={id} never reached the handler"));
    assert_eq!(got, id, "held requests out of order");
    responder
}

/// Completes `responder` from another thread after `delay`.
fn complete_later(mut responder: Responder, delay: Duration, body: String) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        responder.header("X-Completed-By", "thread");
        responder.send(body);
    })
}

// ---------------------------------------------------------------------
// Ten thousand at once.

const TEN_K: usize = 10_000;
const TEN_K_CHILD: &str = "PEREGRINE_DEFERRED_10K_CHILD";
/// Descriptors a process needs besides the connections (standard streams,
/// poll, wakers, listener, libtest, the other tests running alongside).
const SPARE_FDS: u64 = 300;
/// Threads completing the responses.
const COMPLETERS: usize = 8;

/// In the child: one worker; the handler queues each `/d?t=TOKEN`
/// request's responder; once as many arrived as `/expect?n=N` announced,
/// eight threads complete them in a shuffled order, each answering its
/// token. `/ping` answers at once; `/quit` shuts the server down.
fn ten_k_child() {
    raise_nofile(1 << 20).unwrap();
    let expected = Arc::new(AtomicU64::new(0));
    let quit: Arc<OnceLock<ShutdownHandle>> = Arc::new(OnceLock::new());
    let (tx, rx) = mpsc::channel::<(Responder, u64)>();
    let (exp, q) = (Arc::clone(&expected), Arc::clone(&quit));
    let handler = move |req: &Request<'_>, res: &mut Response<'_>| match req.path() {
        "/expect" => {
            exp.store(req.query().get("n").unwrap().raw().parse().unwrap(), Ordering::SeqCst);
            res.body(b"ok");
        }
        "/ping" => {
            res.body(b"pong");
        }
        "/quit" => {
            q.get().unwrap().shutdown();
            res.close().body(b"bye");
        }
        "/d" => {
            let token: u64 = req.query().get("t").unwrap().raw().parse().unwrap();
            let _ = tx.send((res.defer(), token));
        }
        _ => {
            res.status(StatusCode::NOT_FOUND);
        }
    };
    let config = Config::new()
        .port(0)
        .handle_signals(false)
        .workers(1)
        .max_connections(TEN_K + 1000)
        .keep_alive_timeout(Duration::from_secs(120))
        .request_timeout(Duration::from_secs(120))
        .response_timeout(Duration::from_secs(120));
    let server = peregrine::Server::bind(config, handler).unwrap();
    quit.set(server.shutdown_handle()).ok().unwrap();
    println!("ADDR={}", server.local_addr());
    let completer = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut pending = Vec::new();
        loop {
            let n = expected.load(Ordering::SeqCst);
            if n > 0 && pending.len() as u64 == n {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "only {} of {n} deferred requests arrived", pending.len());
            if let Ok(item) = rx.recv_timeout(left.min(Duration::from_millis(100))) {
                pending.push(item);
            }
        }
        let seed = later::seed("ten_thousand (child)");
        XorShift::new(seed).shuffle(&mut pending);
        let mut parts: Vec<Vec<(Responder, u64)>> = (0..COMPLETERS).map(|_| Vec::new()).collect();
        for (i, item) in pending.into_iter().enumerate() {
            parts[i % COMPLETERS].push(item);
        }
        let threads: Vec<_> = parts
            .into_iter()
            .map(|part| {
                std::thread::spawn(move || {
                    let mut cancelled = 0;
                    for (mut responder, token) in part {
                        cancelled += usize::from(responder.is_cancelled());
                        responder.header("X-Token", token.to_string());
                        responder.send(format!("token={token}"));
                    }
                    cancelled
                })
            })
            .collect();
        let cancelled: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(cancelled, 0, "responders cancelled before they were completed");
    });
    server.run().unwrap();
    join_within(completer, WAIT, "the completing threads");
}

/// The child process, killed (by its id) if the test fails first.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// Ten thousand requests, each on its own connection, deferred on one
/// worker; only once all have arrived do eight threads complete them, in
/// random order. Every client must get its own token back.
///
/// The server is this test re-run as a child process: descriptor limits
/// are per process, and one process holding both ends of 10 000
/// connections needs more than 20 000 (this machine's hard limit). If the
/// hard limit cannot hold even one end, the count is lowered and the test
/// says so.
#[test]
fn ten_thousand_deferred_requests_on_one_worker_completed_by_eight_threads_in_random_order() {
    if std::env::var_os(TEN_K_CHILD).is_some() {
        return ten_k_child();
    }
    let limit = raise_nofile(1 << 20).expect("raise RLIMIT_NOFILE");
    let count = if limit >= TEN_K as u64 + SPARE_FDS {
        TEN_K
    } else {
        let count = limit.saturating_sub(SPARE_FDS) as usize;
        println!(
            "RLIMIT_NOFILE allows only {limit} descriptors (hard limit): running {count} deferred requests \
             instead of {TEN_K}"
        );
        count
    };
    assert!(count >= 1000, "RLIMIT_NOFILE ({limit}) leaves room for only {count} connections");
    let (child, addr) = support::spawn_test_child(
        "ten_thousand_deferred_requests_on_one_worker_completed_by_eight_threads_in_random_order",
        TEN_K_CHILD,
    );
    let mut child = Child(child);
    let connect = |i: usize| {
        let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
        // The first answer comes only once every request has arrived.
        s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        s.set_write_timeout(Some(WAIT)).unwrap();
        s
    };
    let mut probe = connect(0);
    probe.write_all(get(&format!("/expect?n={count}")).as_bytes()).unwrap();
    let res = read_complete(&mut probe, &mut Vec::new(), false);
    assert_eq!((res.status, res.body.as_slice()), (200, &b"ok"[..]));

    let mut rng = XorShift::new(later::seed("ten_thousand (parent)"));
    let started = Instant::now();
    let mut clients: Vec<(TcpStream, u64)> = (0..count)
        .map(|i| {
            let mut s = connect(i);
            let token = rng.next_u64();
            s.write_all(get(&format!("/d?t={token}")).as_bytes())
                .unwrap_or_else(|e| panic!("connection {i}: {e}"));
            (s, token)
        })
        .collect();
    let sent = started.elapsed();
    for (i, (s, token)) in clients.iter_mut().enumerate() {
        let res = read_complete(s, &mut Vec::new(), false);
        assert_eq!(res.status, 200, "client {i}: {}", res.body_str());
        assert_eq!(res.body_str(), format!("token={token}"), "client {i} got another client's answer");
        assert_eq!(res.header("x-token"), Some(token.to_string().as_str()), "client {i}");
        assert_eq!(res.connection(), None, "client {i}: the connection should stay open");
    }
    println!(
        "{count} deferred requests on one worker: sent in {:.2} s, all answered after {:.2} s",
        sent.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    // Every connection is still usable (and still served by that worker).
    for (i, (s, token)) in clients.iter_mut().enumerate().step_by(97) {
        s.write_all(get("/ping").as_bytes()).unwrap();
        let res = read_complete(s, &mut Vec::new(), false);
        assert_eq!(res.body, b"pong", "client {i} (token {token}), second request");
    }
    drop(clients);
    let mut quit = connect(0);
    quit.write_all(get("/quit").as_bytes()).unwrap();
    assert_eq!(read_complete(&mut quit, &mut Vec::new(), false).body, b"bye");
    let end = Instant::now() + 3 * WAIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "the server process did not exit after /quit");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the server process failed: {status:?} (its panic is printed above)");
}

// ---------------------------------------------------------------------
// Pipelining and synchronous completion.

#[test]
fn pipelined_requests_behind_a_deferred_one_are_answered_after_it_in_order() {
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    let pipeline: String =
        ["/hold?id=1", "/now?id=2", "/hold?id=3", "/sync?id=4", "/now?id=5"].iter().map(|p| get(p)).collect();
    s.write_all(pipeline.as_bytes()).unwrap();

    let mut first = next_held(&held, "1");
    // While 1 is pending nothing is answered, not even 2, which is ready.
    silent_for(&mut s, Duration::from_millis(250)).unwrap_or_else(|e| panic!("while /hold?id=1 pended: {e}"));
    assert!(!first.is_cancelled());
    first.status(StatusCode::CREATED);
    let t = complete_later(first, Duration::from_millis(50), "late 1".into());

    let mut buf = Vec::new();
    let r1 = read_complete(&mut s, &mut buf, false);
    assert_eq!((r1.status, r1.body_str().as_str()), (201, "late 1"));
    assert_eq!(r1.header("x-id"), Some("1"), "a header set before defer() is kept");
    assert_eq!(r1.header("x-completed-by"), Some("thread"));
    assert_eq!(r1.framing, Framing::Length(6));
    assert_eq!(r1.connection(), None);
    let r2 = read_complete(&mut s, &mut buf, false);
    assert_eq!((r2.status, r2.body_str().as_str()), (200, "now 2"));
    join_within(t, WAIT, "completing thread");

    let third = next_held(&held, "3");
    assert!(buf.is_empty(), "bytes beyond the first two responses: {:?}", String::from_utf8_lossy(&buf));
    silent_for(&mut s, Duration::from_millis(150)).unwrap_or_else(|e| panic!("while /hold?id=3 pended: {e}"));
    let t = complete_later(third, Duration::from_millis(20), "late 3".into());
    let r3 = read_complete(&mut s, &mut buf, false);
    assert_eq!((r3.status, r3.body_str().as_str(), r3.header("x-id")), (200, "late 3", Some("3")));
    let r4 = read_complete(&mut s, &mut buf, false);
    assert_eq!((r4.status, r4.body_str().as_str()), (200, "sync 4"));
    assert_eq!(r4.header("x-before"), Some("kept"));
    let r5 = read_complete(&mut s, &mut buf, false);
    assert_eq!((r5.status, r5.body_str().as_str()), (200, "now 5"));
    join_within(t, WAIT, "completing thread");

    assert!(buf.is_empty(), "bytes beyond five responses: {:?}", String::from_utf8_lossy(&buf));
    silent_for(&mut s, Duration::from_millis(100)).expect("nothing more, and the connection stays open");
    assert!(held.try_recv().is_err(), "a request was deferred twice");
}

/// More requests pipelined behind a deferred one than the read buffer
/// holds: the server stops reading while it waits, and must take up the
/// rest (already in its socket, so no new readiness comes) once answered.
#[test]
fn many_requests_pipelined_behind_deferred_ones_beyond_the_read_buffer_are_all_answered_in_order() {
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    let mut pipeline = get("/hold?id=first");
    pipeline.extend((0..1000).map(|i| get(&format!("/now?id={i}"))));
    pipeline.push_str(&get("/hold?id=middle"));
    pipeline.extend((1000..1200).map(|i| get(&format!("/now?id={i}"))));
    assert!(pipeline.len() > 4 * 8192, "more than the default 8 KiB read buffer holds");
    s.write_all(pipeline.as_bytes()).unwrap();
    let mut buf = Vec::new();
    for (held_id, range) in [("first", 0..1000), ("middle", 1000..1200)] {
        let t =
            complete_later(next_held(&held, held_id), Duration::from_millis(30), format!("held {held_id}"));
        assert_eq!(read_complete(&mut s, &mut buf, false).body_str(), format!("held {held_id}"));
        for i in range {
            let r = read_complete(&mut s, &mut buf, false);
            assert_eq!(r.body_str(), format!("now {i}"), "response {i} behind {held_id}");
        }
        join_within(t, WAIT, "completing thread");
    }
    assert!(buf.is_empty());
    silent_for(&mut s, Duration::from_millis(50)).expect("nothing more, and the connection stays open");
}

#[test]
fn deferred_completed_inside_handle_is_sent_at_once_and_the_connection_kept() {
    let (server, _held) = start(Config::new().workers(1));
    let mut s = server.connect();
    let mut buf = Vec::new();
    for i in 0..3 {
        s.write_all(get(&format!("/sync?id={i}")).as_bytes()).unwrap();
        let r = read_complete(&mut s, &mut buf, false);
        assert_eq!((r.status, r.body_str()), (200, format!("sync {i}")));
        assert_eq!(r.header("x-before"), Some("kept"), "a header set before defer() is kept");
        assert_eq!(r.header("content-length"), Some(format!("sync {i}").len().to_string().as_str()));
        assert_eq!(r.connection(), None);
    }
    // Mixed with immediate answers on the same connection.
    s.write_all(format!("{}{}{}", get("/now?id=a"), get("/sync?id=b"), get("/now?id=c")).as_bytes()).unwrap();
    for want in ["now a", "sync b", "now c"] {
        assert_eq!(read_complete(&mut s, &mut buf, false).body_str(), want);
    }
    assert!(buf.is_empty());
}

#[test]
fn head_request_answered_by_a_responder_gets_the_head_only() {
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    s.write_all(format!("HEAD /hold?id=h HTTP/1.1\r\nHost: x\r\n\r\n{}", get("/now?id=after")).as_bytes())
        .unwrap();
    let t = complete_later(next_held(&held, "h"), Duration::from_millis(20), "hello".into());
    let mut buf = Vec::new();
    let head = read_reply(&mut s, &mut buf, true);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some("5"), "HEAD says what GET would");
    let next = read_complete(&mut s, &mut buf, false);
    assert_eq!(next.body_str(), "now after", "the HEAD response carried a body");
    assert!(buf.is_empty());
    join_within(t, WAIT, "completing thread");
}

// ---------------------------------------------------------------------
// Cancellation.

/// A channel the cancel callback reports on.
fn on_cancel_probe(responder: &Responder) -> mpsc::Receiver<std::thread::ThreadId> {
    let (tx, rx) = mpsc::channel();
    responder.on_cancel(move || {
        let _ = tx.send(std::thread::current().id());
    });
    rx
}

#[test]
fn client_closing_while_waiting_cancels_the_responder() {
    let (server, held) = start(Config::new().workers(1));
    for half_close in [false, true] {
        let mut s = server.connect();
        s.write_all(get("/hold?id=gone").as_bytes()).unwrap();
        let responder = next_held(&held, "gone");
        assert!(!responder.is_cancelled());
        assert!(!responder.wait_cancelled(Duration::from_millis(100)), "cancelled while the client waits");
        let called = on_cancel_probe(&responder);
        let test_thread = std::thread::current().id();
        let mut kept = None;
        if half_close {
            // Closing only its sending side still ends the exchange.
            s.shutdown(Shutdown::Write).unwrap();
            kept = Some(s);
        } else {
            drop(s);
        }
        assert!(responder.wait_cancelled(WAIT), "not cancelled within {WAIT:?} of the client closing");
        assert!(responder.is_cancelled());
        let by = called.recv_timeout(WAIT).expect("on_cancel callback never ran");
        assert_ne!(by, test_thread, "the callback runs on the cancelling thread");
        // A callback set afterwards runs at once.
        let ran = Arc::new(AtomicBool::new(false));
        let r = Arc::clone(&ran);
        responder.on_cancel(move || r.store(true, Ordering::SeqCst));
        assert!(ran.load(Ordering::SeqCst), "on_cancel on a cancelled responder must run at once");
        if let Some(mut s) = kept {
            let mut rest = Vec::new();
            read_to_close(&mut s, &mut rest);
            assert!(
                rest.is_empty(),
                "a cancelled request was answered: {:?}",
                String::from_utf8_lossy(&rest)
            );
        }
        // Completing it now is harmless.
        responder.send("nobody is listening");
    }
    // The worker still serves.
    let mut s = server.connect();
    s.write_all(get("/now?id=still").as_bytes()).unwrap();
    assert_eq!(read_complete(&mut s, &mut Vec::new(), false).body_str(), "now still");
}

#[test]
fn response_timeout_answers_503_closes_and_cancels() {
    const TIMEOUT: Duration = Duration::from_millis(400);
    let (server, held) = start(Config::new().workers(1).response_timeout(TIMEOUT));
    let mut s = server.connect();
    let sent = Instant::now();
    // A request pipelined behind it is never answered: the connection closes.
    s.write_all(format!("{}{}", get("/hold?id=slow"), get("/now?id=behind")).as_bytes()).unwrap();
    let responder = next_held(&held, "slow");
    let called = on_cancel_probe(&responder);
    let mut buf = Vec::new();
    let r = read_complete(&mut s, &mut buf, false);
    let waited = sent.elapsed();
    assert_eq!(r.status, 503, "body {:?}", r.body_str());
    assert_eq!(r.connection().as_deref(), Some("close"));
    assert!(waited >= TIMEOUT * 9 / 10, "503 after {waited:?}, before the {TIMEOUT:?} timeout");
    assert!(buf.is_empty(), "bytes after the 503: {:?}", String::from_utf8_lossy(&buf));
    assert!(is_closed(&mut s), "the connection must close after the 503");
    assert!(responder.wait_cancelled(WAIT), "the timed-out responder is not cancelled");
    called.recv_timeout(WAIT).expect("on_cancel callback never ran");
    responder.send("too late");

    // A responder completed within the timeout is unaffected by it.
    let mut s = server.connect();
    s.write_all(get("/hold?id=quick").as_bytes()).unwrap();
    // Each completes 5/8 of the timeout after its request: the two add up
    // to more than the timeout, so a timer not armed afresh would fire.
    let t = complete_later(next_held(&held, "quick"), TIMEOUT * 5 / 8, "in time".into());
    let r = read_complete(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.body_str().as_str(), r.connection()), (200, "in time", None));
    join_within(t, WAIT, "completing thread");
    // And the connection's next deferred request gets a fresh timer. (Sent
    // once the worker is surely done with the answer: the case of a request
    // already there is the pipelined test below.)
    std::thread::sleep(Duration::from_millis(50));
    s.write_all(get("/hold?id=again").as_bytes()).unwrap();
    let t = complete_later(next_held(&held, "again"), TIMEOUT * 5 / 8, "in time again".into());
    let r = read_complete(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.body_str().as_str()), (200, "in time again"), "{r:?}");
    join_within(t, WAIT, "completing thread");
}

/// A deferred answer slower than the keep-alive and request timeouts, but
/// within `response_timeout`, is sent: only the response timeout applies
/// while a connection waits for one.
#[test]
fn only_response_timeout_limits_a_pending_deferred_response() {
    const SHORT: Duration = Duration::from_millis(200);
    let config = Config::new()
        .workers(1)
        .keep_alive_timeout(SHORT)
        .request_timeout(SHORT)
        .write_timeout(SHORT)
        .response_timeout(Duration::from_secs(5));
    let (server, held) = start(config);
    let mut s = server.connect();
    s.write_all(get("/hold?id=patient").as_bytes()).unwrap();
    let t = complete_later(next_held(&held, "patient"), SHORT * 4, "worth the wait".into());
    let r = read_complete(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.body_str().as_str(), r.connection()), (200, "worth the wait", None));
    join_within(t, WAIT, "completing thread");
    // Idle afterwards: the keep-alive timeout applies again.
    assert!(is_closed(&mut s), "the idle connection outlived keep_alive_timeout");
}

/// `response_timeout` is "counted from when the handler deferred": a
/// deferred request pipelined behind another deferred one has the whole
/// timeout from its own deferral, not what was left of the one before.
#[test]
fn response_timeout_counts_from_each_deferral_for_pipelined_requests() {
    const TIMEOUT: Duration = Duration::from_millis(400);
    let (server, held) = start(Config::new().workers(1).response_timeout(TIMEOUT));
    let mut s = server.connect();
    s.write_all(format!("{}{}", get("/hold?id=p1"), get("/hold?id=p2")).as_bytes()).unwrap();
    let mut buf = Vec::new();
    // Each completed 5/8 of the timeout after it was deferred: in time,
    // though together they take longer than the timeout.
    let first = next_held(&held, "p1");
    let t = complete_later(first, TIMEOUT * 5 / 8, "first in time".into());
    let r = read_complete(&mut s, &mut buf, false);
    assert_eq!((r.status, r.body_str().as_str()), (200, "first in time"));
    join_within(t, WAIT, "completing thread");
    let second = next_held(&held, "p2");
    let deferred = Instant::now();
    let t = complete_later(second, TIMEOUT * 5 / 8, "second in time".into());
    let r = read_complete(&mut s, &mut buf, false);
    assert_eq!(
        (r.status, r.body_str().as_str()),
        (200, "second in time"),
        "the second deferred request was answered {:?} after it was deferred ({TIMEOUT:?} timeout)",
        deferred.elapsed()
    );
    join_within(t, WAIT, "completing thread");
}

/// Many deferred responses timing out together: each client gets its 503
/// and a closed connection, each responder is cancelled.
#[test]
fn many_responses_timing_out_together_each_get_503() {
    const N: usize = 300;
    const TIMEOUT: Duration = Duration::from_millis(300);
    let (server, held) = start(Config::new().workers(1).response_timeout(TIMEOUT));
    let mut clients: Vec<TcpStream> = (0..N)
        .map(|i| {
            let mut s = server.connect();
            s.write_all(get(&format!("/hold?id={i}")).as_bytes()).unwrap();
            s
        })
        .collect();
    let responders: Vec<Responder> = (0..N)
        .map(|_| held.recv_timeout(WAIT).expect("a deferred request never reached the handler").0)
        .collect();
    for (i, s) in clients.iter_mut().enumerate() {
        let mut buf = Vec::new();
        let r = read_complete(s, &mut buf, false);
        assert_eq!((r.status, r.connection().as_deref()), (503, Some("close")), "client {i}");
        assert!(buf.is_empty() && is_closed(s), "client {i}: not closed after its 503");
    }
    for (i, r) in responders.iter().enumerate() {
        assert!(r.wait_cancelled(WAIT), "responder {i} not cancelled");
    }
}

#[test]
fn shutdown_grace_ending_cancels_a_responder_that_never_completes_and_answers_503() {
    const GRACE: Duration = Duration::from_millis(300);
    let (server, held) = start(Config::new().workers(1).shutdown_grace(GRACE));
    let mut s = server.connect();
    s.write_all(get("/hold?id=never").as_bytes()).unwrap();
    let responder = next_held(&held, "never");
    let called = on_cancel_probe(&responder);
    let asked = Instant::now();
    server.handle.shutdown();
    assert!(!responder.wait_cancelled(GRACE / 3), "cancelled before the grace period ended");
    let result = server.join_within(WAIT + GRACE);
    assert!(result.is_ok(), "run returned {result:?}");
    let took = asked.elapsed();
    assert!(took >= GRACE * 9 / 10, "run returned after {took:?}, before the grace period");
    assert!(responder.is_cancelled(), "run returned, and the responder is not cancelled");
    called.recv_timeout(WAIT).expect("on_cancel callback never ran");
    // Answered 503, as when response_timeout runs out, not closed without a word.
    let mut rest = Vec::new();
    read_to_close(&mut s, &mut rest);
    let text = String::from_utf8_lossy(&rest);
    assert!(text.starts_with("HTTP/1.1 503 Service Unavailable\r\n"), "{text:?}");
    assert!(text.contains("\r\nConnection: close\r\n") && text.ends_with("\r\n\r\n"), "{text:?}");
    responder.send("after the server stopped");
}

#[test]
fn graceful_shutdown_waits_for_a_deferred_response_completed_within_the_grace() {
    let (server, held) = start(Config::new().workers(1).shutdown_grace(Duration::from_secs(10)));
    let mut s = server.connect();
    s.write_all(get("/hold?id=pending").as_bytes()).unwrap();
    let responder = next_held(&held, "pending");
    server.handle.shutdown();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!server.has_returned(), "run returned with a deferred response pending");
    assert!(!responder.is_cancelled(), "cancelled within the grace period");
    let t = complete_later(responder, Duration::ZERO, "finished during shutdown".into());
    let r = read_complete(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.body_str().as_str()), (200, "finished during shutdown"));
    assert_eq!(r.connection().as_deref(), Some("close"), "a response sent during shutdown must say close");
    assert!(is_closed(&mut s));
    let result = server.join_within(WAIT);
    assert!(result.is_ok(), "run returned {result:?}");
    join_within(t, WAIT, "completing thread");
}

#[test]
fn on_cancel_is_not_called_for_a_responder_that_completed_first() {
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    s.write_all(get("/hold?id=done").as_bytes()).unwrap();
    let responder = next_held(&held, "done");
    let called = on_cancel_probe(&responder);
    responder.send("done");
    assert_eq!(read_complete(&mut s, &mut Vec::new(), false).body_str(), "done");
    drop(s);
    // The next request on another connection is served (and the worker
    // has seen the close by then).
    let mut t = server.connect();
    t.write_all(get("/now?id=x").as_bytes()).unwrap();
    assert_eq!(read_complete(&mut t, &mut Vec::new(), false).body_str(), "now x");
    std::thread::sleep(Duration::from_millis(100));
    assert!(called.try_recv().is_err(), "on_cancel ran for a responder that had answered");
}

#[test]
fn client_connection_close_on_a_deferred_request_is_honoured() {
    let (server, held) = start(Config::new().workers(1));
    let mut s = server.connect();
    s.write_all(b"GET /hold?id=bye HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let t = complete_later(next_held(&held, "bye"), Duration::from_millis(20), "goodbye".into());
    let r = read_complete(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.body_str().as_str()), (200, "goodbye"));
    assert_eq!(r.connection().as_deref(), Some("close"));
    assert!(is_closed(&mut s), "Connection: close from the client must close after the deferred answer");
    join_within(t, WAIT, "completing thread");
}

// ---------------------------------------------------------------------
// A completion for a connection that has gone.

/// What the stale responder does once its connection is gone.
#[derive(Debug, Clone, Copy)]
enum Stale {
    Send,
    Drop,
    Stream,
}

#[test]
fn a_responder_completed_after_its_connection_closed_writes_nothing_to_the_next_connection_in_its_slot() {
    // One worker with two slots: one connection at a time always takes
    // the slot the last one freed.
    let (server, held) = start(Config::new().workers(1).max_connections(2));
    for stale in [Stale::Send, Stale::Drop, Stale::Stream] {
        for next_waits in [true, false] {
            let what = format!("{stale:?}, next connection {}", if next_waits { "waiting" } else { "idle" });
            let mut a = server.connect();
            a.write_all(get("/hold?id=a").as_bytes()).unwrap();
            let mut ra = next_held(&held, "a");
            drop(a);
            // Cancelled once the server took the connection out, freeing its slot.
            assert!(ra.wait_cancelled(WAIT), "{what}: not cancelled");

            let mut b = server.connect();
            let mut buf = Vec::new();
            let rb = if next_waits {
                b.write_all(get("/hold?id=b").as_bytes()).unwrap();
                Some(next_held(&held, "b"))
            } else {
                b.write_all(get("/now?id=b0").as_bytes()).unwrap();
                assert_eq!(read_complete(&mut b, &mut buf, false).body_str(), "now b0", "{what}");
                None
            };
            match stale {
                Stale::Send => {
                    ra.status(StatusCode::ACCEPTED).header("X-Stale", "a");
                    ra.send("stale answer meant for connection a");
                }
                Stale::Drop => drop(ra),
                Stale::Stream => {
                    let mut stream = ra.stream();
                    assert_eq!(stream.send(b"stale bytes"), Err(StreamError::Cancelled), "{what}");
                    drop(stream);
                }
            }
            silent_for(&mut b, Duration::from_millis(150)).unwrap_or_else(|e| panic!("{what}: {e}"));
            if let Some(rb) = rb {
                let t = complete_later(rb, Duration::ZERO, "answer for b".into());
                let r = read_complete(&mut b, &mut buf, false);
                assert_eq!((r.status, r.body_str().as_str()), (200, "answer for b"), "{what}");
                assert_eq!(r.header("x-id"), Some("b"), "{what}");
                assert_eq!(r.header("x-stale"), None, "{what}");
                join_within(t, WAIT, "completing thread");
            }
            // The last request closes the connection: the server frees
            // the slot before the client sees EOF, so the next round's
            // first connection takes it again.
            b.write_all(b"GET /now?id=b1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            let r = read_complete(&mut b, &mut buf, false);
            assert_eq!((r.status, r.body_str().as_str()), (200, "now b1"), "{what}");
            read_to_close(&mut b, &mut buf);
            assert!(buf.is_empty(), "{what}: stray bytes {:?}", String::from_utf8_lossy(&buf));
        }
    }
}

// ---------------------------------------------------------------------
// Failures and bodies.

#[test]
fn a_dropped_responder_answers_500() {
    let (server, held) = start(Config::new().workers(1));
    for path in ["/drop?id=d", "/drop-later", "/hold?id=dropped"] {
        let mut s = server.connect();
        s.write_all(get(path).as_bytes()).unwrap();
        if path.starts_with("/hold") {
            drop(next_held(&held, "dropped"));
        }
        let mut buf = Vec::new();
        let r = read_complete(&mut s, &mut buf, false);
        assert_eq!(r.status, 500, "{path}: {}", r.body_str());
        // Whether or not the connection stays open, it must not hang.
        if r.connection().as_deref() == Some("close") {
            assert!(is_closed(&mut s), "{path}: announced close, stayed open");
        } else {
            s.write_all(get("/now?id=next").as_bytes()).unwrap();
            assert_eq!(read_complete(&mut s, &mut buf, false).body_str(), "now next", "{path}");
        }
    }
}

/// A handler that defers, hands the responder on, and then fails (panics,
/// or had set an invalid header) is answered 500: that responder can never
/// answer, so it must read as cancelled (and its callback run), or a
/// completing thread would wait on it, or go on with work nobody wants.
#[test]
fn a_responder_whose_handler_failed_is_cancelled() {
    let (server, held) = start(Config::new().workers(1));
    let mut failures = Vec::new();
    for path in ["/hold-then-panic", "/hold-bad-header"] {
        let mut s = server.connect();
        s.write_all(get(&format!("{path}?id=x")).as_bytes()).unwrap();
        let responder = next_held(&held, "x");
        let called = on_cancel_probe(&responder);
        let r = read_complete(&mut s, &mut Vec::new(), false);
        assert_eq!(r.status, 500, "{path}");
        if !responder.wait_cancelled(Duration::from_secs(2)) {
            failures
                .push(format!("{path}: answered 500, yet its responder is still not cancelled 2 s later"));
        } else if called.recv_timeout(WAIT).is_err() {
            failures.push(format!("{path}: cancelled, but on_cancel never ran"));
        }
        // Completing it now must send nothing more.
        responder.send("must not be sent");
        if r.connection().as_deref() == Some("close") {
            assert!(is_closed(&mut s), "{path}");
        } else {
            silent_for(&mut s, Duration::from_millis(100)).unwrap_or_else(|e| panic!("{path}: {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_invalid_header_or_status_on_a_responder_answers_500() {
    let (server, _held) = start(Config::new().workers(1));
    for path in ["/bad-name", "/bad-value", "/bad-status"] {
        let mut s = server.connect();
        s.write_all(get(path).as_bytes()).unwrap();
        let r = read_complete(&mut s, &mut Vec::new(), false);
        assert_eq!(r.status, 500, "{path}");
        assert!(!r.body_str().contains("secret"), "{path}: the invalid response's body was sent");
        for name in ["x-fine", "x-evil", "set-cookie", "bad name"] {
            assert_eq!(r.header(name), None, "{path}: header {name} of the invalid response was sent");
        }
    }
}

#[test]
fn responders_send_every_kind_of_body() {
    let file = std::env::temp_dir().join(format!("peregrine-deferred-{}.bin", std::process::id()));
    std::fs::write(&file, pattern_bytes(0, FILE_LEN)).unwrap();
    struct Remove(std::path::PathBuf);
    impl Drop for Remove {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _remove = Remove(file.clone());
    let (tx, _held) = mpsc::channel();
    let server = Running::start(Config::new().workers(1), app(tx, Some(file)));
    let mut s = server.connect();
    let mut buf = Vec::new();
    let mut ask = |kind: &str| {
        s.write_all(get(&format!("/body?kind={kind}")).as_bytes()).unwrap();
        let r = read_complete(&mut s, &mut buf, false);
        assert_eq!(r.header("x-kind"), Some(kind));
        assert_eq!(r.headers_named("content-length").len(), 1, "{kind}: {:?}", r.headers);
        assert_eq!(r.framing, Framing::Length(r.body.len()), "{kind}");
        r
    };
    let r = ask("vec");
    assert_eq!(r.body.len(), 1 << 20);
    assert_eq!(pattern_mismatch(&r.body, 0), None, "a 1 MiB Vec body differs");
    assert_eq!(ask("string").body_str(), "an owned String");
    assert_eq!(ask("str").body_str(), "a static str");
    assert_eq!(ask("bytes").body_str(), "static bytes");
    let r = ask("empty");
    assert_eq!((r.status, r.body.len()), (200, 0));
    let r = ask("file");
    assert_eq!(r.body.len(), FILE_LEN - 5000);
    assert_eq!(pattern_mismatch(&r.body, 1000), None, "the file range differs");
    let r = ask("length");
    assert_eq!(
        r.body_str(),
        "eleven byte",
        "a Content-Length set on a responder must not override the real one"
    );
    assert_eq!(r.header("content-length"), Some("11"));
    let r = ask("close");
    assert_eq!((r.body_str().as_str(), r.connection().as_deref()), ("then closed", Some("close")));
    assert!(is_closed(&mut s), "Connection: close on a responder must close the connection");
}

#[test]
fn http10_deferred_answers_have_a_length_and_honour_10_keep_alive() {
    let (server, held) = start(Config::new().workers(1));
    // Without keep-alive: a length, `Connection: close`, then closed.
    let mut s = server.connect();
    s.write_all(b"GET /hold?id=old HTTP/1.0\r\n\r\n").unwrap();
    let t = complete_later(next_held(&held, "old"), Duration::from_millis(20), "deferred for 1.0".into());
    let r = read_complete(&mut s, &mut Vec::new(), false);
    assert_eq!((r.status, r.body_str().as_str()), (200, "deferred for 1.0"));
    assert_eq!(r.header("transfer-encoding"), None, "chunked sent to an HTTP/1.0 client");
    assert_eq!(r.framing, Framing::Length(16));
    assert_eq!(r.connection().as_deref(), Some("close"));
    assert!(is_closed(&mut s), "an HTTP/1.0 connection without keep-alive must close");
    join_within(t, WAIT, "completing thread");

    // With keep-alive: confirmed, and the connection serves more.
    let mut s = server.connect();
    let mut buf = Vec::new();
    for id in ["ka1", "ka2"] {
        s.write_all(format!("GET /hold?id={id} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").as_bytes())
            .unwrap();
        let t = complete_later(next_held(&held, id), Duration::from_millis(10), format!("kept {id}"));
        let r = read_complete(&mut s, &mut buf, false);
        assert_eq!(r.body_str(), format!("kept {id}"));
        assert_eq!(r.header("transfer-encoding"), None);
        assert_eq!(r.connection().as_deref(), Some("keep-alive"), "HTTP/1.0 keep-alive must be confirmed");
        assert!(r.header("keep-alive").is_some_and(|v| v.starts_with("timeout=")), "{:?}", r.headers);
        join_within(t, WAIT, "completing thread");
    }
    // Without the header again: answered, then closed.
    s.write_all(b"GET /hold?id=last HTTP/1.0\r\n\r\n").unwrap();
    let t = complete_later(next_held(&held, "last"), Duration::ZERO, "last".into());
    let r = read_complete(&mut s, &mut buf, false);
    assert_eq!((r.body_str().as_str(), r.connection().as_deref()), ("last", Some("close")));
    assert!(is_closed(&mut s));
    join_within(t, WAIT, "completing thread");
}
