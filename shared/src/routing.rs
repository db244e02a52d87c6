//! The routing invariant, in one place. A block of a peer VPC gets a route
//! or a rule only while it
//!
//! 1. lies inside the entry's allowed ranges,
//! 2. overlaps no block of the local VPC, and
//! 3. overlaps no block that another active or provisioning peering of the
//!    same local VPC brings (the blocks its entry allows, routed or not, or,
//!    for a peering no entry manages, all its blocks: the user may route
//!    them), unless this block is *held* and the other one is not.
//!
//! A peer can associate new blocks at any time, and AWS only stops a block
//! that overlaps a VPC the peer is itself peered with: a peer can grow into
//! the range of another peer of ours, and longest-prefix match would then
//! send part of that peer's traffic to it. Where EC2 does not list a peer's
//! block set, its blocks are unknown and nothing is routed to it.
//!
//! # Who keeps a contested block
//!
//! No peer can cut off another: a block stays with the peering end that
//! already *holds* it, and only the newcomer's clashing block is refused.
//! A managed peering end holds one of its peer's current blocks when
//! peerlink's work for exactly that block is in place: a route to it through
//! the peering in a route table the entry selects, or a rule carrying the
//! peering's marker for it in a group the entry names. An entry that routes
//! only `routes.destinations` (ranges narrower than the blocks) holds a
//! block when a route to one of those destinations lying inside it is in
//! place: its routes never match a block exactly, and without this a
//! newcomer's overlapping block would take the block's destinations away.
//! Overlaps are still judged block against block (the whole block is what
//! the peer can send from, and what a rule without `cidrs` opens): stricter
//! than comparing destinations, so a newcomer may be refused a range the
//! holder does not route, but never one that cuts the holder off. That is
//! exactly what the plan keeps for a routable block and takes back for a
//! refused one, so the holder stays the holder on every later pass (no
//! flip-flop), a partly finished holder (routed in some tables only) holds
//! all the same, and a refused block never becomes held. A peering no entry manages never
//! holds (peerlink has no work of its own there), but its blocks still
//! refuse newcomers.
//!
//! For each pair of overlapping blocks of two ends of the same local VPC:
//! when exactly one is held, it stays routable and the other is refused;
//! when neither is (both new, or both unrouted), both are refused until the
//! operator narrows an entry or a peer gives its block up; both held cannot
//! come from peerlink's own writes (it never routes a clashing block), and
//! both are refused then too rather than guess. When the holder gives its
//! block up (disassociates it, or its entry is narrowed), it no longer
//! claims it and the newcomer gets it on the next pass.
//!
//! Pure: the finisher, drift, `plan` and the doctor all use it, with what
//! they observed passed in ([`State`]).

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Cidr, Config, PeerEntry, TableSelect};
use crate::finding::{Finding, FindingKind};
use crate::matching::{match_entry, overlaps};
use crate::model::{Identity, Peering, PeeringStatus, RouteTable, RouteTarget, SecurityGroup, Vpc};
use crate::ownership::marked_peering;

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
    /// `other` brings `other_block` to the same local VPC; `other_holds`
    /// when peerlink's routes or rules for it are in place (it keeps it).
    OverlapsPeering {
        other: String,
        other_block: IpNet,
        other_holds: bool,
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
            Refusal::OverlapsPeering {
                other,
                other_block,
                other_holds: true,
            } => (
                FindingKind::OverlapConflict,
                format!(
                    "peer block {block} of {pcx} overlaps {other_block}, which {other} already holds in {local} (peerlink's routes or rules for it are in place): {other} keeps it, and {block} gets no route or rule through {pcx}"
                ),
                format!(
                    "have the peer of {pcx} disassociate {block}, or narrow the allowed_cidrs of its entry; if the peer of {other} gives {other_block} up, {pcx} gets {block} on the next pass"
                ),
            ),
            Refusal::OverlapsPeering { other, other_block, .. } => (
                FindingKind::OverlapConflict,
                format!(
                    "peer block {block} of {pcx} overlaps {other_block} of {other}, both peered with {local} and neither routed yet: neither is routed, or longest-prefix match would send one peer's traffic to the other"
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

/// What the invariant is computed from: the peerings and local VPCs, and
/// what peerlink has in place (route tables, security groups by id) to tell
/// which blocks are held.
pub struct State<'a> {
    pub peerings: &'a [Peering],
    pub vpcs: &'a HashMap<String, Vpc>,
    pub route_tables: &'a [RouteTable],
    pub groups: HashMap<&'a str, &'a SecurityGroup>,
}

/// A peering that routes (or will): it counts against the blocks of others.
pub fn is_established(p: &Peering) -> bool {
    matches!(p.status, PeeringStatus::Active | PeeringStatus::Provisioning)
}

/// Whether an entry's route selection takes in `table` (peerlink adds,
/// replaces and removes routes only in the tables it selects).
pub fn selects(entry: &PeerEntry, table: &RouteTable) -> bool {
    match entry.routes.select {
        TableSelect::All => true,
        TableSelect::None => false,
        TableSelect::Tagged => entry.routes.tags.iter().all(|(k, v)| table.tags.get(k) == Some(v)),
        TableSelect::Ids => entry.routes.ids.iter().any(|id| *id == *table.id.as_str()),
        TableSelect::Subnets => entry.routes.subnets.iter().any(|s| {
            let s = s.as_str();
            table.subnets.iter().chain(&table.main_for).any(|t| t == s)
        }),
    }
}

/// The ranges of `ranges` that lie inside one of `blocks`: a range narrower
/// than the peer's blocks (a route's destination, a rule's CIDR) is routed
/// or opened only while a block the peer has now, and that may be routed,
/// holds it (blocks change over time).
pub fn inside<'a>(ranges: &'a [Cidr], blocks: &'a [IpNet]) -> impl Iterator<Item = IpNet> + 'a {
    ranges
        .iter()
        .map(|c| c.0)
        .filter(|c| blocks.iter().any(|b| b.contains(c)))
}

/// What an end routes, given its routable `blocks`: its entry's
/// `routes.destinations` that lie inside them, or, with none listed, the
/// blocks themselves.
pub fn routed(entry: &PeerEntry, blocks: &[IpNet]) -> Vec<IpNet> {
    if entry.routes.destinations.is_empty() {
        blocks.to_vec()
    } else {
        inside(&entry.routes.destinations, blocks).collect()
    }
}

/// Whether a route to `dest` is one of [`routed`] (without building it).
pub fn routes_to(entry: &PeerEntry, blocks: &[IpNet], dest: &IpNet) -> bool {
    if entry.routes.destinations.is_empty() {
        blocks.contains(dest)
    } else {
        entry.routes.destinations.iter().any(|d| d.0 == *dest) && blocks.iter().any(|b| b.contains(dest))
    }
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
    /// The peer's blocks peerlink's routes or rules are in place for.
    held: HashSet<IpNet>,
}

/// Our work in place, by peering: (table, destination) of routes through
/// it, and (group, CIDR) of rules carrying its marker.
#[derive(Default)]
struct InPlace<'a> {
    routes: HashMap<&'a str, Vec<(&'a RouteTable, IpNet)>>,
    rules: HashMap<&'a str, Vec<(&'a str, IpNet)>>,
}

