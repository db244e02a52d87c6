//! The checks a request must pass, each with what it found: in the words of
//! the local decision record (everything) and in the words the requester is
//! told (its own request only: never another peering, another peer's blocks,
//! another local VPC or the allowed ranges).

use ipnet::IpNet;
use serde::Serialize;

use super::AcceptContext;
use crate::config::PeerEntry;
use crate::matching::{match_entry, overlaps};
use crate::model::{Peering, PeeringStatus, Side};
use crate::routing::is_established;

pub const ALLOWLIST: &str = "allowlist";
pub const ALLOWED_RANGES: &str = "allowed-ranges";
pub const LOCAL_OVERLAP: &str = "local-overlap";
pub const PEER_OVERLAP: &str = "peer-overlap";
pub const QUOTA: &str = "quota";
pub const AUTO_ACCEPT: &str = "auto-accept";

/// One check and its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
}

/// A check with what the requester may be told about it.
#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub check: Check,
    pub told: String,
}

impl Outcome {
    pub(super) fn ok(check: &'static str, detail: String) -> Outcome {
        Outcome {
            check: Check {
                check,
                ok: true,
                detail,
            },
            told: String::new(),
        }
    }

    pub(super) fn failed(check: &'static str, detail: String, told: String) -> Outcome {
        Outcome {
            check: Check {
                check,
                ok: false,
                detail,
            },
            told,
        }
    }
}

fn list(nets: &[IpNet]) -> String {
    nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// CIDR blocks the local VPC reaches, or is about to, through its other
/// peerings: the active and provisioning ones, and the requests it made
/// itself that wait for their peer. With the peering that brings each.
///
/// EC2 describes the accepter's blocks of a request only once it is active,
/// so what an outgoing request claims is the peer's blocks when EC2 lists
/// them, else every range its entry allows for that peer.
pub(super) fn peered_cidrs<'p>(ctx: &'p AcceptContext<'_>, local_vpc: &str, except: &str) -> Vec<(IpNet, &'p Peering)> {
    let mut out = Vec::new();
    for p in ctx.peerings.iter().filter(|p| p.id != except) {
        for side in [Side::Requester, Side::Accepter] {
            let (end, remote) = (p.side(side), p.side(side.other()));
            if end.vpc != local_vpc || end.account != ctx.me.account {
                continue;
            }
            let ours_outgoing = side == Side::Requester
                && matches!(
                    p.status,
                    PeeringStatus::PendingAcceptance | PeeringStatus::InitiatingRequest
                );
            if is_established(p) {
                out.extend(remote.cidrs.iter().map(|c| (*c, p)));
            } else if ours_outgoing {
                let claimed = match match_entry(ctx.config, end, remote) {
                    Ok(entry) if remote.cidrs.is_empty() => entry.allowed_cidrs.iter().map(|c| c.0).collect(),
                    _ => remote.cidrs.clone(),
                };
                out.extend(claimed.into_iter().map(|c| (c, p)));
            }
        }
    }
    out
}

