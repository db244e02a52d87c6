//! The accepter's decision: a pure function from the configuration and the
//! peering as EC2 describes it to accept / reject / leave pending / skip, with
//! a reason a human can read. Nothing here calls AWS.

use std::collections::HashMap;
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Config, PeerEntry, UnmatchedRequests};
use crate::matching::{match_entry, overlaps};
use crate::model::{Identity, Peering, PeeringSide, PeeringStatus, Side, Vpc};
use crate::routing::is_established;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Accept,
    Reject,
    /// Not accepted, but left pending for a human (or for `ignore` mode).
    LeavePending,
    /// Not ours to decide: we are the requester, or it is not pending.
    Skip,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accept => "accept",
            Verdict::Reject => "reject",
            Verdict::LeavePending => "leave-pending",
            Verdict::Skip => "skip",
        })
    }
}

/// One decision with everything a reviewer needs to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub peering_id: String,
    pub verdict: Verdict,
    pub reason: String,
    /// The configuration entry the request matched, if any.
    pub entry: Option<String>,
    pub status: String,
    pub requester: PeeringSide,
    pub accepter: PeeringSide,
}

/// What the decision needs besides the peering itself.
pub struct AcceptContext<'a> {
    pub me: &'a Identity,
    pub config: &'a Config,
    /// The local VPCs, as read from EC2 (for the overlap check).
    pub vpcs: &'a HashMap<String, Vpc>,
    /// Every peering this account can see (for overlap with existing peers).
    pub peerings: &'a [Peering],
}

fn list(nets: &[IpNet]) -> String {
    nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// CIDR blocks the local VPC reaches, or is about to, through its other
/// peerings: the active and provisioning ones, and the requests it made
/// itself that wait for their peer. With the peering that brings each.
fn peered_cidrs<'p>(ctx: &'p AcceptContext<'_>, local_vpc: &str, except: &str) -> Vec<(IpNet, &'p Peering)> {
    let mut out = Vec::new();
    for p in ctx.peerings.iter().filter(|p| p.id != except) {
        for side in [Side::Requester, Side::Accepter] {
            let end = p.side(side);
            let ours_outgoing = side == Side::Requester
                && matches!(
                    p.status,
                    PeeringStatus::PendingAcceptance | PeeringStatus::InitiatingRequest
                );
            if end.vpc == local_vpc && end.account == ctx.me.account && (is_established(p) || ours_outgoing) {
                out.extend(p.side(side.other()).cidrs.iter().map(|c| (*c, p)));
            }
        }
    }
    out
}

