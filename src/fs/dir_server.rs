//! `DirServer`: a directory served from any handler, with sendfile,
//! validators and byte ranges, and nothing outside the directory reachable.

use std::ffi::CStr;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::encoding::{self, Coding};
use super::mime::content_type;
use super::path::{self, PATH_MAX};
use super::range::{self, ByteRange};
use crate::http::date;
use crate::http::request::{Method, Request};
use crate::http::response::Response;
use crate::http::status::StatusCode;
use crate::http::tokens::{self, Comparison};

const INDEX: &[u8] = b"/index.html";

/// The longest suffix of a precompressed variant (`.br`, `.gz`).
const VARIANT_SUFFIX_MAX: usize = 3;

/// Serves the files under one directory.
///
/// ```no_run
/// use peregrine::{Config, DirServer, Request, Response, Server};
///
/// let site = DirServer::new("./public")?;
/// let handler = move |req: &Request<'_>, res: &mut Response<'_>| site.serve(req, res);
/// Server::bind(Config::new().port(8080), handler)?.run()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// - `GET` and `HEAD`; the other methods [`Method`] names (RFC 9110's and
///   `PATCH`) get `405` with `Allow`, others (`Method::Other`) `501`.
///   (A [`Router`](crate::Router) answers `405` for any method a matched
///   path has no route for.)
/// - A directory serves its `index.html`; asked for without the trailing
///   slash it is answered `301` to the slash form; missing files and
///   directories without an index are `404`.
/// - A redirect's `Location` is always a path on the same host: leading
///   slashes (and `.` segments) collapse to one `/`, so `//evil.com` goes
///   to `/evil.com/`, never to `//evil.com/`, which a browser would take
///   for the host `evil.com`. The query is kept.
/// - Only regular files are served: FIFOs, sockets and device nodes are
///   `404`, as if absent (an `index.html` too). Everything is opened
///   non-blocking, so a FIFO nobody writes to cannot hold up the worker.
/// - The body goes out with `sendfile(2)`; `Content-Type` comes from the
///   extension; `ETag`, `Last-Modified`, the preconditions in RFC 9110
///   §13.2.2's order (`If-Match`, `If-Unmodified-Since` → `412`;
///   `If-None-Match`, `If-Modified-Since` → `304`) and single byte ranges
///   (→ `206`, or `416`; several ranges get the whole file) are supported.
/// - Containment: the path is percent-decoded once, segment by segment;
///   `..`, encoded separators, backslashes and NUL are refused, and so are
///   dotfiles unless [`dotfiles`](DirServer::dotfiles) allows them. On
///   Linux the file is opened with `openat2(RESOLVE_BENEATH)` relative to
///   the directory, so the kernel refuses anything — a symlink included —
///   that resolves outside it; refused paths are `404`. The kernel also
///   refuses absolute symlinks, even to a file inside the directory: link
///   relatively within the tree. (Without `openat2`, an older kernel or a
///   seccomp filter that refuses it, the path is resolved and checked to
///   stay inside instead, and such links are followed.)
/// - The directory is the one `root` named when the server was made: it
///   is opened once, so swapping a symlink that `root` went through (a
///   `current -> releases/N` deploy) changes nothing until a new
///   `DirServer` is made; point it at the release, and restart.
/// - With [`precompressed`](DirServer::precompressed), `x.js` is answered
///   from `x.js.br` or `x.js.gz` when the client's `Accept-Encoding`
///   allows it and that file exists and is not older (as nginx's
///   `gzip_static` and h2o's `file.send-compressed`).
/// - [`cache_control`](DirServer::cache_control) and friends set
///   `Cache-Control`.
/// - No heap allocation per request on Linux (the path is built in a
///   fixed buffer); elsewhere the containment check canonicalises paths,
///   which allocates.
#[derive(Debug)]
pub struct DirServer {
    root: File,
    root_path: PathBuf,
    dotfiles: bool,
    precompressed: bool,
    cache: CacheRules,
}

/// Which `Cache-Control` a file gets, if any.
#[derive(Debug, Default)]
struct CacheRules {
    /// For every file not matched below.
    all: Option<Box<str>>,
    /// By extension (lower case, without the dot), before `all`.
    by_extension: Vec<(Box<str>, Box<str>)>,
    /// Fingerprinted names get `IMMUTABLE`, before everything else.
    immutable_fingerprinted: bool,
}

