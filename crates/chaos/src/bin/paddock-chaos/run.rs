//! One run: start a cluster, start the workloads, let the nemesis loose for the run's
//! duration, heal everything, stop the workloads, read the final state and judge.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use paddock_chaos::checks::{
    check_converged, check_counter, check_creates, check_expiry, check_liveness, check_lock,
    check_session_moved,
};
use paddock_chaos::register::{RegisterOp, check_all};
use paddock_chaos::schedule::{Nemesis, Schedule, Timing};
use paddock_chaos::{Status, Verdict};
use parking_lot::Mutex;
use tokio::sync::Mutex as AsyncMutex;
use tokio::task::JoinHandle;
use zookeeper_client as zk;

use crate::client::{Clock, OPEN};
use crate::cluster::Cluster;
use crate::nemesis::{FaultLog, Nemeses};
use crate::workload::{
    COUNTER, EPHEMERALS, FENCE, LIVE, LOCK, REGISTERS, ROOT, SEQUENCES, Shared, counter_worker,
    create_worker, lock_worker, probe_worker, register_worker,
};
use crate::{Mode, RunSpec};

/// Session timeout the clients ask for (the servers' maximum at a 200 ms tick).
const SESSION_TIMEOUT: Duration = Duration::from_secs(4);
/// An operation without a reply after this long has an unknown outcome.
const OP_TIMEOUT: Duration = Duration::from_secs(5);
/// Search steps allowed per register key.
const SEARCH_BUDGET: u64 = 2_000_000;
/// How soon after the last heal every node must serve a write.
const LIVENESS_LIMIT: Duration = Duration::from_secs(30);

/// Runs `spec` and returns every checker's verdict (a harness error is a failed
/// verdict of its own).
pub async fn run(spec: &RunSpec) -> Vec<Verdict> {
    let log = Arc::new(Mutex::new(FaultLog::default()));
    match run_checked(spec, log.clone()).await {
        Ok(verdicts) => verdicts,
        Err(error) => {
            let verdict = Verdict::fail("harness", format!("{error:#}"), Vec::new());
            print_verdicts(std::slice::from_ref(&verdict));
            print_failure_detail(spec, &log.lock(), std::slice::from_ref(&verdict));
            vec![verdict]
        }
    }
}

/// The nemeses this run can do, with a note for each one it drops.
fn usable_nemeses(spec: &RunSpec) -> anyhow::Result<Vec<Nemesis>> {
    let mut usable = Vec::new();
    let mut dropped_partitions = Vec::new();
    for &nemesis in &spec.nemeses {
        if spec.mode == Mode::Processes && !spec.private_network && nemesis.is_partition() {
            dropped_partitions.push(nemesis.name());
        } else if spec.nodes < nemesis.nodes_min() {
            println!(
                "    note: {nemesis} needs {} nodes; skipped on {}",
                nemesis.nodes_min(),
                spec.nodes
            );
        } else {
            usable.push(nemesis);
        }
    }
    if !dropped_partitions.is_empty() {
        println!(
            "    note: partitions between processes need network namespaces (root and `ip`); skipped: {}",
            dropped_partitions.join(", ")
        );
    }
    if spec.mode == Mode::InProcess && usable.contains(&Nemesis::Pause) {
        println!(
            "    note: in-process, \"pause\" isolates the node from its peers — an approximation of a pause (its clients still reach it)"
        );
    }
    if usable.is_empty() {
        bail!("no nemesis left to run in this mode");
    }
    Ok(usable)
}

