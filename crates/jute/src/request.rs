//! Request bodies and the [`Request`] enum: one variant per client opcode.

use bytes::BufMut;

use crate::error::DecodeError;
use crate::header::{MultiHeader, RequestHeader};
use crate::opcode::OpCode;
use crate::reader::Reader;
use crate::record::{Acl, Record, read_acls, write_acls};
use crate::watch::AddWatchMode;
use crate::writer::JuteWrite;

/// A request that names just a path (getACL, sync, getAllChildrenNumber, getEphemerals).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathRequest {
    /// The znode path (for getEphemerals: a string prefix).
    pub path: String,
}

/// A read that may leave a watch (exists, getData, getChildren, getChildren2).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PathWatchRequest {
    /// The znode path.
    pub path: String,
    /// Leave a one-shot watch.
    pub watch: bool,
}

/// create, create2, createContainer and createTTL; `ttl` travels only with createTTL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CreateRequest {
    /// The path (before any sequence suffix).
    pub path: String,
    /// Initial data; `None` is null data.
    pub data: Option<Vec<u8>>,
    /// The ACL of the new node.
    pub acl: Vec<Acl>,
    /// A [`CreateMode`](crate::CreateMode) flags value.
    pub flags: i32,
    /// Time to live in ms (createTTL only; 0 otherwise).
    pub ttl: i64,
}

/// delete.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DeleteRequest {
    /// The znode path.
    pub path: String,
    /// Expected data version, -1 for any.
    pub version: i32,
}

/// setData.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetDataRequest {
    /// The znode path.
    pub path: String,
    /// New data; `None` is null data.
    pub data: Option<Vec<u8>>,
    /// Expected data version, -1 for any.
    pub version: i32,
}

/// setACL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetAclRequest {
    /// The znode path.
    pub path: String,
    /// The new ACL.
    pub acl: Vec<Acl>,
    /// Expected ACL version, -1 for any.
    pub version: i32,
}

/// check (only meaningful inside multi).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CheckVersionRequest {
    /// The znode path.
    pub path: String,
    /// Expected data version, -1 for any.
    pub version: i32,
}

/// reconfig.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ReconfigRequest {
    /// Servers to add.
    pub joining_servers: String,
    /// Servers to remove.
    pub leaving_servers: String,
    /// A whole new membership.
    pub new_members: String,
    /// The config version the change applies to.
    pub cur_config_id: i64,
}

/// checkWatches and removeWatches.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WatchesRequest {
    /// The znode path.
    pub path: String,
    /// A [`WatcherType`](crate::WatcherType) number.
    pub watcher_type: i32,
}

/// auth: add an identity to the connection.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AuthPacket {
    /// Unused by servers (0).
    pub auth_type: i32,
    /// The scheme, e.g. `digest`.
    pub scheme: String,
    /// Scheme-specific credentials, e.g. `user:password`.
    pub auth: Vec<u8>,
}

/// setWatches and setWatches2: the watches a reconnecting client still holds.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SetWatches {
    /// The client's last seen zxid: anything newer has been missed.
    pub relative_zxid: i64,
    /// Data watches.
    pub data_watches: Vec<String>,
    /// Exist watches (on missing nodes).
    pub exist_watches: Vec<String>,
    /// Child watches.
    pub child_watches: Vec<String>,
    /// Persistent watches (setWatches2 only).
    pub persistent_watches: Vec<String>,
    /// Persistent-recursive watches (setWatches2 only).
    pub persistent_recursive_watches: Vec<String>,
}

/// addWatch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddWatchRequest {
    /// The znode path.
    pub path: String,
    /// The kind of watch.
    pub mode: AddWatchMode,
}

