//! A running summary of durations in the shape ZooKeeper's `mntr` reports them
//! (`zk_avg_*`, `zk_min_*`, `zk_max_*`, `zk_cnt_*`, `zk_sum_*`, in milliseconds): written
//! by the thread that times something, read and reset by `mntr` and `srst`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Count, total, shortest and longest of the durations recorded since the last reset,
/// kept without locks. A reader racing a writer may see one sample half counted (in
/// the count but not yet the total), which a monitoring summary can afford.
#[derive(Debug)]
pub struct DurationSummary {
    count: AtomicU64,
    total_us: AtomicU64,
    min_us: AtomicU64,
    max_us: AtomicU64,
}

/// A [`DurationSummary`] read at one moment, in milliseconds as ZooKeeper prints them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Durations recorded.
    pub count: u64,
    /// Shortest, whole milliseconds (0 when nothing was recorded).
    pub min_ms: u64,
    /// Mean.
    pub avg_ms: f64,
    /// Longest, whole milliseconds.
    pub max_ms: u64,
    /// Sum of all, whole milliseconds.
    pub sum_ms: u64,
}

impl Default for DurationSummary {
    fn default() -> Self {
        Self {
            count: AtomicU64::new(0),
            total_us: AtomicU64::new(0),
            min_us: AtomicU64::new(u64::MAX),
            max_us: AtomicU64::new(0),
        }
    }
}

impl DurationSummary {
    /// Adds one duration.
    pub fn record(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.count.fetch_add(1, Ordering::Relaxed);
        self.total_us.fetch_add(us, Ordering::Relaxed);
        self.min_us.fetch_min(us, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
    }

    /// What was recorded since the last reset.
    pub fn summary(&self) -> Summary {
        let count = self.count.load(Ordering::Relaxed);
        let total_us = self.total_us.load(Ordering::Relaxed);
        let min_us = self.min_us.load(Ordering::Relaxed);
        Summary {
            count,
            min_ms: if count == 0 { 0 } else { min_us / 1000 },
            avg_ms: if count == 0 {
                0.0
            } else {
                total_us as f64 / count as f64 / 1000.0
            },
            max_ms: self.max_us.load(Ordering::Relaxed) / 1000,
            sum_ms: total_us / 1000,
        }
    }

    /// Forgets everything recorded (`srst`).
    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.total_us.store(0, Ordering::Relaxed);
        self.min_us.store(u64::MAX, Ordering::Relaxed);
        self.max_us.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summarises_in_milliseconds_and_resets() {
        let summary = DurationSummary::default();
        assert_eq!(summary.summary().count, 0);
        assert_eq!(summary.summary().min_ms, 0);
        summary.record(Duration::from_micros(1_500));
        summary.record(Duration::from_micros(4_700));
        summary.record(Duration::from_micros(300));
        let read = summary.summary();
        assert_eq!(read.count, 3);
        assert_eq!(read.min_ms, 0);
        assert_eq!(read.max_ms, 4);
        assert_eq!(read.sum_ms, 6);
        assert!((read.avg_ms - 6.5 / 3.0).abs() < 1e-9);
        summary.reset();
        assert_eq!(
            summary.summary(),
            Summary {
                count: 0,
                min_ms: 0,
                avg_ms: 0.0,
                max_ms: 0,
                sum_ms: 0
            }
        );
        summary.record(Duration::from_millis(2));
        assert_eq!(summary.summary().min_ms, 2);
    }
}
