//! Server configuration: every knob with its documented default.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use crate::access_log::AccessLog;
use crate::error::Error;
use crate::metrics::Metrics;

/// The largest header array a worker may be configured with.
///
/// Headers are parsed into a fixed array on the worker's stack; this bounds
/// its size (256 × 32 bytes).
pub const MAX_HEADERS_LIMIT: usize = 256;

/// How a [`Server`](crate::Server) binds, threads, buffers and times out.
///
/// Built with chained setters from [`Config::new`] (which equals
/// [`Config::default`]); [`Server::bind`](crate::Server::bind) validates it
/// and reports a bad value as an [`Error`] rather than panicking.
///
/// A timeout never ends early. Deadlines are kept in ticks of 8 ms
/// (rounded up), so that a busy connection re-armed within one costs
/// nothing to re-arm: a timeout ends within a tick of its time, plus
/// however long the loop's turn at that moment takes.
///
/// | setting | default |
/// |---|---|
/// | [`addr`](Config::addr) | `127.0.0.1:3000` |
/// | [`workers`](Config::workers) | number of cores |
/// | [`accept_threads`](Config::accept_threads) | 0 on Linux (each worker accepts for itself), 1 elsewhere |
/// | [`pin_workers`](Config::pin_workers) | off |
/// | [`reuse_port`](Config::reuse_port) | off |
/// | [`backlog`](Config::backlog) | 1024 |
/// | [`defer_accept`](Config::defer_accept) | on (Linux) |
/// | [`max_connections`](Config::max_connections) | 10 000 (shared evenly by the workers) |
/// | [`read_buffer_size`](Config::read_buffer_size) | 8 KiB (also the largest request head) |
/// | [`write_buffer_size`](Config::write_buffer_size) | 16 KiB |
/// | [`max_headers`](Config::max_headers) | 64 |
/// | [`bare_lf`](Config::bare_lf) | off (CRLF only) |
/// | [`max_body_size`](Config::max_body_size) | 1 MiB |
/// | [`keep_alive_timeout`](Config::keep_alive_timeout) | 15 s |
/// | [`request_timeout`](Config::request_timeout) | 10 s |
/// | [`write_timeout`](Config::write_timeout) | 30 s |
/// | [`response_timeout`](Config::response_timeout) | 60 s |
/// | [`stream_buffer_size`](Config::stream_buffer_size) | 64 KiB |
/// | [`event_stream_keep_alive`](Config::event_stream_keep_alive) | 15 s |
/// | [`shutdown_grace`](Config::shutdown_grace) | 10 s |
/// | [`linger_timeout`](Config::linger_timeout) | 2 s |
/// | [`handle_signals`](Config::handle_signals) | on |
/// | [`websocket_threads`](Config::websocket_threads) | 1 (started only for a [`Handler::WEBSOCKETS`](crate::Handler::WEBSOCKETS) handler) |
/// | [`max_message_size`](Config::max_message_size) | 1 MiB |
/// | [`access_log`](Config::access_log) | off |
/// | [`metrics`](Config::metrics) | the server's own handle |
///
/// ```
/// use std::time::Duration;
/// let config = peregrine::Config::new()
///     .port(8080)
///     .workers(4)
///     .keep_alive_timeout(Duration::from_secs(30));
/// assert_eq!(config.listen_addr().port(), 8080);
/// ```
#[derive(Clone, Debug)]
pub struct Config {
    pub(crate) addr: SocketAddr,
    pub(crate) workers: usize,
    pub(crate) accept_threads: usize,
    pub(crate) pin_workers: bool,
    pub(crate) reuse_port: bool,
    pub(crate) backlog: u32,
    pub(crate) defer_accept: bool,
    pub(crate) max_connections: usize,
    pub(crate) read_buffer_size: usize,
    pub(crate) write_buffer_size: usize,
    pub(crate) max_headers: usize,
    pub(crate) bare_lf: bool,
    pub(crate) max_body_size: usize,
    pub(crate) keep_alive_timeout: Duration,
    pub(crate) request_timeout: Duration,
    pub(crate) write_timeout: Duration,
    pub(crate) response_timeout: Duration,
    pub(crate) stream_buffer_size: usize,
    pub(crate) event_stream_keep_alive: Duration,
    pub(crate) linger_timeout: Duration,
    pub(crate) shutdown_grace: Duration,
    pub(crate) handle_signals: bool,
    pub(crate) websocket_threads: usize,
    pub(crate) max_message_size: usize,
    pub(crate) access_log: Option<AccessLog>,
    pub(crate) metrics: Option<Metrics>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 3000),
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            accept_threads: if cfg!(target_os = "linux") { 0 } else { 1 },
            pin_workers: false,
            reuse_port: false,
            backlog: 1024,
            defer_accept: true,
            max_connections: 10_000,
            read_buffer_size: 8 * 1024,
            write_buffer_size: 16 * 1024,
            max_headers: 64,
            bare_lf: false,
            max_body_size: 1 << 20,
            keep_alive_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(10),
            write_timeout: Duration::from_secs(30),
            response_timeout: Duration::from_secs(60),
            stream_buffer_size: 64 * 1024,
            event_stream_keep_alive: Duration::from_secs(15),
            linger_timeout: Duration::from_secs(2),
            shutdown_grace: Duration::from_secs(10),
            handle_signals: true,
            websocket_threads: 1,
            max_message_size: 1 << 20,
            access_log: None,
            metrics: None,
        }
    }
}

