//! The loadbench contract (../shared/loadbench): `GET /plaintext` →
//! `Hello, World!`, `GET /big` → 6150 bytes (`'a' + i % 26`), anything
//! else → 404. Headers and `Date` are built per request.
//!
//! ```sh
//! cargo run --release --example bench -- --port 8080 --workers 1
//! ```

use peregrine::{Field, Request, Response, StatusCode};

#[path = "support/args.rs"]
mod args;

const BIG_LEN: usize = 6150;

static BIG: [u8; BIG_LEN] = {
    let mut body = [0u8; BIG_LEN];
    let mut i = 0;
    while i < BIG_LEN {
        body[i] = b'a' + (i % 26) as u8;
        i += 1;
    }
    body
};

// Fixed headers, checked at compile time and copied into each response.
const SERVER: Field = Field::new("Server", "peregrine");
const TEXT: Field = Field::new("Content-Type", "text/plain");

fn bench(req: &Request<'_>, res: &mut Response<'_>) {
    res.field(&SERVER);
    match req.path() {
        "/plaintext" => res.field(&TEXT).body_static(b"Hello, World!"),
        "/big" => res.field(&TEXT).body_static(&BIG),
        _ => res.status(StatusCode::NOT_FOUND),
    };
}

fn main() {
    let args = args::parse(8080, &["--accept-threads"]);
    let mut config = args.config();
    if let Some(n) = args.extra("--accept-threads") {
        config = config.accept_threads(args::number("--accept-threads", n));
    }
    args::serve(config, bench);
}
