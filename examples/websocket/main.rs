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

use std::collections::HashSet;
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
    /// Ids of upgraded connections that asked for `/chat`, until they open.
    joining: Mutex<HashSet<u64>>,
    /// The open chat connections.
    members: Mutex<Vec<WebSocket>>,
}

impl Handler for App {
    const WEBSOCKETS: bool = true;

    fn handle(&self, req: &Request<'_>, res: &mut Response<'_>) {
        match req.path() {
            "/" => {
                res.header("Content-Type", "text/html; charset=utf-8").body_static(PAGE);
            }
            "/ws" => {
                // A bad handshake leaves `res` holding the 400 or 426.
                let _ = ws::upgrade(req, res);
            }
            "/chat" => {
                if let Ok(id) = ws::upgrade(req, res) {
                    lock(&self.joining).insert(id);
                }
            }
            _ => {
                res.status(StatusCode::NOT_FOUND);
            }
        }
    }

    fn ws_open(&self, ws: &WebSocket) {
        if lock(&self.joining).remove(&ws.id()) {
            lock(&self.members).push(ws.clone());
        }
    }

    fn ws_message(&self, ws: &WebSocket, msg: Message<'_>) {
        let members = lock(&self.members);
        if !members.iter().any(|m| m.id() == ws.id()) {
            // An echo connection.
            drop(members);
            let _ = match msg {
                Message::Text(text) => ws.send_text(text),
                Message::Binary(bytes) => ws.send_binary(bytes),
            };
            return;
        }
        for member in members.iter() {
            // A member that just left is skipped (its send fails).
            let _ = match msg {
                Message::Text(text) => member.send_text(text),
                Message::Binary(bytes) => member.send_binary(bytes),
            };
        }
    }

    fn ws_close(&self, ws: &WebSocket, _code: CloseCode) {
        lock(&self.members).retain(|m| m.id() != ws.id());
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
