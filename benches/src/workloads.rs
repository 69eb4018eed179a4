//! The workloads. Each client is one session on one connection, keeping `inflight`
//! requests outstanding; ZooKeeper answers a connection's requests in order, so the
//! oldest outstanding request is the one each reply completes.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use paddock_jute::{
    Acl, CreateRequest, DeleteRequest, ErrorCode, PathWatchRequest, Request, SetDataRequest,
};
use rand::Rng;

use crate::conn::{Conn, Incoming};
use crate::stats::{Report, Stats};
use crate::{Args, Workload};

const NODE_EXISTS: i32 = ErrorCode::NodeExists.code();

fn create(path: String, data: Vec<u8>, flags: i32) -> Request {
    Request::Create(CreateRequest {
        path,
        data: Some(data),
        acl: Acl::open_unsafe(),
        flags,
        ttl: 0,
    })
}

fn host_for(args: &Args, client: usize) -> String {
    let hosts = args.hosts();
    hosts[client % hosts.len()].clone()
}

/// Creates `path` if missing.
async fn ensure(conn: &mut Conn, path: &str) -> anyhow::Result<()> {
    let err = conn.call(create(path.to_owned(), Vec::new(), 0)).await?;
    if err != 0 && err != NODE_EXISTS {
        bail!("creating {path}: error {err}");
    }
    Ok(())
}

fn data_path(args: &Args, i: usize) -> String {
    format!("{}/data/n{i:010}", args.root)
}

/// Pre-creates the znodes set/get/exists/mixed use.
async fn prepare_data(args: &Args) -> anyhow::Result<()> {
    let mut conn = Conn::connect(&host_for(args, 0), args.session_timeout()).await?;
    ensure(&mut conn, &args.root).await?;
    ensure(&mut conn, &format!("{}/data", args.root)).await?;
    let value = vec![b'v'; args.value_size];
    let mut next = 0usize;
    let mut outstanding = 0usize;
    while next < args.znodes || outstanding > 0 {
        while next < args.znodes && outstanding < 256 {
            conn.send(create(data_path(args, next), value.clone(), 0))
                .await?;
            next += 1;
            outstanding += 1;
        }
        conn.flush().await?;
        if let Incoming::Reply { err, .. } = conn.recv().await? {
            if err != 0 && err != NODE_EXISTS {
                bail!("preparing data: error {err}");
            }
            outstanding -= 1;
        }
    }
    conn.close().await
}

/// Runs one client: `inflight` requests outstanding until `end`, measuring after
/// `measure_from`.
async fn pipelined(
    conn: &mut Conn,
    inflight: usize,
    measure_from: Instant,
    end: Instant,
    mut next: impl FnMut() -> Request,
) -> anyhow::Result<Stats> {
    let mut stats = Stats::default();
    let mut queue: VecDeque<(i32, Instant)> = VecDeque::with_capacity(inflight);
    for _ in 0..inflight {
        let xid = conn.send(next()).await?;
        queue.push_back((xid, Instant::now()));
    }
    while let Some(&(expected, sent)) = queue.front() {
        // Replies arrive in bursts: answer every one already here, then send the
        // requests that replace them in one write. A write per request made this tool
        // use most of a core at 60k ops/s, CPU the servers under test then lacked.
        let incoming = match conn.recv_ready()? {
            Some(incoming) => incoming,
            None => {
                conn.flush().await?;
                conn.recv().await?
            }
        };
        let Incoming::Reply { xid, err, .. } = incoming else {
            continue;
        };
        if xid != expected {
            bail!("reply out of order: expected xid {expected}, got {xid}");
        }
        queue.pop_front();
        let now = Instant::now();
        if sent >= measure_from && now <= end {
            stats.record(now - sent, err);
        }
        if now < end {
            let xid = conn.send(next()).await?;
            queue.push_back((xid, Instant::now()));
        }
    }
    Ok(stats)
}

async fn clients<F, Fut>(args: &Args, run: F) -> anyhow::Result<Stats>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = anyhow::Result<Stats>> + Send + 'static,
{
    let mut tasks = Vec::new();
    for client in 0..args.clients {
        tasks.push(tokio::spawn(run(client)));
    }
    let mut total = Stats::default();
    for task in tasks {
        total.merge(&task.await??);
    }
    Ok(total)
}

