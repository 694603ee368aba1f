//! The access log: one line per response, Common or Combined, with the
//! time taken; escaping; refused requests; lines from several workers
//! never mixed.

use std::io::Write;
use std::sync::{Arc, Mutex};

use peregrine::testing::TestClient;
use peregrine::{AccessLog, Config, LogFormat, Request, Response, StatusCode};

mod support;
use support::{request, TestServer};

/// A writer the test reads back.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn lines(&self) -> Vec<String> {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap().lines().map(str::to_owned).collect()
    }
}

fn app(req: &Request<'_>, res: &mut Response<'_>) {
    match req.path() {
        "/missing" => {
            res.status(StatusCode::NOT_FOUND);
        }
        "/ws" => {
            // Not a WEBSOCKETS handler: the server answers 500 instead.
            let _ = peregrine::ws::upgrade(req, res);
        }
        "/later" => {
            let responder = res.defer();
            std::thread::spawn(move || responder.send("late"));
        }
        _ => {
            res.body(b"hello world");
        }
    }
}

/// Splits a line into its fields: the parts outside quotes and brackets
/// by spaces, each quoted or bracketed part whole.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while !rest.is_empty() {
        let (field, after) = match rest.as_bytes()[0] {
            b'"' => {
                let end = rest[1..].find('"').unwrap() + 2;
                (&rest[..end], &rest[end..])
            }
            b'[' => {
                let end = rest.find(']').unwrap() + 1;
                (&rest[..end], &rest[end..])
            }
            _ => rest.split_at(rest.find(' ').unwrap_or(rest.len())),
        };
        out.push(field.to_owned());
        rest = after.trim_start();
    }
    out
}

#[test]
fn combined_lines_say_who_asked_what_and_how_it_went() {
    let out = Shared::default();
    let config = Config::new().access_log(AccessLog::to_writer(LogFormat::Combined, out.clone()));
    let mut client = TestClient::with_config(config, app);
    client.request("GET", "/a?x=1", &[("User-Agent", "curl/8.5.0"), ("Referer", "http://r/")], b"");
    client.request("HEAD", "/a", &[], b"");
    client.request("GET", "/missing", &[("User-Agent", "evil\" 1.2.3.4 - -")], b"");
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let f = fields(&lines[0]);
    assert_eq!(f.len(), 10, "{f:?}");
    assert_eq!(&f[..3], ["127.0.0.1", "-", "-"]);
    assert!(f[3].starts_with('[') && f[3].ends_with(" +0000]") && f[3].len() == 28, "{}", f[3]);
    assert_eq!(&f[4..9], ["\"GET /a?x=1 HTTP/1.1\"", "200", "11", "\"http://r/\"", "\"curl/8.5.0\""]);
    assert!(f[9].parse::<u64>().is_ok(), "time taken in µs: {}", f[9]);
    let f = fields(&lines[1]);
    assert_eq!(&f[4..9], ["\"HEAD /a HTTP/1.1\"", "200", "-", "\"-\"", "\"-\""]);
    let f = fields(&lines[2]);
    assert_eq!(&f[4..6], ["\"GET /missing HTTP/1.1\"", "404"]);
    assert_eq!(f[8], "\"evil\\x22 1.2.3.4 - -\"", "a client cannot close the quote");
}

