//! Response serialisation into the connection's write buffer, and
//! resumable vectored writes of what is queued.
//!
//! Generic over `io::Write`, so partial writes are unit-tested with a
//! writer that takes a few bytes at a time.

use std::io::{self, IoSlice};

use super::date::Stamp;
use super::reply::FileBody;
use super::request::Method;
use super::response::{BodySource, Response};
use super::status::StatusCode;
use crate::rt::pool::BufSource;
use crate::rt::socket::Sink;
use crate::sys::AlignedBuf;

/// Static bodies up to this size are copied next to their head, so a batch
/// of pipelined responses stays one contiguous slice; larger ones are sent
/// from where they are.
const COPY_STATIC_MAX: usize = 1024;

/// Upper bound of a head's size without the handler's extra headers:
/// status line (≤ 48), `Date` (37), `Content-Length` (38),
/// `Connection: keep-alive` (24), `Keep-Alive: timeout=…` (33), final CRLF.
const FIXED_HEAD_MAX: usize = 192;

/// What the server decided about a response, beyond what the handler set.
#[derive(Clone, Copy, Debug)]
pub struct ResponseMeta {
    /// Keep the connection open after this response.
    pub keep_alive: bool,
    /// Say `Connection: keep-alive` (HTTP/1.0 clients that asked for it).
    pub confirm_keep_alive: bool,
    /// Idle timeout announced in `Keep-Alive: timeout=N` when confirming.
    pub keep_alive_secs: u64,
    /// What the request's method makes of the content.
    pub content: ContentRule,
}

/// What a request's method makes of its response's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContentRule {
    /// Sent, framed by its length (every method but the two below).
    Send,
    /// `HEAD`: the head a `GET` would get, and no content. Its length is
    /// that of the content the handler gave, so a handler answers `HEAD`
    /// as it answers `GET`; one that gives none gets no `Content-Length`.
    HeadOnly,
    /// `CONNECT`: a 2xx would open a tunnel, which this server does not
    /// do; such a response goes out with neither length nor content
    /// (RFC 9110 §9.3.6), and the connection closes after it (as after
    /// any answer to `CONNECT`). Other statuses are sent as usual.
    NoTunnel,
}

impl ContentRule {
    /// The rule of a request's `method`.
    #[inline]
    pub fn for_method(method: Method<'_>) -> Self {
        match method {
            Method::Head => ContentRule::HeadOnly,
            Method::Connect => ContentRule::NoTunnel,
            _ => ContentRule::Send,
        }
    }

    /// Whether a response with `status` carries its content.
    #[inline]
    pub fn sends(self, status: StatusCode) -> bool {
        match self {
            ContentRule::Send => !status.forbids_body(),
            ContentRule::HeadOnly => false,
            ContentRule::NoTunnel => !status.is_success() && !status.forbids_body(),
        }
    }

    /// How the head of a response with `status` frames content of `length`.
    #[inline]
    fn head_length(self, status: StatusCode, length: Length) -> Length {
        match (self, length) {
            (ContentRule::NoTunnel, _) if status.is_success() => Length::Unframed,
            _ => length,
        }
    }
}

/// How the head of `res` frames its content of `length` bytes.
#[inline(always)]
fn answer_length(res: &Response<'_>, content: ContentRule, length: u64) -> Length {
    let unset = content == ContentRule::HeadOnly && res.body_source() == BodySource::Unset;
    if unset && res.status_code() != StatusCode::RESET_CONTENT {
        // A HEAD answered without the content a GET would get: that
        // length is unknown here, and a wrong one is forbidden (RFC 9110
        // §8.6), so none is stated. (A 205's is always 0.)
        return Length::Unframed;
    }
    Length::Known(length)
}

/// How the end of a response's body is known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// `Content-Length`.
    Known(u64),
    /// `Transfer-Encoding: chunked` (a stream to an HTTP/1.1 client).
    Chunked,
    /// The connection closes after it (a stream to an HTTP/1.0 client).
    UntilClose,
    /// No framing field at all, whatever the status: a 2xx to `CONNECT`,
    /// whose client takes what follows the head for a tunnel's bytes; a
    /// `HEAD` answered with no body given, whose length is not known.
    Unframed,
}

/// What one write of a flush came to.
enum Step {
    /// This many bytes (more than none) went out.
    Sent(usize),
    /// Interrupted by a signal: try again.
    Again,
    /// The writer would block.
    Blocked,
}

impl Step {
    /// The step a write's result means; an error that ends the flush
    /// (a write of nothing among them) is returned as such.
    #[inline(always)]
    fn of(written: io::Result<usize>) -> io::Result<Step> {
        match written {
            Ok(0) => Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => Ok(Step::Sent(n)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(Step::Again),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(Step::Blocked),
            Err(e) => Err(e),
        }
    }
}

/// How far a [`Outgoing::flush`] got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flushed {
    /// Everything queued was sent.
    All {
        /// Bytes written by this flush.
        sent: usize,
    },
    /// The writer would block; call again when it is writable.
    Blocked {
        /// Bytes written before it blocked (0: no progress).
        sent: usize,
    },
}

