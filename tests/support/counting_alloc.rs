//! A global allocator that counts allocations, for the zero-allocation
//! tests. A test binary includes this file with
//! `#[path = "support/counting_alloc.rs"] mod counting_alloc;`, installs it
//! with `#[global_allocator] static GLOBAL: Counting = Counting;` and either
//! reads [`allocations`] around the window it measures, or runs the window
//! in [`measure`], which also says where the first allocations came from.
//!
//! It is not a submodule of `support`: only the allocation tests include
//! it, and only they install it.

#![allow(dead_code)] // Each test binary uses part of it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::backtrace::Backtrace;
use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Forwards to `System`, counting every allocation and reallocation.
pub struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

/// Whether allocations are traced (inside [`measure`]).
static TRACING: AtomicBool = AtomicBool::new(false);

/// Backtraces of the first allocations [`measure`] saw.
static TRACES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Allocations traced at most: the first few say where they come from.
const TRACES_KEPT: usize = 4;

thread_local! {
    /// Set while this thread records a trace, whose own allocations are
    /// neither counted nor traced. (A `const` cell has no destructor, so
    /// touching it never allocates.)
    static RECORDING: Cell<bool> = const { Cell::new(false) };
}

/// Allocations so far, on every thread of the process.
pub fn allocations() -> usize {
    ALLOCATIONS.load(Ordering::SeqCst)
}

/// What [`measure`] saw: how many allocations, and where the first were.
pub struct Measured {
    pub count: usize,
    traces: Vec<String>,
}

impl fmt::Display for Measured {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} allocations", self.count)?;
        for (i, trace) in self.traces.iter().enumerate() {
            write!(f, "\n--- allocation {} of the first {}:\n{trace}", i + 1, self.traces.len())?;
        }
        Ok(())
    }
}

/// Runs `window`, counting the allocations every thread makes meanwhile
/// and keeping the backtraces of the first few, so that a failing test
/// names their source.
pub fn measure(window: impl FnOnce()) -> Measured {
    TRACES.lock().unwrap().clear();
    let before = allocations();
    TRACING.store(true, Ordering::SeqCst);
    window();
    TRACING.store(false, Ordering::SeqCst);
    let count = allocations() - before;
    Measured { count, traces: std::mem::take(&mut *TRACES.lock().unwrap()) }
}

/// Counts an allocation, unless this thread is recording a trace; traces
/// it while [`measure`] runs.
fn note() {
    if RECORDING.with(Cell::get) {
        return;
    }
    ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    if TRACING.load(Ordering::Relaxed) {
        RECORDING.with(|r| r.set(true));
        if let Ok(mut traces) = TRACES.lock() {
            if traces.len() < TRACES_KEPT {
                let trace = Backtrace::force_capture().to_string();
                traces.push(trace);
            }
        }
        RECORDING.with(|r| r.set(false));
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; counting and tracing
// have no effect on the memory handed out.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note();
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note();
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours, forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}