impl Config {
    /// The defaults listed on [`Config`].
    pub fn new() -> Self {
        Self::default()
    }

    /// Address to listen on (default `127.0.0.1:3000`). Port 0 picks a free
    /// port; read it back with [`Server::local_addr`](crate::Server::local_addr).
    pub fn addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }

    /// Keeps the IP address and sets the port.
    pub fn port(mut self, port: u16) -> Self {
        self.addr.set_port(port);
        self
    }

    /// Keeps the port and sets the IP address (e.g. `0.0.0.0` for every interface).
    pub fn ip(mut self, ip: IpAddr) -> Self {
        self.addr.set_ip(ip);
        self
    }

    /// Number of worker threads, each with its own poll and connections
    /// (default: the number of cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n;
        self
    }

    /// Number of threads accepting connections (at most one per worker),
    /// which hand them to the workers round-robin; `0`: none, each worker
    /// accepts on a listener of its own (`SO_REUSEPORT`), and the kernel
    /// spreads new connections over them.
    ///
    /// Default: 0 on Linux, 1 elsewhere. Own listeners save a hand-off to
    /// another thread (a queue and a wake-up) per connection, and with
    /// many cores no single thread takes every connection; on Linux the
    /// kernel balances a port's listeners, where BSD and macOS give every
    /// connection to one of them. Either way a worker with no room passes a
    /// connection on to one with room. Starting on a port in use still
    /// fails (a plain bind is tried first) unless
    /// [`reuse_port`](Config::reuse_port) asks to share it; but with own
    /// listeners, a process of the same user that sets `SO_REUSEPORT`
    /// itself can later join the port and take a share of its
    /// connections, as with `reuse_port`. Use an accept thread where that
    /// matters.
    pub fn accept_threads(mut self, n: usize) -> Self {
        self.accept_threads = n;
        self
    }

    /// Pin worker `i` to core `i % cores` (default off).
    pub fn pin_workers(mut self, pin: bool) -> Self {
        self.pin_workers = pin;
        self
    }

    /// Set `SO_REUSEPORT` so several processes can share the port (default off).
    pub fn reuse_port(mut self, on: bool) -> Self {
        self.reuse_port = on;
        self
    }

    /// Listen backlog passed to `listen(2)` (default 1024; the kernel caps it
    /// at `net.core.somaxconn`).
    pub fn backlog(mut self, n: u32) -> Self {
        self.backlog = n;
        self
    }

    /// Take a connection only once its client has sent something (default
    /// on; Linux's `TCP_DEFER_ACCEPT`, as nginx's `listen … deferred` and
    /// h2o by default). A new connection then costs one wake-up instead of
    /// two (its request is there when it is accepted), and a client that
    /// connects and stays silent is held by the kernel, not by a worker,
    /// until it sends or about a second has passed (then it is accepted,
    /// and, as any connection between requests, closed after
    /// [`keep_alive_timeout`](Config::keep_alive_timeout) of silence).
    ///
    /// Turn it off for clients that connect and wait to be spoken to, or
    /// for a silent connection to count against
    /// [`max_connections`](Config::max_connections) at once. A connection
    /// the kernel still holds is not the server's yet: a drain does not
    /// linger for it, and closing the listener resets it (unless another
    /// process shares the listening socket). Elsewhere than Linux it does
    /// nothing.
    pub fn defer_accept(mut self, on: bool) -> Self {
        self.defer_accept = on;
        self
    }

    /// Open connections the server holds at most (default 10 000), split
    /// evenly between workers, at most 1,048,576 (2^20) each. A worker that
    /// is full answers a new connection `503 Service Unavailable` and
    /// closes it.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.max_connections = n;
        self
    }

    /// Size of each connection's read buffer (default 8 KiB, at least 1 KiB).
    /// A request head (request line and headers) larger than this is
    /// answered `431`.
    pub fn read_buffer_size(mut self, bytes: usize) -> Self {
        self.read_buffer_size = bytes;
        self
    }

    /// Size of each connection's write buffer (default 16 KiB, at least
    /// 1 KiB). Response heads and copied bodies are serialised into it;
    /// a copied body that does not fit is moved to a heap buffer of its own.
    pub fn write_buffer_size(mut self, bytes: usize) -> Self {
        self.write_buffer_size = bytes;
        self
    }

    /// Most headers a request may carry (default 64, at most
    /// [`MAX_HEADERS_LIMIT`]); more is answered `431`.
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }

    /// Whether a lone LF ends a line of a request head (default off).
    ///
    /// RFC 9112 §2.2 lets a server accept it, but off, a head with a bare
    /// LF is answered `400` and the connection closed: behind a front
    /// proxy that reads `X: a\nTransfer-Encoding: chunked` as one field,
    /// the two would disagree on where a request ends (request smuggling).
    /// Turn it on only for clients that need it, with no such proxy in
    /// front. Chunked framing always requires CRLF.
    pub fn bare_lf(mut self, accept: bool) -> Self {
        self.bare_lf = accept;
        self
    }

    /// Largest request body accepted (default 1 MiB), Content-Length or
    /// chunked. A larger declared length is answered `413` before any of
    /// the body is read; a chunked body that grows past it gets `413` too.
    /// The handler always sees the body as one slice.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.max_body_size = bytes;
        self
    }

    /// How long an idle keep-alive connection is kept open (default 15 s).
    pub fn keep_alive_timeout(mut self, t: Duration) -> Self {
        self.keep_alive_timeout = t;
        self
    }

    /// How long a client has to send a complete request head once it has
    /// started one, and the longest silence allowed while a body arrives
    /// (default 10 s); slower clients are answered `408` and closed.
    pub fn request_timeout(mut self, t: Duration) -> Self {
        self.request_timeout = t;
        self
    }

    /// How long a response may wait for a client that does not read it
    /// (default 30 s, measured from the last progress); then the connection
    /// is closed.
    pub fn write_timeout(mut self, t: Duration) -> Self {
        self.write_timeout = t;
        self
    }

    /// How long a deferred response may take (default 60 s, as nginx
    /// waits for an upstream): a
    /// [`Responder`](crate::Responder) not completed by then is cancelled,
    /// and the client gets `503 Service Unavailable` and a closed
    /// connection. Counted from when the handler deferred, while nothing
    /// else is being sent on the connection; a streamed body, once its head
    /// is out, is not limited by it.
    pub fn response_timeout(mut self, t: Duration) -> Self {
        self.response_timeout = t;
        self
    }

    /// Bytes a streamed body queues before its writers wait (default
    /// 64 KiB; 1 KiB to 1 GiB): the memory a slow reader of a
    /// [`Stream`](crate::Stream) holds, besides its write buffer and at
    /// most one write.
    pub fn stream_buffer_size(mut self, bytes: usize) -> Self {
        self.stream_buffer_size = bytes;
        self
    }

    /// How long a stream of server-sent events may stay quiet before the
    /// worker sends a comment line to keep it alive (default 15 s).
    pub fn event_stream_keep_alive(mut self, t: Duration) -> Self {
        self.event_stream_keep_alive = t;
        self
    }

    /// How long a closing connection waits for its client (default 2 s):
    /// an HTTP connection closed after an error drains what the client
    /// still sends for this long, and longer while it keeps sending (the
    /// wait starts again at most once per half of it, and lasts 15 times
    /// this long at most), so the client reads the error rather than a
    /// reset; a WebSocket waits this long for the client's answer to a
    /// close frame.
    pub fn linger_timeout(mut self, t: Duration) -> Self {
        self.linger_timeout = t;
        self
    }

    /// WebSocket threads (default 1), started only if the handler sets
    /// [`Handler::WEBSOCKETS`](crate::Handler::WEBSOCKETS). Upgraded
    /// connections are spread over them; each holds at most
    /// `max_connections / websocket_threads` connections.
    pub fn websocket_threads(mut self, n: usize) -> Self {
        self.websocket_threads = n;
        self
    }

    /// The largest WebSocket message accepted, after reassembly (default
    /// 1 MiB); a larger one closes the connection with `1009`.
    pub fn max_message_size(mut self, bytes: usize) -> Self {
        self.max_message_size = bytes;
        self
    }

    /// How long graceful shutdown waits for in-flight requests before
    /// closing what is left (default 10 s).
    pub fn shutdown_grace(mut self, t: Duration) -> Self {
        self.shutdown_grace = t;
        self
    }

    /// Whether the server installs SIGINT/SIGTERM handlers (default on),
    /// from [`Server::bind`](crate::Server::bind) on, so that a signal
    /// that comes once it listens shuts it down gracefully, even before
    /// [`run`](crate::Server::run) (which then drains at once); dropping an
    /// unrun server uninstalls them. The first signal starts a graceful
    /// shutdown, a second one exits the process at once with status 1.
    /// Other signals keep their default action (SIGHUP, SIGQUIT and
    /// SIGUSR1 end the process at once). `bind` starts the thread that
    /// waits for them, so do not fork between `bind` and `run` with it
    /// on. Turn it off
    /// when the program handles signals itself and calls
    /// [`ShutdownHandle::shutdown`](crate::ShutdownHandle::shutdown).
    pub fn handle_signals(mut self, on: bool) -> Self {
        self.handle_signals = on;
        self
    }

    /// The configured listen address.
    pub fn listen_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The configured number of workers.
    pub fn worker_count(&self) -> usize {
        self.workers
    }

    /// Connections one worker holds at most.
    pub(crate) fn connections_per_worker(&self) -> usize {
        self.max_connections.div_ceil(self.workers)
    }

    /// Writes an access log line per response (default: none); see
    /// [`AccessLog`]. Off, it costs one branch per response.
    pub fn access_log(mut self, log: AccessLog) -> Self {
        self.access_log = Some(log);
        self
    }

    /// Counts into `metrics`, a handle made before the server so a handler
    /// can hold it (default: the server makes its own, which
    /// [`Server::metrics`](crate::Server::metrics) returns). A handle
    /// serves one server: building a second with it is an error.
    pub fn metrics(mut self, metrics: &Metrics) -> Self {
        self.metrics = Some(metrics.clone());
        self
    }

    /// Checks every value and says which one is wrong.
    pub(crate) fn validate(&self) -> Result<(), Error> {
        let bad = |what: String| Err(Error::Config(what));
        if self.workers == 0 {
            return bad("workers must be at least 1".into());
        }
        if self.max_connections < self.workers {
            return bad(format!(
                "max_connections ({}) must be at least the number of workers ({})",
                self.max_connections, self.workers
            ));
        }
        if self.max_body_size > 1 << 40 {
            return bad(format!("max_body_size ({}) must be at most 1 TiB", self.max_body_size));
        }
        // Each worker sets its connections' room aside at start-up; more
        // than a process may have descriptors (fs.nr_open, 2^20 unless
        // raised) is no use, and far more would fail as memory, not as an
        // error.
        if self.connections_per_worker() > MAX_CONNECTIONS_PER_WORKER {
            return bad(format!(
                "max_connections ({}) over {} worker(s) is more than {MAX_CONNECTIONS_PER_WORKER} per worker",
                self.max_connections, self.workers
            ));
        }
        if self.accept_threads > self.workers {
            return bad(format!(
                "accept_threads ({}) must be at most the number of workers ({})",
                self.accept_threads, self.workers
            ));
        }
        for (name, size) in [
            ("read_buffer_size", self.read_buffer_size),
            ("write_buffer_size", self.write_buffer_size),
            ("stream_buffer_size", self.stream_buffer_size),
        ] {
            if !(1024..=1 << 30).contains(&size) {
                return bad(format!("{name} ({size}) must be between 1 KiB and 1 GiB"));
            }
        }
        if self.websocket_threads == 0 || self.websocket_threads > self.max_connections {
            return bad(format!(
                "websocket_threads ({}) must be between 1 and max_connections ({})",
                self.websocket_threads, self.max_connections
            ));
        }
        if !(1..=1 << 40).contains(&self.max_message_size) {
            return bad(format!(
                "max_message_size ({}) must be between 1 byte and 1 TiB",
                self.max_message_size
            ));
        }
        if !(1..=MAX_HEADERS_LIMIT).contains(&self.max_headers) {
            return bad(format!(
                "max_headers ({}) must be between 1 and {MAX_HEADERS_LIMIT}",
                self.max_headers
            ));
        }
        // Deadlines are instants: one past the clock's range would not be.
        for (name, t, may_be_zero) in [
            ("keep_alive_timeout", self.keep_alive_timeout, false),
            ("request_timeout", self.request_timeout, false),
            ("write_timeout", self.write_timeout, false),
            ("linger_timeout", self.linger_timeout, false),
            ("response_timeout", self.response_timeout, false),
            ("event_stream_keep_alive", self.event_stream_keep_alive, false),
            ("shutdown_grace", self.shutdown_grace, true),
        ] {
            if t.is_zero() && !may_be_zero {
                return bad(format!("{name} must be longer than zero"));
            }
            if t > LONGEST_WAIT {
                return bad(format!("{name} ({t:?}) must be at most a year"));
            }
        }
        Ok(())
    }
}

