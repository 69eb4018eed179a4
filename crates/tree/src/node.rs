//! One znode as the tree stores it: compact, with its client-visible [`Stat`] derived.

use std::sync::Arc;

use paddock_jute::Stat;

/// Index of a node in the tree's arena. Never leaves the tree: replies, snapshots and
/// digests speak in paths.
pub(crate) type NodeId = u32;

/// `ephemeral_owner` of a container node (ZooKeeper's `EphemeralType.CONTAINER`).
pub const CONTAINER_OWNER: i64 = i64::MIN;

/// High byte marking a TTL node's `ephemeral_owner`; the TTL in ms is in the low 40 bits.
const TTL_OWNER_MASK: i64 = 0xFF00_0000_0000_0000_u64 as i64;

/// Largest TTL ZooKeeper accepts, in ms.
pub const TTL_MS_MAX: i64 = 0x0000_00FF_FFFF_FFFF;

/// The kind of owner encoded in a stored `ephemeral_owner`, as ZooKeeper encodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Owner {
    /// A plain persistent node.
    None,
    /// An ephemeral node of this session.
    Session(i64),
    /// A container node.
    Container,
    /// A TTL node with this TTL in ms.
    Ttl(i64),
}

impl Owner {
    /// Decodes a stored `ephemeral_owner`.
    pub fn from_stored(owner: i64) -> Self {
        if owner == 0 {
            Owner::None
        } else if owner == CONTAINER_OWNER {
            Owner::Container
        } else if owner & TTL_OWNER_MASK == TTL_OWNER_MASK {
            Owner::Ttl(owner & TTL_MS_MAX)
        } else {
            Owner::Session(owner)
        }
    }

    /// Encodes for storage.
    pub fn to_stored(self) -> i64 {
        match self {
            Owner::None => 0,
            Owner::Session(id) => id,
            Owner::Container => CONTAINER_OWNER,
            Owner::Ttl(ttl) => TTL_OWNER_MASK | (ttl & TTL_MS_MAX),
        }
    }
}

/// The persisted part of a znode's stat (ZooKeeper's `StatPersisted`).
///
/// `cversion` here is ZooKeeper's stored child version: it counts child *creates* only
/// and is the next sequence number. Clients see `2 * cversion - numChildren`, which
/// counts creates and deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoredStat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last data change.
    pub mzxid: i64,
    /// zxid of the last child change.
    pub pzxid: i64,
    /// Leader time of the create, ms.
    pub ctime: i64,
    /// Leader time of the last data change, ms.
    pub mtime: i64,
    /// Data version.
    pub version: i32,
    /// Child creates so far (the next sequence number).
    pub cversion: i32,
    /// ACL version.
    pub aversion: i32,
    /// Encoded [`Owner`].
    pub ephemeral_owner: i64,
}

impl StoredStat {
    /// The stat of a node created at `zxid`, `time_ms` by `owner`.
    pub fn created(zxid: i64, time_ms: i64, owner: Owner) -> Self {
        Self {
            czxid: zxid,
            mzxid: zxid,
            pzxid: zxid,
            ctime: time_ms,
            mtime: time_ms,
            version: 0,
            cversion: 0,
            aversion: 0,
            ephemeral_owner: owner.to_stored(),
        }
    }

    /// The owner this stat records.
    pub fn owner(&self) -> Owner {
        Owner::from_stored(self.ephemeral_owner)
    }
}

/// A child's name, the key of its parent's [`Children`]. Names of up to 24 bytes (nearly
/// all: sequential names are 10 digits after a prefix) live inside the key itself, so a
/// lookup compares bytes in the map's own nodes instead of chasing a pointer per
/// comparison, and a znode costs one allocation fewer.
pub(crate) type ChildName = compact_str::CompactString;

pub(crate) use crate::children::Children;

/// A stored znode. Its name lives only as the key in its parent's [`Children`] and its
/// ACL in the shared [`AclTable`](crate::acl::AclTable), which keeps a million nodes small.
#[derive(Debug, Clone)]
pub(crate) struct Znode {
    pub stat: StoredStat,
    pub data: Option<Box<[u8]>>,
    pub children: Option<Arc<Children>>,
    pub acl: u32,
}

impl Znode {
    pub fn new(stat: StoredStat, data: Option<Box<[u8]>>, acl: u32) -> Self {
        Self {
            stat,
            data,
            children: None,
            acl,
        }
    }

    pub fn num_children(&self) -> usize {
        self.children.as_ref().map_or(0, |c| c.len())
    }

    pub fn data_len(&self) -> usize {
        self.data.as_ref().map_or(0, |d| d.len())
    }

    /// The stat as ZooKeeper shows it to clients.
    pub fn client_stat(&self) -> Stat {
        let num_children = i32::try_from(self.num_children()).unwrap_or(i32::MAX);
        let ephemeral_owner = match self.stat.owner() {
            Owner::Session(id) => id,
            _ => 0,
        };
        Stat {
            czxid: self.stat.czxid,
            mzxid: self.stat.mzxid,
            ctime: self.stat.ctime,
            mtime: self.stat.mtime,
            version: self.stat.version,
            cversion: self
                .stat
                .cversion
                .wrapping_mul(2)
                .wrapping_sub(num_children),
            aversion: self.stat.aversion,
            ephemeral_owner,
            data_length: i32::try_from(self.data_len()).unwrap_or(i32::MAX),
            num_children,
            pzxid: self.stat.pzxid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_round_trip() {
        for owner in [
            Owner::None,
            Owner::Session(0x0100_0000_0000_0001),
            Owner::Container,
            Owner::Ttl(1),
            Owner::Ttl(TTL_MS_MAX),
        ] {
            assert_eq!(Owner::from_stored(owner.to_stored()), owner);
        }
    }

    #[test]
    fn znode_stays_small() {
        // The per-znode budget is the point of this layout; catch accidental growth.
        assert!(
            std::mem::size_of::<Znode>() <= 96,
            "{}",
            std::mem::size_of::<Znode>()
        );
    }
}
