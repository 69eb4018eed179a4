//! Durable Raft log storage: the raft-rs [`Storage`] trait over an in-memory index of the
//! live log, backed by sled (or nothing, for in-memory ensembles).
//!
//! Every mutation updates the in-memory core at once (raft-rs reads back what it just
//! appended) and queues the same change for sled; [`LogStore::flush`] writes what is
//! queued and fsyncs once. The Ready loop calls it once per Ready: group commit. Nothing
//! the node acknowledges depends on a change that has not been flushed.
//!
//! The usual Ready writes new entries and the hard state: those go to sled as plain
//! inserts, because any subset of them surviving a crash mid-flush is a state Raft
//! allows (entries nobody was told are stored, a vote not yet sent, a commit index that
//! trails; a commit index ahead of the surviving log is cut back to it on opening).
//! Changes that replace part of the log or record a snapshot (a conflicting suffix, an
//! installed or taken snapshot) go through an atomic sled batch, which costs one more
//! synchronous write, of the batch's manifest.
//!
//! The log is stored as runs: `b` + big-endian index → a run of entries appended
//! together, starting at that index. Runs live in generation trees (`log.` + 16 hex
//! digits): a new generation starts at each compaction, and one whose runs are all
//! compacted is dropped whole, which frees its pages with a few bytes each — removing
//! runs key by key made sled rewrite their leaves, a quarter of all bytes written under
//! load. Runs written before generations existed sit in sled's default tree (generation
//! 0) and are still removed key by key. A Ready's entries are stored in runs of about
//! [`RUN_BYTES`] (not one key per entry: sled's per-key cost dominated the Ready loop;
//! not one key per Ready: sled rewrites a whole leaf of up to 17 keys every few inserts,
//! and writes one over 128 KiB to a blob file of its own). The tree `meta` holds `hs` →
//! `HardState`, `cs` → `ConfState`, `snap` → `SnapshotMetadata` of the latest snapshot and
//! `trunc` → index and term of the last entry compacted away; kept apart, the hard state
//! written every Ready does not make sled rewrite the leaf of the newest log runs.
//!
//! sled does not fsync the blob files it writes for values or leaves too large for its
//! log (entries over ~100 KiB): the flush syncs any new ones itself.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use raft::prelude::{ConfState, Entry, HardState, Snapshot, SnapshotMetadata};
use raft::{GetEntriesContext, RaftState, StorageError};
use tracing::{debug, warn};

use crate::error::StoreError;
use crate::summary::DurationSummary;

const KEY_HARD_STATE: &[u8] = b"hs";
const KEY_CONF_STATE: &[u8] = b"cs";
const KEY_SNAPSHOT: &[u8] = b"snap";
const KEY_TRUNCATED: &[u8] = b"trunc";
/// The oldest generation that may hold live runs: set when a snapshot from the leader
/// replaces the log, atomically with its truncation marker, so runs an older generation
/// still holds after a crash (its drop not done yet) are never read back.
const KEY_FIRST_GENERATION: &[u8] = b"gen";

/// sled's page cache, bytes.
const SLED_CACHE_BYTES: u64 = 16 << 20;

/// Entry bytes per stored run: small enough that a leaf of 17 runs stays far below the
/// size at which sled moves it to a blob file.
const RUN_BYTES: usize = 4096;

/// The sled tree holding the hard state, membership, snapshot and truncation marker.
const META_TREE: &[u8] = b"meta";

/// The keys the meta tree took over from the default tree (see [`migrate_meta`]).
const META_KEYS: [&[u8]; 4] = [KEY_HARD_STATE, KEY_CONF_STATE, KEY_SNAPSHOT, KEY_TRUNCATED];

/// Splits entries appended together into runs of about [`RUN_BYTES`] (an entry larger
/// than that is a run of its own).
fn runs(entries: &[Entry]) -> impl Iterator<Item = &[Entry]> {
    let mut rest = entries;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut bytes = 0;
        let len = rest
            .iter()
            .enumerate()
            .take_while(|(i, entry)| {
                bytes += entry.data.len();
                *i == 0 || bytes <= RUN_BYTES
            })
            .count();
        let (run, tail) = rest.split_at(len);
        rest = tail;
        Some(run)
    })
}

fn batch_key(first_index: u64) -> [u8; 9] {
    let mut key = [0u8; 9];
    key[0] = b'b';
    key[1..].copy_from_slice(&first_index.to_be_bytes());
    key
}

