//! The server-local watch table: which connection watches which path, and how a change
//! reported by the tree becomes notifications.
//!
//! One-shot data/exist and child watches are removed by firing; persistent and
//! persistent-recursive watches (addWatch) stay until removed. A connection hears of one
//! change at most once even when several of its watches match. Recursive watches match
//! by whole path components and never hear NodeChildrenChanged.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use paddock_jute::{EventType, WatcherType};
use paddock_tree::Trigger;
use paddock_tree::path;

/// Identifies one client connection on this server.
pub type ConnId = u64;

/// The kinds of watch a connection can hold on a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WatchKind {
    /// One-shot data watch (getData, or exists on an existing node).
    Data,
    /// One-shot exist watch (exists on a missing node); fires NodeCreated.
    Exist,
    /// One-shot child watch (getChildren).
    Child,
    /// addWatch PERSISTENT.
    Persistent,
    /// addWatch PERSISTENT_RECURSIVE.
    PersistentRecursive,
}

const KINDS: [WatchKind; 5] = [
    WatchKind::Data,
    WatchKind::Exist,
    WatchKind::Child,
    WatchKind::Persistent,
    WatchKind::PersistentRecursive,
];

type Watchers = HashMap<Arc<str>, HashSet<ConnId>>;

/// Every watch held on this server.
#[derive(Debug, Default)]
pub struct WatchTable {
    by_kind: [Watchers; 5],
    by_conn: HashMap<ConnId, HashSet<(WatchKind, Arc<str>)>>,
    /// Interned paths, so ten thousand watchers of one node share one string.
    paths: HashMap<Arc<str>, usize>,
}

fn slot(kind: WatchKind) -> usize {
    match kind {
        WatchKind::Data => 0,
        WatchKind::Exist => 1,
        WatchKind::Child => 2,
        WatchKind::Persistent => 3,
        WatchKind::PersistentRecursive => 4,
    }
}

impl WatchTable {
    fn intern(&mut self, path: &str) -> Arc<str> {
        match self.paths.get_key_value(path) {
            Some((interned, _)) => {
                let interned = interned.clone();
                if let Some(count) = self.paths.get_mut(path) {
                    *count += 1;
                }
                interned
            }
            None => {
                let interned: Arc<str> = Arc::from(path);
                self.paths.insert(interned.clone(), 1);
                interned
            }
        }
    }

    fn release(&mut self, path: &str) {
        if let Some(count) = self.paths.get_mut(path) {
            *count -= 1;
            if *count == 0 {
                self.paths.remove(path);
            }
        }
    }

    /// Adds a watch. A one-shot watch on a path where the connection holds a persistent
    /// one replaces it, as ZooKeeper keeps one mode per connection and path.
    pub fn add(&mut self, conn: ConnId, path: &str, kind: WatchKind) {
        if matches!(kind, WatchKind::Data | WatchKind::Exist | WatchKind::Child) {
            self.remove(conn, path, WatchKind::Persistent);
            self.remove(conn, path, WatchKind::PersistentRecursive);
        }
        if matches!(kind, WatchKind::PersistentRecursive) {
            self.remove(conn, path, WatchKind::Persistent);
        }
        let path = self.intern(path);
        let inserted = self.by_kind[slot(kind)]
            .entry(path.clone())
            .or_default()
            .insert(conn);
        if inserted {
            self.by_conn.entry(conn).or_default().insert((kind, path));
        } else {
            self.release(&path);
        }
    }

    /// Removes one watch; true if it existed.
    pub fn remove(&mut self, conn: ConnId, path: &str, kind: WatchKind) -> bool {
        let watchers = &mut self.by_kind[slot(kind)];
        let Some(set) = watchers.get_mut(path) else {
            return false;
        };
        if !set.remove(&conn) {
            return false;
        }
        if set.is_empty() {
            watchers.remove(path);
        }
        if let Some(mine) = self.by_conn.get_mut(&conn) {
            mine.retain(|(k, p)| !(*k == kind && &**p == path));
            if mine.is_empty() {
                self.by_conn.remove(&conn);
            }
        }
        self.release(path);
        true
    }

    /// Whether `conn` holds a watch on `path` of a kind `watcher_type` selects
    /// (checkWatches / removeWatches).
    pub fn has(&self, conn: ConnId, path: &str, watcher_type: WatcherType) -> bool {
        kinds_of(watcher_type).iter().any(|kind| {
            self.by_kind[slot(*kind)]
                .get(path)
                .is_some_and(|s| s.contains(&conn))
        })
    }

    /// Removes `conn`'s watches on `path` selected by `watcher_type`; true if any.
    pub fn remove_type(&mut self, conn: ConnId, path: &str, watcher_type: WatcherType) -> bool {
        let mut any = false;
        for kind in kinds_of(watcher_type) {
            any |= self.remove(conn, path, *kind);
        }
        any
    }

