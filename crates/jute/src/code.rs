//! ZooKeeper result codes (`KeeperException.Code`).

macro_rules! codes {
    ($($(#[$doc:meta])* $name:ident = $value:expr,)*) => {
        /// A ZooKeeper result code, as carried in a reply header or a multi result.
        ///
        /// These are values in replies, never Rust errors of this crate: a `NoNode` is a
        /// normal answer to a normal question.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $($(#[$doc])* $name,)*
        }

        impl ErrorCode {
            /// Every code, for exhaustive tests.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The number on the wire.
            pub const fn code(self) -> i32 {
                match self {
                    $(ErrorCode::$name => $value,)*
                }
            }

            /// The code for a wire number, if ZooKeeper defines one.
            pub fn from_code(code: i32) -> Option<Self> {
                match code {
                    $($value => Some(ErrorCode::$name),)*
                    _ => None,
                }
            }
        }
    };
}

codes! {
    /// Success.
    Ok = 0,
    /// A server-side failure with no better code.
    SystemError = -1,
    /// Another operation of a multi failed, so this one was not applied.
    RuntimeInconsistency = -2,
    /// Data inconsistency found by the server.
    DataInconsistency = -3,
    /// The connection to the server was lost.
    ConnectionLoss = -4,
    /// A record could not be (de)serialized.
    MarshallingError = -5,
    /// The operation is not implemented.
    Unimplemented = -6,
    /// The operation timed out.
    OperationTimeout = -7,
    /// Invalid arguments (bad path, bad flags, …).
    BadArguments = -8,
    /// The session is not known to the server.
    UnknownSession = -12,
    /// A reconfiguration lacks a quorum.
    NewConfigNoQuorum = -13,
    /// Another reconfiguration is in progress.
    ReconfigInProgress = -14,
    /// A generic API error (client side).
    ApiError = -100,
    /// The node does not exist.
    NoNode = -101,
    /// Not authorized by the node's ACL.
    NoAuth = -102,
    /// The expected version does not match.
    BadVersion = -103,
    /// Ephemeral nodes may not have children.
    NoChildrenForEphemerals = -108,
    /// The node already exists.
    NodeExists = -110,
    /// The node has children.
    NotEmpty = -111,
    /// The session has expired.
    SessionExpired = -112,
    /// Invalid callback (client side).
    InvalidCallback = -113,
    /// Invalid ACL.
    InvalidAcl = -114,
    /// Authentication failed.
    AuthFailed = -115,
    /// The session moved to another server.
    SessionMoved = -118,
    /// A write was sent to a read-only server.
    NotReadOnly = -119,
    /// Ephemeral nodes may not be created by a local session.
    EphemeralOnLocalSession = -120,
    /// No such watcher to check or remove.
    NoWatcher = -121,
    /// The request timed out.
    RequestTimeout = -122,
    /// Reconfiguration is disabled.
    ReconfigDisabled = -123,
    /// The session requires SASL authentication.
    SessionClosedRequireSaslAuth = -124,
    /// A quota was exceeded.
    QuotaExceeded = -125,
    /// The request was throttled.
    Throttled = -127,
}

impl ErrorCode {
    /// True for [`ErrorCode::Ok`].
    pub fn is_ok(self) -> bool {
        self == ErrorCode::Ok
    }
}
