//! What this machine allows at best, measured without any server: the fsync and loopback
//! round trip every replicated write pays, the time until two of three replicas appending
//! at once on this one disk have synced (a three-node cluster on one machine commits then,
//! and the disk overlaps their flushes only in part), the durable append of Paddock's own
//! log store (a record appended to its segment file and synced, what each replica pays), a
//! quorum write's messages and fsyncs alone between threads (see `quorum_write`), and the
//! cost of delivering one notification frame on each of W loopback TCP connections, which
//! every watch fan-out pays.

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Context;
use paddock_jute::{EventType, Record, ReplyHeader, WatcherEvent, keeper_state, xid};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::Args;
use crate::stats::{Report, Stats};

/// Rounds of the fan-out probe; the median is reported.
const FANOUT_ROUNDS: usize = 5;

/// Median fsync, loopback round trip and fan-out delivery: what no server can beat.
pub async fn run(args: &Args) -> anyhow::Result<Report> {
    let fsync = median_ms(fsyncs(args)?);
    let quorum_fsync = median_ms(quorum_fsyncs(args)?);
    let log_flush = median_ms(log_flushes(args)?);
    let rtt = median_ms(round_trips().await?);
    let fanout = fanout(args).await?;
    let fanout_cpu_bound = median_ms(fanout.iter().map(FanoutRound::cpu_bound).collect());
    let fanout_sender_cpu = median_ms(fanout.iter().map(|r| r.sender_cpu).collect());
    let fanout_receiver_cpu = median_ms(fanout.iter().map(|r| r.receiver_cpu).collect());
    let fanout = median_ms(fanout.iter().map(|r| r.wall).collect());
    let data_dir = args.data_dir.clone();
    let replicated =
        tokio::task::spawn_blocking(move || crate::quorum_write::samples(&data_dir, 500)).await??;
    let replicated = median_ms(replicated);
    Ok(Report {
        stats: Stats::default(),
        elapsed: Duration::ZERO,
        // A replicated create needs at least: client → leader → follower round trips
        // (two) and one fsync on the follower (the leader's overlaps it).
        extra: vec![
            ("fsync_ms".into(), fsync),
            ("loopback_rtt_ms".into(), rtt),
            ("write_floor_ms".into(), fsync + 2.0 * rtt),
            // Three replicas on one disk: the commit waits for the second of three
            // concurrent fsyncs, which one disk overlaps only in part.
            ("quorum_fsync_ms".into(), quorum_fsync),
            ("quorum_write_floor_ms".into(), quorum_fsync + 2.0 * rtt),
            // The same with the log store's durable append in place of the bare fsync:
            // what a Paddock write pays before any consensus or server work.
            ("log_flush_ms".into(), log_flush),
            ("log_write_floor_ms".into(), log_flush + 2.0 * rtt),
            // Nothing but a quorum commit's messages and fsyncs between a client, a leader
            // and two followers, each its own thread: adds the wake-ups a cluster on one
            // machine pays, which the sums above leave out.
            ("replicated_write_floor_ms".into(), replicated),
            ("fanout_floor_ms".into(), fanout),
            // The CPU one frame on each connection costs the sender and the receiver,
            // and the least wall time that CPU allows spread over every core: below it no
            // server can deliver to this client, however many threads it sends from.
            ("fanout_sender_cpu_ms".into(), fanout_sender_cpu),
            ("fanout_receiver_cpu_ms".into(), fanout_receiver_cpu),
            ("fanout_cpu_bound_ms".into(), fanout_cpu_bound),
            ("watchers".into(), args.clients as f64),
        ],
        series: Vec::new(),
    })
}