/// Entries as one sled value: each a big-endian u32 length and its protobuf encoding.
fn encode_batch(entries: &[Entry]) -> Result<Vec<u8>, StoreError> {
    let mut out = Vec::new();
    for entry in entries {
        let bytes = encode(entry)?;
        let len =
            u32::try_from(bytes.len()).map_err(|_| StoreError::Corrupt("entry over 4 GiB"))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}

fn decode_batch(mut bytes: &[u8]) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    while !bytes.is_empty() {
        let Some((len, rest)) = bytes.split_first_chunk::<4>() else {
            return Err(StoreError::Corrupt("truncated entry batch"));
        };
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(StoreError::Corrupt("truncated entry batch"));
        }
        entries.push(decode(&rest[..len])?);
        bytes = &rest[len..];
    }
    Ok(entries)
}

/// The log as raft-rs sees it, held in memory.
#[derive(Default)]
struct Core {
    hard_state: HardState,
    conf_state: ConfState,
    /// Metadata of the latest snapshot (index 0: none yet).
    snapshot: SnapshotMetadata,
    /// Index and term of the last entry compacted away (0, 0 for a fresh log).
    truncated: (u64, u64),
    /// Live entries; `entries[0].index == truncated.0 + 1`.
    entries: Vec<Entry>,
    /// Bytes of entry data in `entries`, kept as they change.
    entry_bytes: u64,
    /// The stored runs holding the log, by first index.
    batches: std::collections::BTreeMap<u64, Run>,
}

/// One stored run of entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    /// Index of its last entry.
    last: u64,
    /// The generation tree holding it (0: sled's default tree).
    generation: u64,
}

/// Prefix of the names of the generation trees.
const GENERATION_PREFIX: &str = "log.";

fn generation_name(generation: u64) -> String {
    format!("{GENERATION_PREFIX}{generation:016x}")
}

/// The generation a sled tree named `name` holds, if it is a generation tree.
fn generation_of(name: &[u8]) -> Option<u64> {
    let hex = std::str::from_utf8(name)
        .ok()?
        .strip_prefix(GENERATION_PREFIX)?;
    u64::from_str_radix(hex, 16).ok().filter(|g| *g > 0)
}

impl Core {
    fn first_index(&self) -> u64 {
        self.truncated.0 + 1
    }

    fn last_index(&self) -> u64 {
        self.entries.last().map_or(self.truncated.0, |e| e.index)
    }
}

#[expect(
    clippy::large_enum_variant,
    reason = "one per store, never moved around"
)]
enum Backend {
    Memory,
    Sled {
        db: sled::Db,
        /// The hard state, membership, snapshot and truncation marker.
        meta: sled::Tree,
        /// The generation trees still holding runs, by generation (0: the default
        /// tree); the highest receives new runs.
        generations: std::collections::BTreeMap<u64, sled::Tree>,
        /// Meta changes queued for the next flush, by key: a value, or `None` to remove.
        pending_meta: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        /// Run changes queued for the next flush, by generation and first index.
        pending_runs: std::collections::BTreeMap<(u64, u64), Option<Vec<u8>>>,
        /// The queued changes must land together: they replace part of the log or
        /// record a snapshot.
        atomic: bool,
        reclaimer: Reclaimer,
        /// Runs of the default tree to delete once the flush that made them obsolete is
        /// durable.
        to_reclaim: Vec<u64>,
        /// Generations to drop once the flush that made them obsolete is durable.
        to_drop: Vec<u64>,
        /// sled's data file, fsynced by us after every flush: sled itself only calls
        /// `sync_file_range`, which neither empties the drive's write cache nor
        /// persists the file's metadata, so it is not enough for an acknowledgement.
        file: std::fs::File,
        /// sled's blob files, which it never fsyncs.
        blobs: BlobSync,
    },
}

/// Fsyncs the blob files sled writes (for a value or a leaf too large for its log) and
/// never syncs itself. sled names them by log position, so the ones newer than the last
/// synced are the unsynced ones; the directory's modification time says when to look.
struct BlobSync {
    dir: std::path::PathBuf,
    seen: Option<std::time::SystemTime>,
    synced_through: u64,
}

impl BlobSync {
    fn new(dir: std::path::PathBuf) -> Result<Self, StoreError> {
        let mut blobs = Self {
            dir,
            seen: None,
            synced_through: 0,
        };
        // Whatever is there from before a crash is synced once.
        blobs.sync()?;
        Ok(blobs)
    }

    /// Syncs the blob files written since the last call, and the directory naming them.
    fn sync(&mut self) -> Result<(), StoreError> {
        let modified = match std::fs::metadata(&self.dir) {
            Ok(meta) => meta.modified()?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(error.into()),
        };
        if self.seen == Some(modified) {
            return Ok(());
        }
        let mut newest = self.synced_through;
        for item in std::fs::read_dir(&self.dir)? {
            let item = item?;
            let Some(lsn) = item
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            if lsn > self.synced_through {
                std::fs::File::open(item.path())?.sync_all()?;
                newest = newest.max(lsn);
            }
        }
        std::fs::File::open(&self.dir)?.sync_all()?;
        self.synced_through = newest;
        // A directory's time moves in clock ticks of a few ms: one changed again within
        // the same tick would look unchanged, so a recent time is not trusted yet.
        let settled = modified + Duration::from_millis(50) < std::time::SystemTime::now();
        self.seen = settled.then_some(modified);
        Ok(())
    }
}

