//! The accepter: reads the requests from EC2, decides each (a pure function,
//! [`crate::decision`]), accepts or rejects, and announces what it did.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde::Serialize;

use crate::context::{Context, Deadline, Mode};
use crate::decision::{AcceptContext, Approval, Decision, Verdict, decide_as};
use crate::error::{Error, Result};
use crate::events::{Event, EventError, Function, Subject};
use crate::logging::joined;
use crate::metrics::{InvocationReport, Progress};
use crate::model::{Peering, PeeringStatus, Side, Vpc};
use crate::outcome::WriteResult;
use crate::ownership::ACCEPTED_TAG;
use crate::settings::Role;

/// One decision and what it led to.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionOutcome {
    #[serde(flatten)]
    pub decision: Decision,
    pub result: WriteResult,
}

/// The handler's return value: every decision and what it led to.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AccepterReport {
    pub event: String,
    /// `false` when the decisions were only reported (drift in report mode).
    pub executed: bool,
    pub accepted: Vec<String>,
    pub rejected: Vec<String>,
    pub left_pending: Vec<String>,
    pub skipped: Vec<String>,
    pub failed: Vec<String>,
    /// Decisions not written: the invocation's time ran out (left to the
    /// continuation, or the next sweep).
    pub not_started: Vec<String>,
    /// Accepted peerings deleted again: accepted at the same time as an
    /// overlapping one that takes precedence.
    pub undone: Vec<String>,
    /// Left pending only because their entry wants a human to accept them
    /// (`peerlink approve`).
    pub awaiting_approval: Vec<String>,
    pub outcomes: Vec<DecisionOutcome>,
    pub note: Option<String>,
}

impl InvocationReport for AccepterReport {
    fn failures(&self) -> Vec<String> {
        self.failed.clone()
    }

    fn metrics(&self) -> Vec<(&'static str, usize)> {
        vec![
            ("Accepted", self.accepted.len()),
            ("Rejected", self.rejected.len()),
            ("LeftPending", self.left_pending.len()),
            ("DecisionsFailed", self.failed.len()),
            ("ConcurrentAcceptsUndone", self.undone.len()),
            ("LeftForApproval", self.awaiting_approval.len()),
        ]
    }

    fn progress(&self) -> Progress {
        Progress {
            done: self
                .outcomes
                .iter()
                .filter(|o| matches!(o.result, WriteResult::Done | WriteResult::AlreadyDone))
                .count(),
            left: self.not_started.len(),
        }
    }
}

/// What a decision is made from: every peering this account can see and the
/// configured local VPCs, read in one round of calls.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub peerings: Vec<Peering>,
    pub vpcs: HashMap<String, Vpc>,
}

impl Snapshot {
    /// Reads both at once: the configuration names the local VPCs, so the
    /// second read does not wait for the first.
    pub async fn read(ctx: &Context) -> Result<Snapshot> {
        let vpc_ids = ctx.config.local_vpcs();
        let (peerings, vpcs) = tokio::join!(ctx.aws.describe_peerings(None), async {
            if vpc_ids.is_empty() {
                Ok(Vec::new())
            } else {
                ctx.aws.describe_vpcs(&vpc_ids).await
            }
        });
        Ok(Snapshot {
            peerings: peerings?,
            vpcs: vpcs?.into_iter().map(|v| (v.id.clone(), v)).collect(),
        })
    }
}

/// Which peerings of a snapshot to decide on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which<'a> {
    /// The pending requests that wait for this account (the sweep).
    Pending,
    /// The one an event names, whatever its state (so the report says why
    /// it was skipped).
    Peering(&'a str),
}

/// Runs the accepter for one parsed event.
pub async fn handle(ctx: &Context, event: &Event, deadline: Deadline) -> Result<AccepterReport> {
    match event {
        Event::ApiCall {
            name,
            subject: Subject::Peering(id),
            account,
        } if name == "CreateVpcPeeringConnection" => {
            let snapshot = Snapshot::read(ctx).await?;
            if !snapshot.peerings.iter().any(|p| p.id == id.as_str()) {
                // A requester's forwarded events include its requests to
                // third accounts, which this account cannot see.
                if let Some(from) = account.as_deref().filter(|a| *a != ctx.me.account) {
                    tracing::info!(peering_id = %id, event_account = from, "the event names a peering this account cannot see; nothing to decide");
                    return Ok(AccepterReport {
                        event: event.label(),
                        note: Some(format!(
                            "peering {id} (requested in account {from}) is not visible to this account: it is not addressed here, nothing to decide"
                        )),
                        ..Default::default()
                    });
                }
                return Err(Error::NotFound {
                    what: "VPC peering connection",
                    id: id.to_string(),
                    account: ctx.me.account.clone(),
                    region: ctx.me.region.clone(),
                });
            }
            Ok(run(
                ctx,
                &snapshot,
                Which::Peering(id.as_str()),
                Approval::Automatic,
                Mode::Apply,
                event.label(),
                deadline,
            )
            .await)
        }
        Event::Scheduled
        | Event::Continue {
            function: Function::Accepter,
            ..
        } => sweep(ctx, &Snapshot::read(ctx).await?, Mode::Apply, deadline).await,
        Event::FailedApiCall { name, error_code } => {
            tracing::info!(event = %event.label(), error_code = %error_code, "ignored a failed API call");
            Ok(AccepterReport {
                event: event.label(),
                note: Some(format!(
                    "{name} failed with {error_code}: it created nothing, so there is nothing to decide"
                )),
                ..Default::default()
            })
        }
        other => Err(EventError(format!(
            "the accepter handles CloudTrail CreateVpcPeeringConnection, scheduled events and its own continuations, not {}",
            other.label()
        ))
        .into()),
    }
}

