//! The [`Record`] trait and the plain data records every message is built from:
//! [`Id`], [`Acl`], [`Stat`], [`ClientInfo`].

use bytes::BufMut;

use crate::error::DecodeError;
use crate::reader::Reader;
use crate::writer::JuteWrite;

/// A jute record: something with one fixed encoding on the wire.
pub trait Record: Sized {
    /// Appends the encoding of `self` to `buf`.
    fn write_to<B: BufMut>(&self, buf: &mut B);

    /// Reads one value from `r`, leaving `r` just after it.
    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError>;

    /// The encoding of `self` as a fresh vector.
    fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_to(&mut out);
        out
    }

    /// Decodes one value from the start of `bytes`, ignoring anything after it (as
    /// ZooKeeper does with trailing bytes of a request).
    fn from_bytes(bytes: &[u8]) -> Result<Self, DecodeError> {
        Self::read_from(&mut Reader::new(bytes))
    }
}

/// Permission bits of an ACL entry (`ZooDefs.Perms`).
pub mod perms {
    /// Read data and list children.
    pub const READ: i32 = 1;
    /// Set data.
    pub const WRITE: i32 = 1 << 1;
    /// Create children.
    pub const CREATE: i32 = 1 << 2;
    /// Delete children.
    pub const DELETE: i32 = 1 << 3;
    /// Set the ACL.
    pub const ADMIN: i32 = 1 << 4;
    /// Every permission.
    pub const ALL: i32 = READ | WRITE | CREATE | DELETE | ADMIN;
}

/// An identity: an authentication scheme and an id within it (`world:anyone`,
/// `digest:user:hash`, `ip:10.0.0.0/8`, …).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Id {
    /// The scheme: `world`, `auth`, `digest`, `ip`, `super`, ….
    pub scheme: String,
    /// The id within the scheme.
    pub id: String,
}

impl Id {
    /// An id from its two parts.
    pub fn new(scheme: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            scheme: scheme.into(),
            id: id.into(),
        }
    }

    /// `world:anyone`.
    pub fn anyone() -> Self {
        Self::new("world", "anyone")
    }
}

impl Record for Id {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_string(&self.scheme);
        buf.put_jute_string(&self.id);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            scheme: r.read_string("Id.scheme")?,
            id: r.read_string("Id.id")?,
        })
    }
}

/// One ACL entry: permissions granted to an identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Acl {
    /// Bits from [`perms`].
    pub perms: i32,
    /// Who gets them.
    pub id: Id,
}

impl Acl {
    /// `world:anyone` with every permission (`OPEN_ACL_UNSAFE`).
    pub fn open_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            id: Id::anyone(),
        }]
    }

    /// `auth:` with every permission (`CREATOR_ALL_ACL`).
    pub fn creator_all() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            id: Id::new("auth", ""),
        }]
    }

    /// `world:anyone` with read only (`READ_ACL_UNSAFE`).
    pub fn read_unsafe() -> Vec<Acl> {
        vec![Acl {
            perms: perms::READ,
            id: Id::anyone(),
        }]
    }
}

impl Record for Acl {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i32(self.perms);
        self.id.write_to(buf);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            perms: r.read_i32("ACL.perms")?,
            id: Id::read_from(r)?,
        })
    }
}

/// Smallest encoding of an [`Acl`]: perms plus two empty strings.
pub(crate) const ACL_LEN_MIN: usize = 12;

/// Reads a vector of ACL entries; null reads as empty.
pub(crate) fn read_acls(r: &mut Reader<'_>) -> Result<Vec<Acl>, DecodeError> {
    r.read_vec("acl", ACL_LEN_MIN, Acl::read_from)
}

/// Writes a vector of ACL entries.
pub(crate) fn write_acls<B: BufMut>(buf: &mut B, acls: &[Acl]) {
    buf.put_jute_i32(crate::writer::len_i32(acls.len()));
    for acl in acls {
        acl.write_to(buf);
    }
}

/// A znode's metadata as clients see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Stat {
    /// zxid of the create.
    pub czxid: i64,
    /// zxid of the last data change (the create, if none).
    pub mzxid: i64,
    /// Leader time of the create, ms since the epoch.
    pub ctime: i64,
    /// Leader time of the last data change.
    pub mtime: i64,
    /// Number of data changes.
    pub version: i32,
    /// Number of child creates and deletes.
    pub cversion: i32,
    /// Number of ACL changes.
    pub aversion: i32,
    /// Owning session of an ephemeral node, else 0.
    pub ephemeral_owner: i64,
    /// Length of the data (0 for null data).
    pub data_length: i32,
    /// Number of children.
    pub num_children: i32,
    /// zxid of the last child create or delete (the create, if none).
    pub pzxid: i64,
}

/// Encoded length of a [`Stat`].
pub const STAT_LEN: usize = 68;

impl Record for Stat {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i64(self.czxid);
        buf.put_jute_i64(self.mzxid);
        buf.put_jute_i64(self.ctime);
        buf.put_jute_i64(self.mtime);
        buf.put_jute_i32(self.version);
        buf.put_jute_i32(self.cversion);
        buf.put_jute_i32(self.aversion);
        buf.put_jute_i64(self.ephemeral_owner);
        buf.put_jute_i32(self.data_length);
        buf.put_jute_i32(self.num_children);
        buf.put_jute_i64(self.pzxid);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            czxid: r.read_i64("Stat.czxid")?,
            mzxid: r.read_i64("Stat.mzxid")?,
            ctime: r.read_i64("Stat.ctime")?,
            mtime: r.read_i64("Stat.mtime")?,
            version: r.read_i32("Stat.version")?,
            cversion: r.read_i32("Stat.cversion")?,
            aversion: r.read_i32("Stat.aversion")?,
            ephemeral_owner: r.read_i64("Stat.ephemeralOwner")?,
            data_length: r.read_i32("Stat.dataLength")?,
            num_children: r.read_i32("Stat.numChildren")?,
            pzxid: r.read_i64("Stat.pzxid")?,
        })
    }
}

/// One identity of a connection, as whoAmI reports it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ClientInfo {
    /// The scheme (`ip`, `digest`, `super`, …).
    pub auth_scheme: String,
    /// The user within the scheme.
    pub user: String,
}

impl Record for ClientInfo {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_string(&self.auth_scheme);
        buf.put_jute_string(&self.user);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            auth_scheme: r.read_string("ClientInfo.authScheme")?,
            user: r.read_string("ClientInfo.user")?,
        })
    }
}
