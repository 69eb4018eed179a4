//! zk-swarm: many real ZooKeeper sessions in a process of their own.
//!
//! The scale tests need more client connections than one process may hold file
//! descriptors for alongside the servers' ends of the same connections, so the clients
//! live here. The test drives this process through stdin and stdout, one line each way.
//!
//! Usage: `zk-swarm <hosts> <sessions> <concurrency> <session-timeout-ms> [watch-path]`
//!
//! Prints `connected <n> <ms>` once every session is up (each has done a read), then,
//! with a watch path, sets a one-shot data watch on it from every session and prints
//! `watching <n>`; then `ready`. On the stdin line `await` it waits (up to 60 s) for
//! every watch to fire and prints `notified <n> <ms>`, counting only NodeDataChanged
//! events for the watched path. It exits on end of input; its sessions are left to
//! expire.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use futures::StreamExt as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use zookeeper_client as zk;

async fn connect_one(hosts: &str, timeout: Duration) -> Result<zk::Client, zk::Error> {
    let mut last = zk::Error::Timeout;
    for _ in 0..3 {
        match zk::Client::connector()
            .with_session_timeout(timeout)
            .connect(hosts)
            .await
        {
            Ok(client) => {
                client.check_stat("/").await?;
                return Ok(client);
            }
            Err(error) => last = error,
        }
    }
    Err(last)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let hosts = args[1].clone();
    let sessions: usize = args[2].parse().unwrap();
    let concurrency: usize = args[3].parse().unwrap();
    let timeout = Duration::from_millis(args[4].parse().unwrap());
    let watch_path = args.get(5).cloned();

    let started = Instant::now();
    let results: Vec<Result<zk::Client, zk::Error>> = futures::stream::iter(0..sessions)
        .map(|_| connect_one(&hosts, timeout))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let mut clients = Vec::with_capacity(sessions);
    for result in results {
        match result {
            Ok(client) => clients.push(client),
            Err(error) => eprintln!("zk-swarm: a session failed: {error}"),
        }
    }
    println!(
        "connected {} {}",
        clients.len(),
        started.elapsed().as_millis()
    );

    let mut watchers = Vec::new();
    if let Some(path) = &watch_path {
        let results: Vec<_> = futures::stream::iter(clients.iter())
            .map(|client| client.get_and_watch_data(path))
            .buffer_unordered(concurrency)
            .collect()
            .await;
        for result in results {
            match result {
                Ok((_, _, watcher)) => watchers.push(watcher),
                Err(error) => eprintln!("zk-swarm: a watch failed: {error}"),
            }
        }
        println!("watching {}", watchers.len());
    }
    println!("ready");

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() == "await" {
            let path = watch_path.clone().unwrap_or_default();
            let started = Instant::now();
            let fired =
                futures::future::join_all(std::mem::take(&mut watchers).into_iter().map(
                    |watcher| tokio::time::timeout(Duration::from_secs(60), watcher.changed()),
                ))
                .await;
            let notified = fired
                .iter()
                .filter(|event| {
                    matches!(event, Ok(event)
                        if event.event_type == zk::EventType::NodeDataChanged && event.path == path)
                })
                .count();
            println!("notified {notified} {}", started.elapsed().as_millis());
        }
    }
    drop(clients);
}
