//! The state digest: a cheap fingerprint of the whole tree and sessions table, kept up
//! to date incrementally so replicas can compare their state after every entry.
//!
//! The digest is the wrapping sum of one hash per znode (path, stat, data) and one per
//! session (id, timeout). A sum lets a change subtract the old term and add the new one
//! in O(size of the changed node). The hash is CRC-32 based and fixed forever: replicas
//! built from different versions of this crate must agree.

use crate::node::StoredStat;

/// The digest term of one znode.
pub(crate) fn node_hash(path: &str, stat: &StoredStat, data: Option<&[u8]>) -> u64 {
    let path_crc = crc32fast::hash(path.as_bytes());
    let mut hasher = crc32fast::Hasher::new();
    for v in [
        stat.czxid,
        stat.mzxid,
        stat.pzxid,
        stat.ctime,
        stat.mtime,
        stat.ephemeral_owner,
    ] {
        hasher.update(&v.to_le_bytes());
    }
    for v in [stat.version, stat.cversion, stat.aversion] {
        hasher.update(&v.to_le_bytes());
    }
    match data {
        None => hasher.update(&[0]),
        Some(bytes) => {
            hasher.update(&[1]);
            hasher.update(bytes);
        }
    }
    (u64::from(path_crc) << 32) | u64::from(hasher.finalize())
}

/// The digest term of one session.
pub(crate) fn session_hash(id: i64, timeout_ms: i32, owner: u64) -> u64 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&id.to_le_bytes());
    hasher.update(&timeout_ms.to_le_bytes());
    hasher.update(&owner.to_le_bytes());
    (u64::from(hasher.finalize()) << 32) | 0x5e55
}
