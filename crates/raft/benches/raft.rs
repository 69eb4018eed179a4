//! Consensus benchmarks on an in-process 3-node cluster over loopback with real log
//! files (fsync): committed proposals per second and latency percentiles with 1, 16
//! and 256 proposals in flight, group commit against flush-per-entry, and the fsync floor
//! of this disk (write + fdatasync of 100 bytes). Prints a table; not a timed test.
//!
//! Run: `cargo bench -p paddock-raft --bench raft`

#![allow(clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_raft::{
    Faults, LogStore, NodeStorage, RaftConfig, RaftNode, Role, SnapshotStore, SnapshotWriter,
    StateMachine,
};

struct Counter;

impl StateMachine for Counter {
    type Output = ();
    fn apply(&mut self, _index: u64, _command: &[u8]) {}
    fn snapshot(&mut self) -> SnapshotWriter {
        Box::new(|out: &mut dyn Write| out.write_all(b"x"))
    }
    fn restore(&mut self, _input: &mut dyn std::io::Read) -> Result<(), String> {
        Ok(())
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn fsync_floor(dir: &std::path::Path) -> Duration {
    let mut file = std::fs::File::create(dir.join("fsync-probe")).unwrap();
    let mut samples = Vec::new();
    for _ in 0..200 {
        let start = Instant::now();
        file.write_all(&[7u8; 100]).unwrap();
        file.sync_data().unwrap();
        samples.push(start.elapsed());
    }
    samples.sort();
    percentile(&samples, 0.5)
}

async fn cluster(dir: &std::path::Path, group_commit: bool) -> Vec<RaftNode<()>> {
    let listeners: Vec<_> = (0..3)
        .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
        .collect();
    let peers: BTreeMap<u64, _> = listeners
        .iter()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.local_addr().unwrap()))
        .collect();
    let mut nodes = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        let mut config = RaftConfig::new(id, peers.clone());
        config.group_commit = group_commit;
        config.snapshot_entries_max = u64::MAX;
        config.snapshot_bytes_max = u64::MAX;
        let node_dir = dir.join(format!("{group_commit}-{id}"));
        let storage = NodeStorage {
            log: LogStore::open(&node_dir.join("log"), &[1, 2, 3]).unwrap(),
            snapshots: SnapshotStore::in_dir(&node_dir.join("snap")).unwrap(),
        };
        nodes.push(
            RaftNode::start(config, storage, Faults::new(), Counter, Some(listener))
                .await
                .unwrap(),
        );
    }
    loop {
        if let Some(leader) = nodes.iter().position(|n| n.status().role == Role::Leader) {
            nodes.swap(0, leader);
            return nodes;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn run(leader: &RaftNode<()>, inflight: usize, duration: Duration) -> (f64, Vec<Duration>) {
    let latencies = Arc::new(parking_lot::Mutex::new(Vec::new()));
    let deadline = Instant::now() + duration;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let proposer = leader.proposer();
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                proposer.propose(vec![0u8; 100]).await.unwrap();
                mine.push(t.elapsed());
            }
            latencies.lock().extend(mine);
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = start.elapsed();
    let mut latencies = std::mem::take(&mut *latencies.lock());
    latencies.sort();
    (latencies.len() as f64 / elapsed.as_secs_f64(), latencies)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let floor = fsync_floor(dir.path());
        println!(
            "fsync floor (write + fdatasync of 100 B, median of 200): {:.3} ms",
            floor.as_secs_f64() * 1e3
        );
        println!();
        println!("| mode | in flight | commits/s | p50 ms | p99 ms |");
        println!("|---|---|---|---|---|");
        for group_commit in [true, false] {
            let nodes = cluster(dir.path(), group_commit).await;
            for inflight in [1usize, 16, 256] {
                let (rate, latencies) = run(&nodes[0], inflight, Duration::from_secs(5)).await;
                println!(
                    "| {} | {inflight} | {rate:.0} | {:.2} | {:.2} |",
                    if group_commit {
                        "group commit"
                    } else {
                        "flush per entry"
                    },
                    percentile(&latencies, 0.5).as_secs_f64() * 1e3,
                    percentile(&latencies, 0.99).as_secs_f64() * 1e3,
                );
            }
            for node in nodes {
                node.shutdown().await;
            }
        }
    });
}
