//! The log store's append path to its segment files with real fsync: one Ready's entries appended,
//! the commit index moved, and both flushed, for 1, 16 and 256 entries of 100 bytes
//! (group commit makes the cost per entry fall with the batch).
//!
//! Run: `cargo bench -p paddock-raft --bench storage`

#![allow(clippy::unwrap_used, missing_docs)]

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use paddock_raft::LogStore;
use raft::prelude::Entry;

fn append(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let store = LogStore::open(dir.path(), &[1, 2, 3]).unwrap();
    let mut next = 1u64;
    let mut group = c.benchmark_group("log_append_flush");
    for batch in [1u64, 16, 256] {
        group.throughput(Throughput::Elements(batch));
        group.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter(|| {
                let entries: Vec<Entry> = (next..next + batch)
                    .map(|index| Entry {
                        index,
                        term: 1,
                        data: vec![7u8; 100].into(),
                        ..Default::default()
                    })
                    .collect();
                next += batch;
                store.append(&entries).unwrap();
                store.set_commit(next - batch).unwrap();
                store.flush().unwrap();
            })
        });
    }
    group.finish();
}

criterion_group!(benches, append);
criterion_main!(benches);
