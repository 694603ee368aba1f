//! The server's counters (`peregrine::metrics`): what a known mix of
//! requests, errors, timeouts and WebSocket messages leaves in them, read
//! through a handle a handler holds, summed over workers; and the
//! Prometheus text, checked line by line here and read by real scrapers
//! (`curl`, Python's `prometheus_client`) in an ignored test that
//! `.ci/run` runs.

use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

use peregrine::metrics::{Timeout, PROMETHEUS_CONTENT_TYPE};
use peregrine::ws::{self, Message, WebSocket};
use peregrine::{Config, Error, Handler, Metrics, Request, Response, Server, StatusCode};

mod support;
use support::ws::{client, recv, send};
use support::{eventually, request, TestServer};
use tungstenite::Message as WsMessage;

/// An application with `/metrics` beside it, and a WebSocket echo.
struct App {
    metrics: Metrics,
}

impl Handler for App {
    const WEBSOCKETS: bool = true;

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match req.path() {
            "/metrics" => {
                res.header("Content-Type", PROMETHEUS_CONTENT_TYPE);
                self.metrics.write_prometheus(res).expect("the response takes the text");
            }
            "/ws" => {
                let _ = ws::upgrade(req, res);
            }
            "/missing" => {
                res.status(StatusCode::NOT_FOUND);
            }
            "/panic" => panic!("a handler failing on purpose"),
            _ => {
                res.body(b"hello");
            }
        }
    }

    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        if let Message::Text(t) = msg {
            let _ = ws.send_text(t);
        }
    }
}

fn start(config: Config) -> (TestServer, Metrics) {
    let metrics = Metrics::new();
    let server = TestServer::start(config.metrics(&metrics), App { metrics: metrics.clone() });
    (server, metrics)
}

fn get(server: &TestServer, path: &str) -> u16 {
    request(server, format!("GET {path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n").as_bytes()).status
}

#[test]
fn a_known_mix_of_traffic_is_counted() {
    let (server, metrics) = start(Config::new().workers(2).request_timeout(Duration::from_millis(300)));
    assert_eq!(metrics.workers(), 2);
    for _ in 0..5 {
        assert_eq!(get(&server, "/"), 200);
    }
    assert_eq!(get(&server, "/missing"), 404);
    assert_eq!(get(&server, "/panic"), 500);
    assert_eq!(request(&server, b"GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n").status, 400);
    let big = b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 99999999999\r\n\r\n";
    assert_eq!(request(&server, big).status, 413);
    // A request that never ends: 408 and a request timeout.
    let mut slow = server.connect();
    slow.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    // A connection held open.
    let mut held = server.connect();
    held.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut buf = [0u8; 256];
    assert!(held.read(&mut buf).unwrap() > 0);

    // The closed ones close, lingering a little after their error; each
    // worker publishes its counts within 10 ms.
    let settled = || {
        let t = metrics.total();
        t.connections_open() == 1 && t.requests() == 11 && t.timeouts(Timeout::Request) == 1
    };
    assert!(eventually(settled), "{:?}", metrics.total());
    let total = metrics.total();
    assert_eq!(total.connections_accepted(), 11, "{total:?}");
    assert_eq!(total.requests(), 11, "{total:?}");
    assert_eq!(total.responses(2), 6);
    assert_eq!(total.responses(4), 4, "404, 400, 413, 408");
    assert_eq!(total.responses(5), 1);
    assert_eq!((total.errors(400), total.errors(408), total.errors(413), total.errors(500)), (1, 1, 1, 1));
    assert_eq!(total.errors(404), 0, "a handler's 404 is not the server's error");
    assert_eq!(total.timeouts(Timeout::Request), 1);
    assert!(total.bytes_in() > 11 * 25 && total.bytes_out() > 11 * 60, "{total:?}");
    // The workers' figures add up to the total.
    let by_worker: u64 = (0..2).map(|i| metrics.worker(i).unwrap().requests()).sum();
    assert_eq!(by_worker, total.requests());
    assert!(metrics.worker(2).is_none());
    drop(held);
    assert!(eventually(|| metrics.total().connections_open() == 0));
    server.stop().unwrap();
}

#[test]
fn websocket_threads_count_connections_and_messages() {
    let (server, metrics) = start(Config::new().workers(1).websocket_threads(2));
    let mut ws = client(&server);
    for text in ["one", "two", "three"] {
        send(&mut ws, WsMessage::text(text));
        assert_eq!(recv(&mut ws), WsMessage::text(text));
    }
    let settled = || metrics.total().websocket_messages_out() == 3;
    assert!(eventually(settled), "{:?}", metrics.total());
    let total = metrics.total();
    assert_eq!(total.upgrades(), 1);
    assert_eq!(total.websockets_open(), 1);
    assert_eq!((total.websocket_messages_in(), total.websocket_messages_out()), (3, 3));
    assert_eq!(total.connections_open(), 0, "the worker handed the connection over");
    drop(ws);
    assert!(eventually(|| metrics.total().websockets_open() == 0));
    server.stop().unwrap();
}

#[test]
fn a_handle_counts_for_one_server() {
    let metrics = Metrics::new();
    let config = || Config::new().addr(([127, 0, 0, 1], 0).into()).metrics(&metrics);
    let first = Server::bind(config(), |_: &Request<'_>, _: &mut Response<'_>| {}).unwrap();
    match Server::bind(config(), |_: &Request<'_>, _: &mut Response<'_>| {}) {
        Err(Error::Config(msg)) => assert!(msg.contains("Metrics"), "{msg}"),
        other => panic!("a second server on one handle: {:?}", other.map(|_| ())),
    }
    assert_eq!(first.metrics().workers(), metrics.workers());
}