/// What is sent from where it is, after the buffer's bytes: a large
/// static body, a file range, a copied body too large for the write buffer
/// (the scratch space's own `Vec`, moved, not copied a second time), or a
/// head that did not fit the buffer (then its body, if sent apart, follows
/// as the next tail).
enum Tail {
    None,
    Static(&'static [u8]),
    Owned(Vec<u8>, usize),
    File(FileBody),
}

impl Tail {
    /// The tail's bytes in memory (none for a file).
    fn memory(&self) -> &[u8] {
        match self {
            Tail::None | Tail::File(_) => &[],
            Tail::Static(s) => s,
            Tail::Owned(v, off) => &v[*off..],
        }
    }

    /// Whether all of it was sent.
    fn is_done(&self) -> bool {
        match self {
            Tail::None => true,
            Tail::Static(s) => s.is_empty(),
            Tail::Owned(v, off) => *off == v.len(),
            Tail::File(f) => f.len == 0,
        }
    }

    /// Marks `n` of its bytes sent.
    fn advance(&mut self, n: usize) {
        match self {
            Tail::None => unreachable!("wrote more than was queued"),
            Tail::Static(s) => *s = &s[n..],
            Tail::Owned(_, off) => *off += n,
            Tail::File(f) => {
                f.offset += n as u64;
                f.len -= n as u64;
            }
        }
    }
}

/// The responses queued on one connection and not yet sent, in the order
/// they go out: the write buffer's bytes (heads, small bodies), then a
/// tail, then what follows the tail. Only the buffer takes more
/// responses, and only while there is no tail.
pub struct Outgoing {
    buf: Option<AlignedBuf>,
    /// Where the unsent bytes lie in `buf`.
    queued: Span,
    tail: Tail,
    /// The body of a response whose head is the tail: a head larger than
    /// the buffer's free space, in memory of its own (allocated, for heads
    /// larger than the buffer, or a full buffer that cannot be sent).
    /// Boxed: rare, and a connection's size counts.
    next: Option<Box<Tail>>,
}

/// Where the unsent bytes lie in the write buffer. `u32`: the buffer is at
/// most 1 GiB (`Config` checks), and every connection, idle ones too,
/// holds one of these.
#[derive(Clone, Copy)]
struct Span {
    start: u32,
    end: u32,
}

impl Span {
    const EMPTY: Span = Span { start: 0, end: 0 };

    fn is_empty(self) -> bool {
        self.start == self.end
    }

    fn start(self) -> usize {
        self.start as usize
    }

    fn end(self) -> usize {
        self.end as usize
    }

    fn len(self) -> usize {
        (self.end - self.start) as usize
    }

    fn range(self) -> std::ops::Range<usize> {
        self.start()..self.end()
    }

    /// `n` bytes were written behind the end (into the buffer, so `n`
    /// fits).
    fn grow(&mut self, n: usize) {
        self.end += n as u32;
    }

    /// `n` bytes from the start were sent.
    fn consume(&mut self, n: usize) {
        self.start += n as u32;
    }

    /// Once all is sent, the next bytes go at the front again.
    fn rewind_if_empty(&mut self) {
        if self.is_empty() {
            *self = Span::EMPTY;
        }
    }

    /// Moves the unsent bytes to the front of `buf`, making room behind.
    fn move_to_front(&mut self, buf: &mut [u8]) {
        buf.copy_within(self.range(), 0);
        *self = Span { start: 0, end: self.end - self.start };
    }
}

impl Default for Outgoing {
    fn default() -> Self {
        Self::new()
    }
}

/// Where a response's body goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    /// Not sent (HEAD, 204, 205, 304, a 2xx to CONNECT) or empty.
    None,
    /// Copied right behind its head.
    Behind,
    /// Sent from where it is, as the tail.
    Tail,
}

impl Outgoing {
    /// Nothing queued, no buffer held.
    pub const fn new() -> Self {
        Outgoing { buf: None, queued: Span::EMPTY, tail: Tail::None, next: None }
    }

    /// Whether everything queued has been sent.
    pub fn is_empty(&self) -> bool {
        self.queued.is_empty() && matches!(self.tail, Tail::None)
    }

    /// Whether another response can be queued behind what is there without
    /// first flushing: no tail (which must stay last), and at least a
    /// quarter of the buffer free.
    pub fn can_queue(&self) -> bool {
        matches!(self.tail, Tail::None)
            && self
                .buf
                .as_ref()
                .is_none_or(|b| self.queued.is_empty() || b.len() - self.queued.end() >= b.len() / 4)
    }

    /// Queues the response `res` to a request (taking its file, or its
    /// copied body if that is too large for the buffer).
    #[cfg(test)]
    pub fn push(
        &mut self,
        pool: &mut impl BufSource,
        res: &mut Response<'_>,
        meta: &ResponseMeta,
        stamp: &Stamp,
    ) {
        self.push_with(pool, res, meta, stamp, |_| {});
    }