/// A client request body, one variant per opcode a client may send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// create (1).
    Create(CreateRequest),
    /// create2 (15).
    Create2(CreateRequest),
    /// createContainer (19).
    CreateContainer(CreateRequest),
    /// createTTL (21).
    CreateTtl(CreateRequest),
    /// delete (2).
    Delete(DeleteRequest),
    /// deleteContainer (20); its body is the raw UTF-8 path, as ZooKeeper's container
    /// manager writes it.
    DeleteContainer(PathRequest),
    /// exists (3).
    Exists(PathWatchRequest),
    /// getData (4).
    GetData(PathWatchRequest),
    /// setData (5).
    SetData(SetDataRequest),
    /// getACL (6).
    GetAcl(PathRequest),
    /// setACL (7).
    SetAcl(SetAclRequest),
    /// getChildren (8).
    GetChildren(PathWatchRequest),
    /// getChildren2 (12).
    GetChildren2(PathWatchRequest),
    /// sync (9).
    Sync(PathRequest),
    /// ping (11).
    Ping,
    /// check (13).
    Check(CheckVersionRequest),
    /// multi (14): writes only.
    Multi(Vec<Request>),
    /// multiRead (22): getData and getChildren only.
    MultiRead(Vec<Request>),
    /// reconfig (16).
    Reconfig(ReconfigRequest),
    /// checkWatches (17).
    CheckWatches(WatchesRequest),
    /// removeWatches (18).
    RemoveWatches(WatchesRequest),
    /// auth (100).
    Auth(AuthPacket),
    /// setWatches (101).
    SetWatches(SetWatches),
    /// setWatches2 (105).
    SetWatches2(SetWatches),
    /// sasl (102): the token, unused by Paddock.
    Sasl(Option<Vec<u8>>),
    /// getEphemerals (103).
    GetEphemerals(PathRequest),
    /// getAllChildrenNumber (104).
    GetAllChildrenNumber(PathRequest),
    /// addWatch (106).
    AddWatch(AddWatchRequest),
    /// whoAmI (107).
    WhoAmI,
    /// closeSession (-11).
    CloseSession,
}

impl Request {
    /// The opcode this request travels under.
    pub fn op_code(&self) -> OpCode {
        match self {
            Request::Create(_) => OpCode::Create,
            Request::Create2(_) => OpCode::Create2,
            Request::CreateContainer(_) => OpCode::CreateContainer,
            Request::CreateTtl(_) => OpCode::CreateTtl,
            Request::Delete(_) => OpCode::Delete,
            Request::DeleteContainer(_) => OpCode::DeleteContainer,
            Request::Exists(_) => OpCode::Exists,
            Request::GetData(_) => OpCode::GetData,
            Request::SetData(_) => OpCode::SetData,
            Request::GetAcl(_) => OpCode::GetAcl,
            Request::SetAcl(_) => OpCode::SetAcl,
            Request::GetChildren(_) => OpCode::GetChildren,
            Request::GetChildren2(_) => OpCode::GetChildren2,
            Request::Sync(_) => OpCode::Sync,
            Request::Ping => OpCode::Ping,
            Request::Check(_) => OpCode::Check,
            Request::Multi(_) => OpCode::Multi,
            Request::MultiRead(_) => OpCode::MultiRead,
            Request::Reconfig(_) => OpCode::Reconfig,
            Request::CheckWatches(_) => OpCode::CheckWatches,
            Request::RemoveWatches(_) => OpCode::RemoveWatches,
            Request::Auth(_) => OpCode::Auth,
            Request::SetWatches(_) => OpCode::SetWatches,
            Request::SetWatches2(_) => OpCode::SetWatches2,
            Request::Sasl(_) => OpCode::Sasl,
            Request::GetEphemerals(_) => OpCode::GetEphemerals,
            Request::GetAllChildrenNumber(_) => OpCode::GetAllChildrenNumber,
            Request::AddWatch(_) => OpCode::AddWatch,
            Request::WhoAmI => OpCode::WhoAmI,
            Request::CloseSession => OpCode::CloseSession,
        }
    }