/// Connections one worker may be configured to hold.
const MAX_CONNECTIONS_PER_WORKER: usize = 1 << 20;

/// The longest timeout or grace period taken: a year.
const LONGEST_WAIT: Duration = Duration::from_secs(365 * 24 * 3600);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn bad_values_name_the_setting() {
        let cases = [
            (Config::new().workers(0), "workers"),
            (Config::new().max_headers(0), "max_headers"),
            (Config::new().keep_alive_timeout(Duration::MAX), "keep_alive_timeout"),
            (Config::new().response_timeout(Duration::MAX), "response_timeout"),
            (Config::new().shutdown_grace(Duration::MAX), "shutdown_grace"),
            (Config::new().max_headers(MAX_HEADERS_LIMIT + 1), "max_headers"),
            (Config::new().read_buffer_size(10), "read_buffer_size"),
            (Config::new().write_buffer_size(10), "write_buffer_size"),
            (Config::new().workers(4).max_connections(2), "max_connections"),
            (Config::new().workers(1).max_connections(100_000_000), "max_connections"),
            (Config::new().workers(2).max_connections(usize::MAX), "max_connections"),
            (Config::new().workers(2).accept_threads(usize::MAX), "accept_threads"),
            (Config::new().workers(2).accept_threads(3), "accept_threads"),
            (Config::new().request_timeout(Duration::ZERO), "request_timeout"),
            (Config::new().websocket_threads(0), "websocket_threads"),
            (Config::new().max_message_size(0), "max_message_size"),
        ];
        for (config, name) in cases {
            let err = config.validate().unwrap_err().to_string();
            assert!(err.contains(name), "{err:?} should name {name}");
        }
    }
}
