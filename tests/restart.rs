//! A restart that drops nothing: two server processes share one listening
//! socket (as systemd passes it to each process it starts), the old one is
//! told to stop (SIGTERM) while clients keep sending, on kept-alive and on
//! new connections, and no request fails and no connection is reset.
//!
//! A client may retry a request once, on a new connection, when a kept-
//! alive connection ends before any byte of its response — what HTTP
//! clients do for idempotent requests (RFC 9110 §9.2.2), and the only way
//! to meet a server closing an idle connection at the moment the request
//! leaves. Those retries are counted and shown; a request that fails after
//! it, or any reset, fails the test.

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peregrine::{activation, Config, Request, Response, Server};

mod support;
use support::{wait_exit, ChildServer};

const CHILD_ENV: &str = "PEREGRINE_RESTART_CHILD";

/// Answers with the serving process's id, so clients can tell old from new.
fn pid(_: &Request<'_>, res: &mut Response<'_>) {
    let _ = write!(res, "{}", std::process::id());
}

/// In a child: serves on the passed socket until SIGTERM.
fn child() {
    let listener = activation::listeners().unwrap().pop().expect("a passed socket");
    let server = Server::with_listener(Config::new().workers(2), listener, pid).unwrap();
    println!("ADDR={}", server.local_addr());
    server.run().unwrap();
    println!("RUN RETURNED OK");
}

