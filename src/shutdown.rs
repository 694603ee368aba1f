//! Graceful shutdown: the shared flag, the wake-ups that spread it, the
//! handle users hold, and SIGINT/SIGTERM.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use mio::Waker;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::{Handle, Signals};

use crate::error::Error;

/// Shared by every thread of one server.
#[derive(Default)]
pub struct ShutdownState {
    requested: AtomicBool,
    /// When it was first requested: the grace period runs from then, not
    /// from when a thread busy in a handler got round to seeing it.
    requested_at: OnceLock<Instant>,
    wakers: Mutex<Vec<Arc<Waker>>>,
    /// Lets `run` sleep until shutdown is requested.
    signalled: (Mutex<bool>, Condvar),
}

impl ShutdownState {
    /// Registers a poll to wake when shutdown is requested.
    pub fn add_waker(&self, waker: Arc<Waker>) {
        self.wakers.lock().unwrap_or_else(|e| e.into_inner()).push(waker);
    }

    /// When shutdown was requested, if it was.
    pub fn requested_at(&self) -> Option<Instant> {
        self.requested_at.get().copied()
    }

    /// Whether shutdown was requested.
    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Requests shutdown and wakes every thread (idempotent).
    pub fn request(&self) {
        // Set before the flag, so whoever sees the flag finds the time.
        let _ = self.requested_at.set(Instant::now());
        if self.requested.swap(true, Ordering::AcqRel) {
            return;
        }
        for waker in self.wakers.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if let Err(e) = waker.wake() {
                crate::logging::log_error!("cannot wake a server thread for shutdown: {e}");
            }
        }
        let (flag, cv) = &self.signalled;
        *flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }

    /// Blocks until shutdown is requested.
    pub fn wait(&self) {
        let (flag, cv) = &self.signalled;
        let mut done = flag.lock().unwrap_or_else(|e| e.into_inner());
        while !*done {
            done = cv.wait(done).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Asks a running server to shut down gracefully; cheap to clone and
/// usable from any thread.
///
/// ```no_run
/// # use peregrine::{Config, Request, Response, Server};
/// let server = Server::bind(Config::new().port(0), |_: &Request<'_>, _: &mut Response<'_>| {})?;
/// let handle = server.shutdown_handle();
/// std::thread::spawn(move || {
///     std::thread::sleep(std::time::Duration::from_secs(60));
///     handle.shutdown();
/// });
/// server.run()?; // returns once in-flight requests are answered
/// # Ok::<(), peregrine::Error>(())
/// ```
#[derive(Clone)]
pub struct ShutdownHandle {
    pub(crate) state: Arc<ShutdownState>,
}

impl ShutdownHandle {
    /// Stops accepting, lets in-flight requests finish (up to
    /// [`Config::shutdown_grace`](crate::Config::shutdown_grace)), closes
    /// idle connections; [`Server::run`](crate::Server::run) then returns.
    pub fn shutdown(&self) {
        self.state.request();
    }

    /// Whether shutdown was requested.
    pub fn is_shutting_down(&self) -> bool {
        self.state.is_requested()
    }
}

impl std::fmt::Debug for ShutdownHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShutdownHandle").field("requested", &self.is_shutting_down()).finish()
    }
}

/// SIGINT/SIGTERM handling for one `run`: the first signal shuts down
/// gracefully, a second exits the process at once.
pub struct SignalWatch {
    handle: Handle,
    thread: Option<JoinHandle<()>>,
}

impl SignalWatch {
    /// Installs the handlers and starts the thread that reacts to them.
    pub fn start(state: Arc<ShutdownState>) -> Result<Self, Error> {
        let setup = |source| Error::Setup { what: "install SIGINT/SIGTERM handlers", source };
        watched(true).map_err(setup)?;
        let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| {
            let _ = watched(false);
            setup(e)
        })?;
        // Made before its thread, so that a failure to spawn it undoes the
        // rest as dropping it does.
        let mut watch = SignalWatch { handle: signals.handle(), thread: None };
        let thread = thread::Builder::new()
            .name("peregrine-signals".into())
            .spawn(move || {
                for (n, signal) in signals.forever().enumerate() {
                    if n == 0 {
                        crate::logging::log_info!(
                            "signal {signal}: shutting down gracefully (send again to exit now)"
                        );
                        state.request();
                    } else {
                        crate::logging::log_warn!("second signal {signal}: exiting without waiting");
                        std::process::exit(1);
                    }
                }
            })
            .map_err(|source| Error::Setup { what: "spawn the signal thread", source })?;
        watch.thread = Some(thread);
        Ok(watch)
    }
}

impl Drop for SignalWatch {
    /// Uninstalls the handlers and ends the thread (also for a server
    /// bound and never run, so that a signal then does what it would
    /// without it).
    fn drop(&mut self) {
        self.handle.close();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = watched(false);
    }
}

/// Counts a watch starting (`true`) or ending. signal-hook cannot
/// uninstall its handler, which would then swallow SIGINT/SIGTERM: once no
/// watch is left, a conditional action registered with the first runs
/// the signal's default action (the process ends), as without a server.
fn watched(starts: bool) -> std::io::Result<()> {
    static UNWATCHED: OnceLock<Arc<AtomicBool>> = OnceLock::new();
    static LIVE: Mutex<usize> = Mutex::new(0);
    let mut live = LIVE.lock().unwrap_or_else(|e| e.into_inner());
    let unwatched = match UNWATCHED.get() {
        Some(flag) => flag,
        None => {
            let flag = Arc::new(AtomicBool::new(false));
            for signal in [SIGINT, SIGTERM] {
                signal_hook::flag::register_conditional_default(signal, Arc::clone(&flag))?;
            }
            UNWATCHED.get_or_init(|| flag)
        }
    };
    *live = if starts { *live + 1 } else { live.saturating_sub(1) };
    unwatched.store(*live == 0, Ordering::SeqCst);
    Ok(())
}