    /// [`push`](Outgoing::push), first sending what is queued to `w` if
    /// the response does not fit the buffer's free space (an error shows
    /// again on the next flush).
    #[inline]
    pub fn push_sending(
        &mut self,
        pool: &mut impl BufSource,
        res: &mut Response<'_>,
        meta: &ResponseMeta,
        stamp: &Stamp,
        w: &mut impl Sink,
    ) {
        self.push_with(pool, res, meta, stamp, |out| {
            let _ = out.flush(w);
        });
    }

    /// `push`, with `make_room` to call before resorting to more than the
    /// buffer's free space.
    #[inline(always)]
    fn push_with(
        &mut self,
        pool: &mut impl BufSource,
        res: &mut Response<'_>,
        meta: &ResponseMeta,
        stamp: &Stamp,
        make_room: impl FnOnce(&mut Self),
    ) {
        debug_assert!(matches!(self.tail, Tail::None), "a response queued behind a tail");
        let send_body = meta.content.sends(res.status_code());
        // One look at the body: where it goes, its bytes in memory, its length.
        let (placement, body, body_len) = match res.body_source() {
            BodySource::Unset | BodySource::Copied => {
                let b = res.body_bytes();
                (Placement::Behind, b, b.len() as u64)
            }
            BodySource::Static(s) if s.len() <= COPY_STATIC_MAX => (Placement::Behind, s, s.len() as u64),
            BodySource::Static(s) => (Placement::Tail, &[][..], s.len() as u64),
            BodySource::File => (Placement::Tail, &[][..], res.body_len()),
        };
        let placement = if send_body { placement } else { Placement::None };
        let behind = if placement == Placement::Behind { body.len() } else { 0 };
        let buf = self.buf.get_or_insert_with(|| pool.take());
        self.queued.rewind_if_empty();
        let need = FIXED_HEAD_MAX + res.extra_headers().len() + behind;
        if need > buf.len() - self.queued.end() {
            return self.push_crowded(res, meta, stamp, placement, make_room);
        }
        // The common case: head and copied body behind what is queued.
        let mut w = HeadWriter { out: &mut buf[self.queued.end()..], pos: 0 };
        write_head(&mut w, res, answer_length(res, meta.content, body_len), meta, stamp);
        w.put(&body[..behind]);
        self.queued.grow(w.pos);
        if placement == Placement::Tail {
            self.set_tail(res);
        } else if body.len() > behind {
            // A copied body not sent (HEAD, 204, 205, 304…) may have grown the
            // scratch space.
            res.trim_scratch();
        }
    }

    /// `push` for a response that does not fit the buffer's free space: it
    /// makes room (sending what is queued, then moving what is left to the
    /// front) if it can, sends a large copied body from where it is, and
    /// else spills the head to memory of its own.
    #[cold]
    #[inline(never)]
    fn push_crowded(
        &mut self,
        res: &mut Response<'_>,
        meta: &ResponseMeta,
        stamp: &Stamp,
        placement: Placement,
        make_room: impl FnOnce(&mut Self),
    ) {
        if !self.queued.is_empty() {
            make_room(self);
        }
        self.queued.rewind_if_empty();
        let buf = self.buf.as_mut().expect("push took a buffer");
        let head_max = FIXED_HEAD_MAX + res.extra_headers().len();
        let in_memory = res.body_bytes().len();
        if buf.len() - self.queued.end() < head_max + in_memory && self.queued.start() > 0 {
            // Room at the front from what was sent: move the rest there.
            self.queued.move_to_front(buf);
        }
        let placement = match placement {
            // Too large to copy here once more: sent from where it was
            // written.
            Placement::Behind
                if buf.len() - self.queued.end() < head_max + in_memory && in_memory > COPY_STATIC_MAX =>
            {
                Placement::Tail
            }
            p => p,
        };
        let behind = if placement == Placement::Behind { in_memory } else { 0 };
        let fits = buf.len() - self.queued.end() >= head_max + behind;
        let mut spill = Vec::new();
        let out: &mut [u8] = if fits {
            &mut buf[self.queued.end()..]
        } else {
            spill = vec![0; head_max + behind];
            &mut spill
        };
        let mut w = HeadWriter { out, pos: 0 };
        write_head(&mut w, res, answer_length(res, meta.content, res.body_len()), meta, stamp);
        if placement == Placement::Behind {
            w.put(res.body_bytes());
        }
        let n = w.pos;
        if fits {
            self.queued.grow(n);
        } else {
            spill.truncate(n);
        }
        if placement == Placement::Tail {
            self.set_tail(res);
        }
        if !fits {
            // The head goes first, its body (if any) after it.
            let body = std::mem::replace(&mut self.tail, Tail::Owned(spill, 0));
            self.next = (!matches!(body, Tail::None)).then(|| Box::new(body));
        }
        res.trim_scratch();
    }

