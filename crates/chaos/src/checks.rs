//! The safety checkers other than linearizability, each a pure function from what the
//! workload recorded (and what the healed cluster shows) to a [`Verdict`].

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::verdict::Verdict;

fn seconds(ns: u64) -> String {
    format!("{:.6}s", ns as f64 / 1e9)
}

/// How a sequential create ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreateOutcome {
    /// Acknowledged, with the sequence number the server appended.
    Acked {
        /// The sequence number.
        seq: i64,
    },
    /// A definite failure (the server said no).
    Failed,
    /// Unknown (connection lost, timed out): it may exist or not, but at most once.
    Unknown,
}

/// One `create(bucket/uid-, PERSISTENT_SEQUENTIAL)`. The `uid` is unique per attempt,
/// so the znode it produces is named `uid-%010d`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRecord {
    /// Parent znode.
    pub bucket: String,
    /// Unique name prefix of this attempt.
    pub uid: String,
    /// The worker that issued it.
    pub process: usize,
    /// Invocation time, ns.
    pub call_ns: u64,
    /// How it ended.
    pub outcome: CreateOutcome,
}

/// Splits a child name `uid-0000000042` into (uid, 42).
fn parse_child(name: &str) -> Option<(&str, i64)> {
    let (uid, seq) = name.rsplit_once('-')?;
    Some((uid, seq.parse().ok()?))
}

/// No acknowledged create lost, none applied twice, none appearing unasked, and the
/// sequence numbers of one worker's acknowledged creates growing in the order it
/// issued them. `listing` maps each bucket to its children as the healed cluster shows
/// them (a bucket absent from it is taken as empty).
pub fn check_creates(records: &[CreateRecord], listing: &BTreeMap<String, Vec<String>>) -> Verdict {
    const NAME: &str = "acknowledged creates";
    let mut problems = Vec::new();
    let empty = Vec::new();
    let mut attempts: BTreeMap<(&str, &str), CreateOutcome> = BTreeMap::new();
    for r in records {
        attempts.insert((r.bucket.as_str(), r.uid.as_str()), r.outcome);
    }
    let mut present = 0usize;
    for (bucket, children) in listing {
        let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for child in children {
            let Some((uid, _)) = parse_child(child) else {
                problems.push(format!("{bucket}/{child}: not a name the workload creates"));
                continue;
            };
            seen.entry(uid).or_default().push(child);
            present += 1;
            match attempts.get(&(bucket.as_str(), uid)) {
                None => problems.push(format!("{bucket}/{child}: nobody asked for it")),
                Some(CreateOutcome::Failed) => problems.push(format!(
                    "{bucket}/{child}: exists although its create definitely failed"
                )),
                Some(_) => {}
            }
        }
        for (uid, names) in seen {
            if names.len() > 1 {
                problems.push(format!(
                    "{bucket}: create {uid} applied {} times: {}",
                    names.len(),
                    names.join(", ")
                ));
            }
        }
    }
    let mut acked = 0usize;
    let mut unknown = 0usize;
    let mut last_seq: BTreeMap<(usize, &str), (i64, &CreateRecord)> = BTreeMap::new();
    let mut ordered: Vec<&CreateRecord> = records.iter().collect();
    ordered.sort_by_key(|r| r.call_ns);
    for r in ordered {
        match r.outcome {
            CreateOutcome::Acked { seq } => {
                acked += 1;
                let name = format!("{}-{seq:010}", r.uid);
                let children = listing.get(&r.bucket).unwrap_or(&empty);
                if !children.contains(&name) {
                    problems.push(format!(
                        "{}/{name}: acknowledged at {} (worker {}) but missing",
                        r.bucket,
                        seconds(r.call_ns),
                        r.process
                    ));
                }
                if let Some((prev, prev_record)) =
                    last_seq.insert((r.process, r.bucket.as_str()), (seq, r))
                    && prev >= seq
                {
                    problems.push(format!(
                        "{}: worker {} got sequence {seq} for {} after {prev} for {} (issued earlier)",
                        r.bucket, r.process, r.uid, prev_record.uid
                    ));
                }
            }
            CreateOutcome::Unknown => unknown += 1,
            CreateOutcome::Failed => {}
        }
    }
    if problems.is_empty() {
        Verdict::pass(
            NAME,
            format!(
                "{acked} acknowledged all present, {present} znodes in {} buckets, no duplicates ({unknown} unknown)",
                listing.len()
            ),
        )
    } else {
        Verdict::fail(
            NAME,
            format!(
                "{} problems among {acked} acknowledged creates",
                problems.len()
            ),
            problems,
        )
    }
}