    /// The path the request is about, if it names one.
    pub fn path(&self) -> Option<&str> {
        match self {
            Request::Create(r)
            | Request::Create2(r)
            | Request::CreateContainer(r)
            | Request::CreateTtl(r) => Some(&r.path),
            Request::Delete(r) => Some(&r.path),
            Request::DeleteContainer(r)
            | Request::GetAcl(r)
            | Request::Sync(r)
            | Request::GetEphemerals(r)
            | Request::GetAllChildrenNumber(r) => Some(&r.path),
            Request::Exists(r)
            | Request::GetData(r)
            | Request::GetChildren(r)
            | Request::GetChildren2(r) => Some(&r.path),
            Request::SetData(r) => Some(&r.path),
            Request::SetAcl(r) => Some(&r.path),
            Request::Check(r) => Some(&r.path),
            Request::CheckWatches(r) | Request::RemoveWatches(r) => Some(&r.path),
            Request::AddWatch(r) => Some(&r.path),
            _ => None,
        }
    }

    /// Writes the body (no header).
    pub fn write_to<B: BufMut>(&self, buf: &mut B) {
        match self {
            Request::Create(r) | Request::Create2(r) | Request::CreateContainer(r) => {
                write_create(buf, r, false)
            }
            Request::CreateTtl(r) => write_create(buf, r, true),
            Request::Delete(r) => {
                buf.put_jute_string(&r.path);
                buf.put_jute_i32(r.version);
            }
            Request::DeleteContainer(r) => buf.put_slice(r.path.as_bytes()),
            Request::GetAcl(r)
            | Request::Sync(r)
            | Request::GetEphemerals(r)
            | Request::GetAllChildrenNumber(r) => buf.put_jute_string(&r.path),
            Request::Exists(r)
            | Request::GetData(r)
            | Request::GetChildren(r)
            | Request::GetChildren2(r) => {
                buf.put_jute_string(&r.path);
                buf.put_jute_bool(r.watch);
            }
            Request::SetData(r) => {
                buf.put_jute_string(&r.path);
                buf.put_jute_buffer(r.data.as_deref());
                buf.put_jute_i32(r.version);
            }
            Request::SetAcl(r) => {
                buf.put_jute_string(&r.path);
                write_acls(buf, &r.acl);
                buf.put_jute_i32(r.version);
            }
            Request::Check(r) => {
                buf.put_jute_string(&r.path);
                buf.put_jute_i32(r.version);
            }
            Request::Multi(ops) | Request::MultiRead(ops) => {
                for op in ops {
                    MultiHeader {
                        op: op.op_code().code(),
                        done: false,
                        err: -1,
                    }
                    .write_to(buf);
                    op.write_to(buf);
                }
                MultiHeader::END.write_to(buf);
            }
            Request::Reconfig(r) => {
                buf.put_jute_string(&r.joining_servers);
                buf.put_jute_string(&r.leaving_servers);
                buf.put_jute_string(&r.new_members);
                buf.put_jute_i64(r.cur_config_id);
            }
            Request::CheckWatches(r) | Request::RemoveWatches(r) => {
                buf.put_jute_string(&r.path);
                buf.put_jute_i32(r.watcher_type);
            }
            Request::Auth(r) => {
                buf.put_jute_i32(r.auth_type);
                buf.put_jute_string(&r.scheme);
                buf.put_jute_buffer(Some(&r.auth));
            }
            Request::SetWatches(r) => {
                buf.put_jute_i64(r.relative_zxid);
                buf.put_jute_strings(&r.data_watches);
                buf.put_jute_strings(&r.exist_watches);
                buf.put_jute_strings(&r.child_watches);
            }
            Request::SetWatches2(r) => {
                buf.put_jute_i64(r.relative_zxid);
                buf.put_jute_strings(&r.data_watches);
                buf.put_jute_strings(&r.exist_watches);
                buf.put_jute_strings(&r.child_watches);
                buf.put_jute_strings(&r.persistent_watches);
                buf.put_jute_strings(&r.persistent_recursive_watches);
            }
            Request::Sasl(token) => buf.put_jute_buffer(token.as_deref()),
            Request::AddWatch(r) => {
                buf.put_jute_string(&r.path);
                buf.put_jute_i32(r.mode as i32);
            }
            Request::Ping | Request::WhoAmI | Request::CloseSession => {}
        }
    }

