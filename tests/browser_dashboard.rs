//! The dashboard example in a real browser: headless Chromium loads the
//! page while clients put the server under load; the page must draw
//! several points from the server's counters (its requests-per-second
//! line rising above zero, one open-connections line per worker), and a
//! screenshot of it is taken and must not be blank.
//!
//! The load is the test's own (keep-alive clients on `/plaintext`, each
//! bounded in time and count), not `benches/load.sh`, which needs wrk or
//! oha: the page does not care who sends the requests.
//!
//! Ignored by a plain `cargo test` (it needs Chromium, see
//! tests/browser_sse.rs); `.ci/run` runs it with the other browser tests.

use std::io::{Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine::{Config, Metrics};

mod support;
use support::{chromium, TestServer};

#[path = "support/browser.rs"]
mod browser;
use browser::Browser;

#[allow(dead_code)] // its `main` is not used here
#[path = "../examples/dashboard.rs"]
mod dashboard_example;

use dashboard_example::Dashboard;

/// Keep-alive requests for `/plaintext` until `stop`, or 60 s, or
/// 2,000,000 requests, whichever comes first.
fn load(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) {
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = b"GET /plaintext HTTP/1.1\r\nHost: a\r\n\r\n";
    let mut buf = [0u8; 4096];
    let body = b"Hello, World!";
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..2_000_000 {
        if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
            return;
        }
        s.write_all(request).unwrap();
        // Read until the response's body has come (one request at a time,
        // so it ends the bytes read).
        let mut filled = 0;
        while !buf[..filled].ends_with(body) {
            let n = s.read(&mut buf[filled..]).unwrap();
            assert!(n > 0, "the server closed the connection");
            filled += n;
        }
        assert!(buf.starts_with(b"HTTP/1.1 200"), "{:?}", String::from_utf8_lossy(&buf[..filled]));
    }
}

/// Pixels of canvas `id` that are not white, and distinct stroke colours.
fn drawn(id: &str) -> String {
    format!(
        "(() => {{ const c = document.getElementById('{id}'); \
         const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; \
         let ink = 0; const colours = new Set(); \
         for (let i = 0; i < d.length; i += 4) {{ \
           if (d[i + 3] > 0 && (d[i] < 200 || d[i + 1] < 200 || d[i + 2] < 200)) {{ ink++; \
             if (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2]) colours.add(d[i] + ',' + d[i + 1] + ',' + d[i + 2]); }} }} \
         return ink + ' ' + colours.size; }})()"
    )
}

/// A DOMRect (from `expression`) as `(x, y, width, height)`.
fn rect(page: &mut browser::Devtools, expression: &str) -> (f64, f64, f64, f64) {
    let text = page.evaluate_string(&format!(
        "(() => {{ const r = {expression}; return [r.x, r.y, r.width, r.height].join(' '); }})()"
    ));
    let v: Vec<f64> = text.split(' ').map(|n| n.parse().unwrap()).collect();
    (v[0], v[1], v[2], v[3])
}

#[test]
#[ignore = "needs Chromium; run with: cargo test --test browser --test browser_chat --test browser_sse --test browser_dashboard -- --ignored"]
fn the_dashboard_plots_a_server_under_load() {
    let binary = chromium();
    let metrics = Metrics::new();
    let config = Config::new().workers(2).metrics(&metrics);
    let server = TestServer::start(config, Dashboard::new(metrics.clone(), Duration::from_millis(200)));
    let stop = Arc::new(AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let (addr, stop) = (server.addr, Arc::clone(&stop));
            std::thread::spawn(move || load(addr, stop))
        })
        .collect();

    let url = format!("http://{}/", server.addr);
    let mut browser = Browser::start(&binary, &url, "dashboard");
    let mut page = browser.page(&url);
    let context = "document.body.dataset.points + ' ' + document.getElementById('rps').textContent";
    // The requests chart before its first point: an empty canvas.
    page.wait_until("document.getElementById('requests') !== null", context);
    let chart = rect(&mut page, "document.getElementById('requests').getBoundingClientRect()");
    let before = (page.evaluate_string("document.body.dataset.points"), page.screenshot(Some(chart)));
    page.wait_until("Number(document.body.dataset.points) >= 16", context);
    let rps = page.evaluate_string("document.getElementById('rps').textContent");
    let rps: f64 = rps.trim_matches(|c| c == '(' || c == ')').parse().unwrap_or(0.0);
    assert!(rps > 0.0, "requests per second drawn: {rps}");
    let lines = page.evaluate_string("document.getElementById('legend').textContent");
    assert_eq!(lines, "worker 0worker 1", "one line per worker");
    // Ink beyond the grey scale label (a few dozen pixels), in colour. The
    // open connections stay level under this load: two flat lines, 2 px
    // thick, over 15 of the 119 steps of a 480 px canvas, about 120 px
    // each (they may overlap).
    for (canvas, least) in [("requests", 200), ("open", 100)] {
        let seen = page.evaluate_string(&drawn(canvas));
        let (ink, colours) = seen.split_once(' ').unwrap();
        let (ink, colours): (u32, u32) = (ink.parse().unwrap(), colours.parse().unwrap());
        assert!(ink > least && colours >= 1, "canvas {canvas}: {ink} pixels drawn, {colours} colours");
    }
    let png = page.screenshot(None);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard.png");
    std::fs::write(&path, &png).unwrap();
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
    // Not blank: the requests chart, shot alone, takes far more bytes than
    // it did empty (a uniform area compresses to almost nothing).
    assert_eq!(before.0, "0", "the first shot was meant to be of an empty chart");
    let after = page.screenshot(Some(chart));
    assert!(
        after.len() > 2 * before.1.len(),
        "the chart's screenshot is {} bytes, {} when empty: blank?",
        after.len(),
        before.1.len()
    );
    println!("screenshot: {} ({} bytes); {rps} requests/s drawn", path.display(), png.len());

    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    assert!(metrics.total().requests() > 1000, "{:?}", metrics.total());
    browser.close();
    server.stop().unwrap();
}
