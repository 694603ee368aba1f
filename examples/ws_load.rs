//! A WebSocket echo load generator (a client, not a server): opens
//! `--connections` WebSockets to an echo endpoint, keeps `--pipeline`
//! messages in flight on each, checks that every echo is the message that
//! was sent, and prints one `key=value` line: messages echoed per second in
//! the measured window, errors, the largest round trip seen, and — given
//! `--server-pid` — the server's CPU time per message (Linux `/proc`).
//!
//! ```sh
//! cargo build --release --example websocket --example ws_load
//! taskset -c 0 target/release/examples/websocket --port 19001 --workers 1 --ws-threads 1 &
//! taskset -c 1 target/release/examples/ws_load --url ws://127.0.0.1:19001/ws \
//!     --connections 50 --size 16 --pipeline 1 --seconds 10 --server-pid $!
//! ```
//!
//! The client is cheap on purpose: plain sockets in a mio poll loop per
//! client thread (`--threads`, default 1), a hand-written handshake, frames
//! encoded and masked in place, one read buffer per connection. `benches/
//! ws_load.sh` runs it against peregrine and the peer servers in
//! `benches/ws_peers/`.
//!
//! Flags (each takes a value): `--url ws://HOST:PORT/PATH` (or `--host`,
//! `--port`, `--path`; default `ws://127.0.0.1:8080/ws`), `--connections N`
//! (50), `--seconds S` (10; at most 3600), `--warmup S` (1; not counted),
//! `--size BYTES` (16), `--pipeline K` (1), `--threads T` (1), `--kind
//! binary|text` (binary), `--server-pid PID` (none), `--label NAME` (printed
//! first, for scripts).
//!
//! The line: `msgs` / `msgs_per_sec` (echoes received in the window),
//! `total_msgs` (the whole run), `errors` (connections that failed, and
//! why, on stderr), `mismatches` (echoes that differ from what was sent),
//! `lost` (never echoed), `slow` (echoes that took over 100 ms),
//! `max_rtt_ms`; with `--server-pid`, `server_cpu_pct` and
//! `server_us_per_msg`, the same for this client, `other_cpu_pct` (the rest
//! of the machine: other processes, steal) and `ksoftirqd_cpu_pct`. CPU
//! times come in clock ticks (10 ms), so keep windows of seconds.
//!
//! The run is bounded: connect (5 s per connection), warm-up, the measured
//! window, then at most 5 s to collect the echoes still in flight (those
//! missing are counted `lost`) and 1 s for the closing handshakes. Exits 1
//! if anything went wrong (the line is printed all the same).

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream, ToSocketAddrs};
use std::process::exit;
use std::sync::{Arc, Barrier, OnceLock};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// An echo slower than this counts as `slow` (a stall, on loopback).
const SLOW: Duration = Duration::from_millis(100);
const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

struct Opts {
    label: Option<String>,
    host: String,
    port: u16,
    path: String,
    connections: usize,
    seconds: f64,
    warmup: f64,
    size: usize,
    pipeline: usize,
    threads: usize,
    text: bool,
    server_pid: Option<u32>,
}

fn usage(code: i32) -> ! {
    eprintln!(
        "usage: ws_load [--url ws://HOST:PORT/PATH | --host H --port N --path P] [--connections N (50)] \
         [--seconds S (10)] [--warmup S (1)] [--size BYTES (16)] [--pipeline K (1)] [--threads T (1)] \
         [--kind binary|text] [--server-pid PID] [--label NAME]"
    );
    exit(code)
}

