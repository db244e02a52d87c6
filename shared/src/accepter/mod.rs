//! The accepter: reads the request(s) from EC2, decides, accepts or rejects.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde::Serialize;

use crate::aws::ec2;
use crate::context::{Context, Deadline};
use crate::decision::{AcceptContext, Decision, Verdict, decide};
use crate::error::{Error, Result};
use crate::events::{Event, EventError, Subject};
use crate::logging::joined;
use crate::model::{Peering, PeeringStatus, Side, Vpc};

/// What happened to one decision.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub decision: Decision,
    /// `done`, `already-done`, `no-write`, `not-started` (time ran out) or `failed: …`.
    pub result: String,
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
    pub outcomes: Vec<Outcome>,
    pub note: Option<String>,
}

impl AccepterReport {
    pub fn has_failures(&self) -> bool {
        !self.failed.is_empty()
    }
}

/// Runs the accepter for one parsed event.
pub async fn handle(ctx: &Context, event: &Event, deadline: Deadline) -> Result<AccepterReport> {
    let mut report = AccepterReport {
        event: event.label(),
        ..Default::default()
    };
    let peerings = match event {
        Event::ApiCall {
            name,
            subject: Subject::Peering(id),
        } if name == "CreateVpcPeeringConnection" => {
            let found = ec2::describe_peerings(&ctx.clients.ec2, Some(&[id.to_string()])).await?;
            if found.is_empty() {
                return Err(Error::NotFound {
                    what: "VPC peering connection",
                    id: id.to_string(),
                    account: ctx.me.account.clone(),
                    region: ctx.me.region.clone(),
                });
            }
            found
        }
        Event::Scheduled => {
            let all = ec2::describe_peerings(&ctx.clients.ec2, None).await?;
            return sweep(ctx, all, None, true, deadline).await;
        }
        Event::FailedApiCall { name, error_code } => {
            report.note = Some(format!(
                "{name} failed with {error_code}: it created nothing, so there is nothing to decide"
            ));
            tracing::info!(event = %report.event, error_code = %error_code, "ignored a failed API call");
            return Ok(report);
        }
        other => {
            return Err(EventError(format!(
                "the accepter handles CloudTrail CreateVpcPeeringConnection and scheduled events, not {}",
                other.label()
            ))
            .into());
        }
    };
    let decisions = decide_all(ctx, peerings, false, None).await?;
    report.executed = true;
    apply(ctx, decisions, true, deadline, &mut report).await;
    Ok(report)
}

/// Decides on every pending request for this account among `all` (every
/// peering it can see, read with one paginated Describe). With `execute`
/// unset the decisions are only reported.
///
/// `vpcs`, when given, are the configured local VPCs already read (the drift
/// pass has them): a request can only be accepted for one of those.
pub async fn sweep(
    ctx: &Context,
    all: Vec<Peering>,
    vpcs: Option<&HashMap<String, Vpc>>,
    execute: bool,
    deadline: Deadline,
) -> Result<AccepterReport> {
    let mut report = AccepterReport {
        event: Event::Scheduled.label(),
        executed: execute,
        ..Default::default()
    };
    let decisions = decide_all(ctx, all, true, vpcs).await?;
    apply(ctx, decisions, execute, deadline, &mut report).await;
    Ok(report)
}

/// Whether the peering waits for this account (in this region) to decide.
fn awaits_us(ctx: &Context, p: &Peering) -> bool {
    p.status == PeeringStatus::PendingAcceptance && p.local_sides(&ctx.me).contains(&Side::Accepter)
}

