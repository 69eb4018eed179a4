//! One test per ZooKeeper rule the tree implements: every error code path, the Stat
//! rules, sequence numbers, multi results, sessions and reaping.

#![allow(clippy::unwrap_used)]

use paddock_jute::*;
use paddock_tree::acl::digest_id;
use paddock_tree::*;

const S1: i64 = 0x0100_0000_0000_0001;
const S2: i64 = 0x0100_0000_0000_0002;

struct Harness {
    tree: Tree,
    zxid: i64,
    auth: Vec<Id>,
}

impl Harness {
    fn new() -> Self {
        let mut h = Harness {
            tree: Tree::new(TreeConfig {
                extended_types_enabled: true,
            }),
            zxid: 0,
            auth: vec![],
        };
        h.txn(
            S1,
            TxnOp::CreateSession {
                timeout_ms: 4000,
                password: vec![7; 16],
            },
        );
        h.txn(
            S2,
            TxnOp::CreateSession {
                timeout_ms: 4000,
                password: vec![8; 16],
            },
        );
        h
    }

    fn txn(&mut self, session_id: i64, op: TxnOp) -> Applied {
        self.zxid += 1;
        let applied = self.tree.apply(Txn {
            zxid: self.zxid,
            time_ms: 1_000 * self.zxid,
            session_id,
            auth: self.auth.clone(),
            owner: 0,
            op,
        });
        self.tree.check_invariants();
        applied
    }

    fn write(&mut self, request: Request) -> Applied {
        self.txn(S1, TxnOp::Write(request))
    }

    fn create_as(
        &mut self,
        op: fn(CreateRequest) -> Request,
        path: &str,
        flags: i32,
        ttl: i64,
    ) -> Applied {
        self.write(op(CreateRequest {
            path: path.into(),
            data: Some(b"d".to_vec()),
            acl: Acl::open_unsafe(),
            flags,
            ttl,
        }))
    }

    fn create(&mut self, path: &str, flags: i32) -> Applied {
        self.create_as(Request::Create, path, flags, 0)
    }

    fn err(&mut self, request: Request) -> ErrorCode {
        self.write(request).err
    }

    fn read(&self, request: Request) -> Result<Response, ErrorCode> {
        self.tree.read(S1, &request, &self.auth)
    }
}

fn create_path(applied: &Applied) -> String {
    match &applied.response {
        Response::Create(p) | Response::Create2(p, _) => p.clone(),
        other => panic!("not a create reply: {other:?} ({:?})", applied.err),
    }
}

fn delete(path: &str, version: i32) -> Request {
    Request::Delete(DeleteRequest {
        path: path.into(),
        version,
    })
}

fn set_data(path: &str, version: i32) -> Request {
    Request::SetData(SetDataRequest {
        path: path.into(),
        data: Some(b"new".to_vec()),
        version,
    })
}

#[test]
fn fresh_tree_matches_zookeeper() {
    let tree = Tree::default();
    let root = tree.stat("/").unwrap();
    assert_eq!((root.cversion, root.num_children, root.pzxid), (-1, 1, 0));
    assert_eq!(tree.stat("/zookeeper").unwrap().cversion, -2);
    assert_eq!(tree.stat("/zookeeper/config").unwrap().aversion, -1);
    assert!(tree.exists("/zookeeper/quota"));
    assert_eq!(tree.node_count(), 4);
}

#[test]
fn bad_paths_and_flags_are_bad_arguments() {
    let mut h = Harness::new();
    for path in ["", "a", "/a/", "/a//b", "/.", "/a/..", "/a\u{1}"] {
        h.create("/a", 0);
        let err = h.create(path, 0).err;
        assert!(
            matches!(err, ErrorCode::BadArguments | ErrorCode::NoNode),
            "{path:?} gave {err:?}"
        );
    }
    assert_eq!(
        h.create("/x/", 0).err,
        ErrorCode::NoNode,
        "parent /x missing"
    );
    assert_eq!(
        h.create("/a/", 0).err,
        ErrorCode::BadArguments,
        "trailing slash"
    );
    assert_eq!(
        h.create("/b", 9).err,
        ErrorCode::BadArguments,
        "unknown flags"
    );
    assert_eq!(h.err(set_data("/a/", -1)), ErrorCode::BadArguments);
    for special in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
        assert_eq!(
            h.err(delete(special, -1)),
            ErrorCode::BadArguments,
            "{special}"
        );
    }
}

