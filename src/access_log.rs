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
//! writer given with [`AccessLog::to_writer`] is shared by the
//! workers behind a lock taken once per batch; [`AccessLog::to_log`] sends
//! each line through the `log` facade (target `peregrine::access`, level
//! `info`).
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
use std::sync::{Arc, Mutex};

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
    Writer(Arc<Mutex<dyn Write + Send>>),
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
    /// A write error is reported through the `log` facade once per batch,
    /// and the batch dropped.
    pub fn to_writer(format: LogFormat, writer: impl Write + Send + 'static) -> Self {
        AccessLog { format, sink: Sink::Writer(Arc::new(Mutex::new(writer))) }
    }
}

impl AccessLog {
    /// Which fields a line has.
    pub(crate) fn format(&self) -> LogFormat {
        self.format
    }

    /// Hands a batch of whole lines on.
    pub(crate) fn write(&self, batch: &[u8]) {
        match &self.sink {
            #[cfg(feature = "log")]
            Sink::Facade => {
                for line in batch.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
                    // Escaped to ASCII when written.
                    let line = std::str::from_utf8(line).unwrap_or("-");
                    log::info!(target: "peregrine::access", "{line}");
                }
            }
            Sink::Writer(writer) => {
                let mut w = writer.lock().unwrap_or_else(|e| e.into_inner());
                if let Err(e) = w.write_all(batch).and_then(|()| w.flush()) {
                    crate::logging::log_warn!("access log: a batch of lines was lost: {e}");
                }
            }
        }
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
