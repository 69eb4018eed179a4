//! A whole Paddock server: the consensus node, the state machine, the client listener
//! and the background tasks (session expiry, reaper), started and stopped together.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use paddock_raft::{
    DurationSummary, Faults, NodeStorage, Proposer, RaftConfig, RaftNode, RaftStatus, Role,
    StartError,
};
use parking_lot::Mutex;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use crate::config::ServerConfig;
use crate::connection;
use crate::reaper;
use crate::sessions;
use crate::state::{Machine, Outcome, Shared};

/// Everything needed to start one server.
pub struct ServerOptions {
    /// Client-side settings.
    pub config: ServerConfig,
    /// Consensus settings (id, peers, timing).
    pub raft: RaftConfig,
    /// Log and snapshot storage.
    pub storage: NodeStorage,
    /// Network fault table shared with the other nodes (tests, fixtures).
    pub faults: Faults,
    /// An already bound client listener; otherwise `client_addr` is bound.
    pub client_listener: Option<std::net::TcpListener>,
    /// Where to listen for clients when no listener is given.
    pub client_addr: SocketAddr,
    /// An already bound peer listener; otherwise the raft config's address is bound.
    pub peer_listener: Option<std::net::TcpListener>,
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Consensus could not start.
    #[error(transparent)]
    Raft(#[from] StartError),
    /// The client port could not be bound.
    #[error("client listener: {0}")]
    Listen(std::io::Error),
}

/// What connections and background tasks share.
#[derive(Clone)]
pub(crate) struct Context {
    pub shared: Arc<Shared>,
    pub proposer: Proposer<Outcome>,
    pub status: watch::Receiver<RaftStatus>,
    pub voters: usize,
    pub announce_session_moved: Arc<dyn Fn(i64) + Send + Sync>,
    /// The node's log flush times, ZooKeeper's `fsynctime` in `mntr`.
    pub flush_times: Arc<DurationSummary>,
    data_dir: Option<std::path::PathBuf>,
}

impl Context {
    /// Bytes under the data directory (0 in memory).
    pub fn data_size(&self) -> u64 {
        fn walk(path: &std::path::Path) -> u64 {
            let Ok(entries) = std::fs::read_dir(path) else {
                return 0;
            };
            entries
                .filter_map(Result::ok)
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => walk(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        }
        self.data_dir.as_deref().map_or(0, walk)
    }
}

/// A running server. Dropping it stops everything abruptly (like a crash).
pub struct Server {
    raft: Option<RaftNode<Outcome>>,
    shared: Arc<Shared>,
    client_addr: SocketAddr,
    stop: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

impl Server {
    /// Starts consensus, restores state from storage, and opens the client port.
    pub async fn start(options: ServerOptions) -> Result<Self, ServerError> {
        let ServerOptions {
            config,
            raft,
            storage,
            faults,
            client_listener,
            client_addr,
            peer_listener,
        } = options;
        let node_id = raft.id;
        let voters = raft.peers.len();
        let peers: Vec<u64> = raft
            .peers
            .keys()
            .copied()
            .filter(|id| *id != node_id)
            .collect();
        let data_dir = config.data_dir.clone();
        let listener = match client_listener {
            Some(listener) => {
                listener
                    .set_nonblocking(true)
                    .map_err(ServerError::Listen)?;
                TcpListener::from_std(listener).map_err(ServerError::Listen)?
            }
            None => TcpListener::bind(client_addr)
                .await
                .map_err(ServerError::Listen)?,
        };
        let client_addr = listener.local_addr().map_err(ServerError::Listen)?;
        let shared = Shared::new(node_id, config);
        let machine = Machine {
            shared: shared.clone(),
        };
        let mut node = RaftNode::start(raft, storage, faults, machine, peer_listener).await?;
        let app = node.app_sender();
        let inbox = node.take_app_inbox();
        let announce_app = app.clone();
        let context = Context {
            shared: shared.clone(),
            proposer: node.proposer(),
            status: node.watch_status(),
            flush_times: node.flush_times(),
            voters,
            announce_session_moved: Arc::new(move |session| {
                sessions::announce_moved(&announce_app, &peers, session)
            }),
            data_dir,
        };
        let stop = CancellationToken::new();
        let mut tasks = Vec::new();
        if let Some(inbox) = inbox {
            tasks.push(tokio::spawn(sessions::run(
                context.clone(),
                app,
                inbox,
                stop.clone(),
            )));
        }
        tasks.push(tokio::spawn(reaper::run(context.clone(), stop.clone())));
        tasks.push(tokio::spawn(accept(context, listener, stop.clone())));
        info!(node = node_id, %client_addr, peer_addr = %node.peer_addr(), "server started");
        Ok(Self {
            raft: Some(node),
            shared,
            client_addr,
            stop,
            tasks,
        })
    }

