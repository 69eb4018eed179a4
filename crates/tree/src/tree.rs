//! The [`Tree`]: an arena of znodes addressed by path, the sessions table, the ACL table,
//! and the primitives every operation is built from. Each primitive keeps the indexes
//! (ephemerals per session, containers, TTL nodes) and the digest in step, so operations
//! and their rollback cannot forget them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use paddock_jute::{Acl, Stat};

use crate::acl::AclTable;
use crate::digest::{node_hash, node_hash_at, path_hash, session_hash};
use crate::node::{ChildName, Children, NodeId, Owner, StoredStat, Znode};
use crate::path;
use crate::session::Session;
use crate::slab::NodeSlab;

/// Settings every replica must share (they change outcomes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeConfig {
    /// Allow TTL nodes (`zookeeper.extendedTypesEnabled`).
    pub extended_types_enabled: bool,
}

/// A before-image of one path, recorded inside a multi so a failing op can roll back
/// everything the earlier ops did. `None`: the path did not exist.
pub(crate) type Image = (String, Option<NodeImage>);

/// A node's own state (not its children), enough to restore it.
#[derive(Debug, Clone)]
pub(crate) struct NodeImage {
    pub stat: StoredStat,
    pub data: Option<Box<[u8]>>,
    pub acl: Vec<Acl>,
}

/// The replicated state machine: znodes, sessions, ACLs.
///
/// Pure and deterministic: no clock, no I/O, no randomness. Feeding two trees the same
/// [`Txn`](crate::Txn)s yields the same replies, triggers and [`Tree::digest`].
///
/// Cloning is cheap (a reference count per 64 znodes, plus the sessions table): a clone
/// freezes the state for a snapshot while the original goes on applying.
#[derive(Debug, Clone)]
pub struct Tree {
    pub(crate) config: TreeConfig,
    nodes: NodeSlab,
    free: Vec<NodeId>,
    node_count: usize,
    pub(crate) acls: AclTable,
    pub(crate) sessions: BTreeMap<i64, Session>,
    pub(crate) containers: BTreeSet<String>,
    pub(crate) ttls: BTreeSet<String>,
    pub(crate) last_zxid: i64,
    digest: u64,
    /// Sum of path and data lengths over every node, kept in step with them (`mntr`
    /// reports it; summing it on request took the server's lock for a walk of the tree).
    data_size: u64,
    /// Before-images of the multi being applied, if any.
    pub(crate) undo: Option<Vec<Image>>,
}

pub(crate) const ROOT: NodeId = 0;

impl Tree {
    /// A fresh tree: `/`, `/zookeeper`, `/zookeeper/quota` and `/zookeeper/config`, as a
    /// new ZooKeeper server has them.
    pub fn new(config: TreeConfig) -> Self {
        let mut tree = Self::empty(config);
        let open = tree.acls.acquire(&Acl::open_unsafe());
        tree.nodes.push(Some(Znode::new(
            StoredStat::default(),
            Some(Box::new([])),
            open,
        )));
        tree.node_count = 1;
        tree.digest = node_hash("/", &StoredStat::default(), Some(&[]));
        tree.data_size = node_size("/".len(), 0);
        for path in ["/zookeeper", "/zookeeper/quota"] {
            let acl = tree.acls.acquire(&Acl::open_unsafe());
            tree.insert_internal(path, StoredStat::default(), acl);
        }
        let read_only = tree.acls.acquire(&Acl::read_unsafe());
        let config_stat = StoredStat {
            aversion: -1,
            ..StoredStat::default()
        };
        tree.insert_internal("/zookeeper/config", config_stat, read_only);
        tree
    }

    /// A tree with no nodes at all, to be filled by a snapshot load.
    pub(crate) fn empty(config: TreeConfig) -> Self {
        Self {
            config,
            nodes: NodeSlab::default(),
            free: Vec::new(),
            node_count: 0,
            acls: AclTable::default(),
            sessions: BTreeMap::new(),
            containers: BTreeSet::new(),
            ttls: BTreeSet::new(),
            last_zxid: 0,
            digest: 0,
            data_size: 0,
            undo: None,
        }
    }

    fn insert_internal(&mut self, path: &str, stat: StoredStat, acl: u32) {
        let (parent, name) = path::split(path).unwrap_or(("/", ""));
        let parent_id = self.lookup(parent).unwrap_or(ROOT);
        self.insert_node(
            path,
            parent_id,
            name,
            Znode::new(stat, Some(Box::new([])), acl),
        );
    }

    /// The settings this tree was built with.
    pub fn config(&self) -> &TreeConfig {
        &self.config
    }

