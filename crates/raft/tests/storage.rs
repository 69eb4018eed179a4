//! One conformance suite for every log store: in memory and on disk. Same behaviour is
//! required of both; the one on disk must also survive reopening, crashes that tear its
//! newest segment, and a data directory an earlier Paddock wrote with the log in sled.

#![allow(clippy::unwrap_used)]

use paddock_raft::LogStore;
use raft::prelude::{Entry, HardState, SnapshotMetadata};
use raft::{GetEntriesContext, Storage, StorageError};

fn entry(index: u64, term: u64) -> Entry {
    Entry {
        index,
        term,
        data: format!("data-{index}-{term}").into_bytes().into(),
        ..Default::default()
    }
}

/// A run of entries as the old sled store kept it: key `b` + first index, value each
/// entry's length and protobuf encoding. Written by hand to build stores a test then opens.
fn stored_run(indexes: std::ops::RangeInclusive<u64>, term: u64) -> (Vec<u8>, Vec<u8>) {
    use protobuf::Message;
    let mut key = vec![b'b'];
    key.extend_from_slice(&indexes.start().to_be_bytes());
    let mut run = Vec::new();
    for index in indexes {
        let bytes = entry(index, term).write_to_bytes().unwrap();
        run.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        run.extend_from_slice(&bytes);
    }
    (key, run)
}

fn entries(store: &LogStore, low: u64, high: u64) -> raft::Result<Vec<Entry>> {
    store.entries(low, high, None, GetEntriesContext::empty(false))
}

fn conformance(store: &LogStore) {
    assert_eq!(store.first_index().unwrap(), 1);
    assert_eq!(store.last_index().unwrap(), 0);
    assert_eq!(store.term(0).unwrap(), 0);
    assert_eq!(
        store.initial_state().unwrap().conf_state.voters,
        vec![1, 2, 3]
    );

    store
        .append(&(1..=10).map(|i| entry(i, 1)).collect::<Vec<_>>())
        .unwrap();
    assert_eq!(store.last_index().unwrap(), 10);
    assert_eq!(entries(store, 3, 6).unwrap().len(), 3);
    assert_eq!(entries(store, 3, 6).unwrap()[0].index, 3);
    // max_size keeps at least one entry.
    assert_eq!(
        store
            .entries(3, 6, Some(1), GetEntriesContext::empty(false))
            .unwrap()
            .len(),
        1
    );

    // A conflicting append replaces the suffix.
    store.append(&[entry(8, 2), entry(9, 2)]).unwrap();
    assert_eq!(store.last_index().unwrap(), 9);
    assert_eq!(store.term(8).unwrap(), 2);
    assert_eq!(store.term(7).unwrap(), 1);
    assert!(matches!(
        store.term(10),
        Err(raft::Error::Store(StorageError::Unavailable))
    ));
    assert!(store.append(&[entry(20, 2)]).is_err(), "gaps are refused");

    let hs = HardState {
        term: 2,
        vote: 3,
        commit: 7,
        ..Default::default()
    };
    store.set_hard_state(&hs).unwrap();
    store.set_commit(5).unwrap();
    assert_eq!(store.hard_state().commit, 7, "commit never goes back");

    // Compaction is bounded by the latest snapshot and keeps the boundary term.
    store.compact(5).unwrap();
    assert_eq!(
        store.first_index().unwrap(),
        1,
        "no snapshot yet: nothing compacted"
    );
    store.record_snapshot(6, 1).unwrap();
    store.compact(5).unwrap();
    assert_eq!(store.first_index().unwrap(), 6);
    assert_eq!(
        store.term(5).unwrap(),
        1,
        "term of the compacted boundary is kept"
    );
    assert!(matches!(
        store.term(4),
        Err(raft::Error::Store(StorageError::Compacted))
    ));
    assert!(matches!(
        entries(store, 4, 7),
        Err(raft::Error::Store(StorageError::Compacted))
    ));
    let snapshot = store.snapshot(0, 2).unwrap();
    assert_eq!(snapshot.get_metadata().index, 6);
    assert_eq!(
        snapshot.get_metadata().get_conf_state().voters,
        vec![1, 2, 3]
    );
    store.flush().unwrap();

    // Installing a leader's snapshot restarts the log after it.
    let mut meta = SnapshotMetadata {
        index: 20,
        term: 3,
        ..Default::default()
    };
    meta.mut_conf_state().voters = vec![1, 2, 3];
    store.apply_snapshot(&meta).unwrap();
    assert_eq!(store.first_index().unwrap(), 21);
    assert_eq!(store.last_index().unwrap(), 20);
    assert_eq!(store.term(20).unwrap(), 3);
    assert_eq!(store.hard_state().commit, 20);
    store.append(&[entry(21, 3), entry(22, 3)]).unwrap();
    store.flush().unwrap();
}