    /// Drops every watch of a closed connection.
    pub fn remove_connection(&mut self, conn: ConnId) {
        let Some(mine) = self.by_conn.remove(&conn) else {
            return;
        };
        for (kind, path) in mine {
            let watchers = &mut self.by_kind[slot(kind)];
            if let Some(set) = watchers.get_mut(&*path) {
                set.remove(&conn);
                if set.is_empty() {
                    watchers.remove(&*path);
                }
            }
            self.release(&path);
        }
    }

    /// The connections to notify of `trigger`, each with the event it hears, in a
    /// deterministic order. One-shot watches that fire are removed.
    pub fn fire(&mut self, trigger: &Trigger) -> Vec<(ConnId, EventType)> {
        let one_shot: &[WatchKind] = match trigger.event {
            EventType::NodeCreated | EventType::NodeDataChanged => {
                &[WatchKind::Data, WatchKind::Exist]
            }
            EventType::NodeDeleted => &[WatchKind::Data, WatchKind::Exist, WatchKind::Child],
            EventType::NodeChildrenChanged => &[WatchKind::Child],
            _ => &[],
        };
        let mut notified: Vec<ConnId> = Vec::new();
        let mut seen: HashSet<ConnId> = HashSet::new();
        let mut take = |conns: &mut dyn Iterator<Item = ConnId>, notified: &mut Vec<ConnId>| {
            for conn in conns {
                if seen.insert(conn) {
                    notified.push(conn);
                }
            }
        };
        for kind in one_shot {
            if let Some(set) = self.by_kind[slot(*kind)].remove(trigger.path.as_str()) {
                let mut conns: Vec<ConnId> = set.into_iter().collect();
                conns.sort_unstable();
                for conn in &conns {
                    if let Some(mine) = self.by_conn.get_mut(conn) {
                        mine.retain(|(k, p)| !(*k == *kind && **p == *trigger.path));
                        if mine.is_empty() {
                            self.by_conn.remove(conn);
                        }
                    }
                }
                for _ in &conns {
                    self.release(&trigger.path);
                }
                take(&mut conns.into_iter(), &mut notified);
            }
        }
        if let Some(set) = self.by_kind[slot(WatchKind::Persistent)].get(trigger.path.as_str()) {
            let mut conns: Vec<ConnId> = set.iter().copied().collect();
            conns.sort_unstable();
            take(&mut conns.into_iter(), &mut notified);
        }
        let recursive = &self.by_kind[slot(WatchKind::PersistentRecursive)];
        if trigger.event != EventType::NodeChildrenChanged && !recursive.is_empty() {
            for ancestor in ancestors_and_self(&trigger.path) {
                if let Some(set) = recursive.get(ancestor) {
                    let mut conns: Vec<ConnId> = set.iter().copied().collect();
                    conns.sort_unstable();
                    take(&mut conns.into_iter(), &mut notified);
                }
            }
        }
        notified
            .into_iter()
            .map(|conn| (conn, trigger.event))
            .collect()
    }

    /// Total watches held.
    pub fn count(&self) -> usize {
        self.by_kind
            .iter()
            .flat_map(|w| w.values())
            .map(HashSet::len)
            .sum()
    }

    /// Number of connections holding at least one watch.
    pub fn connections(&self) -> usize {
        self.by_conn.len()
    }

    /// Number of distinct watched paths.
    pub fn paths(&self) -> usize {
        self.paths.len()
    }

    /// Paths watched by each connection, sorted (`wchc`).
    pub fn by_connection(&self) -> Vec<(ConnId, Vec<String>)> {
        let mut out: Vec<(ConnId, Vec<String>)> = self
            .by_conn
            .iter()
            .map(|(conn, watches)| {
                let mut paths: Vec<String> = watches.iter().map(|(_, p)| p.to_string()).collect();
                paths.sort();
                paths.dedup();
                (*conn, paths)
            })
            .collect();
        out.sort();
        out
    }

    /// Connections watching each path, sorted (`wchp`).
    pub fn by_path(&self) -> Vec<(String, Vec<ConnId>)> {
        let mut map: HashMap<&str, HashSet<ConnId>> = HashMap::new();
        for kind in KINDS {
            for (path, conns) in &self.by_kind[slot(kind)] {
                map.entry(path).or_default().extend(conns);
            }
        }
        let mut out: Vec<(String, Vec<ConnId>)> = map
            .into_iter()
            .map(|(path, conns)| {
                let mut conns: Vec<ConnId> = conns.into_iter().collect();
                conns.sort_unstable();
                (path.to_owned(), conns)
            })
            .collect();
        out.sort();
        out
    }
}

