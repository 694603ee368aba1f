//! TechEmpower-style plaintext: any GET or HEAD → `Hello, World!` with
//! `Content-Type`, `Server` and `Date`; other methods → 405.
//!
//! ```sh
//! cargo run --release --example hello -- --port 8080
//! ```

use peregrine::{Method, Request, Response, StatusCode};

#[path = "support/args.rs"]
mod args;

fn hello(req: &Request<'_>, res: &mut Response<'_>) {
    res.header("Server", "peregrine");
    match req.method() {
        Method::Get | Method::Head => {
            res.header("Content-Type", "text/plain").body_static(b"Hello, World!");
        }
        _ => {
            res.status(StatusCode::METHOD_NOT_ALLOWED).header("Allow", "GET, HEAD");
        }
    }
}

fn main() {
    let args = args::parse(8080, &[]);
    args::serve(args.config(), hello);
}
