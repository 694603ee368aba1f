//! The websocket example's chat page in a real browser: headless Chromium
//! loads `/`, its script connects to `/chat`, and a message typed into the
//! page's form must reach another chat client (tungstenite, here) and come
//! back into the page's own list; a message from that other client must
//! appear in the page too.
//!
//! The handler is the example's own (its source is included as a module),
//! so this tests the example as shipped, not a copy of it.
//!
//! Chromium is driven over the DevTools protocol (a WebSocket, spoken with
//! tungstenite; tests/support/browser.rs) rather than with `--dump-dom`: `--virtual-time-budget`,
//! which `--dump-dom` needs to let scripts run, does not wait for
//! WebSocket traffic, so the DOM would be dumped before the broadcast
//! arrives whenever the server is a little slow. Polling the live page
//! bounds every wait in real time instead.
//!
//! Ignored by a plain `cargo test`, which lists it as ignored: it needs
//! Chromium (`$PEREGRINE_CHROMIUM` or `/usr/bin/chromium`), and fails
//! saying how to install it when run without one. `.ci/run` installs
//! Debian's `chromium` and runs it with
//! `cargo test --test browser --test browser_chat --test browser_sse -- --ignored`.

use peregrine::Config;
use tungstenite::Message;

mod support;
use support::{chromium, TestServer};

#[path = "support/browser.rs"]
mod browser;
use browser::{json_string, recv_text, ws_connect, Browser};

#[allow(dead_code)] // its `main` and flag parsing are not used here
#[path = "../examples/websocket/main.rs"]
mod websocket_example;

/// Whether the page's message list has an item reading exactly `text`.
fn shown(text: &str) -> String {
    format!("[...document.querySelectorAll('#log li')].some(li => li.textContent === {})", json_string(text))
}

#[test]
#[ignore = "needs Chromium; run with: cargo test --test browser --test browser_chat --test browser_sse --test browser_dashboard -- --ignored"]
fn chromium_chats_with_another_client_through_the_example() {
    let binary = chromium();
    let server = TestServer::start(Config::new().workers(2), websocket_example::App::default());
    let addr = server.addr;

    // Another chat member, there before the browser. A round trip proves
    // the server counts it as a member (its open hook runs before any of
    // its messages), so it cannot miss the browser's message.
    let mut other = ws_connect(&format!("ws://{addr}/chat"));
    other.send(Message::text("tungstenite joined")).unwrap();
    assert_eq!(recv_text(&mut other), "tungstenite joined");

    let page_url = format!("http://{addr}/");
    let mut browser = Browser::start(&binary, &page_url, "chat");
    let mut page = browser.page(&page_url);
    let context = "document.getElementById('status').textContent + ' | ' + \
                   document.getElementById('log').textContent";
    // The page's script sets `data-ready` once its WebSocket is open.
    page.wait_until("document.body.dataset.ready === '1'", context);

    // Type into the page's form and submit it: the page's own script sends.
    let from_browser = "héllo from chromium ✓";
    let typed = page.evaluate(&format!(
        "document.getElementById('text').value = {}; document.querySelector('#send button').click(); 'sent'",
        json_string(from_browser)
    ));
    assert!(typed.contains(r#""value":"sent""#), "could not submit the form: {typed}");
    assert_eq!(recv_text(&mut other), from_browser, "the other client did not get the browser's message");
    page.wait_until(&shown(from_browser), context);

    // And the other way: a message from the other client shows in the page.
    let from_other = "hello from tungstenite, 2 + 2 < 5";
    other.send(Message::text(from_other)).unwrap();
    assert_eq!(recv_text(&mut other), from_other);
    page.wait_until(&shown(from_other), context);
    page.wait_until("document.getElementById('status').textContent === 'connected'", context);

    drop(page);
    browser.close();
    other.close(None).unwrap();
    server.stop().unwrap();
}
