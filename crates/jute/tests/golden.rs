//! Golden byte vectors captured from real ZooKeeper traffic.
//!
//! Every constant below is a frame recorded by a logging TCP proxy placed between a real
//! client and a reference Apache ZooKeeper 3.8.0 standalone server (Debian's
//! `zookeeper.jar`). Two clients produced them: kazoo (Python, Debian `python3-kazoo`) and
//! the ZooKeeper 3.8.0 Java client (`org.apache.zookeeper.ZooKeeper`, plain NIO). Each test
//! decodes a capture with paddock-jute, checks the typed value field by field, and
//! re-encodes it to the identical bytes.
//!
//! Payloads are stored without their 4-byte length prefix, except the `*_FRAME` constants,
//! which are whole frames as they crossed the socket. Session ids, passwords, zxids and
//! times are whatever the capture held: they are fixed constants now.

#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use paddock_jute::*;

// ---------------------------------------------------------------------------------------
// Helpers.

fn bytes(hex: &str) -> Vec<u8> {
    assert!(hex.len().is_multiple_of(2), "odd hex length");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a captured request payload and checks that it re-encodes byte for byte.
fn request(hex: &str) -> RequestPacket {
    let wire = bytes(hex);
    let packet = RequestPacket::decode(&wire).unwrap();
    let mut again = Vec::new();
    packet.write_to(&mut again);
    assert_eq!(to_hex(&again), hex, "re-encoding {packet:?}");
    packet
}

/// Decodes a captured reply payload to a request of type `op` and checks that it
/// re-encodes byte for byte.
fn reply(op: OpCode, hex: &str) -> ReplyPacket {
    let wire = bytes(hex);
    let packet = ReplyPacket::decode(op, &wire).unwrap();
    let again = ReplyPacket::encode(packet.header, &packet.response);
    assert_eq!(to_hex(&again), hex, "re-encoding {packet:?}");
    packet
}

/// Decodes a captured notification payload (reply header, then a watcher event) and
/// checks that it re-encodes byte for byte.
fn notification(hex: &str) -> WatcherEvent {
    let wire = bytes(hex);
    let mut r = Reader::new(&wire);
    let header = ReplyHeader::read_from(&mut r).unwrap();
    let event = WatcherEvent::read_from(&mut r).unwrap();
    assert!(r.is_empty(), "trailing bytes after the event");
    assert_eq!(
        header,
        ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid: -1,
            err: 0,
        }
    );
    let mut again = header.to_bytes();
    event.write_to(&mut again);
    assert_eq!(to_hex(&again), hex, "re-encoding {event:?}");
    event
}

/// Decodes a captured record and checks that it re-encodes byte for byte.
fn record<R: Record + std::fmt::Debug>(hex: &str) -> R {
    let value = R::from_bytes(&bytes(hex)).unwrap();
    assert_eq!(to_hex(&value.to_bytes()), hex, "re-encoding {value:?}");
    value
}

fn header(xid: i32, zxid: i64, err: ErrorCode) -> ReplyHeader {
    ReplyHeader {
        xid,
        zxid,
        err: err.code(),
    }
}

fn create<D: AsRef<[u8]>>(
    path: &str,
    data: Option<D>,
    acl: Vec<Acl>,
    mode: CreateMode,
) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: data.map(|d| d.as_ref().to_vec()),
        acl,
        flags: mode.flags(),
        ttl: 0,
    }
}

fn path_watch(path: &str, watch: bool) -> PathWatchRequest {
    PathWatchRequest {
        path: path.into(),
        watch,
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------
// Fixed values of the capture sessions.

/// The session kazoo was given.
const KAZOO_SESSION: i64 = 0x0100_000a_3631_0001;
/// Its password.
const KAZOO_PASSWD: &str = "c8541ad53e1f7b5f101d8941ebf0f8b3";
/// The session the Java client was given.
const JAVA_SESSION: i64 = 0x0100_000a_3631_0002;
/// Its password.
const JAVA_PASSWD: &str = "8ff12bd55e3cdd90315453bf7056bb4c";

/// `digest:golden:secret`, as kazoo's `make_digest_acl("golden", "secret", all=True)`
/// spells it.
fn golden_digest_acl() -> Vec<Acl> {
    vec![Acl {
        perms: perms::ALL,
        id: Id::new("digest", "golden:xWIAyp+iipmRz+wIMl/M3rwWQD4="),
    }]
}

/// `/golden/c2` right after kazoo created it.
const C2_CREATED: Stat = Stat {
    czxid: 0xc,
    mzxid: 0xc,
    ctime: 1_795_315_366_646,
    mtime: 1_795_315_366_646,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeral_owner: 0,
    data_length: 5,
    num_children: 0,
    pzxid: 0xc,
};

/// `/golden/c2` after kazoo's setData.
const C2_SET: Stat = Stat {
    mzxid: 0xe,
    mtime: 1_795_315_367_262,
    version: 1,
    ..C2_CREATED
};

/// `/golden/c2` after the setData inside kazoo's multi.
const C2_SET_BY_MULTI: Stat = Stat {
    mzxid: 0xf,
    mtime: 1_795_315_368_795,
    version: 2,
    ..C2_CREATED
};

/// The TTL node `/gj/ttl` the Java client created (a TTL node shows ephemeralOwner 0).
const TTL_CREATED: Stat = Stat {
    czxid: 0x1b,
    mzxid: 0x1b,
    ctime: 1_795_315_427_250,
    mtime: 1_795_315_427_250,
    version: 0,
    cversion: 0,
    aversion: 0,
    ephemeral_owner: 0,
    data_length: 1,
    num_children: 0,
    pzxid: 0x1b,
};

// ---------------------------------------------------------------------------------------
// The handshake.

const KAZOO_CONNECT_REQUEST_FRAME: &str = "\
    0000002d\
    00000000000000000000000000000fa000000000000000000000001000000000\
    00000000000000000000000000";
const KAZOO_CONNECT_RESPONSE: &str = "\
    0000000000000fa00100000a3631000100000010c8541ad53e1f7b5f101d8941\
    ebf0f8b300";

/// kazoo `KazooClient(timeout=4.0).start()`: a new session, 45 bytes with the trailing
/// readOnly byte; the server's 37-byte answer mirrors that byte.
#[test]
fn kazoo_connect() {
    let frame = bytes(KAZOO_CONNECT_REQUEST_FRAME);
    assert_eq!(frame.len(), 4 + 45);
    let connect: ConnectRequest = record(&KAZOO_CONNECT_REQUEST_FRAME[8..]);
    assert_eq!(
        connect,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    );

    assert_eq!(bytes(KAZOO_CONNECT_RESPONSE).len(), 37);
    let response: ConnectResponse = record(KAZOO_CONNECT_RESPONSE);
    assert_eq!(
        response,
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 4000,
            session_id: KAZOO_SESSION,
            passwd: bytes(KAZOO_PASSWD),
            read_only: Some(false),
        }
    );
}

const KAZOO_RECONNECT_REQUEST: &str = "\
    00000000000000000000001200000fa00100000a3631000100000010c8541ad5\
    3e1f7b5f101d8941ebf0f8b300";

/// kazoo reattaching after the proxy cut its connection: the session id and password it
/// was given, and the last zxid it saw.
#[test]
fn kazoo_reconnect() {
    let connect: ConnectRequest = record(KAZOO_RECONNECT_REQUEST);
    assert_eq!(
        connect,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0x12,
            timeout_ms: 4000,
            session_id: KAZOO_SESSION,
            passwd: bytes(KAZOO_PASSWD),
            read_only: Some(false),
        }
    );
}