fn fail(msg: &str) -> ! {
    eprintln!("error: {msg}");
    usage(2)
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> T {
    value.parse().unwrap_or_else(|_| fail(&format!("{flag} cannot take {value:?}")))
}

fn parse_args() -> Opts {
    let mut o = Opts {
        label: None,
        host: "127.0.0.1".into(),
        port: 8080,
        path: "/ws".into(),
        connections: 50,
        seconds: 10.0,
        warmup: 1.0,
        size: 16,
        pipeline: 1,
        threads: 1,
        text: false,
        server_pid: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            usage(0);
        }
        let Some(v) = it.next() else { fail(&format!("{flag} needs a value")) };
        match flag.as_str() {
            "--url" => {
                let rest = v.strip_prefix("ws://").unwrap_or_else(|| fail("--url must start with ws://"));
                let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
                o.path = path.to_string();
                match authority.rsplit_once(':') {
                    Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
                        o.host = h.trim_matches(['[', ']']).to_string();
                        o.port = number("--url port", p);
                    }
                    _ => {
                        o.host = authority.trim_matches(['[', ']']).to_string();
                        o.port = 80;
                    }
                }
            }
            "--host" => o.host = v,
            "--port" => o.port = number(&flag, &v),
            "--path" => o.path = v,
            "--connections" => o.connections = number(&flag, &v),
            "--seconds" => o.seconds = number(&flag, &v),
            "--warmup" => o.warmup = number(&flag, &v),
            "--size" => o.size = number(&flag, &v),
            "--pipeline" => o.pipeline = number(&flag, &v),
            "--threads" => o.threads = number(&flag, &v),
            "--kind" => {
                o.text = match v.as_str() {
                    "text" => true,
                    "binary" => false,
                    _ => fail("--kind is binary or text"),
                }
            }
            "--server-pid" => o.server_pid = Some(number(&flag, &v)),
            "--label" => o.label = Some(v),
            _ => fail(&format!("unknown flag {flag}")),
        }
    }
    if !(o.seconds > 0.0 && o.seconds <= 3600.0) {
        fail("--seconds must be in (0, 3600]");
    }
    if !(0.0..=60.0).contains(&o.warmup) {
        fail("--warmup must be in [0, 60]");
    }
    if !(1..=10_000).contains(&o.connections) {
        fail("--connections must be in 1..=10000");
    }
    if !(1..=4096).contains(&o.pipeline) {
        fail("--pipeline must be in 1..=4096");
    }
    if o.size > 16 << 20 {
        fail("--size is at most 16 MiB");
    }
    if o.threads == 0 || o.threads > o.connections {
        fail("--threads must be in 1..=connections");
    }
    if !o.path.starts_with('/') {
        fail("--path must start with /");
    }
    o
}

/// What one client thread counted.
#[derive(Default)]
struct Stats {
    connected: usize,
    /// Echoes received inside the measured window.
    window: u64,
    /// Echoes received over the whole run.
    total: u64,
    errors: u64,
    mismatches: u64,
    /// Messages still unanswered when the drain timed out.
    lost: u64,
    slow: u64,
    max_rtt: Duration,
    first_error: Option<String>,
}

impl Stats {
    fn error(&mut self, msg: String) {
        self.errors += 1;
        self.first_error.get_or_insert(msg);
    }

    fn merge(&mut self, o: Stats) {
        self.connected += o.connected;
        self.window += o.window;
        self.total += o.total;
        self.errors += o.errors;
        self.mismatches += o.mismatches;
        self.lost += o.lost;
        self.slow += o.slow;
        self.max_rtt = self.max_rtt.max(o.max_rtt);
        if self.first_error.is_none() {
            self.first_error = o.first_error;
        }
    }
}

/// The phases' ends, shared by every thread once all have connected.
struct Clock {
    warm_end: Instant,
    end: Instant,
}

