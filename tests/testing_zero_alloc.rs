//! Zero allocations per request, asserted through `peregrine::testing`:
//! no socket, no thread, the same connection code. One test in this file,
//! so nothing else allocates meanwhile; with the access log on as well.

use std::io::Write;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use peregrine::testing::TestClient;
use peregrine::{AccessLog, Config, LogFormat, Request, Response};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

fn app(req: &Request<'_>, res: &mut Response<'_>) {
    match req.path() {
        "/echo" => {
            res.body(req.body());
        }
        _ => {
            res.header("Content-Type", "text/plain");
            let _ = write!(res, "q={}", req.query().get("q").map_or("", |q| q.raw()));
        }
    }
}

const REQUESTS: &[u8] = b"GET /?q=1 HTTP/1.1\r\nHost: x\r\n\r\n\
POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello\
POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n\
HEAD / HTTP/1.1\r\nHost: x\r\n\r\n";

fn round(client: &mut TestClient<fn(&Request<'_>, &mut Response<'_>)>) {
    client.send(REQUESTS);
    let written = client.written();
    assert!(written.ends_with(b"\r\n\r\n"), "the HEAD answer is last");
    assert_eq!(written.windows(15).filter(|w| w == b"HTTP/1.1 200 OK").count(), 4);
    client.clear_written();
}

/// Allocations over 1,000 rounds (4,000 requests), after 100 to warm up.
fn allocations_once_warm(client: &mut TestClient<fn(&Request<'_>, &mut Response<'_>)>) -> usize {
    for _ in 0..100 {
        round(client);
    }
    let before = allocations();
    for _ in 0..1000 {
        round(client);
    }
    allocations() - before
}

#[test]
fn serving_allocates_nothing_through_the_test_client() {
    let app: fn(&Request<'_>, &mut Response<'_>) = app;
    let mut client = TestClient::new(app);
    let n = allocations_once_warm(&mut client);
    assert_eq!(n, 0, "{n} allocations while serving 4,000 requests");
    assert!(client.is_open());

    // With the access log on, too (a writer that only counts its lines).
    let lines = Arc::new(AtomicUsize::new(0));
    let log = AccessLog::to_writer(LogFormat::Combined, Lines(Arc::clone(&lines)));
    let mut client = TestClient::with_config(Config::new().access_log(log), app);
    let n = allocations_once_warm(&mut client);
    assert_eq!(n, 0, "{n} allocations while serving and logging 4,000 requests");
    assert_eq!(lines.load(Ordering::Relaxed), 4400, "a line per response");
}

/// Counts the lines written to it, keeping none.
struct Lines(Arc<AtomicUsize>);

impl Write for Lines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.fetch_add(buf.iter().filter(|&&b| b == b'\n').count(), Ordering::Relaxed);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