#[test]
fn common_lines_refusals_and_answers_given_later() {
    let out = Shared::default();
    let config = Config::new().access_log(AccessLog::to_writer(LogFormat::Common, out.clone()));
    let mut client = TestClient::with_config(config, app);
    client.send(b"GET /later HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(client.wait_response(std::time::Duration::from_secs(5)).unwrap().text(), "late");
    assert_eq!(client.upgrade("/ws").status, 500);
    let mut client = TestClient::with_config(
        Config::new().access_log(AccessLog::to_writer(LogFormat::Common, out.clone())),
        app,
    );
    client.send(b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
    assert_eq!(client.response().unwrap().status, 400);
    let lines = out.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let f = fields(&lines[0]);
    assert_eq!(f.len(), 8, "Common has no referer or user agent: {f:?}");
    assert_eq!(&f[4..7], ["\"GET /later HTTP/1.1\"", "200", "-"], "logged when handed on");
    let f = fields(&lines[1]);
    assert_eq!(&f[4..6], ["\"GET /ws HTTP/1.1\"", "500"], "the status sent, not the 101 asked for");
    let f = fields(&lines[2]);
    assert_eq!(&f[4..7], ["\"-\"", "400", "-"], "refused before its head was accepted");
}

#[test]
fn lines_from_every_worker_arrive_whole() {
    let out = Shared::default();
    let config = Config::new().workers(2).access_log(AccessLog::to_writer(LogFormat::Combined, out.clone()));
    let server = TestServer::start(config, app);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let addr = server.addr;
            std::thread::spawn(move || {
                for i in 0..50 {
                    let mut s = std::net::TcpStream::connect(addr).unwrap();
                    let raw = format!("GET /t{t}/{i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                    let res = support::roundtrip(&mut s, raw.as_bytes());
                    assert_eq!(res.status, 200);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let _ = request(&server, b"GET /last HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert!(server.stop().is_ok());
    let lines = out.lines();
    assert_eq!(lines.len(), 201, "a line per response, flushed by the end");
    for t in 0..4 {
        for i in 0..50 {
            let want = format!("\"GET /t{t}/{i} HTTP/1.1\" 200 11 ");
            assert_eq!(lines.iter().filter(|l| l.contains(&want)).count(), 1, "{want}");
        }
    }
    assert!(lines.iter().all(|l| fields(l).len() == 10), "a mixed line");
}

/// Records what reaches the `log` facade under the access log's target.
struct Capture(Mutex<Vec<String>>);

impl log::Log for Capture {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.target() == "peregrine::access"
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) && record.level() == log::Level::Info {
            self.0.lock().unwrap().push(record.args().to_string());
        }
    }

    fn flush(&self) {}
}

static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));

#[test]
fn lines_can_go_through_the_log_facade() {
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Info);
    let config = Config::new().access_log(AccessLog::to_log(LogFormat::Common));
    let mut client = TestClient::with_config(config, app);
    client.get("/facade");
    let lines = CAPTURE.0.lock().unwrap().clone();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("\"GET /facade HTTP/1.1\" 200 11 "), "{}", lines[0]);
}

#[test]
fn a_quiet_server_writes_its_lines_without_waiting_for_more() {
    let out = Shared::default();
    let config = Config::new().workers(1).access_log(AccessLog::to_writer(LogFormat::Common, out.clone()));
    let server = TestServer::start(config, app);
    let res = request(&server, b"GET /quiet HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(res.status, 200);
    // The worker wakes for the waiting line (100 ms), though nothing else
    // happens: no request, no timer due for seconds.
    assert!(support::eventually(|| out.lines().len() == 1), "the line never came: {:?}", out.lines());
    assert!(out.lines()[0].contains("\"GET /quiet HTTP/1.1\" 200 11 "));
    assert!(server.stop().is_ok());
}

/// A writer that blocks until released, as a pipe nobody reads does.
#[derive(Clone, Default)]
struct Stuck {
    released: Arc<(Mutex<bool>, std::sync::Condvar)>,
    out: Shared,
}

impl Stuck {
    fn release(&self) {
        *self.released.0.lock().unwrap() = true;
        self.released.1.notify_all();
    }
}

impl Write for Stuck {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let (released, wake) = &*self.released;
        let _unblocked = wake.wait_while(released.lock().unwrap(), |r| !*r).unwrap();
        self.out.write(buf)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A writer that blocks holds up the log's own thread, never a worker:
/// requests are answered while it is stuck (batches beyond the queue are
/// dropped), and the server stops without waiting for it.
#[test]
fn a_writer_that_blocks_holds_up_no_worker() {
    let stuck = Stuck::default();
    let config =
        Config::new().workers(1).access_log(AccessLog::to_writer(LogFormat::Combined, stuck.clone()));
    let server = TestServer::start(config, app);
    let mut s = server.connect();
    // Lines of about 2 KiB: a batch of 32 KiB every 16 requests, so
    // 6,000 requests make far more batches than may wait (128).
    let agent = "a".repeat(2000);
    let raw = format!("GET /r HTTP/1.1\r\nHost: x\r\nUser-Agent: {agent}\r\n\r\n");
    for i in 0..6000 {
        let res = support::roundtrip(&mut s, raw.as_bytes());
        assert_eq!((res.status, res.body.as_slice()), (200, &b"hello world"[..]), "request {i}");
    }
    drop(s);
    assert!(server.stop().is_ok(), "the server stops while its log is stuck");
    // Released, the thread writes what was queued: whole lines, fewer
    // than were made.
    stuck.release();
    assert!(support::eventually(|| !stuck.out.lines().is_empty()), "the queued lines never came");
    let lines = stuck.out.lines();
    assert!(lines.len() < 6000, "every line was kept, so none could have been dropped");
    assert!(
        lines.iter().all(|l| fields(l).len() == 10 && l.contains("\"GET /r HTTP/1.1\" 200 11 ")),
        "a broken line"
    );
}