fn main() {
    let o = Arc::new(parse_args());
    let addr = match (o.host.as_str(), o.port).to_socket_addrs().map(|mut a| a.next()) {
        Ok(Some(a)) => a,
        _ => fail(&format!("cannot resolve {}", o.host)),
    };
    let barrier = Arc::new(Barrier::new(o.threads + 1));
    let clock = Arc::new(OnceLock::<Clock>::new());
    let handles: Vec<_> = (0..o.threads)
        .map(|t| {
            let (o, barrier, clock) = (Arc::clone(&o), Arc::clone(&barrier), Arc::clone(&clock));
            std::thread::spawn(move || client_thread(t, &o, addr, &barrier, &clock))
        })
        .collect();
    // Everyone connected (or failed to): start the clock.
    barrier.wait();
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(o.warmup);
    let end = warm_end + Duration::from_secs_f64(o.seconds);
    let _ = clock.set(Clock { warm_end, end });
    barrier.wait();
    std::thread::sleep(warm_end.saturating_duration_since(Instant::now()));
    let sampled0 = Instant::now();
    let ksoftirqd = ksoftirqd_pids();
    let softirq_ticks = || ksoftirqd.iter().map(|&pid| cpu_ticks(pid)).sum::<Option<u64>>();
    let cpu0 =
        (o.server_pid.and_then(cpu_ticks), cpu_ticks(std::process::id()), busy_ticks(), softirq_ticks());
    std::thread::sleep(end.saturating_duration_since(Instant::now()));
    let cpu1 =
        (o.server_pid.and_then(cpu_ticks), cpu_ticks(std::process::id()), busy_ticks(), softirq_ticks());
    // The CPU times' own interval: longer than the window if this thread
    // woke late (an overloaded machine).
    let cpu_secs = sampled0.elapsed().as_secs_f64();
    let window = end - warm_end;

    let mut stats = Stats::default();
    for h in handles {
        match h.join() {
            Ok(s) => stats.merge(s),
            Err(_) => stats.error("a client thread panicked".into()),
        }
    }
    let secs = window.as_secs_f64();
    let rate = stats.window as f64 / secs;
    let tick_us = 1e6 / clock_ticks_per_sec();
    let cpu = |a: Option<u64>, b: Option<u64>| a.zip(b).map(|(a, b)| b.saturating_sub(a) as f64 * tick_us);
    let server_us = cpu(cpu0.0, cpu1.0);
    let client_us = cpu(cpu0.1, cpu1.1);
    let busy_us = cpu(cpu0.2, cpu1.2);
    let ksoftirqd_us = cpu(cpu0.3, cpu1.3).unwrap_or(0.0);
    let mut line = String::from("ws_load");
    if let Some(label) = &o.label {
        line += &format!(" label={label}");
    }
    line += &format!(
        " url=ws://{}{} connections={} connected={} size={} kind={} pipeline={} threads={} seconds={secs:.2} \
         msgs={} msgs_per_sec={rate:.0} total_msgs={} errors={} mismatches={} lost={} slow={} max_rtt_ms={:.2}",
        addr,
        o.path,
        o.connections,
        stats.connected,
        o.size,
        if o.text { "text" } else { "binary" },
        o.pipeline,
        o.threads,
        stats.window,
        stats.total,
        stats.errors,
        stats.mismatches,
        stats.lost,
        stats.slow,
        stats.max_rtt.as_secs_f64() * 1e3,
    );
    // CPU time per message echoed in the window (scaled to it).
    let per_msg = |us: f64| if stats.window > 0 { us * secs / cpu_secs / stats.window as f64 } else { 0.0 };
    if let Some(us) = server_us {
        line += &format!(" server_cpu_pct={:.1} server_us_per_msg={:.3}", us / cpu_secs / 1e4, per_msg(us));
    }
    if let Some(us) = client_us {
        line += &format!(" client_cpu_pct={:.1} client_us_per_msg={:.3}", us / cpu_secs / 1e4, per_msg(us));
    }
    if let (Some(busy), Some(server), Some(client)) = (busy_us, server_us, client_us) {
        // Everything else the machine did meanwhile: other processes, and
        // time the hypervisor stole. Not the network work that ksoftirqd
        // took over (much of it this run's own, on loopback), shown apart.
        let other = (busy - server - client - ksoftirqd_us).max(0.0);
        line += &format!(
            " other_cpu_pct={:.1} ksoftirqd_cpu_pct={:.1}",
            other / cpu_secs / 1e4,
            ksoftirqd_us / cpu_secs / 1e4
        );
    }
    println!("{line}");
    if let Some(e) = &stats.first_error {
        eprintln!("first error: {e}");
    }
    let bad = stats.errors + stats.mismatches + stats.lost > 0 || stats.window == 0;
    exit(if bad { 1 } else { 0 })
}

/// utime + stime of process `pid`, in clock ticks (every thread's, live or
/// gone), from `/proc/PID/stat`.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces): state is the
    // first, utime the 12th, stime the 13th.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

/// The kernel's softirq threads (`ksoftirqd/N`), whose time is loopback
/// packet processing as much as anything else's.
fn ksoftirqd_pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("ksoftirqd/"))
        })
        .collect()
}

/// Non-idle time of every CPU together, in clock ticks, from `/proc/stat`.
fn busy_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    // user nice system idle iowait irq softirq steal (guest time is
    // already in user and nice).
    let t: Vec<u64> = line.split_whitespace().take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    Some(t.iter().sum::<u64>() - t.get(3)? - t.get(4)?)
}

fn clock_ticks_per_sec() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if n > 0 {
        n as f64
    } else {
        100.0
    }
}

