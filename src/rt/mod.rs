//! What every event loop here needs, and nothing of HTTP or WebSocket:
//! the slab of connections, timers, the again-list, the cross-thread
//! mailbox and inboxes with their seats, buffer pools, a connection's read
//! buffer, what a socket does beyond bytes (file ranges, refusal,
//! lingering close), accept-error classes, a keep/close verdict, and the
//! loop skeleton the HTTP workers and the WebSocket threads share.

pub mod accept;
pub mod again;
pub mod event_loop;
pub mod exchange;
pub mod inbox;
pub mod input;
pub mod mailbox;
pub mod pool;
pub mod slab;
pub mod socket;
pub mod timer;
pub mod verdict;
