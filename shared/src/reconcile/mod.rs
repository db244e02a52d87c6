//! The reconcile engine shared by the finisher, the drift schedule and the
//! command-line tool: observe → plan (pure) → apply (idempotent).

pub mod apply;
pub mod denied;
pub mod observe;
pub mod plan;
pub mod policy;

use serde::Serialize;

pub use apply::ActionOutcome;
pub use observe::Scope;
pub use plan::{Action, Managed, Observed, Plan, Planned};

use crate::context::{Context, Deadline, Mode};
use crate::error::Result;
use crate::finding::{Finding, FindingKind};
use crate::metrics::{InvocationReport, Progress};
use crate::outcome::WriteResult;

/// What a pass found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scope: Scope,
    /// `false` in report mode and for `plan`: nothing was written.
    pub applied: bool,
    pub managed: Vec<Managed>,
    pub actions: Vec<ActionOutcome>,
    pub findings: Vec<Finding>,
    pub note: Option<String>,
    /// The accepter's rejection the invocation's event carried, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection: Option<Rejection>,
}

/// A rejection an accepter announced (in its own words, from its account).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    pub peering: String,
    pub accepter_account: String,
    pub reason: String,
    pub entry: Option<String>,
}

impl Report {
    pub fn empty(scope: Scope, note: impl Into<String>) -> Report {
        Report {
            scope,
            applied: false,
            managed: Vec::new(),
            actions: Vec::new(),
            findings: Vec::new(),
            note: Some(note.into()),
            rejection: None,
        }
    }

    /// Actions that are still to be done (planned only, failed, or not started).
    pub fn outstanding(&self) -> usize {
        self.actions.iter().filter(|a| !a.result.succeeded()).count()
    }

    /// Actions carried out (by this pass or, already, by another).
    pub fn done(&self) -> usize {
        self.actions.iter().filter(|a| a.result.succeeded()).count()
    }

    pub fn failed(&self) -> Vec<&ActionOutcome> {
        self.actions.iter().filter(|a| a.result.failed()).collect()
    }

    /// Actions that failed, not counting those not started for lack of time.
    fn errors(&self) -> impl Iterator<Item = &ActionOutcome> {
        self.actions
            .iter()
            .filter(|a| matches!(a.result, WriteResult::Failed(_)))
    }

    /// The kind of every action, in plan order (`create-route`, ...).
    pub fn kinds(&self) -> Vec<&'static str> {
        self.actions.iter().map(|a| a.planned.action.kind()).collect()
    }

    pub fn count(&self, kind: FindingKind) -> usize {
        self.findings.iter().filter(|f| f.kind == kind).count()
    }
}

impl InvocationReport for Report {
    fn failures(&self) -> Vec<String> {
        self.errors()
            .map(|o| {
                format!(
                    "{} {} ({:?})",
                    o.planned.action.kind(),
                    o.planned.action.resource(),
                    o.result
                )
            })
            .collect()
    }

    fn metrics(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("DriftFound", self.actions.len()),
            ("Repaired", self.done()),
            ("RepairFailed", self.errors().count()),
            ("Conflicts", self.count(FindingKind::RouteConflict)),
            ("OverlapConflicts", self.count(FindingKind::OverlapConflict)),
            ("Findings", self.findings.len()),
            ("NotPermitted", self.count(FindingKind::NotPermitted)),
            ("RejectionsReceived", usize::from(self.rejection.is_some())),
            (
                "RequestsCreated",
                self.actions
                    .iter()
                    .filter(|a| {
                        a.result == WriteResult::Done && matches!(a.planned.action, Action::CreatePeeringRequest { .. })
                    })
                    .count(),
            ),
        ]
    }

    fn progress(&self) -> Progress {
        Progress {
            done: self.done(),
            left: self
                .actions
                .iter()
                .filter(|a| a.result == WriteResult::NotStarted)
                .count(),
        }
    }
}

/// Observes `scope`, plans, and applies in [`Mode::Apply`].
pub async fn run(ctx: &Context, scope: Scope, mode: Mode, deadline: Deadline) -> Result<Report> {
    let obs = observe::observe(ctx, &scope).await?;
    Ok(run_observed(ctx, scope, &obs, mode, deadline).await)
}

/// Plans (and applies) from state already observed.
pub async fn run_observed(ctx: &Context, scope: Scope, obs: &Observed, mode: Mode, deadline: Deadline) -> Report {
    let plan = plan::plan(&ctx.config, obs);
    let actions = match mode {
        Mode::Apply => apply::apply(ctx, plan.actions, deadline).await,
        Mode::Plan => plan
            .actions
            .into_iter()
            .map(|planned| ActionOutcome {
                planned,
                result: WriteResult::Planned,
            })
            .collect(),
    };
    for a in &actions {
        let p = &a.planned;
        tracing::info!(
            peering_id = p.peering.as_deref().unwrap_or(""),
            action = p.action.kind(),
            resource = p.action.resource(),
            detail = %p.action,
            reason = %p.reason,
            result = ?a.result,
            "action"
        );
    }
    let mut findings = plan.findings;
    findings.extend(denied::write_findings(&actions));
    findings.extend(apply::peer_group_findings(&actions));
    let left = actions.iter().filter(|a| a.result == WriteResult::NotStarted).count();
    if left > 0 {
        findings.push(work_left(left, actions.len()));
    }
    for f in &findings {
        tracing::warn!(
            peering_id = f.peering.as_deref().unwrap_or(""),
            finding = ?f.kind,
            resource = f.resource.as_deref().unwrap_or(""),
            message = %f.message,
            fix = %f.fix,
            "finding"
        );
    }
    Report {
        scope,
        applied: mode == Mode::Apply,
        managed: plan.managed,
        actions,
        findings,
        note: None,
        rejection: None,
    }
}

/// The finding for writes a pass could not start in time.
fn work_left(left: usize, planned: usize) -> Finding {
    Finding {
        kind: FindingKind::WorkLeft,
        peering: None,
        resource: None,
        message: format!(
            "{left} of {planned} change(s) not started: the invocation's time ran out (EC2 admits each mutating action about 5 times a second)"
        ),
        fix: "nothing: the function continues in a new invocation at once (event \"Peerlink Continuation\"), or at its next scheduled pass; if this recurs for a pass that should fit, raise the function's timeout, or ask AWS to raise the account's EC2 request rate and set PEERLINK_EC2_BUCKETS".into(),
    }
}

#[cfg(test)]
mod tests;
