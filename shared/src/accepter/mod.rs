//! The accepter: reads the requests from EC2, decides each (a pure function,
//! [`crate::decision`]), accepts or rejects, and announces what it did.

use std::collections::HashMap;
use std::fmt;

use futures_util::StreamExt;
use serde::Serialize;

use crate::context::{Context, Deadline, Mode};
use crate::decision::{AcceptContext, Decision, Verdict, decide};
use crate::error::{Error, Result};
use crate::events::{ACCEPTED_DETAIL_TYPE, Event, EventError, Function, REJECTED_DETAIL_TYPE, Subject};
use crate::logging::joined;
use crate::metrics::{InvocationReport, Progress};
use crate::model::{Peering, PeeringStatus, Side, Vpc};

/// What became of one decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionResult {
    /// Accepted or rejected by this invocation.
    Done,
    /// Another invocation got there first (a duplicate event, the sweep).
    AlreadyDone,
    /// The verdict needs no write (leave pending, skip).
    NoWrite,
    /// Report mode: the write was not made.
    Planned,
    /// Out of time: the next run decides it.
    NotStarted,
    Failed(String),
}

impl DecisionResult {
    /// Whether the wanted state was reached (or needed no write).
    pub fn succeeded(&self) -> bool {
        matches!(self, Self::Done | Self::AlreadyDone | Self::NoWrite | Self::Planned)
    }
}

impl fmt::Display for DecisionResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Done => f.write_str("done"),
            Self::AlreadyDone => f.write_str("already-done"),
            Self::NoWrite => f.write_str("no-write"),
            Self::Planned => f.write_str("planned: report mode writes nothing"),
            Self::NotStarted => f.write_str("not-started: out of time; the next run decides it"),
            Self::Failed(e) => write!(f, "failed: {e}"),
        }
    }
}

/// One decision and what it led to.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionOutcome {
    #[serde(flatten)]
    pub decision: Decision,
    pub result: DecisionResult,
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
        ]
    }

    fn progress(&self) -> Progress {
        Progress {
            done: self
                .outcomes
                .iter()
                .filter(|o| matches!(o.result, DecisionResult::Done | DecisionResult::AlreadyDone))
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
                Mode::Apply,
                event,
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
    Ok(run(ctx, snapshot, Which::Pending, mode, &Event::Scheduled, deadline).await)
}

async fn run(
    ctx: &Context,
    snapshot: &Snapshot,
    which: Which<'_>,
    mode: Mode,
    event: &Event,
    deadline: Deadline,
) -> AccepterReport {
    let decisions = decide_all(ctx, snapshot, which);
    let mut report = AccepterReport {
        event: event.label(),
        executed: mode == Mode::Apply,
        ..Default::default()
    };
    apply(ctx, decisions, mode, deadline, &mut report).await;
    // Announcing and looking for concurrent acceptances wait on nothing of
    // each other: one round.
    let announcements = futures_util::future::join_all(
        report
            .outcomes
            .iter()
            .filter(|o| o.result == DecisionResult::Done)
            .map(|o| announce(ctx, &o.decision)),
    );
    let (_, races) = tokio::join!(announcements, races::concurrent_losers(ctx, snapshot, &report));
    races::undo(ctx, races, &mut report).await;
    report
}

/// Whether the peering waits for this account (in this region) to decide.
fn awaits_us(ctx: &Context, p: &Peering) -> bool {
    p.status == PeeringStatus::PendingAcceptance && p.local_sides(&ctx.me).contains(&Side::Accepter)
}

/// Decides in id order. Requests accepted earlier in the batch count as
/// active peers of the local VPC, so two requests with the same range are
/// never both accepted.
fn decide_all(ctx: &Context, snapshot: &Snapshot, which: Which<'_>) -> Vec<Decision> {
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
        let d = decide(
            &AcceptContext {
                me: &ctx.me,
                config: &ctx.config,
                vpcs: &snapshot.vpcs,
                peerings: &known,
            },
            p,
        );
        if d.verdict == Verdict::Accept {
            if let Some(k) = known.iter_mut().find(|k| k.id == p.id) {
                k.status = PeeringStatus::Active;
            }
        }
        decisions.push(d);
    }
    decisions
}