/// Decides on every pending request for this account in `snapshot`; in
/// [`Mode::Plan`] the decisions are only reported.
pub async fn sweep(ctx: &Context, snapshot: &Snapshot, mode: Mode, deadline: Deadline) -> Result<AccepterReport> {
    Ok(run(
        ctx,
        snapshot,
        Which::Pending,
        Approval::Automatic,
        mode,
        Event::Scheduled.label(),
        deadline,
    )
    .await)
}

/// Decides `which` peerings of `snapshot` (with `approval` behind any
/// acceptance), carries the decisions out in [`Mode::Apply`], announces
/// them, and checks for concurrent overlapping acceptances.
async fn run(
    ctx: &Context,
    snapshot: &Snapshot,
    which: Which<'_>,
    approval: Approval<'_>,
    mode: Mode,
    label: String,
    deadline: Deadline,
) -> AccepterReport {
    let decisions = decide_all(ctx, snapshot, which, approval);
    let mut report = AccepterReport {
        event: label,
        executed: mode == Mode::Apply,
        ..Default::default()
    };
    apply(ctx, snapshot, decisions, mode, deadline, &mut report).await;
    let approved_by = match approval {
        Approval::Human(who) => Some(who),
        Approval::Automatic => None,
    };
    // Announcing, looking for concurrent acceptances and marking the
    // unrivalled ones checked wait on nothing of each other: one round.
    let (rivalled, unrivalled): (Vec<&str>, Vec<&str>) = races::accepted(&report)
        .into_iter()
        .partition(|id| !races::rivals_of(ctx, snapshot, id).is_empty());
    let announcements = futures_util::future::join_all(report.outcomes.iter().map(|o| async move {
        if o.result == WriteResult::Done {
            announce::decision(ctx, &o.decision).await;
        } else if mode == Mode::Apply && o.decision.awaits_approval() {
            announce::awaiting_approval(ctx, snapshot, &o.decision).await;
        }
    }));
    let marks = futures_util::future::join_all(unrivalled.iter().map(|id| races::mark_checked(ctx, id, approved_by)));
    let (_, live, _) = tokio::join!(announcements, races::concurrent_losers(ctx, snapshot, &report), marks);
    let rivalled: Vec<String> = rivalled.into_iter().map(str::to_string).collect();
    match live {
        Ok(losers) => {
            races::undo(ctx, losers, "accepted at the same time as", &mut report).await;
            let survivors = rivalled.iter().filter(|id| !report.undone.contains(id));
            futures_util::future::join_all(survivors.map(|id| races::mark_checked(ctx, id, approved_by))).await;
        }
        Err(unchecked) => report.failed.extend(unchecked),
    }
    if which == Which::Pending && ctx.settings.role == Role::Accepter {
        races::check_leftovers(ctx, snapshot, mode, &mut report).await;
    }
    report
}

/// Whether the peering waits for this account (in this region) to decide.
fn awaits_us(ctx: &Context, p: &Peering) -> bool {
    p.status == PeeringStatus::PendingAcceptance && p.local_sides(&ctx.me).contains(&Side::Accepter)
}

/// Decides in id order. Requests accepted earlier in the batch count as
/// active peers of the local VPC, so two requests with the same range are
/// never both accepted.
fn decide_all(ctx: &Context, snapshot: &Snapshot, which: Which<'_>, approval: Approval<'_>) -> Vec<Decision> {
    let mut known: Vec<Peering> = snapshot.peerings.clone();
    let mut chosen: Vec<&Peering> = snapshot
        .peerings
        .iter()
        .filter(|p| match which {
            Which::Pending => awaits_us(ctx, p),
            Which::Peering(id) => p.id == id,
        })
        .collect();
    chosen.sort_by(|a, b| a.id.cmp(&b.id));
    let mut decisions = Vec::new();
    for p in chosen {
        let d = decide_as(
            &AcceptContext {
                me: &ctx.me,
                config: &ctx.config,
                vpcs: &snapshot.vpcs,
                peerings: &known,
            },
            p,
            approval,
        );
        let d = requester_only(ctx, d);
        if d.verdict == Verdict::Accept {
            if let Some(k) = known.iter_mut().find(|k| k.id == p.id) {
                k.status = PeeringStatus::Active;
            }
        }
        decisions.push(d);
    }
    decisions
}

