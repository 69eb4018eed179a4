//! The async ensemble.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use paddock_raft::{Faults, LogStore, NodeStorage, RaftConfig, RaftStatus, Role, SnapshotStore};
use paddock_server::{Server, ServerConfig, ServerOptions};

/// Why the fixture could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A server failed to start.
    #[error("starting node {node}: {source}")]
    Start {
        /// The node.
        node: usize,
        /// Why.
        source: paddock_server::ServerError,
    },
    /// Ports or directories could not be set up.
    #[error("setting up: {0}")]
    Io(#[from] std::io::Error),
    /// Storage could not be opened.
    #[error("opening storage: {0}")]
    Storage(#[from] paddock_raft::StoreError),
    /// No leader emerged in time.
    #[error("no leader within {0:?}")]
    NoLeader(Duration),
    /// The node index does not exist.
    #[error("no node {0}")]
    NoSuchNode(usize),
    /// The node is not running.
    #[error("node {0} is not running")]
    NotRunning(usize),
    /// A proposal failed.
    #[error("proposal failed: {0}")]
    Propose(#[from] paddock_raft::ProposeError),
}

/// How to build an ensemble.
#[derive(Clone)]
pub struct EnsembleBuilder {
    nodes: usize,
    in_memory: bool,
    tick: Duration,
    raft_tick: Duration,
    election_ticks: usize,
    configure: Option<fn(&mut ServerConfig)>,
    tune_raft: Option<fn(&mut RaftConfig)>,
}

impl Default for EnsembleBuilder {
    fn default() -> Self {
        Self {
            nodes: 3,
            in_memory: false,
            tick: Duration::from_millis(200),
            raft_tick: Duration::from_millis(25),
            election_ticks: 8,
            configure: None,
            tune_raft: None,
        }
    }
}

impl EnsembleBuilder {
    /// Number of servers (default 3).
    pub fn nodes(mut self, nodes: usize) -> Self {
        self.nodes = nodes.max(1);
        self
    }

    /// Keep logs and snapshots in memory instead of files in a temporary directory.
    /// Restarted nodes still find what they had stored, as with a disk.
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }

    /// ZooKeeper's tickTime (default 200 ms, so sessions time out within 0.4–4 s).
    pub fn tick(mut self, tick: Duration) -> Self {
        self.tick = tick;
        self
    }

    /// Adjusts every server's client-side settings.
    pub fn configure(mut self, configure: fn(&mut ServerConfig)) -> Self {
        self.configure = Some(configure);
        self
    }

    /// Adjusts every server's consensus settings.
    pub fn tune_raft(mut self, tune: fn(&mut RaftConfig)) -> Self {
        self.tune_raft = Some(tune);
        self
    }

    /// Starts the servers and waits until they have a leader.
    pub async fn start(self) -> Result<Ensemble, FixtureError> {
        let dir = tempfile::Builder::new()
            .prefix("paddock-ensemble")
            .tempdir()?;
        let mut client_listeners = Vec::new();
        let mut peer_listeners = Vec::new();
        for _ in 0..self.nodes {
            client_listeners.push(std::net::TcpListener::bind("127.0.0.1:0")?);
            peer_listeners.push(std::net::TcpListener::bind("127.0.0.1:0")?);
        }
        let peers: BTreeMap<u64, SocketAddr> = peer_listeners
            .iter()
            .enumerate()
            .map(|(i, l)| Ok((i as u64 + 1, l.local_addr()?)))
            .collect::<Result<_, std::io::Error>>()?;
        let client_addrs: Vec<SocketAddr> = client_listeners
            .iter()
            .map(|l| l.local_addr())
            .collect::<Result<_, _>>()?;
        let voters: Vec<u64> = peers.keys().copied().collect();
        let mut slots = Vec::new();
        for i in 0..self.nodes {
            let memory = self
                .in_memory
                .then(|| (LogStore::in_memory(&voters), SnapshotStore::in_memory()));
            slots.push(Slot {
                server: None,
                memory,
                dir: dir.path().join(format!("node{}", i + 1)),
            });
        }
        let mut ensemble = Ensemble {
            slots,
            peers,
            client_addrs,
            faults: Faults::new(),
            builder: self,
            _dir: dir,
        };
        for (i, (client, peer)) in client_listeners.into_iter().zip(peer_listeners).enumerate() {
            ensemble.boot(i, Some(client), Some(peer)).await?;
        }
        // Everyone starts together: no need to wait out an election timeout.
        if let Some(server) = ensemble.slots[0].server.as_ref() {
            server.campaign();
        }
        ensemble.wait_for_leader(Duration::from_secs(20)).await?;
        Ok(ensemble)
    }
}

struct Slot {
    server: Option<Server>,
    memory: Option<(LogStore, SnapshotStore)>,
    dir: PathBuf,
}

/// A running in-process ensemble. Node indices are 0-based; node `i` has id `i + 1`.
pub struct Ensemble {
    slots: Vec<Slot>,
    peers: BTreeMap<u64, SocketAddr>,
    client_addrs: Vec<SocketAddr>,
    faults: Faults,
    builder: EnsembleBuilder,
    _dir: tempfile::TempDir,
}

/// One node of an ensemble, as a test sees it.
pub struct NodeRef<'a> {
    ensemble: &'a Ensemble,
    index: usize,
}