    /// Makes `res`'s body the tail, sent from where it is.
    fn set_tail(&mut self, res: &mut Response<'_>) {
        let capacity = self.buf.as_ref().map_or(0, |b| b.len());
        self.tail = match res.body_source() {
            _ if res.body_len() == 0 => Tail::None,
            BodySource::File => Tail::File(res.take_file().expect("a file body holds its file")),
            BodySource::Static(s) => Tail::Static(s),
            BodySource::Unset | BodySource::Copied => Tail::Owned(res.take_body(capacity), 0),
        };
    }

    /// Queues the head of a response whose body follows through
    /// [`fill`](Outgoing::fill), delimited as `length` says.
    pub fn push_stream_head(
        &mut self,
        pool: &mut impl BufSource,
        res: &mut Response<'_>,
        length: Length,
        meta: &ResponseMeta,
        stamp: &Stamp,
    ) {
        debug_assert!(matches!(self.tail, Tail::None), "a response queued behind a tail");
        let head_max = FIXED_HEAD_MAX + res.extra_headers().len();
        let mut spill = Vec::new();
        let out = match self.room(pool, head_max) {
            Some(room) => room,
            None => {
                spill = vec![0; head_max];
                &mut spill
            }
        };
        let mut w = HeadWriter { out, pos: 0 };
        write_head(&mut w, res, length, meta, stamp);
        let n = w.pos;
        if spill.is_empty() {
            self.queued.grow(n);
        } else {
            spill.truncate(n);
            self.tail = Tail::Owned(spill, 0);
        }
        res.trim_scratch();
    }

    /// The buffer's free space, if at least `need` bytes (moving what is
    /// queued to the front if that makes the room); `None` behind a tail.
    fn room(&mut self, pool: &mut impl BufSource, need: usize) -> Option<&mut [u8]> {
        if !matches!(self.tail, Tail::None) {
            return None;
        }
        let buf = self.buf.get_or_insert_with(|| pool.take());
        self.queued.rewind_if_empty();
        if buf.len() - self.queued.end() < need && self.queued.start() > 0 {
            self.queued.move_to_front(buf);
        }
        let room = &mut buf[self.queued.end()..];
        (room.len() >= need).then_some(room)
    }

    /// Lets `write` put bytes in the buffer's free space (if it has at
    /// least `need` bytes) behind what is queued; `write` says how many it
    /// wrote. Returns that count (0 if there was no room).
    pub fn fill(
        &mut self,
        pool: &mut impl BufSource,
        need: usize,
        write: impl FnOnce(&mut [u8]) -> usize,
    ) -> usize {
        let Some(room) = self.room(pool, need) else { return 0 };
        let n = write(room);
        self.queued.grow(n);
        n
    }

    /// Queues the interim `100 Continue` (RFC 9110 §15.2.1).
    pub fn push_continue(&mut self, pool: &mut impl BufSource) {
        const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";
        debug_assert!(self.can_queue());
        self.fill(pool, CONTINUE.len(), |room| {
            room[..CONTINUE.len()].copy_from_slice(CONTINUE);
            CONTINUE.len()
        });
    }

    /// Queues a server-generated response that ends the connection, to a
    /// request whose method makes `content` of it.
    pub fn push_error(
        &mut self,
        pool: &mut impl BufSource,
        res: &mut Response<'_>,
        content: ContentRule,
        stamp: &Stamp,
    ) {
        let meta = ResponseMeta { keep_alive: false, confirm_keep_alive: false, keep_alive_secs: 0, content };
        self.push_with(pool, res, &meta, stamp, |_| {});
    }

    /// Writes as much as `w` takes, until all is sent or `w` would block.
    pub fn flush(&mut self, w: &mut impl Sink) -> io::Result<Flushed> {
        match self.tail {
            Tail::None => self.flush_queued(w),
            _ => self.flush_with_tail(w),
        }
    }

    /// `flush` when only the buffer's bytes are queued, as behind every
    /// answer whose body was copied: one slice, and no tail to consider.
    fn flush_queued(&mut self, w: &mut impl Sink) -> io::Result<Flushed> {
        debug_assert!(self.next.is_none(), "a tail to follow, but none before it");
        let mut sent = 0;
        while let Some(buf) = self.buf.as_ref().filter(|_| !self.queued.is_empty()) {
            match Step::of(w.send(&[IoSlice::new(&buf[self.queued.range()])]))? {
                Step::Sent(n) => {
                    sent += n;
                    self.queued.consume(n);
                }
                Step::Again => {}
                Step::Blocked => return Ok(Flushed::Blocked { sent }),
            }
        }
        Ok(Flushed::All { sent })
    }

