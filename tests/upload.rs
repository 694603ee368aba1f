//! The `upload` example over real sockets: bodies streamed to a file and
//! hashed (Content-Length and chunked), forms parsed as they arrive, the
//! upload limit, and a slow uploader beside other clients of its worker.
//! Real clients (`curl -F`, `curl -T`, Python's `requests`) are the
//! ignored test, which `.ci/run` runs once it has installed them.

use std::io::Write;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peregrine::Config;
use sha2::{Digest, Sha256};

mod support;
use support::{read_response, roundtrip, TestServer};

#[allow(dead_code)] // its `main` is not used here
#[path = "../examples/upload.rs"]
mod upload_example;

use upload_example::Uploads;

fn start(max_upload: u64, workers: usize) -> TestServer {
    TestServer::start(Config::new().workers(workers), Uploads { max_upload })
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes no two stretches of which are alike.
fn payload(n: usize) -> Vec<u8> {
    support::xorshift_bytes(n, 0x2545_f491_4f6c_dd1d)
}

/// Names of this process's upload files left in the temporary directory.
fn leftover_files() -> Vec<String> {
    let prefix = format!("peregrine-upload-{}-", std::process::id());
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(&prefix))
        .collect()
}

fn chunked(path: &str, body: &[u8]) -> Vec<u8> {
    let mut wire =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").into_bytes();
    let mut at = 0;
    let mut size = 1;
    while at < body.len() {
        let n = size.min(body.len() - at);
        wire.extend_from_slice(format!("{n:x}\r\n").as_bytes());
        wire.extend_from_slice(&body[at..at + n]);
        wire.extend_from_slice(b"\r\n");
        at += n;
        size = size * 3 % 70_001 + 1;
    }
    wire.extend_from_slice(b"0\r\n\r\n");
    wire
}

fn with_length(path: &str, body: &[u8], extra: &str) -> Vec<u8> {
    let mut wire =
        format!("POST {path} HTTP/1.1\r\nHost: x\r\n{extra}Content-Length: {}\r\n\r\n", body.len())
            .into_bytes();
    wire.extend_from_slice(body);
    wire
}

#[test]
fn uploads_are_answered_with_their_size_and_digest() {
    let server = start(4 << 30, 2);
    let body = payload(3 << 20);
    let expected = format!("{} {}\n", body.len(), sha(&body));
    let mut s = server.connect();
    for wire in
        [with_length("/upload", &body, ""), chunked("/upload", &body), with_length("/upload", b"", "")]
    {
        let res = roundtrip(&mut s, &wire);
        assert_eq!(res.status, 200);
        let text = String::from_utf8(res.body).unwrap();
        if wire.ends_with(b"Content-Length: 0\r\n\r\n") {
            assert_eq!(text, format!("0 {}\n", sha(b"")), "an empty upload");
        } else {
            assert_eq!(text, expected);
        }
    }
    assert!(leftover_files().is_empty(), "files left: {:?}", leftover_files());
}

/// Each path takes its own methods, with a body or without, and says
/// which in `Allow` (RFC 9110 §15.5.6).
#[test]
fn a_method_a_path_does_not_take_is_405_with_allow() {
    let server = start(1 << 20, 1);
    let form = form("B", &[("a", None, b"x")]);
    let mut s = server.connect();
    for (method, path, body, allow) in [
        ("PUT", "/form", &form[..], "POST"),
        ("PUT", "/form", b"", "POST"),
        ("GET", "/upload", b"", "POST, PUT"),
        ("POST", "/", b"x", "GET, HEAD"),
        ("DELETE", "/", b"", "GET, HEAD"),
    ] {
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=B\r\n\
             Content-Length: {}\r\n\r\n",
            body.len()
        );
        let res = roundtrip(&mut s, &[head.as_bytes(), body].concat());
        assert_eq!((res.status, res.header("allow")), (405, Some(allow)), "{method} {path}");
    }
    let res =
        roundtrip(&mut s, &with_length("/form", &form, "Content-Type: multipart/form-data; boundary=B\r\n"));
    assert_eq!(res.status, 200, "POST /form still parses the form");
}

#[test]
fn more_than_max_upload_is_413_and_leaves_no_file() {
    let server = start(100_000, 1);
    // Declared: refused before the body, instead of a 100.
    let mut s = server.connect();
    s.write_all(
        b"POST /upload HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 100001\r\n\r\n",
    )
    .unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 413);
    assert_eq!(res.header("connection"), Some("close"));
    // Chunked: refused once passed, the partial file removed.
    let res = roundtrip(&mut server.connect(), &chunked("/upload", &payload(200_000)));
    assert_eq!(res.status, 413);
    assert_eq!(res.body, b"413 Content Too Large\n");
    // Exactly the limit is fine.
    let body = payload(100_000);
    let res = roundtrip(&mut server.connect(), &chunked("/upload", &body));
    assert_eq!(String::from_utf8(res.body).unwrap(), format!("100000 {}\n", sha(&body)));
    assert!(support::eventually(|| leftover_files().is_empty()), "files left: {:?}", leftover_files());
}

fn form(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, data) in parts {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"").as_bytes(),
        );
        if let Some(f) = filename {
            body.extend_from_slice(
                format!("; filename=\"{f}\"\r\nContent-Type: application/octet-stream").as_bytes(),
            );
        }
        body.extend_from_slice(b"\r\n\r\n");
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    body
}

