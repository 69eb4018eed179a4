//! paddock-testing: an embedded Paddock ensemble for tests — what Curator's
//! TestingCluster is for the JVM, with no JVM.
//!
//! Theory of operation. [`Ensemble::builder`] starts N real Paddock servers inside the
//! test process: real sockets on loopback (ports chosen by the OS), real Raft, and
//! either log and snapshot files in a temporary directory or in-memory storage that survives a
//! node's restart like a disk would. The test gets a [`Ensemble::connect_string`] for
//! any ZooKeeper client, and can [`kill`](Ensemble::kill), [`restart`](Ensemble::restart),
//! [`partition`](Ensemble::partition) and [`heal`](Ensemble::heal) nodes, find the
//! [`leader`](Ensemble::leader) and [`expire_session`](Ensemble::expire_session)s.
//! Everything is torn down when the ensemble is dropped, even if the test panics.
//! [`BlockingEnsemble`] is the same for tests without an async runtime.
//!
//! A test takes a lock with the Rust `zookeeper-client` crate, kills the leader, and
//! the lock (an ephemeral node of a session that survives the failover) still holds:
//!
//! ```
//! use std::time::Duration;
//! use paddock_testing::Ensemble;
//! use zookeeper_client as zk;
//!
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let mut ensemble = Ensemble::builder().nodes(3).in_memory().start().await.unwrap();
//! let client = zk::Client::connect(&ensemble.connect_string()).await.unwrap();
//! let open = zk::Acls::anyone_all();
//! let options = zk::LockOptions::new(open)
//!     .with_ancestor_options(zk::CreateMode::Persistent.with_acls(open))
//!     .unwrap();
//! let prefix = zk::LockPrefix::new_curator("/locks/job", "worker").unwrap();
//! let lock = client.lock(prefix, b"worker-1", options).await.unwrap();
//!
//! let leader = ensemble.wait_for_leader(Duration::from_secs(10)).await.unwrap();
//! ensemble.kill(leader).await.unwrap();
//! ensemble.wait_for_leader(Duration::from_secs(10)).await.unwrap();
//!
//! // The session (and so the lock) survived; writes under the lock go through.
//! let (data, _) = client.get_data(lock.lock_path()).await.unwrap();
//! assert_eq!(data, b"worker-1");
//! lock.create("/locks/job-output", b"done", &zk::CreateMode::Persistent.with_acls(open))
//!     .await
//!     .unwrap();
//!
//! // Dropping the lock deletes its node in the background; wait for that while the
//! // ensemble is up (the client crate retries that delete without pause for as long as
//! // it sees a connection loss, which would spin once the servers are gone).
//! let path = lock.lock_path().to_owned();
//! drop(lock);
//! tokio::time::timeout(Duration::from_secs(10), async {
//!     while client.check_stat(&path).await.unwrap().is_some() {
//!         tokio::time::sleep(Duration::from_millis(10)).await;
//!     }
//! })
//! .await
//! .expect("the dropped lock's node is deleted");
//! # ensemble.shutdown().await;
//! # });
//! ```
//!
//! The same without an async test, through [`BlockingEnsemble`]:
//!
//! ```
//! use paddock_testing::{BlockingEnsemble, Ensemble};
//!
//! let mut ensemble = BlockingEnsemble::start(Ensemble::builder().nodes(3).in_memory()).unwrap();
//! let leader = ensemble.wait_for_leader(std::time::Duration::from_secs(10)).unwrap();
//! ensemble.partition(&[leader], &[(leader + 1) % 3, (leader + 2) % 3]);
//! ensemble.heal();
//! ensemble.restart(leader).unwrap();
//! assert!(ensemble.wait_for_leader(std::time::Duration::from_secs(10)).is_ok());
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod blocking;
mod ensemble;

pub use blocking::BlockingEnsemble;
pub use ensemble::{Ensemble, EnsembleBuilder, FixtureError, TestServer};
