//! The routing invariant, in one place. A block of a peer VPC gets a route
//! or a rule only while it
//!
//! 1. lies inside the entry's allowed ranges,
//! 2. overlaps no block of the local VPC, and
//! 3. overlaps no block that another active or provisioning peering of the
//!    same local VPC brings (the blocks it may be routed to, or, for a
//!    peering no entry manages, all its blocks: the user may route them).
//!
//! A peer can associate new blocks at any time, and AWS only stops a block
//! that overlaps a VPC the peer is itself peered with: a peer can grow into
//! the range of another peer of ours, and longest-prefix match would then
//! send part of that peer's traffic to it. Where EC2 does not list a peer's
//! block set, its blocks are unknown and nothing is routed to it.
//!
//! Pure: the finisher, drift, `plan` and the doctor all use it.

use std::collections::HashMap;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::Config;
use crate::finding::{Finding, FindingKind};
use crate::matching::{match_entry, overlaps};
use crate::model::{Identity, Peering, PeeringStatus, Vpc};

/// Why a peer block is not routed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "why", rename_all = "kebab-case")]
pub enum Refusal {
    /// EC2's description lacks the peer VPC's block set.
    BlocksUnknown,
    NotAllowed {
        entry: String,
    },
    OverlapsLocal {
        local_block: IpNet,
    },
    /// `other` brings `other_block` to the same local VPC.
    OverlapsPeering {
        other: String,
        other_block: IpNet,
    },
}

/// One refused block of one managed peering end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refused {
    pub peering: String,
    pub local_vpc: String,
    pub remote_vpc: String,
    pub block: Option<IpNet>,
    pub refusal: Refusal,
}

impl Refused {
    pub fn finding(&self) -> Finding {
        let (pcx, remote, local) = (&self.peering, &self.remote_vpc, &self.local_vpc);
        let block = self.block.map(|b| b.to_string()).unwrap_or_default();
        let (kind, message, fix) = match &self.refusal {
            Refusal::BlocksUnknown => (
                FindingKind::CidrNotAllowed,
                format!(
                    "EC2's description of peer VPC {remote} (peering {pcx}) lacks its CidrBlockSet: its blocks are unknown, so nothing is routed to it"
                ),
                "check the peering in the EC2 console or API; peerlink routes once EC2 lists every block".to_string(),
            ),
            Refusal::NotAllowed { entry } => (
                FindingKind::CidrNotAllowed,
                format!(
                    "peer VPC {remote} has CIDR block {block}, outside the allowed ranges of entry {entry:?}; nothing is routed to it"
                ),
                "if the block is expected, add it to allowed_cidrs; otherwise ask the peer to remove it".to_string(),
            ),
            Refusal::OverlapsLocal { local_block } => (
                FindingKind::CidrNotAllowed,
                format!(
                    "peer CIDR block {block} overlaps {local_block} of the local VPC {local}; nothing is routed to it"
                ),
                "re-address one of the VPCs; overlapping ranges cannot be routed".to_string(),
            ),
            Refusal::OverlapsPeering { other, other_block } => (
                FindingKind::OverlapConflict,
                format!(
                    "peer block {block} of {pcx} overlaps {other_block} of {other}, both peered with {local}: neither is routed, or longest-prefix match would send one peer's traffic to the other"
                ),
                format!(
                    "narrow the allowed_cidrs of the entry whose peer grew into the other's range, or have that peer disassociate the block; until then neither {pcx} nor {other} gets a route or rule for it"
                ),
            ),
        };
        Finding {
            kind,
            peering: Some(pcx.clone()),
            resource: Some(local.clone()),
            message,
            fix,
        }
    }
}

/// The routable blocks of every managed peering end that is active or
/// provisioning, per (peering, local VPC), and the refused ones.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    /// Peering id -> local VPC id -> blocks.
    pub routable: HashMap<String, HashMap<String, Vec<IpNet>>>,
    pub refused: Vec<Refused>,
}

impl Routing {
    pub fn blocks(&self, peering: &str, local_vpc: &str) -> &[IpNet] {
        self.routable
            .get(peering)
            .and_then(|by_vpc| by_vpc.get(local_vpc))
            .map_or(&[], Vec::as_slice)
    }

    pub fn refused_for(&self, peering: &str) -> impl Iterator<Item = &Refused> {
        self.refused.iter().filter(move |r| r.peering == peering)
    }
}

