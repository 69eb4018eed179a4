//! The way frames reach one client's socket, in order: queued for the connection's
//! writer task, or — for a watch notification when nothing is queued ahead of it —
//! written at once by the thread that raised it.
//!
//! Why the second way: one setData watched by ten thousand sessions sends ten thousand
//! frames. Through the writer tasks each costs a queue push and pop, a task wake-up and
//! a syscall; written by the notifying thread onto a socket with nothing pending it costs
//! the syscall alone (a 10,000-watcher fan-out spent 8.8 µs of server CPU a notification
//! against 4.9 µs for a bare loop of writes).
//!
//! Order is kept by the backlog, the frames queued or taken by the writer and not yet
//! written: a frame goes straight to the socket only when the backlog is empty, and
//! whatever part of it the socket did not take is queued ahead of anything else, as every
//! sender checks the backlog and enqueues under one lock.

use std::io;
use std::net::Shutdown;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// Why a frame could not be queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The queue is full: the client does not read what it is sent.
    Full,
    /// The writer has stopped: the connection is closing.
    Closed,
}

impl From<TrySendError<Bytes>> for SendError {
    fn from(error: TrySendError<Bytes>) -> Self {
        match error {
            TrySendError::Full(_) => Self::Full,
            TrySendError::Closed(_) => Self::Closed,
        }
    }
}

/// How a frame left [`Outbox::write_or_queue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// Wholly written to the socket.
    Written,
    /// Queued (in part or whole) for the writer.
    Queued,
}

/// What the outboxes of one connection and its writer share.
#[derive(Debug)]
struct Link {
    socket: OwnedWriteHalf,
    /// Frames queued or taken by the writer and not yet written.
    backlog: AtomicUsize,
    /// Held while checking the backlog, writing directly and enqueueing, so no frame
    /// gets between a partly written frame and its rest.
    order: Mutex<()>,
}

/// The sending end of a connection's frames; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    queue: mpsc::Sender<Bytes>,
    link: Arc<Link>,
}

/// The writer's end: takes the queued frames and writes them.
#[derive(Debug)]
pub struct OutboxReader {
    queue: mpsc::Receiver<Bytes>,
    link: Arc<Link>,
}

/// An outbox for `socket` holding up to `frames_max` queued frames, and its reader.
pub fn outbox(socket: OwnedWriteHalf, frames_max: usize) -> (Outbox, OutboxReader) {
    let (tx, rx) = mpsc::channel(frames_max);
    let link = Arc::new(Link {
        socket,
        backlog: AtomicUsize::new(0),
        order: Mutex::new(()),
    });
    (
        Outbox {
            queue: tx,
            link: link.clone(),
        },
        OutboxReader { queue: rx, link },
    )
}

impl Outbox {
    /// Whether everything sent so far is written: no frame is queued or being written.
    pub fn idle(&self) -> bool {
        self.link.backlog.load(Ordering::Acquire) == 0
    }

    /// Queues `frame` behind everything sent before it, without waiting.
    pub fn try_send(&self, frame: Bytes) -> Result<(), SendError> {
        let _order = self.link.order.lock();
        self.enqueue(frame).map_err(SendError::from)
    }

    /// Queues `frame`, waiting while the queue is full.
    pub async fn send(&self, frame: Bytes) -> Result<(), SendError> {
        self.send_frame(frame, false).await.map(|_| ())
    }

    /// Like [`Outbox::send`], but writes `frame` to the socket at once when nothing sent
    /// before it is pending and the socket takes it: for a reply with no other reply
    /// behind it, which the writer task would have nothing to pack with.
    pub async fn write_or_send(&self, frame: Bytes) -> Result<Sent, SendError> {
        self.send_frame(frame, true).await
    }

    /// Sends `frame` in order, first trying the socket when `write_first`; waits only
    /// while the queue is full.
    async fn send_frame(&self, frame: Bytes, write_first: bool) -> Result<Sent, SendError> {
        let frame = {
            let _order = self.link.order.lock();
            let frame = if write_first {
                match self.write_direct(frame) {
                    Some(rest) => rest,
                    None => return Ok(Sent::Written),
                }
            } else {
                frame
            };
            match self.enqueue(frame) {
                Ok(()) => return Ok(Sent::Queued),
                Err(TrySendError::Closed(_)) => return Err(SendError::Closed),
                // Counted in the backlog while it waits for room (still under the lock),
                // so no frame sent after it is written directly ahead of it.
                Err(TrySendError::Full(frame)) => {
                    self.link.backlog.fetch_add(1, Ordering::AcqRel);
                    frame
                }
            }
        };
        self.queue.send(frame).await.map_err(|_| {
            self.link.backlog.fetch_sub(1, Ordering::AcqRel);
            SendError::Closed
        })?;
        Ok(Sent::Queued)
    }

    /// Writes `frame` to the socket now if nothing sent before it is still pending and
    /// the socket takes it; otherwise queues it (or the part not written) like
    /// [`Outbox::try_send`]. Never waits: safe under the server's lock.
    pub fn write_or_queue(&self, frame: Bytes) -> Result<Sent, SendError> {
        let _order = self.link.order.lock();
        let Some(frame) = self.write_direct(frame) else {
            return Ok(Sent::Written);
        };
        // Still under the lock: the rest of a partly written frame goes first.
        self.enqueue(frame)
            .map(|()| Sent::Queued)
            .map_err(SendError::from)
    }

    /// Writes `frame` to the socket if nothing is pending ahead of it; returns what is
    /// left to queue (all of it if nothing could be written), `None` once all is
    /// written. The caller holds the order lock.
    fn write_direct(&self, frame: Bytes) -> Option<Bytes> {
        if self.link.backlog.load(Ordering::Acquire) != 0 {
            return Some(frame);
        }
        match self.link.socket.try_write(&frame) {
            Ok(written) if written == frame.len() => None,
            Ok(written) => Some(frame.slice(written..)),
            // Not writable now, or broken (the writer finds out and closes).
            Err(_) => Some(frame),
        }
    }

