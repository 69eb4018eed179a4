//! Session liveness. Every server notes which of its sessions' clients spoke and reports
//! them to the leader; the leader keeps a deadline per session and expires a silent one
//! by proposing CloseSession (its ephemerals go in the same entry). A new leader first
//! gives every session a fresh full timeout. Time-driven work goes through the log.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use paddock_raft::{AppSender, Role};
use prost::Message as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

use crate::command::{self, pb};
use crate::server::Context;
use crate::state::now_ms;

/// Deadlines of every session, kept by the leader. A plain struct that takes `now` as an
/// argument (like ZooKeeper's ExpiryQueue), so it is tested without a clock.
#[derive(Debug, Default)]
pub struct ExpiryTracker {
    deadlines: HashMap<i64, Instant>,
}

impl ExpiryTracker {
    /// Forgets everything (this node stopped leading).
    pub fn clear(&mut self) {
        self.deadlines.clear();
    }

    /// Pushes a session's deadline to `now + timeout`.
    pub fn touch(&mut self, session_id: i64, timeout: Duration, now: Instant) {
        self.deadlines.insert(session_id, now + timeout);
    }

    /// Makes the tracked set equal `sessions` (id, timeout): new ones get a full timeout
    /// from `now`, vanished ones are dropped.
    pub fn sync(&mut self, sessions: &[(i64, Duration)], now: Instant) {
        let live: HashMap<i64, Duration> = sessions.iter().copied().collect();
        self.deadlines.retain(|id, _| live.contains_key(id));
        for (id, timeout) in sessions {
            self.deadlines.entry(*id).or_insert(now + *timeout);
        }
    }

    /// Sessions past their deadline at `now`, removed from tracking (sorted).
    pub fn take_expired(&mut self, now: Instant) -> Vec<i64> {
        let mut expired: Vec<i64> = self
            .deadlines
            .iter()
            .filter(|(_, deadline)| **deadline <= now)
            .map(|(id, _)| *id)
            .collect();
        expired.sort_unstable();
        for id in &expired {
            self.deadlines.remove(id);
        }
        expired
    }

    /// Number of sessions tracked.
    pub fn len(&self) -> usize {
        self.deadlines.len()
    }

    /// True when nothing is tracked.
    pub fn is_empty(&self) -> bool {
        self.deadlines.is_empty()
    }
}

fn encode(kind: pb::server_message::Kind) -> Bytes {
    Bytes::from(pb::ServerMessage { kind: Some(kind) }.encode_to_vec())
}

/// Tells every peer that `session_id` now lives on this server.
pub fn announce_moved(app: &AppSender, peers: &[u64], session_id: i64) {
    let message = encode(pb::server_message::Kind::SessionMoved(pb::SessionMoved {
        session_id,
    }));
    for peer in peers {
        app.send(*peer, message.clone());
    }
}

/// Runs until `stop`: reports activity, expires sessions while leading, handles peers'
/// session messages.
pub(crate) async fn run(
    ctx: Context,
    app: AppSender,
    mut inbox: mpsc::Receiver<(u64, Bytes)>,
    stop: CancellationToken,
) {
    let interval =
        (ctx.shared.config.tick / 4).clamp(Duration::from_millis(10), Duration::from_millis(500));
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tracker = ExpiryTracker::default();
    let mut leading_term = None;
    let mut leaderless = Leaderless::default();
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = ticker.tick() => {}
            message = inbox.recv() => {
                let Some((from, payload)) = message else { return };
                handle_message(&ctx, &mut tracker, leading_term.is_some(), from, &payload);
                continue;
            }
        }
        let touched: Vec<i64> = ctx.shared.touched.lock().drain().collect();
        let status = ctx.status.borrow().clone();
        if leaderless.observe(
            status.leader_id != 0,
            Instant::now(),
            ctx.shared.config.tick,
        ) {
            // Cut off from the majority: like a ZooKeeper follower that lost its leader,
            // stop serving, so clients move to a server that can still commit instead of
            // waiting here until their sessions expire.
            let core = ctx.shared.core.lock();
            warn!(
                node = ctx.shared.node_id,
                connections = core.conns.len(),
                "no leader for a tick; disconnecting clients"
            );
            for handle in core.conns.values() {
                handle.closer.cancel();
            }
        }
        if status.role != Role::Leader {
            if leading_term.take().is_some() {
                tracker.clear();
            }
            if status.leader_id != 0 && !touched.is_empty() {
                let message = encode(pb::server_message::Kind::Touch(pb::Touch {
                    session_ids: touched,
                }));
                app.send(status.leader_id, message);
            }
            continue;
        }
        let now = Instant::now();
        let sessions: Vec<(i64, Duration)> = {
            let core = ctx.shared.core.lock();
            core.tree
                .sessions()
                .iter()
                .map(|(id, s)| (*id, Duration::from_millis(s.timeout_ms.max(0) as u64)))
                .collect()
        };
        if leading_term != Some(status.term) {
            // A new leader cannot know when sessions last spoke: everyone starts afresh.
            info!(
                node = ctx.shared.node_id,
                sessions = sessions.len(),
                "leading: every session gets a fresh timeout"
            );
            tracker.clear();
            leading_term = Some(status.term);
        }
        tracker.sync(&sessions, now);
        let timeouts: HashMap<i64, Duration> = sessions.into_iter().collect();
        for id in touched {
            if let Some(timeout) = timeouts.get(&id) {
                tracker.touch(id, *timeout, now);
            }
        }
        for id in tracker.take_expired(now) {
            debug!(session = format_args!("{id:#x}"), "session expired");
            let proposer = ctx.proposer.clone();
            tokio::spawn(async move {
                let entry = command::close_session(now_ms(), id, 0);
                if let Err(error) = proposer.propose(entry).await {
                    warn!(session = format_args!("{id:#x}"), %error, "expiring session failed; will retry");
                }
            });
        }
    }
}