fn median_ms(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples
        .get(samples.len() / 2)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn fsyncs(args: &Args) -> anyhow::Result<Vec<Duration>> {
    let path = args
        .data_dir
        .join(format!("paddock-bench-fsync-{}", std::process::id()));
    let mut file = crate::quorum_write::create_padded(&path)?;
    let mut samples = Vec::new();
    for _ in 0..500 {
        let start = Instant::now();
        file.write_all(&[7u8; 100])?;
        file.sync_data()?;
        samples.push(start.elapsed());
    }
    drop(file);
    let _ = std::fs::remove_file(&path);
    Ok(samples)
}

/// Three threads, one file each, append 100 bytes and fsync at the same moment, 500
/// times; each sample is the time until two of them (a majority of three) are durable.
fn quorum_fsyncs(args: &Args) -> anyhow::Result<Vec<Duration>> {
    const REPLICAS: usize = 3;
    let paths: Vec<_> = (0..REPLICAS)
        .map(|i| {
            args.data_dir
                .join(format!("paddock-bench-quorum-{}-{i}", std::process::id()))
        })
        .collect();
    let files: std::io::Result<Vec<std::fs::File>> = paths
        .iter()
        .map(|path| crate::quorum_write::create_padded(path))
        .collect();
    let samples = files.map_err(anyhow::Error::from).and_then(|files| {
        let go = std::sync::Barrier::new(REPLICAS + 1);
        let (done, finished) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let rounds = 500;
        std::thread::scope(|scope| {
            for file in &files {
                let done = done.clone();
                let go = &go;
                scope.spawn(move || {
                    for _ in 0..rounds {
                        go.wait();
                        let synced = (&*file)
                            .write_all(&[7u8; 100])
                            .and_then(|()| file.sync_data());
                        if done.send(synced).is_err() {
                            return;
                        }
                    }
                });
            }
            drop(done);
            // Every round runs to the end even after an error: the writers wait at the
            // barrier for it.
            let mut samples = Vec::with_capacity(rounds);
            let mut failure = None;
            for _ in 0..rounds {
                go.wait();
                let start = Instant::now();
                for replica in 1..=REPLICAS {
                    let synced = finished.recv()?;
                    if replica == REPLICAS / 2 + 1 {
                        samples.push(start.elapsed());
                    }
                    if let Err(error) = synced {
                        failure.get_or_insert(error);
                    }
                }
            }
            match failure {
                Some(error) => Err(error.into()),
                None => Ok(samples),
            }
        })
    });
    for path in &paths {
        let _ = std::fs::remove_file(path);
    }
    samples
}

/// Appends one 100-byte entry to a fresh Paddock log store and makes it durable, 500
/// times: the store's write and its fdatasync.
fn log_flushes(args: &Args) -> anyhow::Result<Vec<Duration>> {
    let dir = args
        .data_dir
        .join(format!("paddock-bench-log-{}", std::process::id()));
    let store = paddock_raft::LogStore::open(&dir, &[1])?;
    let mut samples = Vec::new();
    for index in 1..=500 {
        let entry = raft::prelude::Entry {
            index,
            term: 1,
            data: vec![7u8; 100].into(),
            ..Default::default()
        };
        let start = Instant::now();
        store.append(&[entry])?;
        store.flush()?;
        samples.push(start.elapsed());
    }
    drop(store);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(samples)
}

async fn round_trips() -> anyhow::Result<Vec<Duration>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let echo = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await?;
        socket.set_nodelay(true)?;
        let mut buf = [0u8; 100];
        loop {
            if socket.read_exact(&mut buf).await.is_err() {
                return anyhow::Ok(());
            }
            socket.write_all(&buf).await?;
        }
    });
    let mut client = TcpStream::connect(addr).await?;
    client.set_nodelay(true)?;
    let mut samples = Vec::new();
    let mut buf = [0u8; 100];
    for _ in 0..2000 {
        let start = Instant::now();
        client.write_all(&buf).await?;
        client.read_exact(&mut buf).await?;
        samples.push(start.elapsed());
    }
    drop(client);
    let _ = echo.await;
    Ok(samples)
}

/// A watch notification for `{root}/fan`, framed as a server sends it.
fn notification_frame(args: &Args) -> Vec<u8> {
    let mut frame = vec![0; 4];
    ReplyHeader {
        xid: xid::NOTIFICATION,
        zxid: 0x1_0000_0001,
        err: 0,
    }
    .write_to(&mut frame);
    WatcherEvent {
        event_type: EventType::NodeDataChanged,
        state: keeper_state::SYNC_CONNECTED,
        path: format!("{}/fan", args.root),
    }
    .write_to(&mut frame);
    paddock_jute::codec::finish_frame(&mut frame);
    frame
}

