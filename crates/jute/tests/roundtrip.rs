//! Every record survives encode → decode unchanged, and hostile bytes never panic.

#![allow(clippy::unwrap_used)]

use bytes::BytesMut;
use paddock_jute::*;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use tokio_util::codec::{Decoder, Encoder};

fn path() -> impl Strategy<Value = String> {
    "(/[a-z0-9_\\-]{0,8}){0,4}"
}

fn data() -> impl Strategy<Value = Option<Vec<u8>>> {
    option::of(vec(any::<u8>(), 0..64))
}

fn id() -> impl Strategy<Value = Id> {
    ("[a-z]{0,6}", "[a-z0-9:.]{0,12}").prop_map(|(scheme, id)| Id { scheme, id })
}

fn acls() -> impl Strategy<Value = Vec<Acl>> {
    vec(
        (0..32i32, id()).prop_map(|(perms, id)| Acl { perms, id }),
        0..4,
    )
}

fn stat() -> impl Strategy<Value = Stat> {
    (
        any::<(i64, i64, i64, i64)>(),
        any::<(i32, i32, i32, i64, i32, i32, i64)>(),
    )
        .prop_map(
            |((czxid, mzxid, ctime, mtime), (version, cversion, aversion, eo, dl, nc, pzxid))| {
                Stat {
                    czxid,
                    mzxid,
                    ctime,
                    mtime,
                    version,
                    cversion,
                    aversion,
                    ephemeral_owner: eo,
                    data_length: dl,
                    num_children: nc,
                    pzxid,
                }
            },
        )
}

fn create(with_ttl: bool) -> impl Strategy<Value = CreateRequest> {
    (path(), data(), acls(), 0..7i32, any::<i64>()).prop_map(
        move |(path, data, acl, flags, ttl)| CreateRequest {
            path,
            data,
            acl,
            flags,
            ttl: if with_ttl { ttl } else { 0 },
        },
    )
}

fn path_watch() -> impl Strategy<Value = PathWatchRequest> {
    (path(), any::<bool>()).prop_map(|(path, watch)| PathWatchRequest { path, watch })
}

fn path_req() -> impl Strategy<Value = PathRequest> {
    path().prop_map(|path| PathRequest { path })
}

fn strings() -> impl Strategy<Value = Vec<String>> {
    vec(path(), 0..4)
}

fn write_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        create(false).prop_map(Request::Create),
        create(false).prop_map(Request::Create2),
        create(false).prop_map(Request::CreateContainer),
        create(true).prop_map(Request::CreateTtl),
        (path(), any::<i32>())
            .prop_map(|(path, version)| Request::Delete(DeleteRequest { path, version })),
        (path(), data(), any::<i32>()).prop_map(|(path, data, version)| Request::SetData(
            SetDataRequest {
                path,
                data,
                version
            }
        )),
        (path(), any::<i32>())
            .prop_map(|(path, version)| Request::Check(CheckVersionRequest { path, version })),
    ]
}

fn read_op() -> impl Strategy<Value = Request> {
    prop_oneof![
        path_watch().prop_map(Request::GetData),
        path_watch().prop_map(Request::GetChildren),
    ]
}

fn set_watches(two: bool) -> impl Strategy<Value = SetWatches> {
    (
        any::<i64>(),
        strings(),
        strings(),
        strings(),
        strings(),
        strings(),
    )
        .prop_map(move |(relative_zxid, d, e, c, p, pr)| SetWatches {
            relative_zxid,
            data_watches: d,
            exist_watches: e,
            child_watches: c,
            persistent_watches: if two { p } else { Vec::new() },
            persistent_recursive_watches: if two { pr } else { Vec::new() },
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        write_op(),
        read_op(),
        path_req()
            .prop_filter("raw path", |p| !p.path.is_empty())
            .prop_map(Request::DeleteContainer),
        path_watch().prop_map(Request::Exists),
        path_watch().prop_map(Request::GetChildren2),
        path_req().prop_map(Request::GetAcl),
        path_req().prop_map(Request::Sync),
        path_req().prop_map(Request::GetEphemerals),
        path_req().prop_map(Request::GetAllChildrenNumber),
        (path(), acls(), any::<i32>())
            .prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest { path, acl, version })),
        vec(write_op(), 0..5).prop_map(Request::Multi),
        vec(read_op(), 0..5).prop_map(Request::MultiRead),
        (
            "[a-z=:;0-9]{0,10}",
            "[a-z]{0,5}",
            "[a-z]{0,5}",
            any::<i64>()
        )
            .prop_map(|(j, l, n, c)| {
                Request::Reconfig(ReconfigRequest {
                    joining_servers: j,
                    leaving_servers: l,
                    new_members: n,
                    cur_config_id: c,
                })
            }),
        (path(), 1..6i32).prop_map(
            |(path, watcher_type)| Request::CheckWatches(WatchesRequest { path, watcher_type })
        ),
        (path(), 1..6i32).prop_map(
            |(path, watcher_type)| Request::RemoveWatches(WatchesRequest { path, watcher_type })
        ),
        (any::<i32>(), "[a-z]{0,6}", vec(any::<u8>(), 0..20)).prop_map(
            |(auth_type, scheme, auth)| {
                Request::Auth(AuthPacket {
                    auth_type,
                    scheme,
                    auth,
                })
            }
        ),
        set_watches(false).prop_map(Request::SetWatches),
        set_watches(true).prop_map(Request::SetWatches2),
        data().prop_map(Request::Sasl),
        (
            path(),
            prop_oneof![
                Just(AddWatchMode::Persistent),
                Just(AddWatchMode::PersistentRecursive)
            ]
        )
            .prop_map(|(path, mode)| Request::AddWatch(AddWatchRequest { path, mode })),
        Just(Request::Ping),
        Just(Request::WhoAmI),
        Just(Request::CloseSession),
    ]
}

