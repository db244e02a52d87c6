//! The drift schedule: every managed peering of this account re-checked in one
//! pass with shared reads; pending requests swept through the accepter, so a
//! missed event is caught; what belongs to gone peerings cleaned up.

use serde::Serialize;

use crate::accepter::{self, AccepterReport, Snapshot};
use crate::config::DriftMode;
use crate::context::{Context, Deadline, Mode};
use crate::decision::Verdict;
use crate::error::Result;
use crate::events::{Event, EventError, Function};
use crate::finding::FindingKind;
use crate::metrics::{InvocationReport, Progress};
use crate::model::PeeringStatus;
use crate::outcome::WriteResult;
use crate::reconcile::{self, Report, Scope, observe};
use crate::{stale, verify};

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
    /// Writes not started before the deadline (left to the continuation).
    pub left: usize,
    pub conflicts: usize,
    pub findings: usize,
    pub decisions: usize,
}

impl InvocationReport for DriftReport {
    fn failures(&self) -> Vec<String> {
        let mut f = self.requests.failures();
        f.extend(self.reconcile.failures());
        f
    }

    fn metrics(&self) -> Vec<(&'static str, usize)> {
        let s = &self.summary;
        vec![
            ("DriftFound", s.drift_found),
            ("Repaired", s.repaired),
            ("RepairFailed", s.failed),
            ("Conflicts", s.conflicts),
            ("Findings", s.findings),
            ("Decisions", s.decisions),
            ("ConcurrentAcceptsUndone", self.requests.undone.len()),
            ("OverlapConflicts", self.reconcile.count(FindingKind::OverlapConflict)),
            ("LeftForApproval", self.requests.awaiting_approval.len()),
            ("NotPermitted", self.reconcile.count(FindingKind::NotPermitted)),
            ("PathsBlocked", self.reconcile.count(FindingKind::PathBlocked)),
        ]
    }

    fn progress(&self) -> Progress {
        self.requests.progress() + self.reconcile.progress()
    }
}

/// The mode: the environment's override, else the configuration's.
pub fn mode(ctx: &Context) -> DriftMode {
    ctx.settings.drift_mode.unwrap_or(ctx.config.settings.drift_mode)
}

/// One drift pass. In `report` mode nothing is written.
pub async fn run(ctx: &Context, drift_mode: DriftMode, deadline: Deadline) -> Result<DriftReport> {
    let mode = match drift_mode {
        DriftMode::Remediate => Mode::Apply,
        DriftMode::Report => Mode::Plan,
    };
    // One read of everything; the sweep decides with the configured VPCs it holds.
    let mut obs = observe::observe(ctx, &Scope::All).await?;
    let snapshot = Snapshot {
        peerings: obs.peerings.clone(),
        vpcs: obs.vpcs.clone(),
    };
    let requests = accepter::sweep(ctx, &snapshot, mode, deadline).await?;
    // What the sweep just accepted is active now: finish it in this same
    // pass. What it deleted again (an overlapping peering takes precedence)
    // is gone: never finished, granted or given DNS.
    for o in &requests.outcomes {
        if o.decision.verdict == Verdict::Accept && matches!(o.result, WriteResult::Done | WriteResult::AlreadyDone) {
            if let Some(p) = obs.peerings.iter_mut().find(|p| p.id == o.decision.peering_id) {
                p.status = PeeringStatus::Active;
            }
        }
    }
    for id in &requests.undone {
        if let Some(p) = obs.peerings.iter_mut().find(|p| p.id == *id) {
            p.status = PeeringStatus::Deleted;
        }
    }
    let mut reconcile = reconcile::run_observed(ctx, Scope::All, &obs, mode, deadline).await;
    for f in accepter::accepted_outside(ctx, &obs.peerings, &obs.vpcs) {
        tracing::warn!(peering_id = f.peering.as_deref().unwrap_or(""), finding = ?f.kind, message = %f.message, fix = %f.fix, "finding");
        reconcile.findings.push(f);
    }
    // The user's rules left stale by a gone peering (ours went with its
    // clean-up): one read per configured VPC where one can be.
    let vpcs: Vec<String> = ctx
        .config
        .local_vpcs()
        .into_iter()
        .filter(|v| obs.vpcs.contains_key(v))
        .filter(|v| stale::can_matter(v, &obs.peerings, obs.security_groups.values()))
        .collect();
    let found = stale::check(ctx, &vpcs, obs.security_groups.values()).await?;
    reconcile.findings.extend(found);
    // Declared paths: this account's half of each, as observed.
    let repaired = if mode == Mode::Apply { reconcile.done() } else { 0 };
    reconcile
        .findings
        .extend(verify::declared::run(ctx, &obs, repaired).await?);
    let summary = DriftSummary {
        managed: reconcile.managed.len(),
        drift_found: reconcile.actions.len(),
        repaired: reconcile.done(),
        failed: reconcile.failures().len(),
        left: reconcile.progress().left,
        conflicts: reconcile.count(FindingKind::RouteConflict),
        findings: reconcile.findings.len(),
        decisions: requests.outcomes.len(),
    };
    tracing::info!(
        mode = ?drift_mode,
        managed = summary.managed,
        drift_found = summary.drift_found,
        repaired = summary.repaired,
        failed = summary.failed,
        conflicts = summary.conflicts,
        findings = summary.findings,
        "drift pass"
    );
    Ok(DriftReport {
        mode: drift_mode,
        requests,
        reconcile,
        summary,
    })
}

/// The drift function's handler: scheduled events, and its own continuations.
pub async fn handle(ctx: &Context, event: &Event, deadline: Deadline) -> Result<DriftReport> {
    let continued = matches!(
        event,
        Event::Continue {
            function: Function::Drift,
            ..
        }
    );
    if *event != Event::Scheduled && !continued {
        return Err(EventError(format!(
            "the drift function runs on a schedule (and its own continuations), not on {}",
            event.label()
        ))
        .into());
    }
    run(ctx, mode(ctx), deadline).await
}