    /// This server's id.
    pub fn id(&self) -> u64 {
        self.shared.node_id
    }

    /// The bound client address.
    pub fn client_addr(&self) -> SocketAddr {
        self.client_addr
    }

    /// The bound peer address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.raft.as_ref().map(RaftNode::peer_addr)
    }

    /// The consensus status (role, leader, term, indexes).
    pub fn status(&self) -> RaftStatus {
        self.raft.as_ref().map(RaftNode::status).unwrap_or_default()
    }

    /// A receiver of every consensus status change.
    pub fn watch_status(&self) -> Option<watch::Receiver<RaftStatus>> {
        self.raft.as_ref().map(RaftNode::watch_status)
    }

    /// Fingerprint of the replicated state, equal on replicas at the same zxid.
    pub fn digest(&self) -> (i64, u64) {
        let core = self.shared.core.lock();
        (core.tree.last_zxid(), core.tree.digest())
    }

    /// Number of live client connections.
    pub fn connection_count(&self) -> usize {
        self.shared.core.lock().conns.len()
    }

    /// Ids of sessions the replicated state knows.
    pub fn session_ids(&self) -> Vec<i64> {
        self.shared
            .core
            .lock()
            .tree
            .sessions()
            .keys()
            .copied()
            .collect()
    }

    /// Starts an election now (see [`paddock_raft::RaftNode::campaign`]).
    pub fn campaign(&self) {
        if let Some(node) = &self.raft {
            node.campaign();
        }
    }

    /// Ends a session as if it had expired (an entry through the log, as the leader's
    /// expiry does), deleting its ephemerals. For tests and operators.
    pub async fn expire_session(&self, session_id: i64) -> Result<(), paddock_raft::ProposeError> {
        let node = self
            .raft
            .as_ref()
            .ok_or(paddock_raft::ProposeError::Shutdown)?;
        let entry = crate::command::close_session(crate::state::now_ms(), session_id, 0);
        node.propose(entry).await.map(|_| ())
    }

    /// Graceful stop: a leader hands leadership to a caught-up follower first; clients
    /// are disconnected so they reconnect elsewhere; storage is already flushed per
    /// Ready, so nothing acknowledged is lost.
    pub async fn shutdown(mut self) {
        if let Some(node) = &self.raft {
            let status = node.status();
            if status.role == Role::Leader
                && let Some((to, _)) = status
                    .matched
                    .iter()
                    .filter(|(id, _)| *id != status.id)
                    .max_by_key(|(_, matched)| *matched)
            {
                info!(
                    node = status.id,
                    to, "handing over leadership before stopping"
                );
                node.transfer_leader(*to);
                let mut watch = node.watch_status();
                let _ = tokio::time::timeout(Duration::from_secs(3), async {
                    while watch.borrow().role == Role::Leader {
                        if watch.changed().await.is_err() {
                            break;
                        }
                    }
                })
                .await;
            }
        }
        self.stop_everything().await;
    }

    /// Abrupt stop, as a crash looks to the rest of the cluster.
    pub async fn kill(mut self) {
        self.stop_everything().await;
    }

    async fn stop_everything(&mut self) {
        self.stop.cancel();
        {
            let core = self.shared.core.lock();
            for handle in core.conns.values() {
                handle.closer.cancel();
            }
        }
        for task in &self.tasks {
            task.abort();
        }
        // Wait until the aborted tasks are dropped: the client listener is closed
        // then, and a restart can bind the same port.
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        if let Some(node) = self.raft.take() {
            node.shutdown().await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
        let core = self.shared.core.lock();
        for handle in core.conns.values() {
            handle.closer.cancel();
        }
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Accepts clients, enforcing `maxClientCnxns` per address and a global cap.
async fn accept(ctx: Context, listener: TcpListener, stop: CancellationToken) {
    let per_ip: Arc<Mutex<HashMap<IpAddr, usize>>> = Arc::default();
    let total = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let (stream, addr) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of file descriptors and the like: back off, keep serving.
                warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let config = &ctx.shared.config;
        let ip = addr.ip();
        {
            let mut counts = per_ip.lock();
            let count = counts.entry(ip).or_default();
            let over_ip =
                config.connections_per_ip_max > 0 && *count >= config.connections_per_ip_max;
            let over_total =
                total.load(std::sync::atomic::Ordering::Relaxed) >= config.connections_max;
            if over_ip || over_total {
                warn!(%addr, connections = *count, "too many connections; refusing");
                continue;
            }
            *count += 1;
        }
        total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ctx = ctx.clone();
        let per_ip = per_ip.clone();
        let total = total.clone();
        tokio::spawn(async move {
            connection::serve(ctx, stream, addr).await;
            total.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
            let mut counts = per_ip.lock();
            if let Some(count) = counts.get_mut(&ip) {
                *count -= 1;
                if *count == 0 {
                    counts.remove(&ip);
                }
            }
        });
    }
}
