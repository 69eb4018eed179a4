//! Counters the four-letter words report: packets, latency, connections.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Server-wide counters, updated without locks.
#[derive(Debug)]
pub struct Metrics {
    /// Frames received from clients.
    pub packets_received: AtomicU64,
    /// Frames sent to clients.
    pub packets_sent: AtomicU64,
    /// Requests received and not yet answered.
    pub outstanding: AtomicI64,
    latency_count: AtomicU64,
    latency_total_us: AtomicU64,
    latency_min_us: AtomicU64,
    latency_max_us: AtomicU64,
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
            latency_count: AtomicU64::new(0),
            latency_total_us: AtomicU64::new(0),
            latency_min_us: AtomicU64::new(u64::MAX),
            latency_max_us: AtomicU64::new(0),
            auth_failed: AtomicU64::new(0),
            slow_connections_closed: AtomicU64::new(0),
            started: Instant::now(),
        }
    }
}

/// Request latency summary in ms, as srvr prints it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Shortest.
    pub min_ms: u64,
    /// Mean.
    pub avg_ms: f64,
    /// Longest.
    pub max_ms: u64,
    /// Requests measured.
    pub count: u64,
}

impl Metrics {
    /// Records one answered request.
    pub fn record(&self, elapsed: Duration) {
        let us = elapsed.as_micros() as u64;
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        self.latency_total_us.fetch_add(us, Ordering::Relaxed);
        self.latency_min_us.fetch_min(us, Ordering::Relaxed);
        self.latency_max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// The latency summary so far.
    pub fn latency(&self) -> Latency {
        let count = self.latency_count.load(Ordering::Relaxed);
        let total = self.latency_total_us.load(Ordering::Relaxed);
        let min = self.latency_min_us.load(Ordering::Relaxed);
        Latency {
            min_ms: if count == 0 { 0 } else { min / 1000 },
            avg_ms: if count == 0 {
                0.0
            } else {
                total as f64 / count as f64 / 1000.0
            },
            max_ms: self.latency_max_us.load(Ordering::Relaxed) / 1000,
            count,
        }
    }

    /// `srst`: forget the statistics gathered so far.
    pub fn reset(&self) {
        self.packets_received.store(0, Ordering::Relaxed);
        self.packets_sent.store(0, Ordering::Relaxed);
        self.latency_count.store(0, Ordering::Relaxed);
        self.latency_total_us.store(0, Ordering::Relaxed);
        self.latency_min_us.store(u64::MAX, Ordering::Relaxed);
        self.latency_max_us.store(0, Ordering::Relaxed);
    }
}
