//! paddock-tree: Paddock's replicated state machine.
//!
//! Theory of operation. Every replica holds one [`Tree`]: the znodes, the sessions table
//! and the ACLs. Consensus hands each replica the same committed entries in the same
//! order; [`Tree::apply`] turns one entry (a [`Txn`]: zxid, leader time, session, caller
//! identities, operation) into an [`Applied`]: the reply, the watch [`Trigger`]s, the
//! session change. Reads ([`Tree::read`]) are answered from the local tree.
//!
//! Promises: the tree is pure and deterministic. It has no clock (time comes in the
//! entry), does no I/O (snapshots stream to a writer the caller owns) and draws no random
//! numbers (session ids and passwords come in the entry); its maps iterate in a fixed
//! order. Same entries in, same replies, triggers and [`Tree::digest`] out, on every
//! replica. Every ZooKeeper result code is decided here, at apply time, so the outcome of
//! a write is a function of the log alone.
//!
//! It must never: read the time, touch a socket or file, or depend on tokio, sled, raft
//! or prost (a test checks the dependency graph).

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod acl;
mod apply;
mod children;
mod digest;
pub mod node;
pub mod path;
mod read;
mod session;
mod slab;
mod snapshot;
mod tree;
mod txn;

pub use node::{CONTAINER_OWNER, Owner, StoredStat, TTL_MS_MAX};
pub use session::Session;
pub use snapshot::{
    LOAD_BATCH_LEN, SnapshotBuild, SnapshotError, SnapshotNode, SnapshotNodes, SnapshotTail,
};
pub use tree::{Tree, TreeConfig};
pub use txn::{Applied, SessionChange, Trigger, Txn, TxnOp};
