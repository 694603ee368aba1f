//! The Prometheus text exposition format, version 0.0.4: one family per
//! figure, one sample per thread that keeps it (label `thread`), so a
//! query sums over threads for the server's total.

use std::io::{self, Write};

use super::{Counters, Metrics, Timeout, ERROR_STATUSES};

/// The `Content-Type` of [`Metrics::write_prometheus`]'s text.
pub const PROMETHEUS_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The threads a family has samples for.
#[derive(Clone, Copy)]
enum Kept {
    ByWorkers,
    ByWebSocketThreads,
}

/// One family: its name, `# HELP`, `# TYPE`, who keeps it, its value.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    kept: Kept,
    value: fn(&Counters) -> u64,
}

const FAMILIES: &[Family] = &[
    Family {
        name: "peregrine_connections_accepted_total",
        help: "Connections taken in by the workers.",
        kind: "counter",
        kept: Kept::ByWorkers,
        value: Counters::connections_accepted,
    },
    Family {
        name: "peregrine_connections_open",
        help: "Connections open now.",
        kind: "gauge",
        kept: Kept::ByWorkers,
        value: Counters::connections_open,
    },
    Family {
        name: "peregrine_requests_total",
        help: "Responses sent, the server's own errors included.",
        kind: "counter",
        kept: Kept::ByWorkers,
        value: Counters::requests,
    },
    Family {
        name: "peregrine_received_bytes_total",
        help: "Bytes read from HTTP clients.",
        kind: "counter",
        kept: Kept::ByWorkers,
        value: Counters::bytes_in,
    },
    Family {
        name: "peregrine_sent_bytes_total",
        help: "Bytes written to HTTP clients.",
        kind: "counter",
        kept: Kept::ByWorkers,
        value: Counters::bytes_out,
    },
    Family {
        name: "peregrine_upgrades_total",
        help: "Connections upgraded to WebSocket.",
        kind: "counter",
        kept: Kept::ByWorkers,
        value: Counters::upgrades,
    },
    Family {
        name: "peregrine_deferred_pending",
        help: "Deferred and streamed responses not yet complete.",
        kind: "gauge",
        kept: Kept::ByWorkers,
        value: Counters::deferred_pending,
    },
    Family {
        name: "peregrine_pool_bytes",
        help: "Bytes of free buffers the worker's pools hold (sampled once a second).",
        kind: "gauge",
        kept: Kept::ByWorkers,
        value: Counters::pool_bytes,
    },
    Family {
        name: "peregrine_websockets_open",
        help: "WebSocket connections open now.",
        kind: "gauge",
        kept: Kept::ByWebSocketThreads,
        value: Counters::websockets_open,
    },
    Family {
        name: "peregrine_websocket_messages_received_total",
        help: "WebSocket messages received, after reassembly.",
        kind: "counter",
        kept: Kept::ByWebSocketThreads,
        value: Counters::websocket_messages_in,
    },
    Family {
        name: "peregrine_websocket_messages_sent_total",
        help: "WebSocket messages sent.",
        kind: "counter",
        kept: Kept::ByWebSocketThreads,
        value: Counters::websocket_messages_out,
    },
];

pub fn write(metrics: &Metrics, out: &mut impl Write) -> io::Result<()> {
    for family in FAMILIES {
        header(out, family.name, family.help, family.kind)?;
        each_thread(metrics, family.kept, |thread, c| {
            writeln!(out, "{}{{thread=\"{thread}\"}} {}", family.name, (family.value)(c))
        })?;
    }
    let name = "peregrine_connections_refused_total";
    header(out, name, "Connections turned away with 503: the server was full.", "counter")?;
    each_thread(metrics, Kept::ByWorkers, |thread, c| {
        writeln!(out, "{name}{{thread=\"{thread}\"}} {}", c.connections_refused())
    })?;
    let acceptors = metrics.inner.refused_by_acceptors.load(std::sync::atomic::Ordering::Relaxed);
    writeln!(out, "{name}{{thread=\"accept\"}} {acceptors}")?;
    let name = "peregrine_responses_total";
    header(out, name, "Responses sent, by status class.", "counter")?;
    each_thread(metrics, Kept::ByWorkers, |thread, c| {
        (1..=5).try_for_each(|class| {
            writeln!(out, "{name}{{thread=\"{thread}\",class=\"{class}xx\"}} {}", c.responses(class))
        })
    })?;
    let name = "peregrine_errors_total";
    header(out, name, "Error responses the server made itself, by status.", "counter")?;
    each_thread(metrics, Kept::ByWorkers, |thread, c| {
        ERROR_STATUSES.iter().try_for_each(|&status| {
            writeln!(out, "{name}{{thread=\"{thread}\",status=\"{status}\"}} {}", c.errors(status))
        })
    })?;
    let name = "peregrine_timeouts_total";
    header(out, name, "Connections that timed out, by what they were waiting for.", "counter")?;
    each_thread(metrics, Kept::ByWorkers, |thread, c| {
        Timeout::ALL.iter().try_for_each(|&kind| {
            writeln!(out, "{name}{{thread=\"{thread}\",kind=\"{}\"}} {}", kind.name(), c.timeouts(kind))
        })
    })
}

fn header(out: &mut impl Write, name: &str, help: &str, kind: &str) -> io::Result<()> {
    writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}")
}

/// Calls `f` with each keeping thread's label value and counters.
fn each_thread(
    metrics: &Metrics,
    kept: Kept,
    mut f: impl FnMut(ThreadName, &Counters) -> io::Result<()>,
) -> io::Result<()> {
    match kept {
        Kept::ByWorkers => (0..metrics.workers())
            .try_for_each(|i| f(ThreadName("worker", i), &metrics.worker(i).unwrap_or_default())),
        Kept::ByWebSocketThreads => (0..metrics.websocket_threads())
            .try_for_each(|i| f(ThreadName("ws", i), &metrics.websocket_thread(i).unwrap_or_default())),
    }
}

/// `worker-3`, written without a `String`.
#[derive(Clone, Copy)]
struct ThreadName(&'static str, usize);

impl std::fmt::Display for ThreadName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.0, self.1)
    }
}
