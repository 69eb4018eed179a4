//! The compare-and-set register: one znode per key, its state the pair (data, version).
//!
//! Operations, as the workload issues them:
//! - read: `sync` then `getData` on the same session (pipelined on one connection, so
//!   FIFO puts the read after the sync) returns (data, version);
//! - cas: `setData` with an expected version; `BadVersion` is a definite failure;
//! - write: `setData` with version -1.
//!
//! Outcomes that are unknown (connection lost, timed out) are modelled as "may or may
//! not have taken effect" for writes (the search may place them or leave them out);
//! unknown reads tell nothing and are dropped before checking. Histories are checked
//! per key (linearizability is compositional), and the workload moves to a fresh key
//! every hundred or so operations so each key's search stays small.

use std::fmt;

use crate::linearizability::{self, Linearizability, Model, Timed};
use crate::verdict::Verdict;

/// What the client asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterCall {
    /// sync + getData.
    Read,
    /// setData with an expected version.
    Cas {
        /// The version the client expects the znode to have.
        expected_version: i32,
        /// The data it writes (unique per write).
        value: String,
    },
    /// setData with version -1.
    Write {
        /// The data it writes (unique per write).
        value: String,
    },
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterReturn {
    /// A read saw this data and version.
    Read {
        /// The data.
        value: String,
        /// Its version.
        version: i32,
    },
    /// A write was applied, giving the znode this version.
    Written {
        /// The new version.
        version: i32,
    },
    /// Definite failure: the version did not match.
    BadVersion,
    /// Definite failure: the znode does not exist.
    NoNode,
    /// The outcome is unknown.
    Unknown,
}

/// One recorded register operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterOp {
    /// The client (worker) that issued it.
    pub process: usize,
    /// Invocation time, ns since the start of the run.
    pub call_ns: u64,
    /// Completion time, or `None` when the outcome is unknown.
    pub return_ns: Option<u64>,
    /// What was asked.
    pub call: RegisterCall,
    /// What came back.
    pub ret: RegisterReturn,
}

impl RegisterOp {
    /// An operation that completed (ok or a definite failure).
    pub fn completed(
        process: usize,
        call_ns: u64,
        return_ns: u64,
        call: RegisterCall,
        ret: RegisterReturn,
    ) -> Self {
        let return_ns = (ret != RegisterReturn::Unknown).then_some(return_ns);
        Self {
            process,
            call_ns,
            return_ns,
            call,
            ret,
        }
    }

    /// An operation whose outcome is unknown.
    pub fn unknown(process: usize, call_ns: u64, call: RegisterCall) -> Self {
        Self {
            process,
            call_ns,
            return_ns: None,
            call,
            ret: RegisterReturn::Unknown,
        }
    }

    /// Whether removing this operation from a history can only make the history
    /// *more* linearizable: it never changes the state (a read, or a definite failure).
    /// Shrinking a failing history may drop these and stay a proof of the failure.
    fn is_observer(&self) -> bool {
        matches!(
            self.ret,
            RegisterReturn::Read { .. } | RegisterReturn::BadVersion | RegisterReturn::NoNode
        )
    }
}

impl Timed for RegisterOp {
    fn call_ns(&self) -> u64 {
        self.call_ns
    }
    fn return_ns(&self) -> Option<u64> {
        self.return_ns
    }
}

fn seconds(ns: u64) -> String {
    format!("{:>10.6}s", ns as f64 / 1e9)
}

impl fmt::Display for RegisterOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self
            .return_ns
            .map_or_else(|| "         ?  ".to_owned(), seconds);
        write!(
            f,
            "[{} → {}] p{:<3} ",
            seconds(self.call_ns),
            end,
            self.process
        )?;
        match &self.call {
            RegisterCall::Read => write!(f, "read")?,
            RegisterCall::Cas {
                expected_version,
                value,
            } => write!(f, "cas(v{expected_version} → {value:?})")?,
            RegisterCall::Write { value } => write!(f, "write({value:?})")?,
        }
        match &self.ret {
            RegisterReturn::Read { value, version } => write!(f, " = ({value:?}, v{version})"),
            RegisterReturn::Written { version } => write!(f, " = ok v{version}"),
            RegisterReturn::BadVersion => write!(f, " = BadVersion"),
            RegisterReturn::NoNode => write!(f, " = NoNode"),
            RegisterReturn::Unknown => write!(f, " = unknown"),
        }
    }
}

