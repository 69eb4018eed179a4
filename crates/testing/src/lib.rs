//! paddock-testing: an embedded Paddock ensemble for tests — what Curator's
//! TestingCluster is for the JVM, with no JVM.
//!
//! Theory of operation. [`Ensemble::builder`] starts N real Paddock servers inside the
//! test process: real sockets on loopback (ports chosen by the OS), real Raft, and
//! either sled storage in a temporary directory or in-memory storage that survives a
//! node's restart like a disk would. The test gets a [`Ensemble::connect_string`] for
//! any ZooKeeper client, and can [`kill`](Ensemble::kill), [`restart`](Ensemble::restart),
//! [`partition`](Ensemble::partition) and [`heal`](Ensemble::heal) nodes, find the
//! [`leader`](Ensemble::leader) and [`expire_session`](Ensemble::expire_session)s.
//! Everything is torn down when the ensemble is dropped, even if the test panics.
//! [`BlockingEnsemble`] is the same for tests without an async runtime.
//!
//! ```no_run
//! # async fn example() -> Result<(), paddock_testing::FixtureError> {
//! let ensemble = paddock_testing::Ensemble::builder().nodes(3).in_memory().start().await?;
//! let client = zookeeper_client::Client::connect(&ensemble.connect_string()).await.unwrap();
//! # Ok(()) }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod blocking;
mod ensemble;

pub use blocking::BlockingEnsemble;
pub use ensemble::{Ensemble, EnsembleBuilder, FixtureError, TestServer};
