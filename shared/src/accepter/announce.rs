//! What the accepter tells others: each decision on the configured bus
//! (forwarded to the requester's account: its own decisions only), and a
//! request left for a human (routed to the accepter's notification topic).

use super::Snapshot;
use crate::context::Context;
use crate::decision::{Decision, Verdict};
use crate::events::{ACCEPTED_DETAIL_TYPE, AWAITING_APPROVAL_DETAIL_TYPE, REJECTED_DETAIL_TYPE};
use crate::ownership::APPROVAL_TAG;

/// Announces a decision on the configured bus: this account's finisher
/// runs at once, and the stack forwards it to the requester's account (only
/// its own decisions, by `requesterAccount`), so its finisher runs at once
/// too, or its team reads why it was rejected. Failure only delays that
/// until the schedules.
pub(super) async fn decision(ctx: &Context, d: &Decision) {
    let Some(bus) = &ctx.settings.event_bus else { return };
    let (detail_type, detail) = match d.verdict {
        Verdict::Accept => (
            ACCEPTED_DETAIL_TYPE,
            serde_json::json!({ "peeringId": d.peering_id, "requesterAccount": d.requester.account }),
        ),
        _ => {
            // Its own request only: the full reason (other peerings, other
            // peers' blocks, the allowed ranges) stays in the local record.
            let mut detail = serde_json::json!({
                "peeringId": d.peering_id,
                "requesterAccount": d.requester.account,
                "decision": "reject",
                "reason": d.requester_reason,
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

/// Announces a request its entry leaves to a human, with every check's
/// result, once: the request is tagged when announced, and a request
/// carrying the tag is not announced again (the sweep sees it every few
/// minutes for up to seven days).
pub(super) async fn awaiting_approval(ctx: &Context, snapshot: &Snapshot, d: &Decision) {
    let Some(bus) = &ctx.settings.event_bus else { return };
    let announced = snapshot
        .peerings
        .iter()
        .any(|p| p.id == d.peering_id && p.tags.contains_key(APPROVAL_TAG));
    if announced {
        return;
    }
    let detail = serde_json::json!({
        "peeringId": d.peering_id,
        "requesterAccount": d.requester.account,
        "requesterVpc": d.requester.vpc,
        "requesterCidrs": d.requester.cidrs,
        "accepterVpc": d.accepter.vpc,
        "entry": d.entry,
        "reason": d.reason,
        "checks": d.checks,
    });
    if let Err(e) = ctx.aws.put_event(bus, AWAITING_APPROVAL_DETAIL_TYPE, &detail).await {
        tracing::warn!(peering_id = %d.peering_id, error = %e, "could not announce the request awaiting approval; the next sweep tries again");
        return;
    }
    let tag = [(APPROVAL_TAG.to_string(), ctx.clock.unix().to_string())];
    if let Err(e) = ctx.aws.create_tags(&d.peering_id, &tag).await {
        tracing::warn!(peering_id = %d.peering_id, error = %e, "could not mark the request as announced; it may be announced again");
    }
}
