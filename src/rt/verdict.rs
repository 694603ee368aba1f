//! What a loop does with a connection after driving it.

/// Keep the connection (it waits for readiness or a timer), or let it go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Keep it; it waits for readiness or a timer.
    Keep,
    /// It leaves the loop: closed, or handed to another thread.
    Close,
}
