//! The seam between consensus and what it replicates.

use std::io::{self, Read, Write};

/// The state frozen at one applied index, to be written out on another thread while the
/// machine goes on applying.
pub type SnapshotWriter = Box<dyn FnOnce(&mut dyn Write) -> io::Result<()> + Send>;

/// A deterministic state machine fed committed commands in log order.
///
/// Every replica applies the same commands in the same order; `apply` must depend on
/// nothing else. Paddock's is the znode tree; tests use a toy one.
pub trait StateMachine: Send + 'static {
    /// What applying a command produces; handed to the proposer on the node that proposed.
    type Output: Send + 'static;

    /// Applies the committed `command` at log position `index`.
    fn apply(&mut self, index: u64, command: &[u8]) -> Self::Output;

    /// Notes a committed entry without a command (a new leader's no-op) at `index`.
    fn apply_noop(&mut self, index: u64) {
        let _ = index;
    }

    /// How many items (znodes, say) a snapshot of the current state holds; a larger
    /// state is snapshotted less often. 0 when unknown.
    fn snapshot_items(&self) -> u64 {
        0
    }

    /// Freezes the whole state as of the last applied index. Runs between applies, so it
    /// must be cheap; the returned writer does the slow part on a thread of its own.
    fn snapshot(&mut self) -> SnapshotWriter;

    /// Replaces the whole state with a snapshot written by [`StateMachine::snapshot`].
    fn restore(&mut self, input: &mut dyn Read) -> Result<(), String>;
}