#[test]
fn in_memory_store_conforms() {
    conformance(&LogStore::in_memory(&[1, 2, 3]));
}

#[test]
fn disk_store_conforms_and_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1, 2, 3]).unwrap();
        conformance(&store);
    }
    let store = LogStore::open(dir.path(), &[9]).unwrap();
    assert_eq!(store.first_index().unwrap(), 21);
    assert_eq!(store.last_index().unwrap(), 22);
    assert_eq!(store.term(20).unwrap(), 3);
    assert_eq!(store.hard_state().commit, 20);
    assert_eq!(
        store.initial_state().unwrap().conf_state.voters,
        vec![1, 2, 3],
        "recorded membership wins"
    );
    assert_eq!(store.snapshot_metadata().index, 20);
}

#[test]
fn unflushed_changes_are_lost_on_crash_flushed_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store.append(&[entry(1, 1), entry(2, 1)]).unwrap();
        store.flush().unwrap();
        store.append(&[entry(3, 1)]).unwrap();
        // Dropped without a flush: like a crash before the fsync.
    }
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert!(store.last_index().unwrap() >= 2, "flushed entries survive");
}

#[test]
fn flushes_from_other_threads_while_the_log_grows_keep_every_entry_and_the_hard_state() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            // Flushing whatever is queued, over and over, from three threads at once (the
            // writer thread and the Ready loop's own flushes, and more).
            let writers: Vec<_> = (0..3)
                .map(|_| {
                    scope.spawn(|| {
                        let mut flushes = 0;
                        while !done.load(std::sync::atomic::Ordering::Relaxed) {
                            store.flush().unwrap();
                            flushes += 1;
                        }
                        flushes
                    })
                })
                .collect();
            for round in 0..200u64 {
                let from = round * 10 + 1;
                let run: Vec<Entry> = (from..from + 10).map(|i| entry(i, 1)).collect();
                store.append(&run).unwrap();
                store.set_hard_state(&hard_state(1, 1, from + 9)).unwrap();
                if round % 50 == 49 {
                    // Compaction starts a new segment: a flush then writes two.
                    store.record_snapshot(from + 9, 1).unwrap();
                    store.compact(from).unwrap();
                }
                if round % 7 == 0 {
                    // The loop's own flushes (a snapshot), racing the writer's.
                    store.flush().unwrap();
                }
            }
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            for writer in writers {
                assert!(writer.join().unwrap() > 0);
            }
        });
        store.flush().unwrap();
    }
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(store.last_index().unwrap(), 2000);
    let first = store.first_index().unwrap();
    assert_eq!(first, 1992, "compacted up to the last round's first entry");
    let kept = entries(&store, first, 2001).unwrap();
    assert!(
        kept.iter()
            .zip(first..)
            .all(|(e, index)| e.index == index && e.data == entry(index, 1).data)
    );
    assert_eq!(store.hard_state().commit, 2000);
}

/// The segment files of the store in `dir`, by name.
fn segments(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("wal"))
        .unwrap()
        .filter_map(|item| item.unwrap().file_name().into_string().ok())
        .filter(|name| name.ends_with(".log"))
        .collect();
    names.sort();
    names
}

#[test]
fn compacted_segments_are_deleted_and_the_rest_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        for round in 0..3u64 {
            let from = round * 100 + 1;
            let batch: Vec<Entry> = (from..from + 100)
                .map(|i| sized_entry(i, 1, 1000))
                .collect();
            store.append(&batch).unwrap();
            store.flush().unwrap();
            // Half of this round's entries stay: its segment stays until the next round
            // compacts past them.
            store.record_snapshot(from + 99, 1).unwrap();
            store.compact(from + 49).unwrap();
            store.flush().unwrap();
        }
        // Dropping the store waits for its reclaimer.
    }
    // The third round's (live) and the new one its compaction started.
    assert_eq!(
        segments(dir.path()),
        ["0000000000000003.log", "0000000000000004.log"]
    );
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(store.first_index().unwrap(), 251);
    assert_eq!(
        entries(&store, 251, 301).unwrap(),
        (251..=300)
            .map(|i| sized_entry(i, 1, 1000))
            .collect::<Vec<_>>()
    );
    store.append(&[entry(301, 1)]).unwrap();
    store.flush().unwrap();
    drop(store);
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(store.last_index().unwrap(), 301);
}

