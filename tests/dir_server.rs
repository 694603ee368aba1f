//! DirServer: directories, types, validators, ranges — and containment:
//! nothing outside the root is ever served, also where a seccomp filter
//! refuses `openat2`.

use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use peregrine::{Config, DirServer, Request, Response};

mod support;
use support::{read_response, RawResponse, TestServer};

/// A scratch tree: `root/` is served, `outside/secret` must never be.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Self {
        let base = std::env::temp_dir().join(format!("peregrine-dir-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        for dir in ["", "docs", "empty", ".git", "a b", "evil.com"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        std::fs::create_dir_all(base.join("outside")).unwrap();
        let files: &[(&str, &[u8])] = &[
            ("index.html", b"<h1>home</h1>"),
            ("style.css", b"h1 { color: red }"),
            ("app.mjs", b"export {}"),
            ("data.json", b"{}"),
            ("logo.svg", b"<svg/>"),
            ("font.woff2", b"wOF2"),
            ("blob", b"\x00\x01"),
            ("docs/index.html", b"docs"),
            ("digits.txt", b"0123456789"),
            (".env", b"SECRET=1"),
            (".git/config", b"[core]"),
            ("a b/c.txt", b"spaced"),
        ];
        for (path, content) in files {
            std::fs::write(root.join(path), content).unwrap();
        }
        std::fs::write(base.join("outside/secret"), b"TOP SECRET").unwrap();
        std::os::unix::fs::symlink(base.join("outside/secret"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink("../outside", root.join("escape-dir")).unwrap();
        std::os::unix::fs::symlink("digits.txt", root.join("inside-link")).unwrap();
        Tree(base)
    }

    fn root(&self) -> PathBuf {
        self.0.join("root")
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn serve(root: &Path, dotfiles: bool) -> TestServer {
    let site = Arc::new(DirServer::new(root).unwrap().dotfiles(dotfiles));
    TestServer::with(move |req: &Request<'_>, res: &mut Response<'_>| site.serve(req, res))
}

fn get(server: &TestServer, target: &str, extra: &str) -> RawResponse {
    let mut s = server.connect();
    s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n{extra}\r\n").as_bytes()).unwrap();
    read_response(&mut s, &mut Vec::new(), false)
}

#[test]
fn nothing_outside_the_root_is_served() {
    let tree = Tree::new("escape");
    let server = serve(&tree.root(), false);
    for target in [
        "/../outside/secret",
        "/docs/../../outside/secret",
        "/%2e%2e/outside/secret",
        "/%2E%2E/outside/secret",
        "/docs%2f..%2f..%2foutside%2fsecret",
        "/..%5coutside%5csecret",
        "/..\\outside\\secret",
        "/docs/..%00/secret",
        "//etc/passwd",
        "/escape",
        "/escape-dir/secret",
        "/.env",
        "/.git/config",
        "/%2eenv",
        "http://x/../outside/secret",
    ] {
        let res = get(&server, target, "");
        assert_eq!(res.status, 404, "{target}");
        assert!(!String::from_utf8_lossy(&res.body).contains("SECRET"), "{target} leaked the secret");
    }
    // Links that stay inside are fine.
    assert_eq!(get(&server, "/inside-link", "").body, b"0123456789");
}

#[test]
fn dotfiles_can_be_enabled() {
    let tree = Tree::new("dots");
    let server = serve(&tree.root(), true);
    assert_eq!(get(&server, "/.env", "").body, b"SECRET=1");
    assert_eq!(get(&server, "/.git/config", "").status, 200);
    assert_eq!(get(&server, "/../outside/secret", "").status, 404);
}

#[test]
fn directories_index_and_redirects() {
    let tree = Tree::new("dirs");
    let server = serve(&tree.root(), false);
    let home = get(&server, "/", "");
    assert_eq!((home.status, home.body.as_slice()), (200, &b"<h1>home</h1>"[..]));
    assert_eq!(home.header("content-type"), Some("text/html; charset=utf-8"));
    let redirect = get(&server, "/docs?x=1", "");
    assert_eq!(redirect.status, 301);
    assert_eq!(redirect.header("location"), Some("/docs/?x=1"));
    assert_eq!(get(&server, "/docs/", "").body, b"docs");
    assert_eq!(get(&server, "/empty/", "").status, 404);
    assert_eq!(get(&server, "/missing.txt", "").status, 404);
    assert_eq!(get(&server, "/digits.txt/", "").status, 404, "a file is no directory");
    assert_eq!(get(&server, "/digits.txt/.", "").status, 404, "nor with a dot segment");
    assert_eq!(get(&server, "/a%20b/c.txt", "").body, b"spaced");
    let mut s = server.connect();
    s.write_all(b"POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").unwrap();
    let res = read_response(&mut s, &mut Vec::new(), false);
    assert_eq!(res.status, 405);
    assert_eq!(res.header("allow"), Some("GET, HEAD"));
}

#[test]
fn redirects_never_leave_the_host() {
    // A Location starting with `//` (or `/\`, which browsers read the same
    // way) names another host: `//evil.com/` would send the browser there.
    let tree = Tree::new("open-redirect");
    let server = serve(&tree.root(), false);
    for (target, location) in [
        ("//evil.com", "/evil.com/"),
        ("///evil.com", "/evil.com/"),
        ("//evil.com?next=1", "/evil.com/?next=1"),
        ("/.//evil.com", "/evil.com/"),
        ("/%2e//evil.com", "/evil.com/"),
        ("/./%2E/evil.com", "/evil.com/"),
        ("http://x//evil.com", "/evil.com/"),
        ("http://x///evil.com?a=b", "/evil.com/?a=b"),
        ("/evil.com", "/evil.com/"),
        ("/.", "/"),
        ("//.", "/"),
    ] {
        let res = get(&server, target, "");
        assert_eq!(res.status, 301, "{target}");
        assert_eq!(res.header("location"), Some(location), "{target}");
    }
    // Separators hidden in a segment never resolve, so never redirect.
    for target in
        ["/\\evil.com", "/%5Cevil.com", "/%5C/evil.com", "/%2F/evil.com", "/%2F%2Fevil.com", "/%2fevil.com"]
    {
        let res = get(&server, target, "");
        assert_eq!((res.status, res.header("location")), (404, None), "{target}");
    }
}

#[test]
fn content_types_by_extension() {
    let tree = Tree::new("types");
    let server = serve(&tree.root(), false);
    for (path, want) in [
        ("/style.css", "text/css; charset=utf-8"),
        ("/app.mjs", "text/javascript; charset=utf-8"),
        ("/data.json", "application/json"),
        ("/logo.svg", "image/svg+xml"),
        ("/font.woff2", "font/woff2"),
        ("/digits.txt", "text/plain; charset=utf-8"),
        ("/blob", "application/octet-stream"),
    ] {
        assert_eq!(get(&server, path, "").header("content-type"), Some(want), "{path}");
    }
}

/// The validators `/digits.txt` is served with: its ETag, Last-Modified.
fn validators(server: &TestServer) -> (String, String) {
    let first = get(server, "/digits.txt", "");
    (first.header("etag").unwrap().to_string(), first.header("last-modified").unwrap().to_string())
}

/// `GET /digits.txt` with the fields `extra`, and a `GET /style.css` on
/// the same connection behind it, which must be answered right after: the
/// first answer carried no more than its head said.
fn get_digits_then_style(server: &TestServer, extra: &str) -> RawResponse {
    let mut s = server.connect();
    s.write_all(
        format!(
            "GET /digits.txt HTTP/1.1\r\nHost: x\r\n{extra}\r\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut buf = Vec::new();
    let res = read_response(&mut s, &mut buf, false);
    assert_eq!(read_response(&mut s, &mut buf, false).body, b"h1 { color: red }", "{extra}");
    res
}

#[test]
fn validators_give_304_without_a_body() {
    let tree = Tree::new("validators");
    let server = serve(&tree.root(), false);
    let (etag, modified) = validators(&server);
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    for extra in [
        format!("If-None-Match: {etag}\r\n"),
        format!("If-None-Match: \"other\", W/{etag}\r\n"),
        "If-None-Match: *\r\n".to_string(),
        format!("If-Modified-Since: {modified}\r\n"),
        // The lines of a list field are one list (RFC 9110 §5.3).
        format!("If-None-Match: \"other\"\r\nIf-None-Match: {etag}\r\n"),
    ] {
        // The next response follows at once: the 304 carried no body.
        let res = get_digits_then_style(&server, &extra);
        assert_eq!(res.status, 304, "{extra}");
        assert_eq!(res.header("etag"), Some(etag.as_str()));
    }
    let stale = get(
        &server,
        "/digits.txt",
        "If-None-Match: \"nope\"\r\nIf-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n",
    );
    assert_eq!(stale.status, 200);
    let old = get(&server, "/digits.txt", "If-Modified-Since: Thu, 01 Jan 1970 00:00:00 GMT\r\n");
    assert_eq!(old.status, 200);
    // A date field sent twice is ignored (RFC 9110 §13.1.3).
    let twice = get(
        &server,
        "/digits.txt",
        &format!("If-Modified-Since: {modified}\r\nIf-Modified-Since: {modified}\r\n"),
    );
    assert_eq!(twice.status, 200);
}

#[test]
fn if_match_and_if_unmodified_since_fail_with_412() {
    let tree = Tree::new("preconditions");
    let server = serve(&tree.root(), false);
    let (etag, modified) = validators(&server);
    let long_ago = "Thu, 01 Jan 1970 00:00:00 GMT";
    for (extra, status) in [
        (format!("If-Match: {etag}\r\n"), 200),
        ("If-Match: *\r\n".to_string(), 200),
        (format!("If-Match: \"other\"\r\nIf-Match: {etag}\r\n"), 200),
        ("If-Match: \"other\"\r\n".to_string(), 412),
        // If-Match compares strongly: a weak tag never matches (§13.1.1).
        (format!("If-Match: W/{etag}\r\n"), 412),
        (format!("If-Unmodified-Since: {modified}\r\n"), 200),
        (format!("If-Unmodified-Since: {long_ago}\r\n"), 412),
        // A date before 1970 is a date: the file changed since (§5.6.7).
        ("If-Unmodified-Since: Sat, 01 Jan 1966 00:00:00 GMT\r\n".to_string(), 412),
        // An invalid date is ignored (§13.1.4).
        ("If-Unmodified-Since: yesterday\r\n".to_string(), 200),
        // If-Match present: If-Unmodified-Since is not looked at (§13.2.2).
        (format!("If-Match: {etag}\r\nIf-Unmodified-Since: {long_ago}\r\n"), 200),
        // A failed If-Match wins over a matching If-None-Match.
        (format!("If-Match: \"other\"\r\nIf-None-Match: {etag}\r\n"), 412),
        (format!("If-Match: {etag}\r\nIf-None-Match: {etag}\r\n"), 304),
        ("If-Match: \"other\"\r\nRange: bytes=0-1\r\n".to_string(), 412),
    ] {
        let res = get_digits_then_style(&server, &extra);
        assert_eq!(res.status, status, "{extra}");
        if status == 200 {
            assert_eq!(res.body, b"0123456789", "{extra}");
        } else {
            assert!(res.body.is_empty(), "{extra}");
        }
    }
}

#[test]
fn unknown_methods_are_501_and_others_405() {
    let tree = Tree::new("methods");
    let server = serve(&tree.root(), false);
    for (method, status) in
        [("FOO", 501), ("PROPFIND", 501), ("POST", 405), ("DELETE", 405), ("OPTIONS", 405)]
    {
        let mut s = server.connect();
        s.write_all(
            format!("{method} /digits.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let res = read_response(&mut s, &mut Vec::new(), false);
        assert_eq!(res.status, status, "{method}");
        if status == 405 {
            assert_eq!(res.header("allow"), Some("GET, HEAD"), "{method}");
        }
    }
}

#[test]
fn byte_ranges() {
    let tree = Tree::new("ranges");
    let server = serve(&tree.root(), false);
    for (range, body, content_range) in [
        ("bytes=2-4", &b"234"[..], "bytes 2-4/10"),
        ("bytes=7-", b"789", "bytes 7-9/10"),
        ("bytes=-2", b"89", "bytes 8-9/10"),
        ("bytes=8-100", b"89", "bytes 8-9/10"),
        // Positions past u64 are past the end, not malformed (§14.1.1).
        ("bytes=8-99999999999999999999", b"89", "bytes 8-9/10"),
        ("bytes=-99999999999999999999", b"0123456789", "bytes 0-9/10"),
    ] {
        let res = get(&server, "/digits.txt", &format!("Range: {range}\r\n"));
        assert_eq!(res.status, 206, "{range}");
        assert_eq!(res.body, body, "{range}");
        assert_eq!(res.header("content-range"), Some(content_range), "{range}");
    }
    for unsatisfiable in ["bytes=10-", "bytes=99999999999999999999-"] {
        let res = get(&server, "/digits.txt", &format!("Range: {unsatisfiable}\r\n"));
        assert_eq!(res.status, 416, "{unsatisfiable}");
        assert_eq!(res.header("content-range"), Some("bytes */10"), "{unsatisfiable}");
    }
    let several = get(&server, "/digits.txt", "Range: bytes=0-1,4-5\r\n");
    assert_eq!((several.status, several.body.as_slice()), (200, &b"0123456789"[..]));
    let two_lines = get(&server, "/digits.txt", "Range: bytes=0-1\r\nRange: bytes=4-5\r\n");
    assert_eq!((two_lines.status, two_lines.body.as_slice()), (200, &b"0123456789"[..]));
    let changed = get(&server, "/digits.txt", "Range: bytes=0-1\r\nIf-Range: \"stale\"\r\n");
    assert_eq!((changed.status, changed.body.len()), (200, 10));
}

/// Sets the modification time of `path`.
fn set_mtime(path: &Path, t: SystemTime) {
    File::options().write(true).open(path).unwrap().set_modified(t).unwrap();
}

#[test]
fn if_range_takes_a_date_only_once_the_file_has_settled() {
    let tree = Tree::new("if-range");
    let server = serve(&tree.root(), false);
    let digits = tree.root().join("digits.txt");
    let range = |if_range: &str| get(&server, "/digits.txt", &format!("Range: bytes=0-1\r\n{if_range}"));
    // Changed just now: a second change within the same second would
    // keep the date, so the date is a weak validator (RFC 9110 §8.8.2.2)
    // and If-Range sends the whole file (§13.1.5).
    set_mtime(&digits, SystemTime::now());
    let (etag, modified) = validators(&server);
    let res = range(&format!("If-Range: {modified}\r\n"));
    assert_eq!((res.status, res.body.len()), (200, 10), "a date the file may still change within");
    let res = range(&format!("If-Range: {etag}\r\n"));
    assert_eq!((res.status, res.body.as_slice()), (206, &b"01"[..]), "the entity tag is strong");
    set_mtime(&digits, SystemTime::now() - Duration::from_secs(3600));
    let (etag, modified) = validators(&server);
    let res = range(&format!("If-Range: {modified}\r\n"));
    assert_eq!((res.status, res.body.as_slice()), (206, &b"01"[..]), "a settled date");
    // If-Range is one value: two lines are no valid field.
    let res = range(&format!("If-Range: {etag}\r\nIf-Range: \"other\"\r\n"));
    assert_eq!((res.status, res.body.len()), (200, 10), "two If-Range lines");
}

#[test]
fn a_head_ignores_range() {
    // Ranges are defined for GET only (RFC 9110 §14.2): a HEAD states
    // what a plain GET would get.
    let tree = Tree::new("head-range");
    let server = serve(&tree.root(), false);
    for range in ["bytes=0-1", "bytes=50-"] {
        let mut s = server.connect();
        s.write_all(format!("HEAD /digits.txt HTTP/1.1\r\nHost: x\r\nRange: {range}\r\n\r\n").as_bytes())
            .unwrap();
        let res = read_response(&mut s, &mut Vec::new(), true);
        assert_eq!(res.status, 200, "{range}");
        assert_eq!(res.header("content-length"), Some("10"), "{range}");
        assert_eq!(res.header("content-range"), None, "{range}");
    }
}

#[test]
fn last_modified_is_never_later_than_date() {
    // A file dated in the future (made where the clock was ahead) is
    // stated as modified now (RFC 9110 §8.8.2.1): otherwise a cache
    // revalidating with that date would be told 304 after a real change.
    let tree = Tree::new("future");
    let server = serve(&tree.root(), false);
    set_mtime(&tree.root().join("digits.txt"), SystemTime::now() + Duration::from_secs(400 * 24 * 3600));
    let res = get(&server, "/digits.txt", "");
    let (modified, date) = (res.header("last-modified").unwrap(), res.header("date").unwrap());
    assert!(sortable(modified) <= sortable(date), "Last-Modified {modified} after Date {date}");
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) as a tuple that sorts
/// as the dates do.
fn sortable(date: &str) -> (u32, usize, u32, String) {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let parts: Vec<&str> = date.split(' ').collect();
    let month = MONTHS.iter().position(|m| *m == parts[2]).expect("a month");
    (parts[3].parse().unwrap(), month, parts[1].parse().unwrap(), parts[4].to_string())
}

#[test]
fn head_matches_get_without_body() {
    let tree = Tree::new("head");
    let server = serve(&tree.root(), false);
    let mut s = server.connect();
    s.write_all(b"HEAD /style.css HTTP/1.1\r\nHost: x\r\n\r\nGET /style.css HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut buf = Vec::new();
    let head = read_response(&mut s, &mut buf, true);
    let get = read_response(&mut s, &mut buf, false);
    let strip = |r: &RawResponse| r.headers.iter().filter(|(n, _)| n != "Date").cloned().collect::<Vec<_>>();
    assert_eq!(strip(&head), strip(&get));
    assert_eq!(get.body, b"h1 { color: red }");
}

#[test]
fn root_must_be_a_directory() {
    let tree = Tree::new("root");
    assert!(DirServer::new(tree.root().join("digits.txt")).is_err());
    assert!(DirServer::new(tree.0.join("nope")).is_err());
}

fn mkfifo(path: &Path) {
    let c = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), 0o644) };
    assert_eq!(rc, 0, "mkfifo {}: {}", path.display(), std::io::Error::last_os_error());
}

/// A one-worker server over a tree holding FIFOs. Before stopping the
/// server it opens every FIFO read-write, which releases a worker stuck
/// opening one, so a regression fails the test instead of hanging it in
/// the server's shutdown.
struct FifoServer {
    server: Option<TestServer>,
    fifos: Vec<PathBuf>,
}

impl Drop for FifoServer {
    fn drop(&mut self) {
        let held: Vec<File> = self
            .fifos
            .iter()
            .filter_map(|p| {
                OpenOptions::new().read(true).write(true).custom_flags(libc::O_NONBLOCK).open(p).ok()
            })
            .collect();
        drop(self.server.take());
        drop(held);
    }
}

#[test]
fn fifos_and_sockets_are_404_and_never_stall_the_worker() {
    let tree = Tree::new("special");
    let root = tree.root();
    std::fs::create_dir(root.join("fifodir")).unwrap();
    let fifos = vec![root.join("fifo"), root.join("fifodir/index.html")];
    for fifo in &fifos {
        mkfifo(fifo);
    }
    let _socket = UnixListener::bind(root.join("sock")).unwrap();
    let site = Arc::new(DirServer::new(&root).unwrap());
    let handler = move |req: &Request<'_>, res: &mut Response<'_>| site.serve(req, res);
    let server = Some(TestServer::start(Config::new().workers(1), handler));
    let guard = FifoServer { server, fifos };
    let server = guard.server.as_ref().unwrap();

    // Nobody ever writes to the FIFOs: a worker that waited in open(2) for
    // a writer would answer none of these, nor anything after them.
    let mut pending = Vec::new();
    for target in ["/fifo", "/fifodir/", "/sock"] {
        let mut s = server.connect();
        s.write_all(format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).unwrap();
        pending.push((target, s));
    }
    let home = get(server, "/index.html", "");
    assert_eq!((home.status, home.body.as_slice()), (200, &b"<h1>home</h1>"[..]));
    for (target, mut s) in pending {
        assert_eq!(read_response(&mut s, &mut Vec::new(), false).status, 404, "{target}");
    }
    assert_eq!(get(server, "/fifodir", "").status, 301);
}

#[test]
fn device_nodes_are_404() {
    // Making a device node needs CAP_MKNOD; serving /dev itself puts a real
    // one under the root for any user.
    let null = std::fs::metadata("/dev/null").unwrap();
    assert!(null.file_type().is_char_device());
    let server = serve(Path::new("/dev"), false);
    assert_eq!(get(&server, "/null", "").status, 404);
}

/// Refuses `openat2` with EPERM on this thread and on every thread it
/// starts from now on (a seccomp filter), as some container runtimes'
/// default profiles do; everything else is allowed. The filter ends with
/// the test's thread.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
fn refuse_openat2_here() {
    use libc::{sock_filter, sock_fprog, BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let op = |code: u32, jt: u8, jf: u8, k: u32| sock_filter { code: code as u16, jt, jf, k };
    let filter = [
        // `seccomp_data.nr`, the system call's number, is at offset 0.
        op(BPF_LD | BPF_W | BPF_ABS, 0, 0, 0),
        op(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, libc::SYS_openat2 as u32),
        op(BPF_RET | BPF_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::EPERM as u32),
        op(BPF_RET | BPF_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ];
    let program = sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: `program` points at `filter`, whose length it states, and
    // both outlive the calls (the kernel copies the program). No new
    // privileges is what lets an unprivileged thread install a filter.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0, "no_new_privs");
        assert_eq!(
            libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &program as *const sock_fprog),
            0,
            "the seccomp filter"
        );
    }
    // The filter is on: `openat2` is refused before its (bad) arguments
    // are looked at, which would be EFAULT.
    // SAFETY: a system call with a null `how`; the filter answers it.
    let rc = unsafe {
        libc::syscall(libc::SYS_openat2, libc::AT_FDCWD, c"/".as_ptr(), std::ptr::null::<u8>(), 0usize)
    };
    assert_eq!((rc, std::io::Error::last_os_error().raw_os_error()), (-1, Some(libc::EPERM)));
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
#[test]
fn without_openat2_files_are_served_and_nothing_outside_the_root() {
    // openat2 refused (EPERM, not ENOSYS): the server falls back to
    // checking containment itself, instead of failing every file.
    refuse_openat2_here();
    let tree = Tree::new("no-openat2");
    let server = serve(&tree.root(), false);
    assert_eq!(get(&server, "/digits.txt", "").body, b"0123456789");
    assert_eq!(get(&server, "/docs/", "").body, b"docs");
    assert_eq!(get(&server, "/inside-link", "").body, b"0123456789");
    for target in ["/escape", "/escape-dir/secret", "/../outside/secret", "/%2e%2e/outside/secret"] {
        let res = get(&server, target, "");
        assert_eq!(res.status, 404, "{target}");
        assert!(!String::from_utf8_lossy(&res.body).contains("SECRET"), "{target} leaked the secret");
    }
}