/// Checks a request against a matched entry. `Err` carries why it is unsafe.
fn check(ctx: &AcceptContext<'_>, peering: &Peering, entry: &PeerEntry) -> Result<String, String> {
    let requester = &peering.requester;
    if requester.cidrs.is_empty() {
        return Err("EC2 reports no CIDR block for the requester VPC".into());
    }
    let outside: Vec<IpNet> = requester.cidrs.iter().copied().filter(|c| !entry.allows(c)).collect();
    if !outside.is_empty() {
        let allowed: Vec<String> = entry.allowed_cidrs.iter().map(ToString::to_string).collect();
        return Err(format!(
            "requester CIDR block(s) {} lie outside the allowed ranges of entry {:?} ({})",
            list(&outside),
            entry.name,
            allowed.join(", ")
        ));
    }
    let Some(local_vpc) = ctx.vpcs.get(&peering.accepter.vpc) else {
        return Err(format!(
            "local VPC {} could not be read, so overlap cannot be ruled out",
            peering.accepter.vpc
        ));
    };
    let mut local: Vec<IpNet> = local_vpc.cidrs.clone();
    local.extend(peering.accepter.cidrs.iter().filter(|c| !local_vpc.cidrs.contains(c)));
    for r in &requester.cidrs {
        if let Some(l) = local.iter().find(|l| overlaps(r, l)) {
            return Err(format!(
                "requester CIDR {r} overlaps {l} of the local VPC {}; {}",
                local_vpc.id,
                crate::verify::advice::OVERLAP
            ));
        }
    }
    let peered = peered_cidrs(ctx, &local_vpc.id, &peering.id);
    for r in &requester.cidrs {
        if let Some((c, p)) = peered.iter().find(|(c, _)| overlaps(r, c)) {
            return Err(format!(
                "requester CIDR {r} overlaps {c}, already reachable (or about to be) from {} through peering {} ({}); {}",
                local_vpc.id,
                p.id,
                p.status,
                crate::verify::advice::OVERLAP
            ));
        }
    }
    let peers = peered
        .iter()
        .map(|(_, p)| p.id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Ok(format!(
        "matches entry {:?}; requester CIDR block(s) {} lie inside the allowed ranges and overlap neither the local VPC nor its {} active peer(s)",
        entry.name,
        list(&requester.cidrs),
        peers
    ))
}

/// Decides what to do with one peering.
pub fn decide(ctx: &AcceptContext<'_>, peering: &Peering) -> Decision {
    let decision = |verdict: Verdict, reason: String, entry: Option<&str>| Decision {
        peering_id: peering.id.clone(),
        verdict,
        reason,
        entry: entry.map(str::to_string),
        status: peering.status.to_string(),
        requester: peering.requester.clone(),
        accepter: peering.accepter.clone(),
    };
    let accepter = &peering.accepter;
    if accepter.account != ctx.me.account {
        let role = if peering.requester.account == ctx.me.account {
            "this account is the requester"
        } else {
            "this account is not a party to it"
        };
        return decision(
            Verdict::Skip,
            format!("{role}; account {} decides", accepter.account),
            None,
        );
    }
    if accepter.region != ctx.me.region {
        return decision(
            Verdict::Skip,
            format!(
                "the accepter VPC is in {}; it is decided there, not in {}",
                accepter.region, ctx.me.region
            ),
            None,
        );
    }
    if peering.status != PeeringStatus::PendingAcceptance {
        return decision(
            Verdict::Skip,
            format!(
                "the peering is {}; only pending-acceptance requests are decided",
                peering.status
            ),
            None,
        );
    }
    // A VPC no entry names is not ours to decide for, whatever the setting
    // for unmatched requests (the shipped role may not even reject there).
    if !ctx.config.peers.iter().any(|e| e.local_vpc == *accepter.vpc.as_str()) {
        return decision(
            Verdict::Skip,
            format!(
                "{} is not a managed VPC: no entry names it as local_vpc; left for whoever manages it",
                accepter.vpc
            ),
            None,
        );
    }
    let refuse = |reason: String, entry: Option<&str>| {
        let verdict = match ctx.config.settings.unmatched_requests {
            UnmatchedRequests::Reject => Verdict::Reject,
            UnmatchedRequests::Ignore => Verdict::LeavePending,
        };
        decision(verdict, reason, entry)
    };
    let entry = match match_entry(ctx.config, accepter, &peering.requester) {
        Ok(entry) => entry,
        Err(reason) => return refuse(reason.to_string(), None),
    };
    if !peering.requester.blocks_known {
        return decision(
            Verdict::LeavePending,
            format!(
                "EC2's description of requester VPC {} lacks its CidrBlockSet: only its primary block is known, and a request is never accepted on the primary block alone; left pending",
                peering.requester.vpc
            ),
            Some(&entry.name),
        );
    }
    match check(ctx, peering, entry) {
        Err(reason) => refuse(reason, Some(&entry.name)),
        Ok(reason) if !entry.auto_accept => decision(
            Verdict::LeavePending,
            format!("{reason}; but the entry does not allow auto-accept, so a human accepts it"),
            Some(&entry.name),
        ),
        Ok(reason) => decision(Verdict::Accept, reason, Some(&entry.name)),
    }
}

#[cfg(test)]
mod tests;