/// The counter ends within what the clients know: at least every acknowledged
/// increment, at most those plus the ones whose outcome is unknown.
pub fn check_counter(acked: u64, unknown: u64, final_value: Result<i64, String>) -> Verdict {
    const NAME: &str = "counter bounds";
    let low = acked as i64;
    let high = (acked + unknown) as i64;
    match final_value {
        Ok(value) if (low..=high).contains(&value) => Verdict::pass(
            NAME,
            format!("final {value} within [{low}, {high}] (acked {acked}, unknown {unknown})"),
        ),
        Ok(value) => Verdict::fail(
            NAME,
            format!("final {value} outside [{low}, {high}] (acked {acked}, unknown {unknown})"),
            vec![if value < low {
                format!("{} acknowledged increments lost", low - value)
            } else {
                format!("{} increments applied that nobody sent", value - high)
            }],
        ),
        Err(why) => Verdict::fail(
            NAME,
            format!("could not read the final value: {why}"),
            Vec::new(),
        ),
    }
}

/// A write to the fence znode made while holding the lock, in a multi that also
/// checked the holder's lock znode still existed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FenceWrite {
    /// Sequence number of the holder's lock znode.
    pub seq: i64,
    /// The fence write's zxid (its Stat's mzxid).
    pub mzxid: i64,
    /// The worker.
    pub process: usize,
    /// The holder's session.
    pub session: i64,
    /// Invocation time, ns.
    pub call_ns: u64,
    /// Completion time, ns.
    pub return_ns: u64,
}

/// The lock never had two effective holders: ordered by zxid, the fence writes'
/// holder sequence numbers never go backwards (a later holder always has a later lock
/// znode, and once it has written no earlier holder writes again), and no two writes
/// share a zxid.
pub fn check_lock(writes: &[FenceWrite], acquisitions: u64) -> Verdict {
    const NAME: &str = "lock fencing";
    let mut sorted: Vec<&FenceWrite> = writes.iter().collect();
    sorted.sort_by_key(|w| w.mzxid);
    let show = |w: &FenceWrite| {
        format!(
            "zxid 0x{:x} holder seq {} worker {} session 0x{:x} [{} → {}]",
            w.mzxid,
            w.seq,
            w.process,
            w.session,
            seconds(w.call_ns),
            seconds(w.return_ns)
        )
    };
    for i in 1..sorted.len() {
        let (a, b) = (sorted[i - 1], sorted[i]);
        let problem = if a.mzxid == b.mzxid {
            Some("two fence writes share a zxid")
        } else if b.seq < a.seq {
            Some("a holder wrote after a later holder had written: two effective holders")
        } else {
            None
        };
        if let Some(problem) = problem {
            let from = i.saturating_sub(4);
            let to = (i + 4).min(sorted.len());
            let mut detail = vec![format!(
                "fence writes by zxid around the violation ({problem}):"
            )];
            for (j, w) in sorted.iter().enumerate().take(to).skip(from) {
                let mark = if j == i || j == i - 1 { ">>" } else { "  " };
                detail.push(format!("{mark} {}", show(w)));
            }
            return Verdict::fail(NAME, problem, detail);
        }
    }
    let holders: BTreeSet<i64> = writes.iter().map(|w| w.seq).collect();
    Verdict::pass(
        NAME,
        format!(
            "{} fence writes by {} holders ({acquisitions} acquisitions), holder order never went back",
            writes.len(),
            holders.len()
        ),
    )
}

/// Every ephemeral of an expired session is gone on every node. `per_node` is what
/// each node showed under the probe parent at the end (or why it could not be read).
pub fn check_expiry(
    probes: u64,
    explicit: u64,
    per_node: &[(usize, Result<Vec<String>, String>)],
) -> Verdict {
    const NAME: &str = "session expiry";
    let mut problems = Vec::new();
    for (node, listing) in per_node {
        match listing {
            Ok(left) if left.is_empty() => {}
            Ok(left) => problems.push(format!(
                "node {node} still shows {} ephemerals of expired sessions: {}",
                left.len(),
                left.join(", ")
            )),
            Err(why) => problems.push(format!("node {node}: could not list: {why}")),
        }
    }
    if problems.is_empty() {
        Verdict::pass(
            NAME,
            format!(
                "{probes} probe sessions ({explicit} expired through the log, the rest by timeout): their ephemerals gone on all {} nodes",
                per_node.len()
            ),
        )
    } else {
        Verdict::fail(NAME, format!("{} nodes disagree", problems.len()), problems)
    }
}

