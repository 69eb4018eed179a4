//! Settings of the client side of one server, named after their zoo.cfg keys.

use std::collections::BTreeSet;
use std::time::Duration;

use paddock_jute::FourLetterWord;

/// How the client port behaves. Defaults follow ZooKeeper 3.8.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// ZooKeeper's `tickTime`: the unit of session timeouts and session checks.
    pub tick: Duration,
    /// `minSessionTimeout` (default 2 ticks).
    pub session_timeout_min: Duration,
    /// `maxSessionTimeout` (default 20 ticks).
    pub session_timeout_max: Duration,
    /// `maxClientCnxns`: connections from one IP address (0: unlimited).
    pub connections_per_ip_max: usize,
    /// Connections in total, whatever their address.
    pub connections_max: usize,
    /// `jute.maxbuffer`: the largest frame accepted from a client, bytes.
    pub frame_len_max: usize,
    /// Frames queued to one client before it counts as too slow and is disconnected.
    pub outbound_frames_max: usize,
    /// Requests of one session in flight before its connection stops being read.
    pub outstanding_per_session_max: usize,
    /// Time a new connection has to send its ConnectRequest.
    pub handshake_timeout: Duration,
    /// `4lw.commands.whitelist`; `srvr` is always allowed, as in ZooKeeper.
    pub four_letter_words: BTreeSet<FourLetterWord>,
    /// `extendedTypesEnabled`: allow TTL nodes.
    pub extended_types_enabled: bool,
    /// `zookeeper.DigestAuthenticationProvider.superDigest` (`super:<base64 sha1>`).
    pub super_digest: Option<String>,
    /// How often the leader looks for empty containers and expired TTL nodes.
    pub reaper_interval: Duration,
    /// Deletes the reaper proposes per run (`znode.container.maxPerMinute`-like bound).
    pub reaper_batch_max: usize,
    /// Text for `conf` and operators: the data directory, if any.
    pub data_dir: Option<std::path::PathBuf>,
    /// Client-facing addresses of every member (`server.N=…;clientAddr:port`), for
    /// `/zookeeper/config`-style reporting and the `conf` word.
    pub client_port: u16,
}

impl Default for ServerConfig {
    fn default() -> Self {
        let tick = Duration::from_millis(2000);
        Self {
            tick,
            session_timeout_min: tick * 2,
            session_timeout_max: tick * 20,
            connections_per_ip_max: 60,
            connections_max: 60_000,
            frame_len_max: paddock_jute::FRAME_LEN_MAX_DEFAULT,
            outbound_frames_max: 100_000,
            outstanding_per_session_max: 1_000,
            handshake_timeout: Duration::from_secs(10),
            four_letter_words: [FourLetterWord::Srvr].into_iter().collect(),
            extended_types_enabled: false,
            super_digest: None,
            reaper_interval: Duration::from_secs(60),
            reaper_batch_max: 10_000,
            data_dir: None,
            client_port: 2181,
        }
    }
}

impl ServerConfig {
    /// A config with `tick` as tickTime and session bounds derived from it.
    pub fn with_tick(tick: Duration) -> Self {
        Self {
            tick,
            session_timeout_min: tick * 2,
            session_timeout_max: tick * 20,
            ..Self::default()
        }
    }

    /// Allows every four-letter word (`4lw.commands.whitelist=*`).
    pub fn allow_all_four_letter_words(mut self) -> Self {
        self.four_letter_words = FourLetterWord::ALL.iter().copied().collect();
        self
    }

    /// The negotiated timeout for a requested one, clamped as ZooKeeper clamps it.
    pub fn negotiate_timeout(&self, requested_ms: i32) -> i32 {
        let min = self.session_timeout_min.as_millis() as i64;
        let max = self.session_timeout_max.as_millis() as i64;
        i64::from(requested_ms).clamp(min, max.max(min)) as i32
    }

    /// Whether `word` may be answered.
    pub fn allows(&self, word: FourLetterWord) -> bool {
        word == FourLetterWord::Srvr || self.four_letter_words.contains(&word)
    }
}
