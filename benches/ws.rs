//! Micro-benchmarks of the WebSocket frame codec: what a WebSocket thread
//! does per frame before a hook sees a message (parse the client's header,
//! unmask, check UTF-8 fragment by fragment) and per frame it sends
//! (encode a header).
//!
//! `cargo bench --bench ws`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use peregrine::__private::{encode_head, parse_head, unmask, Opcode, Utf8Stream, MAX_HEADER};

const MASK: [u8; 4] = [0x37, 0xFA, 0x21, 0x3D];

/// A masked client frame header announcing `len` payload bytes, as the
/// three length encodings produce it.
fn client_head(len: usize) -> Vec<u8> {
    let mut h = vec![0x82];
    match len {
        n if n < 126 => h.push(0x80 | n as u8),
        n if n <= 0xFFFF => {
            h.push(0x80 | 126);
            h.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            h.push(0x80 | 127);
            h.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    h.extend_from_slice(&MASK);
    h
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_parse_head");
    // 7-bit, 16-bit and 64-bit lengths: 6, 8 and 14 header bytes.
    for len in [100, 1024, 100_000] {
        let head = client_head(len);
        group.bench_with_input(BenchmarkId::from_parameter(len), &head, |b, head| {
            b.iter(|| parse_head(black_box(head), black_box(1 << 20)))
        });
    }
    group.finish();
}

fn unmasking(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_unmask");
    for (name, len) in [("16B", 16), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        // The payload sits behind a 6-byte header in the read buffer, so it
        // is not 8-byte aligned: measure it where it really is.
        let mut buf = vec![0xA5u8; 6 + len];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(name, |b| b.iter(|| unmask(black_box(&mut buf[6..]), black_box(MASK), 0)));
    }
    group.finish();
}

fn encode(c: &mut Criterion) {
    let mut group = c.benchmark_group("ws_encode_head");
    for len in [100, 1024, 100_000] {
        group.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, &len| {
            let mut out = [0u8; MAX_HEADER];
            b.iter(|| encode_head(Opcode::Text, black_box(len), black_box(&mut out)))
        });
    }
    group.finish();
}

fn utf8(c: &mut Criterion) {
    // 1 KiB of one-, two-, three- and four-byte characters.
    let mut text = String::new();
    for ch in "peregrine, é, €, 𝄞; ".chars().cycle() {
        if text.len() + ch.len_utf8() > 1024 {
            break;
        }
        text.push(ch);
    }
    text.extend(std::iter::repeat_n('.', 1024 - text.len()));
    let bytes = text.as_bytes();
    // Four fragments cut every 256 bytes, wherever that falls (mid
    // character included), checked as a connection does: each piece as
    // it arrives, a character split between pieces carried over.
    let cuts = [256, 512, 768, 1024];
    assert!(cuts.iter().any(|&c| !text.is_char_boundary(c)), "no fragment ends mid-character");

    let mut group = c.benchmark_group("ws_utf8_1KiB");
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("4_fragments", |b| {
        b.iter(|| {
            let mut stream = Utf8Stream::default();
            let mut from = 0;
            for &cut in &cuts {
                stream.feed(black_box(&bytes[from..cut])).unwrap();
                from = cut;
            }
            stream.finish().unwrap();
        })
    });
    // For comparison: the same bytes checked at once.
    group.bench_function("whole", |b| b.iter(|| std::str::from_utf8(black_box(bytes)).is_ok()));
    group.finish();
}

criterion_group!(benches, parse, unmasking, encode, utf8);
criterion_main!(benches);