struct Inner {
    core: Core,
    backend: Backend,
}

/// Drops compacted generations and deletes compacted runs of the default tree from sled
/// in the background (the latter a few at a time), and frees compacted entries, so a
/// compaction never stalls the Ready loop. Leftovers are harmless: loading skips entries
/// at or below the truncation marker and drops generations holding nothing else.
struct Reclaimer {
    work: Option<std::sync::mpsc::Sender<Reclaim>>,
    thread: Option<std::thread::JoinHandle<()>>,
    /// Set when the store closes: the thread stops after its current batch.
    stop: Arc<std::sync::atomic::AtomicBool>,
}

/// Entry batches deleted per sled batch by the reclaimer.
const RECLAIM_BATCH_LEN: usize = 256;

/// The reclaimer's pause between two sled batches.
const RECLAIM_PAUSE: Duration = Duration::from_millis(10);

/// Work for the reclaimer.
enum Reclaim {
    /// Runs of the default tree (by first index) to delete.
    Runs(Vec<u64>),
    /// Generation trees to drop.
    Generations(Vec<u64>),
    /// Compacted entries to free: hundreds of thousands of them took the Ready loop
    /// ~100 ms to drop.
    Entries(Vec<Entry>),
}

impl Reclaimer {
    fn start(db: sled::Db) -> Self {
        let (work, inbox) = std::sync::mpsc::channel::<Reclaim>();
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::Builder::new()
            .name("paddock-log-reclaim".into())
            .spawn(move || {
                while let Ok(work) = inbox.recv() {
                    let go_on = match work {
                        Reclaim::Runs(firsts) => remove_runs(&db, &firsts, &stopping),
                        Reclaim::Generations(generations) => drop_generations(&db, generations),
                        Reclaim::Entries(entries) => {
                            drop(entries);
                            true
                        }
                    };
                    if !go_on {
                        return;
                    }
                }
            })
            .ok();
        Self {
            work: Some(work),
            thread,
            stop,
        }
    }

    fn reclaim(&self, firsts: Vec<u64>) {
        if let (Some(work), false) = (&self.work, firsts.is_empty()) {
            let _ = work.send(Reclaim::Runs(firsts));
        }
    }

    fn drop_generations(&self, generations: Vec<u64>) {
        if let (Some(work), false) = (&self.work, generations.is_empty()) {
            let _ = work.send(Reclaim::Generations(generations));
        }
    }

    fn discard(&self, entries: Vec<Entry>) {
        if let Some(work) = &self.work {
            let _ = work.send(Reclaim::Entries(entries));
        }
    }
}

