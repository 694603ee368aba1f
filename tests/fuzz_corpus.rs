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

#[test]
fn connection_corpus() {
    replay("connection", peregrine::__private::check_connection);
}

#[test]
fn ws_frames_corpus() {
    replay("ws_frames", peregrine::__private::check_ws_frames);
}

#[test]
fn ws_handshake_corpus() {
    replay("ws_handshake", peregrine::__private::check_handshake);
}

#[test]
fn range_corpus() {
    replay("range", peregrine::__private::check_range);
}

#[test]
fn dates_corpus() {
    replay("dates", peregrine::__private::check_dates);
}

#[test]
fn entity_tags_corpus() {
    replay("entity_tags", peregrine::__private::check_entity_tags);
}

#[test]
fn host_corpus() {
    replay("host", peregrine::__private::check_host);
}

#[test]
fn path_corpus() {
    replay("path", peregrine::__private::check_path);
}

#[test]
fn multipart_corpus() {
    replay("multipart", peregrine::__private::check_multipart);
}
