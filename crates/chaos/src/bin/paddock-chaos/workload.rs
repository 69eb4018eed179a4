//! The workloads: client sessions that drive the cluster and record what they did.
//!
//! - registers: sync+getData / setData-with-version / setData on one key at a time,
//!   moving to a fresh key every [`KEY_OPS`] operations;
//! - sequential creates under per-worker buckets;
//! - a counter incremented by compare-and-set;
//! - a fair lock (ephemeral sequential + watch the predecessor) whose holder writes a
//!   fence znode in a multi that checks its lock znode still exists;
//! - session-expiry probes: a detached session creates an ephemeral and is expired (or
//!   simply abandoned to time out).
//!
//! Each worker stops at its next operation once [`Shared::stop`] is set; every
//! operation is bounded by the operation time-out, so stopping takes at most that long.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use paddock_chaos::checks::{CreateOutcome, CreateRecord, FenceWrite};
use paddock_chaos::register::{RegisterCall, RegisterOp, RegisterReturn};
use parking_lot::Mutex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use zookeeper_client as zk;

use crate::client::{
    Clock, Conn, EPHEMERAL, EPHEMERAL_SEQUENTIAL, MovedSink, OPEN, Outcome, SEQUENTIAL, run_op,
};
use crate::cluster::Cluster;

/// Root of everything the harness writes.
pub const ROOT: &str = "/chaos";
/// Register keys live under here.
pub const REGISTERS: &str = "/chaos/reg";
/// Sequential-create buckets live under here.
pub const SEQUENCES: &str = "/chaos/seq";
/// The counter.
pub const COUNTER: &str = "/chaos/counter";
/// Lock znodes.
pub const LOCK: &str = "/chaos/lock";
/// The fence the lock holder writes.
pub const FENCE: &str = "/chaos/fence";
/// Expiry probes' ephemerals.
pub const EPHEMERALS: &str = "/chaos/eph";
/// Written by the liveness check.
pub const LIVE: &str = "/chaos/live";
/// Operations on one register key before the workers move to a new one.
pub const KEY_OPS: usize = 100;
/// Creates per bucket before a worker opens a new one.
const BUCKET_CREATES: u64 = 200;

/// ok / definite failure / unknown counts of one kind of operation.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Completed successfully.
    pub ok: u64,
    /// Definitely failed.
    pub failed: u64,
    /// Outcome unknown.
    pub unknown: u64,
    /// How the failed and unknown ones ended, by error.
    pub errors: BTreeMap<String, u64>,
}

/// Which register key is current.
#[derive(Debug, Default)]
struct Keys {
    current: usize,
    ops: usize,
    creating: bool,
}

/// Everything the workers share: the stop flag, the gate, and what they record.
pub struct Shared {
    /// The run's clock.
    pub clock: Clock,
    /// Set to stop the workers.
    pub stop: AtomicBool,
    /// Read-held around each operation; the nemesis write-holds it for a moment to
    /// quiesce the workload before wiping a node.
    pub gate: tokio::sync::RwLock<()>,
    /// Session timeout the workers ask for.
    pub session_timeout: Duration,
    /// How long an operation may take before its outcome is declared unknown.
    pub op_timeout: Duration,
    keys: Mutex<Keys>,
    /// Register history, with the key index of each operation.
    pub registers: Mutex<Vec<(usize, RegisterOp)>>,
    /// Sequential creates.
    pub creates: Mutex<Vec<CreateRecord>>,
    /// Buckets known to exist.
    pub buckets: Mutex<BTreeSet<String>>,
    /// Acknowledged counter increments.
    pub counter_acked: AtomicU64,
    /// Counter increments with unknown outcome.
    pub counter_unknown: AtomicU64,
    /// Fence writes by lock holders.
    pub fences: Mutex<Vec<FenceWrite>>,
    /// Times a worker became lock holder.
    pub lock_acquisitions: AtomicU64,
    /// Probe sessions that created (or may have created) an ephemeral.
    pub probes: AtomicU64,
    /// Probe sessions expired through the log.
    pub probes_expired: AtomicU64,
    /// SessionMoved replies the clients got.
    pub moved: MovedSink,
    /// Data the workload could not make sense of (a corrupt counter, …).
    pub anomalies: Mutex<Vec<String>>,
    tallies: Mutex<BTreeMap<&'static str, Tally>>,
}

