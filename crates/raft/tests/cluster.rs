//! Consensus on in-process clusters of 3 and 5 nodes: elections, proposals through any
//! node, leader failure, partitions, restarts from disk, snapshot install, compaction,
//! read index.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use paddock_raft::{ProposeError, RaftConfig, Role};
use support::*;

fn snapshot_often(config: &mut RaftConfig) {
    quick(config);
    config.snapshot_entries_max = 50;
    config.log_entries_kept = 10;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_elect_and_replicate_through_any_node() {
    init_tracing();
    let cluster = Cluster::start(3, true, quick).await;
    let leader = cluster.wait_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    let mut indexes = Vec::new();
    for i in 0..20u32 {
        let via = if i % 2 == 0 { leader } else { follower };
        indexes.push(
            cluster
                .propose_retrying(via, format!("cmd-{i}").as_bytes())
                .await,
        );
    }
    assert!(
        indexes.windows(2).all(|w| w[0] < w[1]),
        "indexes grow: {indexes:?}"
    );
    let applied = cluster.wait_converged(20).await;
    let commands: Vec<String> = applied
        .commands
        .iter()
        .map(|(_, c)| String::from_utf8(c.clone()).unwrap())
        .collect();
    assert_eq!(
        commands,
        (0..20).map(|i| format!("cmd-{i}")).collect::<Vec<_>>()
    );
    assert_eq!(cluster.node(leader).status().role, Role::Leader);
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_leader_is_replaced_and_nothing_committed_is_lost() {
    init_tracing();
    let mut cluster = Cluster::start(3, true, quick).await;
    let old_leader = cluster.wait_leader().await;
    for i in 0..10u32 {
        cluster
            .propose_retrying(old_leader, format!("before-{i}").as_bytes())
            .await;
    }
    cluster.kill(old_leader).await;
    let survivors = cluster.up_ids();
    let new_leader = cluster
        .wait_leader_among(&survivors, Duration::from_secs(5))
        .await;
    assert_ne!(new_leader, old_leader);
    for i in 0..10u32 {
        cluster
            .propose_retrying(survivors[0], format!("after-{i}").as_bytes())
            .await;
    }
    let applied = cluster.wait_converged(20).await;
    for i in 0..10u32 {
        assert!(
            applied
                .commands
                .iter()
                .any(|(_, c)| c == format!("before-{i}").as_bytes()),
            "before-{i} lost"
        );
    }
    cluster.restart(old_leader).await;
    let applied = cluster.wait_converged(20).await;
    assert_eq!(
        cluster.applied(old_leader).digest(),
        applied.digest(),
        "restarted node caught up"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minority_cannot_commit_and_catches_up_after_heal() {
    init_tracing();
    let cluster = Cluster::start(3, false, quick).await;
    let (old_leader, majority) = cluster.isolate_leader().await;
    // The isolated leader accepts the proposal into its log but can never commit it.
    let stuck = tokio::time::timeout(
        Duration::from_millis(800),
        cluster.propose(old_leader, b"minority"),
    )
    .await;
    assert!(
        !matches!(stuck, Ok(Ok(_))),
        "minority committed a write: {stuck:?}"
    );
    let new_leader = cluster
        .wait_leader_among(&majority, Duration::from_secs(5))
        .await;
    for i in 0..5u32 {
        cluster
            .propose_retrying(new_leader, format!("majority-{i}").as_bytes())
            .await;
    }
    // Check-quorum: the old leader steps down on its own.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_ne!(cluster.node(old_leader).status().role, Role::Leader);
    cluster.faults.heal();
    let applied = cluster.wait_converged(6).await;
    assert!(
        !applied.commands.iter().any(|(_, c)| c == b"minority"),
        "uncommitted minority write survived"
    );
    assert_eq!(
        applied
            .commands
            .iter()
            .filter(|(_, c)| c.starts_with(b"majority"))
            .count(),
        5
    );
    cluster.shutdown().await;
}

/// Proposals time out long before an isolated leader steps down (check-quorum waits an
/// election timeout).
fn deadline_before_step_down(config: &mut RaftConfig) {
    quick(config);
    config.election_ticks = 100;
    config.request_timeout = Duration::from_millis(300);
}

/// A waiter reaches the applier with its entries, or at the next tick when they do not
/// commit: a proposal its leader can never commit fails at its own deadline, while that
/// leader still leads, not only once a leader change flushes the waiters.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_proposal_its_leader_cannot_commit_fails_at_its_deadline() {
    init_tracing();
    let cluster = Cluster::start(3, false, deadline_before_step_down).await;
    let (leader, _) = cluster.isolate_leader().await;
    let stuck = tokio::time::timeout(
        Duration::from_secs(10),
        cluster.propose(leader, b"isolated"),
    )
    .await;
    assert!(
        matches!(stuck, Ok(Err(ProposeError::Timeout))),
        "an uncommittable proposal must time out: {stuck:?}"
    );
    assert_eq!(
        cluster.node(leader).status().role,
        Role::Leader,
        "the proposal must fail at its deadline, before its leader steps down"
    );
    cluster.faults.heal();
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_cluster_restarts_from_disk() {
    init_tracing();
    let mut cluster = Cluster::start(3, true, snapshot_often).await;
    let leader = cluster.wait_leader().await;
    for i in 0..120u32 {
        cluster
            .propose_retrying(leader, format!("durable-{i}").as_bytes())
            .await;
    }
    let before = cluster.wait_converged(120).await;
    for id in cluster.ids() {
        cluster.kill(id).await;
    }
    for id in cluster.ids() {
        cluster.restart(id).await;
    }
    let leader = cluster.wait_leader().await;
    cluster.propose_retrying(leader, b"after-restart").await;
    let after = cluster.wait_converged(121).await;
    assert_eq!(
        &after.commands[..120],
        &before.commands[..],
        "every committed command survived"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wiped_follower_is_restored_by_snapshot_and_log_is_compacted() {
    init_tracing();
    let mut cluster = Cluster::start(3, true, snapshot_often).await;
    let leader = cluster.wait_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    for i in 0..200u32 {
        cluster
            .propose_retrying(leader, format!("v-{i}").as_bytes())
            .await;
    }
    cluster.wait_converged(200).await;
    let status = cluster.node(leader).status();
    assert!(status.snapshot_index >= 150, "snapshots taken: {status:?}");
    assert!(status.first_index > 100, "log compacted: {status:?}");
    cluster.wipe(follower).await;
    cluster.restart(follower).await;
    let applied = cluster.wait_converged(200).await;
    assert_eq!(cluster.applied(follower).digest(), applied.digest());
    assert!(
        cluster.node(follower).status().snapshot_index >= 150,
        "caught up from a snapshot"
    );
    cluster.shutdown().await;
}

/// Entries short of the snapshot interval are snapshotted once the cluster goes quiet,
/// so a node restarted after a quiet spell has next to nothing to replay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_nodes_snapshot_what_they_applied() {
    init_tracing();
    let cluster = Cluster::start(3, true, |config| {
        quick(config);
        config.snapshot_entries_max = 2_000;
    })
    .await;
    let leader = cluster.wait_leader().await;
    let mut last = 0;
    for i in 0..200u32 {
        last = cluster
            .propose_retrying(leader, format!("q-{i}").as_bytes())
            .await;
    }
    cluster.wait_converged(200).await;
    for id in cluster.ids() {
        assert!(
            cluster.node(id).status().snapshot_index < last,
            "not yet: 200 entries are a tenth of the interval"
        );
    }
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for id in cluster.ids() {
        while cluster.node(id).status().snapshot_index < last {
            assert!(
                tokio::time::Instant::now() < deadline,
                "node {id} took no snapshot while idle: {:?}",
                cluster.node(id).status()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_survive_two_failures_not_three() {
    init_tracing();
    let mut cluster = Cluster::start(5, false, quick).await;
    let leader = cluster.wait_leader().await;
    let others = cluster.others(leader);
    cluster.kill(others[0]).await;
    cluster.kill(others[1]).await;
    cluster.propose_retrying(leader, b"with-three").await;
    cluster.kill(others[2]).await;
    let stuck = tokio::time::timeout(
        Duration::from_millis(800),
        cluster.propose(leader, b"with-two"),
    )
    .await;
    assert!(
        !matches!(stuck, Ok(Ok(_))),
        "two of five committed: {stuck:?}"
    );
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_index_on_a_follower_sees_acknowledged_writes() {
    init_tracing();
    let cluster = Cluster::start(3, false, quick).await;
    let leader = cluster.wait_leader().await;
    let follower = cluster.ids().into_iter().find(|id| *id != leader).unwrap();
    // Slow the leader's link to the follower so it lags behind the acknowledgement.
    cluster
        .faults
        .delay(leader, follower, Duration::from_millis(50));
    for i in 0..5u32 {
        cluster
            .propose_retrying(leader, format!("w-{i}").as_bytes())
            .await;
        cluster.node(follower).read_index().await.unwrap();
        let applied = cluster.applied(follower);
        assert!(
            applied
                .commands
                .iter()
                .any(|(_, c)| c == format!("w-{i}").as_bytes()),
            "read index did not wait for w-{i}"
        );
    }
    cluster.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_without_a_leader_fail_fast() {
    init_tracing();
    let mut cluster = Cluster::start(3, false, quick).await;
    let leader = cluster.wait_leader().await;
    let others = cluster.others(leader);
    cluster.kill(others[0]).await;
    cluster.kill(leader).await;
    // The survivor eventually knows no leader and refuses at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match cluster.propose(others[1], b"alone").await {
            Err(ProposeError::NoLeader) => break,
            Err(_) => {}
            Ok(index) => panic!("a lone node committed at {index}"),
        }
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cluster.shutdown().await;
}

fn hold_early(config: &mut RaftConfig) {
    quick(config);
    config.proposal_hold_uncommitted = 4;
    config.proposal_hold = Duration::from_millis(20);
}

/// A burst of concurrent proposals through every node, with a leader that holds new
/// proposals back as soon as four entries are uncommitted: held proposals (the
/// leader's own and those its followers forwarded) are all appended once the hold ends,
/// each exactly once, and every node applies the same log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_proposals_are_all_committed_once() {
    burst_commits_each_once(hold_early).await;
}

fn apply_lag_of_one(config: &mut RaftConfig) {
    quick(config);
    config.apply_lag_max = 1;
}

/// The same burst with nodes that take no new proposal while more than one committed
/// entry waits to be applied: each node's Ready loop is held back after nearly every
/// commit and goes on when its applier has caught up (and says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proposals_held_back_by_apply_lag_are_all_committed_once() {
    burst_commits_each_once(apply_lag_of_one).await;
}

/// Proposes 600 commands at once, spread over every node, and checks each was committed
/// at an index of its own and applied exactly once, the same on every node.
async fn burst_commits_each_once(tune: fn(&mut RaftConfig)) {
    init_tracing();
    let cluster = Cluster::start(3, true, tune).await;
    cluster.wait_leader().await;
    let ids = cluster.ids();
    let proposals = (0..600u32).map(|i| {
        let via = ids[i as usize % ids.len()];
        let cluster = &cluster;
        async move { cluster.propose(via, format!("burst-{i}").as_bytes()).await }
    });
    let indexes = futures::future::join_all(proposals).await;
    let mut indexes: Vec<u64> = indexes.into_iter().map(Result::unwrap).collect();
    indexes.sort_unstable();
    indexes.dedup();
    assert_eq!(indexes.len(), 600, "every proposal got its own index");

    let applied = cluster.wait_converged(600).await;
    let mut commands: Vec<String> = applied
        .commands
        .iter()
        .map(|(_, c)| String::from_utf8(c.clone()).unwrap())
        .collect();
    assert_eq!(commands.len(), 600);
    commands.sort();
    let mut expected: Vec<String> = (0..600).map(|i| format!("burst-{i}")).collect();
    expected.sort();
    assert_eq!(commands, expected);
    cluster.shutdown().await;
}
