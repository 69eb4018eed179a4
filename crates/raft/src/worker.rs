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

    /// Starts thread `name` calling `serve` with the greatest item queued whenever it is
    /// free: items queued while it works fold into one (a flush covers every request
    /// before it, a deletion up to the newest id every older one). It stops when the
    /// queue closes or `serve` returns false.
    pub(crate) fn start_folding(
        name: String,
        mut serve: impl FnMut(T) -> bool + Send + 'static,
    ) -> std::io::Result<Self>
    where
        T: Ord,
    {
        Self::start(name, move |items: Receiver<T>| {
            while let Ok(mut item) = items.recv() {
                while let Ok(later) = items.try_recv() {
                    item = item.max(later);
                }
                if !serve(item) {
                    return;
                }
            }
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