impl<'a> InPlace<'a> {
    /// Each route and rule looked at once: linear in the size of the account.
    fn new(state: &State<'a>) -> Self {
        let mut out = InPlace::default();
        for t in state.route_tables {
            for r in t.routes.iter().filter(|r| !r.blackhole) {
                if let RouteTarget::Peering(pcx) = &r.target {
                    out.routes.entry(pcx.as_str()).or_default().push((t, r.destination));
                }
            }
        }
        for g in state.groups.values() {
            for r in &g.rules {
                // A group reference holds no block.
                if let (Some(pcx), Some(cidr)) = (marked_peering(r.description.as_deref()), r.rule.peer.cidr()) {
                    out.rules.entry(pcx).or_default().push((g.id.as_str(), *cidr));
                }
            }
        }
        out
    }

    /// The blocks of `blocks` that `entry`'s end of `pcx` in `vpc` holds: a
    /// route or marked rule for exactly the block, or a route to one of the
    /// entry's `routes.destinations`, which holds the block it lies in.
    fn held(&self, pcx: &str, vpc: &str, entry: &PeerEntry, blocks: &[IpNet]) -> HashSet<IpNet> {
        let listed = |d: &IpNet| entry.routes.destinations.iter().any(|x| x.0 == *d);
        let routed = self.routes.get(pcx).into_iter().flatten();
        let routed = routed
            .filter(|(t, _)| t.vpc == vpc && selects(entry, t))
            .filter_map(|(_, d)| match blocks.iter().find(|b| b.contains(d)) {
                Some(b) if b == d || listed(d) => Some(*b),
                _ => None,
            });
        let ruled = self.rules.get(pcx).into_iter().flatten();
        let ruled = ruled
            .filter(|(g, _)| entry.security_group_rules.iter().any(|s| s.group == **g))
            .map(|(_, c)| *c)
            .filter(|c| blocks.contains(c));
        routed.chain(ruled).collect()
    }
}

