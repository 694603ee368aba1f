//! Serves a directory: `--root DIR` (default: the small site in
//! `examples/site`), with sendfile, validators and ranges;
//! `--precompressed` answers from `x.br` / `x.gz` beside `x` when the client
//! takes them (the bundled site has both for its CSS and JS);
//! `--cache-control VALUE` sets `Cache-Control` on every file, and
//! fingerprinted names (`app.3f9a2c1e.js`) get `immutable` with it.
//!
//! ```sh
//! cargo run --release --example dirserver -- --port 8080 --root ./public
//! cargo run --release --example dirserver -- --precompressed --cache-control 'max-age=60'
//! ```

use std::io::Write as _;

use peregrine::{DirServer, Request, Response};

#[path = "support/args.rs"]
mod args;

fn main() {
    let args = args::parse_with_switches(8080, &["--root", "--cache-control"], &["--precompressed"]);
    let root = args.extra("--root").unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/site"));
    let site = match DirServer::new(root) {
        Ok(site) => site.precompressed(args.switch("--precompressed")),
        Err(e) => {
            eprintln!("error: cannot serve {root}: {e}");
            std::process::exit(1);
        }
    };
    let site = match args.extra("--cache-control") {
        Some(value) if value.bytes().all(|b| (b' '..=b'~').contains(&b)) && !value.trim().is_empty() => {
            site.cache_control(value).immutable_fingerprinted(true)
        }
        Some(value) => {
            eprintln!("error: --cache-control {value:?}: printable ASCII only");
            std::process::exit(2);
        }
        None => site,
    };
    let _ = writeln!(std::io::stdout(), "serving {}", site.root().display());
    args::serve(args.config(), move |req: &Request<'_>, res: &mut Response<'_>| site.serve(req, res));
}