/// Removes runs of the default tree a few at a time; false once stopping or sled fails.
fn remove_runs(db: &sled::Db, firsts: &[u64], stopping: &std::sync::atomic::AtomicBool) -> bool {
    for chunk in firsts.chunks(RECLAIM_BATCH_LEN) {
        if stopping.load(std::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        let mut batch = sled::Batch::default();
        for first in chunk {
            batch.remove(&batch_key(*first));
        }
        if db.apply_batch(batch).is_err() {
            return false;
        }
        // Removals become dirty pages that the Ready loop's next flush writes and
        // syncs: thousands at once stalled it for 300 ms.
        std::thread::sleep(RECLAIM_PAUSE);
    }
    true
}

/// Drops generation trees; false if sled fails. Each is one pass over the tree's pages,
/// done even when stopping, so a store closed in order leaves none behind.
fn drop_generations(db: &sled::Db, generations: Vec<u64>) -> bool {
    for generation in generations {
        if db.drop_tree(generation_name(generation)).is_err() {
            return false;
        }
    }
    // Written now rather than with the next Ready's flush, so a restart in between need
    // not drop them again.
    db.flush().is_ok()
}

impl Drop for Reclaimer {
    fn drop(&mut self) {
        // Closing the channel ends the thread after its current range; joining makes
        // sure the database is closed when the store is.
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.work.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The Raft log, hard state, conf state and snapshot metadata of one node.
///
/// Cloning shares the same store (raft-rs owns one clone, the Ready loop another).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<RwLock<Inner>>,
    /// How long each flush that wrote something took, write and fsync together: what
    /// `mntr` reports as ZooKeeper's `fsynctime`.
    flush_times: Arc<DurationSummary>,
    /// A flush slower than this is logged as a warning, with where its time went
    /// (ZooKeeper's `fsync.warningthresholdms`).
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

fn encode<M: protobuf::Message>(m: &M) -> Result<Vec<u8>, StoreError> {
    m.write_to_bytes()
        .map_err(|e| StoreError::Codec(e.to_string()))
}

fn decode<M: protobuf::Message>(bytes: &[u8]) -> Result<M, StoreError> {
    M::parse_from_bytes(bytes).map_err(|e| StoreError::Codec(e.to_string()))
}

impl LogStore {
    /// A store kept only in memory, for a node that starts from nothing each time.
    pub fn in_memory(voters: &[u64]) -> Self {
        let core = Core {
            conf_state: ConfState::from((voters.to_vec(), Vec::<u64>::new())),
            ..Core::default()
        };
        Self::from_parts(core, Backend::Memory)
    }

    /// Opens (or creates) the store in `dir`. A new store starts with `voters` as its
    /// membership; an existing one keeps what it recorded.
    pub fn open(dir: &Path, voters: &[u64]) -> Result<Self, StoreError> {
        let config = sled::Config::new()
            .path(dir)
            .mode(sled::Mode::HighThroughput)
            // The live log is also held in memory; sled's own cache would only
            // duplicate it.
            .cache_capacity(SLED_CACHE_BYTES)
            // Log records become durable through `flush` only, after the blob files
            // they may point to are synced.
            .flush_every_ms(None);
        // A store closed a moment ago in this process (a node restarted in place) can
        // hold sled's file lock until sled's IO threads finish its last write.
        let mut attempts = 0;
        let db = loop {
            match config.open() {
                Err(sled::Error::Io(error)) if is_lock_held(&error) && attempts < 100 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                opened => break opened?,
            }
        };
        let meta = db.open_tree(META_TREE)?;
        migrate_meta(&db, &meta)?;
        let mut core = Core::default();
        if let Some(bytes) = meta.get(KEY_HARD_STATE)? {
            core.hard_state = decode(&bytes)?;
        }
        core.conf_state = match meta.get(KEY_CONF_STATE)? {
            Some(bytes) => decode(&bytes)?,
            None => ConfState::from((voters.to_vec(), Vec::<u64>::new())),
        };
        if let Some(bytes) = meta.get(KEY_SNAPSHOT)? {
            core.snapshot = decode(&bytes)?;
        }
        if let Some(bytes) = meta.get(KEY_TRUNCATED)? {
            let raw: [u8; 16] = bytes
                .as_ref()
                .try_into()
                .map_err(|_| StoreError::Corrupt("truncation marker"))?;
            let mut index = [0u8; 8];
            let mut term = [0u8; 8];
            index.copy_from_slice(&raw[..8]);
            term.copy_from_slice(&raw[8..]);
            core.truncated = (u64::from_be_bytes(index), u64::from_be_bytes(term));
        }
        let first_generation = match meta.get(KEY_FIRST_GENERATION)? {
            Some(bytes) => u64::from_be_bytes(
                bytes
                    .as_ref()
                    .try_into()
                    .map_err(|_| StoreError::Corrupt("first generation"))?,
            ),
            None => 0,
        };
        let mut generations = std::collections::BTreeMap::new();
        generations.insert(0, (*db).clone());
        for name in db.tree_names() {
            if let Some(generation) = generation_of(&name) {
                generations.insert(generation, db.open_tree(&name)?);
            }
        }
        // Every generation's runs, in index order (a generation's runs follow the older
        // generations' ones, but nothing here relies on it).
        let mut stored = std::collections::BTreeMap::new();
        let mut stale = Vec::new();
        for (generation, tree) in &generations {
            let scan = if *generation == 0 {
                // The default tree is read whole, so its compacted runs are found and go.
                tree.scan_prefix(b"b")
            } else if *generation < first_generation {
                continue;
            } else {
                // A generation is dropped only once all its runs are compacted, so it can
                // hold many that are: reading starts at the run holding the first live
                // entry (the last one starting at or before it).
                let live = batch_key(core.truncated.0 + 1);
                let from = match tree.range(&b"b"[..]..=&live[..]).next_back() {
                    Some(item) => item?.0,
                    None => sled::IVec::from(&b"b"[..]),
                };
                tree.range(from..)
            };
            for item in scan {
                let (key, value) = item?;
                let first = u64::from_be_bytes(
                    key.get(1..9)
                        .and_then(|k| k.try_into().ok())
                        .ok_or(StoreError::Corrupt("entry batch key"))?,
                );
                if *generation < first_generation {
                    // From before a snapshot replaced the log; removal not done.
                    stale.push(first);
                    continue;
                }
                if stored.insert(first, (*generation, value)).is_some() {
                    return Err(StoreError::Corrupt("one run stored in two generations"));
                }
            }
        }
        for (first, (generation, value)) in stored {
            let entries = decode_batch(&value)?;
            let last = entries.last().map_or(0, |e| e.index);
            if last <= core.truncated.0 {
                // Compacted (or empty); removal not done before a stop.
                if generation == 0 {
                    stale.push(first);
                }
                continue;
            }
            core.batches.insert(first, Run { last, generation });
            for entry in entries {
                if entry.index <= core.truncated.0 {
                    continue;
                }
                if entry.index != core.last_index() + 1 {
                    return Err(StoreError::Corrupt("gap in the log"));
                }
                core.entry_bytes += entry.data.len() as u64;
                core.entries.push(entry);
            }
        }
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
        let reclaimer = Reclaimer::start(db.clone());
        reclaimer.reclaim(stale);
        // Generations whose runs are all compacted go; new runs go to the newest one,
        // or to a first one.
        let dead = dead_generations(&generations, &core.batches);
        for generation in &dead {
            generations.remove(generation);
        }
        reclaimer.drop_generations(dead);
        if generations.len() == 1 {
            generations.insert(1, db.open_tree(generation_name(1))?);
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(dir.join("db"))?;
        let blobs = BlobSync::new(dir.join("blobs"))?;
        Ok(Self::from_parts(
            core,
            Backend::Sled {
                db,
                meta,
                generations,
                pending_meta: std::collections::BTreeMap::new(),
                pending_runs: std::collections::BTreeMap::new(),
                atomic: false,
                reclaimer,
                to_reclaim: Vec::new(),
                to_drop: Vec::new(),
                file,
                blobs,
            },
        ))
    }

    fn from_parts(core: Core, backend: Backend) -> Self {
        Self {
            inner: Arc::new(RwLock::new(Inner { core, backend })),
            flush_times: Arc::default(),
            slow_flush: SLOW_FLUSH_DEFAULT,
        }
    }

    fn stage_meta(backend: &mut Backend, key: &[u8], value: Option<Vec<u8>>) {
        if let Backend::Sled { pending_meta, .. } = backend {
            pending_meta.insert(key.to_vec(), value);
        }
    }

    fn stage_run(backend: &mut Backend, generation: u64, first: u64, value: Option<Vec<u8>>) {
        if let Backend::Sled { pending_runs, .. } = backend {
            pending_runs.insert((generation, first), value);
        }
    }

    /// The generation new runs go to (0 in memory).
    fn newest_generation(backend: &Backend) -> u64 {
        match backend {
            Backend::Sled { generations, .. } => {
                generations.keys().next_back().copied().unwrap_or(0)
            }
            Backend::Memory => 0,
        }
    }

    /// Marks the queued changes as ones that must land together.
    fn require_atomic(backend: &mut Backend) {
        if let Backend::Sled { atomic, .. } = backend {
            *atomic = true;
        }
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
        let keep = (first.index - core.first_index()) as usize;
        let removed: u64 = core.entries[keep..]
            .iter()
            .map(|e| e.data.len() as u64)
            .sum();
        core.entry_bytes -= removed;
        core.entries.truncate(keep);
        if matches!(backend, Backend::Sled { .. }) {
            // Batches at or after the conflict go; one straddling it keeps its head.
            // Batches do not overlap, so only the last one starting before the conflict
            // can straddle it: no walk over the whole log per append.
            let straddling = core
                .batches
                .range(..first.index)
                .next_back()
                .filter(|(_, run)| run.last >= first.index)
                .map(|(f, run)| (*f, *run));
            let affected: Vec<(u64, Run)> = straddling
                .into_iter()
                .chain(core.batches.range(first.index..).map(|(f, run)| (*f, *run)))
                .collect();
            if !affected.is_empty() {
                Self::require_atomic(backend);
            }
            // Each affected run changes in the generation that holds it.
            for (batch_first, run) in affected {
                core.batches.remove(&batch_first);
                if batch_first >= first.index {
                    Self::stage_run(backend, run.generation, batch_first, None);
                } else {
                    let from = batch_first.max(core.first_index());
                    let head = &core.entries[(from - core.first_index()) as usize..];
                    Self::stage_run(
                        backend,
                        run.generation,
                        batch_first,
                        Some(encode_batch(head)?),
                    );
                    core.batches.insert(
                        batch_first,
                        Run {
                            last: first.index - 1,
                            generation: run.generation,
                        },
                    );
                }
            }
            let generation = Self::newest_generation(backend);
            for run in runs(entries) {
                let (Some(head), Some(tail)) = (run.first(), run.last()) else {
                    continue;
                };
                Self::stage_run(backend, generation, head.index, Some(encode_batch(run)?));
                core.batches.insert(
                    head.index,
                    Run {
                        last: tail.index,
                        generation,
                    },
                );
            }
        }
        for entry in entries {
            core.entry_bytes += entry.data.len() as u64;
            core.entries.push(entry.clone());
        }
        Ok(())
    }

    /// Records the hard state (term, vote, commit).
    pub fn set_hard_state(&self, hard_state: &HardState) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let bytes = encode(hard_state)?;
        inner.core.hard_state = hard_state.clone();
        Self::stage_meta(&mut inner.backend, KEY_HARD_STATE, Some(bytes));
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
        let Inner { core, backend } = &mut *inner;
        let stored = std::mem::take(&mut core.batches);
        if let Backend::Sled { to_reclaim, .. } = backend {
            to_reclaim.extend(default_tree_runs(stored.iter()));
        }
        core.entries.clear();
        core.entry_bytes = 0;
        core.truncated = (meta.index, meta.term);
        core.snapshot = meta.clone();
        core.conf_state = meta.get_conf_state().clone();
        core.hard_state.term = core.hard_state.term.max(meta.term);
        core.hard_state.commit = core.hard_state.commit.max(meta.index);
        let hs = encode(&core.hard_state)?;
        Self::stage_meta(backend, KEY_HARD_STATE, Some(hs));
        let cs = encode(&core.conf_state)?;
        let snap = encode(meta)?;
        Self::stage_meta(backend, KEY_CONF_STATE, Some(cs));
        Self::stage_meta(backend, KEY_SNAPSHOT, Some(snap));
        Self::stage_meta(backend, KEY_TRUNCATED, Some(trunc_bytes(core.truncated)));
        Self::require_atomic(backend);
        // The log starts afresh in a new generation; every older one goes, and until it
        // has gone none is read back.
        let generation = Self::start_generation(backend)?;
        Self::stage_meta(
            backend,
            KEY_FIRST_GENERATION,
            Some(generation.to_be_bytes().to_vec()),
        );
        Self::retire_generations(core, backend);
        Ok(())
    }

    /// Opens the next generation tree, which new runs go to from now on, and returns its
    /// number (0 in memory).
    fn start_generation(backend: &mut Backend) -> Result<u64, StoreError> {
        let Backend::Sled {
            db, generations, ..
        } = backend
        else {
            return Ok(0);
        };
        let next = generations.keys().next_back().map_or(1, |g| g + 1);
        generations.insert(next, db.open_tree(generation_name(next))?);
        Ok(next)
    }

    /// Schedules the generations holding no live run to be dropped after the next flush.
    fn retire_generations(core: &Core, backend: &mut Backend) {
        if let Backend::Sled {
            generations,
            to_drop,
            ..
        } = backend
        {
            let dead = dead_generations(generations, &core.batches);
            for generation in &dead {
                generations.remove(generation);
            }
            to_drop.extend(dead);
        }
    }

    /// Records a snapshot this node took of its own state at `index` (which it has
    /// applied, so it is committed): raft-rs will offer it to lagging followers.
    pub fn record_snapshot(&self, index: u64, term: u64) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let Inner { core, backend } = &mut *inner;
        if index <= core.snapshot.index {
            return Ok(());
        }
        let mut meta = SnapshotMetadata {
            index,
            term,
            ..Default::default()
        };
        meta.set_conf_state(core.conf_state.clone());
        Self::stage_meta(backend, KEY_SNAPSHOT, Some(encode(&meta)?));
        Self::require_atomic(backend);
        core.snapshot = meta;
        // A snapshot's index is applied, hence committed: keep commit ≥ it on disk so a
        // restart never finds applied > commit.
        if core.hard_state.commit < index {
            core.hard_state.commit = index;
            let hs = encode(&core.hard_state)?;
            Self::stage_meta(backend, KEY_HARD_STATE, Some(hs));
        }
        Ok(())
    }

    /// Drops entries up to and including `index` (at most the latest snapshot's index).
    pub fn compact(&self, index: u64) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        let Inner { core, backend } = &mut *inner;
        let index = index.min(core.snapshot.index).min(core.last_index());
        if index < core.first_index() {
            return Ok(());
        }
        let term = core.entries[(index - core.first_index()) as usize].term;
        let compacted: Vec<(u64, Run)> = core
            .batches
            .range(..=index)
            .filter(|(_, run)| run.last <= index)
            .map(|(first, run)| (*first, *run))
            .collect();
        for (first, _) in &compacted {
            core.batches.remove(first);
        }
        if let Backend::Sled { to_reclaim, .. } = backend {
            to_reclaim.extend(default_tree_runs(compacted.iter().map(|(f, run)| (f, run))));
        }
        // New runs go to a new generation, so the one written so far can be dropped
        // whole once a later compaction passes it.
        let newest = Self::newest_generation(backend);
        let newest_used = [
            compacted.last().map(|(_, run)| run),
            core.batches.values().next_back(),
        ]
        .into_iter()
        .flatten()
        .any(|run| run.generation == newest);
        if newest > 0 && newest_used {
            Self::start_generation(backend)?;
        }
        Self::retire_generations(core, backend);
        let drop = (index + 1 - core.first_index()) as usize;
        let removed: u64 = core.entries[..drop]
            .iter()
            .map(|e| e.data.len() as u64)
            .sum();
        core.entry_bytes -= removed;
        let kept = core.entries.split_off(drop);
        let compacted = std::mem::replace(&mut core.entries, kept);
        if let Backend::Sled { reclaimer, .. } = backend {
            reclaimer.discard(compacted);
        }
        core.truncated = (index, term);
        Self::stage_meta(backend, KEY_TRUNCATED, Some(trunc_bytes(core.truncated)));
        Ok(())
    }

    /// Makes every change so far durable: one write and one fsync (plus the manifest
    /// of an atomic batch when something is removed or replaced).
    pub fn flush(&self) -> Result<(), StoreError> {
        let mut inner = self.inner.write();
        if let Backend::Sled {
            meta,
            generations,
            pending_meta,
            pending_runs,
            atomic,
            file,
            reclaimer,
            to_reclaim,
            to_drop,
            blobs,
            ..
        } = &mut inner.backend
        {
            let started = Instant::now();
            let meta_changes: Vec<_> = std::mem::take(pending_meta).into_iter().collect();
            // Run changes by generation; those of a generation already retired are dead.
            let mut by_generation: std::collections::BTreeMap<u64, Vec<Change>> =
                std::collections::BTreeMap::new();
            for ((generation, first), value) in std::mem::take(pending_runs) {
                let change = (batch_key(first).to_vec(), value);
                by_generation.entry(generation).or_default().push(change);
            }
            let run_changes: Vec<(&sled::Tree, Vec<Change>)> = by_generation
                .into_iter()
                .filter_map(|(generation, changes)| Some((generations.get(&generation)?, changes)))
                .collect();
            if std::mem::take(atomic) {
                let mut trees = vec![&*meta];
                let mut batches = vec![batch_of(meta_changes)];
                for (tree, changes) in run_changes {
                    trees.push(tree);
                    batches.push(batch_of(changes));
                }
                apply_together(&trees, batches)?;
            } else if run_changes.is_empty() && meta_changes.is_empty() {
                return Ok(());
            } else {
                // Entries before the hard state that may commit them.
                for (tree, changes) in run_changes {
                    write_each(tree, changes)?;
                }
                write_each(meta, meta_changes)?;
            }
            let written = started.elapsed();
            // A blob file must be on disk before the log record naming it is.
            blobs.sync()?;
            meta.flush()?;
            blobs.sync()?;
            let flushed = started.elapsed();
            file.sync_data()?;
            let took = started.elapsed();
            self.flush_times.record(took);
            if exceeds(took, self.slow_flush) {
                warn!(
                    took_ms = took.as_millis() as u64,
                    sled_write_ms = written.as_millis() as u64,
                    sled_flush_ms = (flushed - written).as_millis() as u64,
                    fdatasync_ms = (took - flushed).as_millis() as u64,
                    "flushing the log took longer than fsync.warningthresholdms; every write \
                     waiting for it was delayed as long"
                );
            }
            // Only now is the truncation marker that makes these runs dead durable.
            reclaimer.reclaim(std::mem::take(to_reclaim));
            reclaimer.drop_generations(std::mem::take(to_drop));
        }
        Ok(())
    }

    /// Logs a warning for every flush slower than `threshold` (default
    /// [`SLOW_FLUSH_DEFAULT`]), saying how long sled's write, its flush and the fdatasync
    /// each took.
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

    /// Bytes sled occupies on disk (0 in memory).
    pub fn size_on_disk(&self) -> u64 {
        match &self.inner.read().backend {
            Backend::Sled { db, .. } => db.size_on_disk().unwrap_or(0),
            Backend::Memory => 0,
        }
    }
}

/// Whether a flush that `took` this long is over `threshold`, in whole milliseconds as
/// ZooKeeper compares them (a threshold of 0 flags flushes of 1 ms and more).
fn exceeds(took: Duration, threshold: Duration) -> bool {
    took.as_millis() > threshold.as_millis()
}

/// First indexes of the runs among `runs` stored in the default tree (generation 0),
/// which go key by key.
fn default_tree_runs<'a>(runs: impl Iterator<Item = (&'a u64, &'a Run)>) -> Vec<u64> {
    runs.filter(|(_, run)| run.generation == 0)
        .map(|(first, _)| *first)
        .collect()
}

