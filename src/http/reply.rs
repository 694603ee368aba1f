//! What a response completed on another thread is made of, shared by the
//! completing side ([`Responder`](crate::Responder),
//! [`Stream`](crate::Stream)) and the worker, through an exchange
//! (`rt::exchange`).

use std::fmt;
use std::fs::File;
use std::sync::Arc;

use super::status::StatusCode;
use crate::rt::exchange::Exchange;

/// An exchange carrying a response.
pub(crate) type Exchanged = Arc<Exchange<Reply>>;

/// A byte range of an open file, sent with `sendfile(2)`.
#[derive(Debug)]
pub struct FileBody {
    /// The open file.
    pub file: File,
    /// Where the range starts.
    pub offset: u64,
    /// How many bytes it spans.
    pub len: u64,
}

/// What a deferred response is made of, filled on the completing thread.
pub(crate) struct Reply {
    pub status: StatusCode,
    /// Extra header lines, checked as they were added.
    pub headers: Vec<u8>,
    pub close: bool,
    /// A header was refused: the response becomes a 500.
    pub invalid: bool,
    pub phase: Phase,
    /// Where a streamed body stands.
    pub end: StreamEnd,
}

/// How far the completing side has got.
pub(crate) enum Phase {
    /// Nothing sent yet.
    Building,
    /// The whole response, with this body.
    Done(Body),
    /// A streamed body: the head is ready, the bytes come through the
    /// exchange's pipe.
    Streaming(StreamKind),
    /// The worker took the response (or the head of the stream).
    Taken,
}

/// Whether a stream's writer has ended it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamEnd {
    /// More may come.
    Open,
    /// `finish` was called: the body ends properly after what is queued.
    Finished,
    /// The writer went away without finishing: the connection closes after
    /// what is queued, so the client sees the body cut short.
    Abandoned,
}

/// What a stream carries, for what the worker adds to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StreamKind {
    /// Bytes, as written.
    Plain,
    /// Server-sent events: a comment is sent when nothing else was for
    /// [`Config::event_stream_keep_alive`](crate::Config::event_stream_keep_alive).
    Events,
}

/// The body of a response completed by a [`Responder`](crate::Responder).
///
/// Made with `.into()` from the usual types: `Vec<u8>`, `String`,
/// `&'static [u8]` and `&'static str` (sent without a copy), or `()` for
/// none; a file range with [`Body::file`].
pub enum Body {
    /// No body.
    Empty,
    /// Owned bytes.
    Bytes(Vec<u8>),
    /// Static bytes, sent from where they are.
    Static(&'static [u8]),
    /// A file range, sent with `sendfile(2)`.
    File(FileBody),
}

impl Body {
    /// `len` bytes of `file` from `offset`.
    pub fn file(file: File, offset: u64, len: u64) -> Body {
        Body::File(FileBody { file, offset, len })
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            Body::Static(b) => write!(f, "Static({} bytes)", b.len()),
            Body::File(file) => write!(f, "File({} bytes at {})", file.len, file.offset),
        }
    }
}

impl From<()> for Body {
    fn from((): ()) -> Body {
        Body::Empty
    }
}

impl From<Vec<u8>> for Body {
    fn from(v: Vec<u8>) -> Body {
        Body::Bytes(v)
    }
}

impl From<String> for Body {
    fn from(s: String) -> Body {
        Body::Bytes(s.into_bytes())
    }
}

impl From<&'static [u8]> for Body {
    fn from(s: &'static [u8]) -> Body {
        Body::Static(s)
    }
}

impl<const N: usize> From<&'static [u8; N]> for Body {
    fn from(s: &'static [u8; N]) -> Body {
        Body::Static(s)
    }
}

impl From<&'static str> for Body {
    fn from(s: &'static str) -> Body {
        Body::Static(s.as_bytes())
    }
}
