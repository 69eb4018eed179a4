//! Errors of the consensus layer. Storage failures are fatal to the node and kept apart
//! from the per-request outcomes a caller can retry.

use thiserror::Error;

/// The log store failed. The node cannot continue safely and stops.
#[derive(Debug, Error)]
pub enum StoreError {
    /// sled reported an error while reading a log an earlier version kept in it.
    #[error("sled: {0}")]
    Sled(#[from] sled::Error),
    /// A stored record does not decode.
    #[error("stored record does not decode: {0}")]
    Codec(String),
    /// The stored log breaks an invariant.
    #[error("log store corrupt: {0}")]
    Corrupt(&'static str),
    /// Another open store holds the log directory's lock.
    #[error("the log directory is in use by another open store")]
    Locked,
    /// File I/O failed (log segments or snapshots).
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Why a proposal did not produce a result. The entry may or may not have been applied
/// when the error is `Dropped` or `Timeout` (as with ZooKeeper's ConnectionLoss).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProposeError {
    /// No leader is known, so the proposal was not accepted anywhere.
    #[error("no leader known")]
    NoLeader,
    /// The leader changed while the proposal was in flight and it was lost.
    #[error("proposal dropped by a leader change")]
    Dropped,
    /// No outcome within the proposal timeout.
    #[error("proposal timed out")]
    Timeout,
    /// The node is shutting down.
    #[error("node shutting down")]
    Shutdown,
}

/// Why a linearizable read point could not be established.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ReadError {
    /// No leader confirmed its commit index in time.
    #[error("read index timed out")]
    Timeout,
    /// The node is shutting down.
    #[error("node shutting down")]
    Shutdown,
}

/// Starting a node failed.
#[derive(Debug, Error)]
pub enum StartError {
    /// The log store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// raft-rs refused the configuration or state.
    #[error("raft: {0}")]
    Raft(#[from] raft::Error),
    /// The peer port could not be bound.
    #[error("peer listener: {0}")]
    Listen(std::io::Error),
    /// The state machine could not be restored from the latest snapshot.
    #[error("restoring snapshot: {0}")]
    Restore(String),
    /// A thread could not be spawned.
    #[error("spawning thread: {0}")]
    Thread(std::io::Error),
}
