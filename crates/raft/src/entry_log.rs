//! The live Raft log entries held in memory, in chunks of a fixed size. One vector of
//! every live entry doubled its buffer as the log grew: under load with a tree of millions
//! of znodes (a snapshot interval of a million entries) a doubling moved ~130 MB into fresh
//! memory, and the Ready loop spent 0.3–0.8 s in that append, on all three servers at once
//! (they compact at the same index). In chunks memory comes a little at a time, and
//! compaction drops whole chunks instead of copying the entries kept.

use std::collections::VecDeque;

use raft::prelude::Entry;

/// Entries per chunk (about 400 KiB of `Entry`).
const CHUNK: usize = 4096;

/// Entries by position, oldest first.
#[derive(Default)]
pub(crate) struct EntryLog {
    chunks: VecDeque<Vec<Entry>>,
    /// Positions already dropped from the front of the first chunk.
    offset: usize,
    len: usize,
}

impl EntryLog {
    /// The log of `entries`, in order.
    pub(crate) fn from_vec(entries: Vec<Entry>) -> Self {
        let mut log = Self::default();
        for entry in entries {
            log.push(entry);
        }
        log
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The entry at `position` (0 is the oldest).
    pub(crate) fn get(&self, position: usize) -> Option<&Entry> {
        if position >= self.len {
            return None;
        }
        let at = self.offset + position;
        self.chunks.get(at / CHUNK)?.get(at % CHUNK)
    }

    pub(crate) fn last(&self) -> Option<&Entry> {
        self.len.checked_sub(1).and_then(|last| self.get(last))
    }

    /// The entries from `start` to `end` (positions, end excluded), in order.
    pub(crate) fn range(&self, start: usize, end: usize) -> impl Iterator<Item = &Entry> {
        let end = end.min(self.len);
        (start.min(end)..end).filter_map(|position| self.get(position))
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        match self.chunks.back_mut() {
            Some(last) if last.len() < CHUNK => last.push(entry),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(entry);
                self.chunks.push_back(chunk);
            }
        }
        self.len += 1;
    }

    /// Keeps the first `keep` entries, dropping the rest.
    pub(crate) fn truncate(&mut self, keep: usize) {
        if keep >= self.len {
            return;
        }
        let end = self.offset + keep;
        self.chunks.truncate(end.div_ceil(CHUNK));
        if let Some(last) = self.chunks.back_mut()
            && !end.is_multiple_of(CHUNK)
        {
            last.truncate(end % CHUNK);
        }
        self.len = keep;
        if self.len == 0 {
            self.chunks.clear();
            self.offset = 0;
        }
    }

    /// Drops the first `count` entries; returns the chunks now wholly dropped, for the
    /// caller to free where it costs nobody time. Entries dropped from a chunk still
    /// partly live stay in it until the rest goes.
    pub(crate) fn drop_front(&mut self, count: usize) -> Vec<Vec<Entry>> {
        let count = count.min(self.len);
        if count == self.len {
            self.offset = 0;
            self.len = 0;
            return std::mem::take(&mut self.chunks).into();
        }
        let start = self.offset + count;
        let whole = (start / CHUNK).min(self.chunks.len());
        let dropped: Vec<Vec<Entry>> = self.chunks.drain(..whole).collect();
        self.offset = start - whole * CHUNK;
        self.len -= count;
        dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64) -> Entry {
        Entry {
            index,
            term: 1,
            ..Default::default()
        }
    }

    fn indexes(log: &EntryLog) -> Vec<u64> {
        log.range(0, log.len()).map(|e| e.index).collect()
    }

    #[test]
    fn behaves_as_a_vector_through_pushes_truncations_and_front_drops() {
        let mut log = EntryLog::default();
        let mut model: Vec<u64> = Vec::new();
        let mut next = 1;
        // Sizes straddle chunk boundaries in every way.
        let steps: [(usize, usize, usize); 8] = [
            (CHUNK * 2 + 5, 0, 0),
            (3, CHUNK + 1, 0),
            (CHUNK, 0, CHUNK - 1),
            (7, 0, 2),
            (0, 0, CHUNK),
            (CHUNK * 3, 10, 0),
            (0, 0, 5),
            (1, 0, 100_000),
        ];
        for (pushes, cut_back, drop) in steps {
            for _ in 0..pushes {
                log.push(entry(next));
                model.push(next);
                next += 1;
            }
            let keep = model.len().saturating_sub(cut_back);
            log.truncate(keep);
            model.truncate(keep);
            let _ = log.drop_front(drop);
            model.drain(..drop.min(model.len()));
            assert_eq!(log.len(), model.len());
            assert_eq!(indexes(&log), model);
            assert_eq!(log.last().map(|e| e.index), model.last().copied());
            if model.len() > 2 {
                let got: Vec<u64> = log.range(1, model.len() - 1).map(|e| e.index).collect();
                assert_eq!(got, model[1..model.len() - 1]);
            }
        }
    }

    #[test]
    fn whole_chunks_dropped_from_the_front_are_handed_back() {
        let mut log = EntryLog::from_vec((1..=(CHUNK as u64 * 3)).map(entry).collect());
        let dropped = log.drop_front(CHUNK * 2 + 1);
        assert_eq!(dropped.len(), 2);
        assert_eq!(log.get(0).map(|e| e.index), Some(CHUNK as u64 * 2 + 2));
        assert_eq!(log.len(), CHUNK - 1);
    }
}
