//! A real browser loads the bundled site through DirServer, with its
//! precompressed CSS and JS on (as `dirserver --precompressed` serves it):
//! headless Chromium must run the page's script, which reads back a colour
//! set by the stylesheet, so both the JS and the CSS really loaded — and
//! decoded, as the server sends Chromium (which accepts `br`) the Brotli
//! variants.
//!
//! Ignored by a plain `cargo test`, which lists it as ignored: it needs
//! Chromium (`$PEREGRINE_CHROMIUM` or `/usr/bin/chromium`), and fails
//! saying how to install it when run without one. `.ci/run` installs
//! Debian's `chromium` and runs it with
//! `cargo test --test browser --test browser_chat --test browser_sse -- --ignored`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peregrine::{DirServer, Request, Response};

mod support;
use support::{chromium, TestServer, CHROMIUM_FLAGS};

#[test]
#[ignore = "needs Chromium; run with: cargo test --test browser --test browser_chat --test browser_sse --test browser_dashboard -- --ignored"]
fn chromium_loads_the_site_with_its_css_and_js() {
    let browser = chromium();
    let site = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/site");
    let dir = Arc::new(DirServer::new(site).unwrap().precompressed(true));
    let server = TestServer::with(move |req: &Request<'_>, res: &mut Response<'_>| dir.serve(req, res));
    let profile = std::env::temp_dir().join(format!("peregrine-chromium-{}", std::process::id()));
    let mut child = Command::new(browser)
        .args(CHROMIUM_FLAGS)
        .arg("--virtual-time-budget=5000")
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(format!("http://{}/", server.addr))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("chromium did not finish within 90 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_dir_all(&profile);
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(dom.contains(r#"data-loaded="yes""#), "the script did not run: {dom}");
    assert!(dom.contains("js ran; h1 color rgb(12, 34, 56)"), "the stylesheet did not apply: {dom}");
    // What Chromium was sent for them: the Brotli variants (it sends
    // `Accept-Encoding: gzip, deflate, br, zstd`).
    for path in ["/style.css", "/app.js"] {
        let raw =
            format!("GET {path} HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip, deflate, br, zstd\r\n\r\n");
        let res = support::request(&server, raw.as_bytes());
        assert_eq!((res.status, res.header("Content-Encoding")), (200, Some("br")), "{path}");
    }
}
