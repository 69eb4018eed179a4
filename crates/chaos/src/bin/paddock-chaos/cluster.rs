//! One face for both kinds of cluster the nemesis drives: the in-process ensemble of
//! paddock-testing and the `paddock serve` processes.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use paddock_raft::RaftConfig;
use paddock_testing::Ensemble;

use crate::Mode;
use crate::netns::Network;
use crate::processes::Processes;

/// A cluster under test.
pub enum Cluster {
    /// In this process; "pause" isolates the node from its peers.
    InProcess {
        /// The ensemble.
        ensemble: Ensemble,
        /// The node currently "paused" (isolated), if any.
        paused: Option<usize>,
    },
    /// Separate processes.
    Processes(Processes),
}

/// Small snapshots and a short log tail, so a wiped or long-dead node catches up from
/// a snapshot rather than from the log.
fn tune_raft(raft: &mut RaftConfig) {
    raft.snapshot_entries_max = 1_000;
    raft.log_entries_kept = 200;
}

impl Cluster {
    /// Starts a cluster of `nodes` and waits for a leader; processes run on a private
    /// network of namespaces when `private_network` is set.
    pub async fn start(
        mode: Mode,
        nodes: usize,
        paddock: &Path,
        private_network: bool,
    ) -> anyhow::Result<Self> {
        let cluster = match mode {
            Mode::InProcess => {
                let ensemble = Ensemble::builder()
                    .nodes(nodes)
                    .in_memory()
                    .tune_raft(tune_raft)
                    .start()
                    .await
                    .context("starting the in-process ensemble")?;
                Cluster::InProcess {
                    ensemble,
                    paused: None,
                }
            }
            Mode::Processes => {
                let network = if private_network {
                    let network = Network::create(nodes).context("making the private network")?;
                    println!("    network: {}", network.describe());
                    Some(network)
                } else {
                    None
                };
                Cluster::Processes(Processes::start(paddock, nodes, network)?)
            }
        };
        if cluster
            .wait_for_leader(Duration::from_secs(30))
            .await
            .is_none()
        {
            bail!("no leader within 30 s of starting");
        }
        Ok(cluster)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        match self {
            Cluster::InProcess { ensemble, .. } => ensemble.len(),
            Cluster::Processes(p) => p.len(),
        }
    }

    /// `host:port` of each node's client port.
    pub fn hosts(&self) -> Vec<String> {
        match self {
            Cluster::InProcess { ensemble, .. } => (0..ensemble.len())
                .map(|i| ensemble.node(i).client_addr().to_string())
                .collect(),
            Cluster::Processes(p) => p.client_addrs().iter().map(|a| a.to_string()).collect(),
        }
    }

    /// Whether node `i` runs and is not paused.
    pub fn is_up(&self, i: usize) -> bool {
        match self {
            Cluster::InProcess { ensemble, paused } => {
                ensemble.node(i).is_running() && *paused != Some(i)
            }
            Cluster::Processes(p) => p.is_up(i),
        }
    }

    /// The node that claims to lead now.
    pub async fn leader(&self) -> Option<usize> {
        match self {
            Cluster::InProcess { ensemble, .. } => ensemble.leader(),
            Cluster::Processes(p) => p.leader().await,
        }
    }