#[test]
fn ttl_rules() {
    let mut h = Harness::new();
    assert_eq!(
        h.create_as(Request::CreateTtl, "/t", 0, -1).err,
        ErrorCode::BadArguments,
        "ZooKeeper crashes here"
    );
    assert_eq!(
        h.create_as(Request::CreateTtl, "/t", 5, 0).err,
        ErrorCode::BadArguments
    );
    assert_eq!(
        h.create_as(Request::CreateTtl, "/t", 5, TTL_MS_MAX + 1).err,
        ErrorCode::BadArguments
    );
    assert_eq!(
        h.create("/t", 5).err,
        ErrorCode::BadArguments,
        "TTL mode needs createTTL"
    );
    let ok = h.create_as(Request::CreateTtl, "/t", 5, 500);
    assert_eq!(ok.err, ErrorCode::Ok);
    assert_eq!(
        h.tree.stat("/t").unwrap().ephemeral_owner,
        0,
        "TTL owner hidden"
    );
    let mut off = Tree::new(TreeConfig::default());
    let a = off.apply(Txn {
        zxid: 1,
        time_ms: 0,
        session_id: S1,
        auth: vec![],
        owner: 0,
        op: TxnOp::CreateSession {
            timeout_ms: 1,
            password: vec![],
        },
    });
    assert_eq!(a.err, ErrorCode::Ok);
    let off_ttl = off.apply(Txn {
        zxid: 2,
        time_ms: 0,
        session_id: S1,
        auth: vec![],
        owner: 0,
        op: TxnOp::Write(Request::CreateTtl(CreateRequest {
            path: "/t".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 5,
            ttl: 10,
        })),
    });
    assert_eq!(
        off_ttl.err,
        ErrorCode::Unimplemented,
        "extended types disabled"
    );
}

