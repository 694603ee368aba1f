//! WebSockets: `/ws` echoes every message back to its sender; `/chat` sends
//! every message to every connected chat client; `/` is a chat page (HTML
//! and a little JS) that uses `/chat`, so a message typed in one browser tab
//! appears in every open tab.
//!
//! ```sh
//! cargo run --release --example websocket -- --port 8080
//! # then open http://127.0.0.1:8080/ in two tabs
//! ```
//!
//! Flags: `--port`, `--workers`, `--ip`, `--ws-threads N` (default 1),
//! `--max-message BYTES` (default 1 MiB).

use std::sync::Mutex;

use peregrine::ws::{self, CloseCode, Message, WebSocket};
use peregrine::{Handler, Request, Response, StatusCode};

#[path = "../support/args.rs"]
mod args;

const PAGE: &[u8] = include_bytes!("chat.html");

/// The chat and echo handler. Public because tests/browser_chat.rs
/// includes this file as a module, to serve the chat page to a browser.
#[derive(Default)]
pub struct App {
    /// The open chat connections.
    members: Mutex<Vec<WebSocket>>,
}

/// What each WebSocket endpoint's connections are tagged with.
const ECHO: u64 = 0;
const CHAT: u64 = 1;

impl Handler for App {
    const WEBSOCKETS: bool = true;

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match req.path() {
            "/" => {
                res.header("Content-Type", "text/html; charset=utf-8").body_static(PAGE);
            }
            // A bad handshake leaves `res` holding the 400 or 426.
            "/ws" => {
                let _ = ws::upgrade_tagged(req, res, ECHO);
            }
            "/chat" => {
                let _ = ws::upgrade_tagged(req, res, CHAT);
            }
            _ => {
                res.status(StatusCode::NOT_FOUND);
            }
        }
    }

    fn ws_open(&self, ws: &WebSocket) {
        if ws.tag() == CHAT {
            lock(&self.members).push(ws.clone());
        }
    }

    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        if ws.tag() == ECHO {
            let _ = match msg {
                Message::Text(text) => ws.send_text(text),
                Message::Binary(bytes) => ws.send_binary(bytes),
            };
            return;
        }
        for member in lock(&self.members).iter() {
            // A member that just left is skipped (its send fails).
            let _ = match msg {
                Message::Text(text) => member.send_text(text),
                Message::Binary(bytes) => member.send_binary(bytes),
            };
        }
    }

    fn ws_close(&self, ws: &WebSocket, _code: CloseCode) {
        if ws.tag() == CHAT {
            lock(&self.members).retain(|m| m.id() != ws.id());
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn main() {
    let args = args::parse(8080, &["--ws-threads", "--max-message"]);
    let mut config = args.config();
    if let Some(n) = args.extra("--ws-threads") {
        config = config.websocket_threads(args::number("--ws-threads", n));
    }
    if let Some(n) = args.extra("--max-message") {
        config = config.max_message_size(args::number("--max-message", n));
    }
    args::serve(config, App::default());
}
