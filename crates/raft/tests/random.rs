//! A seeded random schedule of proposals interleaved with kills, restarts, wipes and
//! partitions. Safety while faults run: every acknowledged proposal is applied exactly
//! once, in the same order, on every node. Liveness after they stop: all nodes converge
//! to the same state. A failure prints the seed (rerun with PADDOCK_SEED=…).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashSet;
use std::time::Duration;

use paddock_raft::RaftConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use support::*;

fn tune(config: &mut RaftConfig) {
    quick(config);
    config.request_timeout = Duration::from_secs(2);
    config.snapshot_entries_max = 40;
    config.log_entries_kept = 5;
}

async fn run(seed: u64, steps: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cluster = Cluster::start(3, true, tune).await;
    cluster.wait_leader().await;
    let mut acknowledged = Vec::new();
    let mut schedule = Vec::new();
    let mut partitioned = false;
    for step in 0..steps {
        let up = cluster.up_ids();
        match rng.gen_range(0..10) {
            0 if up.len() == 3 => {
                let victim = up[rng.gen_range(0..up.len())];
                schedule.push(format!("kill {victim}"));
                cluster.kill(victim).await;
            }
            1 if up.len() < 3 => {
                let down: Vec<u64> = cluster
                    .ids()
                    .into_iter()
                    .filter(|id| !cluster.is_up(*id))
                    .collect();
                let id = down[rng.gen_range(0..down.len())];
                schedule.push(format!("restart {id}"));
                cluster.restart(id).await;
            }
            // A lost disk is survivable only while a leader is established and every
            // replica is up and caught up (as with ZooKeeper): a wiped node votes like
            // a new one, so it could elect a stale node, or vote a second time in a
            // term it already voted in and elect two leaders in that term. Wipe only
            // then, and let it catch up before more faults.
            4 if up.len() == 3 && !partitioned => {
                cluster.wait_stable().await;
                let id = up[rng.gen_range(0..up.len())];
                schedule.push(format!("wipe+restart {id}"));
                cluster.wipe(id).await;
                cluster.restart(id).await;
                cluster.wait_converged(0).await;
            }
            2 => {
                let isolated = rng.gen_range(1..=3);
                schedule.push(format!("isolate {isolated}"));
                cluster.faults.isolate(isolated, &cluster.ids());
                partitioned = true;
            }
            3 => {
                schedule.push("heal".into());
                cluster.faults.heal();
                partitioned = false;
            }
            _ => {
                let via = up[rng.gen_range(0..up.len())];
                let command = format!("s{seed}-{step}");
                let result = tokio::time::timeout(
                    Duration::from_millis(1500),
                    cluster.propose(via, command.as_bytes()),
                )
                .await;
                if let Ok(Ok(index)) = result {
                    acknowledged.push((index, command));
                }
            }
        }
    }
    eprintln!("seed {seed} schedule: {schedule:?}");
    cluster.faults.heal();
    for id in cluster.ids() {
        if !cluster.is_up(id) {
            cluster.restart(id).await;
        }
    }
    let leader = cluster.wait_leader().await;
    cluster.propose_retrying(leader, b"final").await;
    let applied = cluster.wait_converged(acknowledged.len() + 1).await;
    let mut seen = HashSet::new();
    for (_, command) in &applied.commands {
        assert!(
            seen.insert(command.clone()),
            "seed {seed}: {:?} applied twice; schedule {schedule:?}",
            String::from_utf8_lossy(command)
        );
    }
    for (index, command) in &acknowledged {
        let found = applied
            .commands
            .iter()
            .find(|(_, c)| c == command.as_bytes());
        assert_eq!(
            found.map(|(i, _)| *i),
            Some(*index),
            "seed {seed}: acknowledged {command} at {index} lost; schedule {schedule:?}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_faults_never_lose_acknowledged_proposals() {
    init_tracing();
    let seeds: Vec<u64> = match std::env::var("PADDOCK_SEED") {
        Ok(seed) => vec![seed.parse().unwrap()],
        Err(_) => vec![1, 2, 3],
    };
    for seed in seeds {
        run(seed, 60).await;
    }
}
