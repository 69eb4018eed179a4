//! Scale: ten thousand live sessions on a three-node in-memory ensemble, and ten
//! thousand watchers of one znode notified by one change.
//!
//! Each session is a real `zookeeper-client` connection. The clients run in a child
//! process (the `zk-swarm` helper binary of this package): 10,000 connections in one
//! process need 20,000 descriptors with the servers' ends, more than the usual
//! `ulimit -n` of 20,000 leaves room for, and raising the hard limit needs privileges.
//! Times are printed, never asserted.

#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::{Duration, Instant};

use paddock_integration_tests::*;
use paddock_testing::Ensemble;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

const SESSIONS: usize = 10_000;
/// Handshakes in flight at once: enough to batch CreateSession entries, few enough to
/// stay clear of accept backlogs and the clients' connect timeouts on two cores.
const CONCURRENCY: usize = 200;
/// The clients ping after 3/20 of it; a long timeout keeps 10,000 of them from
/// flooding two cores with pings.
const SESSION_TIMEOUT_MS: u64 = 30_000;

/// Scale tests run one at a time: together they would hold 20,000 server-side sockets.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn big_ensemble() -> Ensemble {
    init_tracing();
    Ensemble::builder()
        .nodes(3)
        .in_memory()
        // tickTime 2 s: session timeouts up to 40 s, as a production ensemble allows.
        .tick(Duration::from_secs(2))
        .start()
        .await
        .unwrap()
}

struct Swarm {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Swarm {
    fn spawn(hosts: &str, watch: Option<&str>) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zk-swarm"));
        command
            .arg(hosts)
            .arg(SESSIONS.to_string())
            .arg(CONCURRENCY.to_string())
            .arg(SESSION_TIMEOUT_MS.to_string())
            .args(watch)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Self { child, lines }
    }

    /// The next line, split into its word and numbers.
    async fn expect(&mut self, word: &str, secs: u64) -> Vec<u64> {
        let line = within(secs, self.lines.next_line())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("zk-swarm exited before `{word}`"));
        let mut parts = line.split_whitespace();
        assert_eq!(parts.next(), Some(word), "zk-swarm said {line:?}");
        parts.map(|n| n.parse().unwrap()).collect()
    }

    async fn say(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        stdin.flush().await.unwrap();
    }

    async fn finish(mut self) {
        drop(self.child.stdin.take());
        let status = within(30, self.child.wait()).await.unwrap();
        assert!(status.success(), "zk-swarm failed: {status}");
    }
}

fn connections(ensemble: &Ensemble) -> usize {
    (0..ensemble.len())
        .map(|i| ensemble.node(i).server().unwrap().connection_count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_sessions() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let ensemble = big_ensemble().await;
    let hosts = ensemble.connect_string();
    let started = Instant::now();
    let mut swarm = Swarm::spawn(&hosts, None);
    let connected = swarm.expect("connected", 300).await;
    swarm.expect("ready", 60).await;
    println!(
        "{} sessions connected in {:?} ({} ms in the client process), {} at a time",
        connected[0],
        started.elapsed(),
        connected[1],
        CONCURRENCY
    );
    assert_eq!(connected[0] as usize, SESSIONS, "every session connects");
    assert_eq!(
        connections(&ensemble),
        SESSIONS,
        "one connection per session"
    );
    let per_node: Vec<usize> = (0..3)
        .map(|i| ensemble.node(i).server().unwrap().connection_count())
        .collect();
    println!("connections per node: {per_node:?}");
    assert!(
        ensemble
            .wait_converged(Duration::from_secs(60))
            .await
            .is_some()
    );
    for index in 0..3 {
        let known = ensemble.node(index).server().unwrap().session_ids().len();
        assert!(
            known >= SESSIONS,
            "node {index} knows only {known} sessions"
        );
    }
    // The ensemble still serves a newcomer promptly enough to finish within deadlines.
    assert_serves(&hosts, "/after-ten-thousand").await;
    swarm.finish().await;
    ensemble.shutdown().await;
}

fn total_watches(wchs: &str) -> usize {
    wchs.lines()
        .find_map(|line| line.strip_prefix("Total watches:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_watchers_of_one_znode() {
    let _serial = ONE_AT_A_TIME.lock().await;
    let ensemble = big_ensemble().await;
    let hosts = ensemble.connect_string();
    let writer = connect(&hosts).await;
    writer.create("/hot", b"cold", OPEN).await.unwrap();
    let mut swarm = Swarm::spawn(&hosts, Some("/hot"));
    swarm.expect("connected", 300).await;
    let watching = swarm.expect("watching", 120).await;
    swarm.expect("ready", 60).await;
    assert_eq!(
        watching[0] as usize, SESSIONS,
        "every session set its watch"
    );
    let mut held = 0;
    for index in 0..3 {
        held += total_watches(&four_letter(ensemble.node(index).client_addr(), "wchs").await);
    }
    assert_eq!(held, SESSIONS, "the servers hold one watch per session");

    let changed = Instant::now();
    writer.set_data("/hot", b"hot", None).await.unwrap();
    swarm.say("await").await;
    let notified = swarm.expect("notified", 90).await;
    println!(
        "{} of {SESSIONS} watchers notified {:?} after the write ({} ms from the clients' side)",
        notified[0],
        changed.elapsed(),
        notified[1]
    );
    assert_eq!(
        notified[0] as usize, SESSIONS,
        "every watcher hears the change"
    );
    let mut left = 0;
    for index in 0..3 {
        left += total_watches(&four_letter(ensemble.node(index).client_addr(), "wchs").await);
    }
    assert_eq!(left, 0, "fired one-shot watches are gone");
    swarm.finish().await;
    ensemble.shutdown().await;
}
