//! paddock-chaos: the judging half of Paddock's chaos harness.
//!
//! Theory of operation. The `paddock-chaos` binary (the imperative shell, under
//! `src/bin/`) runs a Paddock cluster — in-process through `paddock-testing`'s fault
//! seam, or as separate `paddock serve` processes — while a nemesis kills, pauses,
//! partitions and wipes nodes and several client sessions drive workloads. Every client
//! operation is recorded with monotonic invocation and completion times and an outcome
//! that is *ok*, a *definite failure* (the server said no: `BadVersion`, `NoNode`, …) or
//! *unknown* (connection lost or timed out: it may or may not have taken effect).
//!
//! This library is the functional core that turns those records into verdicts. It does
//! no I/O and keeps no clock: every function takes the history and returns a
//! [`Verdict`], so each checker is unit-tested on hand-written histories.
//!
//! - [`linearizability`]: a Wing–Gong / Lowe / Porcupine-style search with memoisation of
//!   (linearized set, model state) and a step budget, returning linearizable, not
//!   linearizable (with the point where the search got stuck) or gave-up.
//! - [`register`]: the compare-and-set register model of a znode (value, version), the
//!   per-key check and the shrinking of a failing key history to a minimal slice.
//! - [`checks`]: the other checkers — acknowledged sequential creates, counter bounds,
//!   lock fencing by zxid, session expiry, no `SessionMoved` reaching a live client,
//!   convergence of replicas, liveness after the heal.
//! - [`schedule`]: the nemeses and the seeded, reproducible schedule of fault steps,
//!   plus the bridge and majorities-ring topologies.
//!
//! What it promises: a checker never reports a failure that the recorded history does
//! not prove (unknown outcomes are modelled as "may or may not have happened", reads
//! whose outcome is unknown are dropped), and a failure always carries the slice of
//! history that proves it.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod checks;
pub mod linearizability;
pub mod register;
pub mod schedule;
pub mod verdict;

pub use verdict::{Status, Verdict};