/// Creates `path` until it certainly exists.
async fn ensure(client: &zk::Client, path: &str, data: &[u8]) -> anyhow::Result<()> {
    for _ in 0..30 {
        match tokio::time::timeout(OP_TIMEOUT, client.create(path, data, OPEN)).await {
            Ok(Ok(_)) | Ok(Err(zk::Error::NodeExists)) => return Ok(()),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    bail!("could not create {path}")
}

async fn connect(hosts: &str) -> anyhow::Result<zk::Client> {
    for _ in 0..10 {
        let connector = zk::Client::connector().with_session_timeout(SESSION_TIMEOUT);
        if let Ok(Ok(client)) =
            tokio::time::timeout(SESSION_TIMEOUT * 2, connector.connect(hosts)).await
        {
            return Ok(client);
        }
    }
    bail!("could not connect to {hosts}")
}

async fn setup(hosts: &str) -> anyhow::Result<()> {
    let client = connect(hosts).await?;
    for path in [ROOT, REGISTERS, SEQUENCES, LOCK, FENCE, EPHEMERALS, LIVE] {
        ensure(&client, path, b"").await?;
    }
    ensure(&client, &format!("{REGISTERS}/k0"), b"").await?;
    ensure(&client, COUNTER, b"0").await?;
    Ok(())
}

async fn run_checked(spec: &RunSpec, log: Arc<Mutex<FaultLog>>) -> anyhow::Result<Vec<Verdict>> {
    let nemeses = usable_nemeses(spec)?;
    let clock = Clock(Instant::now());
    let cluster =
        Cluster::start(spec.mode, spec.nodes, &spec.paddock, spec.private_network).await?;
    let hosts = cluster.hosts();
    let all = hosts.join(",");
    setup(&all)
        .await
        .context("creating the workload's znodes")?;
    let shared = Arc::new(Shared::new(clock, SESSION_TIMEOUT, OP_TIMEOUT));
    let cluster = Arc::new(AsyncMutex::new(cluster));
    let workers = spawn_workers(spec, &shared, &cluster, &hosts);
    let nemesis = Nemeses {
        cluster: cluster.clone(),
        shared: shared.clone(),
        log: log.clone(),
        clock,
        mode: spec.mode,
    };
    let timing = Timing {
        pause_min: SESSION_TIMEOUT + Duration::from_millis(1500),
        ..Timing::default()
    };
    println!("    schedule:");
    let schedule = Schedule::new(spec.seed, &nemeses, timing);
    let outcome = nemesis.run(schedule, Instant::now(), spec.duration).await;
    let recovered = cluster.lock().await.recover_all().await;
    nemesis.note("end of faults: network healed, every node resumed and running".into());
    let heal_at = Instant::now();
    if let Err(error) = outcome.and(recovered) {
        shared.stop.store(true, Ordering::SeqCst);
        stop_workers(workers).await;
        keep_evidence(&cluster).await;
        return Err(error);
    }
    let verdicts = finish(spec, &shared, &cluster, &hosts, workers, heal_at).await;
    print_report(&shared, &log.lock());
    print_verdicts(&verdicts);
    if verdicts.iter().any(|v| v.status == Status::Fail) {
        print_failure_detail(spec, &log.lock(), &verdicts);
        keep_evidence(&cluster).await;
    }
    if let Ok(cluster) = Arc::try_unwrap(cluster) {
        cluster.into_inner().shutdown().await;
    }
    Ok(verdicts)
}

async fn keep_evidence(cluster: &AsyncMutex<Cluster>) {
    if let Some(place) = cluster.lock().await.keep_evidence() {
        println!("    cluster directory kept for a post-mortem: {place}");
    }
}

fn spawn_workers(
    spec: &RunSpec,
    shared: &Arc<Shared>,
    cluster: &Arc<AsyncMutex<Cluster>>,
    hosts: &[String],
) -> Vec<JoinHandle<()>> {
    let all = hosts.join(",");
    let seed = spec.seed;
    let mut workers = Vec::new();
    // Registers: one client pinned to each node, one free to roam.
    for (i, host) in hosts.iter().enumerate() {
        workers.push(tokio::spawn(register_worker(
            shared.clone(),
            i,
            host.clone(),
            seed ^ ((i as u64 + 1) << 32),
        )));
    }
    let roaming = hosts.len();
    workers.push(tokio::spawn(register_worker(
        shared.clone(),
        roaming,
        all.clone(),
        seed ^ ((roaming as u64 + 1) << 32),
    )));
    // Sequential creates: one pinned to node 1, one roaming.
    workers.push(tokio::spawn(create_worker(
        shared.clone(),
        100,
        hosts[1 % hosts.len()].clone(),
        seed ^ (100 << 32),
    )));
    workers.push(tokio::spawn(create_worker(
        shared.clone(),
        101,
        all.clone(),
        seed ^ (101 << 32),
    )));
    for c in 0..2u64 {
        workers.push(tokio::spawn(counter_worker(
            shared.clone(),
            200 + c as usize,
            all.clone(),
            seed ^ ((200 + c) << 32),
        )));
    }
    for l in 0..3usize {
        workers.push(tokio::spawn(lock_worker(
            shared.clone(),
            300 + l,
            all.clone(),
            seed ^ ((300 + l as u64) << 32),
        )));
    }
    workers.push(tokio::spawn(probe_worker(
        shared.clone(),
        all,
        cluster.clone(),
        spec.mode == Mode::InProcess,
        Duration::from_secs(3),
    )));
    workers
}

async fn stop_workers(workers: Vec<JoinHandle<()>>) {
    for worker in workers {
        let abort = worker.abort_handle();
        if tokio::time::timeout(Duration::from_secs(20), worker)
            .await
            .is_err()
        {
            abort.abort();
        }
    }
}

/// Runs `check` against every host at once; its result per node index.
async fn per_host<T, F, Fut>(hosts: &[String], check: F) -> Vec<(usize, Result<T, String>)>
where
    T: Send + 'static,
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = Result<T, String>> + Send + 'static,
{
    let handles: Vec<_> = hosts
        .iter()
        .map(|h| tokio::spawn(check(h.clone())))
        .collect();
    let mut results = Vec::new();
    for (i, handle) in handles.into_iter().enumerate() {
        results.push((i, handle.await.unwrap_or_else(|e| Err(e.to_string()))));
    }
    results
}

/// Waits until node `host` serves a write; how long after the heal that was.
async fn first_write(host: String, heal_at: Instant) -> Result<Duration, String> {
    let mut last = String::from("never connected");
    while heal_at.elapsed() < LIVENESS_LIMIT + Duration::from_secs(5) {
        let connector = zk::Client::connector().with_session_timeout(SESSION_TIMEOUT);
        match tokio::time::timeout(SESSION_TIMEOUT, connector.connect(&host)).await {
            Ok(Ok(client)) => {
                match tokio::time::timeout(OP_TIMEOUT, client.set_data(LIVE, host.as_bytes(), None))
                    .await
                {
                    Ok(Ok(_)) => return Ok(heal_at.elapsed()),
                    Ok(Err(error)) => last = format!("write failed: {error}"),
                    Err(_) => last = "write timed out".into(),
                }
            }
            Ok(Err(error)) => last = format!("connect failed: {error}"),
            Err(_) => last = "connect timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(last)
}

/// Lists what node `host` shows under [`EPHEMERALS`] until it is empty or time runs out.
async fn leftover_ephemerals(host: String, deadline: Instant) -> Result<Vec<String>, String> {
    let mut last: Result<Vec<String>, String> = Err("never connected".into());
    while Instant::now() < deadline {
        if let Ok(client) = connect(&host).await {
            loop {
                match tokio::time::timeout(OP_TIMEOUT, client.list_children(EPHEMERALS)).await {
                    Ok(Ok(children)) if children.is_empty() => return Ok(children),
                    Ok(Ok(children)) => last = Ok(children),
                    Ok(Err(error)) => {
                        last = Err(error.to_string());
                        break;
                    }
                    Err(_) => {
                        last = Err("list timed out".into());
                        break;
                    }
                }
                if Instant::now() >= deadline {
                    return last;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    last
}

/// sync + read with retries, for the final state.
async fn read_final<T, F, Fut>(what: &str, mut read: F) -> Result<T, String>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, zk::Error>>,
{
    let mut last = String::new();
    for _ in 0..10 {
        match tokio::time::timeout(OP_TIMEOUT, read()).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(error)) => last = error.to_string(),
            Err(_) => last = "timed out".into(),
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    Err(format!("{what}: {last}"))
}

async fn finish(
    spec: &RunSpec,
    shared: &Arc<Shared>,
    cluster: &Arc<AsyncMutex<Cluster>>,
    hosts: &[String],
    workers: Vec<JoinHandle<()>>,
    heal_at: Instant,
) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    let leader = cluster.lock().await.wait_for_leader(LIVENESS_LIMIT).await;
    let mut liveness = per_host(hosts, |h| first_write(h, heal_at)).await;
    if leader.is_none() {
        liveness.push((usize::MAX, Err("no leader after the heal".into())));
    }
    // A little fault-free load, then stop.
    tokio::time::sleep(Duration::from_secs(2)).await;
    shared.stop.store(true, Ordering::SeqCst);
    stop_workers(workers).await;

    let all = hosts.join(",");
    let final_client = connect(&all).await;
    let (counter, listing) = match &final_client {
        Ok(client) => {
            let counter = read_final("counter", || async {
                client.sync(COUNTER).await?;
                client.get_data(COUNTER).await
            })
            .await
            .and_then(|(data, _)| {
                String::from_utf8_lossy(&data)
                    .parse::<i64>()
                    .map_err(|e| format!("counter holds {data:?}: {e}"))
            });
            let mut buckets: BTreeSet<String> = shared.buckets.lock().clone();
            buckets.extend(shared.creates.lock().iter().map(|r| r.bucket.clone()));
            let mut listing = BTreeMap::new();
            for bucket in buckets {
                let children = read_final(&bucket, || async {
                    client.sync(&bucket).await?;
                    match client.list_children(&bucket).await {
                        Err(zk::Error::NoNode) => Ok(Vec::new()),
                        other => other,
                    }
                })
                .await;
                match children {
                    Ok(children) => {
                        listing.insert(bucket, children);
                    }
                    Err(why) => shared.anomalies.lock().push(format!("listing {why}")),
                }
            }
            (counter, listing)
        }
        Err(error) => (Err(format!("{error:#}")), BTreeMap::new()),
    };
    drop(final_client);

    // Every probe session ends (expired, or timed out); give the slowest time to.
    let deadline = Instant::now() + SESSION_TIMEOUT * 3 + Duration::from_secs(15);
    let per_node = per_host(hosts, |h| leftover_ephemerals(h, deadline)).await;

    let converged = {
        let c = cluster.lock().await;
        c.converged(Duration::from_secs(30)).await;
        c.states().await
    };
    let crashes = cluster.lock().await.crashes();

    // Judge.
    let registers: Vec<(usize, RegisterOp)> = shared.registers.lock().clone();
    let register_verdict = tokio::task::spawn_blocking(move || {
        let mut by_key: BTreeMap<usize, Vec<RegisterOp>> = BTreeMap::new();
        for (key, op) in registers {
            by_key.entry(key).or_default().push(op);
        }
        check_all(
            by_key
                .iter()
                .map(|(k, ops)| (format!("{REGISTERS}/k{k}"), ops.as_slice())),
            SEARCH_BUDGET,
        )
    })
    .await
    .unwrap_or_else(|e| {
        Verdict::fail(
            "linearizable registers",
            format!("checker panicked: {e}"),
            Vec::new(),
        )
    });
    verdicts.push(register_verdict);
    verdicts.push(check_creates(&shared.creates.lock(), &listing));
    verdicts.push(check_counter(
        shared.counter_acked.load(Ordering::SeqCst),
        shared.counter_unknown.load(Ordering::SeqCst),
        counter,
    ));
    verdicts.push(check_lock(
        &shared.fences.lock(),
        shared.lock_acquisitions.load(Ordering::SeqCst),
    ));
    verdicts.push(check_expiry(
        shared.probes.load(Ordering::SeqCst),
        shared.probes_expired.load(Ordering::SeqCst),
        &per_node,
    ));
    verdicts.push(check_session_moved(&shared.moved.lock()));
    verdicts.push(check_converged(&converged));
    verdicts.push(check_liveness(&liveness, LIVENESS_LIMIT));
    if spec.mode == Mode::Processes {
        verdicts.push(if crashes.is_empty() {
            Verdict::pass("no crashes", "no paddock process exited unless killed")
        } else {
            Verdict::fail(
                "no crashes",
                format!("{} unexpected exits", crashes.len()),
                crashes,
            )
        });
    }
    let anomalies = shared.anomalies.lock().clone();
    if !anomalies.is_empty() {
        verdicts.push(Verdict::fail(
            "workload anomalies",
            format!(
                "{} things the workload could not make sense of",
                anomalies.len()
            ),
            anomalies,
        ));
    }
    verdicts
}

fn print_report(shared: &Shared, log: &FaultLog) {
    println!("    ops (ok / definite failure / unknown):");
    let mut total = 0;
    for (kind, t) in shared.tallies() {
        total += t.ok + t.failed + t.unknown;
        println!(
            "      {kind:<24} {:>7} / {:>5} / {:>5}",
            t.ok, t.failed, t.unknown
        );
        let mut errors: Vec<(&String, &u64)> = t.errors.iter().collect();
        errors.sort_by(|a, b| b.1.cmp(a.1));
        if !errors.is_empty() {
            let top: Vec<String> = errors
                .iter()
                .take(4)
                .map(|(e, c)| format!("{e} ×{c}"))
                .collect();
            println!("        {}", top.join("; "));
        }
    }
    println!("      {:<24} {total:>7}", "total");
    let list = |map: &BTreeMap<Nemesis, usize>| {
        if map.is_empty() {
            return "none".to_owned();
        }
        map.iter()
            .map(|(n, c)| format!("{n} ×{c}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!("    faults injected: {}", list(&log.injected));
    if !log.skipped.is_empty() {
        println!(
            "    faults skipped (precondition not met): {}",
            list(&log.skipped)
        );
    }
}

fn print_verdicts(verdicts: &[Verdict]) {
    println!("    checks:");
    for v in verdicts {
        println!(
            "      {:<7} {}: {}",
            v.status.to_string(),
            v.checker,
            v.reason
        );
    }
    let failed = verdicts.iter().filter(|v| !v.passed()).count();
    println!(
        "    run: {} passed, {failed} failed",
        verdicts.len() - failed
    );
}

fn print_failure_detail(spec: &RunSpec, log: &FaultLog, verdicts: &[Verdict]) {
    println!("    ---- FAILURE: seed {} ----", spec.seed);
    println!("    repeat with: {}", spec.repeat_command());
    println!("    nemesis schedule:");
    for (at, what) in &log.entries {
        println!("      +{:>8.3}s {what}", *at as f64 / 1e9);
    }
    for v in verdicts.iter().filter(|v| v.status == Status::Fail) {
        println!("    {} — {}", v.checker, v.reason);
        for line in &v.detail {
            println!("      {line}");
        }
    }
    println!("    ---- end of failure ----");
}
