//! What became of one planned write: a reconcile action
//! ([`crate::reconcile::ActionOutcome`]) or an accepter decision
//! ([`crate::accepter::DecisionOutcome`]). One word list for both, so
//! `done`, `already-done` or `not-started` mean the same in a plan, an
//! accepter's report and a log line.

use std::fmt;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WriteResult {
    /// Planned only: this pass writes nothing (`plan`, the accepter or
    /// drift in report mode).
    Planned,
    /// Written by this pass.
    Done,
    /// Already as wanted when we tried (another run got there first, a
    /// duplicate event, our answer lost).
    AlreadyDone,
    /// The decision needs no write (a request left pending, or skipped).
    NoWrite,
    /// Not started: the time budget ran out. The next run does it.
    NotStarted,
    Failed(String),
    /// The role may not make this write (the stack does not cover the
    /// resource): reported as a finding, not retried as a failure.
    NotPermitted(String),
    /// A peer group the rule references does not exist, or is not in a VPC
    /// the peering joins (EC2 cannot tell us before the write: the group
    /// belongs to the peer's account): reported as a finding.
    PeerGroupMissing(String),
}

impl WriteResult {
    /// The work is in place (done by this pass or by another first).
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Done | Self::AlreadyDone)
    }

    /// The work should have been done and was not.
    pub fn failed(&self) -> bool {
        matches!(self, Self::Failed(_) | Self::NotStarted)
    }
}

impl fmt::Display for WriteResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Planned => f.write_str("planned: report mode writes nothing"),
            Self::Done => f.write_str("done"),
            Self::AlreadyDone => f.write_str("already-done"),
            Self::NoWrite => f.write_str("no-write"),
            Self::NotStarted => f.write_str("not-started: out of time; the next run decides it"),
            Self::Failed(e) => write!(f, "failed: {e}"),
            Self::NotPermitted(e) => write!(f, "not-permitted: {e}"),
            Self::PeerGroupMissing(e) => write!(f, "peer-group-missing: {e}"),
        }
    }
}