#[test]
fn existence_version_and_emptiness() {
    let mut h = Harness::new();
    assert_eq!(h.create("/a/b", 0).err, ErrorCode::NoNode);
    assert_eq!(h.create("/a", 0).err, ErrorCode::Ok);
    assert_eq!(h.create("/a", 0).err, ErrorCode::NodeExists);
    assert_eq!(h.create("/", 0).err, ErrorCode::NodeExists);
    assert_eq!(h.create("/a/b", 0).err, ErrorCode::Ok);
    assert_eq!(h.err(delete("/a", -1)), ErrorCode::NotEmpty);
    assert_eq!(h.err(delete("/nope", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(delete("/a/b", 3)), ErrorCode::BadVersion);
    assert_eq!(h.err(set_data("/a/b", 1)), ErrorCode::BadVersion);
    assert_eq!(h.err(set_data("/a/b", 0)), ErrorCode::Ok);
    assert_eq!(h.err(set_data("/a/b", 1)), ErrorCode::Ok);
    assert_eq!(h.err(set_data("/zz", -1)), ErrorCode::NoNode);
    assert_eq!(h.err(delete("/a/b", 2)), ErrorCode::Ok);
    assert_eq!(h.create("/e", 1).err, ErrorCode::Ok);
    assert_eq!(
        h.create("/e/child", 0).err,
        ErrorCode::NoChildrenForEphemerals
    );
}

#[test]
fn stat_rules() {
    let mut h = Harness::new();
    let created = h.create_as(Request::Create2, "/n", 0, 0);
    let Response::Create2(_, stat) = created.response else {
        panic!()
    };
    let z = created.zxid;
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (z, z, z));
    assert_eq!((stat.ctime, stat.mtime), (1000 * z, 1000 * z));
    assert_eq!(
        (stat.version, stat.cversion, stat.aversion, stat.data_length),
        (0, 0, 0, 1)
    );
    let set = h.write(set_data("/n", -1));
    let Response::Stat(after) = set.response else {
        panic!()
    };
    assert_eq!(
        (after.mzxid, after.version, after.czxid, after.pzxid),
        (set.zxid, 1, z, z)
    );
    assert_eq!(after.mtime, 1000 * set.zxid);
    let child = h.create("/n/c", 0);
    let parent = h.tree.stat("/n").unwrap();
    assert_eq!(
        (parent.cversion, parent.pzxid, parent.num_children),
        (1, child.zxid, 1)
    );
    assert_eq!(parent.mzxid, set.zxid, "child create leaves parent mzxid");
    let del = h.write(delete("/n/c", -1));
    let parent = h.tree.stat("/n").unwrap();
    assert_eq!(
        (parent.cversion, parent.pzxid, parent.num_children),
        (2, del.zxid, 0)
    );
    let acl = h.write(Request::SetAcl(SetAclRequest {
        path: "/n".into(),
        acl: Acl::read_unsafe(),
        version: 0,
    }));
    let Response::Stat(acl_stat) = acl.response else {
        panic!()
    };
    assert_eq!(
        (acl_stat.aversion, acl_stat.mzxid),
        (1, set.zxid),
        "setACL moves only aversion"
    );
    let eph = h.create_as(Request::Create2, "/eph", 1, 0);
    let Response::Create2(_, eph_stat) = eph.response else {
        panic!()
    };
    assert_eq!(eph_stat.ephemeral_owner, S1);
    h.create_as(Request::CreateContainer, "/box", 0, 0);
    assert_eq!(
        h.tree.stat("/box").unwrap().ephemeral_owner,
        0,
        "container owner hidden"
    );
}

#[test]
fn null_and_empty_data_differ() {
    let mut h = Harness::new();
    h.write(Request::Create(CreateRequest {
        path: "/null".into(),
        data: None,
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl: 0,
    }));
    h.write(Request::Create(CreateRequest {
        path: "/empty".into(),
        data: Some(vec![]),
        acl: Acl::open_unsafe(),
        flags: 0,
        ttl: 0,
    }));
    let get = |h: &Harness, p: &str| match h.read(Request::GetData(PathWatchRequest {
        path: p.into(),
        watch: false,
    })) {
        Ok(Response::GetData { data, .. }) => data,
        other => panic!("{other:?}"),
    };
    assert_eq!(get(&h, "/null"), None);
    assert_eq!(get(&h, "/empty"), Some(vec![]));
}

#[test]
fn sequence_numbers_count_creates_not_deletes() {
    let mut h = Harness::new();
    h.create("/q", 0);
    assert_eq!(create_path(&h.create("/q/s-", 2)), "/q/s-0000000000");
    h.create("/q/a", 0);
    h.write(delete("/q/a", -1));
    assert_eq!(create_path(&h.create("/q/s-", 2)), "/q/s-0000000002");
    assert_eq!(
        create_path(&h.create("/q/", 3)),
        "/q/0000000003",
        "sequential with trailing slash"
    );
    assert_eq!(
        h.tree.stat("/q").unwrap().cversion,
        5,
        "visible cversion counts creates and deletes"
    );
}

#[test]
fn acl_checks_and_fixup() {
    let mut h = Harness::new();
    let alice = Id::new("digest", digest_id("alice:secret"));
    h.auth = vec![alice.clone()];
    let created = h.write(Request::Create(CreateRequest {
        path: "/private".into(),
        data: Some(b"x".to_vec()),
        acl: Acl::creator_all(),
        flags: 0,
        ttl: 0,
    }));
    assert_eq!(created.err, ErrorCode::Ok);
    let Ok(Response::GetAcl { acl, .. }) = h.read(Request::GetAcl(PathRequest {
        path: "/private".into(),
    })) else {
        panic!()
    };
    assert_eq!(
        acl,
        vec![Acl {
            perms: perms::ALL,
            id: alice.clone()
        }],
        "auth expanded to creator"
    );
    h.auth = vec![];
    assert_eq!(h.err(set_data("/private", -1)), ErrorCode::NoAuth);
    assert_eq!(h.create("/private/c", 0).err, ErrorCode::NoAuth);
    assert_eq!(
        h.read(Request::GetData(PathWatchRequest {
            path: "/private".into(),
            watch: false
        })),
        Err(ErrorCode::NoAuth)
    );
    assert!(
        h.read(Request::Exists(PathWatchRequest {
            path: "/private".into(),
            watch: false
        }))
        .is_ok(),
        "exists needs no permission"
    );
    assert_eq!(
        h.read(Request::GetAcl(PathRequest {
            path: "/private".into()
        })),
        Err(ErrorCode::NoAuth)
    );
    // ACL before version: a wrong version still reports NoAuth.
    assert_eq!(h.err(set_data("/private", 42)), ErrorCode::NoAuth);
    h.auth = vec![Id::new("super", "")];
    assert_eq!(
        h.err(set_data("/private", -1)),
        ErrorCode::Ok,
        "super passes every check"
    );
    // A reader without ADMIN sees digest hashes hidden.
    h.auth = vec![alice.clone()];
    h.write(Request::SetAcl(SetAclRequest {
        path: "/private".into(),
        acl: vec![
            Acl {
                perms: perms::READ,
                id: Id::anyone(),
            },
            Acl {
                perms: perms::ADMIN,
                id: alice.clone(),
            },
        ],
        version: -1,
    }));
    h.auth = vec![];
    let Ok(Response::GetAcl { acl, .. }) = h.read(Request::GetAcl(PathRequest {
        path: "/private".into(),
    })) else {
        panic!()
    };
    assert_eq!(acl[1].id.id, "alice:x");
    // InvalidACL: empty, auth without identity, unknown scheme.
    for acl in [
        vec![],
        Acl::creator_all(),
        vec![Acl {
            perms: 31,
            id: Id::new("foo", "bar"),
        }],
    ] {
        let applied = h.write(Request::Create(CreateRequest {
            path: "/bad".into(),
            data: None,
            acl,
            flags: 0,
            ttl: 0,
        }));
        assert_eq!(applied.err, ErrorCode::InvalidAcl);
    }
    assert_eq!(
        h.err(Request::SetAcl(SetAclRequest {
            path: "/private".into(),
            acl: vec![],
            version: -1
        })),
        ErrorCode::InvalidAcl
    );
    // Read-only ACL: create under it is NoAuth, delete of its child too.
    h.write(Request::Create(CreateRequest {
        path: "/ro".into(),
        data: None,
        acl: Acl::read_unsafe(),
        flags: 0,
        ttl: 0,
    }));
    assert_eq!(h.create("/ro/x", 0).err, ErrorCode::NoAuth);
    assert_eq!(h.err(set_data("/zookeeper/config", -1)), ErrorCode::NoAuth);
}

#[test]
fn unknown_session_is_expired() {
    let mut h = Harness::new();
    let applied = h.txn(
        0x0300_0000_0000_0009,
        TxnOp::Write(Request::Create(CreateRequest {
            path: "/x".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl: 0,
        })),
    );
    assert_eq!(applied.err, ErrorCode::SessionExpired);
    assert_eq!(
        h.txn(
            S1,
            TxnOp::CreateSession {
                timeout_ms: 1,
                password: vec![]
            }
        )
        .err,
        ErrorCode::SystemError,
        "duplicate id"
    );
}

#[test]
fn multi_is_all_or_nothing() {
    let mut h = Harness::new();
    h.create("/m", 0);
    let before = h.tree.digest();
    let ops = vec![
        Request::Create(CreateRequest {
            path: "/m/a".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl: 0,
        }),
        Request::SetData(SetDataRequest {
            path: "/m".into(),
            data: None,
            version: -1,
        }),
        Request::Check(CheckVersionRequest {
            path: "/m".into(),
            version: 0,
        }),
        Request::Delete(DeleteRequest {
            path: "/m/a".into(),
            version: -1,
        }),
    ];
    let failed = h.write(Request::Multi(ops.clone()));
    assert_eq!(failed.err, ErrorCode::Ok, "failed multi still replies Ok");
    assert_eq!(
        failed.response,
        Response::Multi(vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::BadVersion),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ])
    );
    assert!(failed.triggers.is_empty());
    assert_eq!(h.tree.digest(), before, "nothing applied");
    assert!(!h.tree.exists("/m/a"));
    let ok = h.write(Request::Multi(vec![
        ops[0].clone(),
        ops[3].clone(),
        ops[1].clone(),
    ]));
    let Response::Multi(results) = ok.response else {
        panic!()
    };
    assert!(matches!(results[0], MultiResult::Create(ref p) if p == "/m/a"));
    assert_eq!(results[1], MultiResult::Delete);
    assert!(matches!(results[2], MultiResult::SetData(s) if s.mzxid == ok.zxid));
    assert_eq!(
        h.tree.stat("/m").unwrap().pzxid,
        ok.zxid,
        "one zxid for the whole multi"
    );
}

