//! A comparison peer for `benches/ws_load.sh`, not part of peregrine: a
//! WebSocket echo server on `tokio-tungstenite` with tokio's single-threaded
//! runtime (one event loop on one thread, like peregrine's one WebSocket
//! thread). Every message on any path is sent back as it came.
//!
//! ```sh
//! cargo run --release --bin tokio_echo -- --port 19004
//! ```

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let port = port_flag(19004);
    let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
        eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!("listening on ws://127.0.0.1:{port}/");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(serve(stream));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

async fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else { return };
    let (mut tx, mut rx) = ws.split();
    // A close is answered by the read after it, which then ends the stream.
    while let Some(Ok(msg)) = rx.next().await {
        if (msg.is_text() || msg.is_binary()) && tx.send(msg).await.is_err() {
            return;
        }
    }
}

/// `--port N` (the only flag).
fn port_flag(default: u16) -> u16 {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => default,
        [flag, n] if flag == "--port" => n.parse().unwrap_or_else(|_| usage()),
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!("usage: {} [--port N]", std::env::args().next().unwrap_or_default());
    std::process::exit(2)
}