/// Runs the workload named in `args`.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    match args.workload {
        Workload::Create
        | Workload::Set
        | Workload::Get
        | Workload::Exists
        | Workload::Mixed
        | Workload::EphemeralChurn => steady(args).await,
        Workload::Connect => connect(args).await,
        Workload::WatchFanout => watch_fanout(args).await,
        Workload::Fill => fill(args).await,
        Workload::Failover => failover(args).await,
        Workload::Floor => crate::floor::run(args).await,
        Workload::FanoutSender => crate::floor::fanout_sender(args).await,
        Workload::Soak => crate::soak::run(args).await,
    }
}

async fn steady(args: &Args) -> anyhow::Result<Report> {
    let mut setup = Conn::connect(&host_for(args, 0), args.session_timeout()).await?;
    ensure(&mut setup, &args.root).await?;
    match args.workload {
        Workload::Set | Workload::Get | Workload::Exists | Workload::Mixed => {
            prepare_data(args).await?
        }
        Workload::Create => ensure(&mut setup, &format!("{}/create", args.root)).await?,
        Workload::EphemeralChurn => ensure(&mut setup, &format!("{}/eph", args.root)).await?,
        _ => {}
    }
    setup.close().await?;
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let shared = Arc::new(args.clone());
    let stats = clients(args, move |client| {
        let args = shared.clone();
        async move {
            let mut conn = Conn::connect(&host_for(&args, client), args.session_timeout()).await?;
            let value = vec![b'x'; args.value_size];
            let mut rng = rand::rngs::StdRng::seed_from_u64(client as u64);
            let mut counter = 0u64;
            let workload = args.workload;
            let stats = pipelined(&mut conn, args.inflight, measure_from, end, || {
                counter += 1;
                let i = rng.gen_range(0..args.znodes.max(1));
                match workload {
                    Workload::Create => {
                        create(format!("{}/create/c-", args.root), value.clone(), 2)
                    }
                    Workload::Set => Request::SetData(SetDataRequest {
                        path: data_path(&args, i),
                        data: Some(value.clone()),
                        version: -1,
                    }),
                    Workload::Get => Request::GetData(PathWatchRequest {
                        path: data_path(&args, i),
                        watch: false,
                    }),
                    Workload::Exists => Request::Exists(PathWatchRequest {
                        path: data_path(&args, i),
                        watch: false,
                    }),
                    Workload::Mixed if rng.gen_range(0..10) == 0 => {
                        Request::SetData(SetDataRequest {
                            path: data_path(&args, i),
                            data: Some(value.clone()),
                            version: -1,
                        })
                    }
                    Workload::Mixed => Request::GetData(PathWatchRequest {
                        path: data_path(&args, i),
                        watch: false,
                    }),
                    _ => {
                        // Ephemeral churn: create, then delete what was created
                        // (requests 1 and 2 name node 0, 3 and 4 node 1, ...).
                        let path = format!("{}/eph/s{client}-{}", args.root, (counter - 1) / 2);
                        if counter % 2 == 1 {
                            create(path, value.clone(), 1)
                        } else {
                            Request::Delete(DeleteRequest { path, version: -1 })
                        }
                    }
                }
            })
            .await?;
            conn.close().await?;
            Ok(stats)
        }
    })
    .await?;
    Ok(Report {
        stats,
        elapsed: end.saturating_duration_since(measure_from),
        extra: Vec::new(),
        series: Vec::new(),
    })
}

use rand::SeedableRng;

async fn connect(args: &Args) -> anyhow::Result<Report> {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(args.warmup);
    let end = measure_from + Duration::from_secs_f64(args.duration);
    let shared = Arc::new(args.clone());
    let stats = clients(args, move |client| {
        let args = shared.clone();
        async move {
            let mut stats = Stats::default();
            while Instant::now() < end {
                let began = Instant::now();
                let conn = Conn::connect(&host_for(&args, client), args.session_timeout()).await;
                let elapsed = began.elapsed();
                match conn {
                    Ok(conn) => {
                        if began >= measure_from && Instant::now() <= end {
                            stats.record(elapsed, 0);
                        }
                        conn.close().await?;
                    }
                    Err(_) => stats.record(elapsed, ErrorCode::ConnectionLoss.code()),
                }
            }
            Ok(stats)
        }
    })
    .await?;
    Ok(Report {
        stats,
        elapsed: end.saturating_duration_since(measure_from),
        extra: Vec::new(),
        series: Vec::new(),
    })
}