#[test]
fn a_log_replaced_by_a_snapshot_is_never_read_back_from_segments_a_crash_left() {
    let dir = tempfile::tempdir().unwrap();
    let old = dir.path().join("wal").join("0000000000000001.log");
    let kept = dir.path().join("replaced-segment");
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        let batch: Vec<Entry> = (1..=50).map(|i| entry(i, 1)).collect();
        store.append(&batch).unwrap();
        store.flush().unwrap();
        std::fs::copy(&old, &kept).unwrap();
        // The leader's log differs after 40: its snapshot replaces ours.
        let mut meta = SnapshotMetadata {
            index: 40,
            term: 2,
            ..Default::default()
        };
        meta.mut_conf_state().voters = vec![1];
        store.apply_snapshot(&meta).unwrap();
        store.flush().unwrap();
    }
    // A crash before the replaced segment was deleted leaves it behind.
    std::fs::copy(&kept, &old).unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        assert_eq!(store.first_index().unwrap(), 41);
        assert_eq!(
            store.last_index().unwrap(),
            40,
            "entries 41..=50 were replaced"
        );
        store.append(&[entry(41, 2)]).unwrap();
        store.flush().unwrap();
    }
    assert!(
        !old.exists(),
        "the replaced segment goes once the log is durable"
    );
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(entries(&store, 41, 42).unwrap(), vec![entry(41, 2)]);
}

/// The newest segment's path and bytes.
fn newest_segment(dir: &std::path::Path) -> std::path::PathBuf {
    let name = segments(dir).pop().unwrap();
    dir.join("wal").join(name)
}

/// Where the records of a segment end: it is extended ahead of them with zeroes, and the
/// last byte of these tests' records (an entry's index) is never zero.
fn records_end(path: &std::path::Path) -> u64 {
    let bytes = std::fs::read(path).unwrap();
    bytes
        .iter()
        .rposition(|byte| *byte != 0)
        .map_or(0, |last| last as u64 + 1)
}

#[test]
fn a_segment_is_extended_ahead_of_its_records_and_reopens_where_they_end() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store.append(&[entry(1, 1), entry(2, 1)]).unwrap();
        store.flush().unwrap();
    }
    let path = newest_segment(dir.path());
    let allocated = std::fs::metadata(&path).unwrap().len();
    let end = records_end(&path);
    assert!(
        allocated > end,
        "zeroes follow the records: {allocated} vs {end}"
    );
    for round in 0..3u64 {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        assert_eq!(
            store.last_index().unwrap(),
            2 + round,
            "nothing lost or invented"
        );
        store.append(&[entry(3 + round, 1)]).unwrap();
        store.flush().unwrap();
    }
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        allocated,
        "appends after reopening go into the zeroes, not after them"
    );
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(
        entries(&store, 1, 6).unwrap(),
        (1..=5).map(|i| entry(i, 1)).collect::<Vec<_>>()
    );
}

#[test]
fn a_torn_tail_is_cut_off_and_everything_before_it_kept() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store.append(&[entry(1, 1), entry(2, 1)]).unwrap();
        store.flush().unwrap();
        store.append(&[entry(3, 1), entry(4, 1)]).unwrap();
        store.flush().unwrap();
    }
    // A crash cut the last record short, then left zeroes a filesystem may show past it.
    let path = newest_segment(dir.path());
    let len = records_end(&path);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 3).unwrap();
    file.set_len(len + 4096).unwrap();
    drop(file);
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        assert_eq!(
            store.last_index().unwrap(),
            2,
            "the torn run is gone, no more"
        );
        store.append(&[entry(3, 2)]).unwrap();
        store.flush().unwrap();
    }
    // Garbage rather than zeroes right after the records: its checksum does not match.
    let mut bytes = std::fs::read(&path).unwrap();
    let end = records_end(&path) as usize;
    let garbage = [[40, 0, 0, 0, 1, 2, 3, 4].as_slice(), &[7; 40]].concat();
    bytes[end..end + garbage.len()].copy_from_slice(&garbage);
    std::fs::write(&path, bytes).unwrap();
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(
        entries(&store, 1, 4).unwrap(),
        vec![entry(1, 1), entry(2, 1), entry(3, 2)]
    );
}