#[test]
fn closing_a_session_deletes_its_ephemerals() {
    let mut h = Harness::new();
    h.create("/svc", 0);
    h.create("/svc/e1", 1);
    h.create("/svc/e2", 3);
    h.txn(
        S2,
        TxnOp::Write(Request::Create(CreateRequest {
            path: "/svc/other".into(),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 1,
            ttl: 0,
        })),
    );
    assert_eq!(
        h.tree.ephemerals(S1, "/svc/e"),
        vec!["/svc/e1".to_string(), "/svc/e20000000001".to_string()]
    );
    assert_eq!(h.tree.ephemerals(S1, "/"), h.tree.ephemerals(S1, ""));
    let closed = h.txn(S1, TxnOp::CloseSession);
    assert_eq!(closed.session, Some(SessionChange::Closed(S1)));
    assert!(!h.tree.exists("/svc/e1") && !h.tree.exists("/svc/e20000000001"));
    assert!(h.tree.exists("/svc/other"));
    assert_eq!(
        closed
            .triggers
            .iter()
            .filter(|t| t.event == EventType::NodeDeleted)
            .count(),
        2
    );
    assert_eq!(h.tree.stat("/svc").unwrap().pzxid, closed.zxid);
    assert!(h.tree.session(S1).is_none());
    assert_eq!(
        h.txn(S1, TxnOp::Write(set_data("/svc", -1))).err,
        ErrorCode::SessionExpired
    );
}

