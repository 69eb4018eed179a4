//! Applying committed entries: every write decided here, at apply time, from the tree
//! alone, in the order ZooKeeper's PrepRequestProcessor checks them.

use paddock_jute::{
    CheckVersionRequest, CreateMode, CreateRequest, DeleteRequest, ErrorCode, EventType, Id,
    MultiResult, OpCode, Request, Response, SetAclRequest, SetDataRequest, Stat, perms,
};

use crate::acl;
use crate::node::{NodeId, Owner, StoredStat, TTL_MS_MAX, Znode};
use crate::path;
use crate::session::Session;
use crate::tree::Tree;
use crate::txn::{Applied, SessionChange, Trigger, Txn, TxnOp};

/// Who is asking, and when: the parts of a [`Txn`] every operation needs.
struct Ctx<'a> {
    zxid: i64,
    time_ms: i64,
    session_id: i64,
    auth: &'a [Id],
    owner: u64,
}

/// What one successful write produced, before it is shaped into a reply.
enum Done {
    Created { path: String, stat: Stat },
    Deleted,
    DataSet(Stat),
    AclSet(Stat),
    Checked,
}

type OpResult = Result<Done, ErrorCode>;

/// Paths ZooKeeper refuses to delete.
fn is_special(path: &str) -> bool {
    matches!(
        path,
        "/" | "/zookeeper" | "/zookeeper/quota" | "/zookeeper/config"
    )
}

fn check_version(current: i32, expected: i32) -> Result<(), ErrorCode> {
    if expected != -1 && expected != current {
        return Err(ErrorCode::BadVersion);
    }
    Ok(())
}

impl Tree {
    /// Applies one committed entry and returns its outcome.
    ///
    /// Panics if `txn.zxid` does not exceed every earlier zxid: applying an entry twice
    /// or out of order is a bug in the caller, and continuing would fork the replicas.
    pub fn apply(&mut self, txn: Txn) -> Applied {
        assert!(
            txn.zxid > self.last_zxid,
            "zxid {:#x} applied after {:#x}",
            txn.zxid,
            self.last_zxid
        );
        self.last_zxid = txn.zxid;
        let ctx = Ctx {
            zxid: txn.zxid,
            time_ms: txn.time_ms,
            session_id: txn.session_id,
            auth: &txn.auth,
            owner: txn.owner,
        };
        match txn.op {
            TxnOp::CreateSession {
                timeout_ms,
                password,
            } => self.create_session(&ctx, timeout_ms, password),
            TxnOp::CloseSession => self.close_session(&ctx),
            TxnOp::MoveSession => self.move_session(&ctx),
            TxnOp::Write(request) => {
                let internal = ctx.session_id == 0;
                if !internal {
                    let Some(session) = self.sessions.get(&ctx.session_id) else {
                        return Applied::error(ctx.zxid, ErrorCode::SessionExpired);
                    };
                    if session.owner != ctx.owner {
                        return Applied::error(ctx.zxid, ErrorCode::SessionMoved);
                    }
                }
                match request {
                    Request::Multi(ops) => self.apply_multi(&ctx, ops),
                    request => self.apply_single(&ctx, request),
                }
            }
        }
    }

    fn apply_single(&mut self, ctx: &Ctx<'_>, request: Request) -> Applied {
        let op = request.op_code();
        let mut triggers = Vec::new();
        match self.write(ctx, request, &mut triggers) {
            Ok(done) => {
                let response = match done {
                    Done::Created { path, .. } if op == OpCode::Create => Response::Create(path),
                    Done::Created { path, stat } => Response::Create2(path, stat),
                    Done::DataSet(stat) | Done::AclSet(stat) => Response::Stat(stat),
                    Done::Deleted | Done::Checked => Response::Empty,
                };
                Applied {
                    zxid: ctx.zxid,
                    err: ErrorCode::Ok,
                    response,
                    triggers,
                    session: None,
                }
            }
            Err(err) => Applied::error(ctx.zxid, err),
        }
    }

