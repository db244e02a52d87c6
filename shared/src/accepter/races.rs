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
//!
//! An invocation can die (or fail to re-read) between accepting and
//! checking. So before accepting a request while other requests to the same
//! VPC are pending, it tags it `pending-check` with their ids ([`ACCEPTED_TAG`]),
//! and marks it `checked` once its check ran. The sweep applies the same
//! rule to every established peering still tagged `pending-check`, against
//! the ones its tag names: exactly the ones it could have raced with.

use std::collections::BTreeSet;

use super::{AccepterReport, Snapshot};
use crate::context::{Context, Mode};
use crate::decision::Verdict;
use crate::logging::joined;
use crate::matching::overlaps;
use crate::model::{Peering, PeeringStatus, Side};
use crate::outcome::WriteResult;
use crate::ownership::ACCEPTED_TAG;
use crate::routing::is_established;

/// The value of [`ACCEPTED_TAG`] once the check ran.
const CHECKED: &str = "checked";
const PENDING_CHECK: &str = "pending-check";
/// EC2's longest tag value.
const TAG_VALUE_MAX: usize = 256;

/// (loser, winner) pairs: what to delete, and the peering that stays.
pub(super) type Losers = BTreeSet<(String, String)>;

/// Whether two requesters' blocks may overlap: they do, or one side's blocks
/// are not all known (EC2 lists only the primary block of a pending request).
fn may_overlap(a: &Peering, b: &Peering) -> bool {
    !a.requester.blocks_known
        || !b.requester.blocks_known
        || a.requester
            .cidrs
            .iter()
            .any(|x| b.requester.cidrs.iter().any(|y| overlaps(x, y)))
}

/// The requests that could be accepted at the same time as `peering` and
/// overlap it: the other pending requests to the same local VPC.
pub(super) fn rivals_of(ctx: &Context, snapshot: &Snapshot, peering: &str) -> Vec<String> {
    let Some(p) = snapshot.peerings.iter().find(|p| p.id == peering) else {
        return Vec::new();
    };
    let mut rivals: Vec<&Peering> = snapshot
        .peerings
        .iter()
        .filter(|q| q.id != p.id && q.status == PeeringStatus::PendingAcceptance)
        .filter(|q| q.accepter.vpc == p.accepter.vpc && q.local_sides(&ctx.me).contains(&Side::Accepter))
        .filter(|q| may_overlap(p, q))
        .collect();
    // Known overlaps first: they are kept if the tag cannot hold them all.
    rivals.sort_by_key(|q| (q.requester.blocks_known && p.requester.blocks_known, q.id.as_str()));
    rivals.reverse();
    rivals.into_iter().map(|q| q.id.clone()).collect()
}

/// The `pending-check` tag value naming `rivals` (as many as fit).
pub(super) fn pending_check(rivals: &[String]) -> String {
    let mut value = PENDING_CHECK.to_string();
    for id in rivals {
        if value.len() + 1 + id.len() > TAG_VALUE_MAX {
            tracing::warn!(kept = %value, "too many pending requests to name them all on the peering; the sweep checks against the ones named");
            break;
        }
        value.push(' ');
        value.push_str(id);
    }
    value
}

/// Tags `peering` as accepted by peerlink and checked (`approved by <who>`
/// when a human approved it: the record stays on the peering).
pub(super) async fn mark_checked(ctx: &Context, peering: &str, approved_by: Option<&str>) {
    let value = match approved_by {
        Some(who) => format!("{CHECKED}; approved by {who}")
            .chars()
            .take(TAG_VALUE_MAX)
            .collect(),
        None => CHECKED.to_string(),
    };
    let tag = [(ACCEPTED_TAG.to_string(), value)];
    if let Err(e) = ctx.aws.create_tags(peering, &tag).await {
        tracing::warn!(peering_id = %peering, error = %e, "could not mark the peering as checked; the next sweep checks it again");
    }
}

