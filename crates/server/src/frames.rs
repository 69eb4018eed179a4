//! Encoding what goes back to a client: replies and watch notifications, as complete
//! frames ready for the socket.

use bytes::Bytes;
use paddock_jute::{
    ConnectResponse, ErrorCode, EventType, Record, ReplyHeader, ReplyPacket, Response,
    WatcherEvent, keeper_state, xid,
};

/// A reply frame. Error replies carry no body.
pub fn reply(xid: i32, zxid: i64, err: ErrorCode, response: &Response) -> Bytes {
    Bytes::from(ReplyPacket::encode_frame(
        ReplyHeader {
            xid,
            zxid,
            err: err.code(),
        },
        response,
    ))
}

/// An error reply frame.
pub fn error(xid: i32, zxid: i64, err: ErrorCode) -> Bytes {
    reply(xid, zxid, err, &Response::Empty)
}

/// A watch notification: xid -1, the triggering zxid (as ZooKeeper 3.9 sends it; 3.8
/// clients ignore it), state SyncConnected.
pub fn notification(event: EventType, path: &str, zxid: i64) -> Bytes {
    let mut out = Vec::with_capacity(32 + path.len());
    out.extend_from_slice(&[0; 4]);
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid,
        err: 0,
    }
    .write_to(&mut out);
    WatcherEvent {
        event_type: event,
        state: keeper_state::SYNC_CONNECTED,
        path: path.to_owned(),
    }
    .write_to(&mut out);
    paddock_jute::codec::finish_frame(&mut out);
    Bytes::from(out)
}

/// The handshake answer.
pub fn connect(response: &ConnectResponse) -> Bytes {
    let mut out = vec![0; 4];
    response.write_to(&mut out);
    paddock_jute::codec::finish_frame(&mut out);
    Bytes::from(out)
}