fn error_code() -> impl Strategy<Value = ErrorCode> {
    proptest::sample::select(ErrorCode::ALL)
}

fn multi_result() -> impl Strategy<Value = MultiResult> {
    prop_oneof![
        path().prop_map(MultiResult::Create),
        (path(), stat()).prop_map(|(p, s)| MultiResult::Create2(p, s)),
        Just(MultiResult::Delete),
        Just(MultiResult::Check),
        stat().prop_map(MultiResult::SetData),
        strings().prop_map(MultiResult::GetChildren),
        (data(), stat()).prop_map(|(data, stat)| MultiResult::GetData { data, stat }),
        error_code().prop_map(MultiResult::Error),
    ]
}

/// A response together with the opcode whose reply it is.
fn response() -> impl Strategy<Value = (OpCode, Response)> {
    prop_oneof![
        Just((OpCode::Delete, Response::Empty)),
        Just((OpCode::AddWatch, Response::AddWatch)),
        stat().prop_map(|s| (OpCode::Exists, Response::Stat(s))),
        stat().prop_map(|s| (OpCode::SetData, Response::Stat(s))),
        path().prop_map(|p| (OpCode::Create, Response::Create(p))),
        (path(), stat()).prop_map(|(p, s)| (OpCode::Create2, Response::Create2(p, s))),
        (path(), stat()).prop_map(|(p, s)| (OpCode::CreateTtl, Response::Create2(p, s))),
        (data(), stat())
            .prop_map(|(data, stat)| (OpCode::GetData, Response::GetData { data, stat })),
        (acls(), stat()).prop_map(|(acl, stat)| (OpCode::GetAcl, Response::GetAcl { acl, stat })),
        strings().prop_map(|c| (OpCode::GetChildren, Response::Children(c))),
        (strings(), stat()).prop_map(|(children, stat)| (
            OpCode::GetChildren2,
            Response::Children2 { children, stat }
        )),
        path().prop_map(|p| (OpCode::Sync, Response::Sync(p))),
        any::<i32>().prop_map(|n| (OpCode::GetAllChildrenNumber, Response::AllChildrenNumber(n))),
        strings().prop_map(|e| (OpCode::GetEphemerals, Response::Ephemerals(e))),
        vec(multi_result(), 0..5).prop_map(|r| (OpCode::Multi, Response::Multi(r))),
        vec(("[a-z]{0,5}", "[a-z0-9.]{0,9}"), 0..3).prop_map(|infos| (
            OpCode::WhoAmI,
            Response::WhoAmI(
                infos
                    .into_iter()
                    .map(|(auth_scheme, user)| ClientInfo { auth_scheme, user })
                    .collect()
            )
        )),
    ]
}