/// One WebSocket client connection.
struct Conn {
    stream: TcpStream,
    /// Global connection number: part of every payload.
    id: u64,
    input: Vec<u8>,
    start: usize,
    end: usize,
    out: Vec<u8>,
    sent: usize,
    /// Sequence number of the next message to send, and of the next echo.
    next_send: u64,
    next_echo: u64,
    /// Send times of the messages in flight, oldest first.
    sent_at: VecDeque<Instant>,
    /// The payload of a fragmented echo, as it arrives.
    fragments: Option<Vec<u8>>,
    open: bool,
    /// Our close frame is queued; waiting for the server's.
    closing: bool,
}

/// Per-thread state that frames are built and checked with.
struct Scratch {
    payload: Vec<u8>,
    rng: u64,
    text: bool,
    size: usize,
}

impl Scratch {
    fn mask(&mut self) -> [u8; 4] {
        // xorshift64
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        (self.rng as u32).to_le_bytes()
    }
}

fn client_thread(t: usize, o: &Opts, addr: SocketAddr, barrier: &Barrier, clock: &OnceLock<Clock>) -> Stats {
    let mut stats = Stats::default();
    let mut scratch = Scratch {
        payload: Vec::with_capacity(o.size),
        rng: 0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03),
        text: o.text,
        size: o.size,
    };
    let poll = Poll::new();
    let mut conns = Vec::new();
    let host_header =
        if addr.is_ipv6() { format!("[{}]:{}", o.host, o.port) } else { format!("{}:{}", o.host, o.port) };
    for id in (t..o.connections).step_by(o.threads) {
        let Ok(poll) = &poll else { break };
        match handshake(addr, &host_header, &o.path, &mut scratch) {
            Ok((std_stream, early)) => {
                let mut stream = TcpStream::from_std(std_stream);
                let token = Token(conns.len());
                if let Err(e) =
                    poll.registry().register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
                {
                    stats.error(format!("register: {e}"));
                    continue;
                }
                let cap = (16 * 1024).max(2 * (o.size + 14));
                let mut input = vec![0; cap.max(early.len())];
                input[..early.len()].copy_from_slice(&early);
                conns.push(Conn {
                    stream,
                    id: id as u64,
                    input,
                    start: 0,
                    end: early.len(),
                    out: Vec::with_capacity(o.pipeline * (o.size + 14)),
                    sent: 0,
                    next_send: 0,
                    next_echo: 0,
                    sent_at: VecDeque::with_capacity(o.pipeline),
                    fragments: None,
                    open: true,
                    closing: false,
                });
            }
            Err(e) => stats.error(format!("connection {id}: {e}")),
        }
    }
    stats.connected = conns.len();
    barrier.wait();
    barrier.wait();
    let mut poll = match poll {
        Ok(p) => p,
        Err(e) => {
            stats.error(format!("poll: {e}"));
            return stats;
        }
    };
    let clock = clock.get().expect("set before the second barrier");
    let mut now = Instant::now();
    for c in &mut conns {
        for _ in 0..o.pipeline {
            queue_message(c, &mut scratch, now);
        }
        // Frames that came with the handshake (a server that speaks first).
        if c.end > 0 {
            process(c, &mut scratch, &mut stats, clock, now, true);
        }
        flush(c, &mut stats);
    }

    let mut events = Events::with_capacity(1024);
    let mut drain_end = None;
    let mut close_end = None;
    loop {
        if now >= clock.end && drain_end.is_none() {
            drain_end = Some(now + DRAIN_TIMEOUT);
        }
        if let (Some(drain_end), None) = (drain_end, close_end) {
            let drained = conns.iter().all(|c| !c.open || c.sent_at.is_empty());
            if drained || now >= drain_end {
                for c in conns.iter_mut().filter(|c| c.open) {
                    stats.lost += c.sent_at.len() as u64;
                    queue_close(c, &mut scratch);
                    flush(c, &mut stats);
                }
                close_end = Some(now + CLOSE_TIMEOUT);
            }
        }
        if let Some(close_end) = close_end {
            if now >= close_end || conns.iter().all(|c| !c.open) {
                break;
            }
        }
        let next = close_end.or(drain_end).unwrap_or(clock.end);
        let timeout = next.saturating_duration_since(now).min(Duration::from_millis(50));
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                stats.error(format!("poll: {e}"));
                break;
            }
        }
        now = Instant::now();
        let sending = now < clock.end;
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            if !c.open {
                continue;
            }
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                read(c, &mut scratch, &mut stats, clock, now, sending);
            }
            if c.open {
                flush(c, &mut stats);
            }
        }
    }
    stats
}