impl Shared {
    /// Fresh shared state.
    pub fn new(clock: Clock, session_timeout: Duration, op_timeout: Duration) -> Self {
        Self {
            clock,
            stop: AtomicBool::new(false),
            gate: tokio::sync::RwLock::new(()),
            session_timeout,
            op_timeout,
            keys: Mutex::new(Keys::default()),
            registers: Mutex::new(Vec::new()),
            creates: Mutex::new(Vec::new()),
            buckets: Mutex::new(BTreeSet::new()),
            counter_acked: AtomicU64::new(0),
            counter_unknown: AtomicU64::new(0),
            fences: Mutex::new(Vec::new()),
            lock_acquisitions: AtomicU64::new(0),
            probes: AtomicU64::new(0),
            probes_expired: AtomicU64::new(0),
            moved: MovedSink::default(),
            anomalies: Mutex::new(Vec::new()),
            tallies: Mutex::new(BTreeMap::new()),
        }
    }

    fn conn(&self, hosts: String, worker: String) -> Conn {
        Conn::new(
            hosts,
            self.session_timeout,
            worker,
            self.clock,
            self.moved.clone(),
        )
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    async fn op<T, E, F>(&self, op: impl FnOnce() -> F) -> Outcome<T, E>
    where
        F: std::future::Future<Output = Result<T, E>>,
    {
        run_op(&self.gate, self.clock, self.op_timeout, op).await
    }

    /// Counts one operation of `kind`, with the error it ended in, if any.
    fn tally<T, E: std::fmt::Display>(
        &self,
        kind: &'static str,
        result: &Result<T, Option<E>>,
        definite_failure: bool,
    ) {
        let mut tallies = self.tallies.lock();
        let t = tallies.entry(kind).or_default();
        match result {
            Ok(_) => t.ok += 1,
            Err(_) if definite_failure => t.failed += 1,
            Err(_) => t.unknown += 1,
        }
        if let Err(error) = result {
            let label = match error {
                Some(error) => error.to_string(),
                None => format!("no reply within {:?}", self.op_timeout),
            };
            *t.errors.entry(label).or_default() += 1;
        }
    }

    /// Operation counts by kind.
    pub fn tallies(&self) -> BTreeMap<&'static str, Tally> {
        self.tallies.lock().clone()
    }

    async fn pace(&self, rng: &mut StdRng, max_ms: u64) {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(0..=max_ms))).await;
    }
}

fn is_definite(error: &zk::Error) -> bool {
    matches!(
        error,
        zk::Error::BadVersion | zk::Error::NoNode | zk::Error::NodeExists
    )
}

/// The key to use for the next operation; the worker that makes the current key reach
/// [`KEY_OPS`] creates the next one and, once that is certain, moves everyone to it.
async fn current_key(shared: &Shared, client: &zk::Client) -> usize {
    let (key, rotate) = {
        let mut keys = shared.keys.lock();
        keys.ops += 1;
        let rotate = keys.ops >= KEY_OPS && !keys.creating;
        if rotate {
            keys.creating = true;
        }
        (keys.current, rotate)
    };
    if rotate {
        let next = key + 1;
        let path = format!("{REGISTERS}/k{next}");
        let created = shared.op(|| client.create(&path, b"", OPEN)).await;
        let certain = matches!(created.result, Ok(_) | Err(Some(zk::Error::NodeExists)));
        let mut keys = shared.keys.lock();
        keys.creating = false;
        if certain {
            keys.current = next;
            keys.ops = 0;
        }
    }
    key
}