#[test]
fn reaper_candidates_and_delete_container() {
    let mut h = Harness::new();
    h.create_as(Request::CreateContainer, "/box", 0, 0);
    assert!(
        h.tree.reap_candidates(i64::MAX, 10).is_empty(),
        "never-used container stays"
    );
    let internal = |h: &mut Harness, path: &str| {
        h.txn(
            0,
            TxnOp::Write(Request::DeleteContainer(PathRequest { path: path.into() })),
        )
        .err
    };
    assert_eq!(internal(&mut h, "/box"), ErrorCode::BadVersion);
    h.create("/box/item", 0);
    assert!(h.tree.reap_candidates(i64::MAX, 10).is_empty());
    assert_eq!(internal(&mut h, "/box"), ErrorCode::NotEmpty);
    h.write(delete("/box/item", -1));
    assert_eq!(
        h.tree.reap_candidates(i64::MAX, 10),
        vec!["/box".to_string()]
    );
    assert_eq!(internal(&mut h, "/box"), ErrorCode::Ok);
    assert!(!h.tree.exists("/box"));

    let created = h.create_as(Request::CreateTtl, "/ttl", 5, 500);
    let mtime = 1000 * created.zxid;
    assert!(h.tree.reap_candidates(mtime + 500, 10).is_empty());
    assert_eq!(
        h.tree.reap_candidates(mtime + 501, 10),
        vec!["/ttl".to_string()]
    );
    assert_eq!(
        internal(&mut h, "/ttl"),
        ErrorCode::Ok,
        "entry time is past the TTL"
    );
    h.create("/plain", 0);
    assert_eq!(
        internal(&mut h, "/plain"),
        ErrorCode::BadVersion,
        "plain nodes are never reaped"
    );
    assert_eq!(internal(&mut h, "/gone"), ErrorCode::NoNode);
}

