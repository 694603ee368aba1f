//! Replays the fuzz corpus (`fuzz/corpus/<target>/`) through the same
//! oracles the fuzz targets use, so every input ever kept stays passing.

use std::path::Path;

fn replay(target: &str, check: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        if let Err(panic) = std::panic::catch_unwind(|| check(&data)) {
            std::panic::resume_unwind(Box::new(format!("{}: {panic:?}", path.display())));
        }
        n += 1;
    }
    assert!(n > 0, "empty corpus for {target}");
}

#[test]
fn head_corpus() {
    replay("head", peregrine::__private::check_head_parser);
}

#[test]
fn chunked_corpus() {
    replay("chunked", peregrine::__private::check_chunked);
}

#[test]
fn query_corpus() {
    replay("query", peregrine::__private::check_query);
}
