//! Serving on a socket the server did not bind: one the program made
//! (`Server::with_listener`), or one a service manager passed
//! (`peregrine::activation`, systemd's `LISTEN_FDS`), checked in a child
//! process that receives descriptor 3 as systemd would hand it over.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Stdio};

use peregrine::{activation, Config, Error, Request, Response, Server};

mod support;
use support::{request, TestServer};

fn hello(_: &Request<'_>, res: &mut Response<'_>) {
    res.body_static(b"hello");
}

fn serve_on(config: Config, listener: TcpListener) -> Result<TestServer, Error> {
    let server = Server::with_listener(config.handle_signals(false), listener, hello)?;
    Ok(TestServer::from_server(server))
}

#[test]
fn a_listener_the_program_made_is_served_in_both_accept_modes() {
    // One worker accepting itself; several, which then share an accept
    // thread whatever `accept_threads` says; an accept thread asked for.
    for (workers, accept_threads) in [(1, 0), (2, 0), (2, 1)] {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config::new().workers(workers).accept_threads(accept_threads);
        let server = serve_on(config, listener).unwrap();
        assert_eq!(server.addr, addr);
        let case = format!("workers({workers}).accept_threads({accept_threads})");
        for _ in 0..20 {
            let res = request(&server, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
            assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]), "{case}");
        }
        assert!(server.stop().is_ok(), "{case}");
    }
}

#[test]
fn sockets_that_cannot_be_served_are_refused_with_the_reason() {
    use socket2::{Domain, Socket, Type};
    let bound_only = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    bound_only.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into()).unwrap();
    let udp = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
    let dir = std::env::temp_dir().join(format!("peregrine-given-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let unix = std::os::unix::net::UnixListener::bind(&dir).unwrap();
    let unix = Socket::from(std::os::fd::OwnedFd::from(unix));
    for (socket, says) in
        [(bound_only, "not listening"), (udp, "not a stream"), (unix, "not a TCP/IP socket")]
    {
        let err = Server::with_listener(Config::new().workers(1), TcpListener::from(socket), hello).err();
        let err = err.expect("an unusable socket was accepted");
        assert!(matches!(err, Error::Listener(_)), "{err:?}");
        assert!(err.to_string().contains(says), "{err} (expected {says:?})");
    }
    let _ = std::fs::remove_file(&dir);
}

// ---------------------------------------------------------------------------
// Socket activation, in a child process.
// ---------------------------------------------------------------------------

const CHILD_ENV: &str = "PEREGRINE_ACTIVATION_CHILD";

/// Runs this test binary's `test` in a child whose descriptor 3 is what
/// `fd3` (Python) makes, with `LISTEN_PID` set to the child's own pid and
/// `LISTEN_FDS` to `fds`, as a service manager starts a service. Returns
/// the child's lines of output until it ends or prints `ADDR=`.
fn activated_child(test: &str, fd3: &str, fds: &str) -> (std::process::Child, Vec<String>) {
    let exe = std::env::current_exe().unwrap();
    // Python sets the scene and execs the test binary, keeping its pid, so
    // LISTEN_PID names the process that reads it.
    let script = format!(
        "import os, socket, sys\n{fd3}\n\
         # Python's own descriptors are close-on-exec; a passed one is not.\n\
         try: os.set_inheritable(3, True)\nexcept OSError: pass\n\
         os.environ['LISTEN_PID'] = str(os.getpid())\n\
         os.environ['LISTEN_FDS'] = '{fds}'\nos.environ['{CHILD_ENV}'] = '1'\n\
         os.execv(sys.argv[1], sys.argv[1:])\n"
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3");
    let mut lines = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok) {
        let done = line.contains("ADDR=") || line.contains("ERROR=");
        lines.push(line);
        if done {
            break;
        }
    }
    (child, lines)
}

/// In the child: takes the passed sockets and serves on the one there is,
/// printing its address (or the error).
fn child_serves() {
    let mut passed = match activation::listeners() {
        Ok(passed) => passed,
        Err(e) => {
            // What was passed is not ours to close when it is not what the
            // protocol promised.
            // SAFETY: fcntl(F_GETFD) on any number is sound (EBADF if closed).
            let open = unsafe { libc::fcntl(3, libc::F_GETFD) } >= 0;
            println!("FD3={}", if open { "open" } else { "closed" });
            return println!("ERROR={e}");
        }
    };
    assert_eq!(passed.len(), 1, "one socket passed");
    assert!(activation::listeners().unwrap().is_empty(), "handed out twice");
    let server =
        Server::with_listener(Config::new().workers(2).handle_signals(false), passed.remove(0), hello);
    let server = match server {
        Ok(server) => server,
        Err(e) => return println!("ERROR={e}"),
    };
    println!("ADDR={}", server.local_addr());
    let _ = server.run();
}

#[test]
fn a_socket_activated_server_serves_on_descriptor_3() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_serves();
    }
    let fd3 = "s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(16); os.dup2(s.fileno(), 3)";
    let (mut child, lines) = activated_child("a_socket_activated_server_serves_on_descriptor_3", fd3, "1");
    let addr = lines.iter().find_map(|l| l.split_once("ADDR=").and_then(|(_, a)| a.trim().parse().ok()));
    let result = addr.map(|addr: SocketAddr| {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(support::WAIT)).unwrap();
        support::roundtrip(&mut s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    });
    let _ = child.kill();
    let _ = child.wait();
    let res = result.unwrap_or_else(|| panic!("the child did not serve: {lines:?}"));
    assert_eq!((res.status, res.body.as_slice()), (200, &b"hello"[..]));
}

#[test]
fn bad_activation_is_a_clear_error() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_serves();
    }
    let test = "bad_activation_is_a_clear_error";
    let file = "f = open('/dev/null'); os.dup2(f.fileno(), 3)";
    let udp = "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); os.dup2(s.fileno(), 3)";
    let nothing = "os.closerange(3, 4)";
    for (fd3, fds, says) in [
        (file, "1", "descriptor 3 from LISTEN_FDS: not a socket"),
        (udp, "1", "descriptor 3 from LISTEN_FDS: not a stream"),
        (nothing, "1", "descriptor 3 from LISTEN_FDS"),
        (nothing, "many", "LISTEN_FDS is \"many\", not a count"),
    ] {
        let (mut child, lines) = activated_child(test, fd3, fds);
        let _ = child.kill();
        let _ = child.wait();
        let error = lines.iter().find_map(|l| l.split_once("ERROR=").map(|(_, e)| e.to_owned()));
        let error = error.unwrap_or_else(|| panic!("{fd3} / {fds}: no error reported: {lines:?}"));
        assert!(error.contains(says), "{fd3} / {fds}: {error:?} does not say {says:?}");
        if fd3 != nothing {
            assert!(
                lines.iter().any(|l| l.contains("FD3=open")),
                "{fd3}: the descriptor was closed: {lines:?}"
            );
        }
    }
}
