//! Failover: no acknowledged write is lost when the leader dies mid-stream, and a lock
//! recipe keeps mutual exclusion while servers are killed and restarted.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use paddock_integration_tests::*;
use paddock_testing::Ensemble;
use zookeeper_client as zk;

/// Waits until `counter` has grown by `by` from its value now; fails after `secs`.
async fn wait_progress(counter: &AtomicUsize, by: usize, secs: u64, what: &str) {
    let target = counter.load(Ordering::SeqCst) + by;
    eventually(secs, what, || async {
        counter.load(Ordering::SeqCst) >= target
    })
    .await;
}

/// Writers stream creates of fresh znodes while the leader is killed. A write that
/// fails (connection lost mid-failover: outcome unknown) is not retried with the same
/// name; the writer moves on to a new one. Afterwards every acknowledged znode is on
/// every node, the killed one included once it is back, with the acknowledged data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_leader_failover() {
    init_tracing();
    // On disk: the killed leader must recover what it acknowledged from storage.
    let mut ensemble = Ensemble::builder().nodes(3).start().await.unwrap();
    let hosts = ensemble.connect_string();
    let setup = connect(&hosts).await;
    setup.create("/stream", b"", OPEN).await.unwrap();

    const WRITERS: usize = 4;
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for writer in 0..WRITERS {
        let client = connect(&hosts).await;
        let (stop, acked, failed) = (stop.clone(), acked.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut confirmed: BTreeMap<String, Vec<u8>> = BTreeMap::new();
            let mut attempted = 0usize;
            while !stop.load(Ordering::SeqCst) {
                let path = format!("/stream/w{writer}-{attempted:06}");
                let data = format!("writer {writer} write {attempted}").into_bytes();
                attempted += 1;
                let result = tokio::time::timeout(
                    Duration::from_secs(15),
                    client.create(&path, &data, OPEN),
                )
                .await;
                match result {
                    Ok(Ok(_)) => {
                        confirmed.insert(path, data);
                        acked.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Err(
                        zk::Error::ConnectionLoss
                        | zk::Error::UnexpectedErrorCode(_)
                        | zk::Error::Timeout,
                    ))
                    | Err(_) => {
                        failed.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(Err(error)) => panic!("writer {writer}: {path}: {error}"),
                }
            }
            (confirmed, attempted)
        }));
    }

    wait_progress(&acked, 200, 60, "writes before the failover").await;
    let old_leader = ensemble.leader().unwrap();
    ensemble.kill(old_leader).await.unwrap();
    let before_kill = acked.load(Ordering::SeqCst);
    let new_leader = ensemble
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();
    assert_ne!(new_leader, old_leader);
    wait_progress(&acked, 200, 60, "writes after the failover").await;
    stop.store(true, Ordering::SeqCst);
    let mut confirmed = BTreeMap::new();
    let mut attempted = 0;
    for task in tasks {
        let (mine, tried) = within(30, task).await.unwrap();
        confirmed.extend(mine);
        attempted += tried;
    }
    println!(
        "{} acknowledged ({} before the kill), {} failed during failover",
        confirmed.len(),
        before_kill,
        failed.load(Ordering::SeqCst)
    );

    ensemble.restart(old_leader).await.unwrap();
    ensemble
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();
    assert!(
        ensemble
            .wait_converged(Duration::from_secs(30))
            .await
            .is_some(),
        "nodes did not converge"
    );
    for index in 0..3 {
        let client = connect_to_node(&ensemble, index).await;
        client.sync("/").await.unwrap();
        let children = client.list_children("/stream").await.unwrap();
        assert!(
            children.len() <= attempted,
            "node {index}: writes nobody made"
        );
        assert!(children.len() >= confirmed.len());
        let reads: Vec<_> = confirmed.keys().map(|path| client.get_data(path)).collect();
        for ((path, data), read) in confirmed.iter().zip(reads) {
            match read.await {
                Ok((stored, _)) => assert_eq!(&stored, data, "node {index}: {path}"),
                Err(error) => panic!("node {index}: acknowledged {path} lost: {error}"),
            }
        }
    }
    ensemble.shutdown().await;
}

