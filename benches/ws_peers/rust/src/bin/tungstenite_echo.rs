//! A comparison peer for `benches/ws_load.sh`, not part of peregrine: a
//! WebSocket echo server on blocking `tungstenite`, one thread per
//! connection. Every message on any path is sent back as it came.
//!
//! ```sh
//! cargo run --release --bin tungstenite_echo -- --port 19003
//! ```

use std::net::{TcpListener, TcpStream};

use tungstenite::{Error, Message};

fn main() {
    let port = port_flag(19003);
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap_or_else(|e| {
        eprintln!("error: cannot listen on 127.0.0.1:{port}: {e}");
        std::process::exit(1)
    });
    println!("listening on ws://127.0.0.1:{port}/");
    for stream in listener.incoming() {
        match stream {
            Ok(stream) => {
                std::thread::spawn(move || serve(stream));
            }
            Err(e) => eprintln!("accept: {e}"),
        }
    }
}

fn serve(stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(mut ws) = tungstenite::accept(stream) else { return };
    loop {
        match ws.read() {
            Ok(msg @ (Message::Text(_) | Message::Binary(_))) => {
                // `send` writes and flushes: one write per echo, as the
                // other servers do with one message in flight.
                if ws.send(msg).is_err() {
                    return;
                }
            }
            // Pings are answered (and closes echoed) by the next write or flush.
            Ok(_) => {
                if ws.flush().is_err() {
                    return;
                }
            }
            Err(Error::ConnectionClosed | Error::AlreadyClosed) => return,
            Err(_) => return,
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