    /// All or nothing: ops run in order, each seeing the ones before; the first failure
    /// rolls every earlier op back. The reply header is Ok either way; the per-op results
    /// say what happened (Ok before the failure, its code, RuntimeInconsistency after).
    fn apply_multi(&mut self, ctx: &Ctx<'_>, ops: Vec<Request>) -> Applied {
        let count = ops.len();
        let mut triggers = Vec::new();
        let mut results = Vec::with_capacity(count);
        let mut failure = None;
        self.undo = Some(Vec::new());
        for (index, request) in ops.into_iter().enumerate() {
            let op = request.op_code();
            match self.write(ctx, request, &mut triggers) {
                Ok(done) => results.push(match done {
                    Done::Created { path, .. } if op == OpCode::Create => MultiResult::Create(path),
                    Done::Created { path, stat } => MultiResult::Create2(path, stat),
                    Done::Deleted => MultiResult::Delete,
                    Done::DataSet(stat) | Done::AclSet(stat) => MultiResult::SetData(stat),
                    Done::Checked => MultiResult::Check,
                }),
                Err(err) => {
                    failure = Some((index, err));
                    break;
                }
            }
        }
        let images = self.undo.take().unwrap_or_default();
        if let Some((failed, err)) = failure {
            self.roll_back(images);
            triggers.clear();
            results = (0..count)
                .map(|index| {
                    MultiResult::Error(match index.cmp(&failed) {
                        std::cmp::Ordering::Less => ErrorCode::Ok,
                        std::cmp::Ordering::Equal => err,
                        std::cmp::Ordering::Greater => ErrorCode::RuntimeInconsistency,
                    })
                })
                .collect();
        }
        Applied {
            zxid: ctx.zxid,
            err: ErrorCode::Ok,
            response: Response::Multi(results),
            triggers,
            session: None,
        }
    }

