//! What a streamed upload allocates, counted: the box of its sink, once
//! per upload, whatever the body's size, framing or pieces; nothing per
//! piece. One test in this file, so nothing else allocates meanwhile.

use std::io::Write;

use peregrine::testing::TestClient;
use peregrine::{BodySink, Handler, Intake, Request, Response, StatusCode};

#[path = "support/counting_alloc.rs"]
mod counting_alloc;
use counting_alloc::{allocations, Counting};

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Sums the body's bytes.
struct Sum(u64);

impl BodySink for Sum {
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        self.0 = piece.iter().fold(self.0, |s, &b| s + u64::from(b));
        Ok(())
    }

    fn end(self: Box<Self>, _req: &Request<'_>, res: &mut Response<'_>) {
        let _ = write!(res, "{}", self.0);
    }
}

struct App;

impl Handler for App {
    fn intake(&self, _req: &Request<'_>) -> Intake {
        Intake::stream(Sum(0))
    }

    fn handle(&self, _req: &Request<'_>, _res: &mut Response<'_>) {}
}

fn upload(body_len: usize, chunked: bool) -> (Vec<u8>, String) {
    let body: Vec<u8> = (0..body_len).map(|i| (i % 253) as u8).collect();
    let sum: u64 = body.iter().map(|&b| u64::from(b)).sum();
    let mut wire = Vec::new();
    if chunked {
        wire.extend_from_slice(b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
        for piece in body.chunks(5000) {
            wire.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
            wire.extend_from_slice(piece);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
    } else {
        wire.extend_from_slice(
            format!("POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: {body_len}\r\n\r\n").as_bytes(),
        );
        wire.extend_from_slice(&body);
    }
    (wire, sum.to_string())
}

/// Allocations of `n` uploads of `wire`, once warm.
fn allocations_of(client: &mut TestClient<App>, wire: &[u8], answer: &str, n: usize) -> usize {
    let one = |client: &mut TestClient<App>| {
        client.send(wire);
        assert!(
            client.written().ends_with(answer.as_bytes()),
            "{}",
            String::from_utf8_lossy(client.written())
        );
        client.clear_written();
    };
    for _ in 0..10 {
        one(client);
    }
    let before = allocations();
    for _ in 0..n {
        one(client);
    }
    allocations() - before
}

#[test]
fn a_streamed_upload_allocates_its_sink_and_nothing_per_piece() {
    let mut client = TestClient::new(App);
    for (len, chunked) in [(10_000, false), (1 << 20, false), (10_000, true), (1 << 20, true)] {
        let (wire, answer) = upload(len, chunked);
        let n = allocations_of(&mut client, &wire, &answer, 50);
        assert_eq!(n, 50, "{len} bytes, chunked {chunked}: {n} allocations for 50 uploads");
    }
    assert!(client.is_open());
}
