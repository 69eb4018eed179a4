//! `paddock-chaos`: runs Paddock clusters under faults while clients record histories,
//! then judges the histories (see the `paddock_chaos` library for the checkers).
//!
//! With no flags it is the CI short run (about two minutes on two cores): an in-process
//! 3-node run and an in-process 5-node run with every nemesis including partitions, and
//! a run of three `paddock serve` processes with kill -9, SIGSTOP/SIGCONT, wiped disks
//! and — where network namespaces can be made (root) — real partitions. Every run
//! prints its seed and the command that repeats it; the last line is `N passed, M failed`
//! and the exit status is non-zero on any failure. A failed processes run keeps its
//! directory (zoo.cfg files, data, one log per node); `PADDOCK_LOG` sets the servers'
//! `RUST_LOG` (default `warn`), e.g. `PADDOCK_LOG=info,paddock_server::connection=debug`.

mod client;
mod cluster;
mod nemesis;
mod netns;
mod processes;
mod run;
mod workload;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, ValueEnum};
use paddock_chaos::Status;
use paddock_chaos::schedule::{Nemesis, parse_duration, parse_nemeses};

/// Where the cluster runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// In this process, through paddock-testing's fault seam.
    InProcess,
    /// Separate `paddock serve` processes configured from zoo.cfg files.
    Processes,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::InProcess => "in-process",
            Mode::Processes => "processes",
        }
    }
}

/// Chaos harness for Paddock: faults, client histories, checkers.
#[derive(Debug, Parser)]
#[command(name = "paddock-chaos", version)]
struct Cli {
    /// Run only this mode (default: both, as the CI short run does).
    #[arg(long, value_enum)]
    mode: Option<Mode>,
    /// Cluster size, 3 or 5 (default: 3 and 5 in-process, 3 as processes).
    #[arg(long)]
    nodes: Option<usize>,
    /// Total fault-injection time of one pass of the plan, split evenly among its runs
    /// (e.g. 30s, 2m, 30m). Setup and final checks add about 10 s per run.
    #[arg(long, default_value = "96s", value_parser = parse_duration)]
    duration: Duration,
    /// Seed of the nemesis schedules and workload choices (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Nemeses to mix: NAME[,NAME…] or all (kill-leader, kill-random, pause,
    /// partition-leader, isolate-follower, bridge, ring, restart-all, wipe-follower).
    #[arg(long, default_value = "all")]
    nemesis: String,
    /// Repeat the whole plan this many times, with successive seeds.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// The paddock binary for processes mode (default target/release/paddock, else the
    /// one beside this executable).
    #[arg(long)]
    paddock: Option<PathBuf>,
    /// Run the processes on 127.0.0.1 even where network namespaces can be made (then
    /// partitions are skipped in processes mode).
    #[arg(long)]
    loopback: bool,
}

/// One run of the plan.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// Where the cluster runs.
    pub mode: Mode,
    /// How many nodes.
    pub nodes: usize,
    /// Its seed.
    pub seed: u64,
    /// Fault-injection time.
    pub duration: Duration,
    /// Nemeses asked for (the run drops those its mode or size cannot do, and says so).
    pub nemeses: Vec<Nemesis>,
    /// The paddock binary (processes mode).
    pub paddock: PathBuf,
    /// Processes mode: one network namespace per node, so partitions are real.
    pub private_network: bool,
}

impl RunSpec {
    /// The command line that repeats this run alone.
    fn repeat_command(&self) -> String {
        let names: Vec<&str> = self.nemeses.iter().map(|n| n.name()).collect();
        let loopback = if self.mode == Mode::Processes && !self.private_network {
            " --loopback"
        } else {
            ""
        };
        format!(
            "paddock-chaos --mode {} --nodes {} --seed {} --duration {}s --nemesis {}{loopback}",
            self.mode.name(),
            self.nodes,
            self.seed,
            self.duration.as_secs(),
            names.join(",")
        )
    }
}

fn paddock_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    if let Some(path) = given {
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "paddock binary {} not found: build it with `cargo build --release -p paddock`",
            path.display()
        );
    }
    let default = PathBuf::from("target/release/paddock");
    if default.is_file() {
        return Ok(default);
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join("paddock")));
    match beside {
        Some(path) if path.is_file() => Ok(path),
        _ => bail!(
            "paddock binary not found at target/release/paddock (nor beside this executable): \
             build it with `cargo build --release -p paddock`, or pass --paddock PATH"
        ),
    }
}