const LOCK_DIR: &str = "/lock";
const COUNTER: &str = "/lock-counter";

/// What the contenders share: the in-process check of mutual exclusion and progress.
#[derive(Default)]
struct LockStats {
    /// Contenders inside the critical section now; never more than one.
    holders: AtomicUsize,
    /// Completed critical sections.
    acquisitions: AtomicUsize,
    /// Counter increments acknowledged by the server.
    increments: AtomicUsize,
    /// Counter increments whose outcome is unknown (connection lost).
    increments_unknown: AtomicUsize,
    /// Times a contender found its lock lost (session expired, node gone).
    lost: AtomicUsize,
    /// Who entered the critical section last.
    holder: std::sync::Mutex<Option<String>>,
    /// The first breach of mutual exclusion seen, if any.
    violation: std::sync::Mutex<Option<String>>,
}

impl LockStats {
    fn check(&self) {
        if let Some(violation) = &*self.violation.lock().unwrap() {
            panic!("mutual exclusion violated: {violation}");
        }
    }
}

/// Waits for `by` more completed critical sections, failing at once on a violation.
async fn wait_acquisitions(stats: &LockStats, by: usize, what: &str) {
    let target = stats.acquisitions.load(Ordering::SeqCst) + by;
    eventually(60, what, || async {
        stats.check();
        stats.acquisitions.load(Ordering::SeqCst) >= target
    })
    .await;
}

/// The sequence suffix of a lock node name.
fn sequence(name: &str) -> &str {
    &name[name.len().saturating_sub(10)..]
}

/// Why a lock attempt stopped short.
enum Interrupted {
    /// The session is gone: start over with a new one.
    SessionLost,
    /// Anything else (connection loss, timeout): try again in the same session.
    Retry,
}

impl From<zk::Error> for Interrupted {
    fn from(error: zk::Error) -> Self {
        match error {
            zk::Error::SessionExpired | zk::Error::ClientClosed => Interrupted::SessionLost,
            _ => Interrupted::Retry,
        }
    }
}

/// One contender's lock node: ZooKeeper's lock recipe with Curator's "protected" names
/// (`_c_<token>-lock-<seq>`), so a create whose reply was lost can be found again.
struct Contender {
    client: zk::Client,
    token: String,
    node: Option<String>,
}

impl Contender {
    fn prefix(&self) -> String {
        format!("{LOCK_DIR}/_c_{}-lock-", self.token)
    }

    /// My lock node: the one I know, or one a lost reply created, or a new one.
    async fn ensure_node(&mut self) -> Result<String, Interrupted> {
        if let Some(node) = &self.node {
            return Ok(node.clone());
        }
        let mine = format!("_c_{}-", self.token);
        let found = self
            .client
            .list_children(LOCK_DIR)
            .await?
            .into_iter()
            .find(|child| child.starts_with(&mine));
        let node = match found {
            Some(child) => format!("{LOCK_DIR}/{child}"),
            None => {
                let prefix = self.prefix();
                let (_, seq) = self.client.create(&prefix, b"", EPHEMERAL_SEQ).await?;
                format!("{prefix}{seq}")
            }
        };
        self.node = Some(node.clone());
        Ok(node)
    }

    /// Waits until my node is the lowest; returns its path.
    async fn acquire(&mut self) -> Result<String, Interrupted> {
        let node = self.ensure_node().await?;
        let name = node.rsplit('/').next().unwrap().to_owned();
        let mine = format!("_c_{}-", self.token);
        loop {
            let mut children = self.client.list_children(LOCK_DIR).await?;
            // A create whose reply was lost may have left a twin: remove it.
            for twin in children
                .iter()
                .filter(|c| c.starts_with(&mine) && **c != name)
            {
                match self
                    .client
                    .delete(&format!("{LOCK_DIR}/{twin}"), None)
                    .await
                {
                    Ok(()) | Err(zk::Error::NoNode) => {}
                    Err(error) => return Err(error.into()),
                }
            }
            children.retain(|c| !c.starts_with(&mine) || *c == name);
            children.sort_by(|a, b| sequence(a).cmp(sequence(b)));
            let Some(position) = children.iter().position(|c| *c == name) else {
                // My node is gone: my session expired.
                return Err(Interrupted::SessionLost);
            };
            if position == 0 {
                return Ok(node);
            }
            let predecessor = format!("{LOCK_DIR}/{}", children[position - 1]);
            let (stat, watch) = self.client.check_and_watch_stat(&predecessor).await?;
            if stat.is_some() {
                // Bounded only so a lost notification cannot hang the test; on timeout
                // the children are simply listed again.
                let _ = tokio::time::timeout(Duration::from_secs(2), watch.changed()).await;
            }
        }
    }