/// What a fingerprinted name gets: its content never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

impl CacheRules {
    fn for_name(&self, name: &[u8]) -> Option<&str> {
        let file = name.rsplit(|&b| b == b'/').next().unwrap_or(name);
        if self.immutable_fingerprinted && is_fingerprinted(file) {
            return Some(IMMUTABLE);
        }
        let ext = file.iter().rposition(|&b| b == b'.').map(|dot| &file[dot + 1..]);
        let by_ext = ext
            .and_then(|ext| self.by_extension.iter().find(|(e, _)| e.as_bytes().eq_ignore_ascii_case(ext)));
        by_ext.map(|(_, v)| &**v).or(self.all.as_deref())
    }
}

/// A name with a content hash in it: a part of 8 or more hex digits, at
/// least one of them a letter, between `.` or `-` separators before the
/// extension (`app.3f9a2c1e.js`, `chunk-0a1b2c3d4e.css`). All digits is a
/// date or a version (`report-20240101.pdf`), not a hash.
fn is_fingerprinted(file: &[u8]) -> bool {
    let Some(dot) = file.iter().rposition(|&b| b == b'.') else { return false };
    let mut parts = file[..dot].split(|&b| b == b'.' || b == b'-');
    parts.next();
    parts
        .any(|p| p.len() >= 8 && p.iter().all(u8::is_ascii_hexdigit) && p.iter().any(u8::is_ascii_alphabetic))
}

/// A `Cache-Control` value as given to the builder; panics on bytes a
/// field value cannot hold.
fn cache_value(value: &str) -> Box<str> {
    let value = value.trim();
    assert!(
        !value.is_empty() && value.bytes().all(|b| b == b'\t' || (b' '..=b'~').contains(&b)),
        "Cache-Control value {value:?}: printable ASCII only, no line breaks"
    );
    value.into()
}

