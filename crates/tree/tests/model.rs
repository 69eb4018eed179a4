//! Model-based test: random sequences of entries applied to paddock-tree and to a small,
//! obviously-correct reference model (a flat map from path to node, children found by
//! scanning, multi by cloning the whole model). Replies, stats and watch triggers must
//! agree after every entry; invariants hold; snapshot → restore keeps the digest.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use paddock_jute::*;
use paddock_tree::{Owner, Tree, TreeConfig, Trigger, Txn, TxnOp};
use proptest::prelude::*;

#[derive(Clone, Debug)]
struct MNode {
    data: Option<Vec<u8>>,
    czxid: i64,
    mzxid: i64,
    pzxid: i64,
    ctime: i64,
    mtime: i64,
    version: i32,
    creates: i32,
    aversion: i32,
    owner: Owner,
    acl: Vec<Acl>,
}

#[derive(Clone, Debug, Default)]
struct Model {
    nodes: BTreeMap<String, MNode>,
    /// Session id → (timeout, owner).
    sessions: BTreeMap<i64, (i32, u64)>,
}

fn parent_of(path: &str) -> String {
    match path.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => path[..i].into(),
        None => String::new(),
    }
}

impl Model {
    fn new() -> Self {
        let mut m = Model::default();
        let base = MNode {
            data: Some(vec![]),
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            creates: 0,
            aversion: 0,
            owner: Owner::None,
            acl: Acl::open_unsafe(),
        };
        for p in ["/", "/zookeeper", "/zookeeper/quota"] {
            m.nodes.insert(p.into(), base.clone());
        }
        m.nodes.insert(
            "/zookeeper/config".into(),
            MNode {
                aversion: -1,
                acl: Acl::read_unsafe(),
                ..base
            },
        );
        m
    }

    fn children(&self, path: &str) -> Vec<String> {
        self.nodes
            .keys()
            .filter(|p| p.as_str() != "/" && parent_of(p) == path)
            .map(|p| p.rsplit('/').next().unwrap().to_string())
            .collect()
    }

    fn stat(&self, path: &str) -> Stat {
        let n = &self.nodes[path];
        let nc = self.children(path).len() as i32;
        Stat {
            czxid: n.czxid,
            mzxid: n.mzxid,
            ctime: n.ctime,
            mtime: n.mtime,
            version: n.version,
            cversion: n.creates * 2 - nc,
            aversion: n.aversion,
            ephemeral_owner: match n.owner {
                Owner::Session(s) => s,
                _ => 0,
            },
            data_length: n.data.as_ref().map_or(0, |d| d.len() as i32),
            num_children: nc,
            pzxid: n.pzxid,
        }
    }

    fn allowed(&self, path: &str, perm: i32) -> bool {
        self.nodes[path]
            .acl
            .iter()
            .any(|a| a.perms & perm != 0 && a.id == Id::anyone())
    }

    fn version_ok(cur: i32, want: i32) -> Result<(), ErrorCode> {
        if want == -1 || want == cur {
            Ok(())
        } else {
            Err(ErrorCode::BadVersion)
        }
    }

