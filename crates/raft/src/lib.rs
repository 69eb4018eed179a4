//! paddock-raft: consensus for Paddock.
//!
//! Theory of operation. Everything between "a server proposes a command" and "every
//! replica applies the committed command to its state machine, durably, in order". A
//! [`RaftNode`] drives tikv raft-rs's `RawNode` in one Ready loop on its own thread:
//! ticks, peer messages, proposals, read-index requests. Each Ready is persisted to the
//! [`LogStore`] (append-only segment files, flushed by a writer thread while the loop goes
//! on, one fsync for all the Readies queued meanwhile: group commit) before any message
//! that depends on it is sent (a leader with a full pipeline holds new proposals for a moment so the
//! next Ready carries more of them); committed entries go to the applier thread, which
//! feeds the [`StateMachine`], answers the proposer on this node, completes read-index
//! waits and takes snapshots into the [`SnapshotStore`], after which the log is
//! compacted. Peers
//! talk over TCP ([`transport`](crate)); snapshots stream in chunks on their own
//! connection. [`Faults`] is the seam for cutting, delaying and dropping traffic.
//!
//! Promises: a command is acknowledged (its proposal resolves) only after it is durable
//! on a quorum and applied locally; every replica applies the same commands in the same
//! order; a read index resolves only once this node has applied everything the leader
//! had committed when it was asked. Pre-vote and check-quorum are on, so a node cut off
//! from the majority cannot disrupt a healthy leader.
//!
//! It must never: send a message that depends on state not yet flushed, apply out of
//! order, or block the Ready loop on a slow peer or a long snapshot.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod applier;
mod config;
mod direct_file;
mod entry_log;
mod error;
mod faults;
mod hold;
mod log_writer;
mod logger;
mod node;
mod phases;
mod sled_import;
mod snapshot_store;
mod state_machine;
mod storage;
mod summary;
mod transport;
mod wal;
mod worker;

/// Protobuf messages of the peer protocol (proto/peer.proto).
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/paddock.peer.rs"));
}

pub use config::RaftConfig;
pub use error::{ProposeError, ReadError, StartError, StoreError};
pub use faults::Faults;
pub use node::{
    AppSender, NodeStorage, Proposer, RaftNode, RaftStatus, ReadWait, Reply, Role, Submitted,
};
pub use snapshot_store::{SnapshotId, SnapshotSink, SnapshotStore};
pub use state_machine::{SnapshotWriter, StateMachine};
pub use storage::{LogStats, LogStore};
pub use summary::{DurationSummary, Summary};
pub use transport::PEER_FRAME_LEN_MAX;