    /// Reads the body of a request of type `op`.
    pub fn read_from(op: OpCode, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Create => Request::Create(read_create(r, false)?),
            OpCode::Create2 => Request::Create2(read_create(r, false)?),
            OpCode::CreateContainer => Request::CreateContainer(read_create(r, false)?),
            OpCode::CreateTtl => Request::CreateTtl(read_create(r, true)?),
            OpCode::Delete => Request::Delete(DeleteRequest {
                path: r.read_string("DeleteRequest.path")?,
                version: r.read_i32("DeleteRequest.version")?,
            }),
            OpCode::DeleteContainer => {
                let raw = r.take_rest();
                let path = std::str::from_utf8(raw)
                    .map_err(|_| DecodeError::BadUtf8 {
                        field: "deleteContainer.path",
                    })?
                    .to_owned();
                Request::DeleteContainer(PathRequest { path })
            }
            OpCode::Exists => Request::Exists(read_path_watch(r)?),
            OpCode::GetData => Request::GetData(read_path_watch(r)?),
            OpCode::GetChildren => Request::GetChildren(read_path_watch(r)?),
            OpCode::GetChildren2 => Request::GetChildren2(read_path_watch(r)?),
            OpCode::GetAcl => Request::GetAcl(read_path(r)?),
            OpCode::Sync => Request::Sync(read_path(r)?),
            OpCode::GetEphemerals => Request::GetEphemerals(read_path(r)?),
            OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber(read_path(r)?),
            OpCode::SetData => Request::SetData(SetDataRequest {
                path: r.read_string("SetDataRequest.path")?,
                data: r.read_buffer("SetDataRequest.data")?,
                version: r.read_i32("SetDataRequest.version")?,
            }),
            OpCode::SetAcl => Request::SetAcl(SetAclRequest {
                path: r.read_string("SetACLRequest.path")?,
                acl: read_acls(r)?,
                version: r.read_i32("SetACLRequest.version")?,
            }),
            OpCode::Check => Request::Check(CheckVersionRequest {
                path: r.read_string("CheckVersionRequest.path")?,
                version: r.read_i32("CheckVersionRequest.version")?,
            }),
            OpCode::Multi => Request::Multi(read_multi(r, MultiKind::Write)?),
            OpCode::MultiRead => Request::MultiRead(read_multi(r, MultiKind::Read)?),
            OpCode::Reconfig => Request::Reconfig(ReconfigRequest {
                joining_servers: r.read_string("ReconfigRequest.joiningServers")?,
                leaving_servers: r.read_string("ReconfigRequest.leavingServers")?,
                new_members: r.read_string("ReconfigRequest.newMembers")?,
                cur_config_id: r.read_i64("ReconfigRequest.curConfigId")?,
            }),
            OpCode::CheckWatches => Request::CheckWatches(read_watches(r)?),
            OpCode::RemoveWatches => Request::RemoveWatches(read_watches(r)?),
            OpCode::Auth => Request::Auth(AuthPacket {
                auth_type: r.read_i32("AuthPacket.type")?,
                scheme: r.read_string("AuthPacket.scheme")?,
                auth: r.read_buffer("AuthPacket.auth")?.unwrap_or_default(),
            }),
            OpCode::SetWatches => Request::SetWatches(SetWatches {
                relative_zxid: r.read_i64("SetWatches.relativeZxid")?,
                data_watches: r.read_strings("SetWatches.dataWatches")?,
                exist_watches: r.read_strings("SetWatches.existWatches")?,
                child_watches: r.read_strings("SetWatches.childWatches")?,
                persistent_watches: Vec::new(),
                persistent_recursive_watches: Vec::new(),
            }),
            OpCode::SetWatches2 => Request::SetWatches2(SetWatches {
                relative_zxid: r.read_i64("SetWatches2.relativeZxid")?,
                data_watches: r.read_strings("SetWatches2.dataWatches")?,
                exist_watches: r.read_strings("SetWatches2.existWatches")?,
                child_watches: r.read_strings("SetWatches2.childWatches")?,
                persistent_watches: r.read_strings("SetWatches2.persistentWatches")?,
                persistent_recursive_watches: r
                    .read_strings("SetWatches2.persistentRecursiveWatches")?,
            }),
            OpCode::Sasl => Request::Sasl(r.read_buffer("GetSASLRequest.token")?),
            OpCode::AddWatch => Request::AddWatch(AddWatchRequest {
                path: r.read_string("AddWatchRequest.path")?,
                mode: AddWatchMode::from_code(r.read_i32("AddWatchRequest.mode")?)?,
            }),
            OpCode::Ping => Request::Ping,
            OpCode::WhoAmI => Request::WhoAmI,
            OpCode::CloseSession => Request::CloseSession,
            OpCode::Notification | OpCode::CreateSession | OpCode::Error => {
                return Err(DecodeError::UnknownOpCode(op.code()));
            }
        })
    }
}