    fn write(
        &mut self,
        txn: &Txn,
        req: &Request,
        trig: &mut Vec<Trigger>,
    ) -> Result<MultiResult, ErrorCode> {
        let t = |event, path: &str| Trigger {
            event,
            path: path.to_string(),
        };
        match req {
            Request::Create(r)
            | Request::Create2(r)
            | Request::CreateContainer(r)
            | Request::CreateTtl(r) => {
                let op = req.op_code();
                let mode = CreateMode::from_flags(r.flags).ok_or(ErrorCode::BadArguments)?;
                let owner = match op {
                    OpCode::CreateContainer => Owner::Container,
                    OpCode::CreateTtl => {
                        if !mode.is_ttl() || r.ttl <= 0 {
                            return Err(ErrorCode::BadArguments);
                        }
                        Owner::Ttl(r.ttl)
                    }
                    _ if mode.is_ttl() => return Err(ErrorCode::BadArguments),
                    _ if mode.is_ephemeral() => Owner::Session(txn.session_id),
                    _ => Owner::None,
                };
                if r.acl.is_empty() {
                    return Err(ErrorCode::InvalidAcl);
                }
                let parent = parent_of(&r.path);
                if !self.nodes.contains_key(&parent) {
                    return Err(ErrorCode::NoNode);
                }
                if !self.allowed(&parent, perms::CREATE) {
                    return Err(ErrorCode::NoAuth);
                }
                let path = if mode.is_sequential() {
                    format!("{}{:010}", r.path, self.nodes[&parent].creates)
                } else {
                    r.path.clone()
                };
                if path.ends_with('/') {
                    return Err(ErrorCode::BadArguments);
                }
                if self.nodes.contains_key(&path) {
                    return Err(ErrorCode::NodeExists);
                }
                if matches!(self.nodes[&parent].owner, Owner::Session(_)) {
                    return Err(ErrorCode::NoChildrenForEphemerals);
                }
                let p = self.nodes.get_mut(&parent).unwrap();
                p.creates += 1;
                p.pzxid = txn.zxid;
                self.nodes.insert(
                    path.clone(),
                    MNode {
                        data: r.data.clone(),
                        czxid: txn.zxid,
                        mzxid: txn.zxid,
                        pzxid: txn.zxid,
                        ctime: txn.time_ms,
                        mtime: txn.time_ms,
                        version: 0,
                        creates: 0,
                        aversion: 0,
                        owner,
                        acl: r.acl.clone(),
                    },
                );
                trig.push(t(EventType::NodeCreated, &path));
                trig.push(t(EventType::NodeChildrenChanged, &parent));
                let stat = self.stat(&path);
                Ok(if op == OpCode::Create {
                    MultiResult::Create(path)
                } else {
                    MultiResult::Create2(path, stat)
                })
            }
            Request::Delete(r) => {
                if ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"]
                    .contains(&r.path.as_str())
                {
                    return Err(ErrorCode::BadArguments);
                }
                let parent = parent_of(&r.path);
                if !self.nodes.contains_key(&parent) {
                    return Err(ErrorCode::NoNode);
                }
                if !self.allowed(&parent, perms::DELETE) {
                    return Err(ErrorCode::NoAuth);
                }
                let n = self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                Self::version_ok(n.version, r.version)?;
                if !self.children(&r.path).is_empty() {
                    return Err(ErrorCode::NotEmpty);
                }
                self.remove(txn.zxid, &r.path, trig);
                Ok(MultiResult::Delete)
            }
            Request::SetData(r) => {
                let n = self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(&r.path, perms::WRITE) {
                    return Err(ErrorCode::NoAuth);
                }
                Self::version_ok(n.version, r.version)?;
                let n = self.nodes.get_mut(&r.path).unwrap();
                n.version += 1;
                n.mzxid = txn.zxid;
                n.mtime = txn.time_ms;
                n.data = r.data.clone();
                trig.push(t(EventType::NodeDataChanged, &r.path));
                Ok(MultiResult::SetData(self.stat(&r.path)))
            }
            Request::SetAcl(r) => {
                if r.acl.is_empty() {
                    return Err(ErrorCode::InvalidAcl);
                }
                let n = self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(&r.path, perms::ADMIN) {
                    return Err(ErrorCode::NoAuth);
                }
                Self::version_ok(n.aversion, r.version)?;
                let n = self.nodes.get_mut(&r.path).unwrap();
                n.aversion += 1;
                n.acl = r.acl.clone();
                Ok(MultiResult::SetData(self.stat(&r.path)))
            }
            Request::Check(r) => {
                let n = self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(&r.path, perms::READ) {
                    return Err(ErrorCode::NoAuth);
                }
                Self::version_ok(n.version, r.version)?;
                Ok(MultiResult::Check)
            }
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    fn remove(&mut self, zxid: i64, path: &str, trig: &mut Vec<Trigger>) {
        let parent = parent_of(path);
        let p = self.nodes.get_mut(&parent).unwrap();
        p.pzxid = p.pzxid.max(zxid);
        self.nodes.remove(path);
        trig.push(Trigger {
            event: EventType::NodeDeleted,
            path: path.into(),
        });
        trig.push(Trigger {
            event: EventType::NodeChildrenChanged,
            path: parent,
        });
    }

    /// (err, response, triggers) for one entry.
    fn apply(&mut self, txn: &Txn) -> (ErrorCode, Response, Vec<Trigger>) {
        let mut trig = Vec::new();
        match &txn.op {
            TxnOp::CreateSession { timeout_ms, .. } => {
                if self.sessions.contains_key(&txn.session_id) {
                    return (ErrorCode::SystemError, Response::Empty, trig);
                }
                self.sessions
                    .insert(txn.session_id, (*timeout_ms, txn.owner));
                (ErrorCode::Ok, Response::Empty, trig)
            }
            TxnOp::MoveSession => match self.sessions.get_mut(&txn.session_id) {
                Some(session) => {
                    session.1 = txn.owner;
                    (ErrorCode::Ok, Response::Empty, trig)
                }
                None => (ErrorCode::SessionExpired, Response::Empty, trig),
            },
            TxnOp::CloseSession => {
                if let Some((_, owner)) = self.sessions.get(&txn.session_id)
                    && txn.owner != 0
                    && *owner != txn.owner
                {
                    return (ErrorCode::SessionMoved, Response::Empty, trig);
                }
                if self.sessions.remove(&txn.session_id).is_some() {
                    let mine: Vec<String> = self
                        .nodes
                        .iter()
                        .filter(|(_, n)| n.owner == Owner::Session(txn.session_id))
                        .map(|(p, _)| p.clone())
                        .collect();
                    for p in mine.iter().rev() {
                        self.remove(txn.zxid, p, &mut trig);
                    }
                }
                (ErrorCode::Ok, Response::Empty, trig)
            }
            TxnOp::Write(req) => {
                match self.sessions.get(&txn.session_id) {
                    None => return (ErrorCode::SessionExpired, Response::Empty, trig),
                    Some((_, owner)) if *owner != txn.owner => {
                        return (ErrorCode::SessionMoved, Response::Empty, trig);
                    }
                    Some(_) => {}
                }
                match req {
                    Request::Multi(ops) => {
                        let mut scratch = self.clone();
                        let mut results = Vec::new();
                        for (i, op) in ops.iter().enumerate() {
                            match scratch.write(txn, op, &mut trig) {
                                Ok(r) => results.push(r),
                                Err(e) => {
                                    let results = (0..ops.len())
                                        .map(|j| {
                                            MultiResult::Error(if j < i {
                                                ErrorCode::Ok
                                            } else if j == i {
                                                e
                                            } else {
                                                ErrorCode::RuntimeInconsistency
                                            })
                                        })
                                        .collect();
                                    return (ErrorCode::Ok, Response::Multi(results), Vec::new());
                                }
                            }
                        }
                        *self = scratch;
                        (ErrorCode::Ok, Response::Multi(results), trig)
                    }
                    single => match self.write(txn, single, &mut trig) {
                        Ok(MultiResult::Create(p)) => (ErrorCode::Ok, Response::Create(p), trig),
                        Ok(MultiResult::Create2(p, s)) => {
                            (ErrorCode::Ok, Response::Create2(p, s), trig)
                        }
                        Ok(MultiResult::SetData(s)) => (ErrorCode::Ok, Response::Stat(s), trig),
                        Ok(_) => (ErrorCode::Ok, Response::Empty, trig),
                        Err(e) => (e, Response::Empty, Vec::new()),
                    },
                }
            }
        }
    }

    fn read(&self, session: i64, req: &Request) -> Result<Response, ErrorCode> {
        match req {
            Request::Exists(r) => Ok(Response::Stat(
                self.nodes
                    .get(&r.path)
                    .map(|_| self.stat(&r.path))
                    .ok_or(ErrorCode::NoNode)?,
            )),
            Request::GetData(r) => {
                let n = self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(&r.path, perms::READ) {
                    return Err(ErrorCode::NoAuth);
                }
                Ok(Response::GetData {
                    data: n.data.clone(),
                    stat: self.stat(&r.path),
                })
            }
            Request::GetChildren2(r) => {
                self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(&r.path, perms::READ) {
                    return Err(ErrorCode::NoAuth);
                }
                Ok(Response::Children2 {
                    children: self.children(&r.path),
                    stat: self.stat(&r.path),
                })
            }
            Request::GetAllChildrenNumber(r) => {
                self.nodes.get(&r.path).ok_or(ErrorCode::NoNode)?;
                if !self.allowed(&r.path, perms::READ) {
                    return Err(ErrorCode::NoAuth);
                }
                let prefix = if r.path == "/" {
                    "/".to_string()
                } else {
                    format!("{}/", r.path)
                };
                Ok(Response::AllChildrenNumber(
                    self.nodes
                        .keys()
                        .filter(|p| p.as_str() != "/" && p.starts_with(&prefix))
                        .count() as i32,
                ))
            }
            Request::GetEphemerals(_) => Ok(Response::Ephemerals(
                self.nodes
                    .iter()
                    .filter(|(_, n)| n.owner == Owner::Session(session))
                    .map(|(p, _)| p.clone())
                    .collect(),
            )),
            _ => Err(ErrorCode::Unimplemented),
        }
    }
}

const PATHS: &[&str] = &[
    "/a",
    "/b",
    "/a/x",
    "/a/y",
    "/b/x",
    "/a/x/q",
    "/zookeeper/config",
    "/zookeeper",
];

fn arb_path() -> impl Strategy<Value = String> {
    proptest::sample::select(PATHS).prop_map(String::from)
}

fn arb_acl() -> impl Strategy<Value = Vec<Acl>> {
    prop_oneof![4 => Just(Acl::open_unsafe()), 1 => Just(Acl::read_unsafe())]
}

fn arb_data() -> impl Strategy<Value = Option<Vec<u8>>> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..4))
}

