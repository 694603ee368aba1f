//! Server-sent events: `GET /events` is an endless `text/event-stream` of
//! ticks, `id: N` / `data: tick N`, one a second (`--interval-ms`), each
//! stream on a thread of its own; `GET /` is a page whose `EventSource`
//! lists the ticks it receives.
//!
//! - A reconnecting client sends the id of the last event it got as
//!   `Last-Event-ID`: its new stream goes on from the next tick (a missing
//!   or unreadable id starts at 1).
//! - `GET /events?limit=K` ends the stream properly after K events, which
//!   the browser takes as a dropped connection: it reconnects with
//!   `Last-Event-ID`. The page passes its own query on, so
//!   `/?limit=3` shows a reconnect every 3 ticks, with no tick lost or
//!   repeated. The first event of every stream carries `retry: 500`, so the
//!   browser reconnects half a second later (its default is 3 s or more).
//! - While a stream is quiet (a long `--interval-ms`), the server sends a
//!   `: keep-alive` comment every 15 s
//!   ([`Config::event_stream_keep_alive`](peregrine::Config::event_stream_keep_alive)).
//! - A stream's thread sleeps with `wait_cancelled`, so it ends as soon as
//!   its client leaves, not at its next tick.
//!
//! ```sh
//! cargo run --release --example sse -- --port 8080
//! # then open http://127.0.0.1:8080/ (or /?limit=3), or:
//! curl -N http://127.0.0.1:8080/events
//! curl -N -H 'Last-Event-ID: 41' 'http://127.0.0.1:8080/events?limit=3'
//! ```
//!
//! Flags: `--port`, `--workers`, `--ip`, `--interval-ms N` (default 1000).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peregrine::sse::{self, Event, EventStream};
use peregrine::{Handler, Method, Request, Response, StatusCode};

#[path = "support/args.rs"]
mod args;

/// The page: its `EventSource` appends each tick to `#log` as
/// `<li data-id="N">tick N</li>` and counts its connections (`open` events)
/// in `<body data-opens>` and the title.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>ticks</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 40em; margin: 2em auto; }
  #status { color: #555; }
  #log { font-family: ui-monospace, monospace; }
</style>
</head>
<body data-opens="0">
<h1>Server-sent events</h1>
<p id="status">connecting…</p>
<ul id="log"></ul>
<script>
  "use strict";
  const status = document.getElementById('status');
  const log = document.getElementById('log');
  // The page's query goes on to the stream: /?limit=3 → /events?limit=3.
  const source = new EventSource('/events' + location.search);
  let opens = 0;
  source.addEventListener('open', () => {
    opens += 1;
    document.body.dataset.opens = String(opens);
    document.title = `ticks (${opens} connection${opens === 1 ? '' : 's'})`;
    status.textContent = opens === 1 ? 'connected' : `connected (reconnected ${opens - 1}×)`;
  });
  source.addEventListener('message', (e) => {
    const li = document.createElement('li');
    li.textContent = e.data;
    li.dataset.id = e.lastEventId;
    log.append(li);
  });
  source.addEventListener('error', () => {
    status.textContent = source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting…';
  });
</script>
</body>
</html>
"#;

/// Sent with the first event of each stream: how long the client waits
/// before it reconnects.
const RETRY: Duration = Duration::from_millis(500);

/// The tick handler. Public because tests/browser_sse.rs includes this
/// file as a module, to serve it to a browser and to raw sockets.
pub struct Ticks {
    /// Time between two ticks of a stream.
    interval: Duration,
    /// Streams whose thread is still running.
    pub open: Arc<AtomicUsize>,
}

impl Ticks {
    pub fn new(interval: Duration) -> Self {
        Ticks { interval, open: Arc::new(AtomicUsize::new(0)) }
    }
}

impl Handler for Ticks {
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match (req.method(), req.path()) {
            (Method::Get | Method::Head, "/") => {
                res.header("Content-Type", "text/html; charset=utf-8").body_static(PAGE.as_bytes());
            }
            (Method::Head, "/events") => {
                // The head a GET gets; the stream ends unsent.
                drop(EventStream::start(res));
            }
            (Method::Get, "/events") => {
                // `?limit=K`, K ≥ 1: end the stream after K events.
                let limit = match req.query().get("limit") {
                    None => None,
                    Some(k) => match k.raw().parse::<u64>() {
                        Ok(k) if k > 0 => Some(k),
                        _ => {
                            res.status(StatusCode::BAD_REQUEST)
                                .header("Content-Type", "text/plain")
                                .body_static(b"limit=K, K >= 1\n");
                            return;
                        }
                    },
                };
                let first = sse::last_event_id(req)
                    .and_then(|id| id.trim().parse::<u64>().ok())
                    .and_then(|id| id.checked_add(1))
                    .unwrap_or(1);
                let events = EventStream::start(res);
                let (interval, open) = (self.interval, Arc::clone(&self.open));
                open.fetch_add(1, Ordering::Relaxed);
                let spawned = std::thread::Builder::new().name("sse-ticks".into()).spawn(move || {
                    let (how, sent) = tick(events, first, limit, interval);
                    let left = open.fetch_sub(1, Ordering::Relaxed) - 1;
                    eprintln!("stream from tick {first}: {how} after {sent} events ({left} open)");
                });
                if let Err(e) = spawned {
                    // The stream was dropped with the closure: the client
                    // sees its connection closed, and reconnects later.
                    self.open.fetch_sub(1, Ordering::Relaxed);
                    eprintln!("error: no thread for a stream: {e}");
                }
            }
            (_, "/" | "/events") => {
                res.status(StatusCode::METHOD_NOT_ALLOWED).header("Allow", "GET, HEAD");
            }
            _ => {
                res.status(StatusCode::NOT_FOUND)
                    .header("Content-Type", "text/plain")
                    .body_static(b"not found\n");
            }
        }
    }
}

/// Sends ticks `first`, `first + 1`, … `interval` apart, until `limit`
/// were sent (then finishes the stream) or the client leaves; returns how
/// it ended and how many were sent.
fn tick(mut events: EventStream, first: u64, limit: Option<u64>, interval: Duration) -> (&'static str, u64) {
    let mut n = first;
    let mut sent = 0;
    loop {
        let (id, data) = (n.to_string(), format!("tick {n}"));
        let mut event = Event::new(&data).id(&id);
        if sent == 0 {
            event = event.retry(RETRY);
        }
        if events.send(&event).is_err() {
            return ("cancelled (client gone)", sent);
        }
        sent += 1;
        if limit == Some(sent) || n == u64::MAX {
            events.finish();
            return ("finished", sent);
        }
        if events.wait_cancelled(interval) {
            return ("cancelled (client gone)", sent);
        }
        n += 1;
    }
}

fn main() {
    let args = args::parse(8080, &["--interval-ms"]);
    let interval_ms: u64 = args.extra("--interval-ms").map_or(1000, |v| args::number("--interval-ms", v));
    if interval_ms == 0 {
        eprintln!("error: --interval-ms must be at least 1");
        std::process::exit(2);
    }
    args::serve(args.config(), Ticks::new(Duration::from_millis(interval_ms)));
}