/// Tracks how long this server has gone without a leader.
#[derive(Debug, Default)]
struct Leaderless {
    since: Option<Instant>,
    acted: bool,
}

impl Leaderless {
    /// Notes whether a leader is known at `now`; true once per leaderless stretch, when
    /// it has lasted `grace`.
    fn observe(&mut self, has_leader: bool, now: Instant, grace: Duration) -> bool {
        if has_leader {
            *self = Self::default();
            return false;
        }
        let since = *self.since.get_or_insert(now);
        if !self.acted && now.duration_since(since) >= grace {
            self.acted = true;
            return true;
        }
        false
    }
}

fn handle_message(
    ctx: &Context,
    tracker: &mut ExpiryTracker,
    leading: bool,
    from: u64,
    payload: &[u8],
) {
    let Ok(message) = pb::ServerMessage::decode(payload) else {
        warn!(from, "undecodable server message");
        return;
    };
    match message.kind {
        Some(pb::server_message::Kind::Touch(touch)) if leading => {
            let now = Instant::now();
            let core = ctx.shared.core.lock();
            for id in touch.session_ids {
                if let Some(session) = core.tree.session(id) {
                    tracker.touch(
                        id,
                        Duration::from_millis(session.timeout_ms.max(0) as u64),
                        now,
                    );
                }
            }
        }
        Some(pb::server_message::Kind::Touch(_)) => {}
        Some(pb::server_message::Kind::SessionMoved(moved)) => {
            ctx.shared.drop_session_connection(moved.session_id);
        }
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaderless_acts_once_per_stretch() {
        let start = Instant::now();
        let grace = Duration::from_secs(2);
        let mut leaderless = Leaderless::default();
        assert!(!leaderless.observe(false, start, grace));
        assert!(!leaderless.observe(false, start + grace / 2, grace));
        assert!(leaderless.observe(false, start + grace, grace));
        assert!(
            !leaderless.observe(false, start + grace * 3, grace),
            "only once"
        );
        assert!(!leaderless.observe(true, start + grace * 4, grace));
        assert!(!leaderless.observe(false, start + grace * 5, grace));
        assert!(
            leaderless.observe(false, start + grace * 6, grace),
            "a new stretch"
        );
    }

    #[test]
    fn tracker_expires_silent_sessions_only() {
        let start = Instant::now();
        let second = Duration::from_secs(1);
        let mut tracker = ExpiryTracker::default();
        tracker.sync(&[(1, second), (2, second * 3)], start);
        assert!(tracker.take_expired(start).is_empty());
        tracker.touch(1, second, start + second / 2);
        assert!(
            tracker.take_expired(start + second).is_empty(),
            "touched in time"
        );
        assert_eq!(tracker.take_expired(start + second * 2), vec![1]);
        tracker.sync(&[(2, second * 3)], start + second * 2);
        assert_eq!(tracker.len(), 1);
        assert_eq!(tracker.take_expired(start + second * 3), vec![2]);
        assert!(tracker.is_empty());
    }
}