/// The sequential specification of a znode used as a register. State: `None` when the
/// znode does not exist, else (data, version). Keys start existing with empty data at
/// version 0 (the workload creates each key before anyone uses it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Register;

impl Model for Register {
    type Op = RegisterOp;
    type State = Option<(String, i32)>;

    fn init(&self) -> Self::State {
        Some((String::new(), 0))
    }

    fn step(&self, state: &Self::State, op: &RegisterOp, next: &mut Vec<Self::State>) {
        let version = state.as_ref().map(|(_, v)| *v);
        match (&op.call, &op.ret) {
            (RegisterCall::Read, RegisterReturn::Read { value, version: v }) => {
                if state.as_ref() == Some(&(value.clone(), *v)) {
                    next.push(state.clone());
                }
            }
            (_, RegisterReturn::NoNode) => {
                if state.is_none() {
                    next.push(None);
                }
            }
            // An unknown read observes nothing (they are dropped before checking anyway).
            (RegisterCall::Read, _) => next.push(state.clone()),
            (
                RegisterCall::Cas {
                    expected_version,
                    value,
                },
                ret,
            ) => match ret {
                RegisterReturn::Written { version: new } => {
                    if version == Some(*expected_version) && *new == expected_version + 1 {
                        next.push(Some((value.clone(), *new)));
                    }
                }
                RegisterReturn::BadVersion => {
                    if version.is_some() && version != Some(*expected_version) {
                        next.push(state.clone());
                    }
                }
                // Its "never happened" alternative is leaving it out (optional).
                RegisterReturn::Unknown => {
                    if version == Some(*expected_version) {
                        next.push(Some((value.clone(), expected_version + 1)));
                    }
                }
                RegisterReturn::Read { .. } | RegisterReturn::NoNode => {}
            },
            (RegisterCall::Write { value }, ret) => match (ret, version) {
                (RegisterReturn::Written { version: new }, Some(v)) if *new == v + 1 => {
                    next.push(Some((value.clone(), *new)));
                }
                (RegisterReturn::Unknown, Some(v)) => next.push(Some((value.clone(), v + 1))),
                _ => {}
            },
        }
    }

    /// A write (cas or blind) whose outcome is unknown may never have happened.
    fn optional(&self, op: &RegisterOp) -> bool {
        op.ret == RegisterReturn::Unknown && op.call != RegisterCall::Read
    }
}

/// Drops what carries no information (reads whose outcome is unknown) and orders the
/// rest by invocation time.
pub fn prepare(ops: &[RegisterOp]) -> Vec<RegisterOp> {
    let mut kept: Vec<RegisterOp> = ops
        .iter()
        .filter(|op| !(op.call == RegisterCall::Read && op.ret == RegisterReturn::Unknown))
        .cloned()
        .collect();
    kept.sort_by_key(|op| (op.call_ns, op.return_ns.unwrap_or(u64::MAX)));
    kept
}

/// Checks one key's history (after [`prepare`]).
pub fn check_key(ops: &[RegisterOp], budget: u64) -> Linearizability {
    linearizability::check(&Register, ops, budget)
}

/// Shrinks a non-linearizable key history: drops reads and definite failures one at a
/// time while the rest stays non-linearizable. Only state-preserving operations are
/// dropped, so the result is still a proof: if the full history were linearizable,
/// so would be every history obtained by removing observers from it.
pub fn shrink(ops: &[RegisterOp], budget: u64) -> Vec<RegisterOp> {
    let mut kept = ops.to_vec();
    let mut i = kept.len();
    while i > 0 {
        i -= 1;
        if !kept[i].is_observer() {
            continue;
        }
        let mut candidate = kept.clone();
        candidate.remove(i);
        if matches!(
            check_key(&candidate, budget),
            Linearizability::NotLinearizable { .. }
        ) {
            kept = candidate;
        }
    }
    kept
}

