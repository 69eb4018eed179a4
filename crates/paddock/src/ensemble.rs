//! `paddock ensemble`: a whole cluster in one process, for development and demos.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use paddock_jute::FourLetterWord;
use paddock_raft::{Faults, LogStore, NodeStorage, RaftConfig, SnapshotStore};
use paddock_server::{Server, ServerConfig, ServerOptions};

/// How to run the ensemble.
#[derive(Debug, Clone)]
pub struct EnsembleOptions {
    /// Number of servers.
    pub nodes: usize,
    /// Client port of the first server; the others follow.
    pub base_port: u16,
    /// Address the client ports bind to.
    pub host: String,
    /// Durable storage under this directory (`node1/`, `node2/`, …); memory if `None`.
    pub data_dir: Option<PathBuf>,
    /// ZooKeeper tickTime.
    pub tick: Duration,
}

/// Starts every server; returns them and the connect string.
pub async fn start(options: &EnsembleOptions) -> anyhow::Result<(Vec<Server>, String)> {
    let faults = Faults::new();
    let mut peer_listeners = Vec::new();
    for _ in 0..options.nodes {
        peer_listeners.push(std::net::TcpListener::bind("127.0.0.1:0")?);
    }
    let peers: BTreeMap<u64, SocketAddr> = peer_listeners
        .iter()
        .enumerate()
        .map(|(i, l)| Ok((i as u64 + 1, l.local_addr()?)))
        .collect::<std::io::Result<_>>()?;
    let voters: Vec<u64> = peers.keys().copied().collect();
    let mut servers = Vec::new();
    let mut hosts = Vec::new();
    for (i, peer_listener) in peer_listeners.into_iter().enumerate() {
        let id = i as u64 + 1;
        let port = options.base_port + i as u16;
        let client_addr: SocketAddr = format!("{}:{port}", options.host).parse()?;
        let storage = match &options.data_dir {
            Some(dir) => {
                let node = dir.join(format!("node{id}"));
                NodeStorage {
                    log: LogStore::open(&node.join("log"), &voters)?,
                    snapshots: SnapshotStore::in_dir(&node.join("snapshots"))?,
                }
            }
            None => NodeStorage {
                log: LogStore::in_memory(&voters),
                snapshots: SnapshotStore::in_memory(),
            },
        };
        let mut config = ServerConfig::with_tick(options.tick);
        config.four_letter_words = FourLetterWord::ALL.iter().copied().collect();
        config.extended_types_enabled = true;
        config.client_port = port;
        config.data_dir = options
            .data_dir
            .as_ref()
            .map(|d| d.join(format!("node{id}")));
        let server = Server::start(ServerOptions {
            config,
            raft: RaftConfig::new(id, peers.clone()),
            storage,
            faults: faults.clone(),
            client_listener: None,
            client_addr,
            peer_listener: Some(peer_listener),
        })
        .await?;
        hosts.push(format!(
            "{}:{}",
            connect_host(&options.host),
            server.client_addr().port()
        ));
        servers.push(server);
    }
    // All members start together: elect at once rather than after a timeout.
    if let Some(first) = servers.first() {
        first.campaign();
    }
    Ok((servers, hosts.join(",")))
}

fn connect_host(bind: &str) -> &str {
    match bind {
        "0.0.0.0" | "::" => "127.0.0.1",
        other => other,
    }
}
