//! paddock-server: the ZooKeeper client port on top of the replicated tree.
//!
//! Theory of operation. A [`Server`] runs one consensus node (paddock-raft) whose state
//! machine is the znode tree (paddock-tree), and a tokio listener speaking the ZooKeeper
//! 3.5–3.9 client protocol (paddock-jute). Each connection handshakes into a session
//! (a CreateSession log entry, or a re-attach checked against the replicated sessions
//! table), then pipelines requests: writes become log entries proposed in the order the
//! session sent them and are answered when this server applies them; reads are served
//! from the local tree, but only after the session's earlier requests completed (FIFO);
//! `sync` waits for a Raft read index. Watches live in this server's table: applying an
//! entry yields triggers, which become notifications queued on the watching
//! connections before any later reply. The leader expires silent sessions and reaps
//! empty containers and expired TTL nodes, both by proposing log entries.
//!
//! Promises: replies on a connection come back in request order; a client never sees a
//! reply showing a change before that change's notification; a malformed frame, an
//! oversized packet, an unknown opcode or a bogus session closes that one connection
//! (with ZooKeeper's reply where it has one) and is logged, while everyone else is
//! served as before; a slow reader is disconnected rather than buffered without bound.
//!
//! It must never: answer a write before it is durable on a quorum and applied here,
//! serve a session's read ahead of its earlier writes, or panic on client input.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod command;
pub mod config;
mod connection;
pub mod four_letter;
pub mod frames;
pub mod metrics;
pub mod outbox;
mod reaper;
pub mod reply_slot;
mod server;
pub mod sessions;
mod snapshot_load;
pub mod state;
pub mod watches;

pub use config::ServerConfig;
pub use server::{Server, ServerError, ServerOptions};
