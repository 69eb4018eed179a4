//! Four-letter words: the operator commands ZooKeeper answers on the client port, in the
//! formats tools parse (zktop, Prometheus exporters reading mntr, health checks).

use std::fmt::Write as _;
use std::sync::atomic::Ordering;

use paddock_jute::FourLetterWord;
use paddock_raft::Role;

use crate::server::Context;

/// The version string reported where ZooKeeper reports its own.
pub const VERSION: &str = concat!(
    "3.8.0-paddock-",
    env!("CARGO_PKG_VERSION"),
    ", built on 1970-01-01 00:00 UTC"
);

fn mode(ctx: &Context) -> &'static str {
    let status = ctx.status.borrow();
    if ctx.voters <= 1 {
        return "standalone";
    }
    match status.role {
        Role::Leader => "leader",
        _ => "follower",
    }
}

/// The answer to `word`, or ZooKeeper's refusal when it is not whitelisted.
pub(crate) fn answer(ctx: &Context, word: FourLetterWord) -> String {
    if !ctx.shared.config.allows(word) {
        return format!(
            "{} is not executed because it is not in the whitelist.\n",
            word.as_str()
        );
    }
    match word {
        FourLetterWord::Ruok => "imok".into(),
        FourLetterWord::Isro => "rw".into(),
        FourLetterWord::Srvr => srvr(ctx, false),
        FourLetterWord::Stat => srvr(ctx, true),
        FourLetterWord::Mntr => mntr(ctx),
        FourLetterWord::Conf => conf(ctx),
        FourLetterWord::Cons => cons(ctx),
        FourLetterWord::Crst => {
            let core = ctx.shared.core.lock();
            for handle in core.conns.values() {
                handle.info.received.store(0, Ordering::Relaxed);
                handle.info.sent.store(0, Ordering::Relaxed);
            }
            "Connection stats reset.\n".into()
        }
        FourLetterWord::Srst => {
            ctx.shared.metrics.reset();
            ctx.flush_times.reset();
            "Server stats reset.\n".into()
        }
        FourLetterWord::Envi => envi(),
        FourLetterWord::Wchs => {
            let core = ctx.shared.core.lock();
            format!(
                "{} connections watching {} paths\nTotal watches:{}\n",
                core.watches.connections(),
                core.watches.paths(),
                core.watches.count()
            )
        }
        FourLetterWord::Wchc => {
            let core = ctx.shared.core.lock();
            let mut out = String::new();
            for (conn, paths) in core.watches.by_connection() {
                let session = core
                    .conns
                    .get(&conn)
                    .map_or(0, |h| h.info.session_id.load(Ordering::Relaxed));
                let _ = writeln!(out, "0x{session:x}");
                for path in paths {
                    let _ = writeln!(out, "\t{path}");
                }
            }
            out.push('\n');
            out
        }
        FourLetterWord::Wchp => {
            let core = ctx.shared.core.lock();
            let mut out = String::new();
            for (path, conns) in core.watches.by_path() {
                let _ = writeln!(out, "{path}");
                for conn in conns {
                    let session = core
                        .conns
                        .get(&conn)
                        .map_or(0, |h| h.info.session_id.load(Ordering::Relaxed));
                    let _ = writeln!(out, "\t0x{session:x}");
                }
            }
            out.push('\n');
            out
        }
        FourLetterWord::Dump => dump(ctx),
        FourLetterWord::Dirs => {
            let size = ctx.data_size();
            format!("datadir_size: {size}\nlogdir_size: {size}\n")
        }
        FourLetterWord::Gtmk => "0".into(),
        FourLetterWord::Stmk => "0".into(),
    }
}

