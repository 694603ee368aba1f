//! An access log: a line per response in the Common or Combined Log Format
//! (as Apache's and nginx's), followed by the time taken in microseconds.
//! Off unless [`Config::access_log`] sets one.
//!
//! A line is written when the response is answered, not when its last
//! byte leaves: the size is the body's length as answered (an aborted
//! download shows in full, where nginx's `$body_bytes_sent` counts what
//! was sent), and the time is the handler's, from its call (the request
//! read, or its head, for a body it reads as it comes) to its answer
//! (Apache's `%D` and nginx's `$request_time` also count reading and
//! sending).
//!
//! Each worker writes its lines into a buffer of its own, without
//! allocating, and hands the buffer on in batches: once 32 KiB are
//! waiting, or 100 ms after the oldest line waiting was written, whichever
//! comes first (the worker wakes for it when idle), and when it stops. A
//! writer given with [`AccessLog::to_writer`] has a thread of its own,
//! which the workers hand their batches to without waiting: a writer that
//! blocks (a pipe nobody reads, a stalled disk) holds up that thread only.
//! Once [`QUEUED_BATCHES`] batches wait for it, the workers drop further
//! batches, with a warning, instead of waiting; the server serves on, and
//! its shutdown waits at most [`SYNC_WAIT`] for the lines still queued.
//! (nginx, writing its log itself, stops serving while the log is stuck.)
//! [`AccessLog::to_log`] sends each line through the `log` facade
//! (target `peregrine::access`, level `info`).
//!
//! ```
//! use peregrine::{AccessLog, Config, LogFormat};
//!
//! let file = std::fs::File::create(std::env::temp_dir().join("access.log"))?;
//! let config = Config::new().access_log(AccessLog::to_writer(LogFormat::Combined, file));
//! # let _ = config;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A line, Combined:
//!
//! ```text
//! 127.0.0.1 - - [02/Dec/2026:07:35:15 +0000] "GET /index.html HTTP/1.1" 200 366 "-" "curl/8.5.0" 41
//! ```
//!
//! `"`, `\` and bytes outside printable ASCII in the request line and
//! headers are written `\xNN`, so a client cannot forge a line; a field
//! longer than 2 KiB is cut, ending `...`. A response answered later (a
//! [`Responder`](crate::Responder) or a stream) is logged when the handler
//! hands it on, with the status it had then and `-` for its size. A
//! request the server refused before it was whole (`400`, `408`, `413`,
//! `431`, …) has `"-"` for its request line.
//!
//! [`Config::access_log`]: crate::Config::access_log

use std::fmt;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

/// Batches (of up to about 64 KiB each) that may wait for a writer's
/// thread; more are dropped rather than make a worker wait. Room for a
/// batch from each of 128 workers handed on at once, as when they stop.
pub const QUEUED_BATCHES: usize = 128;

/// How long a server that stops waits for its lines still queued to be
/// written.
pub const SYNC_WAIT: Duration = Duration::from_secs(1);

/// Which fields a line has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// `host ident user [time] "request" status bytes`, then the time taken.
    Common,
    /// Common, then `"referer" "user-agent"`, then the time taken.
    Combined,
}

/// Where the access log goes, and in which format; see the
/// [module docs](self).
#[derive(Clone)]
pub struct AccessLog {
    format: LogFormat,
    sink: Sink,
}

#[derive(Clone)]
enum Sink {
    #[cfg(feature = "log")]
    Facade,
    Writer(Arc<Writer>),
}

/// The workers' side of a writer's thread.
struct Writer {
    queue: SyncSender<Vec<u8>>,
    /// Batches queued so far.
    queued: AtomicU64,
    /// Batches are being dropped: the queue was full at the last try.
    dropping: AtomicBool,
    shared: Arc<Shared>,
}

/// What the thread and the workers share.
#[derive(Default)]
struct Shared {
    /// Batch buffers the thread has emptied, for the workers to fill
    /// again, so steady logging allocates nothing.
    spare: Mutex<Vec<Vec<u8>>>,
    /// Batches written (or lost to a write error) so far, and whether
    /// the thread has ended.
    written: Mutex<Progress>,
    wake: Condvar,
}

#[derive(Default)]
struct Progress {
    batches: u64,
    /// The thread is gone (its writer panicked): nothing more is written.
    ended: bool,
}

/// Tells waiting syncs the thread is gone, however it ends: a writer
/// that panics unwinds through this.
struct EndGuard(Arc<Shared>);

