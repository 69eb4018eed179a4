//! Durable Raft log storage: the raft-rs [`Storage`] trait over the live log held in
//! memory, backed by segment files ([`crate::wal`]) or nothing, for in-memory ensembles.
//!
//! Every mutation updates the in-memory core at once (raft-rs reads back what it just
//! appended) and queues the same change as a record; [`LogStore::flush`] writes what is
//! queued and fsyncs once. It takes the queue under the store's lock and writes without
//! it, so raft-rs reads and appends go on while the disk syncs (the Ready loop has a
//! thread flush for it); flushes run one at a time, so one that returns has made durable
//! everything queued before it began. Nothing the node acknowledges depends on a change
//! that has not been flushed.
//!
//! Records are replayed in order on opening, so any prefix of them surviving a crash is a
//! state Raft allows: entries nobody was told are stored, a vote not yet sent, a commit
//! index that trails (one ahead of the surviving log is cut back to it on opening). A
//! flush writes the entries before the hard state that may commit them.
//!
//! A data directory written by an earlier Paddock, which kept the log in sled, is moved
//! into segment files on opening ([`crate::sled_import`]).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};
use tracing::{debug, warn};

use crate::entry_log::EntryLog;
use crate::error::StoreError;
use crate::sled_import;
use crate::summary::DurationSummary;
use crate::wal::{Checkpoint, SegmentWriter, Wal, delete_segments};
use crate::worker::Worker;

/// The log as raft-rs sees it, held in memory.
#[derive(Default)]
struct Core {
    hard_state: HardState,
    conf_state: ConfState,
    /// The membership was recorded (by a snapshot from the leader); until then it is the
    /// one the store was opened with.
    conf_state_recorded: bool,
    /// Metadata of the latest snapshot (index 0: none yet).
    snapshot: SnapshotMetadata,
    /// Index and term of the last entry compacted away (0, 0 for a fresh log).
    truncated: (u64, u64),
    /// Live entries; the first one's index is `truncated.0 + 1`.
    entries: EntryLog,
    /// Bytes of entry data in `entries`, kept as they change.
    entry_bytes: u64,
}

impl Core {
    fn first_index(&self) -> u64 {
        self.truncated.0 + 1
    }

    fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.truncated.0, |e| e.index)
    }

    /// Everything but the entries, as a checkpoint record holds it.
    fn checkpoint(&self, reset: bool) -> Checkpoint {
        Checkpoint {
            hard_state: self.hard_state.clone(),
            conf_state: if self.conf_state_recorded {
                self.conf_state.clone()
            } else {
                ConfState::default()
            },
            snapshot: self.snapshot.clone(),
            truncated: self.truncated,
            reset,
        }
    }

    /// The core a checkpoint and the entries after it describe; `voters` is the
    /// membership if none was recorded.
    fn restore(checkpoint: Checkpoint, entries: Vec<Entry>, voters: &[u64]) -> Self {
        let conf_state_recorded = !checkpoint.conf_state.voters.is_empty();
        let mut core = Self {
            hard_state: checkpoint.hard_state,
            conf_state: if conf_state_recorded {
                checkpoint.conf_state
            } else {
                ConfState::from((voters.to_vec(), Vec::<u64>::new()))
            },
            conf_state_recorded,
            snapshot: checkpoint.snapshot,
            truncated: checkpoint.truncated,
            entry_bytes: entries.iter().map(|e| e.data.len() as u64).sum(),
            entries: EntryLog::from_vec(entries),
        };
        // A crash mid-flush can keep the hard state of a Ready but not all its entries;
        // what survives is committed up to the log's end (a snapshot's index counts as
        // part of the log).
        let last = core.last_index();
        if core.hard_state.commit > last {
            debug!(
                commit = core.hard_state.commit,
                last, "commit index cut back to the log's end"
            );
            core.hard_state.commit = last;
        }
        core
    }
}

/// Where the log is kept.
enum Backend {
    Memory,
    /// Fields drop in order: the reclaimer finishes deleting segments before the log's
    /// lock is released, so a store reopened at once never lists a file still going.
    Disk {
        reclaimer: Worker<Reclaim>,
        wal: Wal,
    },
}

struct Inner {
    core: Core,
    backend: Backend,
}

/// Work for the reclaimer: a thread of its own frees compacted entries and deletes
/// obsolete segment files, so a compaction never stalls the Ready loop (hundreds of
/// thousands of entries took it ~100 ms to drop).
enum Reclaim {
    Entries(Vec<Vec<Entry>>),
    Segments(Vec<PathBuf>),
}

fn start_reclaimer() -> std::io::Result<Worker<Reclaim>> {
    Worker::start("log-reclaimer".into(), |queue| {
        for item in queue {
            match item {
                Reclaim::Entries(entries) => drop(entries),
                Reclaim::Segments(paths) => delete_segments(&paths),
            }
        }
    })
}

