//! A request body written to a file as it arrives ([`BodyFile`]), with a
//! size limit, so an upload of any size costs one read buffer of memory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::http::intake::{BodySink, Intake};
use crate::http::request::Request;
use crate::http::response::Response;
use crate::http::status::StatusCode;

/// Temporary files made by this process, for unique names.
static TEMP_FILES: AtomicU64 = AtomicU64::new(0);

/// A file a request body is written into as it arrives, at most `limit`
/// bytes. Dropped, it removes its file, unless [`keep`](BodyFile::keep)
/// took it: an upload that is refused (over its limit), abandoned (the
/// client went away, a malformed body) or only looked at leaves nothing
/// behind.
///
/// [`BodyFile::intake`] makes it the destination of a request's body
/// without the handler touching the bytes:
///
/// ```
/// use peregrine::{BodyFile, Handler, Intake, Request, Response, StatusCode};
///
/// struct Uploads;
///
/// impl Handler for Uploads {
///     fn intake(&self, req: &Request<'_>) -> Intake {
///         if req.path() != "/upload" {
///             return Intake::Buffer;
///         }
///         match BodyFile::temp(100 << 20) {
///             Ok(file) => file.intake(req, |_req, res, file| {
///                 // The whole body is in `file`, which is removed when it
///                 // drops here (`keep` would take it).
///                 std::io::Write::write_fmt(res, format_args!("{} bytes\n", file.len())).unwrap();
///             }),
///             Err(_) => Intake::Refuse(StatusCode::INTERNAL_SERVER_ERROR),
///         }
///     }
///     fn handle(&self, _req: &Request<'_>, res: &mut Response<'_>) {
///         res.status(StatusCode::NOT_FOUND);
///     }
/// }
/// ```
#[derive(Debug)]
pub struct BodyFile {
    file: File,
    path: Removal,
    len: u64,
    limit: u64,
}

/// A path whose file is removed when this drops, unless disarmed.
#[derive(Debug)]
struct Removal {
    path: PathBuf,
    armed: bool,
}

impl Drop for Removal {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl BodyFile {
    fn new(file: File, path: PathBuf, limit: u64) -> Self {
        BodyFile { file, path: Removal { path, armed: true }, len: 0, limit }
    }

    /// Creates a new file at `path` (an error if one is there: an upload
    /// that is then refused or abandoned removes its file, which must not
    /// be one it did not make), to take at most `limit` bytes. To replace
    /// a file once the whole body is in, write a [`temp_in`](BodyFile::temp_in)
    /// file beside it and [`persist`](BodyFile::persist) it there.
    pub fn create(path: impl Into<PathBuf>, limit: u64) -> io::Result<Self> {
        let path = path.into();
        let file = OpenOptions::new().write(true).read(true).create_new(true).open(&path)?;
        Ok(BodyFile::new(file, path, limit))
    }

    /// A new file in the system's temporary directory
    /// ([`std::env::temp_dir`]), readable by this user only, to take at
    /// most `limit` bytes.
    pub fn temp(limit: u64) -> io::Result<Self> {
        Self::temp_in(std::env::temp_dir(), limit)
    }

