//! The request arriving on a connection, and the body protocol.
//!
//! A request's head arrives in the connection's read buffer and is parsed
//! there, in place: the handler's [`Request`](crate::Request) borrows it.
//! Its body then takes one of two ways:
//!
//! - **In the buffer.** A `Content-Length` body that fits the read buffer
//!   behind its head arrives there too. Until it is whole only its end is
//!   known; then the head is parsed again (a parsed head borrows the
//!   buffer, which reads move, so it is not kept across them) and the
//!   request is answered from the buffer, head and body side by side.
//! - **Apart.** A body too large for that, or chunked, is received into a
//!   pooled buffer behind a copy of its head ([`BodyRx`]) that grows with
//!   what arrives, not with what was declared. The head leaves the read
//!   buffer, so every read of the body gets all of it, whatever the head's
//!   size. Once the body is whole, the head is parsed again from its copy.
//!
//! Either way the handler gets one head and one contiguous body; unless,
//! asked from the head, it chose to have the body given to its
//! [`BodySink`] piece by piece (apart too, the pieces never kept), or to
//! refuse it unread. A client that sent `Expect: 100-continue` and nothing
//! of its body yet is told to go on (RFC 9110 §10.1.1) once, when the head
//! is in and the body is wanted: the states below are entered once per
//! request, so there is no flag to remember it by.

use std::io;

use super::body::{BodyRx, Declared};
use super::ctx::Ctx;
use crate::http::head::{self, Head, HeadError, HeaderSlots};
use crate::http::intake::{BodySink, BodyWaker};
use crate::http::status::StatusCode;
use crate::http::target::HostMemo;
use crate::rt::input::{Input, ReadOutcome, Receive};
use crate::rt::pool::BufSource;

/// Where the request being received stands.
enum Receiving {
    /// Its head is arriving in the read buffer (or nothing of it yet).
    /// `scanned`: how many pending bytes were already searched for the
    /// head's end, so a head that arrives slowly is searched once in all;
    /// 0 for a head that may come whole, which is parsed at once.
    Head { scanned: usize },
    /// Its head is in, and its body is arriving behind it in the read
    /// buffer, which will then hold `total` bytes of this request and
    /// holds `arrived` so far (both within the read buffer's size, at most
    /// 1 GiB).
    Body { total: u32, arrived: u32 },
    /// Its body is arriving apart, behind a copy of its head.
    /// Boxed (from the worker's pool): rare, and a connection's size counts.
    Apart(Box<BodyRx>),
}

/// What the buffered input made of the request being received.
pub enum Next<R> {
    /// It was whole and answered; `R` is what answering it returned.
    Answered(R),
    /// More input is needed.
    Incomplete,
    /// Its head is in and the client waits to be told to send its body.
    Continue,
    /// Its head is in and its body goes apart: what is buffered is looked
    /// at again.
    Started,
    /// Its head is in, and the application refused it unread (its answer
    /// is queued): the connection closes.
    Refused,
}

