//! Codec benchmarks: decode and encode per record type, so a regression in any one of
//! them shows up on its own.
//!
//! Run: `cargo bench -p paddock-jute --bench codec`

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use bytes::BytesMut;
use criterion::{Criterion, criterion_group, criterion_main};
use paddock_jute::*;

fn sample_requests() -> Vec<(&'static str, RequestPacket)> {
    let create = CreateRequest {
        path: "/bench/node-0000000001".into(),
        data: Some(vec![7; 100]),
        acl: Acl::open_unsafe(),
        flags: 2,
        ttl: 0,
    };
    vec![
        (
            "create",
            RequestPacket {
                xid: 1,
                request: Request::Create2(create.clone()),
            },
        ),
        (
            "get_data",
            RequestPacket {
                xid: 2,
                request: Request::GetData(PathWatchRequest {
                    path: "/bench/node".into(),
                    watch: true,
                }),
            },
        ),
        (
            "set_data",
            RequestPacket {
                xid: 3,
                request: Request::SetData(SetDataRequest {
                    path: "/bench/node".into(),
                    data: Some(vec![1; 100]),
                    version: -1,
                }),
            },
        ),
        (
            "multi",
            RequestPacket {
                xid: 4,
                request: Request::Multi(vec![
                    Request::Create(create.clone()),
                    Request::Delete(DeleteRequest {
                        path: "/x".into(),
                        version: -1,
                    }),
                ]),
            },
        ),
        (
            "ping",
            RequestPacket {
                xid: -2,
                request: Request::Ping,
            },
        ),
    ]
}

fn sample_replies() -> Vec<(&'static str, OpCode, Response)> {
    let stat = Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 100,
        num_children: 0,
        pzxid: 9,
    };
    vec![
        (
            "get_data",
            OpCode::GetData,
            Response::GetData {
                data: Some(vec![7; 100]),
                stat,
            },
        ),
        (
            "create2",
            OpCode::Create2,
            Response::Create2("/bench/node-0000000001".into(), stat),
        ),
        (
            "children",
            OpCode::GetChildren,
            Response::Children((0..100).map(|i| format!("child-{i:06}")).collect()),
        ),
        ("exists", OpCode::Exists, Response::Stat(stat)),
    ]
}

fn codec(c: &mut Criterion) {
    let mut group = c.benchmark_group("request");
    for (name, packet) in sample_requests() {
        let mut bytes = Vec::new();
        packet.write_to(&mut bytes);
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| black_box(RequestPacket::decode(black_box(&bytes)).unwrap()))
        });
        group.bench_function(format!("encode_{name}"), |b| {
            b.iter(|| {
                let mut out = Vec::with_capacity(256);
                packet.write_to(&mut out);
                black_box(out)
            })
        });
    }
    group.finish();
    let mut group = c.benchmark_group("reply");
    for (name, op, response) in sample_replies() {
        let header = ReplyHeader {
            xid: 1,
            zxid: 99,
            err: 0,
        };
        let bytes = ReplyPacket::encode(header, &response);
        group.bench_function(format!("encode_frame_{name}"), |b| {
            b.iter(|| black_box(ReplyPacket::encode_frame(header, black_box(&response))))
        });
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| black_box(ReplyPacket::decode(op, black_box(&bytes)).unwrap()))
        });
    }
    group.finish();
    c.bench_function("frame/decode_64_frames", |b| {
        let mut wire = BytesMut::new();
        let mut codec = FrameCodec::client(FRAME_LEN_MAX_DEFAULT);
        for _ in 0..64 {
            codec.encode_frame(&[0u8; 120], &mut wire).unwrap();
        }
        b.iter(|| {
            let mut buf = wire.clone();
            let mut n = 0;
            while let Some(frame) = codec.decode_frame(&mut buf).unwrap() {
                black_box(frame);
                n += 1;
            }
            assert_eq!(n, 64);
        })
    });
}

criterion_group!(benches, codec);
criterion_main!(benches);
