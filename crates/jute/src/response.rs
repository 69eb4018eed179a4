//! Reply bodies: the [`Response`] enum and multi results.

use bytes::BufMut;

use crate::code::ErrorCode;
use crate::error::DecodeError;
use crate::header::{MultiHeader, ReplyHeader};
use crate::opcode::OpCode;
use crate::reader::Reader;
use crate::record::{Acl, ClientInfo, Record, STAT_LEN, Stat, read_acls, write_acls};
use crate::writer::{JuteWrite, len_i32};

/// The body of a successful reply. Error replies have no body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    /// No body: delete, check, ping, auth, setWatches, closeSession, checkWatches,
    /// removeWatches.
    Empty,
    /// addWatch: ZooKeeper answers with an `ErrorResponse` record holding 0, and the Java
    /// client reads that int, so a reply without it breaks the client's connection.
    AddWatch,
    /// A stat: exists, setData, setACL.
    Stat(Stat),
    /// create: the created path (with any sequence suffix).
    Create(String),
    /// create2, createContainer, createTTL: the path and the new node's stat.
    Create2(String, Stat),
    /// getData.
    GetData {
        /// The data; `None` for null data.
        data: Option<Vec<u8>>,
        /// The node's stat.
        stat: Stat,
    },
    /// getACL.
    GetAcl {
        /// The ACL entries.
        acl: Vec<Acl>,
        /// The node's stat.
        stat: Stat,
    },
    /// getChildren: child names.
    Children(Vec<String>),
    /// getChildren2: child names and the parent's stat.
    Children2 {
        /// Child names.
        children: Vec<String>,
        /// The parent's stat.
        stat: Stat,
    },
    /// sync: the path as sent.
    Sync(String),
    /// getAllChildrenNumber.
    AllChildrenNumber(i32),
    /// getEphemerals: full paths.
    Ephemerals(Vec<String>),
    /// multi and multiRead: one result per op.
    Multi(Vec<MultiResult>),
    /// whoAmI.
    WhoAmI(Vec<ClientInfo>),
}

/// One result inside a multi or multiRead response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiResult {
    /// A create op succeeded (reported with opcode create).
    Create(String),
    /// A create2 / createContainer / createTTL op succeeded (reported with create2).
    Create2(String, Stat),
    /// A delete succeeded.
    Delete,
    /// A setData succeeded.
    SetData(Stat),
    /// A check succeeded.
    Check,
    /// A getChildren read.
    GetChildren(Vec<String>),
    /// A getData read.
    GetData {
        /// The data; `None` for null data.
        data: Option<Vec<u8>>,
        /// The node's stat.
        stat: Stat,
    },
    /// The op failed (or was rolled back because another op failed).
    Error(ErrorCode),
}

impl MultiResult {
    fn op(&self) -> OpCode {
        match self {
            MultiResult::Create(_) => OpCode::Create,
            MultiResult::Create2(..) => OpCode::Create2,
            MultiResult::Delete => OpCode::Delete,
            MultiResult::SetData(_) => OpCode::SetData,
            MultiResult::Check => OpCode::Check,
            MultiResult::GetChildren(_) => OpCode::GetChildren,
            MultiResult::GetData { .. } => OpCode::GetData,
            MultiResult::Error(_) => OpCode::Error,
        }
    }
}

impl Response {
    /// Writes the body.
    pub fn write_to<B: BufMut>(&self, buf: &mut B) {
        match self {
            Response::Empty => {}
            Response::AddWatch => buf.put_jute_i32(0),
            Response::Stat(stat) => stat.write_to(buf),
            Response::Create(path) | Response::Sync(path) => buf.put_jute_string(path),
            Response::Create2(path, stat) => {
                buf.put_jute_string(path);
                stat.write_to(buf);
            }
            Response::GetData { data, stat } => {
                buf.put_jute_buffer(data.as_deref());
                stat.write_to(buf);
            }
            Response::GetAcl { acl, stat } => {
                write_acls(buf, acl);
                stat.write_to(buf);
            }
            Response::Children(children) | Response::Ephemerals(children) => {
                buf.put_jute_strings(children)
            }
            Response::Children2 { children, stat } => {
                buf.put_jute_strings(children);
                stat.write_to(buf);
            }
            Response::AllChildrenNumber(n) => buf.put_jute_i32(*n),
            Response::Multi(results) => {
                for result in results {
                    write_multi_result(buf, result);
                }
                MultiHeader::END.write_to(buf);
            }
            Response::WhoAmI(infos) => {
                buf.put_jute_i32(len_i32(infos.len()));
                for info in infos {
                    info.write_to(buf);
                }
            }
        }
    }