/// All nodes end with the same applied state: equal (zxid, digest).
pub fn check_converged(per_node: &[(usize, Option<(i64, u64)>)]) -> Verdict {
    const NAME: &str = "replicas converged";
    let states: BTreeSet<Option<(i64, u64)>> = per_node.iter().map(|(_, s)| *s).collect();
    let detail: Vec<String> = per_node
        .iter()
        .map(|(node, s)| match s {
            Some((zxid, digest)) => format!("node {node}: zxid 0x{zxid:x} digest {digest}"),
            None => format!("node {node}: no answer"),
        })
        .collect();
    match states.iter().next() {
        Some(Some((zxid, digest))) if states.len() == 1 => Verdict::pass(
            NAME,
            format!(
                "{} nodes at zxid 0x{zxid:x}, digest {digest}",
                per_node.len()
            ),
        ),
        _ => Verdict::fail(NAME, "nodes ended with different states", detail),
    }
}

/// After the last heal every node serves a write within `limit`.
pub fn check_liveness(per_node: &[(usize, Result<Duration, String>)], limit: Duration) -> Verdict {
    const NAME: &str = "liveness after heal";
    let mut slowest = Duration::ZERO;
    let mut problems = Vec::new();
    for (node, outcome) in per_node {
        match outcome {
            Ok(took) if *took <= limit => slowest = slowest.max(*took),
            Ok(took) => problems.push(format!("node {node}: first write after {took:?}")),
            Err(why) => problems.push(format!("node {node}: {why}")),
        }
    }
    if problems.is_empty() {
        Verdict::pass(
            NAME,
            format!("every node served a write within {slowest:.1?} of the heal (limit {limit:?})"),
        )
    } else {
        Verdict::fail(
            NAME,
            format!(
                "{} nodes did not serve a write within {limit:?}",
                problems.len()
            ),
            problems,
        )
    }
}

/// A reply of `SessionMoved` that reached a client: the error ZooKeeper gives to a
/// connection that is no longer its session's owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedReply {
    /// When the reply came, ns since the start of the run.
    pub at_ns: u64,
    /// Which worker got it.
    pub worker: String,
    /// Its session.
    pub session: i64,
}