/// Carries out the decisions with bounded concurrency.
async fn apply(ctx: &Context, decisions: Vec<Decision>, mode: Mode, deadline: Deadline, report: &mut AccepterReport) {
    let limit = ctx.config.settings.write_concurrency;
    let mut outcomes: Vec<DecisionOutcome> = futures_util::stream::iter(decisions)
        .map(|d| async move {
            let result = if !matches!(d.verdict, Verdict::Accept | Verdict::Reject) {
                DecisionResult::NoWrite
            } else if mode == Mode::Plan {
                DecisionResult::Planned
            } else if !deadline.admits(ctx.aws.ready_at(write_operation(&d))) {
                // Its turn (accepts are paced to EC2's rate) comes after the stop.
                DecisionResult::NotStarted
            } else {
                write(ctx, &d).await
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
        if o.result == DecisionResult::NotStarted {
            report.not_started.push(id);
        } else if !o.result.succeeded() {
            report.failed.push(id);
        } else {
            match o.decision.verdict {
                Verdict::Accept => report.accepted.push(id),
                Verdict::Reject => report.rejected.push(id),
                Verdict::LeavePending => report.left_pending.push(id),
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
/// already reached the wanted state (another run got there first), it
/// counts as done.
async fn write(ctx: &Context, d: &Decision) -> DecisionResult {
    let id = d.peering_id.as_str();
    let (res, wanted) = match d.verdict {
        Verdict::Accept => (
            ctx.aws.accept_peering(id).await,
            [PeeringStatus::Active, PeeringStatus::Provisioning],
        ),
        Verdict::Reject => (
            ctx.aws.reject_peering(id).await,
            [PeeringStatus::Rejected, PeeringStatus::Rejected],
        ),
        Verdict::LeavePending | Verdict::Skip => return DecisionResult::NoWrite,
    };
    match res {
        Ok(()) => DecisionResult::Done,
        Err(err) => match ctx
            .aws
            .describe_peerings(Some(std::slice::from_ref(&d.peering_id)))
            .await
        {
            Ok(ps) if ps.first().is_some_and(|p| wanted.contains(&p.status)) => DecisionResult::AlreadyDone,
            _ => DecisionResult::Failed(err.to_string()),
        },
    }
}

/// Tells the finisher to run now. Failure only delays finishing until its schedule.
/// Announces a decision on the configured bus: this account's finisher
/// runs at once, and the stack forwards it to the requester's account (only
/// its own decisions, by `requesterAccount`), so its finisher runs at once
/// too, or its team reads why it was rejected. Failure only delays that
/// until the schedules.
async fn announce(ctx: &Context, d: &Decision) {
    let Some(bus) = &ctx.settings.event_bus else { return };
    let (detail_type, detail) = match d.verdict {
        Verdict::Accept => (
            ACCEPTED_DETAIL_TYPE,
            serde_json::json!({ "peeringId": d.peering_id, "requesterAccount": d.requester.account }),
        ),
        _ => {
            let mut detail = serde_json::json!({
                "peeringId": d.peering_id,
                "requesterAccount": d.requester.account,
                "decision": "reject",
                "reason": d.reason,
            });
            if let Some(entry) = &d.entry {
                detail["entry"] = entry.as_str().into();
            }
            (REJECTED_DETAIL_TYPE, detail)
        }
    };
    if let Err(e) = ctx.aws.put_event(bus, detail_type, &detail).await {
        tracing::warn!(peering_id = %d.peering_id, error = %e, "could not announce the decision; the finishers' schedules will pick it up");
    }
}

fn log_outcome(o: &DecisionOutcome) {
    let d = &o.decision;
    tracing::info!(
        peering_id = %d.peering_id,
        decision = %d.verdict,
        reason = %d.reason,
        entry = d.entry.as_deref().unwrap_or(""),
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

mod races;
#[cfg(test)]
mod tests;