/// Why `block` of `end` loses to a block another end of the same VPC
/// brings, if it does: it loses every overlap unless it is held, and then
/// only an overlap with a held block (both held: peerlink does not guess).
/// A clash with a held block is the one reported: it says who keeps it.
fn contest(end: &End<'_>, block: IpNet, vpc_ends: &[&End<'_>]) -> Option<Refusal> {
    let holds = end.held.contains(&block);
    let lost: Vec<(&End<'_>, IpNet)> = vpc_ends
        .iter()
        .filter(|o| o.peering.id != end.peering.id)
        .flat_map(|o| o.claims.iter().map(move |b| (*o, *b)))
        .filter(|(o, b)| overlaps(&block, b) && (!holds || o.held.contains(b)))
        .collect();
    let (other, other_block) = lost.iter().find(|(o, b)| o.held.contains(b)).or(lost.first())?;
    Some(Refusal::OverlapsPeering {
        other: other.peering.id.clone(),
        other_block: *other_block,
        other_holds: other.held.contains(other_block),
    })
}

/// Computes the invariant for every established peering end of this account.
pub fn routing(config: &Config, me: &Identity, state: &State<'_>) -> Routing {
    let mut out = Routing::default();
    let in_place = InPlace::new(state);
    let mut ends: Vec<End<'_>> = Vec::new();
    for p in state.peerings.iter().filter(|p| is_established(p)) {
        for side in p.local_sides(me) {
            let (local, remote) = (p.side(side), p.side(side.other()));
            let refuse = |block: Option<IpNet>, refusal: Refusal| Refused {
                peering: p.id.clone(),
                local_vpc: local.vpc.clone(),
                remote_vpc: remote.vpc.clone(),
                block,
                refusal,
            };
            let entry = match_entry(config, local, remote).ok();
            let held = entry.map_or_else(HashSet::new, |e| in_place.held(&p.id, &local.vpc, e, &remote.cidrs));
            let (candidates, claims) = match entry {
                None => (None, remote.cidrs.clone()),
                Some(_) if !remote.blocks_known => {
                    out.refused.push(refuse(None, Refusal::BlocksUnknown));
                    (Some(Vec::new()), remote.cidrs.clone())
                }
                Some(entry) => {
                    let local_blocks = state
                        .vpcs
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
                held,
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
            match contest(end, *block, &by_vpc[end.local_vpc]) {
                Some(refusal) => out.refused.push(Refused {
                    peering: end.peering.id.clone(),
                    local_vpc: end.local_vpc.to_string(),
                    remote_vpc: end.remote_vpc.to_string(),
                    block: Some(*block),
                    refusal,
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
