//! `Server<H>`: binds, builds the threads, runs them until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::{self, JoinHandle};

use crate::config::Config;
use crate::error::Error;
use crate::handler::Handler;
use crate::metrics::Metrics;
use crate::net::{accept::Acceptor, listener};
use crate::shutdown::{ShutdownHandle, ShutdownState, SignalWatch};
use crate::worker::Worker;
use crate::ws_thread::{self as ws_thread, WsThread};

/// An HTTP/1.1 server, bound and ready to [`run`](Server::run).
///
/// ```no_run
/// use peregrine::{Config, Request, Response, Server};
///
/// fn main() -> Result<(), peregrine::Error> {
///     let hello = |_: &Request<'_>, res: &mut Response<'_>| {
///         res.header("Content-Type", "text/plain").body_static(b"Hello, World!");
///     };
///     let server = Server::bind(Config::new().port(8080), hello)?;
///     println!("listening on http://{}", server.local_addr());
///     server.run() // until SIGINT/SIGTERM
/// }
/// ```
pub struct Server<H: Handler> {
    config: Config,
    local_addr: SocketAddr,
    workers: Vec<Worker<H>>,
    acceptors: Vec<Acceptor>,
    ws_threads: Vec<WsThread<H>>,
    shutdown: Arc<ShutdownState>,
    metrics: Metrics,
    /// SIGINT/SIGTERM handlers, installed when the server is bound: once
    /// it says it listens, a signal shuts it down gracefully.
    signals: Option<SignalWatch>,
}

impl<H: Handler> Server<H> {
    /// Validates `config`, binds its address and prepares every thread's
    /// poll, so that anything that can fail at start-up fails here, with
    /// an [`Error`] naming the address or setting and the cause.
    pub fn bind(config: Config, handler: H) -> Result<Self, Error> {
        config.validate()?;
        // Without accept threads, every worker listens for itself.
        let listeners = if config.accept_threads == 0 {
            listener::bind_per_worker(&config, config.workers)?
        } else {
            vec![listener::bind(&config)?]
        };
        Self::build(config, listeners, handler)
    }

    /// As [`bind`](Server::bind), on a socket already bound and listening:
    /// one the program made itself, or one a service manager passed (see
    /// [`activation`](crate::activation)), so that a restart or an upgrade
    /// never closes the port. The config's address, backlog, `reuse_port`
    /// and `defer_accept` do not apply: the socket's options are its
    /// creator's. One worker accepts on it itself; several get it from an
    /// accept thread even when [`accept_threads`](Config::accept_threads)
    /// is 0, as workers sharing one socket would all wake for every
    /// connection.
    ///
    /// # Errors
    ///
    /// [`Error::Listener`] if `listener` is not a listening TCP socket;
    /// else as [`bind`](Server::bind).
    pub fn with_listener(config: Config, listener: std::net::TcpListener, handler: H) -> Result<Self, Error> {
        config.validate()?;
        listener::check_given(&listener)?;
        let config = match config.accept_threads {
            0 if config.workers > 1 => config.accept_threads(1),
            _ => config,
        };
        Self::build(config, vec![listener], handler)
    }

