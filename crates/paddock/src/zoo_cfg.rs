//! zoo.cfg: ZooKeeper's configuration format, read so that an existing ZooKeeper 3.8
//! ensemble config starts a Paddock cluster unchanged.
//!
//! Lines are `key=value`; `#` starts a comment line; blank lines are ignored. Keys
//! ZooKeeper knows that Paddock does not need are accepted and reported once as ignored;
//! Paddock's own keys start with `paddock.`. Every error names the file, the line, the
//! key and the reason.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A configuration error, located.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {key}: {reason}")]
pub struct ConfigError {
    /// The config file.
    pub file: String,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: usize,
    /// The key at fault.
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// One `server.N` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerLine {
    /// N.
    pub id: u64,
    /// Host for peer traffic.
    pub host: String,
    /// Quorum port (Paddock's Raft port).
    pub peer_port: u16,
    /// Election port (unused by Paddock: Raft elects over the peer port).
    pub election_port: u16,
    /// `observer` role (Paddock treats every server as a participant).
    pub observer: bool,
    /// `;[clientAddr:]clientPort`, if given.
    pub client: Option<(Option<String>, u16)>,
}

/// A parsed zoo.cfg with ZooKeeper's defaults applied.
#[derive(Debug, Clone)]
pub struct ZooCfg {
    /// Where it was read from.
    pub file: String,
    /// `tickTime`, ms.
    pub tick_ms: u64,
    /// `initLimit` (ticks; informational).
    pub init_limit: u64,
    /// `syncLimit` (ticks; informational).
    pub sync_limit: u64,
    /// `dataDir`.
    pub data_dir: Option<PathBuf>,
    /// `dataLogDir` (defaults to dataDir).
    pub data_log_dir: Option<PathBuf>,
    /// `clientPort`.
    pub client_port: Option<u16>,
    /// `clientPortAddress`.
    pub client_port_address: Option<String>,
    /// `server.N` lines by N.
    pub servers: BTreeMap<u64, ServerLine>,
    /// `maxClientCnxns` (default 60).
    pub max_client_cnxns: usize,
    /// `minSessionTimeout`, ms (default 2 × tickTime).
    pub min_session_timeout_ms: Option<u64>,
    /// `maxSessionTimeout`, ms (default 20 × tickTime).
    pub max_session_timeout_ms: Option<u64>,
    /// `4lw.commands.whitelist` (default `srvr`), lower-cased words or `*`.
    pub four_letter_words: Vec<String>,
    /// `extendedTypesEnabled`.
    pub extended_types_enabled: bool,
    /// `jute.maxbuffer`, bytes (default 1 MiB - 1).
    pub jute_max_buffer: usize,
    /// `autopurge.snapRetainCount` (snapshots kept; Paddock keeps at least 2).
    pub snap_retain_count: u64,
    /// `autopurge.purgeInterval`, hours (Paddock compacts continuously; informational).
    pub purge_interval_hours: u64,
    /// The super digest (`zookeeper.DigestAuthenticationProvider.superDigest` or
    /// `paddock.superDigest`).
    pub super_digest: Option<String>,
    /// `paddock.raftTickMs` (default 50).
    pub raft_tick_ms: u64,
    /// `paddock.electionTicks` (default 6).
    pub election_ticks: usize,
    /// `paddock.heartbeatTicks` (default 2).
    pub heartbeat_ticks: usize,
    /// `paddock.snapshotEntries` (default 100000).
    pub snapshot_entries: u64,
    /// `paddock.proposalHoldMs` (default 0: never holds): how long a leader with a full
    /// pipeline holds new proposals so that they are flushed together.
    pub proposal_hold_ms: u64,
    /// `paddock.proposalHoldUncommitted` (default 64): uncommitted entries that make a
    /// pipeline full.
    pub proposal_hold_uncommitted: u64,
    /// `paddock.containerCheckIntervalMs` (ZooKeeper's znode.container.checkIntervalMs,
    /// default 60000).
    pub container_check_interval_ms: u64,
    /// `fsync.warningthresholdms` (default 1000): a log flush slower than this is logged
    /// as a warning.
    pub fsync_warning_ms: u64,
    /// Keys ZooKeeper knows that Paddock ignores, with their lines.
    pub ignored: Vec<(usize, String)>,
}