/// Every line of the text is a `# HELP`, a `# TYPE` or a sample of the
/// family last typed, with a valid name, labels and an integer value
/// (the 0.0.4 text format); the families and samples are the expected
/// ones.
#[test]
fn the_prometheus_text_is_well_formed() {
    let (server, _metrics) = start(Config::new().workers(2).websocket_threads(1));
    assert_eq!(get(&server, "/"), 200);
    let res = request(&server, b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(res.header("content-type"), Some(PROMETHEUS_CONTENT_TYPE));
    let text = String::from_utf8(res.body.clone()).unwrap();
    let mut family = String::new();
    let mut families = Vec::new();
    let mut samples = 0;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            family = rest.split(' ').next().unwrap().to_string();
            assert!(valid_name(&family), "{line}");
            families.push(family.clone());
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap();
            assert_eq!(name, family);
            assert!(matches!(kind, "counter" | "gauge"), "{line}");
            assert_eq!(kind == "counter", name.ends_with("_total"), "{line}");
        } else {
            let (series, value) = line.rsplit_once(' ').expect("a sample");
            value.parse::<u64>().unwrap_or_else(|_| panic!("value of {line:?}"));
            let (name, labels) = series.split_once('{').expect("labelled");
            assert_eq!(name, family, "{line}");
            let labels = labels.strip_suffix('}').unwrap();
            for label in labels.split(',') {
                let (k, v) = label.split_once('=').unwrap();
                assert!(valid_name(k) && v.starts_with('"') && v.ends_with('"'), "{line}");
            }
            samples += 1;
        }
    }
    assert_eq!(families.len(), 15, "{families:?}");
    // 11 simple families: 8 by two workers, 3 by one WebSocket thread;
    // refused: two workers and the acceptors; 5 classes, 10 statuses and
    // 4 timeout kinds by two workers.
    assert_eq!(samples, 8 * 2 + 3 + 3 + 2 * 5 + 2 * 10 + 2 * 4);
    server.stop().unwrap();
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `curl` fetches `/metrics`, Python's `prometheus_client` parses it:
/// every family and sample is read without error, and the requests it
/// reports add up to what was sent. Needs both (`.ci/run` installs them;
/// `$PEREGRINE_PYTHON` names a Python that has the module).
#[test]
#[ignore = "needs curl and Python's prometheus_client: .ci/run installs them and runs this"]
fn real_scrapers_read_every_metric() {
    let (server, metrics) = start(Config::new().workers(2).websocket_threads(1));
    for _ in 0..7 {
        assert_eq!(get(&server, "/"), 200);
    }
    // Published (within 10 ms) before the scrape reads them.
    assert!(eventually(|| metrics.total().requests() == 7));
    let url = format!("http://{}/metrics", server.addr);
    let curl = Command::new("curl").args(["-sSf", "--max-time", "10", &url]).output().expect("curl");
    assert!(curl.status.success(), "curl: {}", String::from_utf8_lossy(&curl.stderr));
    let python = std::env::var("PEREGRINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys
from prometheus_client.parser import text_string_to_metric_families
families = list(text_string_to_metric_families(sys.stdin.read()))
samples = [s for f in families for s in f.samples]
requests = sum(s.value for s in samples if s.name == "peregrine_requests_total")
print(len(families), len(samples), int(requests))
"#;
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{python}: {e}"));
    child.stdin.take().unwrap().write_all(&curl.stdout).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "prometheus_client: {}", String::from_utf8_lossy(&out.stderr));
    let figures: Vec<u64> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().map(|n| n.parse().unwrap()).collect();
    // The 7 requests; the scrape is counted once its text is written.
    assert_eq!(figures, [15, 60, 7], "families, samples, requests");
    server.stop().unwrap();
}

/// What the last turns count (a connection closed by the shutdown itself)
/// is published before `run` returns: read right after, with no wait.
#[test]
fn every_count_is_published_once_the_server_stops() {
    let (server, metrics) = start(Config::new().workers(2));
    let mut held = server.connect();
    held.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap();
    let mut buf = [0u8; 256];
    assert!(held.read(&mut buf).unwrap() > 0);
    server.stop().unwrap();
    let total = metrics.total();
    assert_eq!(
        (total.connections_accepted(), total.connections_open(), total.requests()),
        (1, 0, 1),
        "{total:?}"
    );
}

/// A test client counts into a handle given to its config, as a server's
/// worker and WebSocket thread would, and at once: a `/metrics` route can
/// be tested without a socket.
#[test]
fn a_test_client_counts_into_the_configs_handle() {
    use peregrine::testing::TestClient;
    let metrics = Metrics::new();
    let app = || App { metrics: metrics.clone() };
    let mut client = TestClient::with_config(Config::new().metrics(&metrics), app());
    for path in ["/", "/", "/missing"] {
        client.get(path);
    }
    let total = metrics.total();
    assert_eq!((total.requests(), total.responses(2), total.responses(4)), (3, 2, 1), "{total:?}");
    let text = client.get("/metrics").text();
    // The three before it: a request is counted once answered.
    assert!(text.contains("peregrine_requests_total{thread=\"worker-0\"} 3"), "{text}");
    assert_eq!(client.upgrade("/ws").status, 101);
    client.send_text("hi");
    assert!(client.frame().is_some(), "the echo");
    assert_eq!(metrics.total().websocket_messages_in(), 1);
    // Like a second server, a second client cannot count into the handle.
    let second = std::panic::catch_unwind(|| TestClient::with_config(Config::new().metrics(&metrics), app()));
    assert!(second.is_err(), "a handle counts for one client");
}
