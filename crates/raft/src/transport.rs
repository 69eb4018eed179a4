//! Peer transport: one TCP connection per pair of nodes (the node with the larger id
//! dials; either side may then send), length-prefixed protobuf frames, per-peer bounded
//! queues drained in batches, reconnect with backoff. A slow or dead peer only fills its
//! own queue, whose overflow is dropped (Raft resends), so it never blocks the Ready loop
//! or the other peers. Bad bytes from a peer close that connection, logged; the node
//! carries on. Snapshots go over a connection of their own, streamed in chunks.
//!
//! The links run on the Ready loop's own thread (its current-thread runtime), so a
//! message goes from Raft to the socket, and from the socket to Raft, without waking
//! another thread; only accepting connections and streaming snapshots (file I/O) run on
//! the server's runtime.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::{SinkExt, StreamExt};
use prost::Message as _;
use protobuf::Message as _;
use raft::SnapshotStatus;
use raft::prelude::Message;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::codec::{Framed, FramedParts, LengthDelimitedCodec};
use tracing::{info, warn};

use crate::faults::Faults;
use crate::pb::{self, PeerFrame, peer_frame::Kind};
use crate::snapshot_store::SnapshotStore;

/// Largest peer frame accepted, bytes. Batches and snapshot chunks stay well below.
pub const PEER_FRAME_LEN_MAX: usize = 64 << 20;
/// Snapshot bytes per chunk.
const SNAPSHOT_CHUNK_LEN: usize = 1 << 20;
/// Bytes of messages packed into one batch frame before it is sent.
const BATCH_BYTES_MAX: usize = 4 << 20;
/// Time a new connection has to introduce itself.
const HELLO_TIMEOUT: Duration = Duration::from_secs(5);
/// Redial delays: doubling from the first to the last. Only the higher id dials, so the
/// last one bounds how long a restarted peer waits to hear from the leader; a refused
/// dial costs next to nothing.
const BACKOFF_MIN: Duration = Duration::from_millis(20);
const BACKOFF_MAX: Duration = Duration::from_millis(100);

/// What the transport tells the Ready loop.
#[derive(Debug)]
pub(crate) enum Inbound {
    /// A Raft message from a peer.
    Raft(Message),
    /// Messages to this peer are being lost: Raft should probe it.
    Unreachable(u64),
    /// A connection to this peer is up (again): a leader tells it so at once.
    Connected(u64),
    /// Outcome of sending a snapshot to a peer.
    Snapshot(u64, SnapshotStatus),
    /// The peer lost its log (wiped disk) and must be replicated to from scratch.
    LogLost(u64),
}

enum Outbound {
    Raft(Bytes),
    App(Bytes),
    LogLost,
}

type PeerStream = Framed<TcpStream, LengthDelimitedCodec>;

fn codec() -> LengthDelimitedCodec {
    LengthDelimitedCodec::builder()
        .max_frame_length(PEER_FRAME_LEN_MAX)
        .new_codec()
}

fn framed(stream: TcpStream) -> PeerStream {
    let _ = stream.set_nodelay(true);
    Framed::new(stream, codec())
}

/// An accepted peer connection on its way from the accept loop (server runtime) to its
/// link (Ready loop thread): the socket, and whatever was read past the hello.
struct Handoff {
    socket: std::net::TcpStream,
    read_buf: BytesMut,
}

impl Handoff {
    fn from_framed(stream: PeerStream) -> std::io::Result<Self> {
        let parts = stream.into_parts();
        Ok(Self {
            socket: parts.io.into_std()?,
            read_buf: parts.read_buf,
        })
    }

    /// The connection again, registered with the runtime this is called on.
    fn into_framed(self) -> std::io::Result<PeerStream> {
        let mut parts = FramedParts::new::<Bytes>(TcpStream::from_std(self.socket)?, codec());
        parts.read_buf = self.read_buf;
        Ok(Framed::from_parts(parts))
    }
}