fn arb_write() -> impl Strategy<Value = Request> {
    let version = prop_oneof![3 => Just(-1), 1 => 0..3i32];
    prop_oneof![
        6 => (arb_path(), arb_data(), arb_acl(), 0..4i32, 0..3u8).prop_map(|(path, data, acl, flags, kind)| {
            let r = CreateRequest { path, data, acl, flags, ttl: 0 };
            match kind { 0 => Request::Create(r), 1 => Request::Create2(r), _ => Request::CreateContainer(r) }
        }),
        2 => (arb_path(), 1..3i64).prop_map(|(path, ttl)| Request::CreateTtl(CreateRequest {
            path, data: None, acl: Acl::open_unsafe(), flags: 5, ttl })),
        3 => (arb_path(), version.clone()).prop_map(|(path, version)| Request::Delete(DeleteRequest { path, version })),
        3 => (arb_path(), arb_data(), version.clone()).prop_map(|(path, data, version)| Request::SetData(SetDataRequest { path, data, version })),
        1 => (arb_path(), arb_acl(), version.clone()).prop_map(|(path, acl, version)| Request::SetAcl(SetAclRequest { path, acl, version })),
        1 => (arb_path(), version).prop_map(|(path, version)| Request::Check(CheckVersionRequest { path, version })),
    ]
}

