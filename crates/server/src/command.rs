//! Log entries: turning a client write (or a session event) into bytes for the Raft log,
//! and back into a [`Txn`] for the tree.

use bytes::{Buf, BufMut, Bytes};
use paddock_jute::{Id, OpCode, Reader, Request};
use paddock_tree::{Txn, TxnOp};
use prost::Message as _;

/// Protobuf messages of proto/command.proto.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/paddock.command.rs"));
}

/// Why a log entry could not be turned back into a transaction. Entries are written by
/// servers, never by clients, so this means a bug or a newer peer: the tree is left alone
/// and the proposer gets a system error.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommandError {
    /// The protobuf does not decode.
    #[error("undecodable command: {0}")]
    Protobuf(String),
    /// The embedded jute request does not decode.
    #[error("undecodable request in command: {0}")]
    Jute(#[from] paddock_jute::DecodeError),
    /// The command names no operation.
    #[error("command without an operation")]
    Empty,
}

fn identities(auth: &[Id]) -> Vec<pb::Identity> {
    auth.iter()
        .map(|id| pb::Identity {
            scheme: id.scheme.clone(),
            id: id.id.clone(),
        })
        .collect()
}

/// The log entry for a write on behalf of `client`, with `request` encoded here.
pub fn write(time_ms: i64, client: Client, auth: &[Id], request: &Request) -> Vec<u8> {
    let mut body = Vec::with_capacity(64);
    body.put_i32(request.op_code().code());
    request.write_to(&mut body);
    write_encoded(time_ms, client, auth, Bytes::from(body))
}

/// Who a client write is for: the session, the connection that sent it (its `owner`
/// token) and the request's xid.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// The session the write runs for.
    pub session_id: i64,
    /// The sending connection's token.
    pub owner: u64,
    /// The request's xid, if the write is a client's.
    pub xid: Option<i32>,
}

impl Client {
    /// A server-internal write: no session, connection or xid.
    pub const INTERNAL: Client = Client {
        session_id: 0,
        owner: 0,
        xid: None,
    };
}

/// The log entry for a client write that arrived as `encoded`: its op code and request
/// as the client framed them (the packet after the xid). They decode to the same request
/// they did when the connection read them, so a write is not encoded a second time.
pub fn write_encoded(time_ms: i64, client: Client, auth: &[Id], encoded: Bytes) -> Vec<u8> {
    pb::Command {
        time_ms,
        session_id: client.session_id,
        auth: identities(auth),
        op: Some(pb::command::Op::Request(encoded)),
        owner: client.owner,
        xid: client.xid,
    }
    .encode_to_vec()
}

/// The log entry that opens a session owned by connection `owner`.
pub fn create_session(
    time_ms: i64,
    session_id: i64,
    owner: u64,
    timeout_ms: i32,
    password: &[u8],
) -> Vec<u8> {
    pb::Command {
        time_ms,
        session_id,
        auth: Vec::new(),
        op: Some(pb::command::Op::CreateSession(pb::CreateSession {
            timeout_ms,
            password: Bytes::copy_from_slice(password),
        })),
        owner,
        xid: None,
    }
    .encode_to_vec()
}

/// The log entry that hands a session to connection `owner` (a re-attach).
pub fn move_session(time_ms: i64, session_id: i64, owner: u64) -> Vec<u8> {
    pb::Command {
        time_ms,
        session_id,
        auth: Vec::new(),
        op: Some(pb::command::Op::MoveSession(pb::MoveSession {})),
        owner,
        xid: None,
    }
    .encode_to_vec()
}

/// The log entry that ends a session: closed by its client (`owner` its connection) or
/// expired by the leader (`owner` 0).
pub fn close_session(time_ms: i64, session_id: i64, owner: u64) -> Vec<u8> {
    pb::Command {
        time_ms,
        session_id,
        auth: Vec::new(),
        op: Some(pb::command::Op::CloseSession(pb::CloseSession {
            expired: owner == 0,
        })),
        owner,
        xid: None,
    }
    .encode_to_vec()
}

/// A committed entry turned back into a transaction, with the xid of the client write it
/// carries.
#[derive(Debug)]
pub struct Decoded {
    /// What the tree applies.
    pub txn: Txn,
    /// The client's xid, for a client write.
    pub xid: Option<i32>,
}

/// Turns a committed entry at `zxid` back into a transaction.
pub fn decode(zxid: i64, bytes: &[u8]) -> Result<Decoded, CommandError> {
    let command = pb::Command::decode(bytes).map_err(|e| CommandError::Protobuf(e.to_string()))?;
    let op = match command.op.ok_or(CommandError::Empty)? {
        pb::command::Op::Request(mut body) => {
            if body.remaining() < 4 {
                return Err(CommandError::Empty);
            }
            let op = OpCode::from_code(body.get_i32())?;
            TxnOp::Write(Request::read_from(op, &mut Reader::new(&body))?)
        }
        pb::command::Op::CreateSession(create) => TxnOp::CreateSession {
            timeout_ms: create.timeout_ms,
            password: create.password.to_vec(),
        },
        pb::command::Op::CloseSession(_) => TxnOp::CloseSession,
        pb::command::Op::MoveSession(_) => TxnOp::MoveSession,
    };
    let txn = Txn {
        zxid,
        time_ms: command.time_ms,
        session_id: command.session_id,
        auth: command
            .auth
            .into_iter()
            .map(|id| Id::new(id.scheme, id.id))
            .collect(),
        owner: command.owner,
        op,
    };
    Ok(Decoded {
        txn,
        xid: command.xid,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use paddock_jute::{Acl, CreateRequest};

    #[test]
    fn commands_round_trip() {
        let request = Request::Create(CreateRequest {
            path: "/a".into(),
            data: Some(b"x".to_vec()),
            acl: Acl::open_unsafe(),
            flags: 1,
            ttl: 0,
        });
        let auth = vec![Id::new("digest", "u:h")];
        let client = Client {
            session_id: 7,
            owner: 42,
            xid: Some(3),
        };
        let decoded = decode(9, &write(5, client, &auth, &request)).unwrap();
        assert_eq!(decoded.xid, Some(3));
        let txn = decoded.txn;
        let expected = Txn {
            zxid: 9,
            time_ms: 5,
            session_id: 7,
            auth,
            owner: 42,
            op: TxnOp::Write(request),
        };
        assert_eq!(txn, expected);
        let txn = decode(10, &create_session(1, 2, 42, 3000, &[4; 16]))
            .unwrap()
            .txn;
        let created = TxnOp::CreateSession {
            timeout_ms: 3000,
            password: vec![4; 16],
        };
        assert_eq!((txn.op, txn.owner), (created, 42));
        let closed = decode(11, &close_session(1, 2, 0)).unwrap().txn;
        assert_eq!((closed.op, closed.owner), (TxnOp::CloseSession, 0));
        assert_eq!(
            decode(12, &move_session(1, 2, 9)).unwrap().txn.op,
            TxnOp::MoveSession
        );
        assert!(decode(13, b"\xff\xff").is_err());
    }
}