/// A register client: reads (sync + getData), compare-and-sets and blind writes.
pub async fn register_worker(shared: Arc<Shared>, process: usize, hosts: String, seed: u64) {
    let mut conn = shared.conn(hosts, format!("register-{process}"));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut versions: HashMap<usize, i32> = HashMap::new();
    let mut n = 0u64;
    while !shared.stopped() {
        let Some(client) = conn.get().await else {
            continue;
        };
        let key = current_key(&shared, &client).await;
        let path = format!("{REGISTERS}/k{key}");
        n += 1;
        let value = format!("p{process}-{n}");
        let roll: f64 = rng.gen_range(0.0..1.0);
        let (op, error) = if roll < 0.45 {
            let out = shared
                .op(|| {
                    // Both requests leave now, on the same connection, so the read is
                    // served after the sync (FIFO per session).
                    let sync = client.sync(&path);
                    let read = client.get_data(&path);
                    async move {
                        sync.await?;
                        read.await
                    }
                })
                .await;
            let ret = match &out.result {
                Ok((data, stat)) => {
                    versions.insert(key, stat.version);
                    RegisterReturn::Read {
                        value: String::from_utf8_lossy(data).into_owned(),
                        version: stat.version,
                    }
                }
                Err(Some(zk::Error::NoNode)) => RegisterReturn::NoNode,
                Err(_) => RegisterReturn::Unknown,
            };
            shared.tally("register read", &out.result, ret == RegisterReturn::NoNode);
            let op =
                RegisterOp::completed(process, out.call_ns, out.return_ns, RegisterCall::Read, ret);
            (op, out.error().cloned())
        } else {
            let cas = roll < 0.9;
            let expected = cas.then(|| {
                let known = versions.get(&key).copied().unwrap_or(0);
                // Now and then a stale guess, so some CAS fail.
                if rng.gen_bool(0.1) { known + 1 } else { known }
            });
            let out = shared
                .op(|| client.set_data(&path, value.as_bytes(), expected))
                .await;
            let ret = match &out.result {
                Ok(stat) => {
                    versions.insert(key, stat.version);
                    RegisterReturn::Written {
                        version: stat.version,
                    }
                }
                Err(Some(zk::Error::BadVersion)) => RegisterReturn::BadVersion,
                Err(Some(zk::Error::NoNode)) => RegisterReturn::NoNode,
                Err(_) => RegisterReturn::Unknown,
            };
            let kind = if cas {
                "register cas"
            } else {
                "register write"
            };
            let definite = matches!(ret, RegisterReturn::BadVersion | RegisterReturn::NoNode);
            shared.tally(kind, &out.result, definite);
            let call = match expected {
                Some(expected_version) => RegisterCall::Cas {
                    expected_version,
                    value,
                },
                None => RegisterCall::Write { value },
            };
            let op = RegisterOp::completed(process, out.call_ns, out.return_ns, call, ret);
            (op, out.error().cloned())
        };
        shared.registers.lock().push((key, op));
        if let Some(error) = error {
            conn.note(&error);
        }
        shared.pace(&mut rng, 15).await;
    }
}

/// Creates sequential znodes `bucket/w<p>n<i>-%010d`, recording every attempt.
pub async fn create_worker(shared: Arc<Shared>, process: usize, hosts: String, seed: u64) {
    let mut conn = shared.conn(hosts, format!("create-{process}"));
    let mut rng = StdRng::seed_from_u64(seed);
    let mut n = 0u64;
    let mut bucket_ready = false;
    while !shared.stopped() {
        let Some(client) = conn.get().await else {
            continue;
        };
        let bucket = format!("{SEQUENCES}/w{process}b{}", n / BUCKET_CREATES);
        if !bucket_ready {
            let out = shared.op(|| client.create(&bucket, b"", OPEN)).await;
            match out.result {
                Ok(_) | Err(Some(zk::Error::NodeExists)) => {
                    bucket_ready = true;
                    shared.buckets.lock().insert(bucket.clone());
                }
                Err(Some(error)) => {
                    conn.note(&error);
                    shared.pace(&mut rng, 50).await;
                }
                Err(None) => {}
            }
            continue;
        }
        let uid = format!("w{process}n{n}");
        let prefix = format!("{bucket}/{uid}-");
        let out = shared.op(|| client.create(&prefix, b"", SEQUENTIAL)).await;
        let outcome = match &out.result {
            Ok((_, seq)) => CreateOutcome::Acked {
                seq: seq.into_i64(),
            },
            Err(Some(error)) if is_definite(error) => CreateOutcome::Failed,
            Err(_) => CreateOutcome::Unknown,
        };
        shared.tally(
            "sequential create",
            &out.result,
            outcome == CreateOutcome::Failed,
        );
        shared.creates.lock().push(CreateRecord {
            bucket,
            uid,
            process,
            call_ns: out.call_ns,
            outcome,
        });
        if let Some(error) = out.error() {
            conn.note(error);
        }
        n += 1;
        if n.is_multiple_of(BUCKET_CREATES) {
            bucket_ready = false;
        }
        shared.pace(&mut rng, 15).await;
    }
}