const JAVA_CONNECT_REQUEST: &str = "\
    00000000000000000000000000000fa000000000000000000000001000000000\
    00000000000000000000000000";
const JAVA_CONNECT_RESPONSE: &str = "\
    0000000000000fa00100000a36310002000000108ff12bd55e3cdd90315453bf\
    7056bb4c00";

/// Java `new ZooKeeper("…", 4000, watcher)`: the same 45-byte form as kazoo's.
#[test]
fn java_connect() {
    assert_eq!(bytes(JAVA_CONNECT_REQUEST).len(), 45);
    let connect: ConnectRequest = record(JAVA_CONNECT_REQUEST);
    assert_eq!(
        connect,
        ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        }
    );
    assert_eq!(bytes(JAVA_CONNECT_RESPONSE).len(), 37);
    let response: ConnectResponse = record(JAVA_CONNECT_RESPONSE);
    assert_eq!(
        response,
        ConnectResponse {
            protocol_version: 0,
            timeout_ms: 4000,
            session_id: JAVA_SESSION,
            passwd: bytes(JAVA_PASSWD),
            read_only: Some(false),
        }
    );
}

// ---------------------------------------------------------------------------------------
// Framing.

const JAVA_RECONNECT_REQUEST_FRAME: &str = "\
    0000002d\
    00000000000000000000001c00000fa00100000a36310002000000108ff12bd5\
    5e3cdd90315453bf7056bb4c00";
const JAVA_RECONNECT_AUTH_FRAME: &str = "\
    00000027fffffffc00000064\
    00000000000000066469676573740000000d676f6c64656e3a736563726574";
const JAVA_RECONNECT_SET_WATCHES_FRAME: &str = "\
    0000003d0000000d00000065\
    000000000000001c00000001000000072f676a2f74746c000000010000000b2f\
    676a2f6d697373696e6700000001000000032f676a";

/// The first three frames of the Java client's reconnect after the proxy cut the
/// connection (ConnectRequest, its auth replay, SetWatches), as one byte stream: the frame
/// codec cuts it where the client did, also when the bytes trickle in one at a time.
#[test]
fn frame_codec_cuts_java_reconnect_stream() {
    let frames = [
        JAVA_RECONNECT_REQUEST_FRAME,
        JAVA_RECONNECT_AUTH_FRAME,
        JAVA_RECONNECT_SET_WATCHES_FRAME,
    ];
    let stream: Vec<u8> = frames.iter().flat_map(|f| bytes(f)).collect();

    let mut codec = FrameCodec::default();
    let mut src = BytesMut::from(&stream[..]);
    let mut payloads = Vec::new();
    while let Some(frame) = codec.decode_frame(&mut src).unwrap() {
        let Frame::Packet(payload) = frame else {
            panic!("unexpected {frame:?}");
        };
        payloads.push(payload.to_vec());
    }
    assert!(src.is_empty());
    let expected: Vec<Vec<u8>> = frames.iter().map(|f| bytes(f)[4..].to_vec()).collect();
    assert_eq!(payloads, expected);

    let mut codec = FrameCodec::default();
    let mut src = BytesMut::new();
    let mut trickled = Vec::new();
    for byte in &stream {
        src.extend_from_slice(&[*byte]);
        if let Some(Frame::Packet(payload)) = codec.decode_frame(&mut src).unwrap() {
            trickled.push(payload.to_vec());
        }
    }
    assert_eq!(trickled, expected);

    let connect = ConnectRequest::from_bytes(&payloads[0]).unwrap();
    assert_eq!(connect.session_id, JAVA_SESSION);
    assert_eq!(connect.last_zxid_seen, 0x1c);
    assert_eq!(connect.passwd, bytes(JAVA_PASSWD));
    assert_eq!(connect.read_only, Some(false));
    assert_eq!(RequestPacket::decode(&payloads[1]).unwrap().xid, xid::AUTH);
    assert_eq!(
        RequestPacket::decode(&payloads[2])
            .unwrap()
            .request
            .op_code(),
        OpCode::SetWatches
    );

    let mut reframed = BytesMut::new();
    for payload in &payloads {
        codec.encode_frame(payload, &mut reframed).unwrap();
    }
    assert_eq!(to_hex(&reframed), frames.concat());
}

/// kazoo's first frame, whole: its length prefix (0x2d = 45) is not a four-letter word, so
/// a server-side codec at the start of a connection takes it as a packet.
#[test]
fn frame_codec_takes_kazoo_connect_frame() {
    let mut codec = FrameCodec::default();
    let mut src = BytesMut::from(&bytes(KAZOO_CONNECT_REQUEST_FRAME)[..]);
    let Some(Frame::Packet(payload)) = codec.decode_frame(&mut src).unwrap() else {
        panic!("no packet");
    };
    assert!(src.is_empty());
    assert_eq!(to_hex(&payload), KAZOO_CONNECT_REQUEST_FRAME[8..]);
}

const KAZOO_GET_DATA_REPLY_FRAME: &str = "\
    0000005d00000005000000000000000d00000000\
    0000000568656c6c6f000000000000000c000000000000000c000001a201227a\
    f6000001a201227af60000000000000000000000000000000000000000000000\
    0500000000000000000000000c";

/// A whole reply frame as the server sent it (kazoo's `get("/golden/c2", watch=…)`):
/// `ReplyPacket::encode_frame` produces it prefix and all.
#[test]
fn reply_encode_frame_matches_server_frame() {
    let frame = bytes(KAZOO_GET_DATA_REPLY_FRAME);
    let packet = ReplyPacket::decode(OpCode::GetData, &frame[4..]).unwrap();
    assert_eq!(
        to_hex(&ReplyPacket::encode_frame(packet.header, &packet.response)),
        KAZOO_GET_DATA_REPLY_FRAME
    );
}

