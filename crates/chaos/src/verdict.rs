//! What a checker concluded about a run.

use std::fmt;

/// The three possible conclusions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The property held.
    Pass,
    /// The history proves the property was violated.
    Fail,
    /// The checker could not decide (only the linearizability search does this, when
    /// its step budget runs out). Counted as passed, and printed as such.
    Unknown,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Unknown => "UNKNOWN",
        })
    }
}

/// One checker's verdict: a one-line reason, and for failures the evidence (the
/// offending slice of history, one line each).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Which checker.
    pub checker: String,
    /// Its conclusion.
    pub status: Status,
    /// A short reason, fit for one line.
    pub reason: String,
    /// Evidence for a failure (or an unknown), one line each.
    pub detail: Vec<String>,
}

impl Verdict {
    /// The property held.
    pub fn pass(checker: &str, reason: impl Into<String>) -> Self {
        Self {
            checker: checker.to_owned(),
            status: Status::Pass,
            reason: reason.into(),
            detail: Vec::new(),
        }
    }

    /// The property was violated; `detail` is the evidence.
    pub fn fail(checker: &str, reason: impl Into<String>, detail: Vec<String>) -> Self {
        Self {
            checker: checker.to_owned(),
            status: Status::Fail,
            reason: reason.into(),
            detail,
        }
    }

    /// The checker gave up.
    pub fn unknown(checker: &str, reason: impl Into<String>, detail: Vec<String>) -> Self {
        Self {
            checker: checker.to_owned(),
            status: Status::Unknown,
            reason: reason.into(),
            detail,
        }
    }

    /// Whether the verdict counts as passed (PASS, or UNKNOWN from a search budget).
    pub fn passed(&self) -> bool {
        self.status != Status::Fail
    }
}
