//! The reconcile engine shared by the finisher, the drift schedule and the
//! command-line tool: observe → plan (pure) → apply (idempotent).

pub mod apply;
pub mod observe;
pub mod plan;
pub mod policy;
pub mod synthetic;

use serde::Serialize;

pub use observe::Scope;
pub use plan::{Action, Finding, FindingKind, Observed, Plan, Planned};

use crate::context::{Context, Deadline};
use crate::error::Result;
use crate::model::Side;

/// One managed peering end seen by the pass.
#[derive(Debug, Clone, Serialize)]
pub struct Managed {
    pub peering: String,
    pub status: String,
    pub side: Side,
    pub entry: String,
    pub peer_account: String,
    pub peer_vpc: String,
}

/// What a pass found and did.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub scope: Scope,
    /// `false` in report mode and for `plan`: nothing was written.
    pub applied: bool,
    pub managed: Vec<Managed>,
    pub actions: Vec<apply::Outcome>,
    pub findings: Vec<Finding>,
    pub note: Option<String>,
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
        }
    }

    /// Actions that are still to be done (planned only, failed, or not started).
    pub fn outstanding(&self) -> usize {
        self.actions
            .iter()
            .filter(|a| !matches!(a.result, apply::Result::Done | apply::Result::AlreadyDone))
            .count()
    }

    pub fn failed(&self) -> Vec<&apply::Outcome> {
        self.actions
            .iter()
            .filter(|a| matches!(a.result, apply::Result::Failed(_) | apply::Result::NotStarted))
            .collect()
    }

    pub fn count(&self, kind: FindingKind) -> usize {
        self.findings.iter().filter(|f| f.kind == kind).count()
    }
}

/// Observes `scope`, plans, and applies when `apply` is set.
pub async fn run(ctx: &Context, scope: Scope, apply: bool, deadline: Deadline) -> Result<Report> {
    let obs = observe::observe(ctx, &scope).await?;
    Ok(run_observed(ctx, scope, &obs, apply, deadline).await)
}

/// Plans (and applies) from state already observed.
pub async fn run_observed(ctx: &Context, scope: Scope, obs: &Observed, apply: bool, deadline: Deadline) -> Report {
    let plan = plan::plan(&ctx.config, obs);
    let (binds, _) = plan::bindings(&ctx.config, obs);
    let managed = binds
        .iter()
        .map(|b| Managed {
            peering: b.peering.id.clone(),
            status: b.peering.status.to_string(),
            side: b.side,
            entry: b.entry.name.clone(),
            peer_account: b.peering.side(b.side.other()).account.clone(),
            peer_vpc: b.peering.side(b.side.other()).vpc.clone(),
        })
        .collect();
    let actions = if apply {
        apply::apply(ctx, plan.actions, deadline).await
    } else {
        plan.actions
            .into_iter()
            .map(|planned| apply::Outcome {
                planned,
                result: apply::Result::Pending,
            })
            .collect()
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
    for f in &plan.findings {
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
        applied: apply,
        managed,
        actions,
        findings: plan.findings,
        note: None,
    }
}