    /// `flush` with a tail (a body sent from where it is, or a spilled
    /// head) behind the buffer's bytes, and perhaps another behind it.
    fn flush_with_tail(&mut self, w: &mut impl Sink) -> io::Result<Flushed> {
        let mut sent = 0;
        loop {
            let head: &[u8] = match &self.buf {
                Some(b) => &b[self.queued.range()],
                None => &[],
            };
            let memory = self.tail.memory();
            let written = if !head.is_empty() || !memory.is_empty() {
                let bufs = [IoSlice::new(head), IoSlice::new(memory)];
                match (&self.tail, &self.next) {
                    (Tail::File(f), _) if f.len > 0 => w.write_more(&bufs),
                    // A spilled head before its file.
                    (Tail::Owned(..), Some(next)) if matches!(**next, Tail::File(_)) => w.write_more(&bufs),
                    _ => w.send(&bufs),
                }
            } else {
                match &mut self.tail {
                    Tail::File(f) if f.len > 0 => {
                        let count = usize::try_from(f.len).unwrap_or(usize::MAX);
                        match w.send_file(&f.file, f.offset, count) {
                            Ok(0) => Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "file shorter than its range",
                            )),
                            other => other,
                        }
                    }
                    _ => {
                        // An empty tail: what follows it, if anything, is next.
                        self.tail = self.next.take().map_or(Tail::None, |next| *next);
                        if matches!(self.tail, Tail::None) {
                            return Ok(Flushed::All { sent });
                        }
                        continue;
                    }
                }
            };
            match Step::of(written)? {
                Step::Sent(n) => {
                    sent += n;
                    self.advance(n);
                }
                Step::Again => continue,
                Step::Blocked => return Ok(Flushed::Blocked { sent }),
            }
            if self.queued.is_empty() && matches!(self.tail, Tail::None) {
                // All sent: no second trip round the loop to find that out.
                return Ok(Flushed::All { sent });
            }
        }
    }

    fn advance(&mut self, n: usize) {
        let from_head = n.min(self.queued.len());
        self.queued.consume(from_head);
        let rest = n - from_head;
        if rest > 0 {
            self.tail.advance(rest);
            if self.tail.is_done() {
                // Its memory (or file) goes now, not with the connection;
                // what follows it is next.
                self.tail = self.next.take().map_or(Tail::None, |next| *next);
            }
        }
    }

    /// Returns the buffer to the pool if nothing is left to send.
    pub fn release(&mut self, pool: &mut impl BufSource) {
        if self.is_empty() {
            if let Some(buf) = self.buf.take() {
                pool.give(buf);
            }
            (self.queued, self.tail) = (Span::EMPTY, Tail::None);
        }
    }

    /// Drops everything queued, returning the buffer to the pool.
    pub fn discard(&mut self, pool: &mut impl BufSource) {
        (self.queued, self.tail, self.next) = (Span::EMPTY, Tail::None, None);
        self.release(pool);
    }
}

/// Appends bytes to a slice known to be large enough.
struct HeadWriter<'a> {
    out: &'a mut [u8],
    pos: usize,
}

impl HeadWriter<'_> {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.out[self.pos..self.pos + bytes.len()].copy_from_slice(bytes);
        self.pos += bytes.len();
    }

    /// Writes `n` in decimal, straight into place: no scratch array, no copy.
    #[inline]
    fn put_u64(&mut self, n: u64) {
        if n < 100 {
            // Most bodies and every status code's first digits: no loop.
            let (tens, ones) = ((n / 10) as u8, (n % 10) as u8);
            if tens > 0 {
                self.put(&[b'0' + tens, b'0' + ones]);
            } else {
                self.put(&[b'0' + ones]);
            }
            return;
        }
        let mut len = 1;
        let mut rest = n / 10;
        while rest > 0 {
            len += 1;
            rest /= 10;
        }
        let mut rest = n;
        for digit in self.out[self.pos..self.pos + len].iter_mut().rev() {
            *digit = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        self.pos += len;
    }
}

#[inline(always)]
fn write_head(
    w: &mut HeadWriter<'_>,
    res: &Response<'_>,
    length: Length,
    meta: &ResponseMeta,
    stamp: &Stamp,
) {
    let status = res.status_code();
    match length {
        Length::Known(body_len) if status == StatusCode::OK && meta.content != ContentRule::NoTunnel => {
            // The commonest head: status line, Date and the Content-Length
            // name in one copy.
            w.put(stamp.ok_head());
            w.put_u64(body_len);
            w.put(b"\r\n");
        }
        _ => {
            write_status_line(w, status);
            w.put(b"Date: ");
            w.put(stamp.date());
            w.put(b"\r\n");
            write_length(w, status, meta.content.head_length(status, length));
        }
    }
    if status == StatusCode::SWITCHING_PROTOCOLS {
        // Only a committed WebSocket upgrade is answered `101`.
        w.put(b"Connection: Upgrade\r\n");
    } else if status == StatusCode::UPGRADE_REQUIRED {
        // A 426 carries `Upgrade`, which is hop-by-hop (RFC 9110 §7.8).
        w.put(if meta.keep_alive { b"Connection: upgrade\r\n" } else { b"Connection: upgrade, close\r\n" });
    } else if !meta.keep_alive {
        w.put(b"Connection: close\r\n");
    } else if meta.confirm_keep_alive {
        w.put(b"Connection: keep-alive\r\nKeep-Alive: timeout=");
        w.put_u64(meta.keep_alive_secs);
        w.put(b"\r\n");
    }
    w.put(res.extra_headers());
    w.put(b"\r\n");
}

