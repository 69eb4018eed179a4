//! Tree benchmarks on a tree holding 1M znodes with 100-byte values: apply throughput
//! for create / setData (and a create while a snapshot's frozen clone lives), getData reads, snapshot write and load, and the memory cost per
//! znode (RSS growth while filling, printed once).
//!
//! Run: `cargo bench -p paddock-tree --bench tree`

#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use paddock_jute::{Acl, CreateRequest, PathWatchRequest, Request, SetDataRequest};
use paddock_tree::{Tree, TreeConfig, Txn, TxnOp};

const ZNODES: usize = 1_000_000;
const SESSION: i64 = 0x0100_0000_0000_0001;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

struct Filled {
    tree: Tree,
    zxid: i64,
}

impl Filled {
    fn txn(&mut self, op: TxnOp) -> Txn {
        self.zxid += 1;
        Txn {
            zxid: self.zxid,
            time_ms: 1_700_000_000_000 + self.zxid,
            session_id: SESSION,
            auth: vec![],
            owner: 0,
            op,
        }
    }

    fn create(&mut self, path: String) -> Txn {
        self.txn(TxnOp::Write(Request::Create(CreateRequest {
            path,
            data: Some(vec![b'v'; 100]),
            acl: Acl::open_unsafe(),
            flags: 0,
            ttl: 0,
        })))
    }
}

fn name(i: usize) -> String {
    format!("/bench/n{i:010}")
}

fn fill() -> Filled {
    let mut f = Filled {
        tree: Tree::new(TreeConfig::default()),
        zxid: 0,
    };
    let t = f.txn(TxnOp::CreateSession {
        timeout_ms: 30_000,
        password: vec![0; 16],
    });
    f.tree.apply(t);
    let t = f.create("/bench".into());
    f.tree.apply(t);
    let before = rss_bytes();
    let start = Instant::now();
    for i in 0..ZNODES {
        let t = f.create(name(i));
        f.tree.apply(t);
    }
    let elapsed = start.elapsed();
    let after = rss_bytes();
    let per_node = (after.saturating_sub(before)) as f64 / ZNODES as f64;
    let name_len = "n0000000000".len() as f64;
    println!(
        "fill: {ZNODES} znodes in {:.2?} ({:.0} creates/s); RSS +{:.1} MiB = {per_node:.0} B/znode, \
         {:.0} B/znode beyond name ({name_len}) and data (100)",
        elapsed,
        ZNODES as f64 / elapsed.as_secs_f64(),
        (after - before) as f64 / (1 << 20) as f64,
        per_node - name_len - 100.0,
    );
    f
}

fn benches(c: &mut Criterion) {
    let mut f = fill();
    let mut group = c.benchmark_group("tree_1M");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(20));
    // Written once up front too, so `snapshot_load` has its input when run alone.
    let mut snapshot = Vec::new();
    f.tree.write_snapshot(&mut snapshot).unwrap();
    group.bench_function("snapshot_write", |b| {
        b.iter(|| {
            snapshot.clear();
            black_box(f.tree.write_snapshot(&mut snapshot).unwrap())
        })
    });
    println!(
        "snapshot: {:.1} MiB for {} znodes ({:.0} B/znode)",
        snapshot.len() as f64 / (1 << 20) as f64,
        f.tree.node_count(),
        snapshot.len() as f64 / f.tree.node_count() as f64
    );
    group.bench_function("snapshot_load", |b| {
        b.iter(|| black_box(Tree::read_snapshot(&snapshot[..]).unwrap()))
    });
    group.sample_size(100);
    group.measurement_time(Duration::from_secs(5));
    let mut next = ZNODES;
    group.bench_function("apply_create", |b| {
        b.iter(|| {
            next += 1;
            let t = f.create(name(next));
            black_box(f.tree.apply(t))
        })
    });
    // What a write pays while a snapshot holds a frozen clone of the tree: the first
    // change to a child list shared with the clone copies what the list shares.
    group.bench_function("apply_create_after_freeze", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let frozen = f.tree.clone();
                next += 1;
                let t = f.create(name(next));
                let start = Instant::now();
                black_box(f.tree.apply(t));
                total += start.elapsed();
                drop(frozen);
            }
            total
        })
    });
    let mut i = 0usize;
    group.bench_function("apply_set_data", |b| {
        b.iter(|| {
            i = (i + 7919) % ZNODES;
            let t = f.txn(TxnOp::Write(Request::SetData(SetDataRequest {
                path: name(i),
                data: Some(vec![b'w'; 100]),
                version: -1,
            })));
            black_box(f.tree.apply(t))
        })
    });
    group.bench_function("get_data", |b| {
        b.iter_batched(
            || {
                i = (i + 7919) % ZNODES;
                Request::GetData(PathWatchRequest {
                    path: name(i),
                    watch: false,
                })
            },
            |r| black_box(f.tree.read(SESSION, &r, &[])),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(tree, benches);
criterion_main!(tree);