    /// Reads the body of a successful reply to a request of type `op` (client side).
    pub fn read_from(op: OpCode, r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(match op {
            OpCode::Exists | OpCode::SetData | OpCode::SetAcl => {
                Response::Stat(Stat::read_from(r)?)
            }
            OpCode::Create => Response::Create(r.read_string("CreateResponse.path")?),
            OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => {
                Response::Create2(r.read_string("Create2Response.path")?, Stat::read_from(r)?)
            }
            OpCode::GetData => Response::GetData {
                data: r.read_buffer("GetDataResponse.data")?,
                stat: Stat::read_from(r)?,
            },
            OpCode::GetAcl => Response::GetAcl {
                acl: read_acls(r)?,
                stat: Stat::read_from(r)?,
            },
            OpCode::GetChildren => {
                Response::Children(r.read_strings("GetChildrenResponse.children")?)
            }
            OpCode::GetChildren2 => Response::Children2 {
                children: r.read_strings("GetChildren2Response.children")?,
                stat: Stat::read_from(r)?,
            },
            OpCode::Sync => Response::Sync(r.read_string("SyncResponse.path")?),
            OpCode::GetAllChildrenNumber => {
                Response::AllChildrenNumber(r.read_i32("GetAllChildrenNumberResponse")?)
            }
            OpCode::GetEphemerals => {
                Response::Ephemerals(r.read_strings("GetEphemeralsResponse.ephemerals")?)
            }
            OpCode::Multi | OpCode::MultiRead => Response::Multi(read_multi_results(r)?),
            OpCode::WhoAmI => {
                Response::WhoAmI(r.read_vec("WhoAmIResponse", 8, ClientInfo::read_from)?)
            }
            OpCode::AddWatch => {
                // ErrorResponse.err: always 0 in a successful reply; the value carries nothing.
                r.read_i32("ErrorResponse.err")?;
                Response::AddWatch
            }
            _ => Response::Empty,
        })
    }
}

fn write_multi_result<B: BufMut>(buf: &mut B, result: &MultiResult) {
    let err = match result {
        MultiResult::Error(code) => code.code(),
        _ => 0,
    };
    MultiHeader {
        op: result.op().code(),
        done: false,
        err,
    }
    .write_to(buf);
    match result {
        MultiResult::Create(path) => buf.put_jute_string(path),
        MultiResult::Create2(path, stat) => {
            buf.put_jute_string(path);
            stat.write_to(buf);
        }
        MultiResult::Delete | MultiResult::Check => {}
        MultiResult::SetData(stat) => stat.write_to(buf),
        MultiResult::GetChildren(children) => buf.put_jute_strings(children),
        MultiResult::GetData { data, stat } => {
            buf.put_jute_buffer(data.as_deref());
            stat.write_to(buf);
        }
        MultiResult::Error(code) => buf.put_jute_i32(code.code()),
    }
}

fn read_multi_results(r: &mut Reader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    let mut results = Vec::new();
    loop {
        let header = MultiHeader::read_from(r)?;
        if header.done {
            return Ok(results);
        }
        let result = match OpCode::from_code(header.op)? {
            OpCode::Create => MultiResult::Create(r.read_string("CreateResponse.path")?),
            OpCode::Create2 => {
                MultiResult::Create2(r.read_string("Create2Response.path")?, Stat::read_from(r)?)
            }
            OpCode::Delete => MultiResult::Delete,
            OpCode::Check => MultiResult::Check,
            OpCode::SetData => MultiResult::SetData(Stat::read_from(r)?),
            OpCode::GetChildren => {
                MultiResult::GetChildren(r.read_strings("GetChildrenResponse.children")?)
            }
            OpCode::GetData => MultiResult::GetData {
                data: r.read_buffer("GetDataResponse.data")?,
                stat: Stat::read_from(r)?,
            },
            OpCode::Error => {
                let value = r.read_i32("ErrorResponse.err")?;
                MultiResult::Error(ErrorCode::from_code(value).ok_or(DecodeError::BadValue {
                    field: "ErrorResponse.err",
                    value,
                })?)
            }
            _ => return Err(DecodeError::BadMulti("unexpected result type")),
        };
        results.push(result);
    }
}

/// A whole reply frame payload: header, then the body for a successful reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyPacket {
    /// The reply header.
    pub header: ReplyHeader,
    /// The body; [`Response::Empty`] for error replies.
    pub response: Response,
}

impl ReplyPacket {
    /// Encodes a reply into a fresh buffer sized for it.
    pub fn encode(header: ReplyHeader, response: &Response) -> Vec<u8> {
        let mut out = Vec::with_capacity(crate::header::REPLY_HEADER_LEN + STAT_LEN);
        header.write_to(&mut out);
        if header.err == 0 {
            response.write_to(&mut out);
        }
        out
    }

    /// Encodes a reply as a complete frame, length prefix included, ready for the socket.
    pub fn encode_frame(header: ReplyHeader, response: &Response) -> Vec<u8> {
        let mut out = Vec::with_capacity(
            crate::codec::FRAME_PREFIX_LEN + crate::header::REPLY_HEADER_LEN + STAT_LEN,
        );
        out.put_bytes(0, crate::codec::FRAME_PREFIX_LEN);
        header.write_to(&mut out);
        if header.err == 0 {
            response.write_to(&mut out);
        }
        crate::codec::finish_frame(&mut out);
        out
    }

    /// Decodes a reply to a request of type `op` (client side).
    pub fn decode(op: OpCode, frame: &[u8]) -> Result<Self, DecodeError> {
        let mut r = Reader::new(frame);
        let header = ReplyHeader::read_from(&mut r)?;
        let response = if header.err == 0 {
            Response::read_from(op, &mut r)?
        } else {
            Response::Empty
        };
        Ok(Self { header, response })
    }
}