/// The slice of a (shrunk) failing history to show: all of it when it is small, else
/// the operations overlapping the one the search could not place, with a little of
/// what came before for context.
pub fn offending_slice(ops: &[RegisterOp], stuck: usize, small: usize) -> Vec<RegisterOp> {
    if ops.len() <= small {
        return ops.to_vec();
    }
    let Some(target) = ops.get(stuck) else {
        return ops.to_vec();
    };
    let from = target.call_ns;
    let to = target.return_ns.unwrap_or(u64::MAX);
    let overlapping: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].call_ns <= to && ops[i].return_ns.is_none_or(|r| r >= from))
        .collect();
    let mut before: Vec<usize> = (0..ops.len())
        .filter(|&i| ops[i].return_ns.is_some_and(|r| r < from))
        .collect();
    before.sort_by_key(|&i| ops[i].return_ns);
    let context = before.len().saturating_sub(5);
    let mut chosen: Vec<usize> = before[context..].to_vec();
    chosen.extend(overlapping);
    chosen.sort_unstable();
    chosen.dedup();
    chosen.into_iter().map(|i| ops[i].clone()).collect()
}

/// A shrunk failing history this short is shown whole.
const SLICE_SMALL: usize = 12;

/// Per-key results of checking every register key.
#[derive(Debug, Default)]
pub struct RegisterReport {
    /// Keys checked.
    pub keys: usize,
    /// Operations checked (after dropping unknown reads).
    pub ops: usize,
    /// Most search steps any key needed.
    pub steps_max: u64,
    /// Keys on which the search gave up.
    pub gave_up: Vec<String>,
    /// Keys proven not linearizable, each with its offending slice.
    pub failures: Vec<(String, Vec<String>)>,
}

/// Checks every key and turns the results into a verdict. `budget` bounds each key's
/// search.
pub fn check_all<'a>(
    keys: impl IntoIterator<Item = (String, &'a [RegisterOp])>,
    budget: u64,
) -> Verdict {
    let mut report = RegisterReport::default();
    for (key, ops) in keys {
        let ops = prepare(ops);
        report.keys += 1;
        report.ops += ops.len();
        let result = check_key(&ops, budget);
        report.steps_max = report.steps_max.max(result.steps());
        match result {
            Linearizability::Linearizable { .. } => {}
            Linearizability::GaveUp { .. } => report.gave_up.push(key),
            Linearizability::NotLinearizable { .. } => {
                let shrunk = shrink(&ops, budget);
                let mut lines = vec![format!(
                    "key {key}: {} ops, shrunk to {} that are still not linearizable",
                    ops.len(),
                    shrunk.len()
                )];
                if let Linearizability::NotLinearizable { stuck, .. } = check_key(&shrunk, budget) {
                    lines.push(format!(
                        "  the search could not place: {}",
                        shrunk[stuck.op]
                    ));
                    lines.push(format!(
                        "  after the longest legal prefix ({} ops), state = {}",
                        stuck.prefix.len(),
                        stuck.state
                    ));
                    let slice = offending_slice(&shrunk, stuck.op, SLICE_SMALL);
                    if slice.len() < shrunk.len() {
                        lines.push(format!(
                            "  the {} ops around it (the last 5 completed before it began, and all overlapping it):",
                            slice.len()
                        ));
                    }
                    for op in slice {
                        lines.push(format!("  {op}"));
                    }
                }
                report.failures.push((key, lines));
            }
        }
    }
    verdict(report, budget)
}