/// Keys ZooKeeper 3.8 accepts that have no effect in Paddock.
const IGNORED_KEYS: &[&str] = &[
    "admin.enableServer",
    "admin.serverAddress",
    "admin.serverPort",
    "admin.idleTimeout",
    "admin.commandURL",
    "standaloneEnabled",
    "reconfigEnabled",
    "secureClientPort",
    "secureClientPortAddress",
    "globalOutstandingLimit",
    "preAllocSize",
    "snapCount",
    "snapSizeLimitInKb",
    "txnLogSizeLimitInKb",
    "commitLogCount",
    "forceSync",
    "leaderServes",
    "cnxTimeout",
    "electionAlg",
    "quorumListenOnAllIPs",
    "syncEnabled",
    "localSessionsEnabled",
    "localSessionsUpgradingEnabled",
    "clientPortListenBacklog",
    "metricsProvider.className",
    "metricsProvider.httpPort",
    "metricsProvider.httpHost",
    "metricsProvider.exportJvmInfo",
    "dynamicConfigFile",
    "peerType",
    "skipACL",
    "maxCnxns",
    "connectToLearnerMasterLimit",
    "sslQuorum",
    "portUnification",
    "serverCnxnFactory",
    "authProvider.1",
    "quorum.auth.enableSasl",
    "initLimit",
    "syncLimit",
];