    /// Queues `frame` counted in the backlog; a frame given back is not counted. The
    /// caller holds the order lock.
    fn enqueue(&self, frame: Bytes) -> Result<(), TrySendError<Bytes>> {
        self.link.backlog.fetch_add(1, Ordering::AcqRel);
        self.queue.try_send(frame).inspect_err(|_| {
            self.link.backlog.fetch_sub(1, Ordering::AcqRel);
        })
    }
}

impl OutboxReader {
    /// Waits for the next frame and appends it, with whatever else is queued, to
    /// `buffer` up to `bytes_max`; returns how many frames, `None` once every
    /// [`Outbox`] is gone.
    pub async fn next_batch(&mut self, buffer: &mut Vec<u8>, bytes_max: usize) -> Option<u64> {
        let frame = self.queue.recv().await?;
        buffer.extend_from_slice(&frame);
        let mut count = 1;
        while buffer.len() < bytes_max {
            match self.queue.try_recv() {
                Ok(frame) => {
                    buffer.extend_from_slice(&frame);
                    count += 1;
                }
                Err(_) => break,
            }
        }
        Some(count)
    }

    /// Writes all of `bytes`, waiting for the socket as needed.
    pub async fn write_all(&self, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            self.link.socket.writable().await?;
            match self.link.socket.try_write(bytes) {
                Ok(written) => bytes = &bytes[written..],
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// Marks `frames` taken by [`OutboxReader::next_batch`] as written: once none is
    /// left, senders may write directly again.
    pub fn written(&self, frames: u64) {
        let frames = usize::try_from(frames).unwrap_or(usize::MAX);
        self.link.backlog.fetch_sub(frames, Ordering::AcqRel);
    }

    /// Ends the stream: the client reads end-of-file after what was written.
    pub fn shutdown(&self) {
        let _ = socket2::SockRef::from(self.link.socket.as_ref()).shutdown(Shutdown::Write);
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// An outbox on one end of a loopback connection, and the other end to read.
    async fn connected() -> (Outbox, OutboxReader, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (_read, write) = server.into_split();
        // The read half may go: the socket lives on in the write half.
        let (outbox, reader) = outbox(write, 16);
        (outbox, reader, client)
    }

    /// Runs the writer side once over everything queued.
    async fn drain(reader: &mut OutboxReader) {
        let mut buffer = Vec::new();
        let count = reader.next_batch(&mut buffer, usize::MAX).await.unwrap();
        reader.write_all(&buffer).await.unwrap();
        reader.written(count);
    }

    #[tokio::test]
    async fn a_direct_write_waits_behind_queued_frames() {
        let (outbox, mut reader, mut client) = connected().await;
        // Wait until the new socket is known to be writable.
        reader.link.socket.writable().await.unwrap();
        outbox.try_send(Bytes::from_static(b"one,")).unwrap();
        assert_eq!(
            outbox.write_or_queue(Bytes::from_static(b"two,")),
            Ok(Sent::Queued)
        );
        drain(&mut reader).await;
        assert_eq!(
            outbox.write_or_queue(Bytes::from_static(b"three")),
            Ok(Sent::Written)
        );
        let mut got = vec![0; 13];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"one,two,three");
    }

    #[tokio::test]
    async fn a_reply_goes_straight_to_the_socket_only_once_all_before_it_is_written() {
        let (outbox, mut reader, mut client) = connected().await;
        reader.link.socket.writable().await.unwrap();
        assert!(outbox.idle());
        outbox.try_send(Bytes::from_static(b"one,")).unwrap();
        assert!(!outbox.idle());
        assert_eq!(
            outbox.write_or_send(Bytes::from_static(b"two,")).await,
            Ok(Sent::Queued)
        );
        drain(&mut reader).await;
        assert!(outbox.idle());
        assert_eq!(
            outbox.write_or_send(Bytes::from_static(b"three")).await,
            Ok(Sent::Written)
        );
        let mut got = vec![0; 13];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, b"one,two,three");
    }

    #[tokio::test]
    async fn the_rest_of_a_partly_written_frame_goes_first() {
        let (outbox, mut reader, mut client) = connected().await;
        reader.link.socket.writable().await.unwrap();
        // Larger than any socket buffer: the socket takes part, the rest is queued.
        let big: Vec<u8> = (0..64 << 20).map(|i: u32| i as u8).collect();
        assert_eq!(
            outbox.write_or_queue(Bytes::from(big.clone())),
            Ok(Sent::Queued)
        );
        assert_eq!(
            outbox.write_or_queue(Bytes::from_static(b"after")),
            Ok(Sent::Queued)
        );
        let read = tokio::spawn(async move {
            let mut got = vec![0; big.len() + 5];
            client.read_exact(&mut got).await.unwrap();
            got == [&big[..], b"after"].concat()
        });
        drain(&mut reader).await;
        assert!(read.await.unwrap(), "bytes reordered or lost");
    }

    #[tokio::test]
    async fn a_full_queue_and_a_stopped_writer_are_told_apart() {
        let (outbox, reader, _client) = connected().await;
        for _ in 0..16 {
            outbox.try_send(Bytes::from_static(b"x")).unwrap();
        }
        assert_eq!(
            outbox.try_send(Bytes::from_static(b"x")),
            Err(SendError::Full)
        );
        drop(reader);
        assert_eq!(
            outbox.try_send(Bytes::from_static(b"x")),
            Err(SendError::Closed)
        );
    }
}