impl Drop for EndGuard {
    fn drop(&mut self) {
        lock(&self.0.written).ended = true;
        self.0.wake.notify_all();
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A push or pop of a buffer cannot be left half-done by a panic.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The writer's thread: writes each batch whole, and ends when every
/// [`AccessLog`] of this writer is gone, after what was queued.
fn write_batches(mut writer: impl Write, batches: Receiver<Vec<u8>>, shared: Arc<Shared>) {
    let _ended = EndGuard(Arc::clone(&shared));
    for mut batch in batches {
        if let Err(e) = writer.write_all(&batch).and_then(|()| writer.flush()) {
            crate::logging::log_warn!("access log: a batch of lines was lost: {e}");
        }
        batch.clear();
        lock(&shared.spare).push(batch);
        lock(&shared.written).batches += 1;
        shared.wake.notify_all();
    }
}

impl AccessLog {
    /// Lines through the `log` facade (target `peregrine::access`, level
    /// `info`), one record each.
    #[cfg(feature = "log")]
    pub fn to_log(format: LogFormat) -> Self {
        AccessLog { format, sink: Sink::Facade }
    }

    /// Lines written to `writer` (a file, a pipe, standard output, …) in
    /// batches, each batch whole: lines of different workers never mix.
    /// The writes are made by a thread of the log's own (named
    /// `peregrine-access-log`, ending when the last copy of this
    /// `AccessLog` is dropped), so a writer that blocks never holds a
    /// worker; see the [module docs](self). A write error is reported
    /// through the `log` facade once per batch, and the batch dropped.
    ///
    /// # Panics
    ///
    /// If the thread cannot be started.
    pub fn to_writer(format: LogFormat, writer: impl Write + Send + 'static) -> Self {
        let (queue, batches) = mpsc::sync_channel(QUEUED_BATCHES);
        let shared = Arc::new(Shared::default());
        let thread_shared = Arc::clone(&shared);
        thread::Builder::new()
            .name("peregrine-access-log".into())
            .spawn(move || write_batches(writer, batches, thread_shared))
            .expect("a thread for the access log");
        let writer = Writer { queue, queued: AtomicU64::new(0), dropping: AtomicBool::new(false), shared };
        AccessLog { format, sink: Sink::Writer(Arc::new(writer)) }
    }
}

impl AccessLog {
    /// Which fields a line has.
    pub(crate) fn format(&self) -> LogFormat {
        self.format
    }

    /// Hands the batch of whole lines in `batch` on, leaving `batch`
    /// empty (another buffer, or the same one if the batch was dropped).
    pub(crate) fn hand_on(&self, batch: &mut Vec<u8>) {
        match &self.sink {
            #[cfg(feature = "log")]
            Sink::Facade => {
                for line in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    // Escaped to ASCII when written.
                    let line = std::str::from_utf8(line).unwrap_or("-");
                    log::info!(target: "peregrine::access", "{line}");
                }
                batch.clear();
            }
            Sink::Writer(w) => w.hand_on(batch),
        }
    }

    /// Waits, at most `wait`, until the batches handed on so far are
    /// written; whether they were.
    pub(crate) fn sync(&self, wait: Duration) -> bool {
        match &self.sink {
            #[cfg(feature = "log")]
            Sink::Facade => true,
            Sink::Writer(w) => w.sync(wait),
        }
    }
}

impl Writer {
    fn hand_on(&self, batch: &mut Vec<u8>) {
        let empty = lock(&self.shared.spare).pop().unwrap_or_else(|| Vec::with_capacity(batch.capacity()));
        let full = std::mem::replace(batch, empty);
        match self.queue.try_send(full) {
            Ok(()) => {
                self.queued.fetch_add(1, Ordering::Release);
                if self.dropping.swap(false, Ordering::Relaxed) {
                    crate::logging::log_warn!("access log: the writer keeps up again");
                }
            }
            Err(error) => {
                if !self.dropping.swap(true, Ordering::Relaxed) {
                    match error {
                        TrySendError::Full(_) => crate::logging::log_warn!(
                            "access log: the writer does not keep up; batches of lines are dropped until it does"
                        ),
                        TrySendError::Disconnected(_) => crate::logging::log_error!(
                            "access log: the writer's thread has ended (its writer panicked); lines are dropped"
                        ),
                    }
                }
                let (TrySendError::Full(mut dropped) | TrySendError::Disconnected(mut dropped)) = error;
                // The dropped batch's buffer is kept; the other goes back.
                dropped.clear();
                lock(&self.shared.spare).push(std::mem::replace(batch, dropped));
            }
        }
    }

    fn sync(&self, wait: Duration) -> bool {
        let queued = self.queued.load(Ordering::Acquire);
        let written = lock(&self.shared.written);
        let waited = self.shared.wake.wait_timeout_while(written, wait, |p| p.batches < queued && !p.ended);
        let progress = waited.unwrap_or_else(|e| e.into_inner()).0;
        progress.batches >= queued
    }
}

impl fmt::Debug for AccessLog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = match self.sink {
            #[cfg(feature = "log")]
            Sink::Facade => "log facade",
            Sink::Writer(_) => "writer",
        };
        f.debug_struct("AccessLog").field("format", &self.format).field("sink", &sink).finish()
    }
}