impl DirServer {
    /// Serves the directory `root`; fails if it cannot be opened or is not
    /// a directory.
    pub fn new(root: impl AsRef<Path>) -> io::Result<Self> {
        let root_path = std::fs::canonicalize(root.as_ref())
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", root.as_ref().display())))?;
        let root = File::open(&root_path)?;
        if !root.metadata()?.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a directory", root_path.display()),
            ));
        }
        Ok(DirServer { root, root_path, dotfiles: false, precompressed: false, cache: CacheRules::default() })
    }

    /// Whether `x` is answered from `x.br` or `x.gz` (default: no), when
    /// the request's `Accept-Encoding` allows that coding (q-values
    /// honoured: `br;q=0` means no; Brotli first among equals; a coding
    /// weighed below a listed `identity` is not taken; several lines are
    /// one list) and the file exists, is a regular file and is not older
    /// than `x` (to the second). It goes
    /// with `Content-Encoding`, `x`'s `Content-Type`, its own length and
    /// `ETag`; ranges and `304` apply to it. Every file answer then says
    /// `Vary: Accept-Encoding`. A variant that cannot be opened (gone
    /// since, or unreadable) is skipped for the next, then `x` itself.
    pub fn precompressed(mut self, on: bool) -> Self {
        self.precompressed = on;
        self
    }

    /// `Cache-Control: VALUE` on every file's answer (`200`, `206`, `304`;
    /// not a `412` or `416`), unless a rule below says otherwise.
    ///
    /// # Panics
    ///
    /// If `value` is empty or holds anything but printable ASCII.
    pub fn cache_control(mut self, value: &str) -> Self {
        self.cache.all = Some(cache_value(value));
        self
    }

    /// `Cache-Control: VALUE` for files with `extension` (`"js"`; ASCII
    /// case-insensitive), before [`cache_control`](DirServer::cache_control).
    ///
    /// # Panics
    ///
    /// As [`cache_control`](DirServer::cache_control).
    pub fn cache_control_for(mut self, extension: &str, value: &str) -> Self {
        let extension = extension.trim_start_matches('.').to_ascii_lowercase().into();
        self.cache.by_extension.push((extension, cache_value(value)));
        self
    }

    /// Whether fingerprinted names — a part of 8 or more hex digits, one at
    /// least a letter, between `.` or `-` before the extension, as bundlers
    /// write content hashes (`app.3f9a2c1e.js`; not `report-20240101.pdf`)
    /// — get `Cache-Control: public, max-age=31536000, immutable`, before
    /// every other rule (default: no).
    pub fn immutable_fingerprinted(mut self, on: bool) -> Self {
        self.cache.immutable_fingerprinted = on;
        self
    }

    /// Whether files and directories whose name starts with `.` are served
    /// (default: no, they are `404`).
    pub fn dotfiles(mut self, allow: bool) -> Self {
        self.dotfiles = allow;
        self
    }

    /// The directory served (canonical).
    pub fn root(&self) -> &Path {
        &self.root_path
    }

    /// Answers `req` from the directory.
    pub fn serve(&self, req: &Request<'_>, res: &mut Response<'_>) {
        self.serve_path(req, res, req.path());
    }

    /// Answers `req` with the file at `path` (still percent-encoded, as in
    /// a request; `/` is the root) instead of the request's own path: the
    /// way to serve the directory under a prefix, e.g. with a
    /// [`Router`](crate::Router)'s wildcard.
    ///
    /// ```no_run
    /// use peregrine::{DirServer, Params, Request, Response, Router};
    ///
    /// let assets = DirServer::new("./public").unwrap();
    /// let router = Router::new().get("/static/*file", move |req: &Request<'_>, res: &mut Response<'_>, p: &Params<'_>| {
    ///     let mut path = [0u8; 1024];
    ///     match join_slash(p.get("file").unwrap_or(""), &mut path) {
    ///         Some(path) => assets.serve_path(req, res, path),
    ///         None => {
    ///             res.status(peregrine::StatusCode::URI_TOO_LONG);
    ///         }
    ///     }
    /// });
    /// // `/` + `rest`, without allocating.
    /// fn join_slash<'b>(rest: &str, buf: &'b mut [u8]) -> Option<&'b str> {
    ///     let out = buf.get_mut(..rest.len() + 1)?;
    ///     out[0] = b'/';
    ///     out[1..].copy_from_slice(rest.as_bytes());
    ///     std::str::from_utf8(out).ok()
    /// }
    /// # let _ = router;
    /// ```
    pub fn serve_path(&self, req: &Request<'_>, res: &mut Response<'_>, path: &str) {
        match req.method() {
            Method::Get | Method::Head => {}
            // A method this server does not know: not implemented (RFC
            // 9110 §15.6.2); the known ones are not allowed here (§15.5.6).
            Method::Other(_) => {
                res.status(StatusCode::NOT_IMPLEMENTED);
                return;
            }
            _ => {
                res.status(StatusCode::METHOD_NOT_ALLOWED).header("Allow", "GET, HEAD");
                return;
            }
        }
        let mut buf = [0u8; PATH_MAX + 1 + INDEX.len() + VARIANT_SUFFIX_MAX];
        let resolved = {
            let head: &mut [u8; PATH_MAX + 1] = (&mut buf[..PATH_MAX + 1]).try_into().expect("sized above");
            path::resolve(path, head, self.dotfiles)
        };
        let Ok(resolved) = resolved else {
            res.status(StatusCode::NOT_FOUND);
            return;
        };
        let opened = self.open(&buf[..=resolved.len]).and_then(|f| Ok((f.metadata()?, f)));
        let (mut meta, mut file) = match opened {
            Ok(found) => found,
            Err(e) => return not_found(res, &e),
        };
        let mut name_len = resolved.len;
        if meta.is_dir() {
            // Asked for as `/dir` (or `/dir/.`): to its one name, `/dir/`.
            if !path.ends_with('/') {
                return redirect_to_slash(req, res);
            }
            buf[name_len..name_len + INDEX.len()].copy_from_slice(INDEX);
            name_len += INDEX.len();
            buf[name_len] = 0;
            match self.open(&buf[..=name_len]).and_then(|f| Ok((f.metadata()?, f))) {
                Ok((m, f)) => (meta, file) = (m, f),
                Err(e) => return not_found(res, &e),
            }
        } else if resolved.trailing_slash {
            // `/a.txt/` names a directory, and `a.txt` is none.
            res.status(StatusCode::NOT_FOUND);
            return;
        }
        if !meta.is_file() {
            res.status(StatusCode::NOT_FOUND);
            return;
        }
        let name = &buf[..name_len];
        let mut labels = Labels { mime: content_type(name), coding: None, cache: self.cache.for_name(name) };
        if self.precompressed {
            res.header("Vary", "Accept-Encoding");
            if let Some((coding, variant, vmeta)) = self.variant(req, &mut buf, name_len, &meta) {
                labels.coding = Some(coding);
                return send(req, res, variant, &vmeta, &labels);
            }
        }
        send(req, res, file, &meta, &labels);
    }

    /// The precompressed variant of the file named by `buf[..name_len]`
    /// the request takes, if one is there and not older than `original`.
    fn variant(
        &self,
        req: &Request<'_>,
        buf: &mut [u8],
        name_len: usize,
        original: &Metadata,
    ) -> Option<(Coding, File, Metadata)> {
        let headers = req.headers();
        encoding::preferred(|| headers.get_all("accept-encoding")).find_map(|coding| {
            let suffix = coding.suffix();
            let end = name_len + suffix.len();
            buf[name_len..end].copy_from_slice(suffix);
            buf[end] = 0;
            // Opened, then looked at: one that vanished in between is
            // simply not there; the original is served.
            let file = self.open(&buf[..=end]).ok()?;
            let meta = file.metadata().ok()?;
            // To the second: compressors that keep the original's time
            // (`brotli -k`) often keep only its seconds.
            let current = meta.mtime() >= original.mtime();
            (meta.is_file() && current).then_some((coding, file, meta))
        })
    }

    /// Opens `rel` (NUL-terminated) beneath the root.
    fn open(&self, rel: &[u8]) -> io::Result<File> {
        let rel = CStr::from_bytes_with_nul(rel).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        if let Some(file) = crate::sys::open_beneath(&self.root, rel)? {
            return Ok(file);
        }
        open_checked(&self.root_path, rel)
    }
}

