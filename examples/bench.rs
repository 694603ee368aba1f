//! The loadbench contract (benches/loadbench): `GET /plaintext` →
//! `Hello, World!`, `GET /big` → 6150 bytes (`'a' + i % 26`), anything
//! else → 404. Headers and `Date` are built per request.
//!
//! Beside the contract, `GET /deferred` answers what `/plaintext` does
//! through a [`Responder`](peregrine::Responder) that another thread
//! completes at once: the cost of a response completed off the worker,
//! which `benches/load.sh` sets beside `/plaintext`.
//!
//! ```sh
//! cargo run --release --example bench -- --port 8080 --workers 1
//! cargo run --release --example bench -- --port 8080 --workers 1 --access-log /tmp/access.log
//! ```

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::OnceLock;

use peregrine::{Field, Request, Responder, Response, StatusCode};

#[path = "support/args.rs"]
mod args;
#[path = "support/big.rs"]
mod big;

use big::BIG;

// Fixed headers, checked at compile time and copied into each response.
const SERVER: Field = Field::new("Server", "peregrine");
const TEXT: Field = Field::new("Content-Type", "text/plain");

fn bench(req: &Request<'_>, res: &mut Response<'_>) {
    res.field(&SERVER);
    match req.path() {
        "/plaintext" => {
            res.field(&TEXT).body_static(b"Hello, World!");
        }
        "/big" => {
            res.field(&TEXT).body_static(&BIG);
        }
        "/deferred" => defer(res),
        _ => {
            res.status(StatusCode::NOT_FOUND);
        }
    }
}

/// Where `/deferred` requests go to be completed.
static COMPLETER: OnceLock<SyncSender<Responder>> = OnceLock::new();

// Kept out of `bench`, so the contract's routes compile as they did
// without it.
#[cold]
#[inline(never)]
fn defer(res: &mut Response<'_>) {
    res.field(&TEXT);
    let responder = res.defer();
    let Some(completer) = COMPLETER.get() else { return };
    if let Err(TrySendError::Full(mut responder) | TrySendError::Disconnected(mut responder)) =
        completer.try_send(responder)
    {
        responder.status(StatusCode::SERVICE_UNAVAILABLE);
        responder.send(());
    }
}

/// The thread that completes `/deferred` requests, as soon as they come.
fn complete(responders: Receiver<Responder>) {
    for responder in responders {
        responder.send(&b"Hello, World!"[..]);
    }
}

fn main() {
    let args = args::parse(8080, &["--accept-threads", "--defer-accept", "--access-log"]);
    let mut config = args.config();
    if let Some(n) = args.extra("--accept-threads") {
        config = config.accept_threads(args::number("--accept-threads", n));
    }
    if let Some(on) = args.extra("--defer-accept") {
        config = config.defer_accept(args::number("--defer-accept", on));
    }
    if let Some(path) = args.extra("--access-log") {
        // Combined, appended to PATH: what the access log costs.
        let file = std::fs::OpenOptions::new().create(true).append(true).open(path);
        let file = file.unwrap_or_else(|e| {
            eprintln!("error: --access-log {path}: {e}");
            std::process::exit(2)
        });
        config = config.access_log(peregrine::AccessLog::to_writer(peregrine::LogFormat::Combined, file));
    }
    let (tx, rx) = sync_channel(4096);
    COMPLETER.set(tx).ok();
    std::thread::spawn(move || complete(rx));
    args::serve(config, bench);
}
