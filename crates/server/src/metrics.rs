//! Counters the four-letter words report: packets, latency, connections.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Instant;

use paddock_raft::DurationSummary;

/// Server-wide counters, updated without locks.
#[derive(Debug)]
pub struct Metrics {
    /// Frames received from clients.
    pub packets_received: AtomicU64,
    /// Frames sent to clients.
    pub packets_sent: AtomicU64,
    /// Requests received and not yet answered.
    pub outstanding: AtomicI64,
    /// Time from a request's arrival to its reply.
    pub latency: DurationSummary,
    /// Authentication attempts refused.
    pub auth_failed: AtomicU64,
    /// Connections closed for being too slow to read their replies.
    pub slow_connections_closed: AtomicU64,
    /// When the server started.
    pub started: Instant,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            packets_received: AtomicU64::new(0),
            packets_sent: AtomicU64::new(0),
            outstanding: AtomicI64::new(0),
            latency: DurationSummary::default(),
            auth_failed: AtomicU64::new(0),
            slow_connections_closed: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

impl Metrics {
    /// `srst`: forget the statistics gathered so far.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency.reset();
    }
}