fn plan(cli: &Cli) -> anyhow::Result<Vec<(Mode, usize)>> {
    if let Some(nodes) = cli.nodes
        && nodes != 3
        && nodes != 5
    {
        bail!("--nodes must be 3 or 5, not {nodes}");
    }
    Ok(match (cli.mode, cli.nodes) {
        (Some(mode), nodes) => vec![(mode, nodes.unwrap_or(3))],
        (None, Some(nodes)) => vec![(Mode::InProcess, nodes), (Mode::Processes, nodes)],
        (None, None) => vec![
            (Mode::InProcess, 3),
            (Mode::InProcess, 5),
            (Mode::Processes, 3),
        ],
    })
}

fn main() -> std::process::ExitCode {
    match real_main() {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(error) => {
            eprintln!("paddock-chaos: {error:#}");
            println!("0 passed, 1 failed");
            std::process::ExitCode::FAILURE
        }
    }
}

fn real_main() -> anyhow::Result<bool> {
    let cli = Cli::parse();
    let plan = plan(&cli)?;
    let nemeses: Vec<Nemesis> = parse_nemeses(&cli.nemesis).map_err(anyhow::Error::msg)?;
    let needs_processes = plan.iter().any(|(mode, _)| *mode == Mode::Processes);
    let paddock = if needs_processes {
        paddock_binary(cli.paddock.clone())?
    } else {
        cli.paddock.clone().unwrap_or_default()
    };
    let base_seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64 % 1_000_000_000)
            .unwrap_or(1)
    });
    let private_network = needs_processes && !cli.loopback && netns::Network::available();
    if needs_processes && !cli.loopback && !private_network {
        println!(
            "paddock-chaos: cannot make network namespaces here (needs root and `ip`); processes share 127.0.0.1"
        );
    }
    let per_run = cli.duration / plan.len() as u32;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    println!(
        "paddock-chaos: seed {base_seed}, {} run(s) per pass × {} pass(es), {:?} of faults per run",
        plan.len(),
        cli.runs,
        per_run
    );
    let started = Instant::now();
    let (mut passed, mut failed, mut unknown) = (0usize, 0usize, 0usize);
    let mut failures: Vec<String> = Vec::new();
    let mut index = 0u64;
    for pass in 0..cli.runs {
        for (mode, nodes) in &plan {
            let spec = RunSpec {
                mode: *mode,
                nodes: *nodes,
                seed: base_seed.wrapping_add(index),
                duration: per_run,
                nemeses: nemeses.clone(),
                paddock: paddock.clone(),
                private_network,
            };
            index += 1;
            println!();
            println!(
                "=== run {index} (pass {}): {} {} nodes, seed {}, {:?} of faults",
                pass + 1,
                mode.name(),
                nodes,
                spec.seed,
                per_run
            );
            println!("    repeat with: {}", spec.repeat_command());
            let verdicts = runtime.block_on(run::run(&spec));
            let mut run_failed = 0;
            for verdict in &verdicts {
                match verdict.status {
                    Status::Pass => passed += 1,
                    Status::Unknown => {
                        passed += 1;
                        unknown += 1;
                    }
                    Status::Fail => {
                        failed += 1;
                        run_failed += 1;
                        failures.push(format!(
                            "run {index} ({}): {}: {}",
                            spec.repeat_command(),
                            verdict.checker,
                            verdict.reason
                        ));
                    }
                }
            }
            println!(
                "=== run {index} done: {} checks, {} failed, {:.0?} since start",
                verdicts.len(),
                run_failed,
                started.elapsed()
            );
        }
    }
    runtime.shutdown_timeout(Duration::from_secs(5));
    println!();
    if !failures.is_empty() {
        println!("failures:");
        for failure in &failures {
            println!("  {failure}");
        }
    }
    if unknown > 0 {
        println!(
            "{unknown} check(s) UNKNOWN: the linearizability search budget ran out; counted as passed"
        );
    }
    println!("total time {:.1?}", started.elapsed());
    println!("{passed} passed, {failed} failed");
    Ok(failed == 0)
}