/// One round of the fan-out probe: when the last frame arrived, and the CPU the sender
/// and the receiver used for it.
struct FanoutRound {
    wall: Duration,
    sender_cpu: Duration,
    receiver_cpu: Duration,
}

impl FanoutRound {
    /// The least wall time this much CPU allows on this machine's cores.
    fn cpu_bound(&self) -> Duration {
        (self.sender_cpu + self.receiver_cpu) / crate::cpu::cores() as u32
    }
}

/// Times the delivery of one notification frame on each of `--clients` loopback
/// connections, measured like the watch-fanout workload: the receiving tasks wait on their
/// sockets, the clock starts as the sender is told to go, and stops when the last has its
/// frame. The sending end is another process (this binary, `--workload fanout-sender`), as
/// a server would be, and writes each frame straight to its socket: no lookup, no queue, no
/// task switch. It reports the CPU its writes took, so the probe also gives the least CPU a
/// fan-out costs on both ends.
async fn fanout(args: &Args) -> anyhow::Result<Vec<FanoutRound>> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let mut sender = tokio::process::Command::new(std::env::current_exe()?)
        .args([
            "--workload",
            "fanout-sender",
            "--connect",
            &addr.to_string(),
        ])
        .args(["--clients", &args.clients.to_string(), "--root", &args.root])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("starting the fan-out sender")?;
    let mut go = sender.stdin.take().context("sender stdin")?;
    let mut reports = BufReader::new(sender.stdout.take().context("sender stdout")?).lines();
    let mut sockets = Vec::with_capacity(args.clients);
    while sockets.len() < args.clients {
        let (socket, _) = tokio::time::timeout(Duration::from_secs(30), listener.accept())
            .await
            .context("the fan-out sender did not connect")??;
        socket.set_nodelay(true)?;
        sockets.push(socket);
    }
    let frame_len = notification_frame(args).len();
    let mut rounds = Vec::new();
    for _ in 0..FANOUT_ROUNDS {
        let tasks = crate::workloads::spawn_started(sockets.drain(..), |mut socket| async move {
            let mut frame = vec![0u8; frame_len];
            socket.read_exact(&mut frame).await?;
            anyhow::Ok((Instant::now(), socket))
        })
        .await;
        let cpu_before = crate::cpu::own_cpu()?;
        let start = Instant::now();
        go.write_all(b"go\n").await?;
        go.flush().await?;
        let mut last = Duration::ZERO;
        for task in tasks {
            let (arrived, socket) = task.await??;
            last = last.max(arrived.saturating_duration_since(start));
            sockets.push(socket);
        }
        let receiver_cpu = crate::cpu::own_cpu()?.saturating_sub(cpu_before);
        let report = reports
            .next_line()
            .await?
            .context("the fan-out sender ended without reporting")?;
        let sender_ns: u64 = report
            .strip_prefix("cpu_ns ")
            .and_then(|ns| ns.parse().ok())
            .with_context(|| format!("unexpected report from the fan-out sender: {report:?}"))?;
        rounds.push(FanoutRound {
            wall: last,
            sender_cpu: Duration::from_nanos(sender_ns),
            receiver_cpu,
        });
    }
    drop(go);
    let _ = sender.wait().await;
    Ok(rounds)
}

/// The sending end of the fan-out probe: connects `--clients` sockets to `--connect`,
/// then writes one notification frame on each for every line read from stdin.
pub async fn fanout_sender(args: &Args) -> anyhow::Result<Report> {
    let mut sockets = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let socket = TcpStream::connect(&args.connect).await?;
        socket.set_nodelay(true)?;
        sockets.push(socket);
    }
    let frame = notification_frame(args);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut stdout = tokio::io::stdout();
    while lines.next_line().await?.is_some() {
        let cpu_before = crate::cpu::own_cpu()?;
        for socket in &mut sockets {
            socket.write_all(&frame).await?;
        }
        let used = crate::cpu::own_cpu()?.saturating_sub(cpu_before);
        stdout
            .write_all(format!("cpu_ns {}\n", used.as_nanos()).as_bytes())
            .await?;
        stdout.flush().await?;
    }
    Ok(Report {
        stats: Stats::default(),
        elapsed: Duration::ZERO,
        extra: Vec::new(),
        series: Vec::new(),
    })
}
