//! How a paused request body's worker is woken ([`BodyWaker`]).

use std::fmt;
use std::sync::Arc;

use crate::rt::exchange::Ready;
use crate::rt::mailbox::Mailbox;

/// Wakes the worker of a paused body ([`BodySink::poll_ready`](crate::BodySink::poll_ready)), from any
/// thread; cheap to clone. A wake for a connection that has gone, or that
/// is no longer paused, is ignored.
#[derive(Clone)]
pub struct BodyWaker {
    mailbox: Arc<Mailbox<Ready>>,
    name: Ready,
}

impl BodyWaker {
    /// A waker announcing `name` in a worker's `mailbox`.
    pub(crate) fn new(mailbox: Arc<Mailbox<Ready>>, name: Ready) -> Self {
        BodyWaker { mailbox, name }
    }

    /// Which use of a connection it wakes.
    pub(crate) fn id(&self) -> u64 {
        self.name.id
    }

    /// Asks the worker to ask the sink again whether it takes more.
    pub fn wake(&self) {
        // Refused only once the worker has stopped: nobody to wake.
        let _ = self.mailbox.push(self.name);
    }
}

impl fmt::Debug for BodyWaker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyWaker").field("key", &self.name.key).field("id", &self.name.id).finish()
    }
}