/// Increments the counter by read + compare-and-set.
pub async fn counter_worker(shared: Arc<Shared>, process: usize, hosts: String, seed: u64) {
    let mut conn = shared.conn(hosts, format!("counter-{process}"));
    let mut rng = StdRng::seed_from_u64(seed);
    while !shared.stopped() {
        let Some(client) = conn.get().await else {
            continue;
        };
        let read = shared.op(|| client.get_data(COUNTER)).await;
        shared.tally("counter read", &read.result, false);
        let (data, stat) = match read.result {
            Ok(found) => found,
            Err(error) => {
                if let Some(error) = error {
                    conn.note(&error);
                }
                shared.pace(&mut rng, 20).await;
                continue;
            }
        };
        let Ok(value) = String::from_utf8_lossy(&data).parse::<i64>() else {
            shared.anomalies.lock().push(format!(
                "counter holds {:?}, not a number",
                String::from_utf8_lossy(&data)
            ));
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let next = (value + 1).to_string();
        let write = shared
            .op(|| client.set_data(COUNTER, next.as_bytes(), Some(stat.version)))
            .await;
        let definite = matches!(write.result, Err(Some(zk::Error::BadVersion)));
        shared.tally("counter increment", &write.result, definite);
        match &write.result {
            Ok(_) => {
                shared.counter_acked.fetch_add(1, Ordering::SeqCst);
            }
            Err(_) if definite => {}
            Err(error) => {
                shared.counter_unknown.fetch_add(1, Ordering::SeqCst);
                if let Some(error) = error {
                    conn.note(error);
                }
            }
        }
        shared.pace(&mut rng, 20).await;
    }
}

fn lock_seq(name: &str) -> Option<i64> {
    name.strip_prefix("lock-")?.parse().ok()
}

/// Waits until `seq` is the lowest lock znode. `Ok(false)`: the znode is gone (session
/// expired) or the session is unusable; the caller abandons the session.
async fn wait_turn(shared: &Shared, client: &zk::Client, seq: i64) -> Result<bool, ()> {
    loop {
        if shared.stopped() {
            return Err(());
        }
        let listed = shared.op(|| client.list_children(LOCK)).await;
        let Ok(children) = listed.result else {
            return Ok(false);
        };
        let seqs: Vec<i64> = children.iter().filter_map(|c| lock_seq(c)).collect();
        if !seqs.contains(&seq) {
            shared.tally(
                "lock lost while waiting",
                &Err::<(), _>(Some("lock znode gone")),
                true,
            );
            return Ok(false);
        }
        let Some(predecessor) = seqs.iter().filter(|s| **s < seq).max() else {
            return Ok(true);
        };
        let path = format!("{LOCK}/lock-{predecessor:010}");
        let watched = shared.op(|| client.check_and_watch_stat(&path)).await;
        match watched.result {
            Ok((None, _)) => {}
            Ok((Some(_), watcher)) => {
                let _ = tokio::time::timeout(Duration::from_secs(2), watcher.changed()).await;
            }
            Err(_) => return Ok(false),
        }
    }
}

/// Takes the lock, writes the fence a few times while holding it, releases; repeats.
pub async fn lock_worker(shared: Arc<Shared>, process: usize, hosts: String, seed: u64) {
    let mut conn = shared.conn(hosts, format!("lock-{process}"));
    let mut rng = StdRng::seed_from_u64(seed);
    'session: while !shared.stopped() {
        let Some(client) = conn.get().await else {
            continue;
        };
        let prefix = format!("{LOCK}/lock-");
        let created = shared
            .op(|| client.create(&prefix, b"", EPHEMERAL_SEQUENTIAL))
            .await;
        shared.tally("lock enqueue", &created.result, false);
        let seq = match created.result {
            Ok((_, seq)) => seq.into_i64(),
            Err(error) => {
                if let Some(error) = error {
                    conn.note(&error);
                }
                // Unknown outcome: a lock znode may exist. Only ending the session
                // removes it for sure.
                conn.reset();
                continue;
            }
        };
        let mine = format!("{LOCK}/lock-{seq:010}");
        match wait_turn(&shared, &client, seq).await {
            Ok(true) => {}
            Ok(false) => {
                conn.reset();
                continue;
            }
            Err(()) => break,
        }
        shared.lock_acquisitions.fetch_add(1, Ordering::SeqCst);
        for _ in 0..3 {
            let mut writer = client.new_multi_writer();
            let fence_data = seq.to_string();
            if writer.add_check_version(&mine, -1).is_err()
                || writer
                    .add_set_data(FENCE, fence_data.as_bytes(), None)
                    .is_err()
            {
                conn.reset();
                continue 'session;
            }
            let out = shared.op(|| writer.commit()).await;
            let fenced_off = matches!(
                out.result,
                Err(Some(zk::MultiWriteError::OperationFailed {
                    index: 0,
                    source: zk::Error::NoNode,
                }))
            );
            shared.tally("lock fence write", &out.result, fenced_off);
            match &out.result {
                Ok(results) => {
                    if let Some(zk::MultiWriteResult::SetData { stat }) = results.get(1) {
                        shared.fences.lock().push(FenceWrite {
                            seq,
                            mzxid: stat.mzxid,
                            process,
                            session: client.session_id().0,
                            call_ns: out.call_ns,
                            return_ns: out.return_ns,
                        });
                    }
                }
                Err(Some(zk::MultiWriteError::OperationFailed {
                    index: 0,
                    source: zk::Error::NoNode,
                })) => {
                    // Our lock znode is gone (session expired): we no longer hold it,
                    // and the fence refused the write. Exactly what fencing is for.
                    conn.reset();
                    continue 'session;
                }
                Err(error) => {
                    if let Some(error) = error {
                        conn.note(&error.clone().into());
                    }
                    conn.reset();
                    continue 'session;
                }
            }
            shared.pace(&mut rng, 10).await;
        }
        let released = shared.op(|| client.delete(&mine, None)).await;
        shared.tally("lock release", &released.result, false);
        if let Err(error) = released.result {
            if let Some(error) = error {
                conn.note(&error);
            }
            // The lock znode may still be there: only ending the session releases it.
            conn.reset();
        }
        shared.pace(&mut rng, 20).await;
    }
}

