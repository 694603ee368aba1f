//! 10 000 concurrent connections each complete a request; the server's RSS
//! with all of them open and idle is printed, and its descriptors come back
//! once they close.
//!
//! The server is this test binary re-run as a child process (with
//! `PEREGRINE_10K_CHILD` set). Descriptor limits are per process, so each
//! side needs room for one end of each connection (10 000 and a few), where
//! one process holding both ends would need over 20 000: more than many
//! hard limits allow, including this project's CI machine's 20 000. Both
//! processes raise their soft limit to what they need; where the hard limit
//! is too low, the test prints `SKIPPED` and why, and passes.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use peregrine::{Config, Request, Response, Server};

mod support;
use support::{eventually, read_response, ChildServer, WAIT};

const CONNS: usize = 10_000;
const CHILD_ENV: &str = "PEREGRINE_10K_CHILD";
/// Descriptors a process needs besides the connections: standard streams,
/// polls, wakers, the listener, the signal pipe, libtest's own.
const SPARE_FDS: u64 = 100;

/// Raises the soft RLIMIT_NOFILE so this process can hold `CONNS`
/// connections; says why not if the hard limit is too low.
fn raise_nofile() -> Result<(), String> {
    let need = CONNS as u64 + SPARE_FDS;
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if lim.rlim_cur >= need {
        return Ok(());
    }
    if lim.rlim_max < need {
        return Err(format!("the hard RLIMIT_NOFILE is {}, and {need} descriptors are needed", lim.rlim_max));
    }
    lim.rlim_cur = need;
    // SAFETY: `lim` is a valid rlimit whose soft limit is at most its hard
    // one, which any process may set for itself.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
        return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// In the child: a server with room for every connection.
fn child_server() {
    raise_nofile().expect("the parent checked the limit");
    let config = Config::new()
        .addr("127.0.0.1:0".parse().unwrap())
        .workers(2)
        .max_connections(CONNS + 1000)
        // The first connections sit idle while the rest are opened; a slow
        // machine must not see them time out.
        .keep_alive_timeout(Duration::from_secs(120));
    let server = Server::bind(config, |_: &Request<'_>, res: &mut Response<'_>| {
        res.body_static(b"hello");
    })
    .unwrap();
    println!("ADDR={}", server.local_addr());
    server.run().unwrap();
}

impl ChildServer {
    fn status_field(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.0.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with(field)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    fn rss_kib(&self) -> u64 {
        self.status_field("VmRSS:")
    }

    fn fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.0.id())).unwrap().count()
    }
}

fn spawn_child(test: &str) -> (ChildServer, SocketAddr) {
    let (child, addr) = support::spawn_test_child(test, CHILD_ENV);
    (ChildServer(child), addr)
}

fn connect(addr: SocketAddr, i: usize) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connection {i}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    s
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";

#[test]
fn ten_thousand_concurrent_connections_each_complete_a_request() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_server();
    }
    if let Err(why) = raise_nofile() {
        println!("SKIPPED ten_thousand_concurrent_connections_each_complete_a_request: {why}");
        return;
    }
    // The child inherits the raised limit, and raises its own anyway.
    let (mut child, addr) = spawn_child("ten_thousand_concurrent_connections_each_complete_a_request");

    // Baseline: after a first request (a worker's buffers exist), idle.
    let mut probe = connect(addr, 0);
    probe.write_all(GET).unwrap();
    assert_eq!(read_response(&mut probe, &mut Vec::new(), false).status, 200);
    drop(probe);
    // Settled once two counts 200 ms apart agree (the server closes its end
    // when it sees the probe's FIN).
    let mut fds_before = 0;
    assert!(
        eventually(|| {
            let first = child.fds();
            std::thread::sleep(Duration::from_millis(200));
            fds_before = child.fds();
            first == fds_before
        }),
        "the server's descriptor count never settled"
    );
    let rss_before = child.rss_kib();

    // Every connection open, then a request on each (all in flight at
    // once), then every answer read.
    let started = Instant::now();
    let mut conns: Vec<TcpStream> = (0..CONNS).map(|i| connect(addr, i)).collect();
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(GET).unwrap_or_else(|e| panic!("connection {i}: {e}"));
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let res = read_response(s, &mut Vec::new(), false);
        assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]), "connection {i}");
        assert_eq!(res.header("connection"), None, "connection {i} is not kept alive");
    }
    let took = started.elapsed();

    // All 10 000 held open and idle by the server.
    let fds_with = child.fds();
    assert_eq!(fds_with, fds_before + CONNS, "the server should hold one descriptor per connection");
    let rss_with = child.rss_kib();
    println!(
        "{CONNS} connections opened and answered in {:.2} s; server RSS {rss_before} KiB before, \
         {rss_with} KiB with {CONNS} idle keep-alive connections: {} bytes per connection \
         (debug build; fds {fds_before} -> {fds_with})",
        took.as_secs_f64(),
        rss_with.saturating_sub(rss_before) * 1024 / CONNS as u64,
    );

    // One more round on every connection: they all still work.
    for (i, s) in conns.iter_mut().enumerate() {
        s.write_all(GET).unwrap_or_else(|e| panic!("connection {i}, second request: {e}"));
    }
    for (i, s) in conns.iter_mut().enumerate() {
        let res = read_response(s, &mut Vec::new(), false);
        assert_eq!(res.status, 200, "connection {i}, second request");
    }

    drop(conns);
    assert!(
        eventually(|| child.fds() == fds_before),
        "the server holds {} descriptors after every client closed, {fds_before} before",
        child.fds()
    );

    // SAFETY: kill(2) touches no memory of ours; the child has not been
    // reaped (only the guard's drop waits for it), so its id is still its own.
    assert_eq!(unsafe { libc::kill(child.0.id() as libc::pid_t, libc::SIGTERM) }, 0);
    let end = Instant::now() + 2 * WAIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < end, "the server did not exit after SIGTERM");
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(status.code(), Some(0), "{status:?}");
}
