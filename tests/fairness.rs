//! One connection cannot hold a worker: a client that keeps its socket
//! full of pipelined requests (and reads every answer) is served in turns,
//! so another client of the same worker is still answered meanwhile.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine::{Config, Request, Response};

mod support;
use support::{read_response, TestServer, WAIT};

fn hello(_: &Request<'_>, res: &mut Response<'_>) {
    res.body_static(b"hi");
}

#[test]
fn a_pipelining_flood_does_not_starve_another_client() {
    // One worker, so the flood and the probe share it.
    let server = TestServer::start(Config::new().workers(1), hello);
    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicUsize::new(0));
    let mut flood = server.connect();
    let mut flood_reader = flood.try_clone().unwrap();
    // Reads (and counts) answers as fast as they come, so the flood never
    // blocks on its own responses.
    let reader = {
        let (stop, answered) = (Arc::clone(&stop), Arc::clone(&answered));
        std::thread::spawn(move || {
            flood_reader.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
            let mut chunk = vec![0u8; 1 << 16];
            while !stop.load(Ordering::Relaxed) {
                if let Ok(n) = flood_reader.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    answered.fetch_add(n, Ordering::Relaxed);
                }
            }
        })
    };
    let writer = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            // Large requests and small answers: the socket stays full while
            // the answers are few enough to read at once.
            let request = format!("GET / HTTP/1.1\r\nHost: x\r\nX-Pad: {}\r\n\r\n", "p".repeat(2000));
            let batch = request.repeat(64).into_bytes();
            // Bounded: the test stops it, and it stops by itself anyway.
            let end = Instant::now() + WAIT * 2;
            while !stop.load(Ordering::Relaxed) && Instant::now() < end {
                if flood.write_all(&batch).is_err() {
                    break;
                }
            }
        })
    };
    assert!(
        support::eventually(|| answered.load(Ordering::Relaxed) > 1 << 16),
        "the flood is not being answered"
    );
    // The flood is on: another client of the same worker must be answered
    // (before the fix, its connection was never even registered).
    let mut probe = server.connect();
    probe.write_all(b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let res = read_response(&mut probe, &mut Vec::new(), false);
    assert_eq!(res.status, 200);
    assert!(!writer.is_finished(), "the flood ended before the probe was answered; the test proved nothing");
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    reader.join().unwrap();
}