/// How many peerings bring the blocks of `peered`.
pub(super) fn peer_count(peered: &[(IpNet, &Peering)]) -> usize {
    peered
        .iter()
        .map(|(_, p)| p.id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
}

/// The established peerings of a local VPC, other than `except`.
fn established_on(ctx: &AcceptContext<'_>, local_vpc: &str, except: &str) -> usize {
    ctx.peerings
        .iter()
        .filter(|p| p.id != except && is_established(p))
        .filter(|p| p.local_sides(ctx.me).iter().any(|s| p.side(*s).vpc == local_vpc))
        .count()
}

/// The checks of the requester's blocks against a matched entry: allowed
/// ranges, the local VPC, the local VPC's other peers; with `quota`, the
/// local VPC's peering quota. Each failure is one outcome.
pub(super) fn assess(ctx: &AcceptContext<'_>, peering: &Peering, entry: &PeerEntry, quota: bool) -> Vec<Outcome> {
    let requester = &peering.requester;
    let local_id = &peering.accepter.vpc;
    let mut out = Vec::new();
    if requester.cidrs.is_empty() {
        let why = "EC2 reports no CIDR block for the requester VPC".to_string();
        out.push(Outcome::failed(ALLOWED_RANGES, why.clone(), why));
        return out;
    }
    let outside: Vec<IpNet> = requester.cidrs.iter().copied().filter(|c| !entry.allows(c)).collect();
    if outside.is_empty() {
        out.push(Outcome::ok(
            ALLOWED_RANGES,
            format!("{} inside the allowed ranges", list(&requester.cidrs)),
        ));
    } else {
        let allowed: Vec<String> = entry.allowed_cidrs.iter().map(ToString::to_string).collect();
        out.push(Outcome::failed(
            ALLOWED_RANGES,
            format!(
                "requester CIDR block(s) {} lie outside the allowed ranges of entry {:?} ({})",
                list(&outside),
                entry.name,
                allowed.join(", ")
            ),
            format!(
                "requester CIDR block(s) {} lie outside the ranges this accepter allows for the requester VPC",
                list(&outside)
            ),
        ));
    }
    let Some(local_vpc) = ctx.vpcs.get(local_id) else {
        out.push(Outcome::failed(
            LOCAL_OVERLAP,
            format!("local VPC {local_id} could not be read, so overlap cannot be ruled out"),
            "the accepter could not read its VPC, so an overlap cannot be ruled out".into(),
        ));
        return out;
    };
    let mut local: Vec<IpNet> = local_vpc.cidrs.clone();
    local.extend(peering.accepter.cidrs.iter().filter(|c| !local_vpc.cidrs.contains(c)));
    let clash = requester
        .cidrs
        .iter()
        .find_map(|r| local.iter().find(|l| overlaps(r, l)).map(|l| (r, l)));
    out.push(match clash {
        Some((r, l)) => Outcome::failed(
            LOCAL_OVERLAP,
            format!(
                "requester CIDR {r} overlaps {l} of the local VPC {local_id}; {}",
                crate::verify::advice::OVERLAP
            ),
            format!("requester CIDR {r} overlaps the address range of the VPC it asks to peer with"),
        ),
        None => Outcome::ok(LOCAL_OVERLAP, format!("no block overlaps the local VPC {local_id}")),
    });
    let peered = peered_cidrs(ctx, local_id, &peering.id);
    let clash = requester
        .cidrs
        .iter()
        .find_map(|r| peered.iter().find(|(c, _)| overlaps(r, c)).map(|(c, p)| (r, c, p)));
    let peers = peer_count(&peered);
    out.push(match clash {
        Some((r, c, p)) => Outcome::failed(
            PEER_OVERLAP,
            format!(
                "requester CIDR {r} overlaps {c}, already reachable (or about to be) from {local_id} through peering {} ({}); {}",
                p.id,
                p.status,
                crate::verify::advice::OVERLAP
            ),
            format!(
                "requester CIDR {r} overlaps a range the VPC it asks to peer with already reaches (or is about to) through another peering"
            ),
        ),
        None => Outcome::ok(
            PEER_OVERLAP,
            format!("no block overlaps the {peers} active peer(s) of {local_id}"),
        ),
    });
    if quota {
        out.push(quota_check(ctx, peering));
    }
    out
}

/// AWS's quota of active peerings per VPC (`settings.active_peerings_per_vpc`):
/// it fails the accept itself, so it is checked before.
fn quota_check(ctx: &AcceptContext<'_>, peering: &Peering) -> Outcome {
    let local_id = &peering.accepter.vpc;
    let limit = ctx.config.settings.active_peerings_per_vpc;
    let active = established_on(ctx, local_id, &peering.id);
    if active >= limit {
        Outcome::failed(
            QUOTA,
            format!(
                "local VPC {local_id} has {active} active peering(s): settings.active_peerings_per_vpc is {limit} (AWS's quota of active VPC peering connections per VPC); left pending until one goes or the quota and the setting are raised"
            ),
            "the VPC it asks to peer with has reached its quota of active peerings".into(),
        )
    } else {
        Outcome::ok(
            QUOTA,
            format!("{active} of {limit} active peerings of {local_id} (settings.active_peerings_per_vpc)"),
        )
    }
}
