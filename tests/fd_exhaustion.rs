//! Out of file descriptors, accepting backs off instead of spinning, and
//! the server serves every waiting client once descriptors are free again;
//! with an accept thread, and with workers accepting for themselves. (Its
//! own test binary, one test: it lowers this process's limit.)

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use peregrine::{Config, Request, Response};
use socket2::{Domain, Socket, Type};

mod support;
use support::{open_fds, TestServer, WAIT};

fn ok(_: &Request<'_>, res: &mut Response<'_>) {
    res.body(b"ok");
}

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: `lim` is a valid, writable rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_nofile(lim: libc::rlimit) {
    // SAFETY: `lim` is a valid rlimit; lowering or restoring our own soft
    // limit below the hard one is always permitted.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Duration {
    // SAFETY: an all-zero rusage is a valid value for getrusage to overwrite.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is valid and writable.
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

fn get(s: &mut Socket) -> Vec<u8> {
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut buf = vec![0u8; 256];
    let n = s.read(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

#[test]
fn accept_backs_off_on_emfile_and_recovers() {
    check_backoff(Config::new().workers(1).accept_threads(1));
    check_backoff(Config::new().workers(1).accept_threads(0));
}

fn check_backoff(config: Config) {
    let server = TestServer::start(config, ok);
    let addr: SocketAddr = server.addr;
    // Client sockets exist before the limit drops: connecting them needs
    // no new descriptor on our side, only on the server's.
    let mut clients: Vec<Socket> = (0..8)
        .map(|_| {
            let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            s
        })
        .collect();
    let original = nofile();
    set_nofile(libc::rlimit { rlim_cur: open_fds() as libc::rlim_t + 2, ..original });
    for c in &clients {
        c.connect(&addr.into()).unwrap();
    }

    // Most clients now wait in the backlog while accept fails with EMFILE.
    let before = cpu_time();
    std::thread::sleep(Duration::from_millis(500));
    let used = cpu_time() - before;
    assert!(used < Duration::from_millis(250), "accept spun: {used:?} of CPU in 500 ms");

    set_nofile(original);
    for (i, c) in clients.iter_mut().enumerate() {
        let answer = get(c);
        assert!(
            answer.starts_with(b"HTTP/1.1 200 OK\r\n"),
            "client {i}: {:?}",
            String::from_utf8_lossy(&answer)
        );
    }
}
