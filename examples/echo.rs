//! Any method, any path → 200 with the request's body, and its
//! `Content-Type` copied. Bodies up to `--max-body BYTES` (default 16 MiB),
//! Content-Length or chunked; a larger declared body gets 413 before it is
//! read.
//!
//! ```sh
//! cargo run --release --example echo -- --port 8080
//! curl --data-binary @some-file localhost:8080/ | cmp - some-file
//! ```

use peregrine::{Request, Response};

#[path = "support/args.rs"]
mod args;

fn echo(req: &Request<'_>, res: &mut Response<'_>) {
    if let Some(content_type) = req.header("content-type") {
        res.header("Content-Type", content_type);
    }
    res.body(req.body());
}

fn main() {
    let args = args::parse(8080, &["--max-body"]);
    let max_body = args.extra("--max-body").map_or(16 << 20, |v| args::number("--max-body", v));
    args::serve(args.config().max_body_size(max_body), echo);
}