fn kinds_of(watcher_type: WatcherType) -> &'static [WatchKind] {
    match watcher_type {
        WatcherType::Children => &[WatchKind::Child],
        WatcherType::Data => &[WatchKind::Data, WatchKind::Exist],
        WatcherType::Persistent => &[WatchKind::Persistent],
        WatcherType::PersistentRecursive => &[WatchKind::PersistentRecursive],
        WatcherType::Any => &KINDS,
    }
}

/// `/a/b/c`, `/a/b`, `/a`, `/`.
fn ancestors_and_self(path: &str) -> impl Iterator<Item = &str> {
    let mut next = Some(path);
    std::iter::from_fn(move || {
        let current = next?;
        next = path::split(current).map(|(parent, _)| parent);
        Some(current)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trigger(event: EventType, path: &str) -> Trigger {
        Trigger {
            event,
            path: path.into(),
        }
    }

    #[test]
    fn one_shot_watches_fire_once() {
        let mut table = WatchTable::default();
        table.add(1, "/a", WatchKind::Data);
        table.add(2, "/a", WatchKind::Child);
        assert_eq!(
            table.fire(&trigger(EventType::NodeDataChanged, "/a")),
            vec![(1, EventType::NodeDataChanged)]
        );
        assert!(
            table
                .fire(&trigger(EventType::NodeDataChanged, "/a"))
                .is_empty()
        );
        assert_eq!(
            table.fire(&trigger(EventType::NodeDeleted, "/a")),
            vec![(2, EventType::NodeDeleted)],
            "child watch hears the delete"
        );
        assert_eq!(table.count(), 0);
        assert_eq!(table.paths(), 0, "interned paths released");
    }

    #[test]
    fn one_notification_per_connection_per_change() {
        let mut table = WatchTable::default();
        table.add(1, "/a", WatchKind::Data);
        table.add(1, "/a", WatchKind::Child);
        table.add(1, "/", WatchKind::PersistentRecursive);
        assert_eq!(table.fire(&trigger(EventType::NodeDeleted, "/a")).len(), 1);
    }

    #[test]
    fn persistent_and_recursive_rules() {
        let mut table = WatchTable::default();
        table.add(1, "/p", WatchKind::Persistent);
        table.add(2, "/r", WatchKind::PersistentRecursive);
        for _ in 0..2 {
            assert_eq!(
                table.fire(&trigger(EventType::NodeDataChanged, "/p")),
                vec![(1, EventType::NodeDataChanged)]
            );
        }
        assert_eq!(
            table
                .fire(&trigger(EventType::NodeChildrenChanged, "/p"))
                .len(),
            1,
            "persistent hears child changes"
        );
        assert_eq!(
            table.fire(&trigger(EventType::NodeCreated, "/r/x/y")),
            vec![(2, EventType::NodeCreated)]
        );
        assert!(
            table
                .fire(&trigger(EventType::NodeChildrenChanged, "/r"))
                .is_empty(),
            "recursive never hears children changed"
        );
        assert!(
            table
                .fire(&trigger(EventType::NodeCreated, "/rx"))
                .is_empty(),
            "components, not string prefix"
        );
        assert_eq!(table.fire(&trigger(EventType::NodeDeleted, "/p")).len(), 1);
        assert_eq!(
            table.fire(&trigger(EventType::NodeCreated, "/p")).len(),
            1,
            "survives deletion"
        );
    }

    #[test]
    fn removal_and_checks() {
        let mut table = WatchTable::default();
        table.add(1, "/a", WatchKind::Data);
        table.add(1, "/b", WatchKind::Persistent);
        assert!(table.has(1, "/a", WatcherType::Data));
        assert!(!table.has(1, "/a", WatcherType::Children));
        assert!(table.remove_type(1, "/a", WatcherType::Any));
        assert!(!table.remove_type(1, "/a", WatcherType::Any));
        table.add(1, "/b", WatchKind::Data);
        assert!(
            !table.has(1, "/b", WatcherType::Persistent),
            "one-shot replaces persistent"
        );
        table.remove_connection(1);
        assert_eq!(
            (table.count(), table.connections(), table.paths()),
            (0, 0, 0)
        );
    }

    #[test]
    fn ten_thousand_watchers_share_one_path() {
        let mut table = WatchTable::default();
        for conn in 0..10_000 {
            table.add(conn, "/hot", WatchKind::Data);
        }
        assert_eq!(table.paths(), 1);
        assert_eq!(
            table
                .fire(&trigger(EventType::NodeDataChanged, "/hot"))
                .len(),
            10_000
        );
        assert_eq!(table.count(), 0);
    }
}