/// What the application makes of the request being received: how it
/// takes the body in, decided from the head, and its answer.
pub trait Answer<H> {
    /// What answering returns.
    type Out;
    /// How the body of the request whose head is `head` is taken in.
    fn intake(&mut self, head: &Head<'_>, ctx: &mut Ctx<H>) -> Plan;
    /// Answers the whole request, its body in one slice.
    fn answer(&mut self, head: Head<'_>, body: &[u8], ctx: &mut Ctx<H>) -> Self::Out;
    /// Answers the whole request whose body went to `sink`, which answers.
    fn answer_streamed(&mut self, head: Head<'_>, sink: Box<dyn BodySink>, ctx: &mut Ctx<H>) -> Self::Out;
    /// A waker for a sink that pauses its body.
    fn body_waker(&mut self, ctx: &mut Ctx<H>) -> BodyWaker;
    /// Queues the refusal (`status`) of the request whose body could not
    /// be taken in (malformed, over a limit, or refused by its sink).
    fn refuse(&mut self, head: Head<'_>, status: StatusCode, ctx: &mut Ctx<H>);
}

/// How a body is taken in ([`Answer::intake`]).
pub enum Plan {
    /// Whole, into one slice.
    Buffer,
    /// Piece by piece, into the sink.
    Stream(Box<dyn BodySink>),
    /// Not at all: the request was refused, its answer queued.
    Refused,
}

/// A connection's read buffer and the request arriving in it.
pub struct Incoming {
    input: Input,
    receiving: Receiving,
    /// Requests answered and body bytes taken since the connection opened.
    progress: u64,
}

impl Incoming {
    /// Nothing received, holding no buffer.
    pub const fn new() -> Self {
        Incoming { input: Input::new(), receiving: Receiving::Head { scanned: 0 }, progress: 0 }
    }

    /// Bytes received and not yet used.
    pub fn pending(&self) -> &[u8] {
        self.input.pending()
    }

    /// Where the request being received starts: its head, kept apart
    /// once its body is received apart, else the bytes pending.
    pub fn request_start(&self) -> &[u8] {
        match &self.receiving {
            Receiving::Apart(rx) => rx.head(),
            _ => self.input.pending(),
        }
    }

    /// Requests answered and body bytes taken since the connection
    /// opened. A client whose count moves is not stalled; one that sends
    /// only what does not count (empty lines, a head byte by byte, a head
    /// that then moves apart) is, however many bytes that is.
    pub fn progress(&self) -> u64 {
        self.progress
    }

    /// The poll reported the client's FIN: reads are to reach it.
    pub fn fin_reported(&mut self) {
        self.input.fin_reported();
    }

    /// The poll reported the client's FIN, and no read has reached it yet.
    pub fn fin_reported_unread(&self) -> bool {
        self.input.fin_reported_unread()
    }

    /// A read reached the client's FIN.
    pub fn at_eof(&self) -> bool {
        self.input.at_eof()
    }

    /// No part of a request has arrived (head or body).
    pub fn between_requests(&self) -> bool {
        // A lone CR is the start of an empty line, which is skipped, not
        // of a request: timed as idleness, so empty lines sent in halves
        // restart no timer.
        matches!(self.receiving, Receiving::Head { .. }) && matches!(self.input.pending(), [] | [b'\r'])
    }

    /// Reads once from `stream` into the read buffer; not while a sink
    /// has paused the body (as if the socket were empty: the sink's wake
    /// drives the connection again).
    pub fn read_from(
        &mut self,
        stream: &mut impl Receive,
        pool: &mut impl BufSource,
    ) -> io::Result<ReadOutcome> {
        if let Receiving::Apart(rx) = &self.receiving {
            if rx.paused_for().is_some() {
                return Ok(ReadOutcome::WouldBlock);
            }
        }
        self.input.read_from(stream, pool)
    }

    /// The id a wake of the sink that paused the body being received comes
    /// with, if one did.
    #[inline]
    pub fn paused_for(&self) -> Option<u64> {
        match &self.receiving {
            Receiving::Apart(rx) => rx.paused_for(),
            _ => None,
        }
    }

    /// Asks the sink that paused the body being received again: reads go
    /// on once it says yes. An `Err` (it panicked) is the status to refuse
    /// the request with.
    pub fn ask_paused_sink<H, A: Answer<H>>(
        &mut self,
        ctx: &mut Ctx<H>,
        app: &mut A,
    ) -> Result<(), StatusCode> {
        match &mut self.receiving {
            Receiving::Apart(rx) if rx.paused_for().is_some() => rx.ready(|| app.body_waker(ctx)).map(|_| ()),
            _ => Ok(()),
        }
    }

    /// Returns the read buffer to `pool` if nothing is pending.
    pub fn release_buffer(&mut self, pool: &mut impl BufSource) {
        self.input.release(pool);
    }

    /// Drops what was received, returning its buffers to the pools.
    pub fn discard<H>(&mut self, ctx: &mut Ctx<H>) {
        self.end_request(ctx);
        self.input.discard(&mut ctx.in_pool);
    }

    /// Takes the request being received as far as the buffered bytes go;
    /// once its head is in, asks `app` how to take its body in; once it
    /// is whole, has `app` answer it, then uses its bytes up and awaits
    /// the next. An `Err` is the status to refuse it with.
    pub fn next<H, A: Answer<H>>(
        &mut self,
        ctx: &mut Ctx<H>,
        app: &mut A,
    ) -> Result<Next<A::Out>, StatusCode> {
        let mut slots = head::header_slots();
        let (head, body, used) = match self.receiving {
            Receiving::Head { scanned } => {
                let pending = self.input.pending();
                let at_eof = self.input.at_eof();
                let Some(head) = parse_head(pending, scanned, at_eof, &mut slots, ctx)? else {
                    self.skip_empty_lines(ctx.rules.bare_lf);
                    return Ok(Next::Incomplete);
                };
                if !head.chunked && head.content_length == 0 {
                    // The common case: a request without a body, come whole.
                    let used = head.len;
                    (head, &[][..], used)
                } else {
                    let plan = app.intake(&head, ctx);
                    // Saturating: a declared length near u64::MAX must meet the limit
                    // below, not overflow.
                    let total = (head.len as u64).saturating_add(head.content_length);
                    match plan {
                        Plan::Buffer if head.content_length > ctx.max_body as u64 => {
                            return Err(HeadError::BodyTooLarge.status())
                        }
                        Plan::Buffer if !head.chunked && pending.len() as u64 >= total => {
                            // A body that came with its head.
                            let total = total as usize;
                            let body = &pending[head.len..total];
                            (head, body, total)
                        }
                        Plan::Refused => return Ok(Next::Refused),
                        plan => {
                            // 100 Continue is for a client still holding its body back.
                            let waits = head.expect_continue && pending.len() == head.len;
                            let declared = if head.chunked {
                                Declared::Chunked
                            } else {
                                Declared::Length(head.content_length)
                            };
                            let next = self.start_body(head.len, declared, plan, ctx)?;
                            return Ok(if waits { Next::Continue } else { next });
                        }
                    }
                }
            }
            Receiving::Body { total, ref mut arrived } => {
                let pending = self.input.pending();
                // Body bytes are progress as they come: a slow body may
                // take longer than the request timeout, only not pause
                // for longer.
                self.progress += (pending.len() as u64).saturating_sub(u64::from(*arrived));
                *arrived = pending.len() as u32;
                let total = total as usize;
                if pending.len() < total {
                    return Ok(Next::Incomplete);
                }
                let head = head::parse(pending, &mut slots, ctx.rules, &mut ctx.hosts)?
                    .ok_or(HeadError::Malformed)?;
                let body = &pending[head.len..total];
                (head, body, total)
            }
            Receiving::Apart(ref mut rx) => {
                if rx.paused_for().is_some() {
                    return Ok(Next::Incomplete);
                }
                let used = match rx.absorb(self.input.pending(), &mut ctx.body_pool) {
                    Ok(used) => used,
                    Err(status) => return refuse_body(rx, status, ctx, app).map(|()| Next::Refused),
                };
                self.input.consume(used);
                self.progress += used as u64;
                if !rx.is_complete() {
                    // The sink says whether the worker reads on.
                    if let Err(status) = rx.ready(|| app.body_waker(ctx)) {
                        return refuse_body(rx, status, ctx, app).map(|()| Next::Refused);
                    }
                    return Ok(Next::Incomplete);
                }
                if let Some(sink) = rx.take_sink() {
                    let answered = answer_streamed(rx, sink, ctx, app)?;
                    self.progress += 1;
                    self.end_request(ctx);
                    return Ok(Next::Answered(answered));
                }
                (reparse(rx.head(), &mut slots, ctx.rules)?, rx.body(), 0)
            }
        };
        let answered = app.answer(head, body, ctx);
        self.input.consume(used);
        self.progress += 1;
        self.end_request(ctx);
        Ok(Next::Answered(answered))
    }

    /// Sends the body of the request whose `head_len` bytes of head are at
    /// the front of the read buffer where `plan` says. Out of line: the
    /// common path has no body to start.
    #[inline(never)]
    fn start_body<H, R>(
        &mut self,
        head_len: usize,
        declared: Declared,
        plan: Plan,
        ctx: &mut Ctx<H>,
    ) -> Result<Next<R>, StatusCode> {
        let head = &self.input.pending()[..head_len];
        let rx = match (plan, declared) {
            (Plan::Buffer, Declared::Length(length))
                if (head_len as u64).saturating_add(length) <= ctx.in_pool.buf_size() as u64 =>
            {
                let arrived = self.input.pending().len() as u32;
                self.receiving = Receiving::Body { total: (head_len as u64 + length) as u32, arrived };
                return Ok(Next::Incomplete);
            }
            (Plan::Stream(sink), _) => {
                let reads = ctx.in_pool.buf_size();
                BodyRx::start_streaming(head, declared, sink, reads, &mut ctx.body_pool)?
            }
            _ => BodyRx::start(head, declared, ctx.max_body, &mut ctx.body_pool)?,
        };
        self.input.consume(head_len);
        self.receiving = Receiving::Apart(ctx.body_rx.boxed(rx));
        Ok(Next::Started)
    }

    /// Empty lines before a request are ignored (the lexer skips them
    /// too): dropped now, so a connection that sent only those is idle,
    /// and a slow head is scanned from its request line.
    fn skip_empty_lines(&mut self, bare_lf: bool) {
        let pending = self.input.pending();
        let skip = head::leading_empty_lines(pending, bare_lf);
        // A partial empty line (a lone CR) is looked at whole next time:
        // scanning for the head's end from it would take the empty lines
        // for that end.
        let partial_line = matches!(pending.get(skip), Some(b'\r' | b'\n'));
        let scanned = if partial_line { 0 } else { pending.len() - skip };
        self.input.consume(skip);
        self.receiving = Receiving::Head { scanned };
    }

    /// Back to awaiting a head, returning a body buffer if one is held.
    #[inline(always)]
    fn end_request<H>(&mut self, ctx: &mut Ctx<H>) {
        // The common case, a head that came whole: nothing to undo, and
        // no call.
        if !matches!(self.receiving, Receiving::Head { scanned: 0 }) {
            self.end_request_apart(ctx);
        }
    }

    /// `end_request` after a head that came in parts, or a body.
    #[inline(never)]
    fn end_request_apart<H>(&mut self, ctx: &mut Ctx<H>) {
        match std::mem::replace(&mut self.receiving, Receiving::Head { scanned: 0 }) {
            Receiving::Apart(rx) => ctx.body_rx.unboxed(rx).release(&mut ctx.body_pool),
            Receiving::Head { .. } | Receiving::Body { .. } => {}
        }
    }
}

/// Parses the head at the front of `pending` if it is whole; `scanned`
/// bytes of it are known to hold no head end.
fn parse_head<'b, H>(
    pending: &'b [u8],
    scanned: usize,
    at_eof: bool,
    slots: &'b mut HeaderSlots<'b>,
    ctx: &mut Ctx<H>,
) -> Result<Option<Head<'b>>, HeadError> {
    if scanned == 0 {
        // Fast path: the whole head usually arrives in one read.
        return head::parse(pending, slots, ctx.rules, &mut ctx.hosts);
    }
    // A slow head: look at the new bytes only, parse once it ended.
    match head::find_end(pending, scanned) {
        // No more bytes will come: what came may be malformed already,
        // which the client hears as it would have had it all come at once.
        None if at_eof => head::parse(pending, slots, ctx.rules, &mut ctx.hosts).map(|_| None),
        None => Ok(None),
        Some(end) => Ok(Some(
            head::parse(&pending[..end], slots, ctx.rules, &mut ctx.hosts)?.ok_or(HeadError::Malformed)?,
        )),
    }
}

/// Has `app` answer the request whose body went to `sink`, once it is
/// whole. Out of the way of the common path.
#[cold]
#[inline(never)]
fn answer_streamed<H, A: Answer<H>>(
    rx: &BodyRx,
    sink: Box<dyn BodySink>,
    ctx: &mut Ctx<H>,
    app: &mut A,
) -> Result<A::Out, StatusCode> {
    let mut slots = head::header_slots();
    let head = reparse(rx.head(), &mut slots, ctx.rules)?;
    Ok(app.answer_streamed(head, sink, ctx))
}

/// Has `app` refuse, with `status`, the request whose body could not be
/// taken in, its head at hand.
#[cold]
#[inline(never)]
fn refuse_body<H, A: Answer<H>>(
    rx: &BodyRx,
    status: StatusCode,
    ctx: &mut Ctx<H>,
    app: &mut A,
) -> Result<(), StatusCode> {
    let mut slots = head::header_slots();
    let head = reparse(rx.head(), &mut slots, ctx.rules).map_err(|_| status)?;
    app.refuse(head, status, ctx);
    Ok(())
}

/// The head of a request whose body was received apart, parsed again: it
/// was valid when it arrived. Out of the way of the common path.
#[cold]
#[inline(never)]
fn reparse<'b>(
    head: &'b [u8],
    slots: &'b mut HeaderSlots<'b>,
    rules: head::Rules,
) -> Result<Head<'b>, HeadError> {
    head::parse(head, slots, rules, &mut HostMemo::new())?.ok_or(HeadError::Malformed)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::config::Config;

