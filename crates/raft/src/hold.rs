//! When a leader holds new proposals back: a pipeline already full of uncommitted
//! entries gains nothing from appending a few more right away, and every append costs a
//! flush on each node. Holding for a moment lets the next batch grow instead. Pure
//! logic (time comes in), so it is tested without a cluster.

use std::time::{Duration, Instant};

/// The hold state of one Ready loop.
#[derive(Debug)]
pub(crate) struct ProposalHold {
    uncommitted_min: u64,
    hold: Duration,
    until: Option<Instant>,
}

impl ProposalHold {
    /// Holds for `hold` after an append that leaves at least `uncommitted_min` entries
    /// uncommitted; a zero `hold` never holds.
    pub(crate) fn new(uncommitted_min: u64, hold: Duration) -> Self {
        Self {
            uncommitted_min,
            hold,
            until: None,
        }
    }

    /// A leader appended proposals at `now`, leaving `uncommitted` entries in flight.
    pub(crate) fn appended(&mut self, uncommitted: u64, now: Instant) {
        self.until =
            (!self.hold.is_zero() && uncommitted >= self.uncommitted_min).then(|| now + self.hold);
    }

    /// The node stopped leading: whatever waits goes on (to be forwarded or failed).
    pub(crate) fn release(&mut self) {
        self.until = None;
    }

    /// When the current hold ends, if one is on at `now`.
    pub(crate) fn until(&self, now: Instant) -> Option<Instant> {
        self.until.filter(|until| *until > now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn a_full_pipeline_holds_for_the_configured_time() {
        let now = Instant::now();
        let mut hold = ProposalHold::new(64, 3 * MS);
        hold.appended(64, now);
        assert_eq!(hold.until(now), Some(now + 3 * MS));
        assert_eq!(hold.until(now + 2 * MS), Some(now + 3 * MS));
        assert_eq!(hold.until(now + 3 * MS), None);
    }

    #[test]
    fn light_load_never_holds() {
        let now = Instant::now();
        let mut hold = ProposalHold::new(64, 3 * MS);
        hold.appended(63, now);
        assert_eq!(hold.until(now), None);
    }

    #[test]
    fn a_later_light_append_ends_a_hold() {
        let now = Instant::now();
        let mut hold = ProposalHold::new(64, 3 * MS);
        hold.appended(100, now);
        hold.appended(1, now + MS);
        assert_eq!(hold.until(now + MS), None);
    }

    #[test]
    fn zero_hold_or_release_means_no_hold() {
        let now = Instant::now();
        let mut off = ProposalHold::new(64, Duration::ZERO);
        off.appended(1_000, now);
        assert_eq!(off.until(now), None);
        let mut hold = ProposalHold::new(64, 3 * MS);
        hold.appended(1_000, now);
        hold.release();
        assert_eq!(hold.until(now), None);
    }
}
