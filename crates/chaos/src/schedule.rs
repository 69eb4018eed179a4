//! The nemeses and their schedule.
//!
//! A schedule is an endless sequence of [`Step`]s drawn from a seeded generator: which
//! nemesis, a number that picks its target, how long the fault lasts and how long the
//! cluster then stays quiet. The same seed and nemesis set always give the same steps;
//! what a step resolves to at run time (which node is leader when "kill the leader"
//! runs) depends on the cluster, and the harness prints it.

use std::fmt;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// One kind of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Nemesis {
    /// Kill the leader (kill -9 / crash), restart it later.
    KillLeader,
    /// Kill a random node, restart it later.
    KillRandom,
    /// Pause a node longer than the session timeout (SIGSTOP/SIGCONT; in-process it is
    /// cut off from its peers instead).
    Pause,
    /// Cut the leader off from the majority.
    PartitionLeader,
    /// Cut one follower off from everyone.
    IsolateFollower,
    /// Two halves that only talk through one bridge node.
    Bridge,
    /// Majorities ring (5 nodes): each node sees only its two ring neighbours.
    Ring,
    /// Kill every node at once, restart them all.
    RestartAll,
    /// Wipe a caught-up follower's disk; it rejoins empty.
    WipeFollower,
}

impl Nemesis {
    /// Every nemesis, in a fixed order.
    pub const ALL: [Nemesis; 9] = [
        Nemesis::KillLeader,
        Nemesis::KillRandom,
        Nemesis::Pause,
        Nemesis::PartitionLeader,
        Nemesis::IsolateFollower,
        Nemesis::Bridge,
        Nemesis::Ring,
        Nemesis::RestartAll,
        Nemesis::WipeFollower,
    ];

    /// Its command-line name.
    pub fn name(self) -> &'static str {
        match self {
            Nemesis::KillLeader => "kill-leader",
            Nemesis::KillRandom => "kill-random",
            Nemesis::Pause => "pause",
            Nemesis::PartitionLeader => "partition-leader",
            Nemesis::IsolateFollower => "isolate-follower",
            Nemesis::Bridge => "bridge",
            Nemesis::Ring => "ring",
            Nemesis::RestartAll => "restart-all",
            Nemesis::WipeFollower => "wipe-follower",
        }
    }

    /// Parses a command-line name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|n| n.name() == name)
    }

    /// Whether it needs network partitions between nodes (which only the in-process
    /// mode can make, through the transport's fault table).
    pub fn is_partition(self) -> bool {
        matches!(
            self,
            Nemesis::PartitionLeader | Nemesis::IsolateFollower | Nemesis::Bridge | Nemesis::Ring
        )
    }

    /// The fewest nodes it makes sense on.
    pub fn nodes_min(self) -> usize {
        match self {
            Nemesis::Ring => 5,
            _ => 3,
        }
    }
}

impl fmt::Display for Nemesis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `NAME[,NAME…]` or `all`.
pub fn parse_nemeses(list: &str) -> Result<Vec<Nemesis>, String> {
    if list.trim() == "all" {
        return Ok(Nemesis::ALL.to_vec());
    }
    let mut out = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let nemesis = Nemesis::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = Nemesis::ALL.iter().map(|n| n.name()).collect();
            format!(
                "unknown nemesis {name:?} (known: {}, or all)",
                known.join(", ")
            )
        })?;
        if !out.contains(&nemesis) {
            out.push(nemesis);
        }
    }
    if out.is_empty() {
        return Err("no nemesis named".into());
    }
    Ok(out)
}

/// Parses `90`, `90s`, `500ms`, `2m`, `1h`, `1m30s`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    if text.is_empty() {
        return Err("empty duration".into());
    }
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("bad duration {text:?}: expected a number"));
        }
        let number: u64 = rest[..digits]
            .parse()
            .map_err(|e| format!("bad duration {text:?}: {e}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        total += match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number * 60),
            "h" => Duration::from_secs(number * 3600),
            _ => {
                return Err(format!(
                    "bad duration {text:?}: unit {unit:?} (ms, s, m, h)"
                ));
            }
        };
    }
    Ok(total)
}

/// Fault and quiet durations of a schedule.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Shortest fault.
    pub fault_min: Duration,
    /// Longest fault.
    pub fault_max: Duration,
    /// A pause lasts at least this long (longer than the session timeout).
    pub pause_min: Duration,
    /// Shortest quiet time between faults.
    pub quiet_min: Duration,
    /// Longest quiet time between faults.
    pub quiet_max: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            fault_min: Duration::from_millis(1500),
            fault_max: Duration::from_millis(4000),
            pause_min: Duration::from_millis(5500),
            quiet_min: Duration::from_millis(1000),
            quiet_max: Duration::from_millis(2500),
        }
    }
}

/// One scheduled fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Which nemesis.
    pub nemesis: Nemesis,
    /// Picks the target (a node index modulo the candidates, or a topology's seed).
    pub pick: u64,
    /// How long the fault lasts before it is healed.
    pub fault: Duration,
    /// How long the cluster stays fault-free afterwards.
    pub quiet: Duration,
}

/// An endless, seeded sequence of steps over a set of nemeses.
#[derive(Debug)]
pub struct Schedule {
    rng: StdRng,
    nemeses: Vec<Nemesis>,
    timing: Timing,
}

