//! paddock-bench: a load generator that speaks only the standard ZooKeeper client
//! protocol (through paddock-jute), so it measures Paddock and Apache ZooKeeper alike.
//!
//! `paddock-bench --connect HOSTS --workload W --clients C --inflight K --duration S`
//! prints ops/s, latency percentiles and errors by result code (or one JSON object with
//! `--json`). See `--help` for the workloads.

mod conn;
mod cpu;
mod floor;
mod quorum_write;
mod soak;
mod stats;
mod workloads;

use std::time::Duration;

use clap::{Parser, ValueEnum};

/// What to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Workload {
    /// Sequential creates.
    Create,
    /// setData on existing znodes.
    Set,
    /// getData on existing znodes.
    Get,
    /// exists on existing znodes.
    Exists,
    /// 90% getData, 10% setData.
    Mixed,
    /// Session establishment (connect, handshake, close).
    Connect,
    /// Create and delete ephemeral znodes.
    EphemeralChurn,
    /// W sessions watch one znode; one setData; time until every notification arrived.
    WatchFanout,
    /// Create N znodes as fast as possible.
    Fill,
    /// Continuous writes counted per 100 ms window, to show the gap while a node dies.
    Failover,
    /// This machine's floor: median write+fdatasync of 100 bytes (in --data-dir), median
    /// loopback TCP round trip, a bare quorum write between a client, a leader and two
    /// followers (threads), and the time to deliver one notification frame on each of
    /// --clients loopback connections. Needs no server.
    Floor,
    /// The sending end of the floor's fan-out probe (started by `floor` itself).
    #[value(hide = true)]
    FanoutSender,
    /// Ordinary clients while hostile connections misbehave (garbage, truncated frames,
    /// huge lengths, requests before the handshake, idle and one-byte-a-second
    /// connections): latency and errors before and during, server RSS before and after.
    Soak,
}

/// Command line.
#[derive(Debug, Clone, Parser)]
#[command(name = "paddock-bench", about = "ZooKeeper-protocol load generator")]
pub struct Args {
    /// Comma-separated host:port list; clients are spread over it.
    #[arg(long)]
    pub connect: String,
    /// The workload.
    #[arg(long, value_enum)]
    pub workload: Workload,
    /// Concurrent sessions (for watch-fanout: the number of watchers).
    #[arg(long, default_value_t = 16)]
    pub clients: usize,
    /// Requests in flight per session.
    #[arg(long, default_value_t = 16)]
    pub inflight: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Unmeasured seconds before measuring.
    #[arg(long, default_value_t = 2.0)]
    pub warmup: f64,
    /// Bytes per value.
    #[arg(long, default_value_t = 100)]
    pub value_size: usize,
    /// Znodes read/written by set/get/exists/mixed, or created by fill.
    #[arg(long, default_value_t = 10_000)]
    pub znodes: usize,
    /// Session timeout asked for, ms.
    #[arg(long, default_value_t = 30_000)]
    pub session_timeout_ms: u64,
    /// Root under which the benchmark works.
    #[arg(long, default_value = "/bench")]
    pub root: String,
    /// Print one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
    /// Directory for the floor workload's fsync probe.
    #[arg(long, default_value = "/tmp")]
    pub data_dir: std::path::PathBuf,
    /// Soak: hostile connections cycling at once.
    #[arg(long, default_value_t = 50)]
    pub hostile: usize,
    /// Soak: idle connections opened and held during the second half.
    #[arg(long, default_value_t = 2000)]
    pub idle: usize,
    /// Soak: server process ids whose RSS to report (repeatable).
    #[arg(long)]
    pub pid: Vec<u32>,
}

impl Args {
    /// The hosts.
    pub fn hosts(&self) -> Vec<String> {
        self.connect
            .split(',')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect()
    }

    /// The session timeout.
    pub fn session_timeout(&self) -> Duration {
        Duration::from_millis(self.session_timeout_ms)
    }
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = runtime.block_on(workloads::run(&args))?;
    if args.json {
        println!("{}", report.to_json(&args));
    } else {
        print!("{}", report.to_text(&args));
    }
    Ok(())
}
