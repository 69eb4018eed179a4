//! Znode storage by id that copies in O(nodes / 64): fixed-size chunks shared between
//! copies and copied on the first write after a copy was taken.
//!
//! A snapshot needs the whole tree as of one applied index while the server goes on
//! applying entries. Cloning the tree freezes that state for the cost of one reference
//! count per chunk; the writes that follow copy only the chunks they touch.

use std::sync::Arc;

use crate::node::Znode;

/// Slots per chunk.
const CHUNK: usize = 64;

/// Slots indexed by node id; a slot is empty once its node is removed.
#[derive(Debug, Clone, Default)]
pub(crate) struct NodeSlab {
    chunks: Vec<Arc<Vec<Option<Znode>>>>,
    len: usize,
}

impl NodeSlab {
    /// Number of slots, empty ones included.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when no slot was ever added.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The node in slot `index`, if the slot exists and is full.
    pub fn get(&self, index: usize) -> Option<&Znode> {
        self.chunks.get(index / CHUNK)?.get(index % CHUNK)?.as_ref()
    }

    /// The slot `index` for writing, copying its chunk first if a copy of the slab
    /// still shares it.
    pub fn slot_mut(&mut self, index: usize) -> Option<&mut Option<Znode>> {
        let chunk = self.chunks.get_mut(index / CHUNK)?;
        Arc::make_mut(chunk).get_mut(index % CHUNK)
    }

    /// Adds a slot at the end.
    pub fn push(&mut self, node: Option<Znode>) {
        if self.len.is_multiple_of(CHUNK) {
            self.chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        if let Some(last) = self.chunks.last_mut() {
            Arc::make_mut(last).push(node);
            self.len += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::StoredStat;

    fn node(version: i32) -> Znode {
        Znode::new(
            StoredStat {
                version,
                ..StoredStat::default()
            },
            None,
            0,
        )
    }

    #[test]
    fn a_copy_keeps_its_state_while_the_original_changes() {
        let mut slab = NodeSlab::default();
        for i in 0..200 {
            slab.push(Some(node(i)));
        }
        let frozen = slab.clone();
        if let Some(Some(n)) = slab.slot_mut(5) {
            n.stat.version = 1000;
        }
        if let Some(slot) = slab.slot_mut(130) {
            *slot = None;
        }
        slab.push(Some(node(7)));
        assert_eq!(slab.get(5).map(|n| n.stat.version), Some(1000));
        assert!(slab.get(130).is_none());
        assert_eq!(slab.len(), 201);
        assert_eq!(frozen.get(5).map(|n| n.stat.version), Some(5));
        assert_eq!(frozen.get(130).map(|n| n.stat.version), Some(130));
        assert_eq!(frozen.len(), 200);
        assert!(frozen.get(200).is_none());
    }
}
