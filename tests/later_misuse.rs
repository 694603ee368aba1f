//! Responses that take time, used in ways that must not hurt the server:
//! a server thread writing to a stream it cannot wait for, a callback that
//! panics, a stream nobody reads (HEAD), a Responder that turns into a
//! stream with an invalid header, a handler that defers twice.

use std::io::Write;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use peregrine::{Config, Request, Responder, Response, Stream, StreamError};

#[path = "support/later.rs"]
mod later;
mod support;

use later::{read_complete, read_reply, silent_for, Running};
use support::WAIT;

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n")
}

/// Streams and responders handed out, for the test to hold or use.
type Shelf<T> = Arc<Mutex<Vec<T>>>;

#[test]
fn a_handler_writing_to_a_full_stream_is_told_so_and_never_waits() {
    // `/open` starts a stream nobody writes to; `/fill` writes to every
    // open stream from the handler, on the worker, until it is full: the
    // worker must not wait for room it alone could make.
    let streams: Shelf<Stream> = Arc::default();
    let (tx, results): (Sender<Vec<StreamError>>, Receiver<_>) = channel();
    let tx = Mutex::new(tx);
    let shelf = Arc::clone(&streams);
    let server = Running::start(
        Config::new().workers(1).stream_buffer_size(4096),
        move |req: &Request<'_>, res: &mut Response<'_>| match req.path() {
            "/open" => shelf.lock().unwrap().push(res.stream()),
            "/fill" => {
                let mut errors = Vec::new();
                for stream in shelf.lock().unwrap().iter_mut() {
                    // 64 KiB in 1 KiB writes: far more than the pipe holds.
                    for _ in 0..64 {
                        if let Err(e) = stream.send(&[b'x'; 1024]) {
                            errors.push(e);
                            break;
                        }
                    }
                }
                tx.lock().unwrap().send(errors).unwrap();
                res.body_static(b"filled");
            }
            _ => {
                res.body_static(b"fast");
            }
        },
    );
    // The stream's client does not read, so nothing drains its pipe.
    let mut reader = server.connect();
    reader.write_all(get("/open").as_bytes()).unwrap();
    let deadline = Instant::now() + WAIT;
    while streams.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the stream was not opened");
        std::thread::sleep(Duration::from_millis(5));
    }
    let mut other = server.connect();
    other.write_all(get("/fill").as_bytes()).unwrap();
    let errors = results.recv_timeout(WAIT).expect("the handler blocked on a full stream");
    assert_eq!(errors, [StreamError::Full]);
    let mut buf = Vec::new();
    assert_eq!(read_complete(&mut other, &mut buf, false).body, b"filled");
    other.write_all(get("/fast").as_bytes()).unwrap();
    assert_eq!(read_complete(&mut other, &mut buf, false).body, b"fast");
}

#[test]
fn a_panicking_cancel_callback_does_not_take_the_worker_down() {
    let server = Running::start(Config::new().workers(1), |req: &Request<'_>, res: &mut Response<'_>| {
        if req.path() == "/hold" {
            let responder = res.defer();
            responder.on_cancel(|| panic!("a callback that panics"));
            // Held until the client leaves, then dropped.
            std::thread::spawn(move || {
                let _ = responder.wait_cancelled(WAIT);
            });
        } else {
            res.body_static(b"alive");
        }
    });
    for _ in 0..3 {
        let mut s = server.connect();
        s.write_all(get("/hold").as_bytes()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        drop(s); // cancels: the callback panics on the worker
    }
    let mut s = server.connect();
    s.write_all(get("/ping").as_bytes()).unwrap();
    let mut buf = Vec::new();
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"alive");
    server.stop_within(WAIT).unwrap();
}