impl Schedule {
    /// A schedule over `nemeses` (which must not be empty to yield anything).
    pub fn new(seed: u64, nemeses: &[Nemesis], timing: Timing) -> Self {
        Self {
            rng: StdRng::seed_from_u64(seed),
            nemeses: nemeses.to_vec(),
            timing,
        }
    }
}

fn between(rng: &mut StdRng, low: Duration, high: Duration) -> Duration {
    let (low, high) = (low.as_millis() as u64, high.as_millis() as u64);
    Duration::from_millis(rng.gen_range(low..=high.max(low)))
}

impl Iterator for Schedule {
    type Item = Step;

    fn next(&mut self) -> Option<Step> {
        let nemesis = *self.nemeses.choose(&mut self.rng)?;
        let pick = self.rng.gen_range(0..u64::MAX);
        let t = self.timing;
        let fault = match nemesis {
            Nemesis::Pause => between(
                &mut self.rng,
                t.pause_min,
                t.pause_min + Duration::from_secs(2),
            ),
            Nemesis::RestartAll => between(&mut self.rng, Duration::from_millis(300), t.fault_min),
            _ => between(&mut self.rng, t.fault_min, t.fault_max),
        };
        let quiet = between(&mut self.rng, t.quiet_min, t.quiet_max);
        Some(Step {
            nemesis,
            pick,
            fault,
            quiet,
        })
    }
}

/// A permutation of `0..n` chosen by `pick`.
pub fn permutation(n: usize, pick: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut StdRng::seed_from_u64(pick));
    order
}

/// Directed links (from, to) to cut for a bridge: the nodes in `pick`'s order split
/// into a left half, one bridge node, and a right half; left and right cannot talk,
/// the bridge talks to both.
pub fn bridge_cuts(n: usize, pick: u64) -> (Vec<(usize, usize)>, String) {
    let order = permutation(n, pick);
    let middle = n / 2;
    let (left, rest) = order.split_at(middle);
    let (bridge, right) = rest.split_at(1);
    let mut cuts = Vec::new();
    for &a in left {
        for &b in right {
            cuts.push((a, b));
            cuts.push((b, a));
        }
    }
    let describe = format!("{left:?} <-> bridge {} <-> {right:?}", bridge[0]);
    (cuts, describe)
}

/// Directed links to cut for a majorities ring: nodes in `pick`'s order form a ring,
/// and each talks only to its two neighbours, so each sees a majority (itself and two
/// others of five) but no two see the same one.
pub fn ring_cuts(n: usize, pick: u64) -> (Vec<(usize, usize)>, String) {
    let order = permutation(n, pick);
    let mut cuts = Vec::new();
    for i in 0..n {
        for j in 0..n {
            let distance = i.abs_diff(j).min(n - i.abs_diff(j));
            if distance > 1 {
                cuts.push((order[i], order[j]));
            }
        }
    }
    (cuts, format!("ring {order:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn nemesis_names_round_trip() {
        for n in Nemesis::ALL {
            assert_eq!(Nemesis::from_name(n.name()), Some(n));
        }
        assert_eq!(parse_nemeses("all").unwrap().len(), Nemesis::ALL.len());
        assert_eq!(
            parse_nemeses("pause,kill-leader,pause").unwrap(),
            vec![Nemesis::Pause, Nemesis::KillLeader]
        );
        assert!(parse_nemeses("meteor").is_err());
    }

    #[test]
    fn schedule_is_reproducible_from_its_seed() {
        let a: Vec<Step> = Schedule::new(42, &Nemesis::ALL, Timing::default())
            .take(20)
            .collect();
        let b: Vec<Step> = Schedule::new(42, &Nemesis::ALL, Timing::default())
            .take(20)
            .collect();
        let c: Vec<Step> = Schedule::new(43, &Nemesis::ALL, Timing::default())
            .take(20)
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        let pauses = Schedule::new(7, &[Nemesis::Pause], Timing::default()).take(10);
        for step in pauses {
            assert!(step.fault >= Timing::default().pause_min);
        }
    }

    fn reachable(n: usize, cuts: &[(usize, usize)], node: usize) -> BTreeSet<usize> {
        (0..n).filter(|&j| !cuts.contains(&(node, j))).collect()
    }

    #[test]
    fn bridge_leaves_only_the_bridge_seeing_everyone() {
        for pick in 0..20 {
            let (cuts, _) = bridge_cuts(5, pick);
            let full: Vec<usize> = (0..5)
                .filter(|&i| reachable(5, &cuts, i).len() == 5)
                .collect();
            assert_eq!(full.len(), 1, "pick {pick}: {cuts:?}");
            for i in 0..5 {
                assert!(reachable(5, &cuts, i).len() >= 3);
            }
        }
    }

    #[test]
    fn ring_gives_every_node_a_different_majority() {
        for pick in 0..20 {
            let (cuts, _) = ring_cuts(5, pick);
            let views: BTreeSet<BTreeSet<usize>> = (0..5).map(|i| reachable(5, &cuts, i)).collect();
            assert_eq!(views.len(), 5);
            for view in &views {
                assert_eq!(view.len(), 3);
            }
            // Symmetric.
            for &(a, b) in &cuts {
                assert!(cuts.contains(&(b, a)));
            }
        }
    }
}
