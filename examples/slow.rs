//! Responses that take time, answered from threads of the application's
//! own while the worker goes on serving:
//!
//! - `GET /slow?ms=N` → `slept N ms` after N ms (0 ≤ N ≤ 60000), from a
//!   pool of threads; the request is deferred, so a thousand of them
//!   pending hold no worker;
//! - `GET /fast` → `fast`, at once;
//! - `GET /stream?n=K` → K chunks `chunk 0\n` … `chunk K-1\n`, 10 ms apart
//!   (K ≤ 100000), as a chunked body;
//! - `GET /flood?mb=N` → N MiB (N ≤ 4096) as fast as the client takes them,
//!   written by a thread of its own that blocks while the stream's buffer
//!   is full: a client that reads slowly, or not at all, holds about
//!   `stream_buffer_size` of the server's memory, not N MiB
//!   (`benches/stream_memory.sh` measures it).
//!
//! A request whose client leaves is cancelled: its timer is dropped and
//! nothing is sent.
//!
//! ```sh
//! cargo run --release --example slow -- --port 8080
//! curl 'http://127.0.0.1:8080/slow?ms=1500'
//! curl -N 'http://127.0.0.1:8080/stream?n=20'
//! ```

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use peregrine::{Field, Request, Responder, Response, StatusCode, Stream};

#[path = "support/args.rs"]
mod args;

const TEXT: Field = Field::new("Content-Type", "text/plain");
const MAX_MS: u64 = 60_000;
const MAX_CHUNKS: u64 = 100_000;
const CHUNK_GAP: Duration = Duration::from_millis(10);
/// What `/flood` sends, 16 KiB at a time.
static FLOOD_BLOCK: [u8; 16 * 1024] = [b'x'; 16 * 1024];
/// Threads that complete the responses.
const POOL_THREADS: usize = 4;

/// Work to do at a given time.
enum Job {
    /// Answer a deferred `/slow`.
    Answer(Responder, u64),
    /// Send chunk `i` of `n` of a `/stream`.
    Chunk(Stream, u64, u64),
}

/// A job, ordered by when it is due (earliest first in a max-heap).
struct Due(Instant, u64, Job);

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.0, self.1) == (other.0, other.1)
    }
}
impl Eq for Due {}
impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Due {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.0, other.1).cmp(&(self.0, self.1))
    }
}

/// One timer thread holding every pending job, and a pool of threads that
/// carry them out when they are due.
struct Scheduler {
    queue: Mutex<(BinaryHeap<Due>, u64)>,
    changed: Condvar,
    pool: Mutex<Sender<Job>>,
}

impl Scheduler {
    fn start() -> Arc<Scheduler> {
        let (tx, rx) = mpsc::channel();
        let scheduler = Arc::new(Scheduler {
            queue: Mutex::new((BinaryHeap::new(), 0)),
            changed: Condvar::new(),
            pool: Mutex::new(tx),
        });
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..POOL_THREADS {
            let (rx, scheduler) = (Arc::clone(&rx), Arc::clone(&scheduler));
            std::thread::spawn(move || scheduler.work(&rx));
        }
        let timer = Arc::clone(&scheduler);
        std::thread::spawn(move || timer.tick());
        scheduler
    }

    fn at(&self, when: Instant, job: Job) {
        let mut q = self.queue.lock().unwrap();
        let seq = q.1;
        q.1 += 1;
        q.0.push(Due(when, seq, job));
        self.changed.notify_one();
    }

    /// The timer thread: hands each job to the pool when it is due.
    fn tick(&self) {
        let mut q = self.queue.lock().unwrap();
        loop {
            let now = Instant::now();
            match q.0.peek() {
                Some(Due(when, ..)) if *when <= now => {
                    let Due(_, _, job) = q.0.pop().unwrap();
                    let _ = self.pool.lock().unwrap().send(job);
                }
                Some(Due(when, ..)) => {
                    let wait = *when - now;
                    q = self.changed.wait_timeout(q, wait).unwrap().0;
                }
                None => q = self.changed.wait(q).unwrap(),
            }
        }
    }

    /// A pool thread.
    fn work(&self, jobs: &Mutex<Receiver<Job>>) {
        loop {
            let job = match jobs.lock().unwrap().recv() {
                Ok(job) => job,
                Err(_) => return,
            };
            match job {
                // A cancelled request needs no answer (sending would be
                // harmless, and is skipped).
                Job::Answer(responder, _) if responder.is_cancelled() => {}
                Job::Answer(responder, ms) => responder.send(format!("slept {ms} ms")),
                Job::Chunk(mut stream, i, n) => {
                    if stream.send(format!("chunk {i}\n").as_bytes()).is_err() {
                        continue; // the client left
                    }
                    if i + 1 == n {
                        stream.finish();
                    } else {
                        self.at(Instant::now() + CHUNK_GAP, Job::Chunk(stream, i + 1, n));
                    }
                }
            }
        }
    }
}

/// The number in `?name=N`, if it is there and at most `max`.
fn param(req: &Request<'_>, name: &str, max: u64) -> Option<u64> {
    req.query().get(name)?.raw().parse().ok().filter(|&n| n <= max)
}

fn main() {
    let args = args::parse(8080, &[]);
    let scheduler = Scheduler::start();
    let handler = move |req: &Request<'_>, res: &mut Response<'_>| {
        res.field(&TEXT);
        match req.path() {
            "/fast" => {
                res.body_static(b"fast");
            }
            "/slow" => match param(req, "ms", MAX_MS) {
                Some(ms) => {
                    let responder = res.defer();
                    scheduler.at(Instant::now() + Duration::from_millis(ms), Job::Answer(responder, ms));
                }
                None => {
                    res.status(StatusCode::BAD_REQUEST).body_static(b"ms=N, 0 <= N <= 60000\n");
                }
            },
            "/flood" => match param(req, "mb", 4096) {
                Some(mb) => {
                    let mut stream = res.stream();
                    std::thread::spawn(move || {
                        for _ in 0..mb * 64 {
                            if stream.send(&FLOOD_BLOCK).is_err() {
                                return; // the client left, or stopped reading for write_timeout
                            }
                        }
                        stream.finish();
                    });
                }
                None => {
                    res.status(StatusCode::BAD_REQUEST).body_static(b"mb=N, 0 <= N <= 4096\n");
                }
            },
            "/stream" => match param(req, "n", MAX_CHUNKS) {
                Some(0) => {
                    res.stream().finish();
                }
                Some(n) => {
                    let stream = res.stream();
                    scheduler.at(Instant::now(), Job::Chunk(stream, 0, n));
                }
                None => {
                    res.status(StatusCode::BAD_REQUEST).body_static(b"n=K, 0 <= K <= 100000\n");
                }
            },
            _ => {
                res.status(StatusCode::NOT_FOUND).body_static(b"not found\n");
            }
        }
    };
    args::serve(args.config(), handler);
}