    fn write(&mut self, ctx: &Ctx<'_>, request: Request, triggers: &mut Vec<Trigger>) -> OpResult {
        let op = request.op_code();
        match request {
            Request::Create(r)
            | Request::Create2(r)
            | Request::CreateContainer(r)
            | Request::CreateTtl(r) => self.create(ctx, op, r, triggers),
            Request::Delete(r) => self.delete(ctx, r, triggers),
            Request::DeleteContainer(r) => self.delete_container(ctx, &r.path, triggers),
            Request::SetData(r) => self.set_data(ctx, r, triggers),
            Request::SetAcl(r) => self.set_acl(ctx, r),
            Request::Check(r) => self.check(ctx, &r),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    fn create(
        &mut self,
        ctx: &Ctx<'_>,
        op: OpCode,
        req: CreateRequest,
        triggers: &mut Vec<Trigger>,
    ) -> OpResult {
        let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::BadArguments)?;
        if mode.is_ttl() && !self.config.extended_types_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        let owner = match op {
            OpCode::CreateContainer => Owner::Container,
            OpCode::CreateTtl => {
                // ZooKeeper crashes on createTTL with a non-TTL mode; refuse it instead.
                if !mode.is_ttl() || req.ttl <= 0 || req.ttl > TTL_MS_MAX {
                    return Err(ErrorCode::BadArguments);
                }
                Owner::Ttl(req.ttl)
            }
            _ if mode.is_ttl() => return Err(ErrorCode::BadArguments),
            _ if mode.is_ephemeral() => Owner::Session(ctx.session_id),
            _ => Owner::None,
        };
        if !req.path.contains('/') || req.path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let acl = acl::fixup(&req.acl, ctx.auth)?;
        let slash = req.path.rfind('/').unwrap_or(0);
        let parent_path = if slash == 0 {
            "/".to_owned()
        } else {
            req.path[..slash].to_owned()
        };
        let parent_path = parent_path.as_str();
        let parent_id = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        let parent = self.get(parent_id).ok_or(ErrorCode::NoNode)?;
        if !acl::allows(self.acls.get(parent.acl), perms::CREATE, ctx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let sequence = parent.stat.cversion;
        let parent_is_ephemeral = matches!(parent.stat.owner(), Owner::Session(_));
        let path = if mode.is_sequential() {
            format!("{}{:010}", req.path, sequence)
        } else {
            req.path
        };
        path::validate(&path, false)?;
        if self.lookup(&path).is_some() {
            return Err(ErrorCode::NodeExists);
        }
        if parent_is_ephemeral {
            return Err(ErrorCode::NoChildrenForEphemerals);
        }
        if matches!(owner, Owner::Session(id) if id == 0 || !self.sessions.contains_key(&id)) {
            return Err(ErrorCode::SessionExpired);
        }
        let zxid = ctx.zxid;
        self.update_node(parent_id, parent_path, |parent| {
            parent.stat.cversion = parent.stat.cversion.wrapping_add(1);
            parent.stat.pzxid = zxid;
        });
        let acl = self.acls.acquire(&acl);
        let node = Znode::new(
            StoredStat::created(zxid, ctx.time_ms, owner),
            req.data.map(Vec::into_boxed_slice),
            acl,
        );
        let stat = node.client_stat();
        let name = &path[slash + 1..];
        self.insert_node(&path, parent_id, name, node);
        triggers.push(Trigger {
            event: EventType::NodeCreated,
            path: path.clone(),
        });
        triggers.push(Trigger {
            event: EventType::NodeChildrenChanged,
            path: parent_path.to_owned(),
        });
        Ok(Done::Created { path, stat })
    }

    /// ZooKeeper's getParentPathAndValidate: the parent of a deletable path.
    fn parent_for_delete(path: &str) -> Result<(&str, &str), ErrorCode> {
        if is_special(path) || path.contains('\0') {
            return Err(ErrorCode::BadArguments);
        }
        let slash = path.rfind('/').ok_or(ErrorCode::BadArguments)?;
        let parent = if slash == 0 { "/" } else { &path[..slash] };
        Ok((parent, &path[slash + 1..]))
    }

    fn delete(
        &mut self,
        ctx: &Ctx<'_>,
        req: DeleteRequest,
        triggers: &mut Vec<Trigger>,
    ) -> OpResult {
        let (parent_path, _) = Self::parent_for_delete(&req.path)?;
        let parent_id = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        let parent = self.get(parent_id).ok_or(ErrorCode::NoNode)?;
        if !acl::allows(self.acls.get(parent.acl), perms::DELETE, ctx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        let node = self.node(&req.path).ok_or(ErrorCode::NoNode)?;
        check_version(node.stat.version, req.version)?;
        if node.children.is_some() {
            return Err(ErrorCode::NotEmpty);
        }
        self.delete_node(ctx.zxid, &req.path, parent_id, triggers);
        Ok(Done::Deleted)
    }

    /// The reaper's delete: only an empty container that has had children, or an empty
    /// TTL node whose TTL has passed by the entry's time. Re-checked here because the
    /// node may have changed between the leader's scan and this entry.
    fn delete_container(
        &mut self,
        ctx: &Ctx<'_>,
        path: &str,
        triggers: &mut Vec<Trigger>,
    ) -> OpResult {
        let (parent_path, _) = Self::parent_for_delete(path)?;
        let node = self.node(path).ok_or(ErrorCode::NoNode)?;
        if node.children.is_some() {
            return Err(ErrorCode::NotEmpty);
        }
        let reapable = match node.stat.owner() {
            Owner::Container => node.stat.cversion > 0,
            Owner::Ttl(ttl) => ctx.time_ms.saturating_sub(node.stat.mtime) > ttl,
            Owner::None | Owner::Session(_) => false,
        };
        if !reapable {
            return Err(ErrorCode::BadVersion);
        }
        let parent_id = self.lookup(parent_path).ok_or(ErrorCode::NoNode)?;
        self.delete_node(ctx.zxid, path, parent_id, triggers);
        Ok(Done::Deleted)
    }

    /// Removes a childless node: parent pzxid moves (its stored cversion does not, so
    /// sequence numbers never repeat), the ACL reference goes, watches hear of it.
    fn delete_node(
        &mut self,
        zxid: i64,
        path: &str,
        parent_id: NodeId,
        triggers: &mut Vec<Trigger>,
    ) {
        let Some((parent_path, name)) = path::split(path) else {
            return;
        };
        self.update_node(parent_id, parent_path, |parent| {
            parent.stat.pzxid = parent.stat.pzxid.max(zxid);
        });
        if let Some(node) = self.remove_node(path, parent_id, name) {
            self.acls.release(node.acl);
        }
        triggers.push(Trigger {
            event: EventType::NodeDeleted,
            path: path.to_owned(),
        });
        triggers.push(Trigger {
            event: EventType::NodeChildrenChanged,
            path: parent_path.to_owned(),
        });
    }

    fn set_data(
        &mut self,
        ctx: &Ctx<'_>,
        req: SetDataRequest,
        triggers: &mut Vec<Trigger>,
    ) -> OpResult {
        path::validate(&req.path, false)?;
        let id = self.lookup(&req.path).ok_or(ErrorCode::NoNode)?;
        let node = self.get(id).ok_or(ErrorCode::NoNode)?;
        if !acl::allows(self.acls.get(node.acl), perms::WRITE, ctx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.stat.version, req.version)?;
        let (zxid, time_ms) = (ctx.zxid, ctx.time_ms);
        let data = req.data.map(Vec::into_boxed_slice);
        self.update_node(id, &req.path, |node| {
            node.stat.version = node.stat.version.wrapping_add(1);
            node.stat.mzxid = zxid;
            node.stat.mtime = time_ms;
            node.data = data;
        });
        triggers.push(Trigger {
            event: EventType::NodeDataChanged,
            path: req.path,
        });
        let stat = self.get(id).map(Znode::client_stat).unwrap_or_default();
        Ok(Done::DataSet(stat))
    }

    fn set_acl(&mut self, ctx: &Ctx<'_>, req: SetAclRequest) -> OpResult {
        path::validate(&req.path, false)?;
        let acl = acl::fixup(&req.acl, ctx.auth)?;
        let id = self.lookup(&req.path).ok_or(ErrorCode::NoNode)?;
        let node = self.get(id).ok_or(ErrorCode::NoNode)?;
        if !acl::allows(self.acls.get(node.acl), perms::ADMIN, ctx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.stat.aversion, req.version)?;
        let new_acl = self.acls.acquire(&acl);
        let mut old_acl = new_acl;
        self.update_node(id, &req.path, |node| {
            node.stat.aversion = node.stat.aversion.wrapping_add(1);
            old_acl = std::mem::replace(&mut node.acl, new_acl);
        });
        self.acls.release(old_acl);
        let stat = self.get(id).map(Znode::client_stat).unwrap_or_default();
        Ok(Done::AclSet(stat))
    }

    fn check(&self, ctx: &Ctx<'_>, req: &CheckVersionRequest) -> OpResult {
        path::validate(&req.path, false)?;
        let node = self.node(&req.path).ok_or(ErrorCode::NoNode)?;
        if !acl::allows(self.acls.get(node.acl), perms::READ, ctx.auth) {
            return Err(ErrorCode::NoAuth);
        }
        check_version(node.stat.version, req.version)?;
        Ok(Done::Checked)
    }

    fn create_session(&mut self, ctx: &Ctx<'_>, timeout_ms: i32, password: Vec<u8>) -> Applied {
        let id = ctx.session_id;
        // Ids must be positive so they never collide with container/TTL owner markers.
        if id <= 0 || self.sessions.contains_key(&id) {
            return Applied::error(ctx.zxid, ErrorCode::SystemError);
        }
        self.insert_session(
            id,
            Session {
                timeout_ms,
                password,
                owner: ctx.owner,
                ephemerals: Default::default(),
            },
        );
        Applied {
            zxid: ctx.zxid,
            err: ErrorCode::Ok,
            response: Response::Empty,
            triggers: Vec::new(),
            session: Some(SessionChange::Created(id)),
        }
    }

    /// Hands the session to a new connection: only its writes count from now on.
    fn move_session(&mut self, ctx: &Ctx<'_>) -> Applied {
        let Some(timeout_ms) = self.sessions.get(&ctx.session_id).map(|s| s.timeout_ms) else {
            return Applied::error(ctx.zxid, ErrorCode::SessionExpired);
        };
        self.set_session_owner(ctx.session_id, timeout_ms, ctx.owner);
        Applied::error(ctx.zxid, ErrorCode::Ok)
    }

    /// Ends a session: its ephemerals go in this same entry, in path order. Owner 0 is
    /// the leader expiring it; a client's close must come from its current connection.
    fn close_session(&mut self, ctx: &Ctx<'_>) -> Applied {
        let id = ctx.session_id;
        let Some(session) = self.sessions.get(&id) else {
            return Applied::error(ctx.zxid, ErrorCode::Ok);
        };
        if ctx.owner != 0 && session.owner != ctx.owner {
            return Applied::error(ctx.zxid, ErrorCode::SessionMoved);
        }
        let ephemerals: Vec<String> = session.ephemerals.iter().cloned().collect();
        let mut triggers = Vec::with_capacity(ephemerals.len() * 2);
        for path in ephemerals.iter().rev() {
            let parent_id = path::split(path).and_then(|(parent, _)| self.lookup(parent));
            if let Some(parent_id) = parent_id {
                self.delete_node(ctx.zxid, path, parent_id, &mut triggers);
            }
        }
        self.remove_session(id);
        Applied {
            zxid: ctx.zxid,
            err: ErrorCode::Ok,
            response: Response::Empty,
            triggers,
            session: Some(SessionChange::Closed(id)),
        }
    }

    /// Paths the leader's reaper should propose deleting at `now_ms`: empty containers
    /// that have had children, and empty TTL nodes unmodified for longer than their TTL.
    pub fn reap_candidates(&self, now_ms: i64, limit: usize) -> Vec<String> {
        let containers = self.containers.iter().filter(|path| {
            self.node(path)
                .is_some_and(|n| n.children.is_none() && n.stat.cversion > 0)
        });
        let ttls = self.ttls.iter().filter(|path| {
            self.node(path).is_some_and(|n| {
                n.children.is_none()
                    && matches!(n.stat.owner(), Owner::Ttl(ttl) if now_ms.saturating_sub(n.stat.mtime) > ttl)
            })
        });
        containers.chain(ttls).take(limit).cloned().collect()
    }
}