proptest! {
    #[test]
    fn request_packets_round_trip(xid in any::<i32>(), request in request()) {
        let packet = RequestPacket { xid, request };
        let mut bytes = Vec::new();
        packet.write_to(&mut bytes);
        prop_assert_eq!(RequestPacket::decode(&bytes).unwrap(), packet);
    }

    #[test]
    fn replies_round_trip(xid in any::<i32>(), zxid in any::<i64>(), (op, response) in response()) {
        let header = ReplyHeader { xid, zxid, err: 0 };
        let bytes = ReplyPacket::encode(header, &response);
        let decoded = ReplyPacket::decode(op, &bytes).unwrap();
        prop_assert_eq!(decoded.header, header);
        prop_assert_eq!(decoded.response, response);
        let framed = ReplyPacket::encode_frame(header, &Response::Empty);
        prop_assert_eq!(&framed[4..], &ReplyPacket::encode(header, &Response::Empty)[..]);
    }

    #[test]
    fn error_replies_carry_no_body(xid in any::<i32>(), code in error_code().prop_filter("error", |c| !c.is_ok())) {
        let header = ReplyHeader { xid, zxid: 7, err: code.code() };
        let bytes = ReplyPacket::encode(header, &Response::Stat(Stat::default()));
        prop_assert_eq!(bytes.len(), header::REPLY_HEADER_LEN);
    }

    #[test]
    fn connect_records_round_trip(
        pv in any::<i32>(), zxid in any::<i64>(), timeout in any::<i32>(), sid in any::<i64>(),
        passwd in vec(any::<u8>(), 0..16), ro in option::of(any::<bool>()),
    ) {
        let req = ConnectRequest { protocol_version: pv, last_zxid_seen: zxid, timeout_ms: timeout,
            session_id: sid, passwd: passwd.clone(), read_only: ro };
        prop_assert_eq!(ConnectRequest::from_bytes(&req.to_bytes()).unwrap(), req);
        let resp = ConnectResponse { protocol_version: pv, timeout_ms: timeout, session_id: sid,
            passwd, read_only: ro };
        prop_assert_eq!(ConnectResponse::from_bytes(&resp.to_bytes()).unwrap(), resp);
    }

    #[test]
    fn watcher_events_round_trip(path in path(), state in any::<i32>(),
        event_type in proptest::sample::select(&[EventType::None, EventType::NodeCreated,
            EventType::NodeDeleted, EventType::NodeDataChanged, EventType::NodeChildrenChanged,
            EventType::DataWatchRemoved, EventType::ChildWatchRemoved, EventType::PersistentWatchRemoved][..])) {
        let event = WatcherEvent { event_type, state, path };
        prop_assert_eq!(WatcherEvent::from_bytes(&event.to_bytes()).unwrap(), event);
    }

    #[test]
    fn stats_and_headers_round_trip(stat in stat(), xid in any::<i32>(), op in any::<i32>(), done in any::<bool>()) {
        prop_assert_eq!(Stat::from_bytes(&stat.to_bytes()).unwrap(), stat);
        prop_assert_eq!(stat.to_bytes().len(), STAT_LEN);
        let rh = RequestHeader { xid, op };
        prop_assert_eq!(RequestHeader::from_bytes(&rh.to_bytes()).unwrap(), rh);
        let mh = MultiHeader { op, done, err: xid };
        prop_assert_eq!(MultiHeader::from_bytes(&mh.to_bytes()).unwrap(), mh);
    }

    /// Hostile bytes: decoding any string is total.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        let _ = RequestPacket::decode(&bytes);
        let _ = ConnectRequest::from_bytes(&bytes);
        for op in OpCode::ALL {
            let _ = ReplyPacket::decode(*op, &bytes);
        }
        let mut codec = FrameCodec::new(128);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
    }

    /// Frames split at any point reassemble into the same payloads.
    #[test]
    fn frames_reassemble(payloads in vec(vec(any::<u8>(), 0..40), 1..5), split in 0usize..200) {
        let mut codec = FrameCodec::client(64);
        let mut wire = BytesMut::new();
        for p in &payloads {
            codec.encode(&p[..], &mut wire).unwrap();
        }
        let split = split.min(wire.len());
        let rest = wire.split_off(split);
        let mut got = Vec::new();
        let mut buf = wire;
        while let Some(Frame::Packet(p)) = codec.decode(&mut buf).unwrap() {
            got.push(p.to_vec());
        }
        buf.extend_from_slice(&rest);
        while let Some(Frame::Packet(p)) = codec.decode(&mut buf).unwrap() {
            got.push(p.to_vec());
        }
        prop_assert_eq!(got, payloads);
    }
}

