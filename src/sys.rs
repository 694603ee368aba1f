//! The one module with `unsafe`: what `std` and `mio` do not expose safely.
//!
//! Each block argues its soundness in a `// SAFETY:` comment; the crate
//! denies undocumented unsafe blocks.

use std::alloc::{self, Layout};
use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::ops::{Deref, DerefMut};
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
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

/// `bytes` as a `&str` if they are all ASCII: a check of a word at a time
/// instead of a full UTF-8 decode, for the short strings of a head.
#[inline]
pub fn ascii_str(bytes: &[u8]) -> Option<&str> {
    let word = |b: &[u8]| u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let ascii = match bytes.len() {
        // Two words, overlapping where they must, cover most targets:
        // about a third of the instructions of the general check.
        n @ 8..=16 => (word(bytes) | word(&bytes[n - 8..])) & 0x8080_8080_8080_8080 == 0,
        _ => bytes.is_ascii(),
    };
    // SAFETY: every byte is below 0x80, and a sequence of ASCII bytes is
    // valid UTF-8 (each byte is a one-byte code point).
    ascii.then(|| unsafe { std::str::from_utf8_unchecked(bytes) })
}

/// A set of ASCII bytes, as a table; [`AsciiSet::run`] reads a run of its
/// members as a `&str` without a UTF-8 check, since members are ASCII.
pub struct AsciiSet([bool; 256]);

impl AsciiSet {
    /// The set whose members are the `true` entries of `table`.
    ///
    /// # Panics
    ///
    /// If a member is not ASCII; in a `const` or `static`, that stops the
    /// build instead.
    pub const fn new(table: [bool; 256]) -> Self {
        let mut b = 0x80;
        while b < 256 {
            assert!(!table[b], "an AsciiSet holds ASCII bytes only");
            b += 1;
        }
        AsciiSet(table)
    }

    /// Whether `b` is a member.
    #[inline(always)]
    pub const fn contains(&self, b: u8) -> bool {
        self.0[b as usize]
    }

    /// The members at the start of `bytes`, up to the first non-member.
    #[inline(always)]
    pub fn run<'a>(&self, bytes: &'a [u8]) -> &'a str {
        let n = bytes.iter().position(|&b| !self.contains(b)).unwrap_or(bytes.len());
        // SAFETY: each of `bytes[..n]` is a member, `new` admits only ASCII
        // members, and ASCII bytes are valid UTF-8.
        unsafe { std::str::from_utf8_unchecked(&bytes[..n]) }
    }
}

/// Bit k set: byte k of `block` is below `n` (`n` ≤ 128) or is DEL. One
/// unsigned minimum and two compares over all sixteen bytes.
#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
#[inline(always)]
pub fn sse2_below_or_del(block: &[u8; 16], n: u8) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    debug_assert!((1..=128).contains(&n));
    // SAFETY: the `cfg` admits this function only where SSE2 is enabled
    // at compile time (it is part of the x86-64 baseline), so its
    // intrinsics are available on every CPU the binary runs on. The one
    // load reads exactly the sixteen bytes `block` borrows, and
    // `_mm_loadu_si128` needs no alignment.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast());
        // min(x, n - 1) == x exactly when x ≤ n - 1, unsigned.
        let low = _mm_cmpeq_epi8(_mm_min_epu8(x, _mm_set1_epi8((n - 1) as i8)), x);
        let del = _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7f));
        _mm_movemask_epi8(_mm_or_si128(low, del)) as u32
    }
}

/// Uninitialised slots filled front to back; only the filled prefix can
/// be read. Lets a parser fill caller-owned storage without paying to
/// initialise slots it never uses.
pub struct Filling<'s, T> {
    slots: &'s mut [std::mem::MaybeUninit<T>],
    filled: usize,
}

impl<'s, T> Filling<'s, T> {
    /// Starts filling `slots` from the first.
    #[inline]
    pub fn new(slots: &'s mut [std::mem::MaybeUninit<T>]) -> Self {
        Filling { slots, filled: 0 }
    }

