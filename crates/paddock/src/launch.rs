//! From a parsed zoo.cfg to a running server.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

use paddock_jute::FourLetterWord;
use paddock_raft::{Faults, LogStore, NodeStorage, RaftConfig, SnapshotStore};
use paddock_server::{ServerConfig, ServerOptions};

use crate::zoo_cfg::{ConfigError, ZooCfg};

/// Where one server keeps its state.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Raft log (segment files), under dataLogDir.
    pub log_dir: PathBuf,
    /// Snapshots, under dataDir.
    pub snapshot_dir: PathBuf,
}

impl Layout {
    /// Paddock's directories inside ZooKeeper's dataDir / dataLogDir (a `paddock/`
    /// subdirectory, so a ZooKeeper `version-2/` beside it is never touched).
    pub fn of(cfg: &ZooCfg) -> Self {
        let data = cfg.data_dir.clone().unwrap_or_default();
        let log = cfg.data_log_dir.clone().unwrap_or_else(|| data.clone());
        Self {
            log_dir: log.join("paddock").join("log"),
            snapshot_dir: data.join("paddock").join("snapshots"),
        }
    }
}

/// Client-side settings from the config.
pub fn server_config(cfg: &ZooCfg, id: u64) -> ServerConfig {
    let mut config = ServerConfig::with_tick(Duration::from_millis(cfg.tick_ms));
    let (min, max) = cfg.session_timeouts();
    config.session_timeout_min = min;
    config.session_timeout_max = max;
    config.connections_per_ip_max = cfg.max_client_cnxns;
    config.frame_len_max = cfg.jute_max_buffer;
    config.extended_types_enabled = cfg.extended_types_enabled;
    config.super_digest = cfg.super_digest.clone();
    config.reaper_interval = Duration::from_millis(cfg.container_check_interval_ms);
    config.data_dir = cfg.data_dir.clone();
    config.four_letter_words = if cfg.four_letter_words.iter().any(|w| w == "*") {
        FourLetterWord::ALL.iter().copied().collect()
    } else {
        cfg.four_letter_words
            .iter()
            .filter_map(|w| FourLetterWord::from_name(w))
            .collect::<BTreeSet<_>>()
    };
    if let Ok(addr) = cfg.client_addr(id) {
        config.client_port = addr.port();
    }
    config
}

/// Consensus settings from the config.
pub fn raft_config(cfg: &ZooCfg, id: u64) -> Result<RaftConfig, ConfigError> {
    let mut raft = RaftConfig::new(id, cfg.peers()?);
    raft.tick = Duration::from_millis(cfg.raft_tick_ms);
    raft.election_ticks = cfg.election_ticks.max(cfg.heartbeat_ticks + 1);
    raft.heartbeat_ticks = cfg.heartbeat_ticks;
    raft.snapshot_entries_max = cfg.snapshot_entries;
    raft.proposal_hold = Duration::from_millis(cfg.proposal_hold_ms);
    raft.proposal_hold_uncommitted = cfg.proposal_hold_uncommitted;
    // A standalone config binds its peer port on loopback (ephemeral); a cluster
    // member listens on its quorum port on every interface, like ZooKeeper with
    // quorumListenOnAllIPs, so hostnames that resolve to public addresses work.
    if let Some(addr) = raft.peers.get(&id).copied()
        && !cfg.servers.is_empty()
    {
        raft.listen = Some(std::net::SocketAddr::new(
            std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            addr.port(),
        ));
    }
    Ok(raft)
}

/// Everything `Server::start` needs, opening storage on disk.
pub fn options(cfg: &ZooCfg, id: u64) -> anyhow::Result<ServerOptions> {
    let layout = Layout::of(cfg);
    let raft = raft_config(cfg, id)?;
    let voters = raft.voters();
    std::fs::create_dir_all(&layout.log_dir)?;
    let storage = NodeStorage {
        log: LogStore::open(&layout.log_dir, &voters)?
            .warn_flushes_over(Duration::from_millis(cfg.fsync_warning_ms)),
        snapshots: SnapshotStore::in_dir(&layout.snapshot_dir)?,
    };
    Ok(ServerOptions {
        config: server_config(cfg, id),
        raft,
        storage,
        faults: Faults::new(),
        client_listener: None,
        client_addr: cfg.client_addr(id)?,
        peer_listener: None,
    })
}
