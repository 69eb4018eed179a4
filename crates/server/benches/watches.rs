//! Watch table costs: memory of 100,000 watches spread over 10,000 connections (RSS
//! growth), and the time one change takes to fan out to 10,000 watchers of one znode.
//!
//! Run: `cargo bench -p paddock-server --bench watches`

#![allow(clippy::unwrap_used, missing_docs)]

use std::time::Instant;

use paddock_jute::EventType;
use paddock_server::watches::{WatchKind, WatchTable};
use paddock_tree::Trigger;

fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

fn main() {
    // 100,000 watches: 10,000 connections x 10 paths each (data and child watches on
    // 1,000 distinct znodes, so paths are shared as they would be in a real service).
    let before = rss_bytes();
    let mut table = WatchTable::default();
    let start = Instant::now();
    for conn in 0..10_000u64 {
        for k in 0..10u64 {
            let path = format!("/services/svc-{:04}/instance", (conn * 7 + k * 131) % 1000);
            let kind = if k % 2 == 0 {
                WatchKind::Data
            } else {
                WatchKind::Child
            };
            table.add(conn, &path, kind);
        }
    }
    let added = start.elapsed();
    let after = rss_bytes();
    println!(
        "100,000 watches over 10,000 connections: {} held, RSS +{:.1} MiB = {:.0} B/watch, added in {:.1} ms",
        table.count(),
        (after - before) as f64 / (1 << 20) as f64,
        (after - before) as f64 / table.count() as f64,
        added.as_secs_f64() * 1e3
    );

    // One change, 10,000 watchers of the same znode.
    let mut hot = WatchTable::default();
    for conn in 0..10_000u64 {
        hot.add(conn, "/hot", WatchKind::Data);
    }
    let trigger = Trigger {
        event: EventType::NodeDataChanged,
        path: "/hot".into(),
    };
    let start = Instant::now();
    let fired = hot.fire(&trigger);
    let elapsed = start.elapsed();
    let start = Instant::now();
    let frame = paddock_server::frames::notification(trigger.event, &trigger.path, 42);
    let frames: Vec<_> = fired.iter().map(|_| frame.clone()).collect();
    let encoded = start.elapsed();
    println!(
        "fan-out to {} watchers of one znode: table {:.2} ms, notification frames (one encoding, shared) {:.2} ms",
        fired.len(),
        elapsed.as_secs_f64() * 1e3,
        encoded.as_secs_f64() * 1e3,
    );
    assert_eq!(frames.len(), 10_000);
}