/// The Raft log of one node: raft-rs's [`Storage`](raft::Storage) plus the writes the
/// Ready loop makes, durable at [`flush`](LogStore::flush). Cloning shares the store.
#[derive(Clone)]
pub struct LogStore {
    /// The segment file end (none in memory), held for a whole flush: flushes run one at
    /// a time, and the store's lock is free while one writes. Declared first, so the file
    /// is closed before the directory's lock (in `inner`) is released.
    writer: Arc<Mutex<Option<SegmentWriter>>>,
    inner: Arc<RwLock<Inner>>,
    /// How long each flush that wrote something took, write and fsync together: what
    /// `mntr` reports as ZooKeeper's `fsynctime`.
    flush_times: Arc<DurationSummary>,
    /// A flush slower than this is logged as a warning (ZooKeeper's
    /// `fsync.warningthresholdms`).
    slow_flush: Duration,
}

/// ZooKeeper's default `fsync.warningthresholdms`.
pub const SLOW_FLUSH_DEFAULT: Duration = Duration::from_secs(1);

/// How many entries and bytes the live log holds, for compaction decisions and operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogStats {
    /// First live index.
    pub first_index: u64,
    /// Last index.
    pub last_index: u64,
    /// Bytes of entry data in the live log.
    pub bytes: u64,
}

impl LogStore {
    /// A store kept only in memory, for a node that starts from nothing each time.
    pub fn in_memory(voters: &[u64]) -> Self {
        let core = Core {
            conf_state: ConfState::from((voters.to_vec(), Vec::<u64>::new())),
            ..Core::default()
        };
        Self::from_parts(core, Backend::Memory, None)
    }

