//! Lets the thread that applies a client's write answer it on the spot, instead of
//! waking the connection's sequencer to do it.
//!
//! Why: a client with one request in flight (most recipe code: lock, election, config
//! read-modify-write) otherwise waits for two wake-ups after its write commits — the
//! sequencer's, then the socket write it makes. The sequencer still completes every
//! request in order; it only announces the one write it is waiting for, and learns
//! afterwards whether that write was already answered.

use std::sync::atomic::{AtomicI64, Ordering};

/// No write is announced.
const NONE: i64 = i64::MIN;
/// The announced write was answered by the applying thread.
const ANSWERED: i64 = i64::MIN + 1;

/// One connection's announcement: the xid of the write its sequencer waits for.
#[derive(Debug)]
pub struct ReplySlot(AtomicI64);

impl Default for ReplySlot {
    fn default() -> Self {
        Self(AtomicI64::new(NONE))
    }
}

impl ReplySlot {
    /// The sequencer waits for the outcome of write `xid`, and every earlier request of
    /// the connection has its reply sent or queued: the applying thread may answer it.
    pub fn announce(&self, xid: i32) {
        self.0.store(i64::from(xid), Ordering::Release);
    }

    /// The applying thread takes the right to answer write `xid`: true at most once per
    /// announcement, and only for the write announced.
    pub fn claim(&self, xid: i32) -> bool {
        self.0
            .compare_exchange(
                i64::from(xid),
                ANSWERED,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok()
    }

    /// The sequencer has the outcome: clears the announcement and tells whether the
    /// reply was already sent (so it must not send it again).
    pub fn finish(&self) -> bool {
        self.0.swap(NONE, Ordering::AcqRel) == ANSWERED
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_announced_write_is_claimed_and_only_once() {
        let slot = ReplySlot::default();
        assert!(!slot.claim(1), "nothing announced");
        slot.announce(1);
        assert!(!slot.claim(2), "another write");
        assert!(slot.claim(1));
        assert!(!slot.claim(1), "already claimed");
        assert!(slot.finish(), "answered by the claimant");
        assert!(!slot.claim(1), "cleared");
        slot.announce(3);
        assert!(!slot.finish(), "not claimed: the sequencer answers");
        assert!(!slot.claim(3), "too late once finished");
    }
}