/// Connects and upgrades (blocking); returns the socket, made non-blocking,
/// and any bytes that followed the `101`.
fn handshake(
    addr: SocketAddr,
    host: &str,
    path: &str,
    scratch: &mut Scratch,
) -> io::Result<(StdStream, Vec<u8>)> {
    let mut s = StdStream::connect_timeout(&addr, CONNECT_TIMEOUT)?;
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(CONNECT_TIMEOUT))?;
    s.set_write_timeout(Some(CONNECT_TIMEOUT))?;
    let mut nonce = [0u8; 16];
    for chunk in nonce.chunks_mut(4) {
        chunk.copy_from_slice(&scratch.mask());
    }
    let key = base64(&nonce);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    s.write_all(request.as_bytes())?;
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > 16 * 1024 {
            return Err(io::Error::other("handshake response head too long"));
        }
        let mut chunk = [0u8; 1024];
        let n = s.read(&mut chunk)?;
        if n == 0 {
            return Err(io::Error::other("server closed during the handshake"));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("handshake answered {status:?}")));
    }
    let expected = base64(&sha1_smol::Sha1::from(format!("{key}{GUID}")).digest().bytes());
    let accept = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|(_, v)| v.trim());
    if accept != Some(expected.as_str()) {
        return Err(io::Error::other(format!("bad Sec-WebSocket-Accept {accept:?}")));
    }
    s.set_read_timeout(None)?;
    s.set_write_timeout(None)?;
    s.set_nonblocking(true)?;
    Ok((s, buf[head_end..].to_vec()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                s.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// The payload of message `seq` on connection `id`: printable ASCII (valid
/// text), different for every message.
fn fill_payload(scratch: &mut Scratch, id: u64, seq: u64) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    scratch.payload.clear();
    let mut state = id << 40 ^ seq;
    let mut bits = 0u64;
    for i in 0..scratch.size {
        if i % 10 == 0 {
            // splitmix64
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            bits = z ^ (z >> 31);
        }
        scratch.payload.push(ALPHABET[(bits >> (6 * (i % 10))) as usize & 63]);
    }
}

/// Appends a masked client frame.
fn put_frame(out: &mut Vec<u8>, opcode: u8, payload: &[u8], mask: [u8; 4]) {
    let len = payload.len();
    out.push(0x80 | opcode);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= 0xFFFF {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&mask);
    let at = out.len();
    out.extend_from_slice(payload);
    for (i, b) in out[at..].iter_mut().enumerate() {
        *b ^= mask[i & 3];
    }
}

fn compact_out(c: &mut Conn) {
    if c.sent == c.out.len() {
        c.out.clear();
        c.sent = 0;
    }
}

fn queue_message(c: &mut Conn, scratch: &mut Scratch, now: Instant) {
    fill_payload(scratch, c.id, c.next_send);
    c.next_send += 1;
    c.sent_at.push_back(now);
    compact_out(c);
    let mask = scratch.mask();
    put_frame(&mut c.out, if scratch.text { 0x1 } else { 0x2 }, &scratch.payload, mask);
}

fn queue_close(c: &mut Conn, scratch: &mut Scratch) {
    c.closing = true;
    compact_out(c);
    let mask = scratch.mask();
    put_frame(&mut c.out, 0x8, &1000u16.to_be_bytes(), mask);
}

fn flush(c: &mut Conn, stats: &mut Stats) {
    while c.sent < c.out.len() {
        match c.stream.write(&c.out[c.sent..]) {
            Ok(0) => return drop_conn(c, stats, "write returned 0".into()),
            Ok(n) => c.sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return drop_conn(c, stats, format!("write: {e}")),
        }
    }
    compact_out(c);
}

fn drop_conn(c: &mut Conn, stats: &mut Stats, why: String) {
    if c.open && !c.closing {
        stats.error(format!("connection {}: {why}", c.id));
    }
    c.open = false;
}

/// Reads until the socket would block (mio's edge-triggered contract),
/// handling every whole frame.
fn read(c: &mut Conn, scratch: &mut Scratch, stats: &mut Stats, clock: &Clock, now: Instant, sending: bool) {
    loop {
        if c.end == c.input.len() {
            // `process` left a partial frame at `start`: make room for more.
            c.input.copy_within(c.start..c.end, 0);
            (c.start, c.end) = (0, c.end - c.start);
            if c.end == c.input.len() {
                let len = c.input.len();
                c.input.resize(len * 2, 0);
            }
        }
        match c.stream.read(&mut c.input[c.end..]) {
            Ok(0) => return drop_conn(c, stats, "server closed the connection".into()),
            Ok(n) => {
                c.end += n;
                process(c, scratch, stats, clock, now, sending);
                if !c.open {
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return drop_conn(c, stats, format!("read: {e}")),
        }
    }
}

/// Handles the whole frames in `input[start..end]`.
fn process(
    c: &mut Conn,
    scratch: &mut Scratch,
    stats: &mut Stats,
    clock: &Clock,
    now: Instant,
    sending: bool,
) {
    while c.open {
        let buf = &c.input[c.start..c.end];
        if buf.len() < 2 {
            break;
        }
        let (fin, opcode) = (buf[0] & 0x80 != 0, buf[0] & 0x0F);
        if buf[1] & 0x80 != 0 {
            return drop_conn(c, stats, "the server masked a frame".into());
        }
        let (len, head) = match buf[1] & 0x7F {
            126 if buf.len() >= 4 => (u64::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
            127 if buf.len() >= 10 => (u64::from_be_bytes(buf[2..10].try_into().expect("8 bytes")), 10),
            126 | 127 => break,
            n => (u64::from(n), 2),
        };
        if len > (64 << 20) {
            return drop_conn(c, stats, format!("frame of {len} bytes"));
        }
        let total = head + len as usize;
        if buf.len() < total {
            if c.input.len() - c.start < total {
                c.input.copy_within(c.start..c.end, 0);
                (c.start, c.end) = (0, c.end - c.start);
                if c.input.len() < total {
                    c.input.resize(total, 0);
                }
            }
            break;
        }
        let payload = c.start + head..c.start + total;
        c.start += total;
        match opcode {
            0x0..=0x2 if !fin || c.fragments.is_some() => {
                // A fragment: a continuation must continue a message, and
                // a new message may not start inside one.
                if c.fragments.is_some() != (opcode == 0) {
                    return drop_conn(c, stats, "bad fragmentation".into());
                }
                c.fragments.get_or_insert_with(Vec::new).extend_from_slice(&c.input[payload]);
                if fin {
                    let whole = c.fragments.take().expect("just extended");
                    on_echo(c, &whole, scratch, stats, clock, now, sending);
                }
            }
            0x1 | 0x2 => {
                // Checked in place: `on_echo` does not touch `input`.
                let input = std::mem::take(&mut c.input);
                on_echo(c, &input[payload], scratch, stats, clock, now, sending);
                c.input = input;
            }
            0x0 => return drop_conn(c, stats, "continuation without a message".into()),
            0x8 => {
                let was_closing = c.closing;
                c.closing = true;
                c.open = false;
                if !was_closing {
                    let code = c.input.get(payload.start..payload.end.min(payload.start + 2));
                    let code = code.and_then(|b| b.try_into().ok()).map_or(1005, u16::from_be_bytes);
                    stats.error(format!("connection {}: the server closed the WebSocket ({code})", c.id));
                }
                return;
            }
            0x9 => {
                let ping = c.input[payload].to_vec();
                compact_out(c);
                let mask = scratch.mask();
                put_frame(&mut c.out, 0xA, &ping, mask);
            }
            0xA => {}
            op => return drop_conn(c, stats, format!("unknown opcode {op:#x}")),
        }
    }
    if c.start == c.end {
        (c.start, c.end) = (0, 0);
    }
}

fn on_echo(
    c: &mut Conn,
    payload: &[u8],
    scratch: &mut Scratch,
    stats: &mut Stats,
    clock: &Clock,
    now: Instant,
    sending: bool,
) {
    let Some(sent) = c.sent_at.pop_front() else {
        return drop_conn(c, stats, "an echo of nothing".into());
    };
    fill_payload(scratch, c.id, c.next_echo);
    if payload != scratch.payload.as_slice() {
        stats.mismatches += 1;
        let seq = c.next_echo;
        stats.first_error.get_or_insert_with(|| format!("connection {}: echo {seq} differs", c.id));
    }
    c.next_echo += 1;
    stats.total += 1;
    if now >= clock.warm_end && now < clock.end {
        stats.window += 1;
    }
    let rtt = now.saturating_duration_since(sent);
    stats.max_rtt = stats.max_rtt.max(rtt);
    if rtt > SLOW {
        stats.slow += 1;
    }
    if sending && !c.closing {
        queue_message(c, scratch, now);
    }
}