async fn watch_fanout(args: &Args) -> anyhow::Result<Report> {
    let fan = format!("{}/fan", args.root);
    let mut writer = Conn::connect(&host_for(args, 0), args.session_timeout()).await?;
    ensure(&mut writer, &args.root).await?;
    ensure(&mut writer, &fan).await?;
    // Connect the watchers, a bounded number at a time.
    let mut watchers = Vec::with_capacity(args.clients);
    let mut pending = Vec::new();
    for client in 0..args.clients {
        let host = host_for(args, client + 1);
        let timeout = args.session_timeout();
        pending.push(tokio::spawn(
            async move { Conn::connect(&host, timeout).await },
        ));
        if pending.len() == 256 || client + 1 == args.clients {
            for task in pending.drain(..) {
                watchers.push(task.await?.context("connecting a watcher")?);
            }
        }
    }
    // Every watcher sets a data watch and has its reply before the write.
    for conn in &mut watchers {
        conn.send(Request::GetData(PathWatchRequest {
            path: fan.clone(),
            watch: true,
        }))
        .await?;
        conn.flush().await?;
    }
    for conn in &mut watchers {
        loop {
            if let Incoming::Reply { err, .. } = conn.recv().await? {
                if err != 0 {
                    bail!("watch not set: error {err}");
                }
                break;
            }
        }
    }
    // The receivers wait on their sockets before the clock starts: spawning ten thousand
    // tasks is the client's preparation, not the server's delivery.
    let tasks = spawn_started(watchers, |mut conn| async move {
        loop {
            if let Incoming::Notification = conn.recv().await? {
                return anyhow::Ok((Instant::now(), conn));
            }
        }
    })
    .await;
    let cpu_before = crate::cpu::own_cpu()?;
    let start = Instant::now();
    let err = writer
        .call(Request::SetData(SetDataRequest {
            path: fan,
            data: Some(vec![1; args.value_size]),
            version: -1,
        }))
        .await?;
    if err != 0 {
        bail!("setData failed: error {err}");
    }
    let mut stats = Stats::default();
    let mut last = Duration::ZERO;
    let mut conns = Vec::new();
    for task in tasks {
        let (arrived, conn) = tokio::time::timeout(Duration::from_secs(120), task)
            .await
            .context("notifications did not all arrive")???;
        let elapsed = arrived.saturating_duration_since(start);
        stats.record(elapsed, 0);
        last = last.max(elapsed);
        conns.push(conn);
    }
    let client_cpu = crate::cpu::own_cpu()?.saturating_sub(cpu_before);
    for conn in conns {
        let _ = conn.close().await;
    }
    let _ = writer.close().await;
    Ok(Report {
        stats,
        elapsed: last,
        extra: vec![
            ("fanout_ms".into(), last.as_secs_f64() * 1000.0),
            // What receiving cost this client: the CPU a server cannot have meanwhile.
            ("client_cpu_ms".into(), client_cpu.as_secs_f64() * 1000.0),
            ("watchers".into(), args.clients as f64),
        ],
        series: Vec::new(),
    })
}

/// Spawns `task(item)` for every item and returns once every task has begun, so each is
/// parked on its socket (or about to be): a clock started after this times only what
/// follows, not the spawning.
pub async fn spawn_started<I, F, Fut>(
    items: I,
    task: F,
) -> Vec<tokio::task::JoinHandle<Fut::Output>>
where
    I: IntoIterator,
    F: Fn(I::Item) -> Fut,
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    let started = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = items
        .into_iter()
        .map(|item| {
            let started = started.clone();
            let run = task(item);
            tokio::spawn(async move {
                started.fetch_add(1, Ordering::Relaxed);
                run.await
            })
        })
        .collect();
    while started.load(Ordering::Relaxed) < handles.len() as u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    handles
}