#[test]
fn reads_follow_zookeeper() {
    let mut h = Harness::new();
    h.create("/r", 0);
    h.create("/r/b", 0);
    h.create("/r/a", 0);
    h.create("/r/a/deep", 0);
    assert_eq!(
        h.read(Request::GetChildren(PathWatchRequest {
            path: "/r".into(),
            watch: false
        })),
        Ok(Response::Children(vec!["a".into(), "b".into()]))
    );
    assert_eq!(
        h.read(Request::GetAllChildrenNumber(PathRequest {
            path: "/r".into()
        })),
        Ok(Response::AllChildrenNumber(3))
    );
    assert_eq!(
        h.read(Request::GetAllChildrenNumber(PathRequest {
            path: "/".into()
        })),
        Ok(Response::AllChildrenNumber(7))
    );
    assert_eq!(
        h.read(Request::GetData(PathWatchRequest {
            path: "nopath".into(),
            watch: false
        })),
        Err(ErrorCode::NoNode)
    );
    assert_eq!(
        h.read(Request::Exists(PathWatchRequest {
            path: "/a\0".into(),
            watch: false
        })),
        Err(ErrorCode::BadArguments)
    );
    let multi = h.read(Request::MultiRead(vec![
        Request::GetData(PathWatchRequest {
            path: "/r/a".into(),
            watch: false,
        }),
        Request::GetChildren(PathWatchRequest {
            path: "/missing".into(),
            watch: false,
        }),
        Request::GetChildren(PathWatchRequest {
            path: "/r/a".into(),
            watch: false,
        }),
    ]));
    let Ok(Response::Multi(results)) = multi else {
        panic!()
    };
    assert!(matches!(results[0], MultiResult::GetData { .. }));
    assert_eq!(results[1], MultiResult::Error(ErrorCode::NoNode));
    assert_eq!(
        results[2],
        MultiResult::GetChildren(vec!["deep".into()]),
        "multiRead never aborts"
    );
}

#[test]
fn triggers_describe_each_change() {
    let mut h = Harness::new();
    let created = h.create("/w", 0);
    assert_eq!(
        created.triggers,
        vec![
            Trigger {
                event: EventType::NodeCreated,
                path: "/w".into()
            },
            Trigger {
                event: EventType::NodeChildrenChanged,
                path: "/".into()
            },
        ]
    );
    assert_eq!(
        h.write(set_data("/w", -1)).triggers,
        vec![Trigger {
            event: EventType::NodeDataChanged,
            path: "/w".into()
        }]
    );
    assert!(
        h.write(Request::SetAcl(SetAclRequest {
            path: "/w".into(),
            acl: Acl::open_unsafe(),
            version: -1
        }))
        .triggers
        .is_empty()
    );
    assert!(
        h.err(set_data("/w", 99)) == ErrorCode::BadVersion
            && h.write(set_data("/w", 99)).triggers.is_empty(),
        "failed writes fire nothing"
    );
    assert_eq!(
        h.write(delete("/w", -1)).triggers,
        vec![
            Trigger {
                event: EventType::NodeDeleted,
                path: "/w".into()
            },
            Trigger {
                event: EventType::NodeChildrenChanged,
                path: "/".into()
            },
        ]
    );
}

#[test]
fn snapshots_round_trip_and_reject_damage() {
    let mut h = Harness::new();
    h.create("/s", 0);
    h.create("/s/e", 1);
    h.create_as(Request::CreateContainer, "/c", 0, 0);
    let mut bytes = Vec::new();
    h.tree.write_snapshot(&mut bytes).unwrap();
    let restored = Tree::read_snapshot(&bytes[..]).unwrap();
    restored.check_invariants();
    assert_eq!(restored.digest(), h.tree.digest());
    assert_eq!(restored.last_zxid(), h.tree.last_zxid());
    assert_eq!(restored.ephemerals(S1, "/"), vec!["/s/e".to_string()]);
    assert_eq!(restored.containers().len(), 1);
    for cut in [0, 5, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            Tree::read_snapshot(&bytes[..cut]).is_err(),
            "truncated at {cut}"
        );
    }
    let mut flipped = bytes.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x40;
    assert!(Tree::read_snapshot(&flipped[..]).is_err());
}

#[test]
fn a_clone_snapshots_the_state_it_was_taken_at_while_the_original_goes_on() {
    let mut h = Harness::new();
    for i in 0..300 {
        h.create(&format!("/n{i:03}"), 0);
    }
    let frozen = h.tree.clone();
    let frozen_digest = frozen.digest();
    // Writes after the clone touch shared chunks and a shared children map.
    h.write(set_data("/n005", -1));
    h.write(delete("/n150", -1));
    h.create("/late", 0);
    assert_ne!(h.tree.digest(), frozen_digest);
    let mut bytes = Vec::new();
    frozen.write_snapshot(&mut bytes).unwrap();
    let restored = Tree::read_snapshot(&bytes[..]).unwrap();
    restored.check_invariants();
    assert_eq!(restored.digest(), frozen_digest);
    assert!(restored.exists("/n150") && !restored.exists("/late"));
    h.tree.check_invariants();
    assert!(!h.tree.exists("/n150") && h.tree.exists("/late"));
}