impl NodeRef<'_> {
    /// The node's client address (stable across restarts).
    pub fn client_addr(&self) -> SocketAddr {
        self.ensemble.client_addrs[self.index]
    }

    /// Its id (`index + 1`).
    pub fn id(&self) -> u64 {
        self.index as u64 + 1
    }

    /// Whether it is running.
    pub fn is_running(&self) -> bool {
        self.ensemble.slots[self.index].server.is_some()
    }

    /// Its consensus status (default when stopped).
    pub fn status(&self) -> RaftStatus {
        self.ensemble.slots[self.index]
            .server
            .as_ref()
            .map(Server::status)
            .unwrap_or_default()
    }

    /// Its last applied zxid and state digest (None when stopped).
    pub fn digest(&self) -> Option<(i64, u64)> {
        self.ensemble.slots[self.index]
            .server
            .as_ref()
            .map(Server::digest)
    }

    /// The running server, for deeper inspection.
    pub fn server(&self) -> Option<&Server> {
        self.ensemble.slots[self.index].server.as_ref()
    }
}

impl Ensemble {
    /// How to build one.
    pub fn builder() -> EnsembleBuilder {
        EnsembleBuilder::default()
    }

    /// `host:port,host:port,…` of every node, for any ZooKeeper client.
    pub fn connect_string(&self) -> String {
        self.client_addrs
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Always false: an ensemble has at least one node.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Node `index`.
    pub fn node(&self, index: usize) -> NodeRef<'_> {
        assert!(index < self.slots.len(), "no node {index}");
        NodeRef {
            ensemble: self,
            index,
        }
    }

    /// The network fault table the nodes obey.
    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    fn check(&self, index: usize) -> Result<(), FixtureError> {
        if index >= self.slots.len() {
            return Err(FixtureError::NoSuchNode(index));
        }
        Ok(())
    }

    async fn boot(
        &mut self,
        index: usize,
        client: Option<std::net::TcpListener>,
        peer: Option<std::net::TcpListener>,
    ) -> Result<(), FixtureError> {
        let id = index as u64 + 1;
        let voters: Vec<u64> = self.peers.keys().copied().collect();
        let slot = &mut self.slots[index];
        let storage = match &slot.memory {
            Some((log, snapshots)) => NodeStorage {
                log: log.clone(),
                snapshots: snapshots.clone(),
            },
            None => NodeStorage {
                log: LogStore::open(&slot.dir.join("log"), &voters)?,
                snapshots: SnapshotStore::in_dir(&slot.dir.join("snapshots"))?,
            },
        };
        let mut config = ServerConfig::with_tick(self.builder.tick).allow_all_four_letter_words();
        config.extended_types_enabled = true;
        config.connections_per_ip_max = 0;
        config.reaper_interval = self.builder.tick * 5;
        config.data_dir = (slot.memory.is_none()).then(|| slot.dir.clone());
        config.client_port = self.client_addrs[index].port();
        if let Some(configure) = self.builder.configure {
            configure(&mut config);
        }
        let mut raft = RaftConfig::new(id, self.peers.clone());
        raft.tick = self.builder.raft_tick;
        raft.election_ticks = self.builder.election_ticks;
        raft.heartbeat_ticks = 2;
        if let Some(tune) = self.builder.tune_raft {
            tune(&mut raft);
        }
        let options = ServerOptions {
            config,
            raft,
            storage,
            faults: self.faults.clone(),
            client_listener: client,
            client_addr: self.client_addrs[index],
            peer_listener: peer,
        };
        let server = Server::start(options)
            .await
            .map_err(|source| FixtureError::Start {
                node: index,
                source,
            })?;
        self.slots[index].server = Some(server);
        Ok(())
    }