/// Generations that hold no live run, other than the default tree and the newest (which
/// takes new runs).
fn dead_generations(
    generations: &std::collections::BTreeMap<u64, sled::Tree>,
    batches: &std::collections::BTreeMap<u64, Run>,
) -> Vec<u64> {
    let live: std::collections::BTreeSet<u64> =
        batches.values().map(|run| run.generation).collect();
    let newest = generations.keys().next_back().copied();
    generations
        .keys()
        .copied()
        .filter(|g| *g != 0 && Some(*g) != newest && !live.contains(g))
        .collect()
}

/// A queued change: a key and its new value, or `None` to remove it.
type Change = (Vec<u8>, Option<Vec<u8>>);

/// Queued changes as one sled batch.
fn batch_of(changes: Vec<Change>) -> sled::Batch {
    let mut batch = sled::Batch::default();
    for (key, value) in changes {
        match value {
            Some(value) => batch.insert(key, value),
            None => batch.remove(key),
        }
    }
    batch
}

/// Writes queued changes one by one, in order.
fn write_each(tree: &sled::Tree, changes: Vec<Change>) -> Result<(), StoreError> {
    for (key, value) in changes {
        match value {
            Some(value) => tree.insert(key, value)?,
            None => tree.remove(key)?,
        };
    }
    Ok(())
}

