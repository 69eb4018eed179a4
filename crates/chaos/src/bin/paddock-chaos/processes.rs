//! A cluster of separate `paddock serve` processes, each configured from its own zoo.cfg
//! (dataDir/myid, clientPort) in a temporary directory, as a ZooKeeper ensemble is.
//! Faults are real: SIGKILL, SIGSTOP/SIGCONT, deleting a data directory, and — on a
//! private network of namespaces — packets dropped between nodes.

use std::fs::OpenOptions;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::netns::Network;

/// ZooKeeper tickTime for the processes: sessions may last 2–20 ticks (0.4–4 s).
pub const TICK_MS: u64 = 200;

/// The running processes and where they keep their state.
pub struct Processes {
    dir: Option<tempfile::TempDir>,
    kept: Option<PathBuf>,
    binary: PathBuf,
    configs: Vec<PathBuf>,
    data_dirs: Vec<PathBuf>,
    logs: Vec<PathBuf>,
    children: Vec<Option<Child>>,
    paused: Vec<bool>,
    client_addrs: Vec<SocketAddr>,
    /// Exits nobody asked for (a crash is a bug), as "node N: status".
    crashes: Vec<String>,
    /// The namespaces the nodes run in, if any (dropped last: after the processes).
    network: Option<Network>,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn signal(pid: u32, name: &str) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .with_context(|| format!("running kill -{name} {pid}"))?;
    if !status.success() {
        bail!("kill -{name} {pid} failed: {status}");
    }
    Ok(())
}

/// Sends a four-letter word and reads the answer (empty if the node does not answer
/// within a second).
pub async fn four_letter(addr: SocketAddr, word: &str) -> String {
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await?;
        stream.write_all(word.as_bytes()).await?;
        let mut out = String::new();
        stream.read_to_string(&mut out).await?;
        Ok::<_, std::io::Error>(out)
    };
    match tokio::time::timeout(Duration::from_secs(1), exchange).await {
        Ok(Ok(out)) => out,
        _ => String::new(),
    }
}

fn srvr_zxid(srvr: &str) -> Option<i64> {
    let hex = srvr.lines().find_map(|l| l.strip_prefix("Zxid: 0x"))?;
    i64::from_str_radix(hex.trim(), 16).ok()
}

fn mntr_value<'a>(mntr: &'a str, key: &str) -> Option<&'a str> {
    mntr.lines().find_map(|l| {
        let (k, v) = l.split_once('\t')?;
        (k == key).then_some(v.trim())
    })
}

