//! A private network for the `paddock serve` processes, so partitions between them are
//! real: one network namespace per node, each with its own address on a bridge in the
//! harness's namespace (where the clients run). A cut link is a blackhole route in the
//! sending node's namespace: its packets to that peer are dropped by the kernel, while
//! clients still reach every node. Needs root (CAP_NET_ADMIN) and `ip`; where that is
//! missing the processes share 127.0.0.1 and the run skips partitions.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The namespaces, veth pairs and bridge of one run; removed on drop.
pub struct Network {
    bridge: String,
    namespaces: Vec<String>,
    subnet: [u8; 3],
}

/// Runs `ip ARGS…`, failing with its stderr.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let output = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !output.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(())
}

impl Network {
    /// Whether this machine lets us make network namespaces (tried with a throwaway one).
    pub fn available() -> bool {
        let probe = format!("pdkprobe{}", std::process::id());
        let made = ip(&["netns", "add", &probe]).is_ok();
        if made {
            let _ = ip(&["netns", "del", &probe]);
        }
        made
    }

    /// Creates a namespace per node on a fresh bridge with subnet 10.213.x.0/24 (x from
    /// this process's id, so concurrent runs do not meet).
    pub fn create(nodes: usize) -> anyhow::Result<Self> {
        let pid = std::process::id();
        let tag = format!("pdk{}", pid % 100_000);
        let mut network = Self {
            bridge: format!("{tag}b"),
            namespaces: Vec::new(),
            subnet: [10, 213, (pid % 250) as u8],
        };
        let gateway = format!("{}/24", network.host_addr());
        ip(&["link", "add", &network.bridge, "type", "bridge"])?;
        ip(&["addr", "add", &gateway, "dev", &network.bridge])?;
        ip(&["link", "set", &network.bridge, "up"])?;
        for i in 0..nodes {
            let ns = format!("{tag}n{}", i + 1);
            ip(&["netns", "add", &ns])?;
            network.namespaces.push(ns.clone());
            let veth = format!("{tag}v{}", i + 1);
            ip(&[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns,
            ])?;
            ip(&["link", "set", &veth, "master", &network.bridge, "up"])?;
            let addr = format!("{}/24", network.node_addr(i));
            ip(&["-n", &ns, "addr", "add", &addr, "dev", "eth0"])?;
            ip(&["-n", &ns, "link", "set", "eth0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(network)
    }

    /// Node `i`'s address on the bridge.
    pub fn node_addr(&self, i: usize) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, i as u8 + 1)
    }

    /// The harness's own address on the bridge.
    fn host_addr(&self) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, 254)
    }

    /// A command that runs `program` inside node `i`'s namespace (`ip netns exec`
    /// replaces itself with the program, so the child's pid is the server's).
    pub fn command(&self, i: usize, program: &Path) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.namespaces[i]])
            .arg(program);
        command
    }

    /// Drops every packet node `from` sends to node `to`.
    pub fn cut(&self, from: usize, to: usize) -> anyhow::Result<()> {
        let target = format!("{}/32", self.node_addr(to));
        ip(&[
            "-n",
            &self.namespaces[from],
            "route",
            "replace",
            "blackhole",
            &target,
        ])
    }

    /// Removes every cut.
    pub fn heal(&self) -> anyhow::Result<()> {
        for ns in &self.namespaces {
            ip(&["-n", ns, "route", "flush", "type", "blackhole"])?;
        }
        Ok(())
    }

    /// What the run prints about its network.
    pub fn describe(&self) -> String {
        format!(
            "one network namespace per node on bridge {} ({}.0/24); partitions are blackhole routes",
            self.bridge,
            self.subnet.map(|b| b.to_string()).join(".")
        )
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &self.bridge]);
    }
}
