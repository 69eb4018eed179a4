//! Carries out a schedule's steps on a cluster and keeps the timestamped log of what
//! each step actually did (which node it hit, what it skipped and why).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use paddock_chaos::schedule::{Nemesis, Step, bridge_cuts, ring_cuts};
use parking_lot::Mutex;
use tokio::sync::Mutex as AsyncMutex;

use crate::Mode;
use crate::client::Clock;
use crate::cluster::Cluster;
use crate::workload::Shared;

/// What the nemesis did, with times from the start of the run.
#[derive(Debug, Default)]
pub struct FaultLog {
    /// (ns since start, what happened), in order.
    pub entries: Vec<(u64, String)>,
    /// Steps carried out, by nemesis.
    pub injected: BTreeMap<Nemesis, usize>,
    /// Steps skipped (precondition not met), by nemesis.
    pub skipped: BTreeMap<Nemesis, usize>,
}

/// The nemesis side of a run.
pub struct Nemeses {
    /// The cluster (shared with the expiry probe, which expires sessions through it).
    pub cluster: Arc<AsyncMutex<Cluster>>,
    /// The workload's shared state (for its gate).
    pub shared: Arc<Shared>,
    /// The log.
    pub log: Arc<Mutex<FaultLog>>,
    /// The run's clock.
    pub clock: Clock,
    /// The mode (for how a pause is done).
    pub mode: Mode,
}

impl Nemeses {
    /// Records and prints one line of the schedule as it happens.
    pub fn note(&self, what: String) {
        let at = self.clock.now();
        println!("    +{:>8.3}s {what}", at as f64 / 1e9);
        self.log.lock().entries.push((at, what));
    }

    /// Runs steps until `duration` has passed since `started`.
    pub async fn run(
        &self,
        steps: impl Iterator<Item = Step>,
        started: Instant,
        duration: Duration,
    ) -> anyhow::Result<()> {
        for step in steps {
            if started.elapsed() >= duration {
                break;
            }
            let done = self.execute(step).await?;
            self.count(step.nemesis, done);
            let left = duration.saturating_sub(started.elapsed());
            tokio::time::sleep(step.quiet.min(left)).await;
        }
        Ok(())
    }

    fn count(&self, nemesis: Nemesis, done: bool) {
        let mut log = self.log.lock();
        let counts = if done {
            &mut log.injected
        } else {
            &mut log.skipped
        };
        *counts.entry(nemesis).or_default() += 1;
    }

