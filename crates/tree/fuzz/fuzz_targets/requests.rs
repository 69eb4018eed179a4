//! Bytes from a stranger on the client port, all the way into the state machine: frames
//! are cut, decoded as requests, and every request that decodes is dispatched as the
//! server would — writes applied to the tree as log entries of a live session, reads
//! answered from it. Nothing may panic, and the tree's invariants must hold after every
//! step (so a hostile request can never corrupt replicated state).

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use paddock_jute::{Frame, FrameCodec, Id, OpCode, RequestPacket};
use paddock_tree::{Tree, TreeConfig, Txn, TxnOp};

const SESSION: i64 = 0x0100_0000_0000_0001;

fuzz_target!(|data: &[u8]| {
    let mut tree = Tree::new(TreeConfig { extended_types_enabled: data.first().is_some_and(|b| b & 1 == 1) });
    let mut zxid = 1;
    tree.apply(Txn { zxid, time_ms: 0, session_id: SESSION, auth: vec![], owner: 0, op: TxnOp::CreateSession { timeout_ms: 4000, password: vec![0; 16] } });
    let auth = vec![Id::new("ip", "127.0.0.1"), Id::new("digest", "u:hash")];
    let mut codec = FrameCodec::client(1 << 16);
    let mut buf = BytesMut::from(data);
    let mut steps = 0;
    while let Ok(Some(Frame::Packet(payload))) = codec.decode_frame(&mut buf) {
        steps += 1;
        if steps > 64 {
            break;
        }
        let Ok(packet) = RequestPacket::decode(&payload) else { continue };
        let op = packet.request.op_code();
        if op.is_write() && op != OpCode::CreateSession && op != OpCode::CloseSession {
            zxid += 1;
            let txn = Txn { zxid, time_ms: zxid * 1000, session_id: SESSION, auth: auth.clone(), owner: 0, op: TxnOp::Write(packet.request) };
            let _ = tree.apply(txn);
        } else {
            let _ = tree.read(SESSION, &packet.request, &auth);
        }
        tree.check_invariants();
    }
    zxid += 1;
    tree.apply(Txn { zxid, time_ms: 0, session_id: SESSION, auth: vec![], owner: 0, op: TxnOp::CloseSession });
    tree.check_invariants();
});
