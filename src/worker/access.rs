//! A worker's access log lines: formatted without allocating into a
//! buffer of its own, handed on in batches (see [`crate::access_log`]).

use std::io::Write;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::access_log::{AccessLog, LogFormat};
use crate::http::date::{self, CLF_LEN};

/// What a line says of one response.
pub struct Entry<'a> {
    pub peer: SocketAddr,
    /// Method, target and version; `None` for a request refused before
    /// its head was whole.
    pub request: Option<(&'a str, &'a str, &'static str)>,
    pub status: u16,
    /// Body bytes; `None` when not known yet (answered later).
    pub bytes: Option<u64>,
    pub referer: Option<&'a [u8]>,
    pub user_agent: Option<&'a [u8]>,
    pub taken: Duration,
    /// The wall clock's second, since the Unix epoch.
    pub secs: u64,
}

/// Lines are handed on once this much is waiting.
const FLUSH_AT: usize = 32 * 1024;

/// Lines wait at most this long to be handed on.
const FLUSH_AFTER: Duration = Duration::from_millis(100);

/// A field longer than this is cut.
const FIELD_MAX: usize = 2048;

/// A worker's lines waiting to be handed on.
pub struct LogBuffer {
    log: AccessLog,
    buf: Vec<u8>,
    /// When the lines waiting must be handed on (set by the oldest).
    due: Option<Instant>,
    /// The time field of the second `secs`, rendered once.
    secs: u64,
    time: [u8; CLF_LEN],
}

impl LogBuffer {
    /// A buffer large enough for a batch and the longest line behind it.
    pub fn new(log: AccessLog) -> Self {
        LogBuffer {
            log,
            buf: Vec::with_capacity(2 * FLUSH_AT),
            due: None,
            secs: 0,
            time: date::render_clf(0),
        }
    }

    /// When the lines waiting are due to be handed on, if any wait.
    pub fn due(&self) -> Option<Instant> {
        self.due
    }

    /// Hands the lines on if they are due by `now`.
    pub fn flush_if_due(&mut self, now: Instant) {
        if self.due.is_some_and(|due| now >= due) {
            self.flush();
        }
    }

    /// Adds the line of `e`, written at `now`.
    pub fn add(&mut self, e: &Entry<'_>, now: Instant) {
        if e.secs != self.secs {
            (self.secs, self.time) = (e.secs, date::render_clf(e.secs));
        }
        self.due.get_or_insert(now + FLUSH_AFTER);
        let buf = &mut self.buf;
        // Writes into a Vec cannot fail.
        let _ = write!(buf, "{} - - [", e.peer.ip());
        buf.extend_from_slice(&self.time);
        buf.extend_from_slice(b"] \"");
        match e.request {
            Some((method, target, version)) => {
                escaped(buf, method.as_bytes());
                buf.push(b' ');
                escaped(buf, target.as_bytes());
                buf.push(b' ');
                buf.extend_from_slice(version.as_bytes());
            }
            None => buf.push(b'-'),
        }
        let _ = write!(buf, "\" {} ", e.status);
        match e.bytes {
            Some(n) if n > 0 => {
                let _ = write!(buf, "{n}");
            }
            _ => buf.push(b'-'),
        }
        if self.log.format() == LogFormat::Combined {
            for field in [e.referer, e.user_agent] {
                buf.extend_from_slice(b" \"");
                match field {
                    Some(v) => escaped(buf, v),
                    None => buf.push(b'-'),
                }
                buf.push(b'"');
            }
        }
        let _ = writeln!(buf, " {}", e.taken.as_micros());
        if buf.len() >= FLUSH_AT {
            self.flush();
        }
    }

    /// Hands the waiting lines on; whether there were any.
    pub fn flush(&mut self) -> bool {
        self.due = None;
        if self.buf.is_empty() {
            return false;
        }
        self.log.hand_on(&mut self.buf);
        true
    }

    /// Waits, at most `wait`, until every line handed on so far is
    /// written; whether it was.
    #[cfg(feature = "testing")]
    pub fn sync(&self, wait: Duration) -> bool {
        self.log.sync(wait)
    }
}

impl Drop for LogBuffer {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// Appends `field`, cut at [`FIELD_MAX`], with `"`, `\` and bytes outside
/// printable ASCII as `\xNN`.
fn escaped(buf: &mut Vec<u8>, field: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let (field, cut) = if field.len() > FIELD_MAX { (&field[..FIELD_MAX], true) } else { (field, false) };
    for &b in field {
        if b == b'"' || b == b'\\' || !(0x20..0x7f).contains(&b) {
            buf.extend_from_slice(&[b'\\', b'x', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        } else {
            buf.push(b);
        }
    }
    if cut {
        buf.extend_from_slice(b"...");
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Shared(Arc<Mutex<Vec<u8>>>);

    impl Write for Shared {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn lines_are_escaped_and_formatted() {
        let out = Shared::default();
        let mut buf = LogBuffer::new(AccessLog::to_writer(LogFormat::Combined, out.clone()));
        let entry = Entry {
            peer: "[::1]:5000".parse().unwrap(),
            request: Some(("GET", "/a?b=\"c\"", "HTTP/1.1")),
            status: 200,
            bytes: Some(13),
            referer: None,
            user_agent: Some(b"evil\"\n1.2.3.4 - - [x] \"GET"),
            taken: Duration::from_micros(41),
            secs: 1_764_660_915,
        };
        let now = Instant::now();
        buf.add(&entry, now);
        assert_eq!(buf.due(), Some(now + FLUSH_AFTER));
        buf.add(&Entry { request: None, status: 400, bytes: Some(0), user_agent: None, ..entry }, now);
        assert!(buf.flush());
        assert!(buf.log.sync(Duration::from_secs(5)), "the writer's thread wrote nothing");
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        let (head, rest) = lines[0].split_once(" [").unwrap();
        assert_eq!(head, "::1 - -");
        assert_eq!(&rest[..CLF_LEN], "02/Dec/2025:07:35:15 +0000");
        assert_eq!(
            &rest[CLF_LEN..],
            "] \"GET /a?b=\\x22c\\x22 HTTP/1.1\" 200 13 \"-\" \"evil\\x22\\x0A1.2.3.4 - - [x] \\x22GET\" 41"
        );
        assert!(lines[1].ends_with("] \"-\" 400 - \"-\" \"-\" 41"), "{}", lines[1]);
        assert_eq!(buf.due(), None, "nothing waits after a flush");
    }

    #[test]
    fn long_fields_are_cut() {
        let mut v = Vec::new();
        escaped(&mut v, &[b'a'; 5000]);
        assert_eq!(v.len(), FIELD_MAX + 3);
        assert!(v.ends_with(b"a..."));
    }
}