/// A peering that routes (or will): it counts against the blocks of others.
pub fn is_established(p: &Peering) -> bool {
    matches!(p.status, PeeringStatus::Active | PeeringStatus::Provisioning)
}

/// One established peering end of a local VPC and the blocks it claims.
struct End<'a> {
    peering: &'a Peering,
    local_vpc: &'a str,
    remote_vpc: &'a str,
    /// Blocks it may be routed to before looking at other peerings; `None`
    /// for a peering no entry manages.
    candidates: Option<Vec<IpNet>>,
    /// What it brings to the local VPC: every block its entry allows (routed
    /// or not), or every block it has when no entry manages it or its blocks
    /// are unknown (the user may route those; unknown ones may be anything).
    /// A block outside the entry's ranges is not claimed: narrowing an entry
    /// is how an operator gives a range back to the peer that owns it.
    claims: Vec<IpNet>,
}

/// Computes the invariant for every established peering end of this account.
pub fn routing(config: &Config, me: &Identity, peerings: &[Peering], vpcs: &HashMap<String, Vpc>) -> Routing {
    let mut out = Routing::default();
    let mut ends: Vec<End<'_>> = Vec::new();
    for p in peerings.iter().filter(|p| is_established(p)) {
        for side in p.local_sides(me) {
            let (local, remote) = (p.side(side), p.side(side.other()));
            let refuse = |block: Option<IpNet>, refusal: Refusal| Refused {
                peering: p.id.clone(),
                local_vpc: local.vpc.clone(),
                remote_vpc: remote.vpc.clone(),
                block,
                refusal,
            };
            let (candidates, claims) = match match_entry(config, local, remote) {
                Err(_) => (None, remote.cidrs.clone()),
                Ok(_) if !remote.blocks_known => {
                    out.refused.push(refuse(None, Refusal::BlocksUnknown));
                    (Some(Vec::new()), remote.cidrs.clone())
                }
                Ok(entry) => {
                    let local_blocks = vpcs
                        .get(&local.vpc)
                        .map_or(local.cidrs.as_slice(), |v| v.cidrs.as_slice());
                    let (mut ok, mut claims) = (Vec::new(), Vec::new());
                    for block in &remote.cidrs {
                        if !entry.allows(block) {
                            out.refused.push(refuse(
                                Some(*block),
                                Refusal::NotAllowed {
                                    entry: entry.name.clone(),
                                },
                            ));
                            continue;
                        }
                        claims.push(*block);
                        if let Some(l) = local_blocks.iter().find(|l| overlaps(block, l)) {
                            out.refused
                                .push(refuse(Some(*block), Refusal::OverlapsLocal { local_block: *l }));
                        } else {
                            ok.push(*block);
                        }
                    }
                    (Some(ok), claims)
                }
            };
            ends.push(End {
                peering: p,
                local_vpc: &local.vpc,
                remote_vpc: &remote.vpc,
                claims,
                candidates,
            });
        }
    }
    // Ends by local VPC: a hub with a thousand peerings compares each only
    // with the peerings of its own VPC.
    let mut by_vpc: HashMap<&str, Vec<&End<'_>>> = HashMap::new();
    for end in &ends {
        by_vpc.entry(end.local_vpc).or_default().push(end);
    }
    for end in &ends {
        let Some(candidates) = &end.candidates else { continue };
        let mut routable = Vec::new();
        for block in candidates {
            let clash = by_vpc[end.local_vpc]
                .iter()
                .filter(|o| o.peering.id != end.peering.id)
                .find_map(|o| o.claims.iter().find(|b| overlaps(block, b)).map(|b| (o, *b)));
            match clash {
                Some((other, other_block)) => out.refused.push(Refused {
                    peering: end.peering.id.clone(),
                    local_vpc: end.local_vpc.to_string(),
                    remote_vpc: end.remote_vpc.to_string(),
                    block: Some(*block),
                    refusal: Refusal::OverlapsPeering {
                        other: other.peering.id.clone(),
                        other_block,
                    },
                }),
                None => routable.push(*block),
            }
        }
        out.routable
            .entry(end.peering.id.clone())
            .or_default()
            .insert(end.local_vpc.to_string(), routable);
    }
    out
}

#[cfg(test)]
mod tests;