/// Without `openat2`: resolves the path and checks it stays under `root`.
/// Non-blocking, like `open_beneath`, so that a FIFO cannot hold the
/// worker in `open`.
fn open_checked(root: &Path, rel: &CStr) -> io::Result<File> {
    let path = std::str::from_utf8(rel.to_bytes()).map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
    let full = std::fs::canonicalize(root.join(path))?;
    if !full.starts_with(root) {
        return Err(io::Error::from(io::ErrorKind::NotFound));
    }
    OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY).open(full)
}

/// Everything that cannot be opened is `404`, except running out of
/// descriptors, which is the server's problem (`503`).
fn not_found(res: &mut Response<'_>, e: &io::Error) {
    let status = match e.raw_os_error() {
        Some(libc::EMFILE | libc::ENFILE) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::NOT_FOUND,
    };
    res.status(status);
}

/// `301` to the directory's slash form. The path is sent back as the client
/// wrote it, except its leading empty and `.` segments, which resolution
/// ignored anyway: `//evil.com/` is protocol-relative, a browser would
/// follow it to the host `evil.com`. Whatever follows the one `/` is a
/// name, and never a `\` (also read as `/` by browsers), which resolution
/// refuses before this point. (A router sends a directory it mounts
/// under a wildcard here too, when asked for without its slash.)
pub(crate) fn redirect_to_slash(req: &Request<'_>, res: &mut Response<'_>) {
    let path = skip_leading_dot_segments(req.path());
    let slash = if path.is_empty() { "" } else { "/" };
    let query = req.query_str();
    let sep = if query.is_empty() { "" } else { "?" };
    res.status(StatusCode::MOVED_PERMANENTLY)
        .header_fmt("Location", format_args!("/{path}{slash}{sep}{query}"));
}

/// `path` without its leading `/`, and without the empty and `.` (also
/// written `%2e`) segments before its first name.
fn skip_leading_dot_segments(path: &str) -> &str {
    let mut rest = path;
    loop {
        rest = rest.trim_start_matches('/');
        let (segment, after) = rest.split_once('/').unwrap_or((rest, ""));
        if segment != "." && !segment.eq_ignore_ascii_case("%2e") {
            return rest;
        }
        rest = after;
    }
}

/// A strong validator from the file's modification time and size.
struct ETag {
    buf: [u8; 48],
    len: usize,
}