/// No client ever gets `SessionMoved`. A client has one connection at a time, and the
/// server makes a re-attaching connection the session's owner before answering it;
/// a request still in flight on an abandoned connection may be refused with
/// SessionMoved, but that reply goes to the abandoned socket. So a SessionMoved that
/// arrives at all means the live connection is not its session's owner — its writes
/// are refused while its reads and pings carry on.
pub fn check_session_moved(replies: &[MovedReply]) -> Verdict {
    const NAME: &str = "no SessionMoved to a live connection";
    if replies.is_empty() {
        return Verdict::pass(NAME, "no client was ever told its session moved");
    }
    let mut by_session: BTreeMap<(i64, &str), Vec<u64>> = BTreeMap::new();
    for r in replies {
        by_session
            .entry((r.session, r.worker.as_str()))
            .or_default()
            .push(r.at_ns);
    }
    let detail = by_session
        .iter()
        .map(|((session, worker), times)| {
            let first = times.iter().min().copied().unwrap_or_default();
            let last = times.iter().max().copied().unwrap_or_default();
            format!(
                "session 0x{session:x} ({worker}): {} requests refused with SessionMoved from +{} to +{}",
                times.len(),
                seconds(first),
                seconds(last)
            )
        })
        .collect();
    Verdict::fail(
        NAME,
        format!(
            "{} SessionMoved replies on {} live sessions",
            replies.len(),
            by_session.len()
        ),
        detail,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::Status;

    fn created(process: usize, call_ns: u64, uid: &str, outcome: CreateOutcome) -> CreateRecord {
        CreateRecord {
            bucket: "/b".into(),
            uid: uid.into(),
            process,
            call_ns,
            outcome,
        }
    }

    fn listing(names: &[&str]) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            "/b".to_owned(),
            names.iter().map(|s| s.to_string()).collect(),
        )])
    }

    #[test]
    fn creates_pass_when_every_ack_is_present() {
        let records = [
            created(1, 0, "w1n0", CreateOutcome::Acked { seq: 0 }),
            created(1, 1, "w1n1", CreateOutcome::Unknown),
            created(1, 2, "w1n2", CreateOutcome::Acked { seq: 2 }),
        ];
        let v = check_creates(
            &records,
            &listing(&["w1n0-0000000000", "w1n1-0000000001", "w1n2-0000000002"]),
        );
        assert_eq!(v.status, Status::Pass, "{v:?}");
        // The unknown one may also be absent.
        let v = check_creates(&records, &listing(&["w1n0-0000000000", "w1n2-0000000002"]));
        assert_eq!(v.status, Status::Pass, "{v:?}");
    }

    #[test]
    fn lost_duplicate_phantom_and_reordered_creates_fail() {
        let records = [
            created(1, 0, "w1n0", CreateOutcome::Acked { seq: 0 }),
            created(1, 1, "w1n1", CreateOutcome::Acked { seq: 1 }),
        ];
        let lost = check_creates(&records, &listing(&["w1n0-0000000000"]));
        assert_eq!(lost.status, Status::Fail);
        assert!(lost.detail[0].contains("missing"), "{lost:?}");
        let dup = check_creates(
            &records,
            &listing(&["w1n0-0000000000", "w1n1-0000000001", "w1n1-0000000002"]),
        );
        assert_eq!(dup.status, Status::Fail);
        let phantom = check_creates(
            &records,
            &listing(&["w1n0-0000000000", "w1n1-0000000001", "w9n9-0000000003"]),
        );
        assert_eq!(phantom.status, Status::Fail);
        let reordered = [
            created(1, 0, "w1n0", CreateOutcome::Acked { seq: 5 }),
            created(1, 1, "w1n1", CreateOutcome::Acked { seq: 4 }),
        ];
        let v = check_creates(
            &reordered,
            &listing(&["w1n0-0000000005", "w1n1-0000000004"]),
        );
        assert_eq!(v.status, Status::Fail);
    }

    #[test]
    fn counter_bounds() {
        assert_eq!(check_counter(10, 2, Ok(11)).status, Status::Pass);
        assert_eq!(check_counter(10, 2, Ok(12)).status, Status::Pass);
        assert_eq!(check_counter(10, 2, Ok(9)).status, Status::Fail);
        assert_eq!(check_counter(10, 2, Ok(13)).status, Status::Fail);
        assert_eq!(
            check_counter(10, 2, Err("down".into())).status,
            Status::Fail
        );
    }

    fn fence(seq: i64, mzxid: i64) -> FenceWrite {
        FenceWrite {
            seq,
            mzxid,
            process: seq as usize,
            session: seq,
            call_ns: mzxid as u64,
            return_ns: mzxid as u64 + 1,
        }
    }

    #[test]
    fn lock_holders_in_zxid_order_pass() {
        let writes = [
            fence(1, 10),
            fence(1, 11),
            fence(3, 15),
            fence(4, 20),
            fence(4, 21),
        ];
        assert_eq!(check_lock(&writes, 3).status, Status::Pass);
    }

    #[test]
    fn interleaved_holders_fail() {
        // Holder 1 writes again after holder 2 has written: both held it at once.
        let writes = [fence(1, 10), fence(2, 11), fence(1, 12)];
        let v = check_lock(&writes, 2);
        assert_eq!(v.status, Status::Fail);
        assert!(
            v.detail
                .iter()
                .any(|l| l.starts_with(">>") && l.contains("0xc")),
            "{v:?}"
        );
        let same_zxid = [fence(1, 10), fence(2, 10)];
        assert_eq!(check_lock(&same_zxid, 2).status, Status::Fail);
    }

    #[test]
    fn expiry_and_convergence() {
        let ok = [(0, Ok(vec![])), (1, Ok(vec![]))];
        assert_eq!(check_expiry(3, 3, &ok).status, Status::Pass);
        let left = [(0, Ok(vec![])), (1, Ok(vec!["p1".to_owned()]))];
        assert_eq!(check_expiry(3, 3, &left).status, Status::Fail);
        assert_eq!(
            check_converged(&[(0, Some((5, 9))), (1, Some((5, 9)))]).status,
            Status::Pass
        );
        assert_eq!(
            check_converged(&[(0, Some((5, 9))), (1, Some((5, 8)))]).status,
            Status::Fail
        );
        assert_eq!(
            check_converged(&[(0, Some((5, 9))), (1, None)]).status,
            Status::Fail
        );
    }

    #[test]
    fn session_moved_replies_fail() {
        assert_eq!(check_session_moved(&[]).status, Status::Pass);
        let replies = [
            MovedReply {
                at_ns: 1_000_000_000,
                worker: "counter-0".into(),
                session: 0x42,
            },
            MovedReply {
                at_ns: 3_000_000_000,
                worker: "counter-0".into(),
                session: 0x42,
            },
        ];
        let v = check_session_moved(&replies);
        assert_eq!(v.status, Status::Fail);
        assert_eq!(v.detail.len(), 1);
        assert!(v.detail[0].contains("2 requests"), "{v:?}");
    }

    #[test]
    fn liveness_limit() {
        let limit = Duration::from_secs(10);
        let ok = [(0, Ok(Duration::from_secs(1)))];
        assert_eq!(check_liveness(&ok, limit).status, Status::Pass);
        let slow = [(0, Ok(Duration::from_secs(11)))];
        assert_eq!(check_liveness(&slow, limit).status, Status::Fail);
        let down = [(0, Err("timed out".to_owned()))];
        assert_eq!(check_liveness(&down, limit).status, Status::Fail);
    }
}
