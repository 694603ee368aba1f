//! Micro-benchmarks of the HTTP codecs (throughput in bytes of input).
//!
//! `cargo bench --bench http`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use peregrine::__private::{header_slots, parse_request};
use peregrine::Query;

const SMALL: &[u8] = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n";
const BROWSER: &[u8] = b"GET /wp-content/uploads/2010/03/hello-kitty-darth-vader-pink.jpg HTTP/1.1\r\n\
Host: www.kittyhell.com\r\n\
User-Agent: Mozilla/5.0 (Macintosh; U; Intel Mac OS X 10.6; ja-JP-mac; rv:1.9.2.3) Gecko/20100401 Firefox/3.6.3 Pathtraq/0.9\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n\
Accept-Language: ja,en-us;q=0.7,en;q=0.3\r\n\
Accept-Encoding: gzip,deflate\r\n\
Accept-Charset: Shift_JIS,utf-8;q=0.7,*;q=0.7\r\n\
Keep-Alive: 115\r\n\
Connection: keep-alive\r\n\
Cookie: wp_ozh_wsa_visits=2; wp_ozh_wsa_visit_lasttime=xxxxxxxxxx; __utma=xxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.xxxxxxxxxx.x; __utmz=xxxxxxxxx.xxxxxxxxxx.x.x.utmccn=(referral)|utmcsr=reader.livedoor.com|utmcct=/reader/|utmcmd=referral\r\n\r\n";

/// The whole head path (lexing, framing, a header lookup), and beside it
/// `httparse` lexing the same bytes, which `src/http/lex.rs` replaced.
fn head_parser(c: &mut Criterion) {
    let mut group = c.benchmark_group("head");
    for (name, raw) in [("small", SMALL), ("browser", BROWSER)] {
        group.throughput(Throughput::Bytes(raw.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut slots = header_slots();
                let req = parse_request(black_box(raw), &mut slots);
                black_box(req.headers().get("connection"));
            })
        });
        group.bench_function(format!("{name}/httparse_lex_only"), |b| {
            b.iter(|| {
                let mut slots = header_slots();
                let mut req = httparse::Request::new(&mut []);
                black_box(req.parse_with_uninit_headers(black_box(raw), &mut slots[..64]).is_ok());
                black_box(req.headers.len());
            })
        });
    }
    group.finish();
}

fn query_iter(c: &mut Criterion) {
    let raw = "q=rust+http%20server&page=2&sort=desc&filter=a%2Cb%2Cc&lang=en";
    let mut group = c.benchmark_group("query");
    group.throughput(Throughput::Bytes(raw.len() as u64));
    group.bench_function("iterate_and_decode", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for (k, v) in Query::new(black_box(raw)).iter() {
                n += k.bytes().count() + v.bytes().count();
            }
            n
        })
    });
    group.bench_function("get_last", |b| b.iter(|| Query::new(black_box(raw)).get("lang").is_some()));
    group.finish();
}

criterion_group!(benches, head_parser, query_iter);
criterion_main!(benches);