/// Every `interval`, a detached session creates an ephemeral under [`EPHEMERALS`]; it is
/// then expired through the log (in-process) and abandoned without CloseSession, so
/// with processes it ends by timing out. At the end every node must show none left.
pub async fn probe_worker(
    shared: Arc<Shared>,
    hosts: String,
    cluster: Arc<tokio::sync::Mutex<Cluster>>,
    explicit_expiry: bool,
    interval: Duration,
) {
    let mut n = 0u64;
    while !shared.stopped() {
        tokio::time::sleep(interval).await;
        if shared.stopped() {
            break;
        }
        let connector = zk::Client::connector()
            .with_session_timeout(shared.session_timeout)
            .with_detached();
        let Ok(Ok(client)) =
            tokio::time::timeout(shared.session_timeout * 2, connector.connect(&hosts)).await
        else {
            continue;
        };
        n += 1;
        let path = format!("{EPHEMERALS}/p{n}");
        let out = shared.op(|| client.create(&path, b"", EPHEMERAL)).await;
        shared.tally("expiry probe create", &out.result, false);
        shared.probes.fetch_add(1, Ordering::SeqCst);
        if explicit_expiry {
            let session = client.session_id().0;
            let expired = tokio::time::timeout(Duration::from_secs(3), async {
                cluster.lock().await.expire_session(session).await
            })
            .await;
            if matches!(expired, Ok(true)) {
                shared.probes_expired.fetch_add(1, Ordering::SeqCst);
            }
        }
        drop(client);
    }
}
