//! `peerlink approve`: a human accepts a request its entry leaves to a
//! human. The human stands in for `auto_accept` and for nothing else: the
//! request goes through the accepter's own decision (allowlist, every block
//! inside the ranges, overlaps, quota) and, once accepted, the same
//! announcement and concurrency check; a request that fails a check is
//! refused, whatever the human asked. Who approved is in the decision
//! record and on the peering's `peerlink:accepted` tag.

use super::{AccepterReport, Snapshot, Which, run};
use crate::context::{Context, Deadline, Mode};
use crate::decision::Approval;
use crate::error::{Error, Result};
use crate::ids::PeeringId;

/// Decides `peering` with `approver` (an IAM ARN) in place of `auto_accept`,
/// and accepts it if every other check passes.
pub async fn approve(ctx: &Context, peering: &PeeringId, approver: &str) -> Result<AccepterReport> {
    let snapshot = Snapshot::read(ctx).await?;
    if !snapshot.peerings.iter().any(|p| p.id == peering.as_str()) {
        return Err(Error::NotFound {
            what: "VPC peering connection",
            id: peering.to_string(),
            account: ctx.me.account.clone(),
            region: ctx.me.region.clone(),
        });
    }
    Ok(run(
        ctx,
        &snapshot,
        Which::Peering(peering.as_str()),
        Approval::Human(approver),
        Mode::Apply,
        "approve".into(),
        Deadline::none(),
    )
    .await)
}