/// The framing field of a head other than the commonest.
fn write_length(w: &mut HeadWriter<'_>, status: StatusCode, length: Length) {
    match length {
        Length::Unframed => {}
        // No content, and the head says so, whatever the handler wrote
        // (RFC 9110 §15.3.6), also to an HTTP/1.0 client kept alive.
        _ if status == StatusCode::RESET_CONTENT => w.put(b"Content-Length: 0\r\n"),
        _ if status.forbids_content_length() || status == StatusCode::NOT_MODIFIED => {}
        Length::Known(body_len) => {
            w.put(b"Content-Length: ");
            w.put_u64(body_len);
            w.put(b"\r\n");
        }
        Length::Chunked => w.put(b"Transfer-Encoding: chunked\r\n"),
        Length::UntilClose => {}
    }
}

fn write_status_line(w: &mut HeadWriter<'_>, status: StatusCode) {
    if status == StatusCode::OK {
        w.put(b"HTTP/1.1 200 OK\r\n");
        return;
    }
    w.put(b"HTTP/1.1 ");
    w.put_u64(status.as_u16().into());
    w.put(b" ");
    w.put(status.reason().as_bytes());
    w.put(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::response::Scratch;
    use std::io::Write;

    #[test]
    fn decimals_are_written_in_place() {
        for n in [0, 1, 9, 10, 99, 100, 6150, 999_999, 1_000_000, u64::MAX] {
            let mut out = [b'x'; 24];
            let mut w = HeadWriter { out: &mut out, pos: 1 };
            w.put_u64(n);
            let end = w.pos;
            assert_eq!(&out[1..end], n.to_string().as_bytes());
            assert_eq!((out[0], out[end]), (b'x', b'x'));
        }
    }

    struct Pool(usize);
    impl BufSource for Pool {
        fn take(&mut self) -> AlignedBuf {
            AlignedBuf::new(self.0)
        }
        fn give(&mut self, _: AlignedBuf) {}
    }

    /// Accepts at most `chunk` bytes per call and blocks every other call.
    struct Trickle {
        out: Vec<u8>,
        chunk: usize,
        calls: usize,
    }
    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.calls += 1;
            if self.calls % 2 == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let n = buf.len().min(self.chunk);
            self.out.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Sink for Trickle {
        fn send_file(&mut self, file: &std::fs::File, offset: u64, count: usize) -> io::Result<usize> {
            use std::os::unix::fs::FileExt;
            let mut chunk = vec![0u8; count.min(self.chunk)];
            let n = file.read_at(&mut chunk, offset)?;
            self.write(&chunk[..n])
        }
    }

    const DATE: &[u8; crate::http::date::DATE_LEN] = b"Sun, 06 Nov 1994 08:49:37 GMT";
    const KA: ResponseMeta = ResponseMeta {
        keep_alive: true,
        confirm_keep_alive: false,
        keep_alive_secs: 5,
        content: ContentRule::Send,
    };

    fn drain(out: &mut Outgoing, chunk: usize) -> Vec<u8> {
        let mut t = Trickle { out: Vec::new(), chunk, calls: 0 };
        while !matches!(out.flush(&mut t).unwrap(), Flushed::All { .. }) {}
        t.out
    }

    #[test]
    fn serialises_head_and_copied_body() {
        let mut s = Scratch::with_capacity(64, 64);
        let mut res = Response::new(&mut s);
        res.header("Content-Type", "text/plain").body(b"hi");
        let mut out = Outgoing::new();
        out.push(&mut Pool(4096), &mut res, &KA, &Stamp::new(*DATE));
        assert_eq!(
            drain(&mut out, 1 << 20),
            b"HTTP/1.1 200 OK\r\nDate: Sun, 06 Nov 1994 08:49:37 GMT\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nhi"
        );
        assert!(out.is_empty());
    }

    #[test]
    fn head_requests_keep_length_and_drop_body() {
        let mut s = Scratch::with_capacity(64, 64);
        let mut res = Response::new(&mut s);
        res.status(StatusCode::NOT_FOUND).body_static(b"gone");
        let mut out = Outgoing::new();
        let meta = ResponseMeta { content: ContentRule::HeadOnly, keep_alive: false, ..KA };
        out.push(&mut Pool(4096), &mut res, &meta, &Stamp::new(*DATE));
        let sent = drain(&mut out, 7);
        assert!(sent.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
        assert!(sent.ends_with(b"Content-Length: 4\r\nConnection: close\r\n\r\n"));
    }

    #[test]
    fn no_length_for_204_and_confirmed_keep_alive() {
        let mut s = Scratch::with_capacity(64, 64);
        let mut res = Response::new(&mut s);
        res.status(StatusCode::NO_CONTENT).body(b"ignored");
        let mut out = Outgoing::new();
        let meta = ResponseMeta { confirm_keep_alive: true, ..KA };
        out.push(&mut Pool(4096), &mut res, &meta, &Stamp::new(*DATE));
        let sent = String::from_utf8(drain(&mut out, 3)).unwrap();
        assert!(!sent.contains("Content-Length"), "{sent}");
        assert!(sent.ends_with("Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n"), "{sent}");
    }

    #[test]
    fn large_static_and_oversized_bodies_survive_partial_writes() {
        static BIG: [u8; 100_000] = [b'x'; 100_000];
        for copied in [false, true] {
            let mut s = Scratch::with_capacity(64, 64);
            let mut res = Response::new(&mut s);
            if copied {
                res.body(&BIG);
            } else {
                res.body_static(&BIG);
            }
            let mut out = Outgoing::new();
            out.push(&mut Pool(4096), &mut res, &KA, &Stamp::new(*DATE));
            let sent = drain(&mut out, 777);
            let body_at = sent.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
            assert!(sent[..body_at].ends_with(b"Content-Length: 100000\r\n\r\n"));
            assert_eq!(&sent[body_at..], &BIG[..]);
        }
    }

    #[test]
    fn file_ranges_follow_their_head_through_partial_writes() {
        use std::io::Write as _;
        let path = std::env::temp_dir().join(format!("peregrine-write-test-{}", std::process::id()));
        let content: Vec<u8> = (0..50_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::File::create(&path).unwrap().write_all(&content).unwrap();
        let mut s = Scratch::with_capacity(64, 64);
        let mut res = Response::new(&mut s);
        res.body_file(std::fs::File::open(&path).unwrap(), 1000, 40_000);
        let mut out = Outgoing::new();
        out.push(&mut Pool(4096), &mut res, &KA, &Stamp::new(*DATE));
        let sent = drain(&mut out, 999);
        let body_at = sent.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(sent[..body_at].ends_with(b"Content-Length: 40000\r\n\r\n"));
        assert!(sent[body_at..] == content[1000..41_000]);
        // A file shorter than its range is an error, not a hang.
        let mut s = Scratch::with_capacity(64, 64);
        let mut res = Response::new(&mut s);
        res.body_file(std::fs::File::open(&path).unwrap(), 49_000, 5_000);
        let mut out = Outgoing::new();
        out.push(&mut Pool(4096), &mut res, &KA, &Stamp::new(*DATE));
        let mut t = Trickle { out: Vec::new(), chunk: 1 << 20, calls: 0 };
        let err = loop {
            match out.flush(&mut t) {
                Ok(Flushed::All { .. }) => panic!("a short file was reported sent"),
                Ok(_) => continue,
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        std::fs::remove_file(&path).unwrap();
    }

    /// A file of `len` patterned bytes, removed on drop.
    struct TempFile(std::path::PathBuf);
    impl TempFile {
        fn new(name: &str, len: usize) -> (TempFile, Vec<u8>) {
            let path = std::env::temp_dir().join(format!("peregrine-write-{name}-{}", std::process::id()));
            let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            std::fs::write(&path, &content).unwrap();
            (TempFile(path), content)
        }
        fn open(&self) -> std::fs::File {
            std::fs::File::open(&self.0).unwrap()
        }
    }
    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    /// Splits what was sent into `(head, body)` pairs by Content-Length.
    fn responses(mut sent: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        while !sent.is_empty() {
            let end = sent.windows(4).position(|w| w == b"\r\n\r\n").expect("a head") + 4;
            let head = String::from_utf8(sent[..end].to_vec()).unwrap();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("Content-Length: "))
                .map_or(0, |n| n.trim().parse().unwrap());
            out.push((head, sent[end..end + len].to_vec()));
            sent = &sent[end + len..];
        }
        out
    }

    /// The five kinds of body, each with the bytes it must arrive as.
    fn with_body<'s>(res: &mut Response<'s>, kind: usize, file: &TempFile) -> Vec<u8> {
        static BIG: [u8; 9000] = [b's'; 9000];
        match kind {
            0 => {
                res.body_file(file.open(), 0, 10_000);
                (0..10_000).map(|i| (i % 251) as u8).collect()
            }
            1 => {
                res.body_static(&BIG);
                BIG.to_vec()
            }
            2 => {
                res.body_static(b"small static");
                b"small static".to_vec()
            }
            3 => {
                res.body(b"small copy");
                b"small copy".to_vec()
            }
            _ => {
                let big: Vec<u8> = (0..20_000).map(|i| (i % 7) as u8).collect();
                res.body(&big);
                big
            }
        }
    }

    #[test]
    fn heads_larger_than_the_buffer_keep_every_body() {
        let (file, _) = TempFile::new("large-head", 10_000);
        let padding = "p".repeat(6000);
        for kind in 0..5 {
            let mut s = Scratch::with_capacity(64, 64);
            let mut res = Response::new(&mut s);
            res.header("X-Padding", &padding);
            let want = with_body(&mut res, kind, &file);
            let mut out = Outgoing::new();
            out.push(&mut Pool(4096), &mut res, &KA, &Stamp::new(*DATE));
            let sent = responses(&drain(&mut out, 999));
            assert_eq!(sent.len(), 1, "kind {kind}");
            assert!(sent[0].0.contains(&padding), "kind {kind}: the padding");
            assert!(sent[0].1 == want, "kind {kind}: the body");
        }
    }

    #[test]
    fn a_response_meeting_a_full_buffer_keeps_its_body() {
        // Pipelined responses nearly fill the buffer and nothing is sent
        // (the client is not reading): the next head does not fit.
        let (file, _) = TempFile::new("full-buffer", 10_000);
        for kind in 0..5 {
            let mut out = Outgoing::new();
            let mut pool = Pool(4096);
            let mut wants = Vec::new();
            while out.can_queue() {
                let mut s = Scratch::with_capacity(64, 64);
                let mut res = Response::new(&mut s);
                let body = vec![b'0' + wants.len() as u8; 700];
                res.body(&body);
                out.push(&mut pool, &mut res, &KA, &Stamp::new(*DATE));
                wants.push(body);
            }
            let mut s = Scratch::with_capacity(64, 64);
            let mut res = Response::new(&mut s);
            res.header("X-Padding", "p".repeat(1000));
            let free = out.buf.as_ref().unwrap().len() - out.queued.end();
            assert!(free < 1000, "the head must meet a full buffer ({free} bytes free)");
            wants.push(with_body(&mut res, kind, &file));
            out.push(&mut pool, &mut res, &KA, &Stamp::new(*DATE));
            assert!(!out.can_queue(), "nothing queues behind a tail");
            let sent = responses(&drain(&mut out, 333));
            let bodies: Vec<_> = sent.into_iter().map(|(_, b)| b).collect();
            assert!(bodies == wants, "kind {kind}: bodies differ");
            out.release(&mut pool);
            assert!(out.is_empty() && out.can_queue());
        }
    }

    #[test]
    fn large_copied_bodies_are_sent_from_where_they_were_written() {
        let mut s = Scratch::with_capacity(4096, 4096);
        let big = vec![b'z'; 1 << 20];
        let mut res = Response::new(&mut s);
        res.body(&big);
        let written = res.body_bytes().as_ptr();
        let mut out = Outgoing::new();
        out.push(&mut Pool(4096), &mut res, &KA, &Stamp::new(*DATE));
        assert_eq!(out.tail.memory().as_ptr(), written, "the body was copied again");
        assert!(s.body.capacity() <= 4096, "the scratch space kept {} bytes", s.body.capacity());
        let sent = responses(&drain(&mut out, 1 << 16));
        assert!(sent[0].1 == big);
        // A handler that wrote a large body and then replaced it leaves the
        // space grown: trimmed back after the response.
        let mut res = Response::new(&mut s);
        res.body(&big).body_static(b"small");
        assert!(s.body.capacity() <= 4096, "the scratch space kept {} bytes", s.body.capacity());
    }

    #[test]
    fn a_copied_body_that_fits_once_the_buffer_is_sent_is_copied_there() {
        // Pipelined 6000-byte bodies in a 16 KiB buffer: the third does not
        // fit behind the first two, but does once they are sent; it is
        // copied there (no tail, no allocation), not moved out.
        let body = vec![b'b'; 6000];
        let mut out = Outgoing::new();
        let mut pool = Pool(16384);
        let mut sink = Trickle { out: Vec::new(), chunk: 1 << 20, calls: 0 };
        for _ in 0..3 {
            assert!(out.can_queue());
            let mut s = Scratch::with_capacity(64, 8192);
            let mut res = Response::new(&mut s);
            res.body(&body);
            out.push_sending(&mut pool, &mut res, &KA, &Stamp::new(*DATE), &mut sink);
            assert!(matches!(out.tail, Tail::None), "a body that fits was moved out");
        }
        while !matches!(out.flush(&mut sink).unwrap(), Flushed::All { .. }) {}
        let sent = responses(&sink.out);
        assert_eq!(sent.len(), 3);
        assert!(sent.iter().all(|(_, b)| *b == body));
    }

    #[test]
    fn pipelined_responses_queue_in_order() {
        let mut out = Outgoing::new();
        let mut pool = Pool(4096);
        for i in 0..5u8 {
            let mut s = Scratch::with_capacity(64, 64);
            let mut res = Response::new(&mut s);
            res.body(&[b'a' + i]);
            assert!(out.can_queue());
            out.push(&mut pool, &mut res, &KA, &Stamp::new(*DATE));
        }
        let sent = drain(&mut out, 50);
        let text = String::from_utf8(sent).unwrap();
        let bodies: String = text.split("\r\n\r\n").skip(1).map(|rest| &rest[..1]).collect();
        assert_eq!(bodies, "abcde");
    }
}