fn verdict(report: RegisterReport, budget: u64) -> Verdict {
    const NAME: &str = "linearizable registers";
    if !report.failures.is_empty() {
        let names: Vec<&str> = report.failures.iter().map(|(k, _)| k.as_str()).collect();
        let detail = report
            .failures
            .iter()
            .flat_map(|(_, lines)| lines.iter().cloned())
            .collect();
        return Verdict::fail(
            NAME,
            format!(
                "{} of {} keys not linearizable ({})",
                names.len(),
                report.keys,
                names.join(", ")
            ),
            detail,
        );
    }
    if !report.gave_up.is_empty() {
        return Verdict::unknown(
            NAME,
            format!(
                "search budget ({budget} steps/key) exhausted on {} of {} keys ({}); the rest linearizable",
                report.gave_up.len(),
                report.keys,
                report.gave_up.join(", ")
            ),
            Vec::new(),
        );
    }
    Verdict::pass(
        NAME,
        format!(
            "{} keys, {} ops, all linearizable (most search steps on one key: {})",
            report.keys, report.ops, report.steps_max
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Status;

    fn read(p: usize, call: u64, ret: u64, value: &str, version: i32) -> RegisterOp {
        RegisterOp::completed(
            p,
            call,
            ret,
            RegisterCall::Read,
            RegisterReturn::Read {
                value: value.into(),
                version,
            },
        )
    }

    fn cas(
        p: usize,
        call: u64,
        ret: u64,
        expected: i32,
        value: &str,
        out: RegisterReturn,
    ) -> RegisterOp {
        RegisterOp::completed(
            p,
            call,
            ret,
            RegisterCall::Cas {
                expected_version: expected,
                value: value.into(),
            },
            out,
        )
    }

    fn cas_unknown(p: usize, call: u64, expected: i32, value: &str) -> RegisterOp {
        RegisterOp::unknown(
            p,
            call,
            RegisterCall::Cas {
                expected_version: expected,
                value: value.into(),
            },
        )
    }

    fn write(p: usize, call: u64, ret: u64, value: &str, version: i32) -> RegisterOp {
        RegisterOp::completed(
            p,
            call,
            ret,
            RegisterCall::Write {
                value: value.into(),
            },
            RegisterReturn::Written { version },
        )
    }

    fn ok(version: i32) -> RegisterReturn {
        RegisterReturn::Written { version }
    }

    fn linearizable(ops: &[RegisterOp]) -> bool {
        match check_key(&prepare(ops), 100_000) {
            Linearizability::Linearizable { .. } => true,
            Linearizability::NotLinearizable { .. } => false,
            Linearizability::GaveUp { .. } => panic!("gave up on a tiny history"),
        }
    }

    #[test]
    fn sequential_history_is_linearizable() {
        let ops = [
            read(1, 0, 1, "", 0),
            cas(1, 2, 3, 0, "a", ok(1)),
            read(2, 4, 5, "a", 1),
            cas(2, 6, 7, 1, "b", ok(2)),
            cas(1, 8, 9, 1, "c", RegisterReturn::BadVersion),
            write(1, 10, 11, "d", 3),
            read(2, 12, 13, "d", 3),
        ];
        assert!(linearizable(&ops));
    }

    #[test]
    fn stale_read_after_acknowledged_write_is_not_linearizable() {
        let ops = [
            cas(1, 0, 10, 0, "a", ok(1)),
            // Invoked after the write was acknowledged, yet sees the old value.
            read(2, 20, 30, "", 0),
        ];
        assert!(!linearizable(&ops));
        // Overlapping the write, the old value is fine.
        let ops = [cas(1, 0, 10, 0, "a", ok(1)), read(2, 5, 30, "", 0)];
        assert!(linearizable(&ops));
    }

    #[test]
    fn two_successful_cas_from_the_same_version_are_not_linearizable() {
        let ops = [cas(1, 0, 10, 0, "a", ok(1)), cas(2, 1, 11, 0, "b", ok(1))];
        assert!(!linearizable(&ops));
        // One of them failing is fine, in either order.
        let ops = [
            cas(1, 0, 10, 0, "a", ok(1)),
            cas(2, 1, 11, 0, "b", RegisterReturn::BadVersion),
        ];
        assert!(linearizable(&ops));
    }

    #[test]
    fn bad_version_when_the_version_matched_is_not_linearizable() {
        let ops = [
            read(1, 0, 1, "", 0),
            cas(1, 2, 3, 0, "a", RegisterReturn::BadVersion),
        ];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn a_version_that_skips_is_not_linearizable() {
        let ops = [write(1, 0, 1, "a", 2)];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn unknown_write_may_or_may_not_take_effect() {
        // Seen later: it took effect.
        let took = [cas_unknown(1, 0, 0, "a"), read(2, 50, 60, "a", 1)];
        assert!(linearizable(&took));
        // Not seen: it never happened.
        let never = [cas_unknown(1, 0, 0, "a"), read(2, 50, 60, "", 0)];
        assert!(linearizable(&never));
        // Seen, then not seen: once applied it cannot be undone.
        let flicker = [
            cas_unknown(1, 0, 0, "a"),
            read(2, 50, 60, "a", 1),
            read(2, 70, 80, "", 0),
        ];
        assert!(!linearizable(&flicker));
        // It may take effect long after it was invoked (after other writes).
        let late = [
            cas_unknown(1, 0, 1, "late"),
            cas(2, 10, 20, 0, "x", ok(1)),
            read(2, 30, 40, "late", 2),
        ];
        assert!(linearizable(&late));
    }

    #[test]
    fn unknown_cas_with_a_wrong_version_can_never_be_seen() {
        let ops = [cas_unknown(1, 0, 5, "a"), read(2, 50, 60, "a", 6)];
        assert!(!linearizable(&ops));
    }

    #[test]
    fn unknown_reads_are_dropped() {
        let ops = [
            cas(1, 0, 10, 0, "a", ok(1)),
            RegisterOp::unknown(2, 20, RegisterCall::Read),
            read(2, 30, 40, "a", 1),
        ];
        assert_eq!(prepare(&ops).len(), 2);
        assert!(linearizable(&ops));
    }

    #[test]
    fn read_of_a_missing_key_is_not_linearizable() {
        let ops = [RegisterOp::completed(
            1,
            0,
            1,
            RegisterCall::Read,
            RegisterReturn::NoNode,
        )];
        assert!(!linearizable(&ops));
    }

    /// Many concurrent unknown writes and a read none of them explains: a search with
    /// a tiny budget gives up, a big one decides.
    #[test]
    fn the_search_gives_up_when_the_budget_runs_out() {
        let mut ops: Vec<RegisterOp> = (0..10)
            .map(|i| {
                RegisterOp::unknown(
                    i,
                    i as u64,
                    RegisterCall::Write {
                        value: format!("w{i}"),
                    },
                )
            })
            .collect();
        ops.push(read(99, 100, 110, "nobody wrote this", 3));
        let ops = prepare(&ops);
        assert_eq!(check_key(&ops, 50), Linearizability::GaveUp { steps: 50 });
        assert!(matches!(
            check_key(&ops, 10_000_000),
            Linearizability::NotLinearizable { .. }
        ));
        let verdict = check_all([("k0".to_owned(), ops.as_slice())], 50);
        assert_eq!(verdict.status, Status::Unknown);
        assert!(verdict.passed());
    }

    #[test]
    fn failure_verdict_carries_a_shrunk_slice() {
        let mut ops = Vec::new();
        // Lots of harmless reads, then one stale read.
        for i in 0..30u64 {
            ops.push(read(1, i * 10, i * 10 + 5, "", 0));
        }
        ops.push(cas(2, 400, 410, 0, "a", ok(1)));
        for i in 0..30u64 {
            ops.push(read(1, 500 + i * 10, 505 + i * 10, "a", 1));
        }
        ops.push(read(3, 900, 910, "", 0));
        let verdict = check_all([("k7".to_owned(), ops.as_slice())], 1_000_000);
        assert_eq!(verdict.status, Status::Fail);
        assert!(verdict.reason.contains("k7"), "{}", verdict.reason);
        // The shrunk slice is the write and the stale read, nothing else.
        let shrunk = shrink(&prepare(&ops), 1_000_000);
        assert_eq!(shrunk.len(), 2, "{shrunk:#?}");
        assert!(
            verdict
                .detail
                .iter()
                .any(|l| l.contains("p3") && l.contains("read"))
        );
    }

    #[test]
    fn all_clean_keys_pass() {
        let a = [cas(1, 0, 10, 0, "a", ok(1)), read(2, 20, 30, "a", 1)];
        let b = [read(1, 0, 10, "", 0)];
        let verdict = check_all(
            [
                ("k0".to_owned(), a.as_slice()),
                ("k1".to_owned(), b.as_slice()),
            ],
            1000,
        );
        assert_eq!(verdict.status, Status::Pass, "{verdict:?}");
    }
}
