//! paddock-jute: the ZooKeeper client wire protocol, versions 3.5 to 3.9.
//!
//! Theory of operation. This crate turns bytes into typed values and back, and nothing
//! else: it knows no sockets, no tree, no sessions. A connection's byte stream is cut into
//! frames by [`FrameCodec`] (which also spots a four-letter word at the very start); the
//! first frame is a [`ConnectRequest`], every later one a [`RequestPacket`] (a
//! [`RequestHeader`] and a [`Request`] body chosen by [`OpCode`]). Servers answer with a
//! [`ReplyHeader`] and a [`Response`] body; watch notifications are a reply with xid -1
//! and a [`WatcherEvent`]. Result codes ([`ErrorCode`]) are values in replies.
//!
//! Promises: decoding is total. Any byte string yields a value or a [`DecodeError`]; it
//! never panics, and no length prefix makes it allocate beyond what the input (itself
//! bounded by the frame limit) can hold. Encoding then decoding returns the same value.

#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod code;
pub mod codec;
pub mod connect;
pub mod create_mode;
pub mod error;
pub mod four_letter;
pub mod header;
pub mod opcode;
pub mod reader;
pub mod record;
pub mod request;
pub mod response;
pub mod watch;
pub mod writer;

pub use code::ErrorCode;
pub use codec::{FRAME_LEN_MAX_DEFAULT, Frame, FrameCodec, FrameError};
pub use connect::{ConnectRequest, ConnectResponse};
pub use create_mode::CreateMode;
pub use error::DecodeError;
pub use four_letter::FourLetterWord;
pub use header::{MultiHeader, ReplyHeader, RequestHeader, xid};
pub use opcode::OpCode;
pub use reader::Reader;
pub use record::{Acl, ClientInfo, Id, Record, STAT_LEN, Stat, perms};
pub use request::{
    AddWatchRequest, AuthPacket, CheckVersionRequest, CreateRequest, DeleteRequest, PathRequest,
    PathWatchRequest, ReconfigRequest, Request, RequestPacket, SetAclRequest, SetDataRequest,
    SetWatches, WatchesRequest,
};
pub use response::{MultiResult, ReplyPacket, Response};
pub use watch::{AddWatchMode, EventType, WatcherEvent, WatcherType, keeper_state};
pub use writer::JuteWrite;
