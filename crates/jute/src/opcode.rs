//! Request opcodes (ZooKeeper's `ZooDefs.OpCode`).

use crate::error::DecodeError;

macro_rules! opcodes {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        /// The type of a request, as carried in its [`RequestHeader`](crate::RequestHeader).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum OpCode {
            $($(#[$doc])* $name,)*
        }

        impl OpCode {
            /// Every opcode, for exhaustive tests.
            pub const ALL: &'static [OpCode] = &[$(OpCode::$name,)*];

            /// The number on the wire.
            pub const fn code(self) -> i32 {
                match self {
                    $(OpCode::$name => $value,)*
                }
            }

            /// The opcode for a wire number, if ZooKeeper defines one.
            pub fn from_code(code: i32) -> Result<Self, DecodeError> {
                match code {
                    $($value => Ok(OpCode::$name),)*
                    other => Err(DecodeError::UnknownOpCode(other)),
                }
            }
        }
    };
}

opcodes! {
    /// Notification pseudo-opcode.
    Notification = 0,
    /// Create a znode (reply: path).
    Create = 1,
    /// Delete a znode.
    Delete = 2,
    /// Stat a znode, optionally watching it.
    Exists = 3,
    /// Read a znode's data.
    GetData = 4,
    /// Write a znode's data.
    SetData = 5,
    /// Read a znode's ACL.
    GetAcl = 6,
    /// Replace a znode's ACL.
    SetAcl = 7,
    /// List a znode's children.
    GetChildren = 8,
    /// Catch this server up with the leader.
    Sync = 9,
    /// Heartbeat.
    Ping = 11,
    /// List children with the parent's stat.
    GetChildren2 = 12,
    /// Version check (inside multi).
    Check = 13,
    /// Atomic batch of writes.
    Multi = 14,
    /// Create a znode (reply: path and stat).
    Create2 = 15,
    /// Dynamic reconfiguration.
    Reconfig = 16,
    /// Ask whether a watch is registered.
    CheckWatches = 17,
    /// Remove registered watches.
    RemoveWatches = 18,
    /// Create a container znode.
    CreateContainer = 19,
    /// Delete an empty container (server-internal).
    DeleteContainer = 20,
    /// Create a znode with a time to live.
    CreateTtl = 21,
    /// Batch of reads.
    MultiRead = 22,
    /// Add authentication to the connection.
    Auth = 100,
    /// Re-register watches after a reconnect.
    SetWatches = 101,
    /// SASL token exchange.
    Sasl = 102,
    /// List the session's ephemerals under a prefix.
    GetEphemerals = 103,
    /// Count all descendants of a znode.
    GetAllChildrenNumber = 104,
    /// Re-register watches, including persistent ones.
    SetWatches2 = 105,
    /// Add a persistent or persistent-recursive watch.
    AddWatch = 106,
    /// Ask which identities the connection holds.
    WhoAmI = 107,
    /// Session creation (server-internal; clients send a ConnectRequest).
    CreateSession = -10,
    /// End the session.
    CloseSession = -11,
    /// Error result inside a multi response.
    Error = -1,
}

impl OpCode {
    /// True for operations that change state and so go through consensus.
    pub fn is_write(self) -> bool {
        matches!(
            self,
            OpCode::Create
                | OpCode::Create2
                | OpCode::CreateContainer
                | OpCode::CreateTtl
                | OpCode::Delete
                | OpCode::DeleteContainer
                | OpCode::SetData
                | OpCode::SetAcl
                | OpCode::Check
                | OpCode::Multi
                | OpCode::Reconfig
                | OpCode::CreateSession
                | OpCode::CloseSession
        )
    }
}
