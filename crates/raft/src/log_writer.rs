//! Makes the Raft log durable off the Ready loop's thread. The loop queues a Ready's
//! entries and hard state in the [`LogStore`] and asks for a flush; this thread writes
//! and fsyncs while the loop goes on stepping messages, sending appends and handing
//! committed entries to the applier. Requests that pile up during one flush are served by
//! the next: group commit across Readies. Blocked in fsync, the loop did none of that
//! work (a leader spent over half its time there under load).

use std::sync::mpsc as std_mpsc;
use std::thread::JoinHandle;

use tokio::sync::mpsc;

use crate::error::StoreError;
use crate::storage::LogStore;

/// A flush finished: every Ready numbered up to the value is durable; or the store failed
/// and the node must stop.
pub(crate) type Persisted = Result<u64, StoreError>;

/// The flushing thread of one node; dropping it waits for the flush under way.
pub(crate) struct LogWriter {
    requests: Option<std_mpsc::Sender<u64>>,
    thread: Option<JoinHandle<()>>,
}

impl LogWriter {
    /// Starts the thread for node `node`'s `log`; each finished flush is reported on
    /// `done`.
    pub(crate) fn start(
        node: u64,
        log: LogStore,
        done: mpsc::UnboundedSender<Persisted>,
    ) -> std::io::Result<Self> {
        let (requests, queue) = std_mpsc::channel::<u64>();
        let thread = std::thread::Builder::new()
            .name(format!("paddock-log-{node}"))
            .spawn(move || {
                while let Ok(mut number) = queue.recv() {
                    while let Ok(later) = queue.try_recv() {
                        number = number.max(later);
                    }
                    let result = log.flush().map(|()| number);
                    let failed = result.is_err();
                    if done.send(result).is_err() || failed {
                        return;
                    }
                }
            })?;
        Ok(Self {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    /// Asks for everything queued in the store so far to be made durable, reported as
    /// Ready `number` persisted.
    pub(crate) fn request(&self, number: u64) {
        if let Some(requests) = &self.requests {
            // A closed queue means the thread stopped after a failure it reported.
            let _ = requests.send(number);
        }
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        drop(self.requests.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