#[test]
fn snapshots_with_duplicate_or_unordered_siblings_are_refused() {
    let mut h = Harness::new();
    h.create("/q", 0);
    h.create("/q/k1", 0);
    h.create("/q/k2", 0);
    let mut bytes = Vec::new();
    h.tree.write_snapshot(&mut bytes).unwrap();
    // Rename one sibling inside the snapshot and seal it with a valid checksum, so only
    // the structure check can catch it.
    let at = |bytes: &[u8], name: &[u8]| bytes.windows(name.len()).position(|w| w == name).unwrap();
    let resealed = |mut body: Vec<u8>| {
        body.truncate(body.len() - 4);
        let crc = crc32fast::hash(&body);
        body.extend_from_slice(&crc.to_le_bytes());
        body
    };
    let second = at(&bytes, b"k2");
    let mut duplicate = bytes.clone();
    duplicate[second + 1] = b'1';
    let mut unordered = bytes.clone();
    unordered[second + 1] = b'0';
    for (what, damaged) in [("duplicate", duplicate), ("unordered", unordered)] {
        let error = Tree::read_snapshot(&resealed(damaged)[..]).unwrap_err();
        assert!(
            error.to_string().contains("unordered name"),
            "{what}: {error}"
        );
    }
    assert!(Tree::read_snapshot(&resealed(bytes)[..]).is_ok());
}

#[test]
fn applying_out_of_order_is_refused() {
    let mut h = Harness::new();
    let zxid = h.zxid;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        h.tree.apply(Txn {
            zxid,
            time_ms: 0,
            session_id: S1,
            auth: vec![],
            owner: 0,
            op: TxnOp::CloseSession,
        })
    }));
    assert!(result.is_err());
}

/// Story: a client's write was still in flight from a connection it had abandoned when
/// it re-attached elsewhere and went on; the late entry must not act after the newer
/// requests (ZooKeeper answers SessionMoved). Owner tokens in entries enforce that.
#[test]
fn writes_from_an_abandoned_connection_are_refused() {
    let mut h = Harness::new();
    let entry = |owner: u64, op: TxnOp| Txn {
        zxid: 0,
        time_ms: 0,
        session_id: S1,
        auth: vec![],
        owner,
        op,
    };
    let create = |owner: u64| {
        TxnOp::Write(Request::Create(CreateRequest {
            path: format!("/from-{owner}"),
            data: None,
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl: 0,
        }))
    };
    let apply = |h: &mut Harness, mut txn: Txn| {
        h.zxid += 1;
        txn.zxid = h.zxid;
        let applied = h.tree.apply(txn);
        h.tree.check_invariants();
        applied
    };
    assert_eq!(
        apply(&mut h, entry(0, create(0))).err,
        ErrorCode::Ok,
        "the creating connection owns it"
    );
    assert_eq!(
        apply(&mut h, entry(5, TxnOp::MoveSession)).err,
        ErrorCode::Ok
    );
    assert_eq!(
        apply(&mut h, entry(0, create(10))).err,
        ErrorCode::SessionMoved,
        "old connection refused"
    );
    assert!(!h.tree.exists("/from-10"));
    assert_eq!(
        apply(&mut h, entry(5, create(5))).err,
        ErrorCode::Ok,
        "new connection accepted"
    );
    assert_eq!(
        apply(&mut h, entry(9, TxnOp::CloseSession)).err,
        ErrorCode::SessionMoved
    );
    assert!(
        h.tree.session(S1).is_some(),
        "a stale close does not end the session"
    );
    // Owner 0 is server-internal: the leader's expiry applies whoever owns the session.
    assert_eq!(
        apply(&mut h, entry(0, TxnOp::CloseSession)).session,
        Some(SessionChange::Closed(S1))
    );
    assert_eq!(
        apply(&mut h, entry(5, TxnOp::MoveSession)).err,
        ErrorCode::SessionExpired
    );
}