impl ETag {
    /// For the file `meta` describes, served as `coding` (if it is a
    /// precompressed variant): a variant's tag differs from its original's.
    fn of(meta: &Metadata, coding: Option<Coding>) -> Self {
        let mut buf = [0u8; 48];
        let mut w = &mut buf[..];
        let coding = coding.map_or("", Coding::token);
        let dash = if coding.is_empty() { "" } else { "-" };
        // 3 hex numbers, a coding of 4 bytes at most and 5 punctuation
        // bytes always fit 48 bytes.
        let _ = write!(w, "\"{:x}.{:x}-{:x}{dash}{coding}\"", meta.mtime(), meta.mtime_nsec(), meta.size());
        let len = 48 - w.len();
        ETag { buf, len }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }

    /// Whether any line of the entity-tag list `name` (lines of a list
    /// field are one list, RFC 9110 §5.3) is `*` or holds this tag by
    /// `comparison`; `None` when the request has no such field.
    fn listed_in(&self, req: &Request<'_>, name: &str, comparison: Comparison) -> Option<bool> {
        let mut lines = req.headers().get_all(name).peekable();
        lines.peek()?;
        Some(lines.any(|list| tokens::has_entity_tag(list, self.as_bytes(), comparison)))
    }
}

/// What an answer says of the file besides its validators.
struct Labels<'a> {
    mime: &'a str,
    /// The coding of a precompressed variant.
    coding: Option<Coding>,
    /// `Cache-Control`, for the answers that carry the file or stand for
    /// it (200, 206, 304), not for a 412 or 416, which a cache must not
    /// keep as long.
    cache: Option<&'a str>,
}

fn send(req: &Request<'_>, res: &mut Response<'_>, file: File, meta: &Metadata, labels: &Labels<'_>) {
    let Labels { mime, coding, cache } = *labels;
    let cached = |res: &mut Response<'_>| {
        if let Some(value) = cache {
            res.header("Cache-Control", value);
        }
    };
    let etag = ETag::of(meta, coding);
    let modified = Modified::of(meta);
    res.header("ETag", etag.as_bytes())
        .header("Last-Modified", date::render(modified.secs))
        .header("Accept-Ranges", "bytes");
    match precondition(req, &etag, modified.secs) {
        Precondition::Holds => {}
        Precondition::NotModified => {
            cached(res);
            res.status(StatusCode::NOT_MODIFIED);
            return;
        }
        Precondition::Failed => {
            res.status(StatusCode::PRECONDITION_FAILED);
            return;
        }
    }
    res.header("Content-Type", mime);
    let size = meta.len();
    let encoded = |res: &mut Response<'_>| {
        if let Some(coding) = coding {
            res.header("Content-Encoding", coding.token());
        }
    };
    // Two `Range` lines are no valid range: ignored, as a server may.
    // Ranges are defined for GET only; a HEAD's is ignored (RFC 9110
    // §14.2), so it states what a plain GET gets.
    let mut ranges = req.headers().get_all("range");
    let range = match (ranges.next(), ranges.next()) {
        (Some(value), None) if req.method() == Method::Get && if_range_holds(req, &etag, &modified) => {
            range::parse(value, size)
        }
        _ => ByteRange::Whole,
    };
    match range {
        ByteRange::Whole => {
            cached(res);
            encoded(res);
            res.body_file(file, 0, size);
        }
        ByteRange::Part { start, end } => {
            cached(res);
            encoded(res);
            res.status(StatusCode::PARTIAL_CONTENT)
                .header_fmt("Content-Range", format_args!("bytes {start}-{end}/{size}"))
                .body_file(file, start, end - start + 1);
        }
        ByteRange::Unsatisfiable => {
            res.status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header_fmt("Content-Range", format_args!("bytes */{size}"));
        }
    }
}

/// What a request's preconditions say of the file it names.
#[derive(Debug, PartialEq, Eq)]
enum Precondition {
    /// None, or all hold: the request goes on.
    Holds,
    /// `304`: the client's copy is current.
    NotModified,
    /// `412`: the file is not the one the client's change was for.
    Failed,
}