    /// Fills the next slot; `Err(value)` when all are full.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), T> {
        match self.slots.get_mut(self.filled) {
            Some(slot) => {
                slot.write(value);
                self.filled += 1;
                Ok(())
            }
            None => Err(value),
        }
    }

    /// The filled slots.
    #[inline]
    pub fn into_filled(self) -> &'s [T] {
        let init = &self.slots[..self.filled];
        // SAFETY: `push` wrote each of the first `filled` slots, and this
        // type gives no way to un-write or move out of one. `MaybeUninit<T>`
        // has the layout of `T`, so the cast keeps length and alignment.
        // (The values are never dropped, like any `MaybeUninit`: fine for
        // the `Copy` fields parsed here, and never unsound.)
        unsafe { &*(init as *const [std::mem::MaybeUninit<T>] as *const [T]) }
    }
}

/// Reads what a socket has into `buf` (`recv(2)`).
///
/// On 64-bit Linux the system call is made directly. The C library's
/// `recv` is a thread-cancellation point: it spends about 60 instructions
/// per call where `syscall(2)` spends about 11 (callgrind, glibc 2.36),
/// once per request on a keep-alive connection. This crate never cancels
/// threads, so the cancellation point buys nothing.
pub fn recv(sock: &impl AsRawFd, buf: &mut [u8]) -> io::Result<usize> {
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    // SAFETY: `sock` is an open descriptor for the whole call (borrowed
    // from its owner); the kernel writes at most `buf.len()` bytes to
    // `buf`, which is valid and exclusively borrowed; the null address
    // pointers ask for no sender address, so nothing else is written.
    // Every argument is a full register: no variadic argument is narrower
    // than the kernel reads.
    let n = unsafe {
        libc::syscall(
            libc::SYS_recvfrom,
            libc::c_long::from(sock.as_raw_fd()),
            buf.as_mut_ptr(),
            buf.len(),
            0 as libc::c_long,
            std::ptr::null_mut::<libc::sockaddr>(),
            std::ptr::null_mut::<libc::socklen_t>(),
        )
    };
    #[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
    // SAFETY: as above: an open descriptor, and a valid, exclusive buffer
    // of `buf.len()` bytes that is all the call may write.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    byte_count(n)
}

/// Writes the slices of `bufs` to a socket in order (`writev(2)`); made
/// directly on 64-bit Linux, as [`recv`] is. More slices than the system
/// takes (`IOV_MAX`) are refused with `EINVAL`.
pub fn writev(sock: &impl AsRawFd, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // `IoSlice` is ABI-compatible with `iovec` (std guarantees it).
    #[cfg(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")))]
    // SAFETY: `sock` is open for the whole call; `bufs` is `bufs.len()`
    // valid `iovec`s whose memory the kernel only reads, and stays
    // borrowed until the call returns. Every argument is a full register.
    let n = unsafe {
        libc::syscall(libc::SYS_writev, libc::c_long::from(sock.as_raw_fd()), bufs.as_ptr(), bufs.len())
    };
    #[cfg(not(all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64"))))]
    // SAFETY: as above.
    let n = unsafe {
        let count = libc::c_int::try_from(bufs.len()).unwrap_or(libc::c_int::MAX);
        libc::writev(sock.as_raw_fd(), bufs.as_ptr().cast(), count)
    };
    byte_count(n)
}

/// A system call's byte count, or the error `errno` holds when it is
/// negative.
fn byte_count<N: TryInto<usize>>(n: N) -> io::Result<usize> {
    n.try_into().map_err(|_| io::Error::last_os_error())
}

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

