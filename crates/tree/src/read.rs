//! Read queries, answered from the local tree with ZooKeeper's ACL checks. Reads do not
//! validate paths (ZooKeeper answers NoNode for "nopath"); watches are the server's job.

use paddock_jute::{ErrorCode, Id, MultiResult, Request, Response, perms};

use crate::acl;
use crate::node::Znode;
use crate::tree::Tree;

impl Tree {
    /// Answers a read request for `session_id` whose caller holds `auth`.
    /// Non-read requests get Unimplemented.
    pub fn read(
        &self,
        session_id: i64,
        request: &Request,
        auth: &[Id],
    ) -> Result<Response, ErrorCode> {
        match request {
            Request::Exists(r) => {
                if r.path.contains('\0') {
                    return Err(ErrorCode::BadArguments);
                }
                Ok(Response::Stat(
                    self.node(&r.path).ok_or(ErrorCode::NoNode)?.client_stat(),
                ))
            }
            Request::GetData(r) => {
                let node = self.readable(&r.path, perms::READ, auth)?;
                Ok(Response::GetData {
                    data: node.data.as_ref().map(|d| d.to_vec()),
                    stat: node.client_stat(),
                })
            }
            Request::GetChildren(r) => {
                let node = self.readable(&r.path, perms::READ, auth)?;
                Ok(Response::Children(children_of(node)))
            }
            Request::GetChildren2(r) => {
                let node = self.readable(&r.path, perms::READ, auth)?;
                Ok(Response::Children2 {
                    children: children_of(node),
                    stat: node.client_stat(),
                })
            }
            Request::GetAcl(r) => {
                let node = self.readable(&r.path, perms::READ | perms::ADMIN, auth)?;
                let stored = self.acls.get(node.acl);
                let acl = if acl::allows(stored, perms::ADMIN, auth) {
                    stored.to_vec()
                } else {
                    acl::redacted(stored)
                };
                Ok(Response::GetAcl {
                    acl,
                    stat: node.client_stat(),
                })
            }
            Request::GetAllChildrenNumber(r) => {
                self.readable(&r.path, perms::READ, auth)?;
                let total = self.descendant_count(&r.path);
                Ok(Response::AllChildrenNumber(
                    i32::try_from(total).unwrap_or(i32::MAX),
                ))
            }
            Request::GetEphemerals(r) => {
                Ok(Response::Ephemerals(self.ephemerals(session_id, &r.path)))
            }
            Request::MultiRead(ops) => Ok(Response::Multi(
                ops.iter()
                    .map(|op| match self.read(session_id, op, auth) {
                        Ok(Response::GetData { data, stat }) => MultiResult::GetData { data, stat },
                        Ok(Response::Children(children)) => MultiResult::GetChildren(children),
                        Ok(_) => MultiResult::Error(ErrorCode::Unimplemented),
                        Err(err) => MultiResult::Error(err),
                    })
                    .collect(),
            )),
            _ => Err(ErrorCode::Unimplemented),
        }
    }

    /// The node at `path` if it exists (else NoNode) and `auth` holds `perm` (else NoAuth).
    fn readable(&self, path: &str, perm: i32, auth: &[Id]) -> Result<&Znode, ErrorCode> {
        let node = self.node(path).ok_or(ErrorCode::NoNode)?;
        if !acl::allows(self.acls.get(node.acl), perm, auth) {
            return Err(ErrorCode::NoAuth);
        }
        Ok(node)
    }

    /// Number of nodes below `path` (all depths), ZooKeeper's getAllChildrenNumber.
    pub fn descendant_count(&self, path: &str) -> usize {
        let Some(id) = self.lookup(path) else {
            return 0;
        };
        let mut count = 0;
        let mut stack = vec![id];
        while let Some(id) = stack.pop() {
            if let Some(children) = self.get(id).and_then(|n| n.children.as_ref()) {
                count += children.len();
                stack.extend(children.values().copied());
            }
        }
        count
    }

    /// The session's ephemeral paths starting with `prefix` (all of them for "" or "/").
    pub fn ephemerals(&self, session_id: i64, prefix: &str) -> Vec<String> {
        let Some(session) = self.sessions.get(&session_id) else {
            return Vec::new();
        };
        let all = prefix.trim().is_empty() || prefix == "/";
        session
            .ephemerals
            .iter()
            .filter(|path| all || path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

fn children_of(node: &Znode) -> Vec<String> {
    node.children
        .as_ref()
        .map(|c| c.keys().map(|name| name.to_string()).collect())
        .unwrap_or_default()
}