    /// Opens (or creates) the store in `dir`. A new store starts with `voters` as its
    /// membership; an existing one keeps what it recorded.
    pub fn open(dir: &Path, voters: &[u64]) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)?;
        if !Wal::exists(dir) && sled_import::holds_sled(dir) {
            let imported = sled_import::load(dir)?;
            let checkpoint = Checkpoint {
                hard_state: imported.hard_state,
                conf_state: imported.conf_state.unwrap_or_default(),
                snapshot: imported.snapshot,
                truncated: imported.truncated,
                reset: false,
            };
            Wal::create(dir, &checkpoint, &imported.entries)?;
        }
        if sled_import::holds_sled(dir) {
            // Moved into segment files (now or by an opening that stopped before this).
            sled_import::remove(dir);
        }
        let (wal, writer, replayed) = Wal::open(dir)?;
        let core = Core::restore(replayed.checkpoint, replayed.entries, voters);
        let reclaimer = start_reclaimer()?;
        Ok(Self::from_parts(
            core,
            Backend::Disk { reclaimer, wal },
            Some(writer),
        ))
    }

    fn from_parts(core: Core, backend: Backend, writer: Option<SegmentWriter>) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner { core, backend })),
            writer: Arc::new(Mutex::new(writer)),
            flush_times: Arc::default(),
            slow_flush: SLOW_FLUSH_DEFAULT,
        }
    }

    /// Queues a checkpoint of the core (on disk only); `roll` starts a new segment.
    fn checkpoint(inner: &mut Inner, reset: bool, roll: bool) -> Result<(), StoreError> {
        if let Backend::Disk { wal, .. } = &mut inner.backend {
            wal.checkpoint(&inner.core.checkpoint(reset), roll)?;
        }
        Ok(())
    }

    /// Appends entries from raft-rs, replacing any conflicting suffix.
    pub fn append(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let Some(first) = entries.first() else {
            return Ok(());
        };
        let mut inner = self.inner.write();
        let Inner { core, backend } = &mut *inner;
        if first.index < core.first_index() {
            return Err(StoreError::Corrupt("append before the first index"));
        }
        if first.index > core.last_index() + 1 {
            return Err(StoreError::Corrupt("append leaves a gap"));
        }
        if let Backend::Disk { wal, .. } = backend {
            wal.append(entries)?;
        }
        let keep = (first.index - core.first_index()) as usize;
        let removed: u64 = core
            .entries
            .range(keep, core.entries.len())
            .map(|e| e.data.len() as u64)
            .sum();
        core.entry_bytes -= removed;
        core.entries.truncate(keep);
        for entry in entries {
            core.entry_bytes += entry.data.len() as u64;
            core.entries.push(entry.clone());
        }
        Ok(())
    }

    /// Records the hard state (term, vote, commit).
    pub fn set_hard_state(&self, hard_state: &HardState) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        if let Backend::Disk { wal, .. } = &mut inner.backend {
            wal.set_hard_state(hard_state);
        }
        inner.core.hard_state = hard_state.clone();
        Ok(())
    }

    /// Moves the recorded commit index forward (never back).
    pub fn set_commit(&self, commit: u64) -> Result<(), StoreError> {
        let mut hard_state = self.inner.read().core.hard_state.clone();
        if commit <= hard_state.commit {
            return Ok(());
        }
        hard_state.commit = commit;
        self.set_hard_state(&hard_state)
    }

    /// Installs a snapshot received from the leader: the log restarts after it.
    pub fn apply_snapshot(&self, meta: &SnapshotMetadata) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let core = &mut inner.core;
        let all = core.entries.len();
        let replaced = core.entries.drop_front(all);
        core.entry_bytes = 0;
        core.truncated = (meta.index, meta.term);
        core.snapshot = meta.clone();
        core.conf_state = meta.get_conf_state().clone();
        core.conf_state_recorded = true;
        core.hard_state.term = core.hard_state.term.max(meta.term);
        core.hard_state.commit = core.hard_state.commit.max(meta.index);
        Self::checkpoint(&mut inner, true, true)?;
        if let Backend::Disk { reclaimer, .. } = &inner.backend {
            reclaimer.send(Reclaim::Entries(replaced));
        }
        Ok(())
    }

    /// Records a snapshot this node took of its own state at `index` (which it has
    /// applied, so it is committed): raft-rs will offer it to lagging followers.
    pub fn record_snapshot(&self, index: u64, term: u64) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let core = &mut inner.core;
        if index <= core.snapshot.index {
            return Ok(());
        }
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..Default::default()
        };
        meta.set_conf_state(core.conf_state.clone());
        core.snapshot = meta;
        // A snapshot's index is applied, hence committed: keep commit ≥ it on disk so a
        // restart never finds applied > commit.
        core.hard_state.commit = core.hard_state.commit.max(index);
        Self::checkpoint(&mut inner, false, false)
    }

    /// Drops entries up to and including `index` (at most the latest snapshot's index).
    pub fn compact(&self, index: u64) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let core = &mut inner.core;
        let index = index.min(core.snapshot.index).min(core.last_index());
        if index < core.first_index() {
            return Ok(());
        }
        let term = core
            .entries
            .get((index - core.first_index()) as usize)
            .map_or(core.truncated.1, |e| e.term);
        let drop = (index + 1 - core.first_index()) as usize;
        let removed: u64 = core
            .entries
            .range(0, drop)
            .map(|e| e.data.len() as u64)
            .sum();
        core.entry_bytes -= removed;
        let compacted = core.entries.drop_front(drop);
        core.truncated = (index, term);
        // The marker heads a new segment, so the ones before can go once compacted.
        Self::checkpoint(&mut inner, false, true)?;
        if let Backend::Disk { reclaimer, .. } = &inner.backend {
            reclaimer.send(Reclaim::Entries(compacted));
        }
        Ok(())
    }

    /// Makes every change so far durable: one write and one fsync (two when a compaction
    /// started a new segment). Safe to call from any thread, while the store is read and
    /// written: those changes wait for the next flush.
    pub fn flush(&self) -> Result<(), StoreError> {
        // Held first: a flush still writing finishes before this one takes the queue.
        let mut writer = self.writer.lock();
        let Some(writer) = writer.as_mut() else {
            return Ok(());
        };
        let batch = {
            let mut inner = self.inner.write();
            let Inner { core, backend } = &mut *inner;
            let Backend::Disk { wal, .. } = backend else {
                return Ok(());
            };
            wal.take(core.truncated.0)?
        };
        let Some(batch) = batch else {
            return Ok(());
        };
        let started = Instant::now();
        writer.write(&batch)?;
        let took = started.elapsed();
        self.flush_times.record(took);
        if exceeds(took, self.slow_flush) {
            warn!(
                took_ms = took.as_millis() as u64,
                "flushing the log took longer than fsync.warningthresholdms; every write \
                 waiting for it was delayed as long"
            );
        }
        if !batch.obsolete.is_empty()
            && let Backend::Disk { reclaimer, .. } = &self.inner.read().backend
        {
            reclaimer.send(Reclaim::Segments(batch.obsolete));
        }
        Ok(())
    }

    /// Logs a warning for every flush slower than `threshold` (default
    /// [`SLOW_FLUSH_DEFAULT`]).
    pub fn warn_flushes_over(mut self, threshold: Duration) -> Self {
        self.slow_flush = threshold;
        self
    }

    /// Durations of the flushes that wrote something (none for an in-memory store, which
    /// never syncs), shared with whoever reports them.
    pub fn flush_times(&self) -> Arc<DurationSummary> {
        self.flush_times.clone()
    }

    /// Latest snapshot metadata (index 0 if none).
    pub fn snapshot_metadata(&self) -> SnapshotMetadata {
        self.inner.read().core.snapshot.clone()
    }

    /// The recorded hard state.
    pub fn hard_state(&self) -> HardState {
        self.inner.read().core.hard_state.clone()
    }

    /// Size of the live log.
    pub fn stats(&self) -> LogStats {
        let inner = self.inner.read();
        LogStats {
            first_index: inner.core.first_index(),
            last_index: inner.core.last_index(),
            bytes: inner.core.entry_bytes,
        }
    }
}

