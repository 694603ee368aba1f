//! Headless Chromium driven over the DevTools protocol (a WebSocket,
//! spoken with tungstenite), for the browser tests: every wait is bounded
//! in real time, which `--dump-dom` with `--virtual-time-budget` cannot do
//! for pages whose scripts wait on a socket. Included by those tests with
//! `#[path = "support/browser.rs"] mod browser;`; each uses part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tungstenite::Message;

use crate::support::{CHROMIUM_FLAGS, WAIT};

/// The longest the browser may take for any one step (start, load,
/// connect, show a message); generous, for a loaded 2-core machine.
pub const BROWSER_WAIT: Duration = Duration::from_secs(60);

pub type Ws = tungstenite::WebSocket<TcpStream>;

/// A WebSocket client with bounded waits.
pub fn ws_connect(url: &str) -> Ws {
    let authority = url.strip_prefix("ws://").and_then(|r| r.split('/').next()).expect("a ws:// URL");
    let s = TcpStream::connect(authority).unwrap_or_else(|e| panic!("connect to {url}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.set_write_timeout(Some(WAIT)).unwrap();
    match tungstenite::client::client(url, s) {
        Ok((ws, _)) => ws,
        Err(e) => panic!("WebSocket handshake with {url} failed: {e}"),
    }
}

/// The next text message (pings are answered by tungstenite on the way).
pub fn recv_text(ws: &mut Ws) -> String {
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return t.as_str().to_owned(),
            Ok(Message::Ping(_) | Message::Pong(_)) => {}
            Ok(other) => panic!("expected a text message, got {other:?}"),
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// A headless Chromium with its DevTools endpoint; killed (by its pid) and
/// its profile removed on drop, so a failing test leaves nothing behind.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    /// The DevTools port and the browser endpoint's path.
    port: u16,
    browser_path: String,
}

impl Browser {
    /// Starts Chromium on `url` with an ephemeral DevTools port (its
    /// profile named after `name`), and waits until it has written that
    /// port down.
    pub fn start(binary: &Path, url: &str, name: &str) -> Browser {
        let profile = std::env::temp_dir().join(format!("peregrine-{name}-chromium-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        let child = Command::new(binary)
            .args(CHROMIUM_FLAGS)
            .args(["--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0"])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg(url)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut browser = Browser { child, profile, port: 0, browser_path: String::new() };
        // Chromium writes "PORT\n/devtools/browser/ID" once it listens.
        let file = browser.profile.join("DevToolsActivePort");
        let (port, path) = browser.wait_for("the DevTools port", || {
            let text = std::fs::read_to_string(&file).ok()?;
            let (port, path) = text.split_once('\n')?;
            let path = path.trim();
            // Both lines, not a half-written file.
            (!path.is_empty()).then_some(())?;
            Some((port.trim().parse::<u16>().ok()?, path.to_owned()))
        });
        (browser.port, browser.browser_path) = (port, path);
        browser
    }

    /// Polls `f` every 50 ms until it gives a value; panics if Chromium
    /// exits or `BROWSER_WAIT` passes first.
    pub fn wait_for<T>(&mut self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("chromium exited ({status}) while waiting for {what}");
            }
            assert!(Instant::now() < deadline, "no {what} within {BROWSER_WAIT:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The DevTools endpoint of the tab showing `url`, once it exists.
    pub fn page(&mut self, url: &str) -> Devtools {
        let port = self.port;
        let ws_url = self.wait_for("the page's DevTools target", || {
            let list = http_get(port, "/json/list")?;
            // One object per target: find ours by its URL, take its endpoint.
            list.split('{').find(|t| t.contains(&format!("\"url\": \"{url}\""))).and_then(|t| {
                let key = "\"webSocketDebuggerUrl\": \"";
                let at = t.find(key)? + key.len();
                Some(t[at..].split('"').next()?.to_owned())
            })
        });
        Devtools { ws: ws_connect(&ws_url), next_id: 1 }
    }

    /// Asks Chromium to close, then waits (bounded) for it to exit.
    pub fn close(mut self) {
        let url = format!("ws://127.0.0.1:{}{}", self.port, self.browser_path);
        if let Ok(s) = TcpStream::connect(("127.0.0.1", self.port)) {
            s.set_read_timeout(Some(WAIT)).unwrap();
            if let Ok((mut ws, _)) = tungstenite::client::client(url, s) {
                let _ = ws.send(Message::text(r#"{"id":1,"method":"Browser.close"}"#));
            }
        }
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        // Drop kills it if it is still running.
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// `GET path` on the DevTools HTTP endpoint; the body, if it answered 200.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(WAIT)).unwrap();
    // The endpoints it lists are built from this Host, port included.
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n").as_bytes()).ok()?;
    // Chromium keeps the connection open: read by Content-Length.
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        raw.extend_from_slice(&chunk[..n]);
        let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = std::str::from_utf8(&raw[..end]).ok()?;
        if !head.starts_with("HTTP/1.1 200") {
            return None;
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.split_once(':').filter(|(n, _)| n.eq_ignore_ascii_case("content-length")))?
            .1
            .trim()
            .parse()
            .ok()?;
        if raw.len() >= end + 4 + len {
            return String::from_utf8(raw[end + 4..end + 4 + len].to_vec()).ok();
        }
    }
}

/// One tab's DevTools session.
pub struct Devtools {
    ws: Ws,
    next_id: u64,
}

impl Devtools {
    /// Evaluates `expression` in the page; returns the raw JSON reply.
    pub fn evaluate(&mut self, expression: &str) -> String {
        let params = format!(r#"{{"expression":{},"returnByValue":true}}"#, json_string(expression));
        self.call("Runtime.evaluate", &params)
    }

    /// Calls DevTools' `method` with `params` (a JSON object); returns the
    /// raw JSON reply.
    pub fn call(&mut self, method: &str, params: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let request = format!(r#"{{"id":{id},"method":"{method}","params":{params}}}"#);
        self.ws.send(Message::text(request)).expect("send to DevTools");
        // Replies carry the request's id; anything else is an event.
        let mine = format!("{{\"id\":{id},");
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            let reply = recv_text(&mut self.ws);
            if reply.starts_with(&mine) {
                return reply;
            }
            assert!(Instant::now() < deadline, "no reply to {method} within {BROWSER_WAIT:?}");
        }
    }

    /// The page as Chromium draws it, as PNG bytes: all of the viewport,
    /// or the rectangle `(x, y, width, height)` in CSS pixels.
    pub fn screenshot(&mut self, clip: Option<(f64, f64, f64, f64)>) -> Vec<u8> {
        let params = match clip {
            None => r#"{"format":"png"}"#.to_owned(),
            Some((x, y, width, height)) => format!(
                r#"{{"format":"png","clip":{{"x":{x},"y":{y},"width":{width},"height":{height},"scale":1}}}}"#
            ),
        };
        let reply = self.call("Page.captureScreenshot", &params);
        let key = r#""data":""#;
        let at = reply.find(key).unwrap_or_else(|| panic!("no screenshot: {reply:.200}")) + key.len();
        let data = reply[at..].split('"').next().unwrap();
        base64_decode(data)
    }

    /// Evaluates `condition` every 50 ms until it is `true`; panics after
    /// `BROWSER_WAIT`, showing `context` (another expression) evaluated.
    pub fn wait_until(&mut self, condition: &str, context: &str) {
        let deadline = Instant::now() + BROWSER_WAIT;
        loop {
            let reply = self.evaluate(condition);
            if reply.contains(r#""value":true"#) {
                return;
            }
            if Instant::now() > deadline {
                let seen = self.evaluate(context);
                panic!("{condition} not true within {BROWSER_WAIT:?}; last reply {reply}; page: {seen}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Evaluates `expression`, which must give a string without quotes or
    /// backslashes, and returns that string.
    pub fn evaluate_string(&mut self, expression: &str) -> String {
        let reply = self.evaluate(expression);
        let key = r#""value":""#;
        let at =
            reply.find(key).unwrap_or_else(|| panic!("{expression} gave no string: {reply}")) + key.len();
        reply[at..].split('"').next().unwrap().to_owned()
    }
}

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c < ' ' => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Standard base64 (with padding), as DevTools sends binary data.
fn base64_decode(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut bits, mut count) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64") as u32;
        bits = bits << 6 | v;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
        }
    }
    out
}