async fn fill(args: &Args) -> anyhow::Result<Report> {
    let base = format!("{}/fill", args.root);
    let mut setup = Conn::connect(&host_for(args, 0), args.session_timeout()).await?;
    ensure(&mut setup, &args.root).await?;
    ensure(&mut setup, &base).await?;
    setup.close().await?;
    let next = Arc::new(AtomicU64::new(0));
    let total = args.znodes as u64;
    let start = Instant::now();
    let progress_next = next.clone();
    let progress = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(5)).await;
            let done = progress_next.load(Ordering::Relaxed).min(total);
            eprintln!(
                "fill: {done}/{total} ({:.0}/s)",
                done as f64 / start.elapsed().as_secs_f64()
            );
        }
    });
    let shared = Arc::new(args.clone());
    let stats = clients(args, move |client| {
        let args = shared.clone();
        let next = next.clone();
        let base = base.clone();
        async move {
            let mut conn = Conn::connect(&host_for(&args, client), args.session_timeout()).await?;
            let value = vec![b'f'; args.value_size];
            let mut stats = Stats::default();
            let mut queue: VecDeque<Instant> = VecDeque::new();
            loop {
                while queue.len() < args.inflight {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= total {
                        break;
                    }
                    conn.send(create(format!("{base}/n{i:010}"), value.clone(), 0))
                        .await?;
                    queue.push_back(Instant::now());
                }
                if queue.is_empty() {
                    break;
                }
                conn.flush().await?;
                if let Incoming::Reply { err, .. } = conn.recv().await?
                    && let Some(sent) = queue.pop_front()
                {
                    stats.record(sent.elapsed(), if err == NODE_EXISTS { 0 } else { err });
                }
            }
            conn.close().await?;
            Ok(stats)
        }
    })
    .await?;
    progress.abort();
    Ok(Report {
        stats,
        elapsed: start.elapsed(),
        extra: Vec::new(),
        series: Vec::new(),
    })
}

/// Continuous writes through every host; each 100 ms window counts successful writes. A
/// client whose connection dies reconnects (to the next host) and carries on.
async fn failover(args: &Args) -> anyhow::Result<Report> {
    let mut setup = Conn::connect(&host_for(args, 0), args.session_timeout()).await?;
    ensure(&mut setup, &args.root).await?;
    ensure(&mut setup, &format!("{}/failover", args.root)).await?;
    setup.close().await?;
    let windows = Arc::new(
        (0..((args.duration * 10.0) as usize + 1))
            .map(|_| AtomicU64::new(0))
            .collect::<Vec<_>>(),
    );
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(args.duration);
    let shared = Arc::new(args.clone());
    let counts = windows.clone();
    let stats = clients(args, move |client| {
        let args = shared.clone();
        let windows = counts.clone();
        async move {
            let mut stats = Stats::default();
            let mut attempt = client;
            let value = vec![b'w'; args.value_size];
            while Instant::now() < end {
                let Ok(mut conn) =
                    Conn::connect(&host_for(&args, attempt), args.session_timeout()).await
                else {
                    attempt += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                };
                let path = format!("{}/failover/c-", args.root);
                let result: anyhow::Result<()> = async {
                    while Instant::now() < end {
                        let sent = Instant::now();
                        let err = tokio::time::timeout(
                            Duration::from_secs(5),
                            conn.call(create(path.clone(), value.clone(), 2)),
                        )
                        .await
                        .context("write timed out")??;
                        stats.record(sent.elapsed(), err);
                        if err == 0 {
                            let window = (start.elapsed().as_millis() / 100) as usize;
                            if let Some(count) = windows.get(window) {
                                count.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Ok(())
                }
                .await;
                if result.is_err() {
                    stats.record(Duration::ZERO, ErrorCode::ConnectionLoss.code());
                    attempt += 1;
                }
            }
            Ok(stats)
        }
    })
    .await?;
    let series: Vec<u64> = windows.iter().map(|w| w.load(Ordering::Relaxed)).collect();
    // The longest run of empty windows after the first write: the write gap.
    let first = series.iter().position(|c| *c > 0).unwrap_or(0);
    let (mut longest, mut run) = (0usize, 0usize);
    for count in &series[first..series.len().saturating_sub(1)] {
        if *count == 0 {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    Ok(Report {
        stats,
        elapsed: start.elapsed(),
        extra: vec![("max_gap_ms".into(), (longest * 100) as f64)],
        series,
    })
}
