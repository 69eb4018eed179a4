//! In-process clusters for the consensus tests: real sockets on loopback, real log
//! files in temporary directories (or memory), a toy state machine that records every
//! command it applies.

#![allow(dead_code, clippy::unwrap_used, missing_docs)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use paddock_raft::*;
use parking_lot::Mutex;

/// Every command applied, in order, with its log index.
#[derive(Default, Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    pub commands: Vec<(u64, Vec<u8>)>,
}

impl Applied {
    pub fn digest(&self) -> u64 {
        self.commands
            .iter()
            .fold(0xcbf29ce484222325u64, |h, (i, c)| {
                let mut h = h ^ i;
                for b in c {
                    h = (h ^ u64::from(*b)).wrapping_mul(0x100000001b3);
                }
                h.wrapping_mul(0x100000001b3)
            })
    }
}

/// A state machine that remembers every command; shared so tests can look inside.
#[derive(Clone, Default)]
pub struct Recorder {
    pub state: Arc<Mutex<Applied>>,
}

impl StateMachine for Recorder {
    type Output = u64;

    fn apply(&mut self, index: u64, command: &[u8]) -> u64 {
        self.state.lock().commands.push((index, command.to_vec()));
        index
    }

    fn snapshot(&mut self) -> SnapshotWriter {
        let state = self.state.lock().clone();
        Box::new(move |out: &mut dyn Write| {
            out.write_all(&(state.commands.len() as u64).to_be_bytes())?;
            for (index, command) in &state.commands {
                out.write_all(&index.to_be_bytes())?;
                out.write_all(&(command.len() as u64).to_be_bytes())?;
                out.write_all(command)?;
            }
            Ok(())
        })
    }

    fn restore(&mut self, input: &mut dyn Read) -> Result<(), String> {
        let read_u64 = |input: &mut dyn Read| -> Result<u64, String> {
            let mut b = [0u8; 8];
            input.read_exact(&mut b).map_err(|e| e.to_string())?;
            Ok(u64::from_be_bytes(b))
        };
        let count = read_u64(input)?;
        let mut commands = Vec::new();
        for _ in 0..count {
            let index = read_u64(input)?;
            let len = read_u64(input)? as usize;
            let mut command = vec![0u8; len];
            input.read_exact(&mut command).map_err(|e| e.to_string())?;
            commands.push((index, command));
        }
        self.state.lock().commands = commands;
        Ok(())
    }
}

pub struct Member {
    pub id: u64,
    pub node: Option<RaftNode<u64>>,
    pub recorder: Recorder,
    pub dir: Option<PathBuf>,
    pub memory: Option<(LogStore, SnapshotStore)>,
}

pub struct Cluster {
    pub members: Vec<Member>,
    pub peers: BTreeMap<u64, SocketAddr>,
    pub faults: Faults,
    pub tune: fn(&mut RaftConfig),
    _tmp: tempfile::TempDir,
}

fn reserve_listener() -> std::net::TcpListener {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap()
}

pub fn quick(config: &mut RaftConfig) {
    config.tick = Duration::from_millis(20);
    config.request_timeout = Duration::from_secs(5);
}

