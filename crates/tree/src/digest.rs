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
    node_hash_at(path_hash(path), stat, data)
}

/// The path's part of a znode's digest term: computed once when a change replaces the
/// node's term (same path before and after).
pub(crate) fn path_hash(path: &str) -> u32 {
    crc32fast::hash(path.as_bytes())
}

/// The digest term of the znode whose path hashed to `path_crc`.
pub(crate) fn node_hash_at(path_crc: u32, stat: &StoredStat, data: Option<&[u8]>) -> u64 {
    // The fixed-size fields as one buffer: one CRC update instead of ten small ones
    // (the same CRC, as CRC is computed over the bytes in order).
    let mut fixed = [0u8; 6 * 8 + 3 * 4 + 1];
    let longs = [
        stat.czxid,
        stat.mzxid,
        stat.pzxid,
        stat.ctime,
        stat.mtime,
        stat.ephemeral_owner,
    ];
    for (slot, v) in fixed.chunks_exact_mut(8).zip(longs) {
        slot.copy_from_slice(&v.to_le_bytes());
    }
    for (slot, v) in
        fixed[48..60]
            .chunks_exact_mut(4)
            .zip([stat.version, stat.cversion, stat.aversion])
    {
        slot.copy_from_slice(&v.to_le_bytes());
    }
    fixed[60] = u8::from(data.is_some());
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&fixed);
    if let Some(bytes) = data {
        hasher.update(bytes);
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash as first defined, field by field: the digest is fixed forever.
    fn node_hash_by_field(path: &str, stat: &StoredStat, data: Option<&[u8]>) -> u64 {
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

    #[test]
    fn node_hash_is_unchanged() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for round in 0..2_000 {
            let stat = StoredStat {
                czxid: next() as i64,
                mzxid: next() as i64,
                pzxid: next() as i64,
                ctime: next() as i64,
                mtime: next() as i64,
                version: next() as i32,
                cversion: next() as i32,
                aversion: next() as i32,
                ephemeral_owner: next() as i64,
            };
            let data: Vec<u8> = (0..round % 70).map(|_| next() as u8).collect();
            let path = format!("/n{}", next());
            for data in [None, Some(&data[..])] {
                assert_eq!(
                    node_hash(&path, &stat, data),
                    node_hash_by_field(&path, &stat, data)
                );
            }
        }
        // And one pinned value (Python: crc32(b"/") << 32 | crc32(bytes(60) + b"\x01")),
        // so the reference above cannot drift along with it.
        assert_eq!(
            node_hash("/", &StoredStat::default(), Some(&[])),
            0x79d3_d2d4_abda_45a0
        );
    }
}