#[test]
fn a_damaged_record_in_an_older_segment_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store
            .append(&(1..=10).map(|i| entry(i, 1)).collect::<Vec<_>>())
            .unwrap();
        store.record_snapshot(10, 1).unwrap();
        store.compact(5).unwrap();
        store.append(&[entry(11, 1)]).unwrap();
        store.flush().unwrap();
    }
    let names = segments(dir.path());
    assert_eq!(
        names.len(),
        2,
        "the compaction started a segment: {names:?}"
    );
    // A synced segment cannot be torn: a bad byte in it is damage, not a crash.
    let older = dir.path().join("wal").join(&names[0]);
    let mut bytes = std::fs::read(&older).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&older, bytes).unwrap();
    assert!(LogStore::open(dir.path(), &[1]).is_err());
}

#[test]
fn a_second_store_cannot_open_a_directory_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert!(matches!(
        LogStore::open(dir.path(), &[1]),
        Err(paddock_raft::StoreError::Locked)
    ));
    drop(store);
    LogStore::open(dir.path(), &[1]).unwrap();
}

fn hard_state(term: u64, vote: u64, commit: u64) -> HardState {
    HardState {
        term,
        vote,
        commit,
        ..Default::default()
    }
}

#[test]
fn hard_state_survives_reopening_and_commit_never_trails_a_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store
            .append(&(1..=10).map(|i| entry(i, 2)).collect::<Vec<_>>())
            .unwrap();
        store.set_hard_state(&hard_state(2, 1, 3)).unwrap();
        store.flush().unwrap();
    }
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        assert_eq!(store.hard_state(), hard_state(2, 1, 3));
        // A snapshot's index is applied: the commit on disk must reach it, or a
        // restart would find applied beyond commit.
        store.record_snapshot(8, 2).unwrap();
        store.flush().unwrap();
    }
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        assert_eq!(store.hard_state(), hard_state(2, 1, 8));
        assert_eq!(store.snapshot_metadata().index, 8);
        assert_eq!(store.last_index().unwrap(), 10);
        store.set_commit(9).unwrap();
        store.flush().unwrap();
    }
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(store.hard_state(), hard_state(2, 1, 9));
}

#[test]
fn a_snapshot_installed_after_an_unflushed_hard_state_keeps_its_commit_index() {
    // A Ready whose only change is the commit index is not flushed at once; a snapshot
    // installed in the next one raises commit and term, and must not be taken back.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store.append(&[entry(1, 1), entry(2, 1)]).unwrap();
        store.set_hard_state(&hard_state(1, 1, 1)).unwrap();
        store.flush().unwrap();
        store.set_commit(2).unwrap();
        let mut meta = SnapshotMetadata {
            index: 20,
            term: 3,
            ..Default::default()
        };
        meta.mut_conf_state().voters = vec![1];
        store.apply_snapshot(&meta).unwrap();
        store.flush().unwrap();
    }
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(store.hard_state(), hard_state(3, 1, 20));
    assert_eq!(store.first_index().unwrap(), 21);
}

#[test]
fn a_commit_index_beyond_the_surviving_log_is_cut_back_to_its_end() {
    // What a crash can leave when a Ready's hard state reached the disk and the tail of
    // its entries did not.
    let dir = tempfile::tempdir().unwrap();
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store
            .append(&[entry(1, 1), entry(2, 1), entry(3, 1)])
            .unwrap();
        store.set_hard_state(&hard_state(1, 1, 5)).unwrap();
        store.flush().unwrap();
    }
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(store.hard_state(), hard_state(1, 1, 3));
    assert_eq!(store.last_index().unwrap(), 3);
}

fn sized_entry(index: u64, term: u64, len: usize) -> Entry {
    Entry {
        index,
        term,
        data: vec![(index % 251) as u8; len].into(),
        ..Default::default()
    }
}