    /// zxid of the last applied entry (0 for a fresh tree).
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }

    /// Fingerprint of the whole state; equal on replicas that applied the same entries.
    pub fn digest(&self) -> u64 {
        self.digest
    }

    /// Number of znodes, the root included.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The sessions table.
    pub fn sessions(&self) -> &BTreeMap<i64, Session> {
        &self.sessions
    }

    /// One session, if it exists.
    pub fn session(&self, id: i64) -> Option<&Session> {
        self.sessions.get(&id)
    }

    /// Number of ephemeral znodes across all sessions.
    pub fn ephemeral_count(&self) -> usize {
        self.sessions.values().map(|s| s.ephemerals.len()).sum()
    }

    /// Sum of path and data lengths, like ZooKeeper's `approximateDataSize`.
    pub fn approximate_data_size(&self) -> u64 {
        self.data_size
    }

    /// The client-visible stat of `path`, if it exists.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.node(path).map(Znode::client_stat)
    }

    /// Whether `path` exists.
    pub fn exists(&self, path: &str) -> bool {
        self.lookup(path).is_some()
    }

    /// Paths of container nodes, for the reaper.
    pub fn containers(&self) -> &BTreeSet<String> {
        &self.containers
    }

    /// Paths of TTL nodes, for the reaper.
    pub fn ttl_nodes(&self) -> &BTreeSet<String> {
        &self.ttls
    }

    /// The node at exactly `path`. Non-canonical spellings ("/a/", "/a//b", "") name no
    /// node, as in ZooKeeper's path-keyed map; "" is ZooKeeper's alias of the root.
    pub(crate) fn lookup(&self, path: &str) -> Option<NodeId> {
        if self.nodes.is_empty() {
            return None;
        }
        if path == "/" || path.is_empty() {
            return Some(ROOT);
        }
        let rest = path.strip_prefix('/')?;
        let mut id = ROOT;
        for name in rest.split('/') {
            if name.is_empty() {
                return None;
            }
            id = self.get(id)?.children.as_ref()?.get(name)?;
        }
        Some(id)
    }

    pub(crate) fn get(&self, id: NodeId) -> Option<&Znode> {
        self.nodes.get(id as usize)
    }

    pub(crate) fn get_mut(&mut self, id: NodeId) -> Option<&mut Znode> {
        self.nodes.slot_mut(id as usize)?.as_mut()
    }

    pub(crate) fn node(&self, path: &str) -> Option<&Znode> {
        self.get(self.lookup(path)?)
    }

    /// Visits every node depth-first in name order, parents before children.
    pub(crate) fn walk(&self, mut visit: impl FnMut(&str, &Znode)) {
        let Some(root) = self.get(ROOT) else { return };
        visit("/", root);
        let mut stack: Vec<(String, NodeId)> = Vec::new();
        let push_children = |stack: &mut Vec<(String, NodeId)>, parent: &str, node: &Znode| {
            if let Some(children) = &node.children {
                for (name, id) in children.iter().rev() {
                    stack.push((path::join(parent, name), *id));
                }
            }
        };
        push_children(&mut stack, "/", root);
        while let Some((path, id)) = stack.pop() {
            if let Some(node) = self.get(id) {
                visit(&path, node);
                push_children(&mut stack, &path, node);
            }
        }
    }

    /// Visits every node depth-first in name order with only its own name (the root's
    /// is empty): no path is built, so a snapshot of a million nodes allocates nothing.
    pub(crate) fn walk_named(&self, mut visit: impl FnMut(&str, &Znode)) {
        let Some(root) = self.get(ROOT) else { return };
        visit("", root);
        let mut stack: Vec<crate::children::Iter<'_>> = Vec::new();
        if let Some(children) = &root.children {
            stack.push(children.iter());
        }
        while let Some(top) = stack.last_mut() {
            let Some((name, id)) = top.next() else {
                stack.pop();
                continue;
            };
            if let Some(node) = self.get(*id) {
                visit(name, node);
                if let Some(children) = &node.children {
                    stack.push(children.iter());
                }
            }
        }
    }

    fn record_undo(&mut self, path: &str) {
        if self.undo.is_none() {
            return;
        }
        let image = self.node(path).map(|node| NodeImage {
            stat: node.stat,
            data: node.data.clone(),
            acl: self.acls.get(node.acl).to_vec(),
        });
        if let Some(undo) = self.undo.as_mut() {
            undo.push((path.to_owned(), image));
        }
    }

    /// Adds `node` as child `name` of `parent_id` (whose path `path` ends in `name`). The
    /// node's ACL reference must already be acquired. Keeps indexes and digest.
    pub(crate) fn insert_node(
        &mut self,
        path: &str,
        parent_id: NodeId,
        name: &str,
        node: Znode,
    ) -> NodeId {
        self.record_undo(path);
        let id = self.place_node(path, node);
        if let Some(parent) = self.get_mut(parent_id) {
            Arc::make_mut(parent.children.get_or_insert_with(Default::default))
                .insert(ChildName::new(name), id);
        }
        id
    }

    /// Stores `node` (at `path`) without linking it to a parent, keeping indexes and
    /// digest: [`Tree::insert_node`] links it; a snapshot load links whole sibling lists
    /// at once with [`Tree::set_children`].
    pub(crate) fn place_node(&mut self, path: &str, node: Znode) -> NodeId {
        self.digest = self
            .digest
            .wrapping_add(node_hash(path, &node.stat, node.data.as_deref()));
        self.place_hashed(path.len(), Some(path), node)
    }

    /// [`Tree::place_node`] for a node whose digest term the caller adds itself (a
    /// snapshot load sums them as it decodes). `path` may be left out for a node
    /// without an owner: only the owners' indexes keep paths.
    pub(crate) fn place_hashed(
        &mut self,
        path_len: usize,
        path: Option<&str>,
        node: Znode,
    ) -> NodeId {
        self.data_size += node_size(path_len, node.data_len());
        if let Some(path) = path {
            self.index_owner(path, node.stat.owner(), true);
        }
        let id = match self.free.pop() {
            Some(id) => {
                if let Some(slot) = self.nodes.slot_mut(id as usize) {
                    *slot = Some(node);
                }
                id
            }
            None => {
                self.nodes.push(Some(node));
                NodeId::try_from(self.nodes.len() - 1).unwrap_or(NodeId::MAX)
            }
        };
        self.node_count += 1;
        id
    }

    /// Gives node `id` its complete list of children (placed with [`Tree::place_node`]).
    pub(crate) fn set_children(&mut self, id: NodeId, children: Children) {
        if let Some(node) = self.get_mut(id) {
            node.children = (!children.is_empty()).then(|| Arc::new(children));
        }
    }

    /// Removes the childless node `name` under `parent_id` and returns it; the caller
    /// releases its ACL reference. Keeps indexes and digest.
    pub(crate) fn remove_node(
        &mut self,
        path: &str,
        parent_id: NodeId,
        name: &str,
    ) -> Option<Znode> {
        self.record_undo(path);
        let parent = self.get_mut(parent_id)?;
        let children = Arc::make_mut(parent.children.as_mut()?);
        let id = children.remove(name)?;
        if children.is_empty() {
            parent.children = None;
        }
        let node = self.nodes.slot_mut(id as usize)?.take()?;
        assert!(node.children.is_none(), "removed {path} with children");
        self.free.push(id);
        self.node_count -= 1;
        self.index_owner(path, node.stat.owner(), false);
        self.digest = self
            .digest
            .wrapping_sub(node_hash(path, &node.stat, node.data.as_deref()));
        self.data_size = self
            .data_size
            .saturating_sub(node_size(path.len(), node.data_len()));
        Some(node)
    }

    /// Changes the node at `id` (path `path`) through `change`, keeping the digest and
    /// data size. `change` must not alter the owner or children.
    pub(crate) fn update_node(&mut self, id: NodeId, path: &str, change: impl FnOnce(&mut Znode)) {
        self.record_undo(path);
        let Some(node) = self.nodes.slot_mut(id as usize).and_then(Option::as_mut) else {
            return;
        };
        let path_crc = path_hash(path);
        let before = node_hash_at(path_crc, &node.stat, node.data.as_deref());
        let len_before = node.data_len() as u64;
        change(node);
        let after = node_hash_at(path_crc, &node.stat, node.data.as_deref());
        self.digest = self.digest.wrapping_sub(before).wrapping_add(after);
        self.data_size = (self.data_size + node.data_len() as u64).saturating_sub(len_before);
    }

    fn index_owner(&mut self, path: &str, owner: Owner, add: bool) {
        let set = match owner {
            Owner::None => return,
            Owner::Container => &mut self.containers,
            Owner::Ttl(_) => &mut self.ttls,
            Owner::Session(id) => match self.sessions.get_mut(&id) {
                Some(session) => &mut session.ephemerals,
                None => return,
            },
        };
        if add {
            set.insert(path.to_owned());
        } else {
            set.remove(path);
        }
    }

    /// Adds a session to the table, keeping the digest.
    pub(crate) fn insert_session(&mut self, id: i64, session: Session) {
        self.digest = self
            .digest
            .wrapping_add(session_hash(id, session.timeout_ms, session.owner));
        self.sessions.insert(id, session);
    }

    /// Removes a session (its ephemerals must be gone), keeping the digest.
    pub(crate) fn remove_session(&mut self, id: i64) -> Option<Session> {
        let session = self.sessions.remove(&id)?;
        self.digest = self
            .digest
            .wrapping_sub(session_hash(id, session.timeout_ms, session.owner));
        Some(session)
    }

    /// Changes a session's owner, keeping the digest.
    pub(crate) fn set_session_owner(&mut self, id: i64, timeout_ms: i32, owner: u64) {
        if let Some(session) = self.sessions.get_mut(&id) {
            self.digest = self
                .digest
                .wrapping_sub(session_hash(id, timeout_ms, session.owner))
                .wrapping_add(session_hash(id, timeout_ms, owner));
            session.owner = owner;
        }
    }

    /// Puts back the before-images recorded by a failed multi, newest first.
    pub(crate) fn roll_back(&mut self, images: Vec<Image>) {
        for (path, image) in images.into_iter().rev() {
            let current = self.lookup(&path);
            let parent =
                path::split(&path).and_then(|(parent, name)| Some((self.lookup(parent)?, name)));
            match (current, image, parent) {
                (Some(_), None, Some((parent_id, name))) => {
                    if let Some(node) = self.remove_node(&path, parent_id, name) {
                        self.acls.release(node.acl);
                    }
                }
                (None, Some(image), Some((parent_id, name))) => {
                    let acl = self.acls.acquire(&image.acl);
                    self.insert_node(
                        &path,
                        parent_id,
                        name,
                        Znode::new(image.stat, image.data, acl),
                    );
                }
                (Some(id), Some(image), _) => {
                    let acl = self.acls.acquire(&image.acl);
                    let mut old_acl = acl;
                    self.update_node(id, &path, |node| {
                        old_acl = node.acl;
                        node.stat = image.stat;
                        node.data = image.data;
                        node.acl = acl;
                    });
                    self.acls.release(old_acl);
                }
                _ => {}
            }
        }
    }

    /// Checks the structural invariants; panics with a description if one is broken.
    /// Meant for tests and for snapshot loading, not for the hot path.
    pub fn check_invariants(&self) {
        let mut count = 0;
        let mut digest = 0u64;
        let mut data_size = 0u64;
        let mut ephemerals: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
        let mut containers = BTreeSet::new();
        let mut ttls = BTreeSet::new();
        self.walk(|path, node| {
            count += 1;
            digest = digest.wrapping_add(node_hash(path, &node.stat, node.data.as_deref()));
            data_size += node_size(path.len(), node.data_len());
            assert!(
                node.stat.pzxid <= self.last_zxid.max(0),
                "{path}: pzxid {} beyond last zxid {}",
                node.stat.pzxid,
                self.last_zxid
            );
            match node.stat.owner() {
                Owner::Session(id) => {
                    assert!(
                        self.sessions.contains_key(&id),
                        "{path}: owner {id:#x} is not a live session"
                    );
                    assert!(node.children.is_none(), "{path}: ephemeral with children");
                    ephemerals.entry(id).or_default().insert(path.to_owned());
                }
                Owner::Container => {
                    containers.insert(path.to_owned());
                }
                Owner::Ttl(_) => {
                    ttls.insert(path.to_owned());
                }
                Owner::None => {}
            }
            assert!(
                !self.acls.get(node.acl).is_empty() || path == "/",
                "{path}: no ACL"
            );
        });
        for (id, session) in &self.sessions {
            digest = digest.wrapping_add(session_hash(*id, session.timeout_ms, session.owner));
            let expected = ephemerals.remove(id).unwrap_or_default();
            assert_eq!(session.ephemerals, expected, "ephemerals index of {id:#x}");
        }
        assert_eq!(count, self.node_count, "node count");
        assert_eq!(containers, self.containers, "containers index");
        assert_eq!(ttls, self.ttls, "ttl index");
        assert_eq!(digest, self.digest, "digest");
        assert_eq!(data_size, self.data_size, "data size");
    }
}

/// What a node adds to [`Tree::approximate_data_size`]: its path and data, as ZooKeeper
/// counts them.
fn node_size(path_len: usize, data_len: usize) -> u64 {
    (path_len + data_len) as u64
}

impl Default for Tree {
    fn default() -> Self {
        Self::new(TreeConfig::default())
    }
}

impl Tree {
    /// Installs the root of a tree being loaded from a snapshot; as with
    /// [`Tree::place_hashed`], the loader adds its digest term.
    pub(crate) fn insert_root(&mut self, node: Znode) {
        debug_assert!(self.nodes.is_empty());
        self.data_size = node_size("/".len(), node.data_len());
        self.nodes.push(Some(node));
        self.node_count = 1;
    }

    /// Adds the digest terms a snapshot load summed for the nodes it placed.
    pub(crate) fn add_digest_terms(&mut self, sum: u64) {
        self.digest = self.digest.wrapping_add(sum);
    }
}