    /// Prepares every thread around `own_listeners`: one per worker without
    /// accept threads, else the one the accept threads share.
    fn build(
        config: Config,
        mut own_listeners: Vec<std::net::TcpListener>,
        handler: H,
    ) -> Result<Self, Error> {
        let local_addr = listener::local_addr(&own_listeners[0], config.addr)?;
        let shutdown = Arc::new(ShutdownState::default());
        let handler = Arc::new(handler);
        let metrics = config.metrics.clone().unwrap_or_default();
        let ws_count = if H::WEBSOCKETS { config.websocket_threads } else { 0 };
        let in_use = || Error::Config(crate::metrics::HANDLE_IN_USE.into());
        let (worker_tallies, ws_tallies, attachment) =
            metrics.prepare(config.workers, ws_count).ok_or_else(in_use)?;
        let setup = |what| move |source| Error::Setup { what, source };
        let (ws_threads, ws_route) = if H::WEBSOCKETS {
            let (threads, route) =
                ws_thread::build(&config, config.websocket_threads, &handler, &shutdown, ws_tallies)
                    .map_err(setup("create a WebSocket thread's poll"))?;
            (threads, Some(Arc::new(route)))
        } else {
            (Vec::new(), None)
        };
        let shared_listener = if config.accept_threads > 0 { own_listeners.pop() } else { None };
        let mut own_listeners = own_listeners.into_iter();
        let mut workers = worker_tallies
            .into_iter()
            .map(|tally| {
                let listener = own_listeners.next();
                Worker::new(
                    &config,
                    Arc::clone(&handler),
                    Arc::clone(&shutdown),
                    ws_route.clone(),
                    listener,
                    tally,
                )
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(setup("create a worker's poll"))?;
        let inboxes: Vec<_> = workers.iter().map(Worker::inbox).collect();
        if config.accept_threads == 0 {
            for worker in &mut workers {
                worker.set_peers(inboxes.clone());
            }
        }
        let mut acceptors = Vec::with_capacity(config.accept_threads);
        for (i, listener) in shared_listener.iter().cycle().take(config.accept_threads).enumerate() {
            let listener = listener.try_clone().map_err(setup("duplicate the listening socket"))?;
            let first = i * config.workers / config.accept_threads;
            let acceptor =
                Acceptor::new(listener, inboxes.clone(), first, Arc::clone(&shutdown), metrics.clone())
                    .map_err(setup("create an accept thread's poll"))?;
            acceptors.push(acceptor);
        }
        let signals =
            if config.handle_signals { Some(SignalWatch::start(Arc::clone(&shutdown))?) } else { None };
        if !metrics.attach(attachment) {
            return Err(in_use());
        }
        // `shared_listener` drops here: the acceptors (or workers) hold the
        // only descriptors, so the port closes as soon as they stop.
        Ok(Server { config, local_addr, workers, acceptors, ws_threads, shutdown, metrics, signals })
    }

    /// The address the server listens on (with the actual port when the
    /// config asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle on the server's counters, for any thread: the one given
    /// to [`Config::metrics`](crate::Config::metrics), or the server's own.
    pub fn metrics(&self) -> Metrics {
        self.metrics.clone()
    }

    /// A handle that can stop this server from any thread.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        ShutdownHandle { state: Arc::clone(&self.shutdown) }
    }

    /// Serves until shutdown (SIGINT/SIGTERM, if
    /// [`Config::handle_signals`] is on, or a [`ShutdownHandle`]), then
    /// drains: stops accepting, answers in-flight requests, closes
    /// connections, joins every thread and returns `Ok(())`.
    pub fn run(self) -> Result<(), Error> {
        let Server { config, workers, acceptors, ws_threads, shutdown, signals, .. } = self;
        let cores =
            if config.pin_workers { core_affinity::get_core_ids().unwrap_or_default() } else { Vec::new() };
        type Job = Box<dyn FnOnce() + Send>;
        let worker_jobs = workers.into_iter().enumerate().map(|(i, worker)| {
            let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
            let job: Job = Box::new(move || {
                if let Some(core) = core {
                    if !core_affinity::set_for_current(core) {
                        crate::logging::log_warn!("could not pin worker {i} to core {}", core.id);
                    }
                }
                worker.run()
            });
            (format!("peregrine-worker-{i}"), job)
        });
        let accept_jobs = acceptors.into_iter().enumerate().map(|(i, acceptor)| {
            let job: Job = Box::new(move || acceptor.run());
            (format!("peregrine-accept-{i}"), job)
        });
        let ws_jobs = ws_threads.into_iter().enumerate().map(|(i, thread)| {
            let job: Job = Box::new(move || thread.run());
            (format!("peregrine-ws-{i}"), job)
        });
        // Receivers first, so no socket is handed to a thread not yet running.
        let mut threads: Vec<(String, JoinHandle<()>)> = Vec::new();
        let mut spawn_error = None;
        for (name, job) in ws_jobs.chain(worker_jobs).chain(accept_jobs) {
            let guard = PanicGuard(Arc::clone(&shutdown));
            match spawn(&name, move || {
                let _guard = guard;
                job()
            }) {
                Ok(t) => threads.push((name, t)),
                Err(e) => {
                    spawn_error = Some(e);
                    break;
                }
            }
        }
        if spawn_error.is_some() {
            shutdown.request();
        }
        shutdown.wait();
        let mut result = spawn_error.map_or(Ok(()), Err);
        for (name, thread) in threads {
            if thread.join().is_err() && result.is_ok() {
                result = Err(Error::ThreadPanicked(name));
            }
        }
        // The workers handed their last lines on as they ended.
        if let Some(log) = &config.access_log {
            if !log.sync(crate::access_log::SYNC_WAIT) {
                crate::logging::log_warn!("access log: lines still queued at the end were not written");
            }
        }
        drop(signals);
        result
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    thread::Builder::new()
        .name(name.to_owned())
        .spawn(f)
        .map_err(|source| Error::Setup { what: "spawn a server thread", source })
}

/// Shuts the whole server down if its thread panics: a server missing a
/// worker would silently drop a share of its connections.
struct PanicGuard(Arc<ShutdownState>);

impl Drop for PanicGuard {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.request();
        }
    }
}