/// The preconditions in RFC 9110 §13.2.2's order: `If-Match`, else
/// `If-Unmodified-Since` (412 when false); then `If-None-Match`, else
/// `If-Modified-Since` (304 when false, for the GET and HEAD served here).
fn precondition(req: &Request<'_>, etag: &ETag, modified: u64) -> Precondition {
    // Dates in the fields may be before 1970, so compare signed.
    let modified = i64::try_from(modified).unwrap_or(i64::MAX);
    let unchanged = match etag.listed_in(req, "if-match", Comparison::Strong) {
        Some(listed) => listed,
        None => one_date(req, "if-unmodified-since").is_none_or(|since| modified <= since),
    };
    if !unchanged {
        return Precondition::Failed;
    }
    let current = match etag.listed_in(req, "if-none-match", Comparison::Weak) {
        Some(listed) => listed,
        None => one_date(req, "if-modified-since").is_some_and(|since| modified <= since),
    };
    if current {
        Precondition::NotModified
    } else {
        Precondition::Holds
    }
}

/// The date of the date field `name` if it has one line with a valid
/// date; a recipient ignores one that does not (RFC 9110 §13.1.3, §13.1.4).
fn one_date(req: &Request<'_>, name: &str) -> Option<i64> {
    let mut lines = req.headers().get_all(name);
    let date = lines.next().and_then(date::parse)?;
    lines.next().is_none().then_some(date)
}

/// `If-Range`: the range applies only if the validator still matches,
/// strongly (RFC 9110 §13.1.5); two lines are no valid field, and the
/// whole file is sent.
fn if_range_holds(req: &Request<'_>, etag: &ETag, modified: &Modified) -> bool {
    let mut lines = req.headers().get_all("if-range");
    match (lines.next(), lines.next()) {
        (None, _) => true,
        (Some(v), None) if v.starts_with(b"\"") => v.trim_ascii() == etag.as_bytes(),
        (Some(v), None) => modified.settled && date::parse(v) == i64::try_from(modified.secs).ok(),
        (Some(_), Some(_)) => false,
    }
}

/// A file's modification time as its `Last-Modified` states it.
struct Modified {
    /// Whole seconds since the epoch, never later than the response's
    /// `Date`: a date in the future (a clock that was ahead where the
    /// file was made) is stated as now (RFC 9110 §8.8.2.1), so a later
    /// change still moves it.
    secs: u64,
    /// The file has not changed for a second or more: a change within the
    /// second its date names would now be seen, so the date is a strong
    /// validator (RFC 9110 §8.8.2.2) where `If-Range` needs one. Where a
    /// change could still come in the same second, a resumed download
    /// could join two versions.
    settled: bool,
}

impl Modified {
    fn of(meta: &Metadata) -> Self {
        let now = SystemTime::now();
        let now_secs = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
        let settled = now.duration_since(mtime).is_ok_and(|age| age >= Duration::from_secs(1));
        // The second before now: the response's Date is the worker's
        // clock at the start of its turn, which may be a second behind.
        let secs = u64::try_from(meta.mtime()).unwrap_or(0).min(now_secs.saturating_sub(1));
        Modified { secs, settled }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileTypeExt;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn redirect_paths_start_with_a_name() {
        for (path, want) in [
            ("/docs", "docs"),
            ("//evil.com", "evil.com"),
            ("/./%2E/%2e//a/./b", "a/./b"),
            ("/.", ""),
            ("//./", ""),
            ("/.x", ".x"),
            ("/%2e%2e", "%2e%2e"),
        ] {
            assert_eq!(skip_leading_dot_segments(path), want, "{path}");
        }
    }

    #[test]
    fn checked_open_of_a_fifo_returns_at_once() {
        let root = std::env::temp_dir().join(format!("peregrine-open-checked-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir(&root).unwrap();
        let root = std::fs::canonicalize(root).unwrap();
        let fifo = root.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success(), "mkfifo failed");
        let (tx, rx) = mpsc::channel();
        let dir = root.clone();
        std::thread::spawn(move || {
            let _ = tx.send(open_checked(&dir, c"fifo").and_then(|f| f.metadata()));
        });
        let opened = rx.recv_timeout(Duration::from_secs(10));
        if opened.is_err() {
            // Release the stuck opener (a reader-writer counts as a writer).
            let _held = OpenOptions::new().read(true).write(true).open(&fifo);
            let _ = std::fs::remove_dir_all(&root);
            panic!("open of a FIFO blocked waiting for a writer");
        }
        let _ = std::fs::remove_dir_all(&root);
        assert!(opened.unwrap().unwrap().file_type().is_fifo());
    }
}
