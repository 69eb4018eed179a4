//! The fault-injection seam of the peer transport: cut, delay or randomly drop traffic
//! between chosen nodes, and heal. Nodes of an in-process cluster share one [`Faults`],
//! so a test (or the embedded fixture) can partition the cluster at will.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use rand::Rng;

#[derive(Debug, Default)]
struct State {
    cut: HashSet<(u64, u64)>,
    delay: HashMap<(u64, u64), Duration>,
    drop_probability: f64,
}

/// Shared table of injected network faults. Cloning shares it. Empty by default: no
/// fault injected, and the checks cost a read lock.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    state: Arc<RwLock<State>>,
}

impl Faults {
    /// A table with no faults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops all traffic from `from` to `to` (one direction).
    pub fn cut(&self, from: u64, to: u64) {
        self.state.write().cut.insert((from, to));
    }

    /// Cuts every link between a node of `a` and a node of `b`, both directions.
    pub fn partition(&self, a: &[u64], b: &[u64]) {
        let mut state = self.state.write();
        for &x in a {
            for &y in b {
                state.cut.insert((x, y));
                state.cut.insert((y, x));
            }
        }
    }

    /// Cuts `node` off from every node in `all`.
    pub fn isolate(&self, node: u64, all: &[u64]) {
        let others: Vec<u64> = all.iter().copied().filter(|&n| n != node).collect();
        self.partition(&[node], &others);
    }

    /// Delays every message from `from` to `to` by `delay`.
    pub fn delay(&self, from: u64, to: u64, delay: Duration) {
        self.state.write().delay.insert((from, to), delay);
    }

    /// Drops each message with this probability (0.0 to 1.0), on every link.
    pub fn drop_probability(&self, probability: f64) {
        self.state.write().drop_probability = probability.clamp(0.0, 1.0);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        *self.state.write() = State::default();
    }

    /// Whether a message from `from` to `to` gets through now.
    pub fn allows(&self, from: u64, to: u64) -> bool {
        let state = self.state.read();
        if state.cut.contains(&(from, to)) {
            return false;
        }
        state.drop_probability <= 0.0 || rand::thread_rng().r#gen::<f64>() >= state.drop_probability
    }

    /// The delay injected on the link from `from` to `to`, if any.
    pub fn delay_of(&self, from: u64, to: u64) -> Option<Duration> {
        self.state.read().delay.get(&(from, to)).copied()
    }
}