/// sled's refusal to open a database whose file lock another handle holds.
fn is_lock_held(error: &std::io::Error) -> bool {
    error.to_string().contains("could not acquire lock")
}

/// Applies `batches[i]` to `trees[i]`, all as one atomic change.
fn apply_together(trees: &[&sled::Tree], batches: Vec<sled::Batch>) -> Result<(), StoreError> {
    use sled::Transactional;
    trees
        .transaction(|views| {
            for (view, batch) in views.iter().zip(&batches) {
                view.apply_batch(batch)?;
            }
            Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
        })
        .map_err(|error| match error {
            sled::transaction::TransactionError::Storage(error) => StoreError::Sled(error),
            sled::transaction::TransactionError::Abort(()) => {
                StoreError::Corrupt("log transaction aborted")
            }
        })
}

/// Moves the hard state, membership, snapshot record and truncation marker of a store
/// written before they had a tree of their own out of the log tree, in one atomic step.
fn migrate_meta(log: &sled::Tree, meta: &sled::Tree) -> Result<(), StoreError> {
    let mut log_batch = sled::Batch::default();
    let mut meta_batch = sled::Batch::default();
    let mut found = false;
    for key in META_KEYS {
        if let Some(value) = log.get(key)? {
            found = true;
            meta_batch.insert(key, value);
            log_batch.remove(key);
        }
    }
    if found {
        apply_together(&[log, meta], vec![log_batch, meta_batch])?;
        log.flush()?;
    }
    Ok(())
}

