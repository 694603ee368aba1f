//! Serves a directory: `--root DIR` (default: the small site in
//! `examples/site`), with sendfile, validators and ranges.
//!
//! ```sh
//! cargo run --release --example dirserver -- --port 8080 --root ./public
//! ```

use peregrine::{DirServer, Request, Response};

#[path = "support/args.rs"]
mod args;

fn main() {
    let args = args::parse(8080, &["--root"]);
    let root = args.extra("--root").unwrap_or(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/site"));
    let site = match DirServer::new(root) {
        Ok(site) => site,
        Err(e) => {
            eprintln!("error: cannot serve {root}: {e}");
            std::process::exit(1);
        }
    };
    println!("serving {}", site.root().display());
    args::serve(args.config(), move |req: &Request<'_>, res: &mut Response<'_>| site.serve(req, res));
}
