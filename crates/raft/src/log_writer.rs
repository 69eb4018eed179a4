//! Makes the Raft log durable off the Ready loop's thread. The loop queues a Ready's
//! entries and hard state in the [`LogStore`] and asks for a flush; this thread writes
//! and fsyncs while the loop goes on stepping messages, sending appends and handing
//! committed entries to the applier. Requests that pile up during one flush are served by
//! the next: group commit across Readies. Blocked in fsync, the loop did none of that
//! work (a leader spent over half its time there under load).

use tokio::sync::mpsc;

use crate::error::StoreError;
use crate::storage::LogStore;
use crate::worker::Worker;

/// A flush finished: every Ready numbered up to the value is durable; or the store failed
/// and the node must stop.
pub(crate) type Persisted = Result<u64, StoreError>;

/// Starts node `node`'s flushing thread for `log`. Each number sent asks for everything
/// queued in the store so far to be made durable and reported on `done` as that Ready
/// persisted. Dropping the worker waits for the flush under way.
pub(crate) fn start(
    node: u64,
    log: LogStore,
    done: mpsc::UnboundedSender<Persisted>,
) -> std::io::Result<Worker<u64>> {
    Worker::start_folding(format!("paddock-log-{node}"), move |number| {
        let result = log.flush().map(|()| number);
        let failed = result.is_err();
        done.send(result).is_ok() && !failed
    })
}