impl ZooCfg {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            key: String::new(),
            reason: format!("cannot read: {e}"),
        })?;
        Self::parse(&path.display().to_string(), &text)
    }

    /// Parses `text` (the contents of `file`).
    pub fn parse(file: &str, text: &str) -> Result<Self, ConfigError> {
        let mut cfg = ZooCfg {
            file: file.to_owned(),
            tick_ms: 3000,
            init_limit: 10,
            sync_limit: 5,
            data_dir: None,
            data_log_dir: None,
            client_port: None,
            client_port_address: None,
            servers: BTreeMap::new(),
            max_client_cnxns: 60,
            min_session_timeout_ms: None,
            max_session_timeout_ms: None,
            four_letter_words: vec!["srvr".into()],
            extended_types_enabled: false,
            jute_max_buffer: 0xfffff,
            snap_retain_count: 3,
            purge_interval_hours: 0,
            super_digest: None,
            raft_tick_ms: 50,
            election_ticks: 6,
            heartbeat_ticks: 2,
            snapshot_entries: 100_000,
            proposal_hold_ms: 0,
            proposal_hold_uncommitted: 64,
            container_check_interval_ms: 60_000,
            fsync_warning_ms: 1000,
            ignored: Vec::new(),
        };
        let mut seen: BTreeMap<String, usize> = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let err = |key: &str, reason: String| ConfigError {
                file: file.to_owned(),
                line,
                key: key.to_owned(),
                reason,
            };
            let Some((key, value)) = trimmed.split_once('=') else {
                return Err(err(trimmed, "expected key=value".into()));
            };
            let (key, value) = (key.trim(), value.trim());
            if let Some(first) = seen.insert(key.to_owned(), line) {
                return Err(err(key, format!("given twice (first on line {first})")));
            }
            let number = |what: &str| -> Result<u64, ConfigError> {
                value.parse::<u64>().map_err(|_| {
                    err(
                        key,
                        format!("{what} must be a non-negative integer, got {value:?}"),
                    )
                })
            };
            match key {
                "tickTime" => {
                    cfg.tick_ms = number("tickTime")?;
                    if cfg.tick_ms == 0 {
                        return Err(err(key, "must be positive".into()));
                    }
                }
                "initLimit" => {
                    cfg.init_limit = number(key)?;
                    cfg.ignored.push((line, key.to_owned()));
                }
                "syncLimit" => {
                    cfg.sync_limit = number(key)?;
                    cfg.ignored.push((line, key.to_owned()));
                }
                "dataDir" => cfg.data_dir = Some(PathBuf::from(value)),
                "dataLogDir" => cfg.data_log_dir = Some(PathBuf::from(value)),
                "clientPort" => cfg.client_port = Some(port(value).map_err(|r| err(key, r))?),
                "clientPortAddress" => cfg.client_port_address = Some(value.to_owned()),
                "maxClientCnxns" => cfg.max_client_cnxns = number(key)? as usize,
                "minSessionTimeout" => cfg.min_session_timeout_ms = Some(number(key)?),
                "maxSessionTimeout" => cfg.max_session_timeout_ms = Some(number(key)?),
                "4lw.commands.whitelist" => {
                    let words: Vec<String> = value
                        .split(',')
                        .map(|w| w.trim().to_ascii_lowercase())
                        .filter(|w| !w.is_empty())
                        .collect();
                    for word in &words {
                        if word != "*" && paddock_jute::FourLetterWord::from_name(word).is_none() {
                            return Err(err(key, format!("unknown four-letter word {word:?}")));
                        }
                    }
                    cfg.four_letter_words = words;
                }
                "extendedTypesEnabled" | "zookeeper.extendedTypesEnabled" => {
                    cfg.extended_types_enabled = boolean(value).map_err(|r| err(key, r))?;
                }
                "jute.maxbuffer" => {
                    let bytes = number(key)?;
                    if !(1024..=(1 << 30)).contains(&bytes) {
                        return Err(err(key, "must be between 1 KiB and 1 GiB".into()));
                    }
                    cfg.jute_max_buffer = bytes as usize;
                }
                "autopurge.snapRetainCount" => cfg.snap_retain_count = number(key)?,
                "autopurge.purgeInterval" => cfg.purge_interval_hours = number(key)?,
                "zookeeper.DigestAuthenticationProvider.superDigest" | "paddock.superDigest" => {
                    if value.split(':').count() != 2 {
                        return Err(err(key, "expected super:<base64 sha1>".into()));
                    }
                    cfg.super_digest = Some(value.to_owned());
                }
                "paddock.raftTickMs" => cfg.raft_tick_ms = number(key)?.max(1),
                "paddock.electionTicks" => cfg.election_ticks = (number(key)? as usize).max(2),
                "paddock.heartbeatTicks" => cfg.heartbeat_ticks = (number(key)? as usize).max(1),
                "paddock.snapshotEntries" => cfg.snapshot_entries = number(key)?.max(100),
                "paddock.proposalHoldMs" => cfg.proposal_hold_ms = number(key)?,
                "paddock.proposalHoldUncommitted" => {
                    cfg.proposal_hold_uncommitted = number(key)?.max(1);
                }
                "fsync.warningthresholdms" | "zookeeper.fsync.warningthresholdms" => {
                    cfg.fsync_warning_ms = number(key)?;
                }
                "paddock.containerCheckIntervalMs" | "znode.container.checkIntervalMs" => {
                    cfg.container_check_interval_ms = number(key)?.max(10);
                }
                _ if key.starts_with("server.") => {
                    let id = key["server.".len()..]
                        .parse::<u64>()
                        .ok()
                        .filter(|id| (1..=127).contains(id))
                        .ok_or_else(|| {
                            err(key, "server id must be an integer from 1 to 127".into())
                        })?;
                    let server = server_line(id, value).map_err(|r| err(key, r))?;
                    cfg.servers.insert(id, server);
                }
                _ if IGNORED_KEYS.contains(&key)
                    || key.starts_with("ssl.")
                    || key.starts_with("zookeeper.") =>
                {
                    cfg.ignored.push((line, key.to_owned()));
                }
                _ if key.starts_with("paddock.") => {
                    return Err(err(key, "unknown Paddock key".into()));
                }
                _ => return Err(err(key, "unknown key".into())),
            }
        }
        cfg.check()?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), ConfigError> {
        let whole = |key: &str, reason: &str| ConfigError {
            file: self.file.clone(),
            line: 0,
            key: key.to_owned(),
            reason: reason.to_owned(),
        };
        if self.data_dir.is_none() {
            return Err(whole("dataDir", "is required"));
        }
        if self.client_port.is_none() && self.servers.values().all(|s| s.client.is_none()) {
            return Err(whole(
                "clientPort",
                "is required (or give ;clientPort in server.N lines)",
            ));
        }
        if let (Some(min), Some(max)) = (self.min_session_timeout_ms, self.max_session_timeout_ms)
            && min > max
        {
            return Err(whole(
                "minSessionTimeout",
                "is larger than maxSessionTimeout",
            ));
        }
        Ok(())
    }

    /// This server's id: `myid` in dataDir for an ensemble, 1 for a standalone config.
    pub fn my_id(&self) -> Result<u64, ConfigError> {
        if self.servers.is_empty() {
            return Ok(1);
        }
        let dir = self.data_dir.clone().unwrap_or_default();
        let path = dir.join("myid");
        let text = std::fs::read_to_string(&path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            line: 0,
            key: "myid".into(),
            reason: format!("cannot read: {e}"),
        })?;
        let id = text.trim().parse::<u64>().map_err(|_| ConfigError {
            file: path.display().to_string(),
            line: 1,
            key: "myid".into(),
            reason: format!("not a server id: {:?}", text.trim()),
        })?;
        if !self.servers.contains_key(&id) {
            return Err(ConfigError {
                file: path.display().to_string(),
                line: 1,
                key: "myid".into(),
                reason: format!("{id} has no server.{id} line in {}", self.file),
            });
        }
        Ok(id)
    }

    /// Peer (Raft) address of every server: the `server.N` quorum ports, or for a
    /// standalone config one local node on an ephemeral port.
    pub fn peers(&self) -> Result<BTreeMap<u64, SocketAddr>, ConfigError> {
        if self.servers.is_empty() {
            return Ok([(1, SocketAddr::from(([127, 0, 0, 1], 0)))]
                .into_iter()
                .collect());
        }
        self.servers
            .values()
            .map(|s| {
                let addr = resolve(&s.host, s.peer_port).map_err(|reason| ConfigError {
                    file: self.file.clone(),
                    line: 0,
                    key: format!("server.{}", s.id),
                    reason,
                })?;
                Ok((s.id, addr))
            })
            .collect()
    }

    /// Where server `id` listens for clients.
    pub fn client_addr(&self, id: u64) -> Result<SocketAddr, ConfigError> {
        let from_line = self.servers.get(&id).and_then(|s| s.client.clone());
        let (host, port) = match from_line {
            Some((host, port)) => (host.or_else(|| self.client_port_address.clone()), port),
            None => (
                self.client_port_address.clone(),
                self.client_port.unwrap_or(2181),
            ),
        };
        let host = host.unwrap_or_else(|| "0.0.0.0".into());
        resolve(&host, port).map_err(|reason| ConfigError {
            file: self.file.clone(),
            line: 0,
            key: "clientPortAddress".into(),
            reason,
        })
    }

    /// The session timeout bounds, ms.
    pub fn session_timeouts(&self) -> (Duration, Duration) {
        let min = self.min_session_timeout_ms.unwrap_or(self.tick_ms * 2);
        let max = self.max_session_timeout_ms.unwrap_or(self.tick_ms * 20);
        (
            Duration::from_millis(min),
            Duration::from_millis(max.max(min)),
        )
    }
}

