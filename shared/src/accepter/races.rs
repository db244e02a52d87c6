//! Two requests that are each safe alone can be unsafe together: requests
//! from two VPCs with the same range, decided by two invocations at once
//! (two events, an event and the sweep, the accepter and drift). Each saw
//! the other still pending and accepted. There is no lock service to stop
//! that, so every invocation that accepted applies, after the fact, one
//! rule that all of them evaluate the same way: re-read the peerings; among
//! the accepted one and the overlapping peerings of the same local VPC that
//! were still pending when it decided, the lowest id stays and the others
//! are deleted. (A peering that was already established when it decided was
//! checked against, so it is never among them.)

use std::collections::BTreeSet;

use super::{AccepterReport, DecisionResult, Snapshot};
use crate::context::Context;
use crate::decision::Verdict;
use crate::matching::overlaps;
use crate::model::{Peering, PeeringStatus};
use crate::routing::is_established;

/// What to delete, with the peering that stays: what this invocation
/// accepted concurrently with an overlapping peering that takes precedence,
/// or such a peering when ours takes precedence. `Err` lists the accepted
/// peerings that could not be checked (the re-read failed).
pub(super) async fn concurrent_losers(
    ctx: &Context,
    snapshot: &Snapshot,
    report: &AccepterReport,
) -> Result<BTreeSet<(String, String)>, Vec<String>> {
    let accepted: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| o.decision.verdict == Verdict::Accept && o.result == DecisionResult::Done)
        .map(|o| o.decision.peering_id.as_str())
        .collect();
    if accepted.is_empty() {
        return Ok(BTreeSet::new());
    }
    let now = match ctx.aws.describe_peerings(None).await {
        Ok(now) => now,
        Err(e) => {
            tracing::warn!(error = %e, "could not re-read the peerings after accepting; a concurrent overlapping acceptance would go unnoticed");
            return Err(accepted.iter().map(|s| s.to_string()).collect());
        }
    };
    let was_pending = |id: &str| {
        snapshot
            .peerings
            .iter()
            .find(|p| p.id == id)
            .is_none_or(|p| p.status == PeeringStatus::PendingAcceptance)
    };
    let mut losers: BTreeSet<(String, String)> = BTreeSet::new();
    for id in accepted {
        let Some(ours) = now.iter().find(|p| p.id == id && is_established(p)) else {
            continue;
        };
        let rivals: Vec<&Peering> = now
            .iter()
            .filter(|q| q.id != ours.id && is_established(q) && was_pending(&q.id))
            .filter(|q| q.accepter.vpc == ours.accepter.vpc && q.accepter.account == ctx.me.account)
            .filter(|q| {
                q.requester
                    .cidrs
                    .iter()
                    .any(|a| ours.requester.cidrs.iter().any(|b| overlaps(a, b)))
            })
            .collect();
        let Some(winner) = rivals.iter().map(|q| q.id.as_str()).chain([ours.id.as_str()]).min() else {
            continue;
        };
        for p in rivals.iter().copied().chain([ours]).filter(|p| p.id != winner) {
            losers.insert((p.id.clone(), winner.to_string()));
        }
    }
    Ok(losers)
}

/// Deletes the losers, recording each in `report.undone` (or `failed`).
pub(super) async fn undo(
    ctx: &Context,
    losers: Result<BTreeSet<(String, String)>, Vec<String>>,
    report: &mut AccepterReport,
) {
    let losers = match losers {
        Ok(l) => l,
        Err(unchecked) => {
            report.failed.extend(unchecked);
            return;
        }
    };
    for (loser, winner) in losers {
        let reason = format!(
            "accepted at the same time as overlapping {winner}; the lowest id stays, so {loser} is deleted (every invocation applies this rule the same way)"
        );
        match ctx.aws.delete_peering(&loser).await {
            Ok(()) => {
                tracing::info!(peering_id = %loser, decision = "undo", reason = %reason, kept = %winner, "decision");
                report.undone.push(loser);
            }
            Err(e) => {
                tracing::error!(peering_id = %loser, error = %e, reason = %reason, "could not delete a peering accepted concurrently with an overlapping one");
                report.failed.push(loser);
            }
        }
    }
}