#[derive(Debug, Clone)]
enum Step {
    /// An entry of session `.0` sent by connection `.1`.
    Txn(i64, u64, TxnOp),
    Read(i64, Request),
    Snapshot,
}

fn arb_step() -> impl Strategy<Value = Step> {
    let session = 1..4i64;
    let owner = prop_oneof![6 => Just(0u64), 1 => Just(1u64)];
    prop_oneof![
        8 => (session.clone(), owner.clone(), arb_write()).prop_map(|(s, o, r)| {
            let r = if let Request::Check(_) = r { Request::Multi(vec![r]) } else { r };
            Step::Txn(s, o, TxnOp::Write(r))
        }),
        3 => (session.clone(), owner.clone(), proptest::collection::vec(arb_write(), 0..4)).prop_map(|(s, o, ops)| Step::Txn(s, o, TxnOp::Write(Request::Multi(ops)))),
        2 => (session.clone(), owner.clone()).prop_map(|(s, o)| Step::Txn(s, o, TxnOp::CreateSession { timeout_ms: 4000, password: vec![s as u8; 16] })),
        1 => (session.clone(), owner.clone()).prop_map(|(s, o)| Step::Txn(s, o, TxnOp::CloseSession)),
        1 => (session.clone(), owner).prop_map(|(s, o)| Step::Txn(s, o, TxnOp::MoveSession)),
        3 => (session, arb_path(), 0..5u8).prop_map(|(s, path, k)| Step::Read(s, match k {
            0 => Request::Exists(PathWatchRequest { path, watch: false }),
            1 => Request::GetData(PathWatchRequest { path, watch: false }),
            2 => Request::GetChildren2(PathWatchRequest { path, watch: false }),
            3 => Request::GetAllChildrenNumber(PathRequest { path }),
            _ => Request::GetEphemerals(PathRequest { path: "/".into() }),
        })),
        1 => Just(Step::Snapshot),
    ]
}

