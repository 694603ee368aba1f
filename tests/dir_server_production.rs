//! DirServer's production options, through `peregrine::testing`:
//! precompressed variants (`x.br`, `x.gz`) chosen by `Accept-Encoding`
//! with q-values, with their own length and ETag, ranges and 304 on them,
//! fallbacks when a variant is older, not a file or gone; and
//! `Cache-Control` by default, by extension and for fingerprinted names.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use peregrine::testing::{TestClient, TestResponse};
use peregrine::{DirServer, Request, Response};

/// A scratch directory, removed on drop.
struct Tree(PathBuf);

impl Tree {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!("peregrine-prod-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        Tree(root)
    }

    /// Writes `name` with `body`, modified `age` seconds ago.
    fn file(&self, name: &str, body: &[u8], age: u64) -> &Self {
        let path = self.0.join(name);
        std::fs::write(&path, body).unwrap();
        let when = SystemTime::now() - Duration::from_secs(age);
        std::fs::File::options().write(true).open(&path).unwrap().set_modified(when).unwrap();
        self
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn client(site: DirServer) -> TestClient<impl peregrine::Handler> {
    TestClient::new(move |req: &Request<'_>, res: &mut Response<'_>| site.serve(req, res))
}

fn get(
    client: &mut TestClient<impl peregrine::Handler>,
    path: &str,
    headers: &[(&str, &str)],
) -> TestResponse {
    client.request("GET", path, headers, b"")
}

/// `x.js` with both variants, as fresh as it; `old.css` with a stale one.
fn tree(name: &str) -> Tree {
    let tree = Tree::new(name);
    tree.file("x.js", b"console.log('plain')", 100)
        .file("x.js.br", b"BROTLI", 100)
        .file("x.js.gz", b"GZIP!", 50)
        .file("old.css", b"h1{}", 10)
        .file("old.css.gz", b"stale", 100)
        .file("plain.txt", b"no variants", 10);
    tree
}

#[test]
fn the_variant_the_client_prefers_is_served_with_its_own_length_and_tag() {
    let tree = tree("choice");
    let mut c = client(DirServer::new(tree.path()).unwrap().precompressed(true));
    let plain = get(&mut c, "/x.js", &[]);
    assert_eq!((plain.status, plain.text().as_str()), (200, "console.log('plain')"));
    assert_eq!(plain.header("content-encoding"), None);
    assert_eq!(plain.header("vary"), Some("Accept-Encoding"));
    let mut tags = vec![plain.header("etag").unwrap().to_owned()];
    for (accept, body, coding) in [
        ("gzip, deflate, br, zstd", "BROTLI", "br"),
        ("br", "BROTLI", "br"),
        ("gzip", "GZIP!", "gzip"),
        ("x-gzip", "GZIP!", "gzip"),
        ("br;q=0, gzip", "GZIP!", "gzip"),
        ("br;q=0.5, gzip;q=0.9", "GZIP!", "gzip"),
        ("*", "BROTLI", "br"),
    ] {
        let res = get(&mut c, "/x.js", &[("Accept-Encoding", accept)]);
        assert_eq!((res.status, res.text().as_str()), (200, body), "{accept}");
        assert_eq!(res.header("content-encoding"), Some(coding), "{accept}");
        assert_eq!(res.header("content-type"), Some("text/javascript; charset=utf-8"), "{accept}");
        assert_eq!(res.header("content-length"), Some(body.len().to_string().as_str()), "{accept}");
        assert_eq!(res.header("vary"), Some("Accept-Encoding"), "{accept}");
        let tag = res.header("etag").unwrap().to_owned();
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    assert_eq!(tags.len(), 3, "plain, br and gzip each have their own ETag: {tags:?}");
    // Two lines are one list (RFC 9110 §5.3).
    let res = c.request("GET", "/x.js", &[("Accept-Encoding", "identity"), ("Accept-Encoding", "gzip")], b"");
    assert_eq!((res.text().as_str(), res.header("content-encoding")), ("GZIP!", Some("gzip")));
    for accept in ["identity", "br;q=0, gzip;q=0", "*;q=0", "deflate", "identity;q=1, gzip;q=0.2, br;q=0.5"] {
        let res = get(&mut c, "/x.js", &[("Accept-Encoding", accept)]);
        assert_eq!(
            (res.text().as_str(), res.header("content-encoding")),
            ("console.log('plain')", None),
            "{accept}"
        );
    }
}

#[test]
fn ranges_and_304_apply_to_the_variant() {
    let tree = tree("ranges");
    let mut c = client(DirServer::new(tree.path()).unwrap().precompressed(true));
    let br = [("Accept-Encoding", "br")];
    let res = get(&mut c, "/x.js", &[br[0], ("Range", "bytes=1-3")]);
    assert_eq!((res.status, res.text().as_str()), (206, "ROT"));
    assert_eq!(res.header("content-range"), Some("bytes 1-3/6"));
    assert_eq!(res.header("content-encoding"), Some("br"));
    let tag = get(&mut c, "/x.js", &br).header("etag").unwrap().to_owned();
    let res = get(&mut c, "/x.js", &[br[0], ("If-None-Match", &tag)]);
    assert_eq!((res.status, res.header("etag")), (304, Some(tag.as_str())));
    assert_eq!(res.header("vary"), Some("Accept-Encoding"));
    // No representation metadata on a 304 beyond what RFC 9110 §15.4.5 lists.
    assert_eq!((res.header("content-encoding"), res.header("content-type")), (None, None));
    let res = get(&mut c, "/x.js", &[br[0], ("Range", "bytes=10-20")]);
    assert_eq!((res.status, res.header("content-encoding")), (416, None));
    assert_eq!(res.header("content-range"), Some("bytes */6"), "the variant's length");
    // The plain file's tag does not match the variant: a cache holding the
    // plain body must not be told it still holds the Brotli one.
    let plain_tag = get(&mut c, "/x.js", &[]).header("etag").unwrap().to_owned();
    let res = get(&mut c, "/x.js", &[br[0], ("If-None-Match", &plain_tag)]);
    assert_eq!((res.status, res.text().as_str()), (200, "BROTLI"));
    // If-Range with another representation's tag: the whole variant.
    let res = get(&mut c, "/x.js", &[br[0], ("Range", "bytes=0-0"), ("If-Range", &plain_tag)]);
    assert_eq!((res.status, res.text().as_str()), (200, "BROTLI"));
}

#[test]
fn stale_missing_or_odd_variants_fall_back_to_the_file() {
    let tree = tree("fallback");
    std::fs::create_dir(tree.path().join("plain.txt.br")).unwrap();
    std::os::unix::fs::symlink(tree.path().join("gone"), tree.path().join("plain.txt.gz")).unwrap();
    let mut c = client(DirServer::new(tree.path()).unwrap().precompressed(true));
    let res = get(&mut c, "/old.css", &[("Accept-Encoding", "gzip")]);
    assert_eq!((res.text().as_str(), res.header("content-encoding")), ("h1{}", None), "older variant");
    let res = get(&mut c, "/plain.txt", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(
        (res.text().as_str(), res.header("content-encoding")),
        ("no variants", None),
        "dir, dangling link"
    );
    // A variant is never served by its own name as the file's variant
    // (x.js.br asked for directly is just a file).
    let res = get(&mut c, "/x.js.br", &[("Accept-Encoding", "br")]);
    assert_eq!((res.status, res.header("content-encoding")), (200, None));
}

#[test]
fn without_the_option_variants_are_ignored() {
    let tree = tree("off");
    let mut c = client(DirServer::new(tree.path()).unwrap());
    let res = get(&mut c, "/x.js", &[("Accept-Encoding", "br, gzip")]);
    assert_eq!(res.text(), "console.log('plain')");
    assert_eq!((res.header("content-encoding"), res.header("vary")), (None, None));
}

#[test]
fn cache_control_by_default_by_extension_and_for_fingerprinted_names() {
    let tree = tree("cache");
    tree.file("app.3f9a2c1e.js", b"hashed", 10).file("chunk-0a1b2c3d4e.css", b"hashed", 10).file(
        "v1.2.3.txt",
        b"not a hash",
        10,
    );
    tree.file("report-20240101.pdf", b"a date, not a hash", 10);
    let site = DirServer::new(tree.path())
        .unwrap()
        .cache_control("no-cache")
        .cache_control_for("JS", "max-age=3600")
        .immutable_fingerprinted(true);
    let mut c = client(site);
    let cc = |c: &mut TestClient<_>, path: &str| get(c, path, &[]).header("cache-control").map(str::to_owned);
    assert_eq!(cc(&mut c, "/plain.txt").as_deref(), Some("no-cache"));
    assert_eq!(cc(&mut c, "/x.js").as_deref(), Some("max-age=3600"));
    assert_eq!(cc(&mut c, "/app.3f9a2c1e.js").as_deref(), Some("public, max-age=31536000, immutable"));
    assert_eq!(cc(&mut c, "/chunk-0a1b2c3d4e.css").as_deref(), Some("public, max-age=31536000, immutable"));
    assert_eq!(cc(&mut c, "/v1.2.3.txt").as_deref(), Some("no-cache"));
    assert_eq!(cc(&mut c, "/report-20240101.pdf").as_deref(), Some("no-cache"));
    // A 304 carries it too (RFC 9110 §15.4.5); a 404 does not.
    let tag = get(&mut c, "/x.js", &[]).header("etag").unwrap().to_owned();
    let res = get(&mut c, "/x.js", &[("If-None-Match", &tag)]);
    assert_eq!((res.status, res.header("cache-control")), (304, Some("max-age=3600")));
    let res = get(&mut c, "/missing.js", &[]);
    assert_eq!((res.status, res.header("cache-control")), (404, None));
    // A 206 does; a 412 and a 416 do not: a cache must not keep an
    // error for the file's lifetime (RFC 9111 §3).
    let res = get(&mut c, "/x.js", &[("Range", "bytes=0-3")]);
    assert_eq!((res.status, res.header("cache-control")), (206, Some("max-age=3600")));
    let res = get(&mut c, "/app.3f9a2c1e.js", &[("If-Match", "\"nope\"")]);
    assert_eq!((res.status, res.header("cache-control")), (412, None));
    let res = get(&mut c, "/app.3f9a2c1e.js", &[("Range", "bytes=500-")]);
    assert_eq!((res.status, res.header("cache-control")), (416, None));
}

#[test]
#[should_panic(expected = "printable ASCII only")]
fn a_cache_control_value_with_a_line_break_is_refused_when_built() {
    let tree = Tree::new("bad-cc");
    let _ = DirServer::new(tree.path()).unwrap().cache_control("max-age=1\r\nSet-Cookie: x=1");
}
