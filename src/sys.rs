//! The one module with `unsafe`: what `std` and `mio` do not expose safely.
//!
//! Each block argues its soundness in a `// SAFETY:` comment; the crate
//! denies undocumented unsafe blocks.

use std::alloc::{self, Layout};
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

/// Alignment of every pooled buffer: one page, so buffers never share a
/// cache line (or a page) with anything else.
pub const BUF_ALIGN: usize = 4096;

/// A fixed-size, page-aligned, zero-initialised byte buffer.
///
/// Owned exclusively (like a `Box<[u8]>`), so it can move between threads
/// and be handed out and taken back by a pool without copying.
pub struct AlignedBuf {
    ptr: NonNull<u8>,
    len: usize,
}

impl AlignedBuf {
    /// Allocates `len` zeroed bytes aligned to [`BUF_ALIGN`].
    ///
    /// # Panics
    /// If `len` is zero or overflows a `Layout` (config validation rules
    /// both out); aborts through `handle_alloc_error` when memory runs out.
    pub fn new(len: usize) -> Self {
        assert!(len > 0, "zero-sized buffer");
        let layout = Self::layout(len);
        // SAFETY: `layout` has a non-zero size (asserted above).
        let raw = unsafe { alloc::alloc_zeroed(layout) };
        let Some(ptr) = NonNull::new(raw) else { alloc::handle_alloc_error(layout) };
        AlignedBuf { ptr, len }
    }

    fn layout(len: usize) -> Layout {
        Layout::from_size_align(len, BUF_ALIGN).expect("buffer size overflows a Layout")
    }
}

impl Deref for AlignedBuf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` initialised (zeroed at allocation)
        // bytes that this value owns exclusively until drop; the shared
        // borrow of `self` keeps them from being mutated meanwhile.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as in `deref`; the unique borrow of `self` makes this the
        // only reference to the bytes for its lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from `alloc_zeroed` with exactly this layout
        // (same `len`, same alignment) and is freed only here, once.
        unsafe { alloc::dealloc(self.ptr.as_ptr(), Self::layout(self.len)) }
    }
}

// SAFETY: `AlignedBuf` owns its allocation exclusively, like `Box<[u8]>`;
// no other pointer to it exists, so moving it to another thread is sound.
unsafe impl Send for AlignedBuf {}

// SAFETY: shared references only allow reads of plain bytes (`&[u8]`),
// which is sound from several threads at once, as for `Box<[u8]>`.
unsafe impl Sync for AlignedBuf {}

/// Sends up to `count` bytes of `file` from `offset` to the socket `out`
/// without copying them through user space; returns how many went.
#[cfg(target_os = "linux")]
pub fn sendfile(out: &impl AsRawFd, file: &File, offset: u64, count: usize) -> io::Result<usize> {
    let mut off = libc::off_t::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // Linux sends at most 0x7ffff000 bytes per call anyway.
    let count = count.min(0x7fff_f000);
    // SAFETY: both descriptors are open for the whole call (borrowed from
    // live owners), `off` is a valid, exclusive pointer to a local, and
    // sendfile writes nothing else in our memory.
    let n = unsafe { libc::sendfile(out.as_raw_fd(), file.as_raw_fd(), &mut off, count) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Portable fallback: `pread` into a stack buffer, then `write`.
#[cfg(not(target_os = "linux"))]
pub fn sendfile(out: &impl AsRawFd, file: &File, offset: u64, count: usize) -> io::Result<usize> {
    use std::os::unix::fs::FileExt;
    let mut chunk = [0u8; 16 * 1024];
    let want = count.min(chunk.len());
    let got = file.read_at(&mut chunk[..want], offset)?;
    if got == 0 {
        return Ok(0);
    }
    // SAFETY: `out` is an open descriptor for the whole call and `chunk`
    // holds `got` initialised bytes that write(2) only reads.
    let n = unsafe { libc::write(out.as_raw_fd(), chunk.as_ptr().cast(), got) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// Opens `path` (relative) read-only beneath the directory `root`. The
/// kernel refuses any resolution that would leave `root` — `..` above it,
/// absolute paths, symlinks pointing outside — with `EXDEV`.
/// `Ok(None)`: this kernel has no `openat2` (before Linux 5.6).
#[cfg(target_os = "linux")]
pub fn open_beneath(root: &File, path: &CStr) -> io::Result<Option<File>> {
    use std::os::fd::{FromRawFd, RawFd};
    // SAFETY: `open_how` is three integers (non-exhaustive in libc only
    // so fields can be added); all-zero is a valid value for it.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
    how.resolve = libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS;
    // SAFETY: `root` is an open descriptor for the whole call, `path` is a
    // NUL-terminated string that outlives it, and `how` is a valid
    // `open_how` whose exact size is passed, as openat2(2) requires.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            path.as_ptr(),
            &how as *const libc::open_how,
            std::mem::size_of::<libc::open_how>(),
        )
    };
    if fd < 0 {
        let err = io::Error::last_os_error();
        return match err.raw_os_error() {
            Some(libc::ENOSYS) => Ok(None),
            _ => Err(err),
        };
    }
    // SAFETY: openat2 returned a new descriptor that nothing else owns.
    Ok(Some(unsafe { File::from_raw_fd(fd as RawFd) }))
}

/// No `openat2` here: the caller falls back to a checked path open.
#[cfg(not(target_os = "linux"))]
pub fn open_beneath(_root: &File, _path: &CStr) -> io::Result<Option<File>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_zeroed_and_writable() {
        let mut b = AlignedBuf::new(8192);
        assert_eq!(b.as_ptr() as usize % BUF_ALIGN, 0);
        assert_eq!(b.len(), 8192);
        assert!(b.iter().all(|&x| x == 0));
        b[8191] = 7;
        assert_eq!(b[8191], 7);
    }
}