fn normalise(response: Response) -> Response {
    match response {
        Response::GetData { data, stat } => Response::GetData { data, stat },
        other => other,
    }
}

proptest! {
    #[test]
    fn tree_agrees_with_model(steps in proptest::collection::vec(arb_step(), 1..60)) {
        let mut tree = Tree::new(TreeConfig { extended_types_enabled: true });
        let mut model = Model::new();
        // Session 1 exists from the start so most writes are not SessionExpired.
        let mut zxid = 0;
        let mut steps = steps;
        steps.insert(0, Step::Txn(1, 0, TxnOp::CreateSession { timeout_ms: 4000, password: vec![1; 16] }));
        for step in steps {
            match step {
                Step::Txn(session_id, owner, op) => {
                    zxid += 1;
                    let txn = Txn { zxid, time_ms: 1000 + zxid, session_id, auth: vec![], owner, op };
                    let (err, response, triggers) = model.apply(&txn);
                    let applied = tree.apply(txn.clone());
                    prop_assert_eq!(applied.err, err, "{:?}", txn);
                    prop_assert_eq!(normalise(applied.response), response, "{:?}", txn);
                    prop_assert_eq!(applied.triggers, triggers, "{:?}", txn);
                }
                Step::Read(session, req) => {
                    prop_assert_eq!(tree.read(session, &req, &[]), model.read(session, &req), "{:?}", req);
                }
                Step::Snapshot => {
                    let mut bytes = Vec::new();
                    tree.write_snapshot(&mut bytes).unwrap();
                    let restored = Tree::read_snapshot(&bytes[..]).unwrap();
                    restored.check_invariants();
                    prop_assert_eq!(restored.digest(), tree.digest());
                    prop_assert_eq!(restored.node_count(), tree.node_count());
                    tree = restored;
                }
            }
            tree.check_invariants();
            for path in model.nodes.keys() {
                prop_assert_eq!(tree.stat(path), Some(model.stat(path)), "stat of {}", path);
            }
            prop_assert_eq!(tree.node_count(), model.nodes.len());
        }
    }
}
