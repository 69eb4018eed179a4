//! The children of one znode: names in order, each with its node, in a map whose copy
//! stays cheap however many children there are.
//!
//! Why: a snapshot freezes the tree by cloning it (a reference count per 64 znodes), and
//! the first change to a child list while that clone lives copies the list. One
//! directory with millions of children — a queue, a registry, a sequential-node parent —
//! made that copy the longest thing the server did: a create under a parent of about six
//! million children took 0.51 s with a frozen clone alive (`cargo bench -p paddock-tree
//! --bench tree -- apply_create_after_freeze`). So a long list is kept as shared runs of
//! consecutive names: the copy costs a reference per run and the one run changed. A short
//! list stays one plain map, which is smaller, and its copy is bounded anyway.

use std::collections::BTreeMap;
use std::collections::btree_map;
use std::iter::FlatMap;
use std::ops::Bound;
use std::sync::Arc;

use crate::node::{ChildName, NodeId};

/// Lists longer than this are kept in runs.
const FLAT_MAX: usize = 1024;
/// A run longer than this is split in two.
const RUN_MAX: usize = 1024;
/// Runs are cut at this length when a list turns into runs: half full, so inserts
/// spread before the first split.
const RUN_FILL: usize = RUN_MAX / 2;

type Run = BTreeMap<ChildName, NodeId>;

/// The children of one znode, sorted by name so every replica lists them alike.
#[derive(Debug, Clone)]
pub(crate) enum Children {
    /// Up to [`FLAT_MAX`] children.
    Flat(Run),
    /// More than half of [`FLAT_MAX`] children (a list that grew past it is one map again
    /// once it shrinks to half), in runs of consecutive names, each keyed by its first
    /// name; none is empty.
    Runs {
        runs: BTreeMap<ChildName, Arc<Run>>,
        len: usize,
    },
}

impl Default for Children {
    fn default() -> Self {
        Self::Flat(Run::new())
    }
}

impl Children {
    /// How many children.
    pub fn len(&self) -> usize {
        match self {
            Self::Flat(run) => run.len(),
            Self::Runs { len, .. } => *len,
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The node of child `name`.
    pub fn get(&self, name: &str) -> Option<NodeId> {
        match self {
            Self::Flat(run) => run.get(name).copied(),
            Self::Runs { runs, .. } => {
                let (_, run) = run_holding(runs, name)?;
                run.get(name).copied()
            }
        }
    }

    /// Children in name order (and backwards: the iterator is double-ended).
    pub fn iter(&self) -> Iter<'_> {
        match self {
            Self::Flat(run) => Iter::Flat(run.iter()),
            Self::Runs { runs, .. } => Iter::Runs(runs.values().flat_map(run_iter)),
        }
    }

    /// Child names in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &ChildName> {
        self.iter().map(|(name, _)| name)
    }

    /// Child nodes in name order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &NodeId> {
        self.iter().map(|(_, id)| id)
    }

    /// Adds (or replaces) child `name`; returns the node it replaced.
    pub fn insert(&mut self, name: ChildName, id: NodeId) -> Option<NodeId> {
        match self {
            Self::Flat(run) => {
                let replaced = run.insert(name, id);
                if run.len() > FLAT_MAX {
                    // Cut into half-full runs.
                    *self = std::mem::take(run).into_iter().collect();
                }
                replaced
            }
            Self::Runs { runs, len } => {
                let (replaced, split) = match run_holding_mut(runs, &name) {
                    Some(run) => {
                        let run = Arc::make_mut(run);
                        let replaced = run.insert(name, id);
                        (replaced, split_if_long(run))
                    }
                    // Before every run: into the first, which gets a new first name.
                    None => {
                        let mut run = runs.pop_first().map(|(_, run)| run).unwrap_or_default();
                        let replaced = Arc::make_mut(&mut run).insert(name, id);
                        let split = split_if_long(Arc::make_mut(&mut run));
                        file(runs, run);
                        (replaced, split)
                    }
                };
                if let Some((first, upper)) = split {
                    runs.insert(first, Arc::new(upper));
                }
                if replaced.is_none() {
                    *len += 1;
                }
                replaced
            }
        }
    }

    /// Removes child `name`; returns its node.
    pub fn remove(&mut self, name: &str) -> Option<NodeId> {
        match self {
            Self::Flat(run) => run.remove(name),
            Self::Runs { runs, len } => {
                let (first, run) = run_holding(runs, name)?;
                // Checked first: a run shared with a frozen tree is copied only to change.
                if !run.contains_key(name) {
                    return None;
                }
                let refile = (first.as_str() == name).then(|| first.clone());
                let removed = match refile {
                    // Its first name goes: filed again under the next one (or dropped).
                    Some(first) => {
                        let mut run = runs.remove(&first)?;
                        let removed = Arc::make_mut(&mut run).remove(name);
                        file(runs, run);
                        removed
                    }
                    None => Arc::make_mut(run_holding_mut(runs, name)?).remove(name),
                };
                *len -= 1;
                if *len <= FLAT_MAX / 2 {
                    *self = Self::Flat(self.iter().map(|(k, v)| (k.clone(), *v)).collect());
                }
                removed
            }
        }
    }
}

