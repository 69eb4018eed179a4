//! What a server holds: the replicated tree (fed by consensus), the local watch table
//! and connection registry, all behind one lock, and the state machine that applies
//! committed entries to them and dispatches watch notifications.
//!
//! One lock on purpose: applying an entry and queueing its notifications, and serving a
//! read and queueing its reply, each happen under it, so a client always receives a
//! notification before any reply that shows the change.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};

use bytes::Bytes;
use paddock_raft::{SnapshotWriter, StateMachine};
use paddock_tree::{Applied, SessionChange, Tree, TreeConfig, Trigger};
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::command::{self, Client, CommandError};
use crate::config::ServerConfig;
use crate::frames;
use crate::metrics::Metrics;
use crate::outbox::{Outbox, SendError, Sent};
use crate::reply_slot::ReplySlot;
use crate::watches::{ConnId, WatchTable};

/// Per-connection figures for `cons`, `stat` and `dump`.
#[derive(Debug)]
pub struct ConnInfo {
    /// The client's address.
    pub addr: SocketAddr,
    /// Its session (0 until the handshake completes).
    pub session_id: AtomicI64,
    /// Negotiated timeout, ms.
    pub timeout_ms: AtomicI64,
    /// When it connected, ms since the epoch.
    pub established_ms: i64,
    /// Requests received.
    pub received: AtomicU64,
    /// Frames sent.
    pub sent: AtomicU64,
    /// Requests in flight.
    pub queued: AtomicI64,
    /// xid of the last request.
    pub last_xid: AtomicI64,
    /// zxid of the last reply.
    pub last_zxid: AtomicI64,
    /// Last operation, ZooKeeper's four-letter abbreviation.
    pub last_op: Mutex<&'static str>,
    /// The client sent closeSession: its own connection handles the close.
    pub closing: AtomicBool,
    /// This connection's token in log entries (see `paddock_tree::Txn::owner`).
    pub owner: u64,
    /// The write whose reply the applying thread may send (see [`ReplySlot`]).
    pub reply: ReplySlot,
}

impl ConnInfo {
    /// Counts `frames` written to this client, here and in the server's figures.
    pub fn count_sent(&self, frames: u64, metrics: &Metrics) {
        self.sent.fetch_add(frames, Ordering::Relaxed);
        metrics.packets_sent.fetch_add(frames, Ordering::Relaxed);
    }
}

/// A live connection as the rest of the server reaches it.
#[derive(Debug, Clone)]
pub struct ConnHandle {
    /// Frames to write to the client, in order.
    pub outbox: Outbox,
    /// Cancelled to drop the connection at once.
    pub closer: CancellationToken,
    /// Figures for operators.
    pub info: Arc<ConnInfo>,
}

/// Everything behind the server's lock.
pub struct Core {
    /// The replicated state.
    pub tree: Tree,
    /// Watches of this server's connections.
    pub watches: WatchTable,
    /// Live connections.
    pub conns: HashMap<ConnId, ConnHandle>,
    /// Which local connection holds each session.
    pub sessions: HashMap<i64, ConnId>,
}

impl Core {
    /// The local connection holding `session_id`, if any.
    pub fn session_conn(&self, session_id: i64) -> Option<(ConnId, &ConnHandle)> {
        let conn = *self.sessions.get(&session_id)?;
        Some((conn, self.conns.get(&conn)?))
    }

    /// Queues a frame to a connection without waiting; a connection whose queue is full
    /// is too slow and is dropped (as ZooKeeper drops it), so it never stalls the caller.
    pub fn send(&self, conn: ConnId, frame: Bytes, metrics: &Metrics) -> bool {
        self.deliver(conn, frame, false, metrics)
    }

    /// Sends a read's reply: written straight to the socket when `alone` (no later request
    /// of the connection waits behind it, so the writer task would have nothing to pack
    /// it with) and nothing is queued ahead of it, else queued like [`Core::send`].
    pub fn reply(&self, conn: ConnId, frame: Bytes, alone: bool, metrics: &Metrics) -> bool {
        self.deliver(conn, frame, alone, metrics)
    }

