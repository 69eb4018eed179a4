//! The bad-client soak: ordinary clients run a 90/10 get/set mix while, halfway
//! through, hostile connections join — garbage bytes, truncated frames, 2 GiB length
//! prefixes, requests before the handshake, thousands of idle connections and writers
//! that send one byte a second. The ordinary clients' latency and error rate are
//! reported before and during, and the servers' RSS before and after.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use paddock_jute::{PathWatchRequest, Record, Request, RequestHeader, SetDataRequest};
use rand::{Rng, SeedableRng};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::Args;
use crate::conn::Conn;
use crate::stats::{Report, Stats};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// One ordinary client for `phase` seconds; returns its measurements.
async fn normal(args: Arc<Args>, client: usize, until: Instant) -> anyhow::Result<Stats> {
    let hosts = args.hosts();
    let mut conn = Conn::connect(&hosts[client % hosts.len()], args.session_timeout()).await?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(client as u64);
    let mut stats = Stats::default();
    let path = format!("{}/soak", args.root);
    while Instant::now() < until {
        let request = if rng.gen_range(0..10) == 0 {
            Request::SetData(SetDataRequest {
                path: path.clone(),
                data: Some(vec![1; args.value_size]),
                version: -1,
            })
        } else {
            Request::GetData(PathWatchRequest {
                path: path.clone(),
                watch: false,
            })
        };
        let sent = Instant::now();
        let err = match tokio::time::timeout(Duration::from_secs(5), conn.call(request)).await {
            Ok(Ok(err)) => err,
            _ => {
                stats.record(
                    sent.elapsed(),
                    paddock_jute::ErrorCode::ConnectionLoss.code(),
                );
                conn = Conn::connect(&hosts[client % hosts.len()], args.session_timeout()).await?;
                continue;
            }
        };
        stats.record(sent.elapsed(), err);
    }
    let _ = conn.close().await;
    Ok(stats)
}

/// Runs every normal client for `phase` and merges what they measured.
async fn normal_phase(args: &Arc<Args>, phase: Duration) -> anyhow::Result<Stats> {
    let until = Instant::now() + phase;
    let tasks: Vec<_> = (0..args.clients)
        .map(|client| tokio::spawn(normal(args.clone(), client, until)))
        .collect();
    let mut stats = Stats::default();
    for task in tasks {
        stats.merge(&task.await??);
    }
    Ok(stats)
}

/// Hostile connections until `stop`: each kind keeps reconnecting after being closed.
async fn hostile(host: String, kind: usize, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut stream) = TcpStream::connect(&host).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = match kind {
            // Garbage.
            0 => stream.write_all(&rand::random::<[u8; 32]>()).await,
            // A truncated frame: a length promising more than ever comes.
            1 => stream.write_all(&[0, 0, 1, 0, 1, 2, 3]).await,
            // A 2 GiB length prefix.
            2 => stream.write_all(&0x7fff_ffffu32.to_be_bytes()).await,
            // A request before the handshake.
            3 => {
                let mut frame = vec![0, 0, 0, 8];
                RequestHeader { xid: 1, op: 4 }.write_to(&mut frame);
                stream.write_all(&frame).await
            }
            // One byte a second.
            _ => {
                for byte in [0u8, 0, 0, 45] {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let _ = stream.write_all(&[byte]).await;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Ok(())
            }
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Runs the soak.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let hosts = args.hosts();
    let mut setup = Conn::connect(&hosts[0], args.session_timeout()).await?;
    for path in [args.root.clone(), format!("{}/soak", args.root)] {
        let err = setup
            .call(Request::Create(paddock_jute::CreateRequest {
                path,
                data: Some(vec![0; args.value_size]),
                acl: paddock_jute::Acl::open_unsafe(),
                flags: 0,
                ttl: 0,
            }))
            .await?;
        if err != 0 && err != paddock_jute::ErrorCode::NodeExists.code() {
            anyhow::bail!("setup failed: {err}");
        }
    }
    setup.close().await?;
    let rss_before: Vec<u64> = args.pid.iter().map(|p| rss_kib(*p)).collect();
    let shared = Arc::new(args.clone());
    let phase = Duration::from_secs_f64(args.duration / 2.0);

    let before = normal_phase(&shared, phase).await?;

    // Second phase: the same load, with hostile company.
    let stop = Arc::new(AtomicBool::new(false));
    let mut hostiles = Vec::new();
    for i in 0..args.hostile {
        hostiles.push(tokio::spawn(hostile(
            hosts[i % hosts.len()].clone(),
            i % 5,
            stop.clone(),
        )));
    }
    let mut idle = Vec::new();
    for i in 0..args.idle {
        if let Ok(stream) = TcpStream::connect(&hosts[i % hosts.len()]).await {
            idle.push(stream);
        }
    }
    let during = normal_phase(&shared, phase).await?;
    stop.store(true, Ordering::Relaxed);
    for task in hostiles {
        task.abort();
    }
    let idle_held = idle.len();
    drop(idle);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after: Vec<u64> = args.pid.iter().map(|p| rss_kib(*p)).collect();

    let rate = |s: &Stats| {
        let errors: u64 = s.errors.values().sum();
        errors as f64 / (s.ops + errors).max(1) as f64
    };
    let q = |s: &Stats, p: f64| s.latency.value_at_quantile(p) as f64 / 1000.0;
    let mut extra = vec![
        ("before_p50_ms".into(), q(&before, 0.5)),
        ("before_p99_ms".into(), q(&before, 0.99)),
        ("before_error_rate".into(), rate(&before)),
        ("during_p50_ms".into(), q(&during, 0.5)),
        ("during_p99_ms".into(), q(&during, 0.99)),
        ("during_error_rate".into(), rate(&during)),
        ("idle_connections_held".into(), idle_held as f64),
        ("hostile_connections".into(), args.hostile as f64),
    ];
    for (i, (b, a)) in rss_before.iter().zip(&rss_after).enumerate() {
        extra.push((format!("server{i}_rss_before_kib"), *b as f64));
        extra.push((format!("server{i}_rss_after_kib"), *a as f64));
    }
    let mut stats = before;
    stats.merge(&during);
    Ok(Report {
        stats,
        elapsed: phase * 2,
        extra,
        series: Vec::new(),
    })
}