// ---------------------------------------------------------------------------------------
// kazoo: auth, creates, reads, writes.

const KAZOO_AUTH_REQUEST: &str = "\
    fffffffc00000064\
    00000000000000066469676573740000000d676f6c64656e3a736563726574";
const KAZOO_AUTH_REPLY: &str = "fffffffc000000000000000000000000";

/// kazoo `add_auth("digest", "golden:secret")`: xid -4; the reply carries zxid 0.
#[test]
fn kazoo_auth_digest() {
    assert_eq!(
        request(KAZOO_AUTH_REQUEST),
        RequestPacket {
            xid: xid::AUTH,
            request: Request::Auth(AuthPacket {
                auth_type: 0,
                scheme: "digest".into(),
                auth: b"golden:secret".to_vec(),
            }),
        }
    );
    let reply = reply(OpCode::Auth, KAZOO_AUTH_REPLY);
    assert_eq!(reply.header, header(xid::AUTH, 0, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Empty);
}

const KAZOO_CREATE_REQUEST: &str = "\
    0000000100000001\
    000000072f676f6c64656e00000004726f6f74000000010000001f0000000577\
    6f726c6400000006616e796f6e6500000000";
const KAZOO_CREATE_REPLY: &str = "\
    00000001000000000000000a00000000\
    000000072f676f6c64656e";

/// kazoo `create("/golden", b"root")`: opcode create (1), OPEN_ACL_UNSAFE, persistent.
#[test]
fn kazoo_create_persistent() {
    let packet = request(KAZOO_CREATE_REQUEST);
    assert_eq!(
        packet,
        RequestPacket {
            xid: 1,
            request: Request::Create(create(
                "/golden",
                Some(b"root"),
                Acl::open_unsafe(),
                CreateMode::Persistent
            )),
        }
    );
    let reply = reply(OpCode::Create, KAZOO_CREATE_REPLY);
    assert_eq!(reply.header, header(1, 0xa, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Create("/golden".into()));
}

const KAZOO_CREATE_EPHEMERAL_SEQUENTIAL_REQUEST: &str = "\
    0000000200000001\
    0000000c2f676f6c64656e2f7365712d0000000173000000010000001f000000\
    05776f726c6400000006616e796f6e6500000003";
const KAZOO_CREATE_EPHEMERAL_SEQUENTIAL_REPLY: &str = "\
    00000002000000000000000b00000000\
    000000162f676f6c64656e2f7365712d30303030303030303030";

/// kazoo `create("/golden/seq-", b"s", ephemeral=True, sequence=True)`: flags 3; the reply
/// names the node with its ten-digit sequence suffix.
#[test]
fn kazoo_create_ephemeral_sequential() {
    let packet = request(KAZOO_CREATE_EPHEMERAL_SEQUENTIAL_REQUEST);
    let Request::Create(ref create_request) = packet.request else {
        panic!("not a create: {packet:?}");
    };
    assert_eq!(packet.xid, 2);
    assert_eq!(
        CreateMode::from_flags(create_request.flags),
        Some(CreateMode::EphemeralSequential)
    );
    assert_eq!(
        *create_request,
        create(
            "/golden/seq-",
            Some(b"s"),
            Acl::open_unsafe(),
            CreateMode::EphemeralSequential
        )
    );
    let reply = reply(OpCode::Create, KAZOO_CREATE_EPHEMERAL_SEQUENTIAL_REPLY);
    assert_eq!(reply.header, header(2, 0xb, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Create("/golden/seq-0000000000".into())
    );
}

const KAZOO_CREATE2_REQUEST: &str = "\
    000000030000000f\
    0000000a2f676f6c64656e2f63320000000568656c6c6f000000010000001f00\
    000005776f726c6400000006616e796f6e6500000000";
const KAZOO_CREATE2_REPLY: &str = "\
    00000003000000000000000c00000000\
    0000000a2f676f6c64656e2f6332000000000000000c000000000000000c0000\
    01a201227af6000001a201227af6000000000000000000000000000000000000\
    00000000000500000000000000000000000c";

/// kazoo `create("/golden/c2", b"hello", include_data=True)`: opcode create2 (15); the
/// reply carries the path and the new node's stat.
#[test]
fn kazoo_create2() {
    assert_eq!(
        request(KAZOO_CREATE2_REQUEST),
        RequestPacket {
            xid: 3,
            request: Request::Create2(create(
                "/golden/c2",
                Some(b"hello"),
                Acl::open_unsafe(),
                CreateMode::Persistent
            )),
        }
    );
    let reply = reply(OpCode::Create2, KAZOO_CREATE2_REPLY);
    assert_eq!(reply.header, header(3, 0xc, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Create2("/golden/c2".into(), C2_CREATED)
    );
}

const KAZOO_CREATE_DIGEST_ACL_REQUEST: &str = "\
    0000000400000001\
    0000000e2f676f6c64656e2f7365637265740000000178000000010000001f00\
    00000664696765737400000023676f6c64656e3a7857494179702b6969706d52\
    7a2b77494d6c2f4d337277575144343d00000000";

/// kazoo `create("/golden/secret", b"x", acl=[make_digest_acl("golden", "secret",
/// all=True)])`: a digest ACL entry on the wire.
#[test]
fn kazoo_create_with_digest_acl() {
    assert_eq!(
        request(KAZOO_CREATE_DIGEST_ACL_REQUEST),
        RequestPacket {
            xid: 4,
            request: Request::Create(create(
                "/golden/secret",
                Some(b"x"),
                golden_digest_acl(),
                CreateMode::Persistent
            )),
        }
    );
}

const KAZOO_GET_DATA_WATCH_REQUEST: &str = "\
    0000000500000004\
    0000000a2f676f6c64656e2f633201";
const KAZOO_GET_DATA_REPLY: &str = "\
    00000005000000000000000d00000000\
    0000000568656c6c6f000000000000000c000000000000000c000001a201227a\
    f6000001a201227af60000000000000000000000000000000000000000000000\
    0500000000000000000000000c";

/// kazoo `get("/golden/c2", watch=callback)`: watch byte 1; data and stat in the reply.
#[test]
fn kazoo_get_data_with_watch() {
    assert_eq!(
        request(KAZOO_GET_DATA_WATCH_REQUEST),
        RequestPacket {
            xid: 5,
            request: Request::GetData(path_watch("/golden/c2", true)),
        }
    );
    let reply = reply(OpCode::GetData, KAZOO_GET_DATA_REPLY);
    assert_eq!(reply.header, header(5, 0xd, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::GetData {
            data: Some(b"hello".to_vec()),
            stat: C2_CREATED,
        }
    );
}

const KAZOO_SET_DATA_REQUEST: &str = "\
    0000000600000005\
    0000000a2f676f6c64656e2f633200000005776f726c64ffffffff";
const KAZOO_NODE_DATA_CHANGED: &str = "\
    ffffffffffffffffffffffff00000000\
    00000003000000030000000a2f676f6c64656e2f6332";
const KAZOO_SET_DATA_REPLY: &str = "\
    00000006000000000000000e00000000\
    000000000000000c000000000000000e000001a201227af6000001a201227d5e\
    0000000100000000000000000000000000000000000000050000000000000000\
    0000000c";

/// kazoo `set("/golden/c2", b"world")` with the data watch above set: the server sends
/// the NodeDataChanged notification (xid -1, zxid -1) before the setData reply.
#[test]
fn kazoo_set_data_and_notification() {
    assert_eq!(
        request(KAZOO_SET_DATA_REQUEST),
        RequestPacket {
            xid: 6,
            request: Request::SetData(SetDataRequest {
                path: "/golden/c2".into(),
                data: Some(b"world".to_vec()),
                version: -1,
            }),
        }
    );
    assert_eq!(
        notification(KAZOO_NODE_DATA_CHANGED),
        WatcherEvent {
            event_type: EventType::NodeDataChanged,
            state: keeper_state::SYNC_CONNECTED,
            path: "/golden/c2".into(),
        }
    );
    let reply = reply(OpCode::SetData, KAZOO_SET_DATA_REPLY);
    assert_eq!(reply.header, header(6, 0xe, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Stat(C2_SET));
}

const KAZOO_EXISTS_REQUEST: &str = "\
    0000000700000003\
    0000000a2f676f6c64656e2f633200";
const KAZOO_EXISTS_REPLY: &str = "\
    00000007000000000000000e00000000\
    000000000000000c000000000000000e000001a201227af6000001a201227d5e\
    0000000100000000000000000000000000000000000000050000000000000000\
    0000000c";
const KAZOO_EXISTS_MISSING_REQUEST: &str = "\
    0000000800000003\
    0000000f2f676f6c64656e2f6d697373696e6700";
const KAZOO_EXISTS_NO_NODE_REPLY: &str = "00000008000000000000000effffff9b";

/// kazoo `exists("/golden/c2")` (a stat) and `exists("/golden/missing")` (NoNode: a bare
/// 16-byte header, no body).
#[test]
fn kazoo_exists() {
    assert_eq!(
        request(KAZOO_EXISTS_REQUEST),
        RequestPacket {
            xid: 7,
            request: Request::Exists(path_watch("/golden/c2", false)),
        }
    );
    let found = reply(OpCode::Exists, KAZOO_EXISTS_REPLY);
    assert_eq!(found.header, header(7, 0xe, ErrorCode::Ok));
    assert_eq!(found.response, Response::Stat(C2_SET));

    assert_eq!(
        request(KAZOO_EXISTS_MISSING_REQUEST),
        RequestPacket {
            xid: 8,
            request: Request::Exists(path_watch("/golden/missing", false)),
        }
    );
    assert_eq!(bytes(KAZOO_EXISTS_NO_NODE_REPLY).len(), 16);
    let missing = reply(OpCode::Exists, KAZOO_EXISTS_NO_NODE_REPLY);
    assert_eq!(missing.header, header(8, 0xe, ErrorCode::NoNode));
    assert_eq!(missing.response, Response::Empty);
}

const KAZOO_GET_CHILDREN2_REQUEST: &str = "\
    000000090000000c\
    000000072f676f6c64656e00";
const KAZOO_GET_CHILDREN2_REPLY: &str = "\
    00000009000000000000000e00000000\
    00000003000000067365637265740000000e7365712d30303030303030303030\
    000000026332000000000000000a000000000000000a000001a20122795c0000\
    01a20122795c0000000000000003000000000000000000000000000000040000\
    0003000000000000000d";

/// kazoo `get_children("/golden", include_data=True)`: opcode getChildren2 (12); the
/// children in the server's order and the parent's stat.
#[test]
fn kazoo_get_children2() {
    assert_eq!(
        request(KAZOO_GET_CHILDREN2_REQUEST),
        RequestPacket {
            xid: 9,
            request: Request::GetChildren2(path_watch("/golden", false)),
        }
    );
    let reply = reply(OpCode::GetChildren2, KAZOO_GET_CHILDREN2_REPLY);
    assert_eq!(reply.header, header(9, 0xe, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Children2 {
            children: strings(&["secret", "seq-0000000000", "c2"]),
            stat: Stat {
                czxid: 0xa,
                mzxid: 0xa,
                ctime: 1_795_315_366_236,
                mtime: 1_795_315_366_236,
                version: 0,
                cversion: 3,
                aversion: 0,
                ephemeral_owner: 0,
                data_length: 4,
                num_children: 3,
                pzxid: 0xd,
            },
        }
    );
}

const KAZOO_GET_CHILDREN_WATCH_REQUEST: &str = "\
    0000001200000008\
    000000072f676f6c64656e01";
const KAZOO_GET_CHILDREN_REPLY: &str = "\
    00000012000000000000001200000000\
    0000000200000006736563726574000000026332";

/// kazoo `get_children("/golden", watch=callback)`: opcode getChildren (8), names only.
#[test]
fn kazoo_get_children_with_watch() {
    assert_eq!(
        request(KAZOO_GET_CHILDREN_WATCH_REQUEST),
        RequestPacket {
            xid: 18,
            request: Request::GetChildren(path_watch("/golden", true)),
        }
    );
    let reply = reply(OpCode::GetChildren, KAZOO_GET_CHILDREN_REPLY);
    assert_eq!(reply.header, header(18, 0x12, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Children(strings(&["secret", "c2"]))
    );
}

const KAZOO_GET_ACL_REQUEST: &str = "\
    0000000a00000006\
    0000000e2f676f6c64656e2f736563726574";
const KAZOO_GET_ACL_REPLY: &str = "\
    0000000a000000000000000e00000000\
    000000010000001f0000000664696765737400000023676f6c64656e3a785749\
    4179702b6969706d527a2b77494d6c2f4d337277575144343d00000000000000\
    0d000000000000000d000001a201227bc4000001a201227bc400000000000000\
    000000000000000000000000000000000100000000000000000000000d";

/// kazoo `get_acls("/golden/secret")`: the digest ACL and the node's stat.
#[test]
fn kazoo_get_acl() {
    assert_eq!(
        request(KAZOO_GET_ACL_REQUEST),
        RequestPacket {
            xid: 10,
            request: Request::GetAcl(PathRequest {
                path: "/golden/secret".into(),
            }),
        }
    );
    let reply = reply(OpCode::GetAcl, KAZOO_GET_ACL_REPLY);
    assert_eq!(reply.header, header(10, 0xe, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::GetAcl {
            acl: golden_digest_acl(),
            stat: Stat {
                czxid: 0xd,
                mzxid: 0xd,
                ctime: 1_795_315_366_852,
                mtime: 1_795_315_366_852,
                version: 0,
                cversion: 0,
                aversion: 0,
                ephemeral_owner: 0,
                data_length: 1,
                num_children: 0,
                pzxid: 0xd,
            },
        }
    );
}

// ---------------------------------------------------------------------------------------
// kazoo: multi.

const KAZOO_MULTI_REQUEST: &str = "\
    0000000b0000000e\
    0000000100ffffffff0000000a2f676f6c64656e2f7431000000017400000001\
    0000001f00000005776f726c6400000006616e796f6e65000000000000000500\
    ffffffff0000000a2f676f6c64656e2f6332000000056d756c74690000000100\
    00000d00ffffffff0000000a2f676f6c64656e2f6332000000020000000200ff\
    ffffff000000162f676f6c64656e2f7365712d30303030303030303030ffffff\
    ffffffffff01ffffffff";
const KAZOO_MULTI_REPLY: &str = "\
    0000000b000000000000000f00000000\
    0000000100000000000000000a2f676f6c64656e2f7431000000050000000000\
    000000000000000c000000000000000f000001a201227af6000001a20122835b\
    0000000200000000000000000000000000000000000000050000000000000000\
    0000000c0000000d0000000000000000020000000000ffffffff01ffffffff";

/// kazoo `transaction()` with create `/golden/t1`, set_data `/golden/c2` version 1, check
/// `/golden/c2` version 2 and delete `/golden/seq-0000000000`, committed: every op header
/// is (type, false, -1), the terminator (-1, true, -1); each result header carries err 0.
#[test]
fn kazoo_multi() {
    assert_eq!(
        request(KAZOO_MULTI_REQUEST),
        RequestPacket {
            xid: 11,
            request: Request::Multi(vec![
                Request::Create(create(
                    "/golden/t1",
                    Some(b"t"),
                    Acl::open_unsafe(),
                    CreateMode::Persistent
                )),
                Request::SetData(SetDataRequest {
                    path: "/golden/c2".into(),
                    data: Some(b"multi".to_vec()),
                    version: 1,
                }),
                Request::Check(CheckVersionRequest {
                    path: "/golden/c2".into(),
                    version: 2,
                }),
                Request::Delete(DeleteRequest {
                    path: "/golden/seq-0000000000".into(),
                    version: -1,
                }),
            ]),
        }
    );
    let reply = reply(OpCode::Multi, KAZOO_MULTI_REPLY);
    assert_eq!(reply.header, header(11, 0xf, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Multi(vec![
            MultiResult::Create("/golden/t1".into()),
            MultiResult::SetData(C2_SET_BY_MULTI),
            MultiResult::Check,
            MultiResult::Delete,
        ])
    );
}

const KAZOO_MULTI_FAILING_REQUEST: &str = "\
    0000000c0000000e\
    0000000100ffffffff0000000a2f676f6c64656e2f7432000000017500000001\
    0000001f00000005776f726c6400000006616e796f6e65000000000000000d00\
    ffffffff0000000a2f676f6c64656e2f6332000000630000000200ffffffff00\
    00000a2f676f6c64656e2f7431ffffffffffffffff01ffffffff";
const KAZOO_MULTI_FAILED_REPLY: &str = "\
    0000000c000000000000001000000000\
    ffffffff000000000000000000ffffffff00ffffff99ffffff99ffffffff00ff\
    fffffefffffffeffffffff01ffffffff";

/// kazoo `transaction()` with create `/golden/t2`, check `/golden/c2` version 99 (it is
/// 2) and delete `/golden/t1`, committed. The reply header is Ok and the failed multi still
/// took a zxid; every result is an error result: Ok for the op before the failure (rolled
/// back), BadVersion for the check, RuntimeInconsistency for the op after it.
#[test]
fn kazoo_failed_multi() {
    assert_eq!(
        request(KAZOO_MULTI_FAILING_REQUEST),
        RequestPacket {
            xid: 12,
            request: Request::Multi(vec![
                Request::Create(create(
                    "/golden/t2",
                    Some(b"u"),
                    Acl::open_unsafe(),
                    CreateMode::Persistent
                )),
                Request::Check(CheckVersionRequest {
                    path: "/golden/c2".into(),
                    version: 99,
                }),
                Request::Delete(DeleteRequest {
                    path: "/golden/t1".into(),
                    version: -1,
                }),
            ]),
        }
    );
    let reply = reply(OpCode::Multi, KAZOO_MULTI_FAILED_REPLY);
    assert_eq!(reply.header, header(12, 0x10, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Multi(vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::BadVersion),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// kazoo: delete, ping, sync, close.

const KAZOO_DELETE_REQUEST: &str = "\
    0000000d00000002\
    0000000a2f676f6c64656e2f743100000000";
const KAZOO_DELETE_REPLY: &str = "0000000d000000000000001100000000";
const KAZOO_DELETE_BAD_VERSION_REQUEST: &str = "\
    0000000e00000002\
    0000000a2f676f6c64656e2f63320000002a";
const KAZOO_DELETE_BAD_VERSION_REPLY: &str = "0000000e0000000000000012ffffff99";

/// kazoo `delete("/golden/t1", version=0)` (Ok, empty body) and `delete("/golden/c2",
/// version=42)` (BadVersion; the failed write still reports the current zxid).
#[test]
fn kazoo_delete_with_version() {
    assert_eq!(
        request(KAZOO_DELETE_REQUEST),
        RequestPacket {
            xid: 13,
            request: Request::Delete(DeleteRequest {
                path: "/golden/t1".into(),
                version: 0,
            }),
        }
    );
    let ok = reply(OpCode::Delete, KAZOO_DELETE_REPLY);
    assert_eq!(ok.header, header(13, 0x11, ErrorCode::Ok));
    assert_eq!(ok.response, Response::Empty);

    assert_eq!(
        request(KAZOO_DELETE_BAD_VERSION_REQUEST),
        RequestPacket {
            xid: 14,
            request: Request::Delete(DeleteRequest {
                path: "/golden/c2".into(),
                version: 42,
            }),
        }
    );
    let bad = reply(OpCode::Delete, KAZOO_DELETE_BAD_VERSION_REPLY);
    assert_eq!(bad.header, header(14, 0x12, ErrorCode::BadVersion));
    assert_eq!(bad.response, Response::Empty);
}

const KAZOO_PING_REQUEST: &str = "fffffffe0000000b";
const KAZOO_PING_REPLY: &str = "fffffffe000000000000001200000000";

/// kazoo's keep-alive ping while idle: a bare header with xid -2, opcode 11.
#[test]
fn kazoo_ping() {
    assert_eq!(
        request(KAZOO_PING_REQUEST),
        RequestPacket {
            xid: xid::PING,
            request: Request::Ping,
        }
    );
    let reply = reply(OpCode::Ping, KAZOO_PING_REPLY);
    assert_eq!(reply.header, header(xid::PING, 0x12, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Empty);
}

const KAZOO_SYNC_REQUEST: &str = "\
    0000000200000009\
    000000072f676f6c64656e";
const KAZOO_SYNC_REPLY: &str = "\
    00000002000000000000001200000000\
    000000072f676f6c64656e";

/// kazoo `sync("/golden")`: the reply echoes the path.
#[test]
fn kazoo_sync() {
    assert_eq!(
        request(KAZOO_SYNC_REQUEST),
        RequestPacket {
            xid: 2,
            request: Request::Sync(PathRequest {
                path: "/golden".into(),
            }),
        }
    );
    let reply = reply(OpCode::Sync, KAZOO_SYNC_REPLY);
    assert_eq!(reply.header, header(2, 0x12, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Sync("/golden".into()));
}

const KAZOO_CLOSE_SESSION_REQUEST: &str = "00000009fffffff5";
const KAZOO_CLOSE_SESSION_REPLY: &str = "00000009000000000000001600000000";

/// kazoo `stop()`: closeSession (-11) with an ordinary xid; the reply takes a zxid.
#[test]
fn kazoo_close_session() {
    assert_eq!(
        request(KAZOO_CLOSE_SESSION_REQUEST),
        RequestPacket {
            xid: 9,
            request: Request::CloseSession,
        }
    );
    let reply = reply(OpCode::CloseSession, KAZOO_CLOSE_SESSION_REPLY);
    assert_eq!(reply.header, header(9, 0x16, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Empty);
}

// ---------------------------------------------------------------------------------------
// Java client: extended creates.

const JAVA_CREATE_CONTAINER_REQUEST: &str = "\
    0000000200000013\
    000000072f676a2f626f780000000163000000010000001f00000005776f726c\
    6400000006616e796f6e6500000004";
const JAVA_CREATE_CONTAINER_REPLY: &str = "\
    00000002000000000000001900000000\
    000000072f676a2f626f7800000000000000190000000000000019000001a201\
    2366db000001a2012366db000000000000000000000000000000000000000000\
    000001000000000000000000000019";

/// Java `create("/gj/box", "c", OPEN_ACL_UNSAFE, CreateMode.CONTAINER, stat)`: opcode
/// createContainer (19), flags 4; the reply is a create2 reply, ephemeralOwner 0.
#[test]
fn java_create_container() {
    assert_eq!(
        request(JAVA_CREATE_CONTAINER_REQUEST),
        RequestPacket {
            xid: 2,
            request: Request::CreateContainer(create(
                "/gj/box",
                Some(b"c"),
                Acl::open_unsafe(),
                CreateMode::Container
            )),
        }
    );
    let reply = reply(OpCode::CreateContainer, JAVA_CREATE_CONTAINER_REPLY);
    assert_eq!(reply.header, header(2, 0x19, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Create2(
            "/gj/box".into(),
            Stat {
                czxid: 0x19,
                mzxid: 0x19,
                ctime: 1_795_315_427_035,
                mtime: 1_795_315_427_035,
                pzxid: 0x19,
                ..TTL_CREATED
            }
        )
    );
}

const JAVA_CREATE_NULL_DATA_REQUEST: &str = "\
    0000000300000001\
    0000000c2f676a2f626f782f6974656dffffffff000000010000001f00000005\
    776f726c6400000006616e796f6e6500000000";

/// Java `create("/gj/box/item", null, OPEN_ACL_UNSAFE, PERSISTENT)`: null data is length
/// -1, distinct from empty.
#[test]
fn java_create_null_data() {
    assert_eq!(
        request(JAVA_CREATE_NULL_DATA_REQUEST),
        RequestPacket {
            xid: 3,
            request: Request::Create(create(
                "/gj/box/item",
                None::<&[u8]>,
                Acl::open_unsafe(),
                CreateMode::Persistent
            )),
        }
    );
}

const JAVA_CREATE_TTL_REQUEST: &str = "\
    0000000400000015\
    000000072f676a2f74746c0000000174000000010000001f00000005776f726c\
    6400000006616e796f6e6500000005000000000000ea60";
const JAVA_CREATE_TTL_REPLY: &str = "\
    00000004000000000000001b00000000\
    000000072f676a2f74746c000000000000001b000000000000001b000001a201\
    2367b2000001a2012367b2000000000000000000000000000000000000000000\
    00000100000000000000000000001b";

/// Java `create("/gj/ttl", "t", OPEN_ACL_UNSAFE, PERSISTENT_WITH_TTL, stat, 60000)`:
/// opcode createTTL (21), flags 5, the TTL as a trailing long.
#[test]
fn java_create_ttl() {
    assert_eq!(
        request(JAVA_CREATE_TTL_REQUEST),
        RequestPacket {
            xid: 4,
            request: Request::CreateTtl(CreateRequest {
                ttl: 60_000,
                ..create(
                    "/gj/ttl",
                    Some(b"t"),
                    Acl::open_unsafe(),
                    CreateMode::PersistentWithTtl,
                )
            }),
        }
    );
    let reply = reply(OpCode::CreateTtl, JAVA_CREATE_TTL_REPLY);
    assert_eq!(reply.header, header(4, 0x1b, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Create2("/gj/ttl".into(), TTL_CREATED)
    );
}

const JAVA_CREATE_EPHEMERAL_CREATOR_ACL_REQUEST: &str = "\
    0000000500000001\
    000000072f676a2f65706800000000000000010000001f000000046175746800\
    00000000000001";

/// Java `create("/gj/eph", new byte[0], CREATOR_ALL_ACL, EPHEMERAL)`: empty (not null)
/// data and the `auth:` ACL with an empty id.
#[test]
fn java_create_ephemeral_creator_acl() {
    assert_eq!(
        request(JAVA_CREATE_EPHEMERAL_CREATOR_ACL_REQUEST),
        RequestPacket {
            xid: 5,
            request: Request::Create(create(
                "/gj/eph",
                Some(b""),
                Acl::creator_all(),
                CreateMode::Ephemeral
            )),
        }
    );
}

// ---------------------------------------------------------------------------------------
// Java client: newer reads.

const JAVA_GET_ALL_CHILDREN_NUMBER_REQUEST: &str = "\
    0000000600000068\
    000000032f676a";
const JAVA_GET_ALL_CHILDREN_NUMBER_REPLY: &str = "\
    00000006000000000000001c00000000\
    00000004";

/// Java `getAllChildrenNumber("/gj")`: opcode 104; four descendants.
#[test]
fn java_get_all_children_number() {
    assert_eq!(
        request(JAVA_GET_ALL_CHILDREN_NUMBER_REQUEST),
        RequestPacket {
            xid: 6,
            request: Request::GetAllChildrenNumber(PathRequest { path: "/gj".into() }),
        }
    );
    let reply = reply(
        OpCode::GetAllChildrenNumber,
        JAVA_GET_ALL_CHILDREN_NUMBER_REPLY,
    );
    assert_eq!(reply.header, header(6, 0x1c, ErrorCode::Ok));
    assert_eq!(reply.response, Response::AllChildrenNumber(4));
}

const JAVA_GET_EPHEMERALS_REQUEST: &str = "\
    0000000700000067\
    000000032f676a";
const JAVA_GET_EPHEMERALS_REPLY: &str = "\
    00000007000000000000001c00000000\
    00000001000000072f676a2f657068";

/// Java `getEphemerals("/gj")`: opcode 103; full paths back.
#[test]
fn java_get_ephemerals() {
    assert_eq!(
        request(JAVA_GET_EPHEMERALS_REQUEST),
        RequestPacket {
            xid: 7,
            request: Request::GetEphemerals(PathRequest { path: "/gj".into() }),
        }
    );
    let reply = reply(OpCode::GetEphemerals, JAVA_GET_EPHEMERALS_REPLY);
    assert_eq!(reply.header, header(7, 0x1c, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Ephemerals(strings(&["/gj/eph"])));
}

const JAVA_WHO_AM_I_REQUEST: &str = "000000080000006b";
const JAVA_WHO_AM_I_REPLY: &str = "\
    00000008000000000000001c00000000\
    000000020000000664696765737400000006676f6c64656e0000000269700000\
    00093132372e302e302e31";

/// Java `whoAmI()` after `addAuthInfo("digest", "golden:secret")`: opcode 107, no body;
/// the reply lists the digest identity and the ip one.
#[test]
fn java_who_am_i() {
    assert_eq!(
        request(JAVA_WHO_AM_I_REQUEST),
        RequestPacket {
            xid: 8,
            request: Request::WhoAmI,
        }
    );
    let reply = reply(OpCode::WhoAmI, JAVA_WHO_AM_I_REPLY);
    assert_eq!(reply.header, header(8, 0x1c, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::WhoAmI(vec![
            ClientInfo {
                auth_scheme: "digest".into(),
                user: "golden".into(),
            },
            ClientInfo {
                auth_scheme: "ip".into(),
                user: "127.0.0.1".into(),
            },
        ])
    );
}

const JAVA_MULTI_READ_REQUEST: &str = "\
    0000000900000016\
    0000000400ffffffff000000072f676a2f74746c000000000800ffffffff0000\
    00072f676a2f626f7800ffffffff01ffffffff";
const JAVA_MULTI_READ_REPLY: &str = "\
    00000009000000000000001c00000000\
    0000000400000000000000000174000000000000001b000000000000001b0000\
    01a2012367b2000001a2012367b2000000000000000000000000000000000000\
    00000000000100000000000000000000001b0000000800000000000000000100\
    0000046974656dffffffff01ffffffff";

/// Java `multi([Op.getData("/gj/ttl"), Op.getChildren("/gj/box")])`: opcode multiRead
/// (22); the results come back under opcodes getData and getChildren.
#[test]
fn java_multi_read() {
    assert_eq!(
        request(JAVA_MULTI_READ_REQUEST),
        RequestPacket {
            xid: 9,
            request: Request::MultiRead(vec![
                Request::GetData(path_watch("/gj/ttl", false)),
                Request::GetChildren(path_watch("/gj/box", false)),
            ]),
        }
    );
    let reply = reply(OpCode::MultiRead, JAVA_MULTI_READ_REPLY);
    assert_eq!(reply.header, header(9, 0x1c, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Multi(vec![
            MultiResult::GetData {
                data: Some(b"t".to_vec()),
                stat: TTL_CREATED,
            },
            MultiResult::GetChildren(strings(&["item"])),
        ])
    );
}

// ---------------------------------------------------------------------------------------
// Java client: watches.

const JAVA_SET_WATCHES_REQUEST: &str = "\
    0000000d00000065\
    000000000000001c00000001000000072f676a2f74746c000000010000000b2f\
    676a2f6d697373696e6700000001000000032f676a";
const JAVA_SET_WATCHES_REPLY: &str = "0000000d000000000000001c00000000";

/// The Java client's SetWatches after the proxy cut its connection, holding a data watch
/// (`getData("/gj/ttl", true)`), an exist watch (`exists("/gj/missing", true)`) and a child
/// watch (`getChildren("/gj", true)`). The 3.8 client sends it with its next ordinary xid
/// (13), not -8, and the server echoes that xid.
#[test]
fn java_set_watches_after_reconnect() {
    assert_eq!(
        request(JAVA_SET_WATCHES_REQUEST),
        RequestPacket {
            xid: 13,
            request: Request::SetWatches(SetWatches {
                relative_zxid: 0x1c,
                data_watches: strings(&["/gj/ttl"]),
                exist_watches: strings(&["/gj/missing"]),
                child_watches: strings(&["/gj"]),
                persistent_watches: Vec::new(),
                persistent_recursive_watches: Vec::new(),
            }),
        }
    );
    let reply = reply(OpCode::SetWatches, JAVA_SET_WATCHES_REPLY);
    assert_eq!(reply.header, header(13, 0x1c, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Empty);
}

const JAVA_ADD_WATCH_RECURSIVE_REQUEST: &str = "\
    0000000e0000006a\
    000000072f676a2f626f7800000001";
const JAVA_ADD_WATCH_REPLY: &str = "\
    0000000e000000000000001c00000000\
    00000000";
const JAVA_ADD_WATCH_PERSISTENT_REQUEST: &str = "\
    0000000f0000006a\
    000000072f676a2f74746c00000000";

/// Java `addWatch("/gj/box", PERSISTENT_RECURSIVE)` and `addWatch("/gj/ttl",
/// PERSISTENT)`: opcode 106. ZooKeeper's reply carries a 4-byte `ErrorResponse` body
/// holding 0 (which the Java client reads), so it is 20 bytes, not a bare header.
#[test]
fn java_add_watch() {
    assert_eq!(
        request(JAVA_ADD_WATCH_RECURSIVE_REQUEST),
        RequestPacket {
            xid: 14,
            request: Request::AddWatch(AddWatchRequest {
                path: "/gj/box".into(),
                mode: AddWatchMode::PersistentRecursive,
            }),
        }
    );
    assert_eq!(bytes(JAVA_ADD_WATCH_REPLY).len(), 20);
    let reply = reply(OpCode::AddWatch, JAVA_ADD_WATCH_REPLY);
    assert_eq!(reply.header, header(14, 0x1c, ErrorCode::Ok));
    assert_eq!(reply.response, Response::AddWatch);

    assert_eq!(
        request(JAVA_ADD_WATCH_PERSISTENT_REQUEST),
        RequestPacket {
            xid: 15,
            request: Request::AddWatch(AddWatchRequest {
                path: "/gj/ttl".into(),
                mode: AddWatchMode::Persistent,
            }),
        }
    );
}

const JAVA_RECURSIVE_WATCH_NOTIFICATION: &str = "\
    ffffffffffffffffffffffff00000000\
    00000003000000030000000c2f676a2f626f782f6974656d";

/// Java `setData("/gj/box/item", "changed", -1)` under the persistent-recursive watch on
/// `/gj/box`: an ordinary NodeDataChanged for the descendant's path.
#[test]
fn java_recursive_watch_notification() {
    assert_eq!(
        notification(JAVA_RECURSIVE_WATCH_NOTIFICATION),
        WatcherEvent {
            event_type: EventType::NodeDataChanged,
            state: keeper_state::SYNC_CONNECTED,
            path: "/gj/box/item".into(),
        }
    );
}

const JAVA_SET_WATCHES2_REQUEST: &str = "\
    0000001100000069\
    000000000000001d00000001000000072f676a2f74746c000000010000000b2f\
    676a2f6d697373696e6700000001000000032f676a00000001000000072f676a\
    2f74746c00000001000000072f676a2f626f78";
const JAVA_SET_WATCHES2_REPLY: &str = "00000011000000000000001d00000000";

/// The Java client's second reconnect (proxy cut again), now also holding the persistent
/// watch on `/gj/ttl` and the persistent-recursive one on `/gj/box`: it switches to
/// SetWatches2 (105), again with an ordinary xid.
#[test]
fn java_set_watches2_after_reconnect() {
    assert_eq!(
        request(JAVA_SET_WATCHES2_REQUEST),
        RequestPacket {
            xid: 17,
            request: Request::SetWatches2(SetWatches {
                relative_zxid: 0x1d,
                data_watches: strings(&["/gj/ttl"]),
                exist_watches: strings(&["/gj/missing"]),
                child_watches: strings(&["/gj"]),
                persistent_watches: strings(&["/gj/ttl"]),
                persistent_recursive_watches: strings(&["/gj/box"]),
            }),
        }
    );
    let reply = reply(OpCode::SetWatches2, JAVA_SET_WATCHES2_REPLY);
    assert_eq!(reply.header, header(17, 0x1d, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Empty);
}

const JAVA_REMOVE_WATCHES_REQUEST: &str = "\
    0000001200000012\
    000000072f676a2f74746c00000003";
const JAVA_REMOVE_WATCHES_REPLY: &str = "00000012000000000000001d00000000";

/// Java `removeAllWatches("/gj/ttl", WatcherType.Any, false)`: opcode 18, type 3; a bare
/// header back.
#[test]
fn java_remove_watches() {
    assert_eq!(
        request(JAVA_REMOVE_WATCHES_REQUEST),
        RequestPacket {
            xid: 18,
            request: Request::RemoveWatches(WatchesRequest {
                path: "/gj/ttl".into(),
                watcher_type: WatcherType::Any as i32,
            }),
        }
    );
    let reply = reply(OpCode::RemoveWatches, JAVA_REMOVE_WATCHES_REPLY);
    assert_eq!(reply.header, header(18, 0x1d, ErrorCode::Ok));
    assert_eq!(reply.response, Response::Empty);
}

const JAVA_NODE_CHILDREN_CHANGED: &str = "\
    ffffffffffffffffffffffff00000000\
    0000000400000003000000032f676a";
const JAVA_NODE_DELETED: &str = "\
    ffffffffffffffffffffffff00000000\
    00000002000000030000000c2f676a2f626f782f6974656d";

/// Notifications to the Java client during cleanup: `delete("/gj/eph", -1)` fires the
/// child watch on `/gj`; `delete("/gj/box/item", -1)` fires the recursive watch.
#[test]
fn java_child_and_delete_notifications() {
    assert_eq!(
        notification(JAVA_NODE_CHILDREN_CHANGED),
        WatcherEvent {
            event_type: EventType::NodeChildrenChanged,
            state: keeper_state::SYNC_CONNECTED,
            path: "/gj".into(),
        }
    );
    assert_eq!(
        notification(JAVA_NODE_DELETED),
        WatcherEvent {
            event_type: EventType::NodeDeleted,
            state: keeper_state::SYNC_CONNECTED,
            path: "/gj/box/item".into(),
        }
    );
}

// ---------------------------------------------------------------------------------------
// Java client: setACL.

const JAVA_SET_ACL_REQUEST: &str = "\
    0000001300000007\
    000000072f676a2f74746c000000010000000100000005776f726c6400000006\
    616e796f6e65ffffffff";
const JAVA_SET_ACL_REPLY: &str = "\
    00000013000000000000001e00000000\
    000000000000001b000000000000001b000001a2012367b2000001a2012367b2\
    0000000000000000000000010000000000000000000000010000000000000000\
    0000001b";

/// Java `setACL("/gj/ttl", READ_ACL_UNSAFE, -1)`: the reply stat shows aversion 1.
#[test]
fn java_set_acl() {
    assert_eq!(
        request(JAVA_SET_ACL_REQUEST),
        RequestPacket {
            xid: 19,
            request: Request::SetAcl(SetAclRequest {
                path: "/gj/ttl".into(),
                acl: Acl::read_unsafe(),
                version: -1,
            }),
        }
    );
    let reply = reply(OpCode::SetAcl, JAVA_SET_ACL_REPLY);
    assert_eq!(reply.header, header(19, 0x1e, ErrorCode::Ok));
    assert_eq!(
        reply.response,
        Response::Stat(Stat {
            aversion: 1,
            ..TTL_CREATED
        })
    );
}