    /// A worker context whose read buffers hold `read_buffer` bytes.
    fn ctx(read_buffer: usize) -> Ctx<()> {
        Ctx::new(&Config::new().workers(1).read_buffer_size(read_buffer), Arc::new(()), Arc::default(), None)
    }

    /// Adds `bytes` to what `incoming` received.
    fn receive(incoming: &mut Incoming, mut bytes: &[u8], ctx: &mut Ctx<()>) {
        while !bytes.is_empty() {
            incoming.read_from(&mut bytes, &mut ctx.in_pool).unwrap();
        }
    }

    /// Buffers every body; answers with the body.
    struct Buffered;

    impl Answer<()> for Buffered {
        type Out = Vec<u8>;
        fn intake(&mut self, _: &Head<'_>, _: &mut Ctx<()>) -> Plan {
            Plan::Buffer
        }
        fn answer(&mut self, _: Head<'_>, body: &[u8], _: &mut Ctx<()>) -> Vec<u8> {
            body.to_vec()
        }
        fn answer_streamed(&mut self, _: Head<'_>, _: Box<dyn BodySink>, _: &mut Ctx<()>) -> Vec<u8> {
            panic!("buffered bodies only")
        }
        fn refuse(&mut self, _: Head<'_>, _: StatusCode, _: &mut Ctx<()>) {}
        fn body_waker(&mut self, _: &mut Ctx<()>) -> BodyWaker {
            unreachable!("no sinks here")
        }
    }