/// Opens `path` (relative) read-only and non-blocking beneath the
/// directory `root`. The kernel refuses any resolution that would leave
/// `root` — `..` above it, absolute paths, symlinks pointing outside — with
/// `EXDEV`. `O_NONBLOCK` because the caller has not yet seen what `path`
/// is: a FIFO would otherwise hold the thread in `open` until a writer
/// came, and a device may wait for its line; for regular files and
/// directories it changes nothing.
/// `Ok(None)`: `openat2` is not there (a kernel before Linux 5.6) or not
/// allowed (a seccomp filter), and the caller checks containment itself.
#[cfg(target_os = "linux")]
pub fn open_beneath(root: &File, path: &CStr) -> io::Result<Option<File>> {
    use std::os::fd::{FromRawFd, RawFd};
    // SAFETY: `open_how` is three integers (non-exhaustive in libc only
    // so fields can be added); all-zero is a valid value for it.
    let mut how: libc::open_how = unsafe { std::mem::zeroed() };
    how.flags = (libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY) as u64;
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
            // EPERM: a seccomp filter that refuses system calls it does not
            // know (as some container runtimes' did) says so this way.
            Some(libc::ENOSYS | libc::EPERM) => Ok(None),
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

/// Has the kernel hand over a connection on `listener` only once the
/// client has sent something (or after about `secs` seconds of silence):
/// `TCP_DEFER_ACCEPT`. Elsewhere than Linux, a no-op.
#[cfg(target_os = "linux")]
pub fn defer_accept(listener: &impl AsRawFd, secs: u32) -> io::Result<()> {
    let secs = libc::c_int::try_from(secs).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is open for the whole call (borrowed from a
    // live owner); the option value is a local `c_int` whose address and
    // size are passed together, and setsockopt only reads it.
    let r = unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            (&secs as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Elsewhere, connections are handed over as soon as they are made.
#[cfg(not(target_os = "linux"))]
pub fn defer_accept(_listener: &impl AsRawFd, _secs: u32) -> io::Result<()> {
    Ok(())
}

/// Asks the C library's allocator to return the free memory it holds to
/// the system, after a pool let go of buffers: glibc keeps what is freed
/// in a thread's arena (below its mmap threshold, which freeing a large
/// buffer raises) for the next allocation, so a trimmed pool would not
/// shrink the process. `malloc_trim` releases the free pages of every
/// arena. It walks the heap under the arenas' locks (milliseconds on a
/// large heap), so the pools decide when that is worth it.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() {
    // SAFETY: `malloc_trim` takes no pointers and only rearranges the
    // allocator's own free memory, under the arenas' locks; it is safe to
    // call from any thread at any time, and allocations live elsewhere
    // (another global allocator) are not its to touch.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Elsewhere the allocator returns large free blocks by itself.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() {}

/// Boxes kept for reuse: a value too large to sit in every connection,
/// which only some requests need, lives in a box that costs no allocation
/// once the pool is warm.
pub struct BoxPool<T> {
    free: Vec<Box<std::mem::MaybeUninit<T>>>,
    /// Empty boxes kept at most; more are freed.
    keep: usize,
}

impl<T> BoxPool<T> {
    /// A pool that keeps up to `keep` empty boxes (allocated as needed).
    pub fn new(keep: usize) -> Self {
        BoxPool { free: Vec::new(), keep }
    }

    /// `value` in a box, reusing a kept one if there is one.
    pub fn boxed(&mut self, value: T) -> Box<T> {
        let mut slot = self.free.pop().unwrap_or_else(Box::new_uninit);
        slot.write(value);
        // SAFETY: the line above initialised the box's contents.
        unsafe { slot.assume_init() }
    }

    /// The value out of `boxed`, keeping the box for the next `boxed`.
    pub fn unboxed(&mut self, boxed: Box<T>) -> T {
        let raw = Box::into_raw(boxed);
        // SAFETY: `raw` comes from a live `Box<T>`, so it is valid, aligned
        // and initialised; `read` moves the value out, and from here on the
        // allocation is only ever treated as uninitialised memory (the box
        // below), so the value is neither dropped twice nor read again.
        let value = unsafe { raw.read() };
        // SAFETY: the allocation was made by `Box` for a `T`, and
        // `MaybeUninit<T>` has `T`'s size and alignment, so the box frees it
        // with the layout it was allocated with; its contents are never
        // dropped (`MaybeUninit` has no drop glue).
        let slot = unsafe { Box::from_raw(raw.cast::<std::mem::MaybeUninit<T>>()) };
        if self.free.len() < self.keep {
            if self.free.capacity() == 0 {
                self.free.reserve_exact(self.keep);
            }
            self.free.push(slot);
        }
        value
    }
}

/// Set once the passed descriptors have been taken: each has one owner.
static PASSED_TAKEN: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Takes descriptors `fds`, which a service manager passed to this process
/// (systemd's socket activation: the caller has checked that `LISTEN_PID`
/// names this process), as listeners, the way `sd_listen_fds` does: every
/// one close-on-exec first, so no child inherits any even when one turns
/// out unusable; then every one checked by `check` while only borrowed, so
/// that if one is not what the protocol promised (stale variables after an
/// exec, say) none is closed; only then all owned. The first call takes
/// them; later calls get none. An error names the descriptor and why.
pub fn take_passed_listeners(
    fds: std::ops::Range<RawFd>,
    check: impl Fn(std::os::fd::BorrowedFd<'_>) -> Result<(), String>,
) -> Result<Vec<std::net::TcpListener>, (RawFd, String)> {
    if fds.is_empty() || PASSED_TAKEN.swap(true, std::sync::atomic::Ordering::AcqRel) {
        return Ok(Vec::new());
    }
    for fd in fds.clone() {
        // SAFETY: fcntl(F_GETFD) reads the flags of whatever `fd` is; a
        // number that is no open descriptor gives EBADF, nothing worse.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        // SAFETY: as above; only the close-on-exec flag of `fd` changes.
        if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) } < 0 {
            return Err((fd, io::Error::last_os_error().to_string()));
        }
    }
    for fd in fds.clone() {
        // SAFETY: `fd` was just seen open, and the borrow lives only for
        // the call to `check`, during which nothing closes it (no handle
        // owns it yet).
        check(unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) }).map_err(|why| (fd, why))?;
    }
    // SAFETY: each `fd` is open and a socket `check` accepted; by the
    // socket-activation protocol it was passed for this process to own,
    // and `PASSED_TAKEN` makes this the only adoption, so each is owned
    // (and closed) exactly once, by the listener returned.
    Ok(fds.map(|fd| unsafe { std::net::TcpListener::from_raw_fd(fd) }).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_str_finds_a_high_byte_at_every_length_and_position() {
        for len in 0..40 {
            let plain = vec![b'a'; len];
            assert_eq!(ascii_str(&plain), Some(&*"a".repeat(len)), "len {len}");
            for pos in 0..len {
                for high in [0x80u8, 0xc3, 0xff] {
                    let mut bytes = plain.clone();
                    bytes[pos] = high;
                    assert_eq!(ascii_str(&bytes), None, "len {len}, {high:#x} at {pos}");
                }
            }
        }
    }

    #[test]
    fn box_pool_reuses_boxes_and_drops_each_value_once() {
        use std::rc::Rc;
        let counted = Rc::new(());
        let mut pool = BoxPool::new(1);
        let a = pool.boxed((Rc::clone(&counted), 1u64));
        let first = &*a as *const _ as usize;
        let (rc, n) = pool.unboxed(a);
        assert_eq!((Rc::strong_count(&counted), n), (2, 1));
        drop(rc);
        let b = pool.boxed((Rc::clone(&counted), 2));
        assert_eq!(&*b as *const _ as usize, first, "the kept box is reused");
        let c = pool.boxed((Rc::clone(&counted), 3));
        assert_eq!(Rc::strong_count(&counted), 3);
        // One box kept at most; the other is freed with nothing in it.
        drop(pool.unboxed(b));
        drop(pool.unboxed(c));
        assert_eq!((pool.free.len(), Rc::strong_count(&counted)), (1, 1));
        // A box dropped without going back drops its value as any box.
        let d = pool.boxed((Rc::clone(&counted), 4));
        drop(d);
        assert_eq!(Rc::strong_count(&counted), 1);
    }

    #[test]
    fn aligned_zeroed_and_writable() {
        let mut b = AlignedBuf::new(8192);
        assert_eq!(b.as_ptr() as usize % BUF_ALIGN, 0);
        assert_eq!(b.len(), 8192);
        assert!(b.iter().all(|&x| x == 0));
        b[8191] = 7;
        assert_eq!(b[8191], 7);
    }

    #[test]
    fn recv_and_writev_move_bytes_and_report_errors_as_std_does() {
        use std::io::IoSlice;
        use std::os::unix::net::UnixStream;
        let (a, b) = UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 16];
        let empty = recv(&b, &mut buf).unwrap_err();
        assert_eq!(empty.kind(), io::ErrorKind::WouldBlock, "{empty}");
        let sent = writev(&a, &[IoSlice::new(b"head "), IoSlice::new(b""), IoSlice::new(b"body")]).unwrap();
        assert_eq!(sent, 9);
        assert_eq!(recv(&b, &mut buf[..4]).unwrap(), 4, "no more than the buffer");
        assert_eq!(recv(&b, &mut buf[4..]).unwrap(), 5);
        assert_eq!(&buf[..9], b"head body");
        drop(a);
        assert_eq!(recv(&b, &mut buf).unwrap(), 0, "the end of the stream");
        let gone = writev(&b, &[IoSlice::new(b"x")]).unwrap_err();
        assert_eq!(gone.kind(), io::ErrorKind::BrokenPipe, "{gone}");
    }
}
