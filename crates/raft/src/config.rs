//! Settings of one consensus node.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

/// How one node takes part in the cluster. Static membership: every node is given the
/// same `peers`.
#[derive(Debug, Clone)]
pub struct RaftConfig {
    /// This node's id (ZooKeeper's `myid`), 1..=127.
    pub id: u64,
    /// Peer-port address of every voter, this node included.
    pub peers: BTreeMap<u64, SocketAddr>,
    /// Where this node listens for peers (defaults to its entry in `peers`).
    pub listen: Option<SocketAddr>,
    /// Nodes of different clusters refuse each other's connections.
    pub cluster_id: u64,
    /// One Raft tick.
    pub tick: Duration,
    /// Ticks without a leader before a follower campaigns (randomised up to twice this).
    pub election_ticks: usize,
    /// Ticks between leader heartbeats.
    pub heartbeat_ticks: usize,
    /// Take a snapshot after this many applied entries since the last one.
    pub snapshot_entries_max: u64,
    /// Or after this many bytes of applied commands since the last one.
    pub snapshot_bytes_max: u64,
    /// Entries kept in the log behind a snapshot, so briefly lagging followers catch up
    /// from the log instead of needing the snapshot.
    pub log_entries_kept: u64,
    /// Give up on a proposal or read index after this long.
    pub request_timeout: Duration,
    /// Largest batch of entries in one append message, bytes; also where the node stops
    /// gathering proposals into one batch.
    pub append_bytes_max: u64,
    /// Append messages in flight per follower.
    pub inflight_appends_max: usize,
    /// Committed-but-unapplied entries beyond which new proposals wait.
    pub apply_lag_max: u64,
    /// Messages queued per peer before new ones are dropped (Raft resends).
    pub peer_queue_len_max: usize,
    /// Flush the log on the writer thread, all Readies queued since the last flush with
    /// one fsync (true, the default), or each entry on its own on the Ready loop's thread
    /// (false; only for measuring what group commit buys).
    pub group_commit: bool,
    /// A leader with at least this many entries appended but not yet committed (its
    /// pipeline already full of work) holds new proposals back for `proposal_hold`, so
    /// that they are appended, flushed and sent together: fewer and larger flushes and
    /// appends on every node when the load is high. With fewer uncommitted entries (one
    /// client, light load) proposals never wait.
    pub proposal_hold_uncommitted: u64,
    /// How long such a hold lasts; zero (the default) never holds: with the log's flush
    /// a single append and fdatasync, the batches that form while one flush runs are
    /// large enough, and holding cost throughput.
    pub proposal_hold: Duration,
}

impl RaftConfig {
    /// Defaults tuned for loopback and LAN: 50 ms ticks, elections after 300–600 ms,
    /// heartbeats every 100 ms, so a failed leader is replaced well under a second.
    pub fn new(id: u64, peers: BTreeMap<u64, SocketAddr>) -> Self {
        Self {
            id,
            peers,
            listen: None,
            cluster_id: 0x7061_6464_6f63_6b00,
            tick: Duration::from_millis(50),
            election_ticks: 6,
            heartbeat_ticks: 2,
            snapshot_entries_max: 100_000,
            snapshot_bytes_max: 256 << 20,
            log_entries_kept: 5_000,
            request_timeout: Duration::from_secs(10),
            append_bytes_max: 1 << 20,
            inflight_appends_max: 256,
            apply_lag_max: 20_000,
            peer_queue_len_max: 8_192,
            group_commit: true,
            proposal_hold_uncommitted: 64,
            proposal_hold: Duration::ZERO,
        }
    }

    /// Ids of all voters.
    pub fn voters(&self) -> Vec<u64> {
        self.peers.keys().copied().collect()
    }

    /// The election timeout as a duration (the shortest one a node may pick).
    pub fn election_timeout(&self) -> Duration {
        self.tick * self.election_ticks as u32
    }

    pub(crate) fn raft_config(&self, applied: u64) -> raft::Config {
        raft::Config {
            id: self.id,
            election_tick: self.election_ticks,
            heartbeat_tick: self.heartbeat_ticks,
            applied,
            max_size_per_msg: self.append_bytes_max,
            max_inflight_msgs: self.inflight_appends_max,
            check_quorum: true,
            pre_vote: true,
            ..raft::Config::default()
        }
    }
}