    async fn restart(&self, node: usize) -> anyhow::Result<()> {
        let mut last = None;
        for _ in 0..10 {
            match self.cluster.lock().await.restart(node).await {
                Ok(()) => return Ok(()),
                Err(error) => last = Some(error),
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        Err(last.unwrap_or_else(|| anyhow::anyhow!("restart failed")))
            .with_context(|| format!("restarting node {node}"))
    }

    async fn leader(&self) -> Option<usize> {
        self.cluster
            .lock()
            .await
            .wait_for_leader(Duration::from_secs(5))
            .await
    }

    /// Carries out one step; `false` if it was skipped.
    async fn execute(&self, step: Step) -> anyhow::Result<bool> {
        let name = step.nemesis.name();
        let n = self.cluster.lock().await.len();
        let pick = step.pick as usize;
        match step.nemesis {
            Nemesis::KillLeader | Nemesis::KillRandom => {
                let target = if step.nemesis == Nemesis::KillLeader {
                    let Some(leader) = self.leader().await else {
                        self.note(format!("{name}: no leader to kill; skipped"));
                        return Ok(false);
                    };
                    leader
                } else {
                    pick % n
                };
                self.cluster.lock().await.kill(target).await?;
                self.note(format!(
                    "{name}: killed node {target} (down {:.1?})",
                    step.fault
                ));
                tokio::time::sleep(step.fault).await;
                self.restart(target).await?;
                self.note(format!("{name}: restarted node {target}"));
            }
            Nemesis::Pause => {
                let target = pick % n;
                self.cluster.lock().await.pause(target)?;
                let how = match self.mode {
                    Mode::Processes => "SIGSTOP",
                    Mode::InProcess => "isolated from its peers, approximating a pause",
                };
                self.note(format!(
                    "{name}: paused node {target} ({how}) for {:.1?}",
                    step.fault
                ));
                tokio::time::sleep(step.fault).await;
                self.cluster.lock().await.resume(target)?;
                self.note(format!("{name}: resumed node {target}"));
            }
            Nemesis::PartitionLeader => {
                let Some(leader) = self.leader().await else {
                    self.note(format!("{name}: no leader; skipped"));
                    return Ok(false);
                };
                let what = format!("leader {leader} cut off from the majority");
                self.partition(name, &cut_off(n, leader), what, step.fault)
                    .await?;
            }
            Nemesis::IsolateFollower => {
                let leader = self.leader().await;
                let followers: Vec<usize> = (0..n).filter(|&i| Some(i) != leader).collect();
                let target = followers[pick % followers.len()];
                let what = format!("follower {target} isolated");
                self.partition(name, &cut_off(n, target), what, step.fault)
                    .await?;
            }
            Nemesis::Bridge | Nemesis::Ring => {
                let (cuts, shape) = if step.nemesis == Nemesis::Bridge {
                    bridge_cuts(n, step.pick)
                } else {
                    ring_cuts(n, step.pick)
                };
                let what = format!("{shape} ({} directed links cut)", cuts.len());
                self.partition(name, &cuts, what, step.fault).await?;
            }
            Nemesis::RestartAll => {
                {
                    let mut cluster = self.cluster.lock().await;
                    for i in 0..n {
                        cluster.kill(i).await?;
                    }
                }
                self.note(format!(
                    "{name}: killed all {n} nodes (down {:.1?})",
                    step.fault
                ));
                tokio::time::sleep(step.fault).await;
                for i in 0..n {
                    self.restart(i).await?;
                }
                self.note(format!("{name}: restarted all {n} nodes"));
            }
            Nemesis::WipeFollower => return self.wipe_follower(step).await,
        }
        Ok(true)
    }

    /// Cuts `cuts` for `fault`, then heals, noting both.
    async fn partition(
        &self,
        name: &str,
        cuts: &[(usize, usize)],
        what: String,
        fault: Duration,
    ) -> anyhow::Result<()> {
        self.cluster.lock().await.cut(cuts)?;
        self.note(format!("{name}: {what} for {fault:.1?}"));
        tokio::time::sleep(fault).await;
        self.cluster.lock().await.heal()?;
        self.note(format!("{name}: healed"));
        Ok(())
    }

    /// Wipes a follower, but only when every node is up and all have applied the same
    /// state: a wiped node comes back with no log and no vote, and wiping while
    /// another node lags could lose committed entries in Raft as in ZooKeeper. The
    /// workload is held at the gate while that is checked and the disk is wiped.
    async fn wipe_follower(&self, step: Step) -> anyhow::Result<bool> {
        let name = step.nemesis.name();
        let quiet = tokio::time::timeout(Duration::from_secs(10), self.shared.gate.write()).await;
        let Ok(_held) = quiet else {
            self.note(format!(
                "{name}: could not quiesce the workload within 10 s; skipped"
            ));
            return Ok(false);
        };
        let mut cluster = self.cluster.lock().await;
        let n = cluster.len();
        if !(0..n).all(|i| cluster.is_up(i)) {
            drop(cluster);
            self.note(format!("{name}: not every node is up; skipped"));
            return Ok(false);
        }
        let Some((zxid, _)) = cluster.converged(Duration::from_secs(5)).await else {
            drop(cluster);
            self.note(format!(
                "{name}: nodes did not converge within 5 s; skipped"
            ));
            return Ok(false);
        };
        let Some(leader) = cluster.leader().await else {
            drop(cluster);
            self.note(format!("{name}: no leader; skipped"));
            return Ok(false);
        };
        let followers: Vec<usize> = (0..n).filter(|&i| i != leader).collect();
        let target = followers[step.pick as usize % followers.len()];
        cluster.wipe(target).await?;
        drop(cluster);
        drop(_held);
        self.note(format!(
            "{name}: all nodes at zxid 0x{zxid:x}; wiped follower {target} (down {:.1?})",
            step.fault
        ));
        tokio::time::sleep(step.fault).await;
        self.restart(target).await?;
        self.note(format!("{name}: restarted node {target} empty"));
        Ok(true)
    }
}

/// Both directions of every link between `node` and the other `n - 1` nodes.
fn cut_off(n: usize, node: usize) -> Vec<(usize, usize)> {
    (0..n)
        .filter(|&i| i != node)
        .flat_map(|i| [(i, node), (node, i)])
        .collect()
}