fn port(value: &str) -> Result<u16, String> {
    value
        .parse::<u16>()
        .ok()
        .filter(|p| *p > 0)
        .ok_or_else(|| format!("not a port: {value:?}"))
}

fn boolean(value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "true" | "yes" => Ok(true),
        "false" | "no" => Ok(false),
        _ => Err(format!("expected true or false, got {value:?}")),
    }
}

fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to nothing"))
}

/// `host:peerPort:electionPort[:participant|observer][;[clientAddr:]clientPort]`.
fn server_line(id: u64, value: &str) -> Result<ServerLine, String> {
    let (quorum, client) = match value.split_once(';') {
        Some((quorum, client)) => (quorum, Some(client)),
        None => (value, None),
    };
    let parts: Vec<&str> = quorum.split(':').collect();
    if !(3..=4).contains(&parts.len()) {
        return Err("expected host:peerPort:electionPort[:participant|observer]".into());
    }
    let observer = match parts.get(3) {
        None | Some(&"participant") => false,
        Some(&"observer") => true,
        Some(other) => return Err(format!("unknown role {other:?}")),
    };
    let client = match client {
        None => None,
        Some(client) => Some(match client.rsplit_once(':') {
            Some((addr, p)) => (Some(addr.to_owned()), port(p)?),
            None => (None, port(client)?),
        }),
    };
    Ok(ServerLine {
        id,
        host: parts[0].to_owned(),
        peer_port: port(parts[1])?,
        election_port: port(parts[2])?,
        observer,
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const THREE: &str = "tickTime=2000\ninitLimit=10\nsyncLimit=5\ndataDir=/var/lib/zk\nclientPort=2181\n\
        # a comment\n\nserver.1=10.0.0.1:2888:3888\nserver.2=10.0.0.2:2888:3888:participant\n\
        server.3=10.0.0.3:2888:3888;0.0.0.0:2182\nadmin.enableServer=false\n4lw.commands.whitelist=ruok, mntr\n";

    #[test]
    fn parses_a_zookeeper_ensemble_config() {
        let cfg = ZooCfg::parse("zoo.cfg", THREE).unwrap();
        assert_eq!(cfg.tick_ms, 2000);
        assert_eq!(cfg.servers.len(), 3);
        assert_eq!(cfg.servers[&3].client, Some((Some("0.0.0.0".into()), 2182)));
        assert_eq!(cfg.peers().unwrap()[&2], "10.0.0.2:2888".parse().unwrap());
        assert_eq!(cfg.client_addr(1).unwrap().port(), 2181);
        assert_eq!(cfg.client_addr(3).unwrap().port(), 2182);
        assert_eq!(cfg.four_letter_words, vec!["ruok", "mntr"]);
        assert_eq!(
            cfg.session_timeouts(),
            (Duration::from_secs(4), Duration::from_secs(40))
        );
        assert!(cfg.ignored.iter().any(|(_, k)| k == "admin.enableServer"));
        assert_eq!(
            (cfg.proposal_hold_ms, cfg.proposal_hold_uncommitted),
            (0, 64)
        );
        assert_eq!(cfg.fsync_warning_ms, 1000);
        let slow =
            ZooCfg::parse("zoo.cfg", &format!("{THREE}fsync.warningthresholdms=20\n")).unwrap();
        assert_eq!(slow.fsync_warning_ms, 20);
        assert!(slow.ignored.iter().all(|(_, k)| !k.starts_with("fsync")));
    }

    #[test]
    fn proposal_hold_can_be_turned_on_and_tuned() {
        let cfg = ZooCfg::parse(
            "zoo.cfg",
            "dataDir=/x\nclientPort=1\npaddock.proposalHoldMs=3\npaddock.proposalHoldUncommitted=128\n",
        )
        .unwrap();
        assert_eq!(
            (cfg.proposal_hold_ms, cfg.proposal_hold_uncommitted),
            (3, 128)
        );
    }

    #[test]
    fn errors_name_file_line_key_and_reason() {
        let error =
            ZooCfg::parse("bad.cfg", "dataDir=/x\nclientPort=2181\ntickTime=fast\n").unwrap_err();
        assert_eq!(
            (error.file.as_str(), error.line, error.key.as_str()),
            ("bad.cfg", 3, "tickTime")
        );
        assert!(
            error.to_string().starts_with("bad.cfg:3: tickTime:"),
            "{error}"
        );
        for (text, key) in [
            ("dataDir=/x\nclientPort=0\n", "clientPort"),
            ("dataDir=/x\nclientPort=1\nserver.1=h:1\n", "server.1"),
            ("dataDir=/x\nclientPort=1\nnonsense=1\n", "nonsense"),
            ("dataDir=/x\nclientPort=1\nclientPort=2\n", "clientPort"),
            ("clientPort=1\n", "dataDir"),
            (
                "dataDir=/x\nclientPort=1\n4lw.commands.whitelist=nope\n",
                "4lw.commands.whitelist",
            ),
            ("dataDir=/x\nclientPort=1\njust a line\n", "just a line"),
        ] {
            assert_eq!(ZooCfg::parse("f", text).unwrap_err().key, key, "{text}");
        }
    }
}