#[test]
fn large_and_many_entries_survive_reopening_and_a_conflicting_suffix() {
    // Small entries, one of 300 KiB, and a new leader overwriting from the middle of an
    // append.
    let dir = tempfile::tempdir().unwrap();
    let mut expected: Vec<Entry> = (1..=400).map(|i| sized_entry(i, 1, 100)).collect();
    expected.push(sized_entry(401, 1, 300 << 10));
    expected.extend((402..=410).map(|i| sized_entry(i, 1, 5000)));
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        store.append(&expected).unwrap();
        store.flush().unwrap();
    }
    {
        let store = LogStore::open(dir.path(), &[1]).unwrap();
        assert_eq!(entries(&store, 1, 411).unwrap(), expected);
        // A new leader overwrites from the middle of an append on.
        let replacement: Vec<Entry> = (150..=160).map(|i| sized_entry(i, 2, 10)).collect();
        store.append(&replacement).unwrap();
        store.flush().unwrap();
        expected.truncate(149);
        expected.extend(replacement);
    }
    let store = LogStore::open(dir.path(), &[1]).unwrap();
    assert_eq!(store.last_index().unwrap(), 160);
    assert_eq!(entries(&store, 1, 161).unwrap(), expected);
}

#[test]
fn a_sled_store_with_its_state_in_the_log_tree_is_moved_into_segments() {
    // The oldest sled layout: the hard state, membership, snapshot record and truncation
    // marker beside the runs in sled's default tree.
    use protobuf::Message;
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        db.insert("hs", hard_state(3, 2, 12).write_to_bytes().unwrap())
            .unwrap();
        let conf = raft::prelude::ConfState::from((vec![1u64, 2, 3], vec![]));
        db.insert("cs", conf.write_to_bytes().unwrap()).unwrap();
        let mut trunc = 10u64.to_be_bytes().to_vec();
        trunc.extend_from_slice(&2u64.to_be_bytes());
        db.insert("trunc", trunc).unwrap();
        let (key, batch) = stored_run(11..=14, 3);
        db.insert(key, batch).unwrap();
        db.flush().unwrap();
    }
    for _ in 0..2 {
        let store = LogStore::open(dir.path(), &[9]).unwrap();
        assert_eq!(store.hard_state(), hard_state(3, 2, 12));
        assert_eq!(
            store.initial_state().unwrap().conf_state.voters,
            vec![1, 2, 3]
        );
        assert_eq!(store.first_index().unwrap(), 11);
        assert_eq!(store.term(10).unwrap(), 2);
        assert_eq!(
            entries(&store, 11, 15).unwrap(),
            (11..=14).map(|i| entry(i, 3)).collect::<Vec<_>>()
        );
    }
    {
        let store = LogStore::open(dir.path(), &[9]).unwrap();
        store.set_commit(14).unwrap();
        store.flush().unwrap();
    }
    {
        let store = LogStore::open(dir.path(), &[9]).unwrap();
        assert_eq!(store.hard_state(), hard_state(3, 2, 14));
    }
    assert!(!dir.path().join("db").exists(), "sled's files are removed");
    assert_eq!(segments(dir.path()).len(), 1);
}

#[test]
fn a_sled_store_with_generation_trees_is_moved_without_a_replaced_log() {
    // The last sled layout: state in the tree `meta`, runs in generation trees, and the
    // generations before `gen` left from a log that a leader's snapshot replaced.
    use protobuf::Message;
    let dir = tempfile::tempdir().unwrap();
    {
        let db = sled::open(dir.path()).unwrap();
        let meta = db.open_tree("meta").unwrap();
        meta.insert("hs", hard_state(2, 1, 42).write_to_bytes().unwrap())
            .unwrap();
        let mut trunc = 40u64.to_be_bytes().to_vec();
        trunc.extend_from_slice(&2u64.to_be_bytes());
        meta.insert("trunc", trunc).unwrap();
        meta.insert("gen", &2u64.to_be_bytes()[..]).unwrap();
        let replaced = db.open_tree("log.0000000000000001").unwrap();
        let (key, run) = stored_run(35..=50, 1);
        replaced.insert(key, run).unwrap();
        let live = db.open_tree("log.0000000000000002").unwrap();
        for run in [stored_run(41..=42, 2), stored_run(43..=44, 2)] {
            live.insert(run.0, run.1).unwrap();
        }
        db.flush().unwrap();
    }
    for voters in [[7], [8]] {
        let store = LogStore::open(dir.path(), &voters).unwrap();
        assert_eq!(store.hard_state(), hard_state(2, 1, 42));
        assert_eq!(store.first_index().unwrap(), 41);
        assert_eq!(
            entries(&store, 41, 45).unwrap(),
            (41..=44).map(|i| entry(i, 2)).collect::<Vec<_>>()
        );
        assert_eq!(
            store.initial_state().unwrap().conf_state.voters,
            voters,
            "no membership was recorded: the one given is used"
        );
    }
}