/// A requester-only stack may not accept or reject: whatever the decision,
/// the request is left alone (one log line, no write, no failure).
fn requester_only(ctx: &Context, mut d: Decision) -> Decision {
    if ctx.settings.role == Role::Requester && d.verdict != Verdict::Skip {
        d.reason = format!(
            "this stack only requests (PEERLINK_ROLE=requester): requests to its VPCs are left to a human or an accepter stack; it would {}: {}",
            d.verdict, d.reason
        );
        d.verdict = Verdict::Skip;
        d.requester_reason.clear();
    }
    d
}

/// Carries out the decisions with bounded concurrency.
async fn apply(
    ctx: &Context,
    snapshot: &Snapshot,
    decisions: Vec<Decision>,
    mode: Mode,
    deadline: Deadline,
    report: &mut AccepterReport,
) {
    let limit = ctx.config.settings.write_concurrency;
    let mut outcomes: Vec<DecisionOutcome> = futures_util::stream::iter(decisions)
        .map(|d| async move {
            let result = if !matches!(d.verdict, Verdict::Accept | Verdict::Reject) {
                WriteResult::NoWrite
            } else if mode == Mode::Plan {
                WriteResult::Planned
            } else if !deadline.admits(ctx.aws.ready_at(write_operation(&d))) {
                // Its turn (accepts are paced to EC2's rate) comes after the stop.
                WriteResult::NotStarted
            } else {
                write(ctx, snapshot, &d).await
            };
            DecisionOutcome { decision: d, result }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    outcomes.sort_by(|a, b| a.decision.peering_id.cmp(&b.decision.peering_id));
    for o in outcomes {
        log_outcome(&o);
        let id = o.decision.peering_id.clone();
        if o.result == WriteResult::NotStarted {
            report.not_started.push(id);
        } else if o.result.failed() {
            report.failed.push(id);
        } else {
            match o.decision.verdict {
                Verdict::Accept => report.accepted.push(id),
                Verdict::Reject => report.rejected.push(id),
                Verdict::LeavePending => {
                    if o.decision.awaits_approval() {
                        report.awaiting_approval.push(id.clone());
                    }
                    report.left_pending.push(id)
                }
                Verdict::Skip => report.skipped.push(id),
            }
        }
        report.outcomes.push(o);
    }
}

/// The EC2 action a decision is written with.
fn write_operation(d: &Decision) -> &'static str {
    match d.verdict {
        Verdict::Reject => "RejectVpcPeeringConnection",
        _ => "AcceptVpcPeeringConnection",
    }
}

/// Accepts or rejects. A write that fails is re-checked: if the peering
/// already reached the wanted state (another run got there first, or our
/// answer was lost), it counts as done. A request that could be accepted at
/// the same time as another is tagged `pending-check` first (see [`races`]).
async fn write(ctx: &Context, snapshot: &Snapshot, d: &Decision) -> WriteResult {
    let id = d.peering_id.as_str();
    let (res, wanted) = match d.verdict {
        Verdict::Accept => {
            let rivals = races::rivals_of(ctx, snapshot, id);
            if !rivals.is_empty() {
                let tag = [(ACCEPTED_TAG.to_string(), races::pending_check(&rivals))];
                if let Err(e) = ctx.aws.create_tags(id, &tag).await {
                    return WriteResult::Failed(format!(
                        "not accepted: the pending concurrency check could not be recorded on it first: {e}"
                    ));
                }
            }
            (
                ctx.aws.accept_peering(id).await,
                [PeeringStatus::Active, PeeringStatus::Provisioning],
            )
        }
        Verdict::Reject => (
            ctx.aws.reject_peering(id).await,
            [PeeringStatus::Rejected, PeeringStatus::Rejected],
        ),
        Verdict::LeavePending | Verdict::Skip => return WriteResult::NoWrite,
    };
    match res {
        Ok(()) => WriteResult::Done,
        Err(err) => match ctx
            .aws
            .describe_peerings(Some(std::slice::from_ref(&d.peering_id)))
            .await
        {
            Ok(ps) if ps.first().is_some_and(|p| wanted.contains(&p.status)) => WriteResult::AlreadyDone,
            _ => WriteResult::Failed(err.to_string()),
        },
    }
}

fn log_outcome(o: &DecisionOutcome) {
    let d = &o.decision;
    tracing::info!(
        peering_id = %d.peering_id,
        decision = %d.verdict,
        reason = %d.reason,
        entry = d.entry.as_deref().unwrap_or(""),
        approved_by = d.approved_by.as_deref().unwrap_or(""),
        result = %o.result,
        status = %d.status,
        requester_account = %d.requester.account,
        requester_vpc = %d.requester.vpc,
        requester_region = %d.requester.region,
        requester_cidrs = %joined(&d.requester.cidrs),
        accepter_account = %d.accepter.account,
        accepter_vpc = %d.accepter.vpc,
        accepter_region = %d.accepter.region,
        accepter_cidrs = %joined(&d.accepter.cidrs),
        "decision"
    );
}

mod announce;
mod approve;
mod outside;
mod races;
#[cfg(test)]
mod tests;

pub use approve::approve;
pub use outside::accepted_outside;
