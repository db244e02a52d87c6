//! The drift schedule: every managed peering of this account re-checked in one
//! pass with shared reads; pending requests swept through the accepter, so a
//! missed event is caught; what belongs to gone peerings cleaned up.

use serde::Serialize;

use crate::accepter::{self, AccepterReport};
use crate::aws::ec2;
use crate::config::DriftMode;
use crate::context::{Context, Deadline};
use crate::decision::Verdict;
use crate::error::Result;
use crate::model::PeeringStatus;
use crate::reconcile::{self, FindingKind, Report, Scope, apply, observe};

/// Overrides `settings.drift_mode` when set (`report` or `remediate`).
pub const ENV_MODE: &str = "PEERLINK_DRIFT_MODE";

#[derive(Debug, Clone, Serialize)]
pub struct DriftReport {
    pub mode: DriftMode,
    pub requests: AccepterReport,
    pub reconcile: Report,
    pub summary: DriftSummary,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DriftSummary {
    pub managed: usize,
    /// Writes the pass found necessary.
    pub drift_found: usize,
    pub repaired: usize,
    pub failed: usize,
    pub conflicts: usize,
    pub findings: usize,
    pub decisions: usize,
}

/// The mode: the environment override, else the configuration.
pub fn mode(ctx: &Context) -> std::result::Result<DriftMode, String> {
    match std::env::var(ENV_MODE).ok().as_deref().map(str::trim) {
        None | Some("") => Ok(ctx.config.settings.drift_mode),
        Some("report") => Ok(DriftMode::Report),
        Some("remediate") => Ok(DriftMode::Remediate),
        Some(other) => Err(format!("{ENV_MODE}={other:?}: expected \"report\" or \"remediate\"")),
    }
}

/// One drift pass. In `report` mode nothing is written.
pub async fn run(ctx: &Context, mode: DriftMode, deadline: Deadline) -> Result<DriftReport> {
    let remediate = mode == DriftMode::Remediate;
    let peerings = ec2::describe_peerings(&ctx.clients.ec2, None).await?;
    // One read of everything; the sweep decides with the configured VPCs it holds.
    let mut obs = observe::observe_with(ctx, &Scope::All, peerings, true).await?;
    let requests = accepter::sweep(ctx, obs.peerings.clone(), Some(&obs.vpcs), remediate, deadline).await?;
    // What the sweep just accepted is active now: finish it in this same pass.
    for o in &requests.outcomes {
        if o.decision.verdict == Verdict::Accept && (o.result == "done" || o.result == "already-done") {
            if let Some(p) = obs.peerings.iter_mut().find(|p| p.id == o.decision.peering_id) {
                p.status = PeeringStatus::Active;
            }
        }
    }
    let reconcile = reconcile::run_observed(ctx, Scope::All, &obs, remediate, deadline).await;
    let summary = DriftSummary {
        managed: reconcile.managed.len(),
        drift_found: reconcile.actions.len(),
        repaired: reconcile
            .actions
            .iter()
            .filter(|a| matches!(a.result, apply::Result::Done | apply::Result::AlreadyDone))
            .count(),
        failed: reconcile.failed().len(),
        conflicts: reconcile.count(FindingKind::RouteConflict),
        findings: reconcile.findings.len(),
        decisions: requests.outcomes.len(),
    };
    tracing::info!(
        mode = ?mode,
        managed = summary.managed,
        drift_found = summary.drift_found,
        repaired = summary.repaired,
        failed = summary.failed,
        conflicts = summary.conflicts,
        findings = summary.findings,
        "drift pass"
    );
    Ok(DriftReport {
        mode,
        requests,
        reconcile,
        summary,
    })
}

/// The drift function's handler: scheduled events only.
pub async fn handle(ctx: &Context, event: &crate::events::Event, deadline: Deadline) -> Result<DriftReport> {
    if *event != crate::events::Event::Scheduled {
        return Err(crate::events::EventError(format!(
            "the drift function runs on a schedule, not on {}",
            event.label()
        ))
        .into());
    }
    let mode = mode(ctx).map_err(|message| crate::config::ConfigError {
        origin: "the environment".into(),
        message,
    })?;
    run(ctx, mode, deadline).await
}