    /// Stops node `index` abruptly, as a crash (connections drop, nothing handed over).
    pub async fn kill(&mut self, index: usize) -> Result<(), FixtureError> {
        self.check(index)?;
        if let Some(server) = self.slots[index].server.take() {
            server.kill().await;
        }
        Ok(())
    }

    /// Stops node `index` gracefully (a leader hands over leadership first).
    pub async fn stop(&mut self, index: usize) -> Result<(), FixtureError> {
        self.check(index)?;
        if let Some(server) = self.slots[index].server.take() {
            server.shutdown().await;
        }
        Ok(())
    }

    /// (Re)starts node `index` from what it stored, on the same ports.
    pub async fn restart(&mut self, index: usize) -> Result<(), FixtureError> {
        self.kill(index).await?;
        self.boot(index, None, None).await
    }

    /// Kills node `index` and deletes everything it stored; `restart` brings it back
    /// empty, to be caught up by the leader (from a snapshot if the log was compacted).
    pub async fn wipe(&mut self, index: usize) -> Result<(), FixtureError> {
        self.kill(index).await?;
        let voters: Vec<u64> = self.peers.keys().copied().collect();
        let slot = &mut self.slots[index];
        if slot.memory.is_some() {
            slot.memory = Some((LogStore::in_memory(&voters), SnapshotStore::in_memory()));
        } else if slot.dir.exists() {
            std::fs::remove_dir_all(&slot.dir)?;
        }
        Ok(())
    }

    /// Cuts all traffic between the nodes of `a` and those of `b` (indices).
    pub fn partition(&self, a: &[usize], b: &[usize]) {
        let ids = |nodes: &[usize]| nodes.iter().map(|i| *i as u64 + 1).collect::<Vec<_>>();
        self.faults.partition(&ids(a), &ids(b));
    }

    /// Cuts node `index` off from all others.
    pub fn isolate(&self, index: usize) {
        let all: Vec<u64> = self.peers.keys().copied().collect();
        self.faults.isolate(index as u64 + 1, &all);
    }

    /// Removes every network fault.
    pub fn heal(&self) {
        self.faults.heal();
    }

    /// The index of the node that is leader now, if a running node claims it.
    pub fn leader(&self) -> Option<usize> {
        self.slots.iter().position(|slot| {
            slot.server
                .as_ref()
                .is_some_and(|s| s.status().role == Role::Leader)
        })
    }

    /// Waits until one running node leads and every running node that can reach it
    /// agrees.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Result<usize, FixtureError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(leader) = self.leader() {
                let id = leader as u64 + 1;
                let agreed = self
                    .slots
                    .iter()
                    .enumerate()
                    .filter_map(|(i, slot)| slot.server.as_ref().map(|s| (i, s.status())))
                    .filter(|(i, _)| {
                        self.faults.allows(*i as u64 + 1, id)
                            && self.faults.allows(id, *i as u64 + 1)
                    })
                    .all(|(_, status)| status.leader_id == id);
                if agreed {
                    return Ok(leader);
                }
            }
            if Instant::now() > deadline {
                return Err(FixtureError::NoLeader(timeout));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Expires a session now, through the log, as the leader's expiry would.
    pub async fn expire_session(&self, session_id: i64) -> Result<(), FixtureError> {
        let server = self
            .slots
            .iter()
            .find_map(|slot| slot.server.as_ref())
            .ok_or(FixtureError::NotRunning(0))?;
        server.expire_session(session_id).await?;
        Ok(())
    }

    /// Waits until every running node has applied the same state (same zxid and
    /// digest); returns that zxid.
    pub async fn wait_converged(&self, timeout: Duration) -> Option<i64> {
        let deadline = Instant::now() + timeout;
        loop {
            let digests: Vec<(i64, u64)> = self
                .slots
                .iter()
                .filter_map(|slot| slot.server.as_ref().map(Server::digest))
                .collect();
            if let Some(first) = digests.first()
                && digests.iter().all(|d| d == first)
            {
                return Some(first.0);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops every node.
    pub async fn shutdown(mut self) {
        for index in 0..self.slots.len() {
            let _ = self.kill(index).await;
        }
    }
}

/// A single-node "ensemble", for tests that need just a ZooKeeper server.
pub struct TestServer;

impl TestServer {
    /// Starts one in-memory node and waits until it serves.
    pub async fn start() -> Result<Ensemble, FixtureError> {
        Ensemble::builder().nodes(1).in_memory().start().await
    }
}
