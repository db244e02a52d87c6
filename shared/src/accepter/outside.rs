//! The console (or any tool with the permission) remains a way around
//! peerlink: a request accepted there never went through its checks. Drift
//! reviews every established peering this account accepted without
//! peerlink's mark and reports the ones that fail what peerlink checks
//! before accepting. (The routing invariant still routes none of their
//! blocks that fail.)

use std::collections::HashMap;

use crate::context::Context;
use crate::decision::{AcceptContext, review};
use crate::finding::{Finding, FindingKind};
use crate::model::{Peering, Side, Vpc};
use crate::ownership::ACCEPTED_TAG;
use crate::routing::is_established;

/// A finding for each established peering of a managed VPC that this
/// account accepted outside peerlink (no `peerlink:accepted` tag) and that
/// fails the acceptance checks.
pub fn accepted_outside(ctx: &Context, peerings: &[Peering], vpcs: &HashMap<String, Vpc>) -> Vec<Finding> {
    let actx = AcceptContext {
        me: &ctx.me,
        config: &ctx.config,
        vpcs,
        peerings,
    };
    peerings
        .iter()
        .filter(|p| is_established(p) && !p.tags.contains_key(ACCEPTED_TAG))
        .filter(|p| p.local_sides(&ctx.me).contains(&Side::Accepter))
        .filter_map(|p| {
            let failed = review(&actx, p);
            if failed.is_empty() {
                return None;
            }
            let what: Vec<String> = failed.iter().map(|c| format!("{}: {}", c.check, c.detail)).collect();
            let r = &p.requester;
            Some(Finding {
                kind: FindingKind::AcceptedOutsidePeerlink,
                peering: Some(p.id.clone()),
                resource: Some(p.accepter.vpc.clone()),
                message: format!(
                    "peering {} (VPC {} of account {} in {}) was accepted outside peerlink (it carries no {ACCEPTED_TAG} tag: the console, the AWS CLI, another tool, or a peerlink version before the tag) and fails what peerlink checks before accepting: {}",
                    p.id,
                    r.vpc,
                    r.account,
                    r.region,
                    what.join("; ")
                ),
                fix: format!(
                    "delete it if it should not exist (aws ec2 delete-vpc-peering-connection --vpc-peering-connection-id {}), or correct its entry; peerlink routes none of its blocks that fail the checks. To close this way around peerlink, allow ec2:AcceptVpcPeeringConnection to peerlink's role only (a service control policy or a permissions boundary), and accept by hand with `peerlink approve`",
                    p.id
                ),
            })
        })
        .collect()
}
