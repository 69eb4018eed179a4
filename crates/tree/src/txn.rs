//! What goes into the tree (a [`Txn`]: one committed log entry) and what comes out
//! (an [`Applied`]: the reply, the watch triggers, the session change).

use paddock_jute::{ErrorCode, EventType, Id, Request, Response};

/// One committed log entry, stamped by the proposer with everything the tree needs to
/// decide its outcome deterministically: the zxid (from the log position), the leader's
/// wall-clock time, the session and the caller's identities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Txn {
    /// The zxid this entry gets; strictly greater than every earlier one.
    pub zxid: i64,
    /// Leader wall-clock time, ms since the epoch (ctime/mtime, TTL expiry).
    pub time_ms: i64,
    /// The session on whose behalf the entry runs (0 for server-internal entries).
    pub session_id: i64,
    /// The caller's authenticated identities (for ACL checks and `auth` ACLs).
    pub auth: Vec<Id>,
    /// Which connection of the session sent it (a token the server picks per
    /// connection). Writes from a connection the session has moved away from fail with
    /// SessionMoved, as in ZooKeeper, so a late entry of an abandoned connection can
    /// never act after the client's newer requests. 0: server-internal (expiry, reaper).
    pub owner: u64,
    /// What to do.
    pub op: TxnOp,
}

/// The operation of a [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxnOp {
    /// Open a session with this id, negotiated timeout and password.
    CreateSession {
        /// Timeout in ms.
        timeout_ms: i32,
        /// The password a reconnecting client must present.
        password: Vec<u8>,
    },
    /// End the session (client close or expiry), deleting its ephemerals.
    CloseSession,
    /// The session re-attached through another connection, `Txn::owner` from now on.
    MoveSession,
    /// A client write: create*, delete, setData, setACL, check or multi; or a
    /// server-internal deleteContainer from the reaper (session 0).
    Write(Request),
}

/// A change a watch may care about. The server's watch table maps these to
/// notifications; the tree only reports what changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    /// The event: NodeCreated, NodeDeleted, NodeDataChanged or NodeChildrenChanged.
    pub event: EventType,
    /// The znode the event is about (the parent, for NodeChildrenChanged).
    pub path: String,
}

/// A session that appeared or ended with this entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionChange {
    /// The session now exists.
    Created(i64),
    /// The session is gone (closed or expired); its ephemerals were deleted.
    Closed(i64),
}

/// The outcome of applying one [`Txn`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The entry's zxid.
    pub zxid: i64,
    /// The result code for the reply header.
    pub err: ErrorCode,
    /// The reply body ([`Response::Empty`] when `err` is not Ok).
    pub response: Response,
    /// Changes watches may care about, in the order they happened.
    pub triggers: Vec<Trigger>,
    /// A session created or closed by this entry.
    pub session: Option<SessionChange>,
}

impl Applied {
    pub(crate) fn error(zxid: i64, err: ErrorCode) -> Self {
        Self {
            zxid,
            err,
            response: Response::Empty,
            triggers: Vec::new(),
            session: None,
        }
    }
}