#[test]
fn a_form_is_answered_part_by_part() {
    let server = start(4 << 30, 2);
    let file = payload(1 << 20);
    let body = form(
        "----b0undary",
        &[("text", None, b"hello"), ("empty", Some("e.txt"), b""), ("file", Some("x.bin"), &file)],
    );
    let wire = with_length("/form", &body, "Content-Type: multipart/form-data; boundary=----b0undary\r\n");
    let res = roundtrip(&mut server.connect(), &wire);
    assert_eq!(res.status, 200);
    let expected = format!(
        "text - 5 {}\nempty e.txt 0 {}\nfile x.bin {} {}\n",
        sha(b"hello"),
        sha(b""),
        file.len(),
        sha(&file)
    );
    assert_eq!(String::from_utf8(res.body).unwrap(), expected);

    // Without its final boundary: 400.
    let cut = &body[..body.len() - 4];
    let wire = with_length("/form", cut, "Content-Type: multipart/form-data; boundary=----b0undary\r\n");
    assert_eq!(roundtrip(&mut server.connect(), &wire).status, 400);
    // Not a form: 415, without reading it.
    let wire = with_length("/form", b"x=1", "Content-Type: application/x-www-form-urlencoded\r\n");
    assert_eq!(roundtrip(&mut server.connect(), &wire).status, 415);
}

#[test]
fn a_slow_uploader_does_not_hold_its_worker() {
    // One worker: the slow upload and the other client share it.
    let server = start(4 << 30, 1);
    const SLOW: usize = 150;
    let sent = Arc::new(AtomicUsize::new(0));
    let mut slow = server.connect();
    let counter = sent.clone();
    let uploader = std::thread::spawn(move || {
        let body = payload(SLOW);
        slow.write_all(
            format!("POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {SLOW}\r\n\r\n").as_bytes(),
        )
        .unwrap();
        for b in &body {
            slow.write_all(std::slice::from_ref(b)).unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(10));
        }
        let answer = read_response(&mut slow, &mut Vec::new(), false);
        (String::from_utf8(answer.body).unwrap(), format!("{SLOW} {}\n", sha(&body)))
    });
    assert!(support::eventually(|| sent.load(Ordering::SeqCst) >= 10), "the upload did not start");
    let mut other = server.connect();
    for _ in 0..20 {
        assert_eq!(roundtrip(&mut other, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status, 200);
    }
    let during = sent.load(Ordering::SeqCst);
    assert!(during < SLOW, "the other client was served only once the upload ended");
    let (answer, expected) = uploader.join().unwrap();
    assert_eq!(answer, expected);
}

/// Runs `program args`, returning its standard output.
fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(out.status.success(), "{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `curl -T`, `curl -F` and Python's `requests` (`files=`) against the
/// example. Needs both (`.ci/run` installs them; `$PEREGRINE_PYTHON`
/// names a Python that has `requests`).
#[test]
#[ignore = "needs curl and Python's requests: .ci/run installs them and runs this"]
fn real_clients_round_trip_uploads_and_forms() {
    let server = start(4 << 30, 2);
    let dir = TempDir(std::env::temp_dir().join(format!("peregrine-upload-test-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let dir = &dir.0;
    let data = payload(5 << 20);
    let file = dir.join("data.bin");
    std::fs::write(&file, &data).unwrap();
    let file = file.to_str().unwrap();
    let base = format!("http://{}", server.addr);
    let digest = sha(&data);

    // curl -T: Content-Length (and Expect: 100-continue, which curl sends
    // for a body this large); then chunked, from standard input.
    let upload = format!("{base}/upload");
    assert_eq!(
        run("curl", &["-sS", "--max-time", "30", "-T", file, &upload]),
        format!("{} {digest}\n", data.len())
    );
    let chunked = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &format!("@{file}"),
            &upload,
        ],
    );
    assert_eq!(chunked, format!("{} {digest}\n", data.len()));

    // curl -F.
    let formed = run(
        "curl",
        &[
            "-sS",
            "--max-time",
            "30",
            "-F",
            "text=hello world",
            "-F",
            &format!("file=@{file}"),
            &format!("{base}/form"),
        ],
    );
    assert_eq!(formed, format!("text - 11 {}\nfile data.bin {} {digest}\n", sha(b"hello world"), data.len()));

    // Python's requests, files= and data=.
    let python = std::env::var("PEREGRINE_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import sys, requests
url, path = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    r = requests.post(url, data={"text": "hello world"}, files={"file": ("data.bin", f, "application/octet-stream"), "empty": ("e.txt", b"")}, timeout=30)
r.raise_for_status()
sys.stdout.write(r.text)
"#;
    let by_requests = run(&python, &["-c", script, &format!("{base}/form"), file]);
    let mut lines: Vec<&str> = by_requests.lines().collect();
    lines.sort_unstable();
    let empty = format!("empty e.txt 0 {}", sha(b""));
    let file_line = format!("file data.bin {} {digest}", data.len());
    let text_line = format!("text - 11 {}", sha(b"hello world"));
    let mut expected = vec![empty.as_str(), file_line.as_str(), text_line.as_str()];
    expected.sort_unstable();
    assert_eq!(lines, expected);
    assert!(leftover_files().is_empty(), "files left: {:?}", leftover_files());
}

/// A directory removed when the test ends, passed or not.
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