impl Processes {
    /// Writes the configs and starts every node: each in its own network namespace
    /// when `network` is given, else all on 127.0.0.1.
    pub fn start(binary: &Path, nodes: usize, network: Option<Network>) -> anyhow::Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("paddock-chaos")
            .tempdir()
            .context("making a temporary directory")?;
        let hosts: Vec<IpAddr> = (0..nodes)
            .map(|i| match &network {
                Some(network) => IpAddr::V4(network.node_addr(i)),
                None => IpAddr::V4(Ipv4Addr::LOCALHOST),
            })
            .collect();
        let mut peers = Vec::new();
        for _ in 0..nodes {
            peers.push((free_port()?, free_port()?));
        }
        let client_addrs: Vec<SocketAddr> = hosts
            .iter()
            .map(|host| Ok(SocketAddr::new(*host, free_port()?)))
            .collect::<anyhow::Result<_>>()?;
        let mut configs = Vec::new();
        let mut data_dirs = Vec::new();
        let mut logs = Vec::new();
        for (i, client_addr) in client_addrs.iter().enumerate() {
            let data = dir.path().join(format!("zk{}", i + 1));
            std::fs::create_dir_all(&data)?;
            std::fs::write(data.join("myid"), format!("{}\n", i + 1))?;
            let mut cfg = format!(
                "tickTime={TICK_MS}\ninitLimit=10\nsyncLimit=5\ndataDir={}\n\
                 clientPort={}\nclientPortAddress={}\nmaxClientCnxns=0\n\
                 4lw.commands.whitelist=*\npaddock.snapshotEntries=1000\n",
                data.display(),
                client_addr.port(),
                client_addr.ip(),
            );
            for (j, (quorum, election)) in peers.iter().enumerate() {
                let host = hosts[j];
                cfg.push_str(&format!("server.{}={host}:{quorum}:{election}\n", j + 1));
            }
            let file = dir.path().join(format!("zoo{}.cfg", i + 1));
            std::fs::write(&file, cfg)?;
            configs.push(file);
            data_dirs.push(data);
            logs.push(dir.path().join(format!("node{}.log", i + 1)));
        }
        let mut cluster = Self {
            dir: Some(dir),
            kept: None,
            binary: binary.to_owned(),
            configs,
            data_dirs,
            logs,
            children: (0..nodes).map(|_| None).collect(),
            paused: vec![false; nodes],
            client_addrs,
            crashes: Vec::new(),
            network,
        };
        for i in 0..nodes {
            cluster.spawn(i)?;
        }
        Ok(cluster)
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.children.len()
    }

    /// Client addresses, by node.
    pub fn client_addrs(&self) -> &[SocketAddr] {
        &self.client_addrs
    }

    /// The private network, if the nodes run on one.
    pub fn network(&self) -> Option<&Network> {
        self.network.as_ref()
    }

    /// Starts node `i` (its log appends to `node<i+1>.log`, at the level `PADDOCK_LOG`
    /// gives in `RUST_LOG` syntax, default warn).
    pub fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.logs[i])?;
        let mut command = match &self.network {
            Some(network) => network.command(i, &self.binary),
            None => Command::new(&self.binary),
        };
        let child = command
            .args(["serve", "--config"])
            .arg(&self.configs[i])
            .env(
                "RUST_LOG",
                std::env::var("PADDOCK_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.children[i] = Some(child);
        self.paused[i] = false;
        Ok(())
    }

    /// Whether node `i` is running and not paused.
    pub fn is_up(&self, i: usize) -> bool {
        self.children[i].is_some() && !self.paused[i]
    }

    /// Whether node `i` has a process (running or paused).
    pub fn is_started(&self, i: usize) -> bool {
        self.children[i].is_some()
    }

    /// kill -9 node `i`.
    pub fn kill(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(mut child) = self.children[i].take() {
            if let Ok(Some(status)) = child.try_wait() {
                self.crashes
                    .push(format!("node {i}: exited by itself: {status}"));
            }
            child.kill().ok();
            child.wait().with_context(|| format!("reaping node {i}"))?;
        }
        self.paused[i] = false;
        Ok(())
    }

    /// kill -STOP node `i`.
    pub fn pause(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(child) = &self.children[i] {
            signal(child.id(), "STOP")?;
            self.paused[i] = true;
        }
        Ok(())
    }

    /// kill -CONT node `i`.
    pub fn resume(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(child) = &self.children[i]
            && self.paused[i]
        {
            signal(child.id(), "CONT")?;
        }
        self.paused[i] = false;
        Ok(())
    }

    /// kill -9 node `i` and delete its Paddock data (myid stays, as a replaced disk
    /// with the config restored would have it).
    pub fn wipe(&mut self, i: usize) -> anyhow::Result<()> {
        self.kill(i)?;
        let state = self.data_dirs[i].join("paddock");
        if state.exists() {
            std::fs::remove_dir_all(&state)
                .with_context(|| format!("deleting {}", state.display()))?;
        }
        Ok(())
    }

    /// Records processes that exited although nobody killed them.
    pub fn reap_crashes(&mut self) {
        for (i, slot) in self.children.iter_mut().enumerate() {
            if let Some(child) = slot
                && let Ok(Some(status)) = child.try_wait()
            {
                self.crashes
                    .push(format!("node {i}: exited by itself: {status}"));
                *slot = None;
            }
        }
    }

    /// Unexpected exits so far.
    pub fn crashes(&self) -> &[String] {
        &self.crashes
    }

    /// The node whose `srvr` says leader (running, unpaused nodes only).
    pub async fn leader(&self) -> Option<usize> {
        for i in 0..self.len() {
            if self.is_up(i)
                && four_letter(self.client_addrs[i], "srvr")
                    .await
                    .contains("Mode: leader")
            {
                return Some(i);
            }
        }
        None
    }

    /// Node `i`'s applied (zxid, digest): `srvr`'s Zxid, `mntr`'s zk_paddock_digest,
    /// and `srvr` again to be sure nothing was applied in between.
    pub async fn state(&self, i: usize) -> Option<(i64, u64)> {
        if !self.is_up(i) {
            return None;
        }
        let addr = self.client_addrs[i];
        let before = srvr_zxid(&four_letter(addr, "srvr").await)?;
        let mntr = four_letter(addr, "mntr").await;
        let digest = mntr_value(&mntr, "zk_paddock_digest")?.parse().ok()?;
        let after = srvr_zxid(&four_letter(addr, "srvr").await)?;
        (before == after).then_some((after, digest))
    }

    /// Keeps the directory (configs, data, logs) after the run, for a post-mortem, with
    /// every running node's thread stacks as `nodeN.stacks` where gdb is installed: a
    /// node that stopped answering shows there what each of its threads waits for.
    pub fn keep(&mut self) -> Option<PathBuf> {
        if let Some(dir) = self.dir.take() {
            self.kept = Some(dir.keep());
        }
        let kept = self.kept.clone()?;
        for (i, child) in self.children.iter().enumerate() {
            let Some(child) = child else { continue };
            let stacks = Command::new("gdb")
                .args(["-batch", "-nx", "-p", &child.id().to_string()])
                .args(["-ex", "thread apply all bt"])
                .stdin(Stdio::null())
                .output();
            if let Ok(out) = stacks {
                let _ = std::fs::write(kept.join(format!("node{}.stacks", i + 1)), out.stdout);
            }
        }
        Some(kept)
    }

    /// Where the nodes' logs are.
    pub fn logs(&self) -> &[PathBuf] {
        &self.logs
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for child in self.children.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_srvr_and_mntr() {
        let srvr = "Zookeeper version: 3.9\nZxid: 0x1f\nMode: leader\n";
        assert_eq!(srvr_zxid(srvr), Some(31));
        let mntr = "zk_version\t3.9\nzk_paddock_digest\t12345\n";
        assert_eq!(mntr_value(mntr, "zk_paddock_digest"), Some("12345"));
        assert_eq!(mntr_value(mntr, "zk_nothing"), None);
    }
}