impl Cluster {
    pub async fn start(n: u64, durable: bool, tune: fn(&mut RaftConfig)) -> Cluster {
        let tmp = tempfile::tempdir().unwrap();
        let listeners: Vec<_> = (1..=n).map(|_| reserve_listener()).collect();
        let peers: BTreeMap<u64, SocketAddr> = listeners
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l.local_addr().unwrap()))
            .collect();
        let mut cluster = Cluster {
            members: Vec::new(),
            peers,
            faults: Faults::new(),
            tune,
            _tmp: tmp,
        };
        for (i, listener) in listeners.into_iter().enumerate() {
            let id = i as u64 + 1;
            let dir = durable.then(|| cluster._tmp.path().join(format!("node{id}")));
            let voters: Vec<u64> = cluster.peers.keys().copied().collect();
            let memory =
                (!durable).then(|| (LogStore::in_memory(&voters), SnapshotStore::in_memory()));
            cluster.members.push(Member {
                id,
                node: None,
                recorder: Recorder::default(),
                dir,
                memory,
            });
            cluster.boot(id, Some(listener)).await;
        }
        cluster
    }

    fn config(&self, id: u64) -> RaftConfig {
        let mut config = RaftConfig::new(id, self.peers.clone());
        (self.tune)(&mut config);
        config
    }

    async fn boot(&mut self, id: u64, listener: Option<std::net::TcpListener>) {
        let config = self.config(id);
        let voters: Vec<u64> = self.peers.keys().copied().collect();
        let faults = self.faults.clone();
        let member = &mut self.members[(id - 1) as usize];
        let storage = match (&member.dir, &member.memory) {
            (Some(dir), _) => NodeStorage {
                log: LogStore::open(&dir.join("log"), &voters).unwrap(),
                snapshots: SnapshotStore::in_dir(&dir.join("snapshots")).unwrap(),
            },
            (None, Some((log, snapshots))) => NodeStorage {
                log: log.clone(),
                snapshots: snapshots.clone(),
            },
            (None, None) => unreachable!(),
        };
        // A restarted node starts from what its storage holds, not from memory.
        member.recorder = Recorder::default();
        let node = RaftNode::start(config, storage, faults, member.recorder.clone(), listener)
            .await
            .unwrap();
        member.node = Some(node);
    }

    pub fn node(&self, id: u64) -> &RaftNode<u64> {
        self.members[(id - 1) as usize].node.as_ref().unwrap()
    }

    pub fn is_up(&self, id: u64) -> bool {
        self.members[(id - 1) as usize].node.is_some()
    }

    pub fn ids(&self) -> Vec<u64> {
        self.peers.keys().copied().collect()
    }

    /// Every node but `id`.
    pub fn others(&self, id: u64) -> Vec<u64> {
        self.ids()
            .into_iter()
            .filter(|other| *other != id)
            .collect()
    }

    /// Commits one entry (`first`), then cuts the leader off from every other node;
    /// returns the leader and the others.
    pub async fn isolate_leader(&self) -> (u64, Vec<u64>) {
        let leader = self.wait_leader().await;
        self.propose_retrying(leader, b"first").await;
        let others = self.others(leader);
        self.faults.partition(&[leader], &others);
        (leader, others)
    }

    pub fn up_ids(&self) -> Vec<u64> {
        self.ids()
            .into_iter()
            .filter(|id| self.is_up(*id))
            .collect()
    }

    pub async fn kill(&mut self, id: u64) {
        if let Some(node) = self.members[(id - 1) as usize].node.take() {
            node.shutdown().await;
        }
    }

    pub async fn restart(&mut self, id: u64) {
        self.kill(id).await;
        self.boot(id, None).await;
    }

    /// Kills the node and deletes everything it stored.
    pub async fn wipe(&mut self, id: u64) {
        self.kill(id).await;
        let voters: Vec<u64> = self.peers.keys().copied().collect();
        let member = &mut self.members[(id - 1) as usize];
        if let Some(dir) = &member.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
        if member.memory.is_some() {
            member.memory = Some((LogStore::in_memory(&voters), SnapshotStore::in_memory()));
        }
    }

    /// The leader agreed on by every running node of `among`, waiting up to `timeout`.
    pub async fn wait_leader_among(&self, among: &[u64], timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        loop {
            let leaders: Vec<u64> = among
                .iter()
                .filter(|id| self.is_up(**id))
                .map(|id| self.node(*id).status().leader_id)
                .collect();
            if let Some(&first) = leaders.first()
                && first != 0
                && leaders.iter().all(|l| *l == first)
                && among.contains(&first)
                && self.is_up(first)
                && self.node(first).status().role == Role::Leader
            {
                return first;
            }
            assert!(
                Instant::now() < deadline,
                "no leader among {among:?} within {timeout:?}: {leaders:?}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until every running node follows one leader in one term and all have
    /// applied the same commands: the moment a disk may be lost safely.
    pub async fn wait_stable(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let leader = self.wait_leader().await;
            let term = self.node(leader).status().term;
            let same_term = self
                .up_ids()
                .iter()
                .all(|id| self.node(*id).status().term == term);
            if same_term {
                self.wait_converged(0).await;
                if self.node(leader).status().term == term {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "cluster did not settle in one term"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_leader(&self) -> u64 {
        self.wait_leader_among(&self.up_ids(), Duration::from_secs(10))
            .await
    }

    /// Proposes through `via`, retrying while there is no leader; returns the index.
    pub async fn propose(&self, via: u64, command: &[u8]) -> Result<u64, ProposeError> {
        self.node(via).propose(command.to_vec()).await
    }

    pub async fn propose_retrying(&self, via: u64, command: &[u8]) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match self.propose(via, command).await {
                Ok(index) => return index,
                Err(error) => {
                    assert!(Instant::now() < deadline, "proposal kept failing: {error}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    pub fn applied(&self, id: u64) -> Applied {
        self.members[(id - 1) as usize]
            .recorder
            .state
            .lock()
            .clone()
    }

    /// Waits until every running node has applied the same commands, at least `min`.
    pub async fn wait_converged(&self, min: usize) -> Applied {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let states: Vec<Applied> = self.up_ids().iter().map(|id| self.applied(*id)).collect();
            let first = states[0].clone();
            if first.commands.len() >= min && states.iter().all(|s| s.digest() == first.digest()) {
                return first;
            }
            if Instant::now() > deadline {
                let lens: Vec<usize> = states.iter().map(|s| s.commands.len()).collect();
                for (id, state) in self.up_ids().iter().zip(&states) {
                    let shown: Vec<(u64, String)> = state
                        .commands
                        .iter()
                        .map(|(i, c)| (*i, String::from_utf8_lossy(c).into_owned()))
                        .collect();
                    eprintln!("node {id}: {:?}\n   {shown:?}", self.node(*id).status());
                }
                panic!("nodes did not converge: applied counts {lens:?}, wanted ≥ {min}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn shutdown(mut self) {
        for id in self.ids() {
            self.kill(id).await;
        }
    }
}

pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}
