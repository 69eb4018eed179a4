//! The `paddock` binary's building blocks: zoo.cfg parsing, turning a config into a
//! running server, the one-process ensemble, and the status report.
//!
//! Theory of operation. `paddock serve --config zoo.cfg` reads a ZooKeeper config
//! ([`zoo_cfg`]), finds its id in `dataDir/myid`, opens the Raft log under dataLogDir and
//! snapshots under dataDir, and runs one [`paddock_server::Server`] until SIGTERM or
//! Ctrl-C, when a leader hands over leadership before it stops. `paddock ensemble` runs
//! a whole cluster in one process for development. `paddock status` asks any
//! ZooKeeper-protocol server (Paddock or Apache ZooKeeper) for its four-letter words.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod ensemble;
pub mod launch;
pub mod status;
pub mod zoo_cfg;