    /// A new file in `dir`, readable by this user only, to take at most
    /// `limit` bytes.
    pub fn temp_in(dir: impl AsRef<Path>, limit: u64) -> io::Result<Self> {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        loop {
            let n = TEMP_FILES.fetch_add(1, Ordering::Relaxed);
            let name = format!("peregrine-upload-{}-{n}-{nanos:08x}", std::process::id());
            let path = dir.as_ref().join(name);
            let opened = OpenOptions::new().write(true).read(true).create_new(true).mode(0o600).open(&path);
            match opened {
                Ok(file) => return Ok(BodyFile::new(file, path, limit)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// Appends a piece of the body: `413` (and the file removed when this
    /// drops) past the limit; `507` when the disk or the user's quota is
    /// full, `500` when the file cannot be written otherwise (the error
    /// logged).
    pub fn write(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        let len = self.len + piece.len() as u64;
        if len > self.limit {
            return Err(StatusCode::PAYLOAD_TOO_LARGE);
        }
        if let Err(e) = self.file.write_all(piece) {
            crate::logging::log_error!("could not write an upload to {}: {e}", self.path.path.display());
            return Err(match e.raw_os_error() {
                Some(libc::ENOSPC | libc::EDQUOT) => StatusCode::INSUFFICIENT_STORAGE,
                _ => StatusCode::INTERNAL_SERVER_ERROR,
            });
        }
        self.len = len;
        Ok(())
    }

    /// The bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The limit it was made with.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path.path
    }

    /// The open file (opened for reading too: seek to the start to read
    /// it back).
    pub fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Keeps the file: it is no longer removed, and the open file and its
    /// path are the caller's.
    pub fn keep(self) -> (File, PathBuf) {
        let BodyFile { file, mut path, .. } = self;
        path.armed = false;
        (file, std::mem::take(&mut path.path))
    }

    /// Keeps the file as `path`, renamed there (replacing what is there,
    /// atomically; on the same file system only): the open file is the
    /// caller's. On an error the file is still this one's, and removed
    /// when it drops.
    pub fn persist(self, path: impl AsRef<Path>) -> io::Result<File> {
        fs::rename(&self.path.path, path)?;
        Ok(self.keep().0)
    }

    /// Streams the body of `req` into this file, then calls `then` with
    /// the request, its response and the file, all of the body in it, to
    /// answer (in place, or later through [`Response::defer`]). A declared
    /// `Content-Length` over the limit is refused `413` before anything is
    /// read (a client that sent `Expect: 100-continue` sends nothing).
    pub fn intake<F>(self, req: &Request<'_>, then: F) -> Intake
    where
        F: FnOnce(&Request<'_>, &mut Response<'_>, BodyFile) + Send + 'static,
    {
        if req.content_length().is_some_and(|length| length > self.limit) {
            return Intake::Refuse(StatusCode::PAYLOAD_TOO_LARGE);
        }
        Intake::stream(ToFile { file: self, then })
    }
}

/// A body streamed into a [`BodyFile`], answered by `then` once whole.
struct ToFile<F> {
    file: BodyFile,
    then: F,
}

impl<F> BodySink for ToFile<F>
where
    F: FnOnce(&Request<'_>, &mut Response<'_>, BodyFile) + Send + 'static,
{
    fn data(&mut self, piece: &[u8]) -> Result<(), StatusCode> {
        self.file.write(piece)
    }

    fn end(self: Box<Self>, req: &Request<'_>, res: &mut Response<'_>) {
        let ToFile { file, then } = *self;
        then(req, res, file)
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Seek};

    use super::*;

    #[test]
    fn a_temp_file_takes_up_to_its_limit_and_is_removed_unless_kept() {
        let mut file = BodyFile::temp(10).unwrap();
        let path = file.path().to_path_buf();
        assert!(path.exists());
        assert_eq!(file.write(b"hello"), Ok(()));
        assert_eq!(file.write(b"world"), Ok(()));
        assert_eq!(file.len(), 10);
        assert_eq!(file.write(b"!"), Err(StatusCode::PAYLOAD_TOO_LARGE));
        assert_eq!(file.len(), 10, "the refused piece is not written");
        let mut back = String::new();
        file.file().rewind().unwrap();
        file.file().read_to_string(&mut back).unwrap();
        assert_eq!(back, "helloworld");
        drop(file);
        assert!(!path.exists(), "a dropped file is removed");

        let mut file = BodyFile::temp(10).unwrap();
        file.write(b"kept").unwrap();
        let (_, path) = file.keep();
        assert_eq!(fs::read(&path).unwrap(), b"kept");
        assert_eq!(
            BodyFile::create(&path, 1).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists,
            "not replaced"
        );
        assert_eq!(fs::read(&path).unwrap(), b"kept", "nor removed");

        // Persisted over it, atomically.
        let mut file = BodyFile::temp(10).unwrap();
        let temp = file.path().to_path_buf();
        file.write(b"new").unwrap();
        file.persist(&path).unwrap();
        assert!(!temp.exists());
        assert_eq!(fs::read(&path).unwrap(), b"new");
        fs::remove_file(path).unwrap();
    }

    #[test]
    fn temp_files_have_their_own_names() {
        let a = BodyFile::temp(1).unwrap();
        let b = BodyFile::temp(1).unwrap();
        assert_ne!(a.path(), b.path());
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(fs::metadata(a.path()).unwrap().permissions().mode() & 0o777, 0o600);
    }
}