    /// Sends the reply to `client`'s write as it is applied, if its connection is on
    /// this server and its sequencer announced that write (see [`ReplySlot`]); else the
    /// sequencer sends it.
    pub fn reply_applied(&self, client: Client, applied: &Applied, metrics: &Metrics) {
        let Some(xid) = client.xid else {
            return;
        };
        let Some((conn, handle)) = self.session_conn(client.session_id) else {
            return;
        };
        if handle.info.owner != client.owner || !handle.info.reply.claim(xid) {
            return;
        }
        let frame = frames::reply(xid, applied.zxid, applied.err, &applied.response);
        self.deliver(conn, frame, true, metrics);
    }

    /// Turns triggers into notifications on the connections that watch them. Each is
    /// written straight to its socket where nothing is queued ahead of it (see
    /// [`Outbox::write_or_queue`]), else queued like a reply.
    pub fn notify(&mut self, triggers: &[Trigger], zxid: i64, metrics: &Metrics) {
        for trigger in triggers {
            let targets = self.watches.fire(trigger);
            if targets.is_empty() {
                continue;
            }
            // One encoding per change, shared by every watcher.
            let frame = frames::notification(trigger.event, &trigger.path, zxid);
            for (conn, _) in targets {
                self.deliver(conn, frame.clone(), true, metrics);
            }
        }
    }

    fn deliver(&self, conn: ConnId, frame: Bytes, write_now: bool, metrics: &Metrics) -> bool {
        let Some(handle) = self.conns.get(&conn) else {
            return false;
        };
        let sent = if write_now {
            handle.outbox.write_or_queue(frame)
        } else {
            handle.outbox.try_send(frame).map(|()| Sent::Queued)
        };
        match sent {
            Ok(Sent::Written) => {
                handle.info.count_sent(1, metrics);
                true
            }
            Ok(Sent::Queued) => true,
            Err(SendError::Closed) => false,
            Err(SendError::Full) => {
                warn!(conn, addr = %handle.info.addr, "client too slow to read; closing its connection");
                metrics
                    .slow_connections_closed
                    .fetch_add(1, Ordering::Relaxed);
                handle.closer.cancel();
                false
            }
        }
    }
}

/// State shared by every task of one server.
pub struct Shared {
    /// The lock-protected state.
    pub core: Mutex<Core>,
    /// Client-side settings.
    pub config: ServerConfig,
    /// This server's id.
    pub node_id: u64,
    /// Counters.
    pub metrics: Metrics,
    /// The tree's last applied zxid, readable without the lock (reply headers).
    pub last_zxid: AtomicI64,
    next_conn: AtomicU64,
    next_session: AtomicI64,
    /// Sessions whose clients spoke since the last report to the leader.
    pub touched: Mutex<HashSet<i64>>,
}

impl Shared {
    /// Fresh state for server `node_id`.
    pub fn new(node_id: u64, config: ServerConfig) -> Arc<Self> {
        let tree = Tree::new(TreeConfig {
            extended_types_enabled: config.extended_types_enabled,
        });
        // Session ids: the node id in the top byte (kept below 0x80 so ids stay
        // positive and never look like container/TTL owners), then time-based bits so
        // a restarted node does not reuse ids, then a counter.
        let now = now_ms();
        let base = ((node_id as i64 & 0x7f) << 56) | ((now & 0xff_ffff_ffff) << 16);
        Arc::new(Self {
            core: Mutex::new(Core {
                tree,
                watches: WatchTable::default(),
                conns: HashMap::new(),
                sessions: HashMap::new(),
            }),
            config,
            node_id,
            metrics: Metrics::default(),
            last_zxid: AtomicI64::new(0),
            next_conn: AtomicU64::new(1),
            next_session: AtomicI64::new(base),
            touched: Mutex::new(HashSet::new()),
        })
    }

