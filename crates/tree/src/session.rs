//! The replicated sessions table: which sessions exist, their timeouts and passwords,
//! and the ephemeral znodes each owns.

use std::collections::BTreeSet;

/// One session as every replica knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Negotiated timeout, ms.
    pub timeout_ms: i32,
    /// The password a reconnecting client must present.
    pub password: Vec<u8>,
    /// The connection token whose writes are accepted (see [`Txn::owner`](crate::Txn)).
    pub owner: u64,
    /// Paths of the session's ephemeral znodes, sorted.
    pub ephemerals: BTreeSet<String>,
}