    /// What `next` makes of the input, the body of an answered request
    /// as its value.
    fn next(incoming: &mut Incoming, ctx: &mut Ctx<()>) -> Next<Vec<u8>> {
        incoming.next(ctx, &mut Buffered).unwrap()
    }

    #[test]
    fn empty_lines_and_heads_are_not_progress() {
        let mut ctx = ctx(4096);
        let mut incoming = Incoming::new();
        receive(&mut incoming, b"\r\n\r\n\r", &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Incomplete));
        assert_eq!(incoming.pending(), b"\r", "the whole empty lines are dropped");
        receive(&mut incoming, b"\nGET / HTTP/1.1\r\nHo", &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Incomplete));
        assert_eq!(incoming.progress(), 0, "empty lines and part of a head moved nothing on");
        receive(&mut incoming, b"st: x\r\n\r\n", &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Answered(body) if body.is_empty()));
        assert_eq!(incoming.progress(), 1);
        assert!(incoming.between_requests());
    }

    #[test]
    fn a_body_apart_progresses_by_its_bytes_not_by_its_head() {
        let mut ctx = ctx(4096);
        let mut incoming = Incoming::new();
        receive(&mut incoming, b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Started));
        assert!(incoming.pending().is_empty(), "the head went apart with its body");
        assert_eq!(incoming.progress(), 0, "moving the head is not progress");
        receive(&mut incoming, b"5\r\nhello\r\n", &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Incomplete));
        assert_eq!(incoming.progress(), 10, "the chunk's bytes were taken");
        receive(&mut incoming, b"0\r\n\r\nGET", &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Answered(body) if body == b"hello"));
        assert_eq!(incoming.pending(), b"GET", "the next request stays");
    }

    #[test]
    fn continue_is_asked_for_once_when_no_body_byte_came() {
        let mut ctx = ctx(4096);
        let mut incoming = Incoming::new();
        let head = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
        receive(&mut incoming, head, &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Continue));
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Incomplete), "asked once");
        receive(&mut incoming, b"abc", &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Answered(body) if body == b"abc"));
        // With its body already there, no 100 Continue.
        let mut with_body = head.to_vec();
        with_body.extend_from_slice(b"a");
        receive(&mut incoming, &with_body, &mut ctx);
        assert!(matches!(next(&mut incoming, &mut ctx), Next::Incomplete));
    }
}