/// Whether a flush that `took` this long is over `threshold`, in whole milliseconds as
/// ZooKeeper compares them (a threshold of 0 flags flushes of 1 ms and more).
fn exceeds(took: Duration, threshold: Duration) -> bool {
    took.as_millis() > threshold.as_millis()
}

impl raft::Storage for LogStore {
    fn initial_state(&self) -> raft::Result<RaftState> {
        let inner = self.inner.read();
        Ok(RaftState::new(
            inner.core.hard_state.clone(),
            inner.core.conf_state.clone(),
        ))
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        _context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        let inner = self.inner.read();
        let core = &inner.core;
        if low < core.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if high > core.last_index() + 1 {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        let start = (low - core.first_index()) as usize;
        let end = (high - core.first_index()) as usize;
        let fit = within_size(core.entries.range(start, end), max_size.into());
        Ok(core.entries.range(start, start + fit).cloned().collect())
    }

    fn term(&self, index: u64) -> raft::Result<u64> {
        let inner = self.inner.read();
        let core = &inner.core;
        if index == core.truncated.0 {
            return Ok(core.truncated.1);
        }
        if index < core.first_index() {
            return Err(raft::Error::Store(StorageError::Compacted));
        }
        if index > core.last_index() {
            return Err(raft::Error::Store(StorageError::Unavailable));
        }
        core.entries
            .get((index - core.first_index()) as usize)
            .map(|e| e.term)
            .ok_or(raft::Error::Store(StorageError::Unavailable))
    }

    fn first_index(&self) -> raft::Result<u64> {
        Ok(self.inner.read().core.first_index())
    }

    fn last_index(&self) -> raft::Result<u64> {
        Ok(self.inner.read().core.last_index())
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        let inner = self.inner.read();
        let meta = &inner.core.snapshot;
        if meta.index == 0 || meta.index < request_index {
            return Err(raft::Error::Store(
                StorageError::SnapshotTemporarilyUnavailable,
            ));
        }
        let mut snapshot = Snapshot::default();
        snapshot.set_metadata(meta.clone());
        Ok(snapshot)
    }
}

/// How many of `entries`, from the first, fit in `max` bytes: what
/// `raft::util::limit_size` keeps (always at least one), counted before anything is
/// cloned. A follower far behind asks for everything up to the log's end with a size limit
/// per message; cloning it all to keep one message's worth cost a copy of the whole log
/// per append sent.
fn within_size<'a>(entries: impl Iterator<Item = &'a Entry>, max: Option<u64>) -> usize {
    let max = match max {
        None | Some(raft::NO_LIMIT) => return entries.count(),
        Some(max) => max,
    };
    let mut size = 0u64;
    entries
        .take_while(|entry| {
            let first = size == 0;
            size += u64::from(protobuf::Message::compute_size(*entry));
            first || size <= max
        })
        .count()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn within_size_keeps_what_raft_limit_size_keeps() {
        let entries: Vec<Entry> = (0..40u64)
            .map(|i| Entry {
                index: i + 1,
                term: 1,
                data: vec![7u8; ((i * 37) % 300) as usize].into(),
                ..Entry::default()
            })
            .collect();
        // Every prefix's exact size, and one byte either side: where the cut falls.
        let mut limits = vec![None, Some(raft::NO_LIMIT), Some(0)];
        let mut prefix = 0u64;
        for entry in &entries {
            prefix += u64::from(protobuf::Message::compute_size(entry));
            limits.extend([Some(prefix - 1), Some(prefix), Some(prefix + 1)]);
        }
        for len in [0, 1, 2, 17, 40] {
            for &max in &limits {
                let mut expected = entries[..len].to_vec();
                raft::util::limit_size(&mut expected, max);
                assert_eq!(
                    within_size(entries[..len].iter(), max),
                    expected.len(),
                    "{len} entries, max {max:?}"
                );
            }
        }
    }

    #[test]
    fn slow_flushes_are_judged_in_whole_milliseconds() {
        let ms = Duration::from_millis;
        assert!(!exceeds(Duration::from_micros(999), Duration::ZERO));
        assert!(exceeds(ms(1), Duration::ZERO));
        assert!(!exceeds(Duration::from_micros(1_000_999), ms(1000)));
        assert!(exceeds(ms(1001), ms(1000)));
    }
}