    /// Deletes my lock node. If the outcome is unknown (connection lost), the delete
    /// may still be applied later, even after this session has reconnected elsewhere
    /// and read the node as present (a proposal of a dead leader can be committed by
    /// the next one). Reusing the node would then let this contender believe it holds
    /// a lock it has released: so it gives the whole session up instead, which deletes
    /// every node the session owns.
    async fn release(&mut self) -> Result<(), Interrupted> {
        if let Some(node) = &self.node {
            match self.client.delete(node, None).await {
                Ok(()) | Err(zk::Error::NoNode) => {}
                Err(_) => return Err(Interrupted::SessionLost),
            }
        }
        self.node = None;
        Ok(())
    }
}

/// The critical section. Entered only while connected and while the lock node is
/// still ours; left at the first sign of trouble. A session cannot expire on the
/// server before its full timeout has passed without hearing from the client, while
/// the client declares the connection lost after 2/5 of it, and every request here
/// fails as soon as it does: so a holder always leaves before anyone else can get in.
async fn critical_section(contender: &Contender, node: &str, stats: &LockStats) {
    let client = &contender.client;
    if client.state() != zk::SessionState::SyncConnected {
        return;
    }
    match client.check_stat(node).await {
        Ok(Some(stat)) if stat.ephemeral_owner == client.session_id().0 => {}
        _ => {
            stats.lost.fetch_add(1, Ordering::SeqCst);
            return;
        }
    }
    let me = format!("{node} (session {:#x})", client.session_id().0);
    let before = stats.holders.fetch_add(1, Ordering::SeqCst);
    {
        let mut holder = stats.holder.lock().unwrap();
        if before != 0 {
            // Recorded, not panicked here: the test task reports it with context.
            let mut violation = stats.violation.lock().unwrap();
            violation.get_or_insert(format!("{me} entered while {holder:?} held the lock"));
        }
        *holder = Some(me);
    }
    // The shared resource: a counter only the holder may increment, with a version
    // check, so the server itself notices if two holders ever overlapped.
    let increment = async {
        let (data, stat) = client.get_data(COUNTER).await?;
        let value: u64 = std::str::from_utf8(&data).unwrap().parse().unwrap();
        client
            .set_data(
                COUNTER,
                (value + 1).to_string().as_bytes(),
                Some(stat.version),
            )
            .await
    };
    match increment.await {
        Ok(_) => {
            stats.increments.fetch_add(1, Ordering::SeqCst);
        }
        Err(zk::Error::BadVersion) => {
            let mut violation = stats.violation.lock().unwrap();
            violation.get_or_insert(format!("the counter changed under the holder {node}"));
        }
        Err(_) => {
            stats.increments_unknown.fetch_add(1, Ordering::SeqCst);
        }
    }
    stats.holders.fetch_sub(1, Ordering::SeqCst);
    stats.acquisitions.fetch_add(1, Ordering::SeqCst);
}