    /// A new connection id.
    pub fn next_conn_id(&self) -> ConnId {
        self.next_conn.fetch_add(1, Ordering::Relaxed)
    }

    /// A new session id.
    pub fn next_session_id(&self) -> i64 {
        self.next_session.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Notes that a session's client spoke.
    pub fn touch(&self, session_id: i64) {
        self.touched.lock().insert(session_id);
    }

    /// Drops the local connection of `session_id`, if any (session moved or expired).
    pub fn drop_session_connection(&self, session_id: i64) {
        if let Some((_, handle)) = self.core.lock().session_conn(session_id) {
            handle.closer.cancel();
        }
    }
}

/// Wall-clock time, ms since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The server's state machine: applies committed entries to the tree and dispatches
/// the watch notifications they cause, under the server lock.
pub struct Machine {
    /// The server state it applies to.
    pub shared: Arc<Shared>,
}

/// The outcome of one entry, as the proposing connection receives it.
pub type Outcome = Result<Applied, CommandError>;

impl StateMachine for Machine {
    type Output = Outcome;

    fn apply(&mut self, index: u64, bytes: &[u8]) -> Outcome {
        let command::Decoded { txn, xid } =
            command::decode(index as i64, bytes).inspect_err(|error| {
                warn!(index, %error, "undecodable log entry skipped");
            })?;
        let client = Client {
            session_id: txn.session_id,
            owner: txn.owner,
            xid,
        };
        let moved = matches!(txn.op, paddock_tree::TxnOp::MoveSession)
            .then_some((txn.session_id, txn.owner));
        let mut core = self.shared.core.lock();
        let applied = core.tree.apply(txn);
        self.shared.last_zxid.store(applied.zxid, Ordering::Release);
        if let Some((id, owner)) = moved
            && applied.err.is_ok()
        {
            // The log decides who owns a session: a local connection of it that is not
            // the new owner would have every write refused (SessionMoved). Drop it; its
            // client re-attaches, and the newest attach wins.
            if let Some(handle) = core.session_conn(id).map(|(_, handle)| handle)
                && handle.info.owner != owner
            {
                debug!(
                    session = format_args!("{id:#x}"),
                    "session owned elsewhere now; dropping its connection here"
                );
                handle.closer.cancel();
            }
        }
        core.notify(&applied.triggers, applied.zxid, &self.shared.metrics);
        // After the notifications, as ZooKeeper sends them ahead of the write's reply.
        core.reply_applied(client, &applied, &self.shared.metrics);
        if let Some(SessionChange::Closed(id)) = applied.session {
            // Expired (or closed through another server): the client must reconnect
            // and learn it. A client that closed its own session here closes itself.
            if let Some(handle) = core.session_conn(id).map(|(_, handle)| handle)
                && !handle.info.closing.load(Ordering::Acquire)
            {
                debug!(
                    session = format_args!("{id:#x}"),
                    "session ended; dropping its connection"
                );
                handle.closer.cancel();
            }
        }
        Ok(applied)
    }

    fn snapshot_items(&self) -> u64 {
        self.shared.core.lock().tree.node_count() as u64
    }

    fn snapshot(&mut self) -> SnapshotWriter {
        // A clone of the tree costs a reference count per 64 znodes: the lock, which every
        // read and apply of this server waits for, is not held while it is written out.
        let frozen = self.shared.core.lock().tree.clone();
        Box::new(move |out: &mut dyn Write| frozen.write_snapshot(out).map(|_| ()))
    }

    fn restore(&mut self, input: &mut dyn Read) -> Result<(), String> {
        let tree = crate::snapshot_load::load_tree(input).map_err(|e| e.to_string())?;
        let mut core = self.shared.core.lock();
        self.shared
            .last_zxid
            .store(tree.last_zxid(), Ordering::Release);
        core.tree = tree;
        Ok(())
    }
}