impl FromIterator<(ChildName, NodeId)> for Children {
    fn from_iter<I: IntoIterator<Item = (ChildName, NodeId)>>(iter: I) -> Self {
        let mut all: Vec<(ChildName, NodeId)> = iter.into_iter().collect();
        if !all.is_sorted_by(|a, b| a.0 < b.0) {
            // Sorted, the last of equal names kept, as a map built from them would.
            all = all.into_iter().collect::<Run>().into_iter().collect();
        }
        if all.len() <= FLAT_MAX {
            return Self::Flat(all.into_iter().collect());
        }
        // A snapshot lists children in order: each run is built from its slice at once.
        let len = all.len();
        let mut runs = BTreeMap::new();
        let mut all = all.into_iter().peekable();
        while all.peek().is_some() {
            let run: Run = all.by_ref().take(RUN_FILL).collect();
            file(&mut runs, Arc::new(run));
        }
        Self::Runs { runs, len }
    }
}

/// The run whose first name is the greatest not after `name`: the only one that can
/// hold it.
fn run_holding<'a>(
    runs: &'a BTreeMap<ChildName, Arc<Run>>,
    name: &str,
) -> Option<(&'a ChildName, &'a Arc<Run>)> {
    runs.range::<str, _>((Bound::Unbounded, Bound::Included(name)))
        .next_back()
}

/// The same run as [`run_holding`], to change.
fn run_holding_mut<'a>(
    runs: &'a mut BTreeMap<ChildName, Arc<Run>>,
    name: &str,
) -> Option<&'a mut Arc<Run>> {
    runs.range_mut::<str, _>((Bound::Unbounded, Bound::Included(name)))
        .next_back()
        .map(|(_, run)| run)
}

/// Cuts the upper half off a run grown too long: that half and its first name.
fn split_if_long(run: &mut Run) -> Option<(ChildName, Run)> {
    if run.len() <= RUN_MAX {
        return None;
    }
    let middle = run.keys().nth(run.len() / 2)?.clone();
    let upper = run.split_off(&middle);
    Some((middle, upper))
}

/// Files `run` under its first name; an empty run is dropped.
fn file(runs: &mut BTreeMap<ChildName, Arc<Run>>, run: Arc<Run>) {
    if let Some(first) = run.keys().next().cloned() {
        runs.insert(first, run);
    }
}

type RunIter<'a> = btree_map::Iter<'a, ChildName, NodeId>;

fn run_iter(run: &Arc<Run>) -> RunIter<'_> {
    run.iter()
}

/// Every run's children in turn.
type RunsIter<'a> = FlatMap<
    btree_map::Values<'a, ChildName, Arc<Run>>,
    RunIter<'a>,
    fn(&'a Arc<Run>) -> RunIter<'a>,
>;

/// Children in name order; see [`Children::iter`].
pub(crate) enum Iter<'a> {
    Flat(RunIter<'a>),
    Runs(RunsIter<'a>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a ChildName, &'a NodeId);

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Flat(iter) => iter.next(),
            Self::Runs(iter) => iter.next(),
        }
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        match self {
            Self::Flat(iter) => iter.next_back(),
            Self::Runs(iter) => iter.next_back(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn name(i: u32) -> ChildName {
        ChildName::new(format!("n{i:06}"))
    }

    fn check(children: &Children, model: &Run) {
        assert_eq!(children.len(), model.len());
        assert!(children.iter().eq(model.iter()));
        assert!(children.iter().rev().eq(model.iter().rev()));
        if let Children::Runs { runs, .. } = children {
            for (first, run) in runs {
                assert_eq!(
                    run.keys().next(),
                    Some(first),
                    "a run is keyed by its first name"
                );
                assert!(run.len() <= RUN_MAX);
            }
        }
    }

    #[test]
    fn a_long_list_turns_into_runs_and_back() {
        let mut children = Children::default();
        let mut model = Run::new();
        for i in 0..5_000 {
            let n = (i * 7_919) % 5_000;
            assert_eq!(children.insert(name(n), n), model.insert(name(n), n));
        }
        assert!(matches!(children, Children::Runs { .. }));
        check(&children, &model);
        for i in 0..4_800 {
            assert_eq!(children.remove(&name(i)), model.remove(name(i).as_str()));
        }
        assert!(matches!(children, Children::Flat(_)));
        check(&children, &model);
    }

    #[test]
    fn a_clone_shares_runs_and_keeps_its_own_state() {
        let mut children: Children = (0..10_000).map(|i| (name(i * 2), i)).collect();
        let frozen = children.clone();
        children.insert(name(1), 77);
        children.remove(&name(400));
        assert_eq!(frozen.get(&name(1)), None);
        assert_eq!(frozen.get(&name(400)), Some(200));
        assert_eq!(children.get(&name(1)), Some(77));
        assert_eq!(children.get(&name(400)), None);
        let (Children::Runs { runs: now, .. }, Children::Runs { runs: then, .. }) =
            (&children, &frozen)
        else {
            panic!("10,000 children are kept in runs");
        };
        let shared = now
            .values()
            .filter(|run| then.values().any(|old| Arc::ptr_eq(run, old)))
            .count();
        assert_eq!(shared, now.len() - 1, "only the run changed was copied");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn behaves_like_an_ordered_map(
            ops in proptest::collection::vec((0u8..3, 0u32..3_000), 0..6_000),
        ) {
            // Two inserts to a removal: lists grow past the flat limit and shrink back.
            let mut children = Children::default();
            let mut model = Run::new();
            for (op, n) in ops {
                let name = name(n);
                if op != 0 {
                    prop_assert_eq!(children.insert(name.clone(), n), model.insert(name.clone(), n));
                } else {
                    prop_assert_eq!(children.remove(&name), model.remove(name.as_str()));
                }
                prop_assert_eq!(children.get(&name), model.get(name.as_str()).copied());
            }
            check(&children, &model);
        }
    }
}
