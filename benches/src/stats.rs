//! Measurements: latency histogram, counts, errors by result code, extra figures.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use paddock_jute::ErrorCode;

use crate::Args;

/// What one client measured; merged into the report.
pub struct Stats {
    /// Latency in µs.
    pub latency: Histogram<u64>,
    /// Successful operations measured.
    pub ops: u64,
    /// Failed operations by result code.
    pub errors: BTreeMap<i32, u64>,
}

impl Default for Stats {
    fn default() -> Self {
        Self {
            latency: Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds"),
            ops: 0,
            errors: BTreeMap::new(),
        }
    }
}

impl Stats {
    /// Records one operation that took `elapsed` and ended with `err`.
    pub fn record(&mut self, elapsed: Duration, err: i32) {
        if err == 0 {
            self.ops += 1;
            let _ = self.latency.record((elapsed.as_micros() as u64).max(1));
        } else {
            *self.errors.entry(err).or_default() += 1;
        }
    }

    /// Adds another client's figures.
    pub fn merge(&mut self, other: &Stats) {
        let _ = self.latency.add(&other.latency);
        self.ops += other.ops;
        for (code, count) in &other.errors {
            *self.errors.entry(*code).or_default() += count;
        }
    }
}

/// The result of a run.
pub struct Report {
    /// Merged measurements.
    pub stats: Stats,
    /// Measured wall time.
    pub elapsed: Duration,
    /// Workload-specific figures (name, value).
    pub extra: Vec<(String, f64)>,
    /// Workload-specific series (failover windows).
    pub series: Vec<u64>,
}

fn error_name(code: i32) -> String {
    ErrorCode::from_code(code).map_or_else(|| code.to_string(), |c| format!("{c:?}"))
}

impl Report {
    fn percentile(&self, q: f64) -> f64 {
        self.stats.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// Operations per second.
    pub fn rate(&self) -> f64 {
        self.stats.ops as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Human-readable text.
    pub fn to_text(&self, args: &Args) -> String {
        let mut out = format!(
            "workload {:?}: {} ops in {:.2}s = {:.0} ops/s ({} clients x {} in flight)\n",
            args.workload,
            self.stats.ops,
            self.elapsed.as_secs_f64(),
            self.rate(),
            args.clients,
            args.inflight
        );
        if self.stats.ops > 0 {
            out.push_str(&format!(
                "latency ms: p50 {:.3}  p90 {:.3}  p99 {:.3}  p999 {:.3}  max {:.3}\n",
                self.percentile(0.5),
                self.percentile(0.9),
                self.percentile(0.99),
                self.percentile(0.999),
                self.stats.latency.max() as f64 / 1000.0
            ));
        }
        for (code, count) in &self.stats.errors {
            out.push_str(&format!("errors {}: {count}\n", error_name(*code)));
        }
        for (name, value) in &self.extra {
            out.push_str(&format!("{name}: {value:.3}\n"));
        }
        if !self.series.is_empty() {
            out.push_str(&format!("ops per 100 ms: {:?}\n", self.series));
        }
        out
    }

    /// One JSON object.
    pub fn to_json(&self, args: &Args) -> String {
        let errors: serde_json::Map<String, serde_json::Value> = self
            .stats
            .errors
            .iter()
            .map(|(code, count)| (error_name(*code), serde_json::Value::from(*count)))
            .collect();
        let mut value = serde_json::json!({
            "workload": format!("{:?}", args.workload),
            "clients": args.clients,
            "inflight": args.inflight,
            "value_size": args.value_size,
            "ops": self.stats.ops,
            "seconds": self.elapsed.as_secs_f64(),
            "ops_per_sec": self.rate(),
            "latency_ms": {
                "p50": self.percentile(0.5),
                "p90": self.percentile(0.9),
                "p99": self.percentile(0.99),
                "p999": self.percentile(0.999),
                "max": self.stats.latency.max() as f64 / 1000.0,
            },
            "errors": errors,
        });
        if let Some(object) = value.as_object_mut() {
            for (name, figure) in &self.extra {
                object.insert(name.clone(), serde_json::Value::from(*figure));
            }
            if !self.series.is_empty() {
                object.insert(
                    "ops_per_100ms".into(),
                    serde_json::Value::from(self.series.clone()),
                );
            }
        }
        value.to_string()
    }
}
