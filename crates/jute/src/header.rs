//! Request and reply headers, and the special xids ZooKeeper reserves.

use bytes::BufMut;

use crate::error::DecodeError;
use crate::reader::Reader;
use crate::record::Record;
use crate::writer::JuteWrite;

/// Reserved xids: replies with these are not answers to numbered requests.
pub mod xid {
    /// A watch notification.
    pub const NOTIFICATION: i32 = -1;
    /// A ping and its reply.
    pub const PING: i32 = -2;
    /// An auth packet and its reply.
    pub const AUTH: i32 = -4;
    /// SetWatches / SetWatches2 and their reply.
    pub const SET_WATCHES: i32 = -8;
}

/// Precedes every request after the handshake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestHeader {
    /// Client-chosen id echoed in the reply (or a reserved value from [`xid`]).
    pub xid: i32,
    /// The opcode number.
    pub op: i32,
}

impl Record for RequestHeader {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i32(self.xid);
        buf.put_jute_i32(self.op);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            xid: r.read_i32("RequestHeader.xid")?,
            op: r.read_i32("RequestHeader.type")?,
        })
    }
}

/// Precedes every reply and notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplyHeader {
    /// The request's xid, or a reserved value from [`xid`].
    pub xid: i32,
    /// The server's last applied zxid (clients adopt it as `lastZxidSeen`).
    pub zxid: i64,
    /// A result code number (0 for success).
    pub err: i32,
}

/// Encoded length of a [`ReplyHeader`].
pub const REPLY_HEADER_LEN: usize = 16;

impl Record for ReplyHeader {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i32(self.xid);
        buf.put_jute_i64(self.zxid);
        buf.put_jute_i32(self.err);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            xid: r.read_i32("ReplyHeader.xid")?,
            zxid: r.read_i64("ReplyHeader.zxid")?,
            err: r.read_i32("ReplyHeader.err")?,
        })
    }
}

/// Precedes each operation and each result inside a multi.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MultiHeader {
    /// The operation's opcode number (-1 for an error result or the terminator).
    pub op: i32,
    /// True only on the terminator.
    pub done: bool,
    /// The result code number (-1 in requests).
    pub err: i32,
}

impl MultiHeader {
    /// The header that ends a multi request or response.
    pub const END: MultiHeader = MultiHeader {
        op: -1,
        done: true,
        err: -1,
    };
}

impl Record for MultiHeader {
    fn write_to<B: BufMut>(&self, buf: &mut B) {
        buf.put_jute_i32(self.op);
        buf.put_jute_bool(self.done);
        buf.put_jute_i32(self.err);
    }

    fn read_from(r: &mut Reader<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            op: r.read_i32("MultiHeader.type")?,
            done: r.read_bool("MultiHeader.done")?,
            err: r.read_i32("MultiHeader.err")?,
        })
    }
}