/// Starts this test as a server process whose descriptor 3 is `listener`,
/// started as systemd starts a socket-activated service.
fn spawn_server(listener: &TcpListener) -> (ChildServer, std::thread::JoinHandle<bool>) {
    let fd = listener.as_raw_fd();
    let script = "import os, sys\nos.environ['LISTEN_PID'] = str(os.getpid())\n\
                  os.environ['LISTEN_FDS'] = '1'\nos.execv(sys.argv[1], sys.argv[1:])\n";
    let mut command = Command::new("python3");
    command
        .args(["-c", script])
        .arg(std::env::current_exe().unwrap())
        .args(["a_restart_on_a_shared_socket_drops_nothing", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec only `dup2` or `fcntl` runs, both
    // async-signal-safe; `fd` stays open in the parent meanwhile (it
    // borrows `listener`). Descriptor 3 ends up the socket without
    // close-on-exec (a `dup2` copy never has it; if the socket is 3
    // already, the flag is cleared), so Python, and the test binary it
    // execs, inherit it.
    unsafe {
        command.pre_exec(move || {
            let done = if fd == 3 { libc::fcntl(3, libc::F_SETFD, 0) } else { libc::dup2(fd, 3) };
            if done == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("python3");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().unwrap();
    // Reads the child's output to the end: whether `run` returned Ok.
    let reader = std::thread::spawn(move || {
        let mut returned = false;
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("ADDR=") {
                let _ = tx.send(());
            }
            returned |= line.contains("RUN RETURNED OK");
        }
        returned
    });
    let child = ChildServer(child);
    rx.recv_timeout(Duration::from_secs(20)).expect("the server process did not start");
    (child, reader)
}

#[derive(Default)]
struct Tally {
    served: AtomicUsize,
    retried: AtomicUsize,
    failed: Mutex<Vec<String>>,
    /// Responses by the serving process, in order per client.
    pids: Mutex<Vec<u32>>,
}

/// What one request on a connection came to.
enum Exchange {
    /// The response body, and whether the server said it closes.
    Answered(Vec<u8>, bool),
    /// The connection ended before any byte of the response.
    EndedBefore,
    Failed(String),
}

fn exchange(s: &mut TcpStream, close: bool) -> Exchange {
    let req: &[u8] = if close {
        b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    } else {
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    };
    let failed = |what: &str, e: std::io::Error| {
        if e.kind() == ErrorKind::ConnectionReset {
            Exchange::Failed(format!("reset while {what}"))
        } else {
            Exchange::Failed(format!("{what}: {e}"))
        }
    };
    if let Err(e) = s.write_all(req) {
        return if e.kind() == ErrorKind::BrokenPipe { Exchange::EndedBefore } else { failed("sending", e) };
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Exchange::EndedBefore,
            Ok(0) => return Exchange::Failed(format!("cut off after {} bytes", buf.len())),
            Ok(n) => n,
            Err(e) => return failed("reading", e),
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut parsed = httparse::Response::new(&mut headers);
        let Ok(httparse::Status::Complete(head)) = parsed.parse(&buf) else { continue };
        let header = |name: &str| {
            let h = parsed.headers.iter().find(|h| h.name.eq_ignore_ascii_case(name));
            h.map(|h| String::from_utf8_lossy(h.value).into_owned())
        };
        let len: usize = header("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        if buf.len() < head + len {
            continue;
        }
        if parsed.code != Some(200) {
            return Exchange::Failed(format!("status {:?}", parsed.code));
        }
        let closes = header("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        return Exchange::Answered(buf[head..head + len].to_vec(), closes);
    }
}

fn connect(addr: SocketAddr) -> Result<TcpStream, String> {
    let s = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    Ok(s)
}

/// One request, with the one retry on a new connection a client makes
/// when a kept-alive connection ended before answering.
fn request(conn: &mut Option<TcpStream>, addr: SocketAddr, close: bool, tally: &Tally) -> Result<(), String> {
    for attempt in 0..2 {
        let reused = conn.is_some();
        let mut s = match conn.take() {
            Some(s) => s,
            None => connect(addr)?,
        };
        match exchange(&mut s, close) {
            Exchange::Answered(body, closes) => {
                let pid = String::from_utf8_lossy(&body).parse().map_err(|_| format!("body {body:?}"))?;
                tally.pids.lock().unwrap().push(pid);
                tally.served.fetch_add(1, Ordering::Relaxed);
                if !closes && !close {
                    *conn = Some(s);
                }
                return Ok(());
            }
            Exchange::EndedBefore if reused && attempt == 0 => {
                tally.retried.fetch_add(1, Ordering::Relaxed);
            }
            Exchange::EndedBefore => return Err("a new connection ended unanswered".into()),
            Exchange::Failed(why) => return Err(why),
        }
    }
    unreachable!("the second attempt returns")
}

/// Sends requests until `stop`, kept alive or one per connection.
fn client(addr: SocketAddr, close: bool, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut conn = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
        if let Err(why) = request(&mut conn, addr, close, &tally) {
            tally.failed.lock().unwrap().push(why);
            conn = None;
        }
    }
}

fn terminate(child: &ChildServer) {
    // SAFETY: kill(2) with the pid of a child this test started and has
    // not yet reaped, so it names no other process.
    assert_eq!(unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) }, 0);
}

#[test]
fn a_restart_on_a_shared_socket_drops_nothing() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child();
    }
    // The socket outlives both processes, as systemd holds it.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (mut old, old_out) = spawn_server(&listener);
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = [false, false, false, false, true, true]
        .into_iter()
        .map(|close| {
            let (stop, tally) = (Arc::clone(&stop), Arc::clone(&tally));
            std::thread::spawn(move || client(addr, close, stop, tally))
        })
        .collect();
    // Two connections only the old process can have taken: one that has
    // sent nothing yet, one kept alive after a request.
    let mut fresh = connect(addr).unwrap();
    let mut kept = connect(addr).unwrap();
    assert!(matches!(exchange(&mut kept, false), Exchange::Answered(_, false)));
    std::thread::sleep(Duration::from_millis(300));
    // The new process starts on the same socket; then the old one stops.
    let (mut new, new_out) = spawn_server(&listener);
    std::thread::sleep(Duration::from_millis(200));
    terminate(&old);
    std::thread::sleep(Duration::from_millis(100));
    // The fresh connection's request was on its way: it is answered (by
    // the old process, which then closes it).
    match exchange(&mut fresh, false) {
        Exchange::Answered(body, closes) => {
            assert_eq!(String::from_utf8_lossy(&body), old.0.id().to_string());
            assert!(closes, "an answer while draining must say the connection closes");
        }
        Exchange::EndedBefore => panic!("a connection opened before the stop ended unanswered"),
        Exchange::Failed(why) => panic!("a connection opened before the stop failed: {why}"),
    }
    // The idle one was closed while draining: a request sent now meets an
    // end of stream, which a client retries, not a reset.
    match exchange(&mut kept, false) {
        Exchange::EndedBefore => {}
        Exchange::Answered(..) => panic!("an idle connection was kept open through the drain"),
        Exchange::Failed(why) => panic!("an idle connection closed by the drain: {why}"),
    }
    // As a client does once it has seen the end.
    drop((fresh, kept));
    let old_status = wait_exit(&mut old.0);
    let old_returned = old_out.join().unwrap();
    std::thread::sleep(Duration::from_millis(300));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    terminate(&new);
    let new_status = wait_exit(&mut new.0);
    assert!(new_out.join().unwrap() && new_status.success(), "the new process did not stop cleanly");

    let failed = tally.failed.lock().unwrap();
    let served = tally.served.load(Ordering::Relaxed);
    let retried = tally.retried.load(Ordering::Relaxed);
    eprintln!("served {served}, retried on a new connection {retried}, failed {}", failed.len());
    assert!(failed.is_empty(), "failed requests: {:?}", &failed[..failed.len().min(10)]);
    assert!(old_returned && old_status.success(), "the old process did not drain and exit 0");
    let pids = tally.pids.lock().unwrap();
    let (old_pid, new_pid) = (old.0.id(), new.0.id());
    assert!(pids.contains(&old_pid) && pids.contains(&new_pid), "both processes served: {old_pid} {new_pid}");
    assert!(served > 100, "too little load to show anything: {served}");
}