async fn contend(hosts: String, id: usize, stats: Arc<LockStats>, stop: Arc<AtomicBool>) {
    let mut generation = 0;
    let new_contender = |generation: usize| {
        let hosts = hosts.clone();
        async move {
            Contender {
                client: connect(&hosts).await,
                token: format!("{id}x{generation}"),
                node: None,
            }
        }
    };
    let mut contender = new_contender(generation).await;
    while !stop.load(Ordering::SeqCst) {
        let outcome = async {
            let node = contender.acquire().await?;
            critical_section(&contender, &node, &stats).await;
            contender.release().await
        }
        .await;
        match outcome {
            Ok(()) => {}
            Err(Interrupted::Retry) => {}
            Err(Interrupted::SessionLost) => {
                stats.lost.fetch_add(1, Ordering::SeqCst);
                generation += 1;
                contender = new_contender(generation).await;
            }
        }
    }
    let _ = contender.release().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lock_recipe_keeps_mutual_exclusion_through_kills_and_restarts() {
    let mut ensemble = ensemble().await;
    let hosts = ensemble.connect_string();
    let setup = connect(&hosts).await;
    setup.create(LOCK_DIR, b"", OPEN).await.unwrap();
    setup.create(COUNTER, b"0", OPEN).await.unwrap();

    const CONTENDERS: usize = 5;
    let stats = Arc::new(LockStats::default());
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|id| tokio::spawn(contend(hosts.clone(), id, stats.clone(), stop.clone())))
        .collect();

    let started = Instant::now();
    wait_acquisitions(&stats, 30, "lock acquisitions").await;
    // Kill the leader, then a follower, then the (new) leader again; each time the lock
    // must keep changing hands while the node is down and after it is back.
    let mut victims = Vec::new();
    for round in 0..3 {
        let leader = ensemble.leader().unwrap();
        let victim = if round == 1 { (leader + 1) % 3 } else { leader };
        victims.push(victim);
        ensemble.kill(victim).await.unwrap();
        ensemble
            .wait_for_leader(Duration::from_secs(20))
            .await
            .unwrap();
        wait_acquisitions(&stats, 30, "acquisitions with a node down").await;
        ensemble.restart(victim).await.unwrap();
        ensemble
            .wait_for_leader(Duration::from_secs(20))
            .await
            .unwrap();
        wait_acquisitions(&stats, 30, "acquisitions after a restart").await;
    }
    stop.store(true, Ordering::SeqCst);
    for task in tasks {
        within(60, task).await.unwrap();
    }
    // The contenders wrote through other members: catch `setup`'s member up first.
    setup.sync(COUNTER).await.unwrap();
    let (value, _) = setup.get_data(COUNTER).await.unwrap();
    let value: usize = std::str::from_utf8(&value).unwrap().parse().unwrap();
    let increments = stats.increments.load(Ordering::SeqCst);
    let unknown = stats.increments_unknown.load(Ordering::SeqCst);
    println!(
        "{} acquisitions in {:?} (killed nodes {:?}); counter {value}: {increments} acknowledged, \
         {unknown} unknown; {} lost locks",
        stats.acquisitions.load(Ordering::SeqCst),
        started.elapsed(),
        victims,
        stats.lost.load(Ordering::SeqCst),
    );
    stats.check();
    assert_eq!(stats.holders.load(Ordering::SeqCst), 0);
    assert!(
        (increments..=increments + unknown).contains(&value),
        "counter {value} vs {increments} acknowledged + {unknown} unknown increments"
    );
    // Every contender cleaned up (or its session ended): no lock node is left.
    eventually(20, "lock nodes cleaned up", || async {
        setup.list_children(LOCK_DIR).await.unwrap().is_empty()
    })
    .await;
    ensemble.shutdown().await;
}

/// A node restarted the moment it is killed binds its client and peer ports again:
/// killing waits until every listener is closed (a restart used to race the aborted
/// accept tasks and fail with "address in use" now and then). Each node is killed and
/// restarted several times, then the ensemble still serves a write on every node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_nodes_restart_at_once_on_the_same_ports() {
    init_tracing();
    let mut ensemble = ensemble().await;
    for round in 0..30 {
        let node = round % ensemble.len();
        ensemble
            .restart(node)
            .await
            .unwrap_or_else(|e| panic!("restart {round} of node {node}: {e}"));
    }
    ensemble
        .wait_for_leader(Duration::from_secs(20))
        .await
        .unwrap();
    for node in 0..ensemble.len() {
        let address = ensemble.node(node).client_addr().to_string();
        let client = connect(&address).await;
        client
            .create(&format!("/after-restarts-{node}"), b"", OPEN)
            .await
            .unwrap();
    }
}
