//! Not a server: measures whether one connection can hold a worker. A
//! flooding client keeps its socket full of pipelined requests (and reads
//! every answer), while a probe sends one request at a time on its own
//! connection and times each answer. On a server with one worker, the
//! probe's latency shows how long the flood makes everyone else wait.
//!
//! ```sh
//! cargo run --release --example hello -- --port 8080 --workers 1 &
//! cargo run --release --example fairness -- --addr 127.0.0.1:8080 --seconds 10
//! ```
//!
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:8080), `--seconds N`
//! (default 10), `--flood 0|1` (default 1: with the flood; 0 measures the
//! probe alone), `--path P` (default `/`). Prints one line: probe latency
//! percentiles and the flood's answered bytes per second. Every wait is
//! bounded: a probe not answered within 5 s ends the run, reported as
//! `starved` (exit status 1).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

struct Options {
    addr: SocketAddr,
    seconds: u64,
    flood: bool,
    path: String,
}

fn options() -> Options {
    let mut o =
        Options { addr: "127.0.0.1:8080".parse().unwrap(), seconds: 10, flood: true, path: "/".into() };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args.next().unwrap_or_else(|| fail(&format!("{flag} needs a value")));
        match flag.as_str() {
            "--addr" => o.addr = value.parse().unwrap_or_else(|_| fail("--addr takes HOST:PORT")),
            "--seconds" => o.seconds = value.parse().unwrap_or_else(|_| fail("--seconds takes a number")),
            "--flood" => o.flood = value != "0",
            "--path" => o.path = value,
            _ => fail(&format!("unknown flag {flag}")),
        }
    }
    o
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}\nusage: fairness [--addr HOST:PORT] [--seconds N] [--flood 0|1] [--path P]");
    std::process::exit(2);
}

/// The server did not answer a probe in time, or broke its connection.
fn give_up(msg: &str) -> ! {
    println!("starved: {msg}");
    std::process::exit(1);
}

/// Starts a client that writes pipelined requests without pause and reads
/// every answer on another thread; returns the answered-bytes counter.
fn flood(o: &Options, stop: &Arc<AtomicBool>) -> Arc<AtomicU64> {
    let answered = Arc::new(AtomicU64::new(0));
    let mut writer = TcpStream::connect(o.addr).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    let mut reader = writer.try_clone().unwrap();
    reader.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let batch = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.path).repeat(256).into_bytes();
    let stop_w = Arc::clone(stop);
    std::thread::spawn(move || while !stop_w.load(Ordering::Relaxed) && writer.write_all(&batch).is_ok() {});
    let (stop_r, counted) = (Arc::clone(stop), Arc::clone(&answered));
    std::thread::spawn(move || {
        let mut chunk = vec![0u8; 1 << 16];
        while !stop_r.load(Ordering::Relaxed) {
            match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    counted.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e)
                    if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(_) => break,
            }
        }
    });
    answered
}

/// One request on `s`, timed until its whole answer (Content-Length) is in.
fn probe(s: &mut TcpStream, request: &[u8]) -> Duration {
    let start = Instant::now();
    s.write_all(request).unwrap_or_else(|e| give_up(&format!("probe write: {e}")));
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    loop {
        let n = match s.read(&mut chunk) {
            Ok(0) => give_up("the server closed the probe's connection"),
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                give_up(&format!(
                    "a probe waited over 5 s ({} probes answered before)",
                    PROBES.load(Ordering::Relaxed)
                ))
            }
            Err(e) => give_up(&format!("probe read: {e}")),
        };
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap_or(0));
            if buf.len() >= end + 4 + len {
                return start.elapsed();
            }
        }
    }
}

/// Probes answered so far.
static PROBES: AtomicU64 = AtomicU64::new(0);

fn main() {
    let o = options();
    let stop = Arc::new(AtomicBool::new(false));
    let answered = if o.flood { Some(flood(&o, &stop)) } else { None };
    // Let the flood fill its socket before probing.
    std::thread::sleep(Duration::from_millis(500));
    let mut s = TcpStream::connect(o.addr).unwrap_or_else(|e| fail(&format!("connect: {e}")));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.set_nodelay(true).unwrap();
    let request = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", o.path).into_bytes();
    let start_bytes = answered.as_ref().map_or(0, |a| a.load(Ordering::Relaxed));
    let start = Instant::now();
    let end = start + Duration::from_secs(o.seconds);
    let mut times = Vec::new();
    while Instant::now() < end {
        times.push(probe(&mut s, &request));
        PROBES.fetch_add(1, Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(5));
    }
    let elapsed = start.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    let flood_bytes = answered.map_or(0, |a| a.load(Ordering::Relaxed) - start_bytes);
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize].as_secs_f64() * 1e3;
    println!(
        "probes={} p50_ms={:.3} p99_ms={:.3} max_ms={:.3} flood_MBps={:.1}",
        times.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        flood_bytes as f64 / elapsed / 1e6
    );
}
