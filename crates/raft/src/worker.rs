//! A named thread that serves what is sent to it, in order, and is joined when dropped,
//! after it has served everything sent before: the log's writer and its reclaimer.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;

/// The sending end of a worker thread; dropping it closes the queue and waits for the
/// thread to finish.
pub(crate) struct Worker<T> {
    queue: Option<Sender<T>>,
    thread: Option<JoinHandle<()>>,
}

impl<T: Send + 'static> Worker<T> {
    /// Starts thread `name` running `serve` over the queue; `serve` returns when the queue
    /// closes (or earlier, if it gives up).
    pub(crate) fn start(
        name: String,
        serve: impl FnOnce(Receiver<T>) + Send + 'static,
    ) -> std::io::Result<Self> {
        let (queue, items) = channel();
        let thread = std::thread::Builder::new()
            .name(name)
            .spawn(move || serve(items))?;
        Ok(Self {
            queue: Some(queue),
            thread: Some(thread),
        })
    }

    /// Queues `item`. A thread that has returned takes nothing: the item is dropped here.
    pub(crate) fn send(&self, item: T) {
        if let Some(queue) = &self.queue {
            let _ = queue.send(item);
        }
    }
}

impl<T> Drop for Worker<T> {
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