    /// Waits for a leader.
    pub async fn wait_for_leader(&self, timeout: Duration) -> Option<usize> {
        match self {
            Cluster::InProcess { ensemble, .. } => ensemble.wait_for_leader(timeout).await.ok(),
            Cluster::Processes(p) => {
                let deadline = Instant::now() + timeout;
                loop {
                    if let Some(leader) = p.leader().await {
                        return Some(leader);
                    }
                    if Instant::now() > deadline {
                        return None;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Crashes node `i` (kill -9 for a process).
    pub async fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        match self {
            Cluster::InProcess { ensemble, paused } => {
                if *paused == Some(i) {
                    ensemble.heal();
                    *paused = None;
                }
                ensemble.kill(i).await?;
            }
            Cluster::Processes(p) => p.kill(i)?,
        }
        Ok(())
    }

    /// Starts node `i` again from what it stored (no-op if it runs).
    pub async fn restart(&mut self, i: usize) -> anyhow::Result<()> {
        match self {
            Cluster::InProcess { ensemble, .. } => {
                if !ensemble.node(i).is_running() {
                    ensemble.restart(i).await?;
                }
            }
            Cluster::Processes(p) => {
                if !p.is_started(i) {
                    p.spawn(i)?;
                }
            }
        }
        Ok(())
    }

    /// Pauses node `i`: SIGSTOP for a process; in-process, cuts it off from its peers
    /// (its clients still reach it — an approximation of a pause).
    pub fn pause(&mut self, i: usize) -> anyhow::Result<()> {
        match self {
            Cluster::InProcess { ensemble, paused } => {
                ensemble.isolate(i);
                *paused = Some(i);
            }
            Cluster::Processes(p) => p.pause(i)?,
        }
        Ok(())
    }

    /// Resumes node `i`.
    pub fn resume(&mut self, i: usize) -> anyhow::Result<()> {
        match self {
            Cluster::InProcess { ensemble, paused } => {
                if *paused == Some(i) {
                    ensemble.heal();
                    *paused = None;
                }
            }
            Cluster::Processes(p) => p.resume(i)?,
        }
        Ok(())
    }

    /// Cuts directed links (from, to) between node indices: through the fault seam
    /// in-process, with blackhole routes for processes on a private network.
    pub fn cut(&self, links: &[(usize, usize)]) -> anyhow::Result<()> {
        match self {
            Cluster::InProcess { ensemble, .. } => {
                for &(from, to) in links {
                    ensemble.faults().cut(from as u64 + 1, to as u64 + 1);
                }
                Ok(())
            }
            Cluster::Processes(p) => {
                let Some(network) = p.network() else {
                    bail!("partitions between processes need the private network");
                };
                for &(from, to) in links {
                    network.cut(from, to)?;
                }
                Ok(())
            }
        }
    }

    /// Removes every network fault.
    pub fn heal(&mut self) -> anyhow::Result<()> {
        match self {
            Cluster::InProcess { ensemble, paused } => {
                ensemble.heal();
                *paused = None;
            }
            Cluster::Processes(p) => {
                if let Some(network) = p.network() {
                    network.heal()?;
                }
            }
        }
        Ok(())
    }

    /// Kills node `i` and deletes what it stored.
    pub async fn wipe(&mut self, i: usize) -> anyhow::Result<()> {
        match self {
            Cluster::InProcess { ensemble, .. } => ensemble.wipe(i).await?,
            Cluster::Processes(p) => p.wipe(i)?,
        }
        Ok(())
    }

    /// Node `i`'s applied (zxid, digest), if it answers.
    pub async fn state(&self, i: usize) -> Option<(i64, u64)> {
        match self {
            Cluster::InProcess { ensemble, .. } => ensemble.node(i).digest(),
            Cluster::Processes(p) => p.state(i).await,
        }
    }

    /// Every node's state.
    pub async fn states(&self) -> Vec<(usize, Option<(i64, u64)>)> {
        let mut out = Vec::new();
        for i in 0..self.len() {
            out.push((i, self.state(i).await));
        }
        out
    }

    /// Waits until every node is up with the same (zxid, digest).
    pub async fn converged(&self, timeout: Duration) -> Option<(i64, u64)> {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.states().await;
            if let Some((_, Some(first))) = states.first()
                && states.iter().all(|(_, s)| s.as_ref() == Some(first))
            {
                return Some(*first);
            }
            if Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Expires a session through the log (in-process only; `false` for processes).
    pub async fn expire_session(&self, session_id: i64) -> bool {
        match self {
            Cluster::InProcess { ensemble, .. } => {
                ensemble.expire_session(session_id).await.is_ok()
            }
            Cluster::Processes(_) => false,
        }
    }

    /// Heals the network, resumes paused nodes and restarts dead ones.
    pub async fn recover_all(&mut self) -> anyhow::Result<()> {
        self.heal()?;
        if let Cluster::Processes(p) = self {
            p.reap_crashes();
        }
        for i in 0..self.len() {
            if let Cluster::Processes(p) = self {
                p.resume(i)?;
            }
            self.restart(i).await?;
        }
        Ok(())
    }

    /// Processes that exited by themselves (always empty in-process).
    pub fn crashes(&mut self) -> Vec<String> {
        match self {
            Cluster::InProcess { .. } => Vec::new(),
            Cluster::Processes(p) => {
                p.reap_crashes();
                p.crashes().to_vec()
            }
        }
    }

    /// Keeps a processes cluster's directory for a post-mortem; returns where.
    pub fn keep_evidence(&mut self) -> Option<String> {
        match self {
            Cluster::InProcess { .. } => None,
            Cluster::Processes(p) => {
                let dir = p.keep()?;
                let logs: Vec<String> = p.logs().iter().map(|l| l.display().to_string()).collect();
                Some(format!("{} (logs: {})", dir.display(), logs.join(", ")))
            }
        }
    }

    /// Stops everything.
    pub async fn shutdown(self) {
        match self {
            Cluster::InProcess { ensemble, .. } => ensemble.shutdown().await,
            Cluster::Processes(p) => drop(p),
        }
    }
}