#[test]
fn four_letter_words_are_recognised_only_first() {
    let mut codec = FrameCodec::default();
    let mut buf = BytesMut::from(&b"ruok"[..]);
    assert_eq!(
        codec.decode(&mut buf).unwrap(),
        Some(Frame::FourLetterWord(FourLetterWord::Ruok))
    );
    // Later in the stream the same bytes are a length prefix (0x72756f6b), over the limit.
    let mut buf = BytesMut::from(&b"ruok"[..]);
    assert!(matches!(
        codec.decode(&mut buf),
        Err(FrameError::Decode(DecodeError::FrameTooLong { .. }))
    ));
    for word in FourLetterWord::ALL {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(word.as_str().as_bytes());
        assert_eq!(FourLetterWord::from_bytes(bytes), Some(*word));
        assert_eq!(FourLetterWord::from_name(word.as_str()), Some(*word));
    }
}

#[test]
fn frame_limit_is_jute_maxbuffer() {
    let mut codec = FrameCodec::default();
    let mut ok = BytesMut::new();
    ok.extend_from_slice(&(FRAME_LEN_MAX_DEFAULT as i32).to_be_bytes());
    assert_eq!(codec.decode(&mut ok).unwrap(), None, "waits for the body");
    let mut codec = FrameCodec::default();
    let mut too_long = BytesMut::new();
    too_long.extend_from_slice(&(FRAME_LEN_MAX_DEFAULT as i32 + 1).to_be_bytes());
    assert!(codec.decode(&mut too_long).is_err());
    let mut codec = FrameCodec::default();
    let mut negative = BytesMut::from(&(-5i32).to_be_bytes()[..]);
    assert!(codec.decode(&mut negative).is_err());
    let mut codec = FrameCodec::default();
    let mut huge = BytesMut::from(&i32::MAX.to_be_bytes()[..]);
    assert!(codec.decode(&mut huge).is_err());
}

#[test]
fn connect_request_has_both_forms() {
    let old = ConnectRequest {
        passwd: vec![0; 16],
        ..Default::default()
    };
    assert_eq!(old.to_bytes().len(), 44);
    let new = ConnectRequest {
        read_only: Some(false),
        ..old.clone()
    };
    assert_eq!(new.to_bytes().len(), 45);
    assert_eq!(
        ConnectRequest::from_bytes(&old.to_bytes())
            .unwrap()
            .read_only,
        None
    );
    let resp = ConnectResponse {
        passwd: vec![0; 16],
        read_only: Some(false),
        ..Default::default()
    };
    assert_eq!(resp.to_bytes().len(), 37);
}

#[test]
fn codes_round_trip_through_numbers() {
    for op in OpCode::ALL {
        assert_eq!(OpCode::from_code(op.code()).unwrap(), *op);
    }
    for code in ErrorCode::ALL {
        assert_eq!(ErrorCode::from_code(code.code()), Some(*code));
    }
    assert_eq!(ErrorCode::NoNode.code(), -101);
    assert_eq!(OpCode::AddWatch.code(), 106);
    assert!(OpCode::from_code(12345).is_err());
}

#[test]
fn hostile_lengths_are_rejected_without_allocating() {
    // getChildren reply claiming two billion children in a 20-byte body.
    let mut bytes = Vec::new();
    ReplyHeader {
        xid: 1,
        zxid: 1,
        err: 0,
    }
    .write_to(&mut bytes);
    bytes.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(matches!(
        ReplyPacket::decode(OpCode::GetChildren, &bytes),
        Err(DecodeError::BadLength { .. })
    ));
    // A create whose path length is negative (not -1).
    let mut bytes = Vec::new();
    RequestHeader { xid: 1, op: 1 }.write_to(&mut bytes);
    bytes.extend_from_slice(&(-7i32).to_be_bytes());
    assert!(matches!(
        RequestPacket::decode(&bytes),
        Err(DecodeError::BadLength { .. })
    ));
}

#[test]
fn multi_rejects_mixed_ops() {
    let mixed = Request::Multi(vec![Request::GetData(PathWatchRequest {
        path: "/a".into(),
        watch: false,
    })]);
    let mut bytes = Vec::new();
    RequestPacket {
        xid: 3,
        request: mixed,
    }
    .write_to(&mut bytes);
    assert!(matches!(
        RequestPacket::decode(&bytes),
        Err(DecodeError::BadMulti(_))
    ));
}

#[test]
fn null_and_empty_data_stay_distinct() {
    for data in [None, Some(vec![])] {
        let req = Request::SetData(SetDataRequest {
            path: "/n".into(),
            data: data.clone(),
            version: -1,
        });
        let packet = RequestPacket {
            xid: 1,
            request: req,
        };
        let mut bytes = Vec::new();
        packet.write_to(&mut bytes);
        match RequestPacket::decode(&bytes).unwrap().request {
            Request::SetData(r) => assert_eq!(r.data, data),
            other => panic!("unexpected {other:?}"),
        }
    }
}