fn srvr(ctx: &Context, with_clients: bool) -> String {
    let latency = ctx.shared.metrics.latency.summary();
    let core = ctx.shared.core.lock();
    let mut out = format!("Zookeeper version: {VERSION}\n");
    if with_clients {
        out.push_str("Clients:\n");
        let mut conns: Vec<_> = core.conns.values().collect();
        conns.sort_by_key(|h| h.info.established_ms);
        for handle in conns {
            let info = &handle.info;
            let _ = writeln!(
                out,
                " /{}[1](queued={},recved={},sent={})",
                info.addr,
                info.queued.load(Ordering::Relaxed),
                info.received.load(Ordering::Relaxed),
                info.sent.load(Ordering::Relaxed)
            );
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "Latency min/avg/max: {}/{:.4}/{}",
        latency.min_ms, latency.avg_ms, latency.max_ms
    );
    let _ = writeln!(
        out,
        "Received: {}",
        ctx.shared.metrics.packets_received.load(Ordering::Relaxed)
    );
    let _ = writeln!(
        out,
        "Sent: {}",
        ctx.shared.metrics.packets_sent.load(Ordering::Relaxed)
    );
    let _ = writeln!(out, "Connections: {}", core.conns.len());
    let _ = writeln!(
        out,
        "Outstanding: {}",
        ctx.shared
            .metrics
            .outstanding
            .load(Ordering::Relaxed)
            .max(0)
    );
    let _ = writeln!(out, "Zxid: 0x{:x}", core.tree.last_zxid());
    let _ = writeln!(out, "Mode: {}", mode(ctx));
    // ZooKeeper counts the root twice (it is keyed as "" and "/").
    let _ = writeln!(out, "Node count: {}", core.tree.node_count() + 1);
    out
}

fn mntr(ctx: &Context) -> String {
    let latency = ctx.shared.metrics.latency.summary();
    let fsync = ctx.flush_times.summary();
    let status = ctx.status.borrow().clone();
    let core = ctx.shared.core.lock();
    let metrics = &ctx.shared.metrics;
    let mut lines: Vec<(String, String)> = vec![
        ("version".into(), VERSION.into()),
        ("server_state".into(), mode(ctx).into()),
        ("avg_latency".into(), format!("{:.4}", latency.avg_ms)),
        ("max_latency".into(), latency.max_ms.to_string()),
        ("min_latency".into(), latency.min_ms.to_string()),
        (
            "packets_received".into(),
            metrics.packets_received.load(Ordering::Relaxed).to_string(),
        ),
        (
            "packets_sent".into(),
            metrics.packets_sent.load(Ordering::Relaxed).to_string(),
        ),
        ("num_alive_connections".into(), core.conns.len().to_string()),
        (
            "outstanding_requests".into(),
            metrics
                .outstanding
                .load(Ordering::Relaxed)
                .max(0)
                .to_string(),
        ),
        (
            "znode_count".into(),
            (core.tree.node_count() + 1).to_string(),
        ),
        ("watch_count".into(), core.watches.count().to_string()),
        (
            "ephemerals_count".into(),
            core.tree.ephemeral_count().to_string(),
        ),
        (
            "approximate_data_size".into(),
            core.tree.approximate_data_size().to_string(),
        ),
        (
            "global_sessions".into(),
            core.tree.sessions().len().to_string(),
        ),
        ("local_sessions".into(), "0".into()),
        (
            "auth_failed_count".into(),
            metrics.auth_failed.load(Ordering::Relaxed).to_string(),
        ),
        (
            "uptime".into(),
            metrics.started.elapsed().as_millis().to_string(),
        ),
        ("open_file_descriptor_count".into(), open_fds().to_string()),
        ("max_file_descriptor_count".into(), max_fds().to_string()),
        ("last_proposal_size".into(), "-1".into()),
        (
            "connection_drop_count".into(),
            metrics
                .slow_connections_closed
                .load(Ordering::Relaxed)
                .to_string(),
        ),
        ("avg_fsynctime".into(), format!("{:.4}", fsync.avg_ms)),
        ("min_fsynctime".into(), fsync.min_ms.to_string()),
        ("max_fsynctime".into(), fsync.max_ms.to_string()),
        ("cnt_fsynctime".into(), fsync.count.to_string()),
        ("sum_fsynctime".into(), fsync.sum_ms.to_string()),
        ("paddock_raft_term".into(), status.term.to_string()),
        (
            "paddock_raft_commit_index".into(),
            status.commit.to_string(),
        ),
        (
            "paddock_raft_applied_index".into(),
            status.applied.to_string(),
        ),
        (
            "paddock_raft_leader_id".into(),
            status.leader_id.to_string(),
        ),
        (
            "paddock_snapshot_index".into(),
            status.snapshot_index.to_string(),
        ),
        ("paddock_digest".into(), core.tree.digest().to_string()),
    ];
    if status.role == Role::Leader {
        let followers = status
            .matched
            .iter()
            .filter(|(id, _)| *id != status.id)
            .count();
        let synced = status
            .matched
            .iter()
            .filter(|(id, m)| *id != status.id && *m + 1000 >= status.commit)
            .count();
        lines.push(("learners".into(), "0".into()));
        lines.push(("followers".into(), followers.to_string()));
        lines.push(("synced_followers".into(), synced.to_string()));
        lines.push(("pending_syncs".into(), "0".into()));
    }
    let mut out = String::new();
    for (key, value) in lines {
        let _ = writeln!(out, "zk_{key}\t{value}");
    }
    out
}

fn conf(ctx: &Context) -> String {
    let config = &ctx.shared.config;
    let dir = config
        .data_dir
        .as_ref()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let size = ctx.data_size();
    format!(
        "clientPort={}\nsecureClientPort=-1\ndataDir={dir}\ndataDirSize={size}\ndataLogDir={dir}\ndataLogSize={size}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog=-1\nserverId={}\n",
        config.client_port,
        config.tick.as_millis(),
        config.connections_per_ip_max,
        config.session_timeout_min.as_millis(),
        config.session_timeout_max.as_millis(),
        ctx.shared.node_id,
    )
}

fn cons(ctx: &Context) -> String {
    let core = ctx.shared.core.lock();
    let mut conns: Vec<_> = core.conns.values().collect();
    conns.sort_by_key(|h| h.info.established_ms);
    let mut out = String::new();
    for handle in conns {
        let info = &handle.info;
        let _ = writeln!(
            out,
            " /{}[1](queued={},recved={},sent={},sid=0x{:x},lop={},est={},to={},lcxid=0x{:x},lzxid=0x{:x})",
            info.addr,
            info.queued.load(Ordering::Relaxed),
            info.received.load(Ordering::Relaxed),
            info.sent.load(Ordering::Relaxed),
            info.session_id.load(Ordering::Relaxed),
            info.last_op.lock(),
            info.established_ms,
            info.timeout_ms.load(Ordering::Relaxed),
            info.last_xid.load(Ordering::Relaxed),
            core.tree.last_zxid(),
        );
    }
    out.push('\n');
    out
}

fn envi() -> String {
    let mut out = String::from("Environment:\n");
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let entries = [
        ("zookeeper.version", VERSION.to_owned()),
        ("host.name", host.trim().to_owned()),
        ("java.version", "none (paddock, Rust)".to_owned()),
        ("os.name", std::env::consts::OS.to_owned()),
        ("os.arch", std::env::consts::ARCH.to_owned()),
        (
            "user.dir",
            std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
        ),
    ];
    for (key, value) in entries {
        let _ = writeln!(out, "{key}={value}");
    }
    out
}

fn dump(ctx: &Context) -> String {
    let core = ctx.shared.core.lock();
    let mut out = String::from("SessionTracker dump:\n");
    let _ = writeln!(out, "Global Sessions({}):", core.tree.sessions().len());
    for (id, session) in core.tree.sessions() {
        let _ = writeln!(out, "0x{id:x}\t{}ms", session.timeout_ms);
    }
    out.push_str("ephemeral nodes dump:\n");
    let with_ephemerals: Vec<_> = core
        .tree
        .sessions()
        .iter()
        .filter(|(_, s)| !s.ephemerals.is_empty())
        .collect();
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", with_ephemerals.len());
    for (id, session) in with_ephemerals {
        let _ = writeln!(out, "0x{id:x}:");
        for path in &session.ephemerals {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    let _ = writeln!(out, "Connections ({}):", core.conns.len());
    for handle in core.conns.values() {
        let _ = writeln!(
            out,
            "\tip: /{} sessionId: 0x{:x}",
            handle.info.addr,
            handle.info.session_id.load(Ordering::Relaxed)
        );
    }
    out
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn max_fds() -> u64 {
    std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            limits
                .lines()
                .find(|l| l.starts_with("Max open files"))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok())
        })
        .unwrap_or(0)
}
