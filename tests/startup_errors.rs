//! Start-up failures are reported as `Error`s naming the cause, never panics.

use std::time::Duration;

use peregrine::{Config, Error, Handler, Request, Response, Server};

/// Answers nothing in particular; these tests never send a request.
struct Noop;

impl Handler for Noop {
    fn handle(&self, _: &Request<'_>, _: &mut Response<'_>) {}
}

fn bind(config: Config) -> Result<Server<Noop>, Error> {
    Server::bind(config.handle_signals(false), Noop)
}

#[test]
fn binding_a_port_in_use_is_an_error_naming_the_address() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let result = std::panic::catch_unwind(|| bind(Config::new().workers(1).addr(addr)).err());
    let err = result.expect("Server::bind panicked").expect("binding a port in use succeeded");
    assert!(matches!(err, Error::Bind { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains(&addr.to_string()), "message does not name {addr}: {msg}");
    assert!(msg.to_lowercase().contains("in use"), "message does not say the address is in use: {msg}");
    drop(taken);
}

#[test]
fn a_second_server_on_a_port_in_use_fails_unless_both_share_it() {
    for accept_threads in [0, 1] {
        let config = || Config::new().workers(2).accept_threads(accept_threads);
        let first = bind(config().port(0)).expect("first bind");
        let addr = first.local_addr();
        // Workers with their own listeners use SO_REUSEPORT, which must
        // not let a second instance join the port unnoticed.
        let second = bind(config().addr(addr)).err();
        let err = second.unwrap_or_else(|| panic!("accept_threads({accept_threads}): second bind succeeded"));
        assert!(err.to_string().to_lowercase().contains("in use"), "{err}");
        drop(first);
        // Asked for, sharing works (a restart that overlaps the old process).
        let shared = || config().reuse_port(true);
        let first = bind(shared().port(0)).expect("first shared bind");
        let second = bind(shared().addr(first.local_addr()));
        assert!(second.is_ok(), "accept_threads({accept_threads}): sharing refused: {:?}", second.err());
    }
}

#[test]
fn invalid_config_is_an_error_naming_the_setting() {
    let local = Config::new().port(0);
    for (config, setting) in [
        (local.clone().workers(0), "workers"),
        (local.clone().workers(1).max_headers(0), "max_headers"),
        (local.clone().workers(1).max_headers(peregrine::MAX_HEADERS_LIMIT + 1), "max_headers"),
        (local.clone().workers(1).websocket_threads(0), "websocket_threads"),
        (local.clone().workers(1).max_message_size(0), "max_message_size"),
        (local.clone().workers(1).read_buffer_size(100), "read_buffer_size"),
        (local.clone().workers(1).keep_alive_timeout(Duration::ZERO), "keep_alive_timeout"),
    ] {
        match bind(config) {
            Ok(_) => panic!("an invalid {setting} was accepted"),
            Err(Error::Config(msg)) => assert!(msg.contains(setting), "{msg:?} does not name {setting}"),
            Err(other) => panic!("expected Error::Config for {setting}, got {other:?}"),
        }
    }
}

#[test]
fn port_zero_binds_a_real_port() {
    let server = bind(Config::new().workers(1).addr("127.0.0.1:0".parse().unwrap())).expect("bind");
    let addr = server.local_addr();
    assert_ne!(addr.port(), 0);
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    // The port is really listening (the kernel queues the connection).
    std::net::TcpStream::connect(addr).expect("connect to the bound port");
}
