//! Bytes from a stranger on the client port: the frame decoder, then every frame as the
//! connect request and as a request packet, and every reply decoder. None may panic, and
//! whatever decodes must re-encode to something that decodes to the same value.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use paddock_jute::{ConnectRequest, Frame, FrameCodec, OpCode, Record, ReplyPacket, RequestPacket};

fuzz_target!(|data: &[u8]| {
    let mut codec = FrameCodec::new(4096);
    let mut buf = BytesMut::from(data);
    let mut first = true;
    while let Ok(Some(frame)) = codec.decode_frame(&mut buf) {
        let Frame::Packet(payload) = frame else { continue };
        if std::mem::take(&mut first) {
            if let Ok(connect) = ConnectRequest::from_bytes(&payload) {
                assert_eq!(ConnectRequest::from_bytes(&connect.to_bytes()).ok(), Some(connect));
            }
        }
        if let Ok(packet) = RequestPacket::decode(&payload) {
            let mut again = Vec::new();
            packet.write_to(&mut again);
            assert_eq!(RequestPacket::decode(&again).ok(), Some(packet));
        }
    }
    for op in OpCode::ALL {
        if let Ok(reply) = ReplyPacket::decode(*op, data) {
            let again = ReplyPacket::encode(reply.header, &reply.response);
            let _ = ReplyPacket::decode(*op, &again);
        }
    }
});