#[test]
fn a_head_request_to_an_endless_stream_does_not_hold_the_connection() {
    let streams: Shelf<Stream> = Arc::default();
    let shelf = Arc::clone(&streams);
    let server =
        Running::start(Config::new().workers(1), move |req: &Request<'_>, res: &mut Response<'_>| {
            if req.path() == "/events" {
                // Never written, never finished.
                shelf.lock().unwrap().push(res.stream());
            } else {
                res.body_static(b"healthy");
            }
        });
    let mut s = server.connect();
    let pipeline = format!("HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n{}", get("/health"));
    s.write_all(pipeline.as_bytes()).unwrap();
    let mut buf = Vec::new();
    let head = read_reply(&mut s, &mut buf, true);
    assert_eq!(head.status, 200);
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"healthy", "the request behind HEAD waited");
    let stream = streams.lock().unwrap().pop().unwrap();
    assert!(stream.is_cancelled(), "nobody will read a HEAD answer's body: its stream is cancelled");
}

#[test]
fn a_responder_streaming_with_an_invalid_header_gets_a_bare_500_and_its_stream_is_cancelled() {
    let (tx, rx) = channel::<Responder>();
    let tx = Mutex::new(tx);
    let server = Running::start(Config::new().workers(1), move |_: &Request<'_>, res: &mut Response<'_>| {
        tx.lock().unwrap().send(res.defer()).unwrap();
    });
    let mut s = server.connect();
    s.write_all(get("/x").as_bytes()).unwrap();
    let mut responder = rx.recv_timeout(WAIT).unwrap();
    responder.header("Bad Name", "v");
    let mut stream = responder.stream();
    let mut buf = Vec::new();
    let r = read_complete(&mut s, &mut buf, false);
    assert_eq!(r.status, 500);
    assert!(r.body.is_empty(), "a 500 for a bad header carries no body");
    assert_eq!(stream.send(b"never sent"), Err(StreamError::Cancelled));
    assert!(stream.is_cancelled());
}

#[test]
fn deferring_twice_cancels_the_first_responder() {
    let (tx, rx) = channel::<(Responder, Responder)>();
    let tx = Mutex::new(tx);
    let server = Running::start(Config::new().workers(1), move |_: &Request<'_>, res: &mut Response<'_>| {
        let first = res.defer();
        let second = res.defer();
        tx.lock().unwrap().send((first, second)).unwrap();
    });
    let mut s = server.connect();
    s.write_all(get("/x").as_bytes()).unwrap();
    let (first, second) = rx.recv_timeout(WAIT).unwrap();
    assert!(first.is_cancelled(), "the first responder is no longer waited for");
    assert!(!second.is_cancelled());
    first.send("from the first");
    silent_for(&mut s, Duration::from_millis(100)).unwrap();
    second.send("from the second");
    let mut buf = Vec::new();
    assert_eq!(read_complete(&mut s, &mut buf, false).body, b"from the second");
}

#[test]
fn a_write_with_a_timeout_gives_up_on_a_client_that_does_not_read() {
    let (tx, rx) = channel::<Stream>();
    let tx = Mutex::new(tx);
    let server = Running::start(
        Config::new().workers(1).stream_buffer_size(4096),
        move |_: &Request<'_>, res: &mut Response<'_>| {
            tx.lock().unwrap().send(res.stream()).unwrap();
        },
    );
    let mut s = server.connect();
    s.write_all(get("/x").as_bytes()).unwrap();
    let mut stream = rx.recv_timeout(WAIT).unwrap();
    // The client reads nothing: the socket's buffers, then the pipe, fill.
    let block = [b'x'; 16 * 1024];
    let started = Instant::now();
    let mut sent = 0usize;
    let outcome = loop {
        match stream.send_timeout(&block, Duration::from_millis(200)) {
            Ok(()) => sent += block.len(),
            Err(e) => break e,
        }
        assert!(sent < 256 << 20, "{sent} bytes queued for a client that reads nothing");
        assert!(started.elapsed() < WAIT, "the writes never ran out of room");
    };
    assert_eq!(outcome, StreamError::Full);
    assert!(!stream.is_cancelled(), "a full stream is not a cancelled one");
    drop(s);
}
