//! Where one turn of the Ready loop spent its time. A turn that runs for half an election
//! timeout costs the cluster its leader (or a follower its vote); the warning for it names
//! the parts that took the time, so the cause shows in the log of the run that had it.

use std::fmt;
use std::time::{Duration, Instant};

/// Time spent in the named parts of one turn, in order.
pub(crate) struct Phases {
    started: Instant,
    last: Instant,
    spent: Vec<(&'static str, Duration)>,
}

/// Parts shorter than this are left out of the report.
const REPORTED_MIN: Duration = Duration::from_millis(1);

impl Phases {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            spent: Vec::new(),
        }
    }

    /// Starts a new turn.
    pub(crate) fn restart(&mut self) {
        let now = Instant::now();
        self.started = now;
        self.last = now;
        self.spent.clear();
    }

    /// Ends the part called `name`: the time since the previous mark is its own.
    pub(crate) fn mark(&mut self, name: &'static str) {
        let now = Instant::now();
        self.spent.push((name, now - self.last));
        self.last = now;
    }

    /// Time since the turn started.
    pub(crate) fn total(&self) -> Duration {
        self.last.max(Instant::now()) - self.started
    }
}

impl fmt::Display for Phases {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut any = false;
        for (name, took) in self.spent.iter().filter(|(_, t)| *t >= REPORTED_MIN) {
            if any {
                f.write_str(", ")?;
            }
            write!(f, "{name} {} ms", took.as_millis())?;
            any = true;
        }
        if !any {
            f.write_str("every part under 1 ms")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_parts_of_a_millisecond_or_more_are_reported() {
        let mut phases = Phases::new();
        phases.mark("quick");
        std::thread::sleep(Duration::from_millis(3));
        phases.mark("slow");
        let report = phases.to_string();
        assert!(report.starts_with("slow "), "{report}");
        assert!(!report.contains("quick"), "{report}");
        assert!(phases.total() >= Duration::from_millis(3));
        phases.restart();
        assert_eq!(phases.to_string(), "every part under 1 ms");
    }
}