fn frame(kind: Kind) -> Bytes {
    Bytes::from(PeerFrame { kind: Some(kind) }.encode_to_vec())
}

/// Decodes a frame without copying it: its byte fields, and the entries parsed from
/// them, are slices of the received buffer.
fn parse(bytes: BytesMut) -> Option<Kind> {
    PeerFrame::decode(bytes.freeze()).ok()?.kind
}

/// Everything the transport's tasks share.
#[derive(Clone)]
struct Context {
    id: u64,
    cluster_id: u64,
    peers: BTreeMap<u64, SocketAddr>,
    faults: Faults,
    snapshots: SnapshotStore,
    to_raft: mpsc::Sender<Inbound>,
    to_app: mpsc::Sender<(u64, Bytes)>,
}

impl Context {
    fn hello(&self, snapshot: bool) -> Bytes {
        frame(Kind::Hello(pb::Hello {
            node_id: self.id,
            cluster_id: self.cluster_id,
            snapshot,
        }))
    }

    async fn deliver(&self, from: u64, batch: pb::Batch) {
        if !self.faults.allows(from, self.id) {
            return;
        }
        if batch.log_lost {
            let _ = self.to_raft.send(Inbound::LogLost(from)).await;
        }
        for raw in batch.raft {
            match Message::parse_from_carllerche_bytes(&raw) {
                Ok(message) if message.from == from && message.to == self.id => {
                    let _ = self.to_raft.send(Inbound::Raft(message)).await;
                }
                Ok(message) => warn!(
                    link = from,
                    from = message.from,
                    to = message.to,
                    kind = ?message.get_msg_type(),
                    "misaddressed raft message dropped"
                ),
                Err(error) => warn!(from, %error, "undecodable raft message dropped"),
            }
        }
        for app in batch.app {
            let _ = self.to_app.send((from, app)).await;
        }
    }
}

/// The running transport of one node.
pub(crate) struct Transport {
    ctx: Context,
    queues: BTreeMap<u64, mpsc::Sender<Outbound>>,
    /// Raft messages dropped because a peer's queue was full, per peer, for the log.
    overflowed: BTreeMap<u64, AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
    runtime: tokio::runtime::Handle,
}