/// A request with its header, as one frame carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestPacket {
    /// The client's xid for this request.
    pub xid: i32,
    /// The request.
    pub request: Request,
}

impl RequestPacket {
    /// Decodes a whole frame payload (header and body).
    pub fn decode(frame: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(frame);
        let header = RequestHeader::read_from(&mut r)?;
        let op = OpCode::from_code(header.op)?;
        let request = Request::read_from(op, &mut r)?;
        Ok(Self {
            xid: header.xid,
            request,
        })
    }

    /// Encodes header and body.
    pub fn write_to<B: BufMut>(&self, buf: &mut B) {
        RequestHeader {
            xid: self.xid,
            op: self.request.op_code().code(),
        }
        .write_to(buf);
        self.request.write_to(buf);
    }
}

fn read_path(r: &mut Reader<'_>) -> Result<PathRequest, DecodeError> {
    Ok(PathRequest {
        path: r.read_string("path")?,
    })
}

fn read_path_watch(r: &mut Reader<'_>) -> Result<PathWatchRequest, DecodeError> {
    Ok(PathWatchRequest {
        path: r.read_string("path")?,
        watch: r.read_bool("watch")?,
    })
}

fn read_watches(r: &mut Reader<'_>) -> Result<WatchesRequest, DecodeError> {
    Ok(WatchesRequest {
        path: r.read_string("WatchesRequest.path")?,
        watcher_type: r.read_i32("WatchesRequest.type")?,
    })
}

fn read_create(r: &mut Reader<'_>, with_ttl: bool) -> Result<CreateRequest, DecodeError> {
    Ok(CreateRequest {
        path: r.read_string("CreateRequest.path")?,
        data: r.read_buffer("CreateRequest.data")?,
        acl: read_acls(r)?,
        flags: r.read_i32("CreateRequest.flags")?,
        ttl: if with_ttl {
            r.read_i64("CreateTTLRequest.ttl")?
        } else {
            0
        },
    })
}

fn write_create<B: BufMut>(buf: &mut B, req: &CreateRequest, with_ttl: bool) {
    buf.put_jute_string(&req.path);
    buf.put_jute_buffer(req.data.as_deref());
    write_acls(buf, &req.acl);
    buf.put_jute_i32(req.flags);
    if with_ttl {
        buf.put_jute_i64(req.ttl);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MultiKind {
    Write,
    Read,
}

/// Reads multi operations up to the terminating header. Each op's kind must match the
/// multi's kind (ZooKeeper rejects "mixing different kind of ops").
fn read_multi(r: &mut Reader<'_>, kind: MultiKind) -> Result<Vec<Request>, DecodeError> {
    let mut ops = Vec::new();
    loop {
        let header = MultiHeader::read_from(r)?;
        if header.done {
            return Ok(ops);
        }
        let op = OpCode::from_code(header.op)?;
        let allowed = match kind {
            MultiKind::Write => matches!(
                op,
                OpCode::Create
                    | OpCode::Create2
                    | OpCode::CreateContainer
                    | OpCode::CreateTtl
                    | OpCode::Delete
                    | OpCode::SetData
                    | OpCode::Check
            ),
            MultiKind::Read => matches!(op, OpCode::GetChildren | OpCode::GetData),
        };
        if !allowed {
            return Err(DecodeError::BadMulti("operation not allowed in this multi"));
        }
        ops.push(Request::read_from(op, r)?);
    }
}