/// What this invocation accepted concurrently with an overlapping peering
/// that takes precedence, or such a peering when ours takes precedence.
/// `Err` lists the accepted peerings that could not be checked (the
/// re-read failed). An accept whose answer was lost (already done) counts:
/// it may have been ours.
pub(super) async fn concurrent_losers(
    ctx: &Context,
    snapshot: &Snapshot,
    report: &AccepterReport,
) -> Result<Losers, Vec<String>> {
    let accepted = accepted(report);
    if accepted.is_empty() {
        return Ok(BTreeSet::new());
    }
    let now = match ctx.aws.describe_peerings(None).await {
        Ok(now) => now,
        Err(e) => {
            tracing::warn!(error = %e, "could not re-read the peerings after accepting; the next sweep checks for a concurrent overlapping acceptance");
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
    let mut losers = Losers::new();
    for id in accepted {
        let Some(ours) = now.iter().find(|p| p.id == id && is_established(p)) else {
            continue;
        };
        let rivals = now.iter().filter(|q| was_pending(&q.id));
        lowest_id_stays(ctx, ours, rivals, &mut losers);
    }
    Ok(losers)
}

/// The peerings of `report` this invocation accepted (or found accepted).
pub(super) fn accepted(report: &AccepterReport) -> Vec<&str> {
    report
        .outcomes
        .iter()
        .filter(|o| o.decision.verdict == Verdict::Accept)
        .filter(|o| matches!(o.result, WriteResult::Done | WriteResult::AlreadyDone))
        .map(|o| o.decision.peering_id.as_str())
        .collect()
}

/// Among `ours` and the `candidates` that are established, accepted into
/// the same local VPC and overlap it, the lowest id stays.
fn lowest_id_stays<'a>(
    ctx: &Context,
    ours: &'a Peering,
    candidates: impl Iterator<Item = &'a Peering>,
    losers: &mut Losers,
) {
    let rivals: Vec<&Peering> = candidates
        .filter(|q| q.id != ours.id && is_established(q))
        .filter(|q| q.accepter.vpc == ours.accepter.vpc && q.accepter.account == ctx.me.account)
        .filter(|q| {
            q.requester
                .cidrs
                .iter()
                .any(|a| ours.requester.cidrs.iter().any(|b| overlaps(a, b)))
        })
        .collect();
    let Some(winner) = rivals.iter().map(|q| q.id.as_str()).chain([ours.id.as_str()]).min() else {
        return;
    };
    for p in rivals.iter().copied().chain([ours]).filter(|p| p.id != winner) {
        losers.insert((p.id.clone(), winner.to_string()));
    }
}

/// Established peerings an invocation accepted and could not check (still
/// tagged `pending-check`), checked now against the requests their tag
/// names. Returns the losers, and the peerings found unchecked.
pub(super) fn leftovers(ctx: &Context, snapshot: &Snapshot) -> (Losers, Vec<String>) {
    let mut losers = Losers::new();
    let mut unchecked = Vec::new();
    for p in snapshot.peerings.iter().filter(|p| is_established(p)) {
        let Some(named) = p.tags.get(ACCEPTED_TAG).and_then(|v| v.strip_prefix(PENDING_CHECK)) else {
            continue;
        };
        if !p.local_sides(&ctx.me).contains(&Side::Accepter) {
            continue;
        }
        let named: Vec<&str> = named.split_whitespace().collect();
        let rivals = snapshot.peerings.iter().filter(|q| named.contains(&q.id.as_str()));
        lowest_id_stays(ctx, p, rivals, &mut losers);
        unchecked.push(p.id.clone());
    }
    (losers, unchecked)
}

/// Deletes the losers, recording each in `report.undone` (or `failed`).
pub(super) async fn undo(ctx: &Context, losers: Losers, why: &str, report: &mut AccepterReport) {
    for (loser, winner) in losers {
        let reason = format!(
            "{why} overlapping {winner}; the lowest id stays, so {loser} is deleted (every invocation applies this rule the same way)"
        );
        let deleted = match ctx.aws.delete_peering(&loser).await {
            Ok(()) => true,
            // Another invocation applying the same rule may have got there first.
            Err(e) => match ctx.aws.describe_peerings(Some(std::slice::from_ref(&loser))).await {
                Ok(now) if now.iter().all(|p| p.status.is_gone()) => true,
                _ => {
                    tracing::error!(peering_id = %loser, error = %e, reason = %reason, "could not delete a peering accepted concurrently with an overlapping one");
                    false
                }
            },
        };
        if deleted {
            tracing::info!(peering_id = %loser, decision = "undo", reason = %reason, kept = %winner, "decision");
            report.undone.push(loser);
        } else {
            report.failed.push(loser);
        }
    }
}

/// Applies the concurrency rule in place of invocations that accepted and
/// could not check (see [`races`]).
pub(super) async fn check_leftovers(ctx: &Context, snapshot: &Snapshot, mode: Mode, report: &mut AccepterReport) {
    let (losers, unchecked) = leftovers(ctx, snapshot);
    if unchecked.is_empty() {
        return;
    }
    if mode == Mode::Plan {
        let pairs: Vec<String> = losers.iter().map(|(l, w)| format!("{l} (keeps {w})")).collect();
        tracing::warn!(unchecked = %joined(&unchecked), to_delete = %joined(&pairs), "peerings accepted without their concurrency check; report mode deletes nothing");
        report.note = Some(format!(
            "accepted without their concurrency check: {}; to delete: {}",
            unchecked.join(", "),
            if pairs.is_empty() {
                "none".into()
            } else {
                pairs.join(", ")
            }
        ));
        return;
    }
    undo(
        ctx,
        losers,
        "accepted (by an invocation that could not check) at the same time as",
        report,
    )
    .await;
    let survivors = unchecked.iter().filter(|id| !report.undone.contains(id));
    futures_util::future::join_all(survivors.map(|id| mark_checked(ctx, id, None))).await;
}