/// Decides on `peerings`. Pending requests for us need the local VPCs and every
/// other peering (overlap checks); those are read once for the whole batch.
async fn decide_all(
    ctx: &Context,
    peerings: Vec<Peering>,
    sweep: bool,
    known_vpcs: Option<&HashMap<String, Vpc>>,
) -> Result<Vec<Decision>> {
    let pending: Vec<&Peering> = peerings.iter().filter(|p| awaits_us(ctx, p)).collect();
    let (all, vpcs) = if pending.is_empty() {
        (Vec::new(), HashMap::new())
    } else if let (true, Some(v)) = (sweep, known_vpcs) {
        (Vec::new(), v.clone())
    } else {
        let all = if sweep {
            Vec::new()
        } else {
            ec2::describe_peerings(&ctx.clients.ec2, None).await?
        };
        let mut vpc_ids: Vec<String> = pending.iter().map(|p| p.accepter.vpc.clone()).collect();
        vpc_ids.sort();
        vpc_ids.dedup();
        let vpcs = ec2::describe_vpcs(&ctx.clients.ec2, &vpc_ids)
            .await?
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
        (all, vpcs)
    };
    // Requests accepted earlier in this batch count as active peers of the
    // local VPC, so two requests with the same range are never both accepted.
    let mut known: Vec<Peering> = if sweep { peerings.clone() } else { all };
    let mut decisions = Vec::new();
    // A sweep only reports on requests addressed to us; an event reports on its peering.
    for p in peerings.iter().filter(|p| !sweep || awaits_us(ctx, p)) {
        let actx = AcceptContext {
            me: &ctx.me,
            config: &ctx.config,
            vpcs: &vpcs,
            peerings: &known,
        };
        let d = decide(&actx, p);
        if d.verdict == Verdict::Accept {
            known.retain(|k| k.id != p.id);
            known.push(Peering {
                status: PeeringStatus::Active,
                ..p.clone()
            });
        }
        decisions.push(d);
    }
    Ok(decisions)
}

/// Carries out the decisions with bounded concurrency. A write that fails is
/// re-checked: if the peering already reached the wanted state (another run
/// got there first), it counts as done.
async fn apply(
    ctx: &Context,
    decisions: Vec<Decision>,
    execute: bool,
    deadline: Deadline,
    report: &mut AccepterReport,
) {
    let limit = ctx.config.settings.write_concurrency;
    let outcomes: Vec<Outcome> = futures_util::stream::iter(decisions)
        .map(|d| async move {
            let result = if !matches!(d.verdict, Verdict::Accept | Verdict::Reject) {
                "no-write".to_string()
            } else if !execute {
                "planned: report mode writes nothing".to_string()
            } else if deadline.expired() {
                "not-started: out of time; the next run decides it".to_string()
            } else {
                write(ctx, &d).await
            };
            Outcome { decision: d, result }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    for o in outcomes {
        log_outcome(&o);
        let id = o.decision.peering_id.clone();
        if o.result.starts_with("failed") || o.result.starts_with("not-started") {
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
    report
        .outcomes
        .sort_by(|a, b| a.decision.peering_id.cmp(&b.decision.peering_id));
}

async fn write(ctx: &Context, d: &Decision) -> String {
    let ec2c = &ctx.clients.ec2;
    let (res, wanted) = match d.verdict {
        Verdict::Accept => (
            ec2::accept_peering(ec2c, &d.peering_id).await,
            [PeeringStatus::Active, PeeringStatus::Provisioning],
        ),
        Verdict::Reject => (
            ec2::reject_peering(ec2c, &d.peering_id).await,
            [PeeringStatus::Rejected, PeeringStatus::Rejected],
        ),
        Verdict::LeavePending | Verdict::Skip => return "no-write".into(),
    };
    match res {
        Ok(()) => {
            if d.verdict == Verdict::Accept {
                announce(ctx, &d.peering_id).await;
            }
            "done".into()
        }
        Err(err) => {
            // Another invocation may have decided first (duplicate delivery, sweep racing an event).
            let now = ec2::describe_peerings(ec2c, Some(std::slice::from_ref(&d.peering_id))).await;
            match now {
                Ok(ps) if ps.first().is_some_and(|p| wanted.contains(&p.status)) => "already-done".into(),
                _ => format!("failed: {err}"),
            }
        }
    }
}

/// Tells the finisher to run now. Failure only delays finishing until its schedule.
async fn announce(ctx: &Context, peering_id: &str) {
    let Some(bus) = &ctx.event_bus else { return };
    if let Err(e) = ctx.clients.publish_accepted(bus, peering_id).await {
        tracing::warn!(peering_id, error = %e, "could not announce the acceptance; the finisher's schedule will pick it up");
    }
}

fn log_outcome(o: &Outcome) {
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