impl Transport {
    /// Starts listening on `listener` (on the current runtime, which also streams
    /// snapshots) and linking to every peer (on `links`, the Ready loop's runtime).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn start(
        links: &tokio::runtime::Handle,
        id: u64,
        cluster_id: u64,
        peers: BTreeMap<u64, SocketAddr>,
        listener: TcpListener,
        faults: Faults,
        snapshots: SnapshotStore,
        queue_len_max: usize,
        to_raft: mpsc::Sender<Inbound>,
        to_app: mpsc::Sender<(u64, Bytes)>,
    ) -> Self {
        let runtime = tokio::runtime::Handle::current();
        let ctx = Context {
            id,
            cluster_id,
            peers: peers.clone(),
            faults,
            snapshots,
            to_raft,
            to_app,
        };
        let mut queues = BTreeMap::new();
        let mut accepted = BTreeMap::new();
        let mut tasks = Vec::new();
        for (&peer, &addr) in peers.iter().filter(|(p, _)| **p != id) {
            let (tx, rx) = mpsc::channel(queue_len_max);
            let (conn_tx, conn_rx) = mpsc::channel(4);
            queues.insert(peer, tx);
            accepted.insert(peer, conn_tx);
            tasks.push(links.spawn(run_link(ctx.clone(), peer, addr, rx, conn_rx)));
        }
        tasks.push(runtime.spawn(accept_loop(ctx.clone(), listener, accepted)));
        let overflowed = queues
            .keys()
            .map(|&peer| (peer, AtomicU64::new(0)))
            .collect();
        Self {
            ctx,
            queues,
            overflowed,
            tasks,
            runtime,
        }
    }

    /// Queues Raft messages for their peers; a full queue drops the message and tells
    /// Raft the peer is unreachable. Snapshot messages are streamed separately.
    pub(crate) fn send_raft(&self, messages: Vec<Message>) {
        for message in messages {
            let to = message.to;
            if message.get_msg_type() == raft::prelude::MessageType::MsgSnapshot {
                self.runtime.spawn(send_snapshot(self.ctx.clone(), message));
                continue;
            }
            let Ok(bytes) = message.write_to_bytes() else {
                continue;
            };
            let Some(queue) = self.queues.get(&to) else {
                continue;
            };
            if let Err(error) = queue.try_send(Outbound::Raft(Bytes::from(bytes))) {
                if matches!(error, mpsc::error::TrySendError::Full(_)) {
                    self.count_overflow(to);
                }
                let _ = self.ctx.to_raft.try_send(Inbound::Unreachable(to));
            }
        }
    }

    /// Counts a message dropped from `peer`'s full queue and logs the running total at
    /// 1, 2, 4, 8… drops: a stalled link shows in the log without flooding it. A
    /// dropped append is resent, but a follower's dropped forwarded proposal fails its
    /// clients' writes (connection closed), so the log must say why.
    fn count_overflow(&self, peer: u64) {
        let Some(counter) = self.overflowed.get(&peer) else {
            return;
        };
        let dropped = counter.fetch_add(1, Ordering::Relaxed) + 1;
        if dropped.is_power_of_two() {
            warn!(
                node = self.ctx.id,
                peer, dropped, "peer queue full; raft messages dropped so far"
            );
        }
    }

    /// Queues an application message for `to`; false if it had to be dropped.
    pub(crate) fn send_app(&self, to: u64, payload: Bytes) -> bool {
        self.queues
            .get(&to)
            .is_some_and(|q| q.try_send(Outbound::App(payload)).is_ok())
    }

    /// Tells `to` (the leader) that this node lost its log.
    pub(crate) fn send_log_lost(&self, to: u64) {
        if let Some(queue) = self.queues.get(&to) {
            let _ = queue.try_send(Outbound::LogLost);
        }
    }

    /// Stops every task of the transport; connections close.
    pub(crate) fn stop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }

    /// Waits until every stopped task is gone, so the listener's port can be bound
    /// again as soon as this returns (a node restarted on the same address).
    pub(crate) async fn join(mut self) {
        self.stop();
        for task in std::mem::take(&mut self.tasks) {
            let _ = task.await;
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Keeps one connection to `peer` alive and moves messages both ways over it.
async fn run_link(
    ctx: Context,
    peer: u64,
    addr: SocketAddr,
    mut outbox: mpsc::Receiver<Outbound>,
    mut accepted: mpsc::Receiver<Handoff>,
) {
    let dialer = ctx.id > peer;
    let mut backoff = BACKOFF_MIN;
    loop {
        let stream = if dialer {
            match dial(&ctx, addr).await {
                Some(stream) => {
                    backoff = BACKOFF_MIN;
                    stream
                }
                None => {
                    drain_while_down(&ctx, peer, &mut outbox, backoff).await;
                    backoff = (backoff * 2).min(BACKOFF_MAX);
                    continue;
                }
            }
        } else {
            tokio::select! {
                handoff = accepted.recv() => match handoff.map(Handoff::into_framed) {
                    Some(Ok(stream)) => stream,
                    Some(Err(error)) => {
                        warn!(node = ctx.id, peer, %error, "cannot take over an accepted peer connection");
                        continue;
                    }
                    None => return,
                },
                () = drain_while_down(&ctx, peer, &mut outbox, BACKOFF_MAX) => continue,
            }
        };
        info!(node = ctx.id, peer, "peer connected");
        let _ = ctx.to_raft.send(Inbound::Connected(peer)).await;
        let reason = serve_connection(&ctx, peer, stream, &mut outbox, &mut accepted).await;
        info!(node = ctx.id, peer, %reason, "peer connection ended");
        let _ = ctx.to_raft.send(Inbound::Unreachable(peer)).await;
    }
}

/// While no connection exists, messages for the peer are dropped (Raft will resend once
/// it reconnects) and Raft is told the peer is unreachable.
async fn drain_while_down(
    ctx: &Context,
    peer: u64,
    outbox: &mut mpsc::Receiver<Outbound>,
    wait: Duration,
) {
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    let mut reported = false;
    loop {
        tokio::select! {
            () = &mut deadline => return,
            message = outbox.recv() => {
                if message.is_none() {
                    return;
                }
                if !reported {
                    let _ = ctx.to_raft.send(Inbound::Unreachable(peer)).await;
                    reported = true;
                }
            }
        }
    }
}

async fn dial(ctx: &Context, addr: SocketAddr) -> Option<PeerStream> {
    let stream = tokio::time::timeout(HELLO_TIMEOUT, TcpStream::connect(addr))
        .await
        .ok()?
        .ok()?;
    let mut stream = framed(stream);
    stream.send(ctx.hello(false)).await.ok()?;
    Some(stream)
}

async fn serve_connection(
    ctx: &Context,
    peer: u64,
    stream: PeerStream,
    outbox: &mut mpsc::Receiver<Outbound>,
    accepted: &mut mpsc::Receiver<Handoff>,
) -> String {
    let (mut sink, mut source) = stream.split();
    // Writing and reading run side by side, so an injected delay (or a slow write)
    // on the way out never holds up what comes in.
    let write = async {
        loop {
            let Some(first) = outbox.recv().await else {
                return "node stopping".to_owned();
            };
            let batch = collect_batch(first, outbox);
            if !ctx.faults.allows(ctx.id, peer) {
                continue;
            }
            if let Some(delay) = ctx.faults.delay_of(ctx.id, peer) {
                tokio::time::sleep(delay).await;
            }
            if let Err(error) = sink.send(frame(Kind::Batch(batch))).await {
                return format!("write failed: {error}");
            }
        }
    };
    let read = async {
        loop {
            match source.next().await {
                None => return "closed by peer".to_owned(),
                Some(Err(error)) => return format!("read failed: {error}"),
                Some(Ok(bytes)) => match parse(bytes) {
                    Some(Kind::Batch(batch)) => ctx.deliver(peer, batch).await,
                    _ => {
                        warn!(
                            node = ctx.id,
                            peer, "unexpected or undecodable peer frame; closing"
                        );
                        return "bad frame".to_owned();
                    }
                },
            }
        }
    };
    tokio::select! {
        reason = write => reason,
        reason = read => reason,
        replacement = accepted.recv() => match replacement.map(Handoff::into_framed) {
            // The peer reconnected (it restarted): serve the new connection instead.
            Some(Ok(new)) => Box::pin(serve_connection(ctx, peer, new, outbox, accepted)).await,
            Some(Err(error)) => format!("cannot take over the peer's new connection: {error}"),
            None => "node stopping".to_owned(),
        },
    }
}

fn collect_batch(first: Outbound, outbox: &mut mpsc::Receiver<Outbound>) -> pb::Batch {
    let mut batch = pb::Batch::default();
    let mut bytes = 0;
    let mut push = |message: Outbound, bytes: &mut usize| match message {
        Outbound::Raft(b) => {
            *bytes += b.len();
            batch.raft.push(b);
        }
        Outbound::App(b) => {
            *bytes += b.len();
            batch.app.push(b);
        }
        Outbound::LogLost => batch.log_lost = true,
    };
    push(first, &mut bytes);
    while bytes < BATCH_BYTES_MAX {
        match outbox.try_recv() {
            Ok(message) => push(message, &mut bytes),
            Err(_) => break,
        }
    }
    batch
}

async fn accept_loop(
    ctx: Context,
    listener: TcpListener,
    links: BTreeMap<u64, mpsc::Sender<Handoff>>,
) {
    loop {
        let (stream, remote) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                warn!(node = ctx.id, %error, "peer accept failed");
                tokio::time::sleep(BACKOFF_MIN).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        let links = links.clone();
        tokio::spawn(async move {
            let mut stream = framed(stream);
            let hello = match tokio::time::timeout(HELLO_TIMEOUT, stream.next()).await {
                Ok(Some(Ok(bytes))) => match parse(bytes) {
                    Some(Kind::Hello(hello)) => hello,
                    _ => {
                        warn!(node = ctx.id, %remote, "peer connection without hello; closing");
                        return;
                    }
                },
                _ => return,
            };
            if hello.cluster_id != ctx.cluster_id || !ctx.peers.contains_key(&hello.node_id) {
                warn!(node = ctx.id, %remote, from = hello.node_id, "connection from a stranger refused");
                return;
            }
            if hello.snapshot {
                receive_snapshot(ctx, hello.node_id, stream).await;
            } else if hello.node_id > ctx.id {
                let Some(link) = links.get(&hello.node_id) else {
                    return;
                };
                match Handoff::from_framed(stream) {
                    Ok(handoff) => {
                        let _ = link.send(handoff).await;
                    }
                    Err(error) => {
                        warn!(node = ctx.id, %error, "cannot hand an accepted peer connection over");
                    }
                }
            } else {
                warn!(
                    node = ctx.id,
                    from = hello.node_id,
                    "peer with a smaller id dialled; refused"
                );
            }
        });
    }
}

/// Streams the snapshot named by `message` to its peer, then reports the outcome to Raft.
async fn send_snapshot(ctx: Context, message: Message) {
    let to = message.to;
    let meta = message.get_snapshot().get_metadata();
    let id = (meta.index, meta.term);
    let outcome = async {
        if !ctx.faults.allows(ctx.id, to) {
            return Err("link cut".to_owned());
        }
        let addr = *ctx.peers.get(&to).ok_or("unknown peer")?;
        let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let mut stream = framed(stream);
        stream
            .send(ctx.hello(true))
            .await
            .map_err(|e| e.to_string())?;
        let (mut reader, len) = ctx.snapshots.open(id).map_err(|e| e.to_string())?;
        let raft_message = Bytes::from(message.write_to_bytes().map_err(|e| e.to_string())?);
        let mut offset = 0u64;
        loop {
            let mut chunk = vec![0u8; SNAPSHOT_CHUNK_LEN];
            let (n, rest) = blocking::block_in_place_or_inline(|| {
                let n = read_full(&mut reader, &mut chunk);
                (n, reader)
            });
            reader = rest;
            let n = n.map_err(|e| e.to_string())?;
            chunk.truncate(n);
            let done = offset + n as u64 >= len;
            let chunk = pb::SnapshotChunk {
                index: id.0,
                term: id.1,
                offset,
                data: chunk.into(),
                done,
                raft_message: if done {
                    raft_message.clone()
                } else {
                    Bytes::new()
                },
            };
            stream
                .send(frame(Kind::SnapshotChunk(chunk)))
                .await
                .map_err(|e| e.to_string())?;
            offset += n as u64;
            if done {
                break;
            }
            if n == 0 {
                return Err("snapshot shorter than its size".into());
            }
        }
        match tokio::time::timeout(Duration::from_secs(60), stream.next()).await {
            Ok(Some(Ok(bytes))) => match parse(bytes) {
                Some(Kind::SnapshotAck(ack)) if ack.ok => Ok(offset),
                _ => Err("peer refused the snapshot".into()),
            },
            _ => Err("no acknowledgement".into()),
        }
    }
    .await;
    let status = match outcome {
        Ok(bytes) => {
            info!(
                node = ctx.id,
                peer = to,
                index = id.0,
                bytes,
                "snapshot sent"
            );
            SnapshotStatus::Finish
        }
        Err(error) => {
            warn!(node = ctx.id, peer = to, index = id.0, %error, "snapshot send failed");
            let _ = ctx.to_raft.send(Inbound::Unreachable(to)).await;
            SnapshotStatus::Failure
        }
    };
    let _ = ctx.to_raft.send(Inbound::Snapshot(to, status)).await;
}

fn read_full(reader: &mut dyn std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Receives one streamed snapshot into the local store, acknowledges it, and only then
/// hands the leader's MsgSnapshot to Raft.
async fn receive_snapshot(ctx: Context, from: u64, mut stream: PeerStream) {
    let mut sink = None;
    let mut expected = 0u64;
    while let Some(Ok(bytes)) = stream.next().await {
        let Some(Kind::SnapshotChunk(chunk)) = parse(bytes) else {
            warn!(node = ctx.id, from, "bad frame in snapshot stream; closing");
            return;
        };
        if chunk.offset != expected || !ctx.faults.allows(from, ctx.id) {
            return;
        }
        let writer = match &mut sink {
            Some(writer) => writer,
            None => match ctx.snapshots.create((chunk.index, chunk.term)) {
                Ok(writer) => sink.insert(writer),
                Err(error) => {
                    warn!(node = ctx.id, %error, "cannot store incoming snapshot");
                    return;
                }
            },
        };
        if let Err(error) = std::io::Write::write_all(writer, &chunk.data) {
            warn!(node = ctx.id, %error, "writing incoming snapshot failed");
            return;
        }
        expected += chunk.data.len() as u64;
        if chunk.done {
            let Some(writer) = sink.take() else { return };
            let stored = blocking::block_in_place_or_inline(|| writer.finish());
            let ok = stored.is_ok();
            let ack = frame(Kind::SnapshotAck(pb::SnapshotAck {
                index: chunk.index,
                ok,
            }));
            let _ = stream.send(ack).await;
            if !ok {
                return;
            }
            match Message::parse_from_bytes(&chunk.raft_message) {
                Ok(message) => {
                    info!(
                        node = ctx.id,
                        from,
                        index = chunk.index,
                        bytes = expected,
                        "snapshot received"
                    );
                    let _ = ctx.to_raft.send(Inbound::Raft(message)).await;
                }
                Err(error) => warn!(node = ctx.id, %error, "snapshot without a valid raft message"),
            }
            return;
        }
    }
}

/// Binds the peer listener.
pub(crate) async fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr).await
}

mod blocking {
    /// Runs blocking file I/O without starving the runtime when it can (multi-thread
    /// runtime), inline otherwise (current-thread runtime, as in tests).
    pub(crate) fn block_in_place_or_inline<R>(f: impl FnOnce() -> R) -> R {
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
            _ => f(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames the dialer sent right behind its hello may already sit in the accept
    /// side's read buffer when the connection is handed to the link: none may be lost.
    #[tokio::test]
    async fn a_handed_over_connection_keeps_what_was_read_past_the_hello() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut dialer = framed(TcpStream::connect(addr).await.unwrap());
        let (socket, _) = listener.accept().await.unwrap();
        let mut accepted = framed(socket);

        // Everything the dialer sends arrives before the accept side reads anything.
        let frames = [
            Bytes::from_static(b"hello"),
            Bytes::from_static(b"first batch"),
        ];
        for frame in &frames {
            dialer.feed(frame.clone()).await.unwrap();
        }
        SinkExt::<Bytes>::flush(&mut dialer).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        let hello = accepted.next().await.unwrap().unwrap();
        assert_eq!(&hello[..], b"hello");
        let handoff = Handoff::from_framed(accepted).unwrap();
        assert!(
            !handoff.read_buf.is_empty(),
            "the batch was read with the hello"
        );

        let mut link = handoff.into_framed().unwrap();
        let within = Duration::from_secs(5);
        let batch = tokio::time::timeout(within, link.next()).await;
        assert_eq!(&batch.unwrap().unwrap().unwrap()[..], b"first batch");
        dialer
            .send(Bytes::from_static(b"second batch"))
            .await
            .unwrap();
        let next = tokio::time::timeout(within, link.next()).await;
        assert_eq!(&next.unwrap().unwrap().unwrap()[..], b"second batch");
    }
}