fn trunc_bytes((index, term): (u64, u64)) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&index.to_be_bytes());
    out.extend_from_slice(&term.to_be_bytes());
    out
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
        let mut out = core.entries[start..end].to_vec();
        raft::util::limit_size(&mut out, max_size.into());
        Ok(out)
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
        Ok(core.entries[(index - core.first_index()) as usize].term)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn blob_sync_tracks_the_newest_blob_and_tolerates_a_missing_directory() {
        let dir = tempfile::tempdir().unwrap();
        let blobs_dir = dir.path().join("blobs");
        let mut blobs = BlobSync::new(blobs_dir.clone()).unwrap();
        assert_eq!(blobs.synced_through, 0, "no directory yet");
        std::fs::create_dir(&blobs_dir).unwrap();
        std::fs::write(blobs_dir.join("40"), b"x").unwrap();
        std::fs::write(blobs_dir.join("not-a-blob"), b"x").unwrap();
        blobs.sync().unwrap();
        assert_eq!(blobs.synced_through, 40);
        std::fs::write(blobs_dir.join("7"), b"x").unwrap();
        std::fs::write(blobs_dir.join("95"), b"x").unwrap();
        blobs.sync().unwrap();
        assert_eq!(blobs.synced_through, 95);
    }

    #[test]
    fn slow_flushes_are_judged_in_whole_milliseconds() {
        let ms = Duration::from_millis;
        assert!(!exceeds(Duration::from_micros(999), Duration::ZERO));
        assert!(exceeds(ms(1), Duration::ZERO));
        assert!(!exceeds(Duration::from_micros(1_000_999), ms(1000)));
        assert!(exceeds(ms(1001), ms(1000)));
    }

    #[test]
    fn runs_keep_order_and_bound_their_size() {
        let entries: Vec<Entry> = (1..=100)
            .map(|index| Entry {
                index,
                data: vec![0; if index == 50 { 10_000 } else { 300 }].into(),
                ..Default::default()
            })
            .collect();
        let runs: Vec<&[Entry]> = runs(&entries).collect();
        let flat: Vec<u64> = runs
            .iter()
            .flat_map(|r| r.iter().map(|e| e.index))
            .collect();
        assert_eq!(flat, (1..=100).collect::<Vec<_>>());
        for run in &runs {
            let bytes: usize = run.iter().map(|e| e.data.len()).sum();
            assert!(
                bytes <= RUN_BYTES || run.len() == 1,
                "{bytes} bytes in {}",
                run.len()
            );
        }
        assert!(runs.iter().any(|r| r.len() == 1 && r[0].index == 50));
        assert!(runs.len() > 5);
    }
}
