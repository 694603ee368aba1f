//! A live dashboard of the server's own counters (`peregrine::metrics`):
//! `GET /` is a page that plots requests per second, open connections per
//! worker and error responses per second, fed by `GET /events`, a stream
//! of server-sent events carrying a JSON snapshot every `--interval-ms`
//! (default 500). `GET /metrics` is the same counters for Prometheus.
//!
//! Beside it, the application being watched: the load-test contract of
//! `benches/load.sh` (`GET /plaintext`, `GET /big`), so a load run shows
//! up on the page.
//!
//! ```sh
//! cargo run --release --example dashboard -- --port 18480 --workers 2
//! # open http://127.0.0.1:18480/ , then put it under load:
//! EXAMPLE=dashboard WORKERS=2 bash benches/load.sh
//! curl http://127.0.0.1:18480/metrics
//! ```
//!
//! Flags: `--port`, `--workers`, `--ip`, `--interval-ms N`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use peregrine::metrics::PROMETHEUS_CONTENT_TYPE;
use peregrine::sse::{Event, EventStream};
use peregrine::{Handler, Metrics, Request, Response, StatusCode};

#[path = "support/args.rs"]
mod args;
#[path = "support/big.rs"]
mod big;

use big::BIG;

/// The page: three line charts drawn on canvases from the snapshots the
/// stream brings; rates are differences between two snapshots. The
/// number of points drawn is in `<body data-points>`, for tests.
const PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>peregrine dashboard</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1.5em; background: #fafafa; color: #222; }
  .chart { display: inline-block; margin: 0 1em 1em 0; vertical-align: top; }
  .chart h2 { font-size: 1em; margin: 0 0 .3em; }
  canvas { background: #fff; border: 1px solid #ccc; }
  #status { color: #555; }
  .legend span { margin-right: 1em; }
</style>
</head>
<body data-points="0">
<h1>peregrine</h1>
<p id="status">connecting…</p>
<div class="chart"><h2>requests / s <span id="rps"></span></h2><canvas id="requests" width="480" height="200"></canvas></div>
<div class="chart"><h2>open connections per worker</h2><canvas id="open" width="480" height="200"></canvas>
  <div class="legend" id="legend"></div></div>
<div class="chart"><h2>error responses / s (4xx, 5xx)</h2><canvas id="errors" width="480" height="200"></canvas></div>
<script>
  "use strict";
  const KEEP = 120;
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
  const series = { requests: [[]], open: [], errors: [[], []] };
  let last = null;
  let points = 0;

  function push(list, value) { list.push(value); if (list.length > KEEP) list.shift(); }

  // Draws each series of `lines` as a polyline, scaled to the largest value.
  function draw(id, lines) {
    const canvas = document.getElementById(id);
    const g = canvas.getContext('2d');
    g.clearRect(0, 0, canvas.width, canvas.height);
    const max = Math.max(1, ...lines.flat());
    g.fillStyle = '#888';
    g.font = '11px sans-serif';
    g.fillText(String(Math.round(max)), 4, 12);
    lines.forEach((values, i) => {
      g.strokeStyle = COLORS[i % COLORS.length];
      g.lineWidth = 2;
      g.beginPath();
      values.forEach((v, x) => {
        const px = x * (canvas.width - 1) / (KEEP - 1);
        const py = canvas.height - 2 - v * (canvas.height - 16) / max;
        if (x === 0) g.moveTo(px, py); else g.lineTo(px, py);
      });
      g.stroke();
    });
  }

  const source = new EventSource('/events');
  source.addEventListener('open', () => { document.getElementById('status').textContent = 'live'; });
  source.addEventListener('error', () => { document.getElementById('status').textContent = 'reconnecting…'; });
  source.addEventListener('message', (e) => {
    const now = JSON.parse(e.data);
    while (series.open.length < now.open.length) series.open.push([]);
    now.open.forEach((n, i) => push(series.open[i], n));
    if (last) {
      const secs = Math.max(0.001, (now.t - last.t) / 1000);
      const rps = (now.requests - last.requests) / secs;
      push(series.requests[0], rps);
      push(series.errors[0], (now.r4 - last.r4) / secs);
      push(series.errors[1], (now.r5 - last.r5) / secs);
      document.getElementById('rps').textContent = `(${Math.round(rps)})`;
      points += 1;
      document.body.dataset.points = String(points);
    }
    last = now;
    document.getElementById('legend').innerHTML = now.open
      .map((_, i) => `<span style="color:${COLORS[i % COLORS.length]}">worker ${i}</span>`).join('');
    draw('requests', series.requests);
    draw('open', series.open);
    draw('errors', series.errors);
  });
</script>
</body>
</html>
"#;

/// The dashboard and the application it watches. Public because
/// tests/browser_dashboard.rs includes this file, to serve it to Chromium.
#[derive(Clone)]
pub struct Dashboard {
    metrics: Metrics,
    interval: Duration,
    started: Instant,
}

impl Dashboard {
    /// A dashboard of `metrics` (give the same handle to
    /// [`Config::metrics`](peregrine::Config::metrics)), a snapshot every
    /// `interval`.
    pub fn new(metrics: Metrics, interval: Duration) -> Self {
        Dashboard { metrics, interval, started: Instant::now() }
    }

    /// A snapshot as JSON: milliseconds since start, requests, 4xx and 5xx
    /// responses, and the connections open in each worker.
    fn snapshot(&self) -> String {
        let total = self.metrics.total();
        let mut json = format!(
            r#"{{"t":{},"requests":{},"r4":{},"r5":{},"open":["#,
            self.started.elapsed().as_millis(),
            total.requests(),
            total.responses(4),
            total.responses(5)
        );
        for i in 0..self.metrics.workers() {
            let open = self.metrics.worker(i).map_or(0, |w| w.connections_open());
            let _ = write!(json, "{}{open}", if i == 0 { "" } else { "," });
        }
        json.push_str("]}");
        json
    }

    fn stream(&self, res: &mut Response<'_>) {
        let mut events = EventStream::start(res);
        let dashboard = self.clone();
        let spawned = std::thread::Builder::new().name("dashboard-events".into()).spawn(move || loop {
            if events.send(&Event::new(&dashboard.snapshot())).is_err()
                || events.wait_cancelled(dashboard.interval)
            {
                return; // the page went away
            }
        });
        if let Err(e) = spawned {
            eprintln!("error: no thread for a stream: {e}");
        }
    }
}

impl Handler for Dashboard {
    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match req.path() {
            "/plaintext" => {
                res.header("Content-Type", "text/plain").body_static(b"Hello, World!");
            }
            "/big" => {
                res.header("Content-Type", "text/plain").body_static(&BIG);
            }
            "/" => {
                res.header("Content-Type", "text/html; charset=utf-8").body_static(PAGE.as_bytes());
            }
            "/events" => self.stream(res),
            "/metrics" => {
                res.header("Content-Type", PROMETHEUS_CONTENT_TYPE);
                let _ = self.metrics.write_prometheus(res);
            }
            _ => {
                res.status(StatusCode::NOT_FOUND)
                    .header("Content-Type", "text/plain")
                    .body_static(b"not found\n");
            }
        }
    }
}

fn main() {
    let args = args::parse(8080, &["--interval-ms"]);
    let interval_ms: u64 = args.extra("--interval-ms").map_or(500, |v| args::number("--interval-ms", v));
    if interval_ms == 0 {
        eprintln!("error: --interval-ms must be at least 1");
        std::process::exit(2);
    }
    let metrics = Metrics::new();
    let config = args.config().metrics(&metrics);
    args::serve(config, Dashboard::new(metrics, Duration::from_millis(interval_ms)));
}
