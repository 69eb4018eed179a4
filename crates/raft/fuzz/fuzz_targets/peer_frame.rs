//! Bytes on the peer port: a frame is decoded as the transport decodes it (a PeerFrame,
//! then every raft message inside a batch). Nothing may panic; whatever decodes must
//! re-encode.

#![no_main]

use libfuzzer_sys::fuzz_target;
use paddock_raft::pb::{PeerFrame, peer_frame::Kind};
use prost::Message as _;
use protobuf::Message as _;

fuzz_target!(|data: &[u8]| {
    let Ok(frame) = PeerFrame::decode(data) else { return };
    let again = frame.encode_to_vec();
    assert!(PeerFrame::decode(again.as_slice()).is_ok());
    match frame.kind {
        Some(Kind::Batch(batch)) => {
            for raw in batch.raft {
                if let Ok(message) = raft::prelude::Message::parse_from_bytes(&raw) {
                    let _ = message.write_to_bytes();
                }
            }
        }
        Some(Kind::SnapshotChunk(chunk)) => {
            let _ = raft::prelude::Message::parse_from_bytes(&chunk.raft_message);
        }
        _ => {}
    }
});
