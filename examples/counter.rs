//! Every request → `counter=N`, N counting up from 0 across all workers.
//!
//! ```sh
//! cargo run --release --example counter            # port 3000
//! curl localhost:3000                               # counter=0
//! ```

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use peregrine::{Handler, Request, Response};

#[path = "support/args.rs"]
mod args;

struct Counter(AtomicU64);

impl Handler for Counter {
    fn handle(&self, _req: &Request<'_>, res: &mut Response<'_>) {
        let n = self.0.fetch_add(1, Ordering::Relaxed);
        res.header("Content-Type", "text/plain");
        // Writing into the response's buffer cannot fail.
        let _ = writeln!(res, "counter={n}");
    }
}

fn main() {
    let args = args::parse(3000, &[]);
    args::serve(args.config(), Counter(AtomicU64::new(0)));
}
