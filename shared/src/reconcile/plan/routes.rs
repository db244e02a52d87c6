//! Routes to the peer's routable blocks in every selected route table, the
//! routes of a replaced peering taken over, and our routes to blocks that
//! may no longer be routed taken back.

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::index::IndexedTable;
use super::{Action, Binding, Planner};
use crate::config::{PeerEntry, TableSelect};
use crate::finding::FindingKind;
use crate::model::{PeeringStatus, RouteTable, RouteTarget, Vpc};

fn selected(entry: &PeerEntry, table: &RouteTable) -> bool {
    match entry.routes.select {
        TableSelect::All => true,
        TableSelect::None => false,
        TableSelect::Tagged => entry.routes.tags.iter().all(|(k, v)| table.tags.get(k) == Some(v)),
        TableSelect::Ids => entry.routes.ids.iter().any(|id| *id == *table.id.as_str()),
    }
}

impl<'a> Planner<'a> {
    /// The peer blocks this end may be routed to (the routing invariant,
    /// [`crate::routing`]); the refused ones are reported. IPv6 blocks only
    /// where the local VPC has IPv6 too.
    pub(super) fn destinations(&mut self, b: &Binding<'_>, vpc: &Vpc) -> Vec<IpNet> {
        let refused: Vec<_> = self.routing.refused_for(&b.peering.id).map(|r| r.finding()).collect();
        self.plan.findings.extend(refused);
        let local_has_v6 = vpc.cidrs.iter().any(|c| matches!(c, IpNet::V6(_)));
        self.routing
            .blocks(&b.peering.id, &vpc.id)
            .iter()
            .copied()
            .filter(|c| matches!(c, IpNet::V4(_)) || local_has_v6)
            .collect()
    }

    pub(super) fn routes(&mut self, b: &Binding<'a>, vpc: &Vpc, dests: &[IpNet]) {
        let pcx = &b.peering.id;
        let idx = self.idx;
        let tables: Vec<&IndexedTable<'a>> = idx
            .tables(&vpc.id)
            .iter()
            .filter(|t| selected(b.entry, t.table))
            .collect();
        let limit = self.config.settings.routes_per_route_table;
        for it in tables {
            let table = it.table;
            let mut creates = Vec::new();
            for dest in dests {
                self.claimed_routes.insert((table.id.as_str(), *dest));
                let replace = |was: String| Action::ReplaceRoute {
                    route_table: table.id.clone(),
                    destination: *dest,
                    peering: pcx.clone(),
                    was,
                };
                match it.by_destination.get(dest) {
                    None => creates.push(*dest),
                    Some(r) if matches!(&r.target, RouteTarget::Peering(p) if p == pcx) => {
                        if r.blackhole {
                            self.act(
                                pcx,
                                replace(format!("{pcx} (blackhole)")),
                                "the route to the peer is a blackhole; re-pointing it at the active peering",
                            );
                        }
                    }
                    // A peering replaced by this one (deleted, then requested
                    // again between the same VPCs): its dead route is ours to
                    // take over, whatever order the events came in.
                    Some(r) if matches!(&r.target, RouteTarget::Peering(old) if self.gone(old)) => self.act(
                        pcx,
                        replace(format!("{} (gone)", r.target)),
                        format!(
                            "{dest} pointed at {}, a peering that is gone; {pcx} replaces it",
                            r.target
                        ),
                    ),
                    Some(r) if b.entry.routes.replace_conflicts && r.target != RouteTarget::Local => self.act(
                        pcx,
                        replace(r.target.to_string()),
                        format!(
                            "{dest} pointed at {} and entry {:?} allows replacing conflicts",
                            r.target, b.entry.name
                        ),
                    ),
                    Some(r) => self.finding(
                        FindingKind::RouteConflict,
                        Some(pcx),
                        Some(&table.id),
                        format!(
                            "route to {dest} in {} points at {}, not {pcx}; left alone",
                            table.id, r.target
                        ),
                        format!(
                            "remove that route, or set routes.replace_conflicts = true in entry {:?} to take it over",
                            b.entry.name
                        ),
                    ),
                }
            }
            if creates.is_empty() {
                continue;
            }
            let quota = (table.id.clone(), None);
            if let Err(used) = self.reserve(quota, table.route_count(), creates.len(), limit) {
                self.finding(
                    FindingKind::RouteQuota,
                    Some(pcx),
                    Some(&table.id),
                    format!(
                        "route table {} has {used} of {limit} routes; {} more are needed for {pcx}, so none were added",
                        table.id,
                        creates.len()
                    ),
                    "request a higher routes-per-route-table quota (and raise settings.routes_per_route_table), or summarise routes".into(),
                );
                continue;
            }
            for dest in creates {
                let why = if table.main {
                    format!("main table of {} has no route to peer block {dest}", vpc.id)
                } else if table.subnets.is_empty() {
                    format!("table has no route to peer block {dest}")
                } else {
                    format!(
                        "table of subnet(s) {} has no route to peer block {dest}",
                        table.subnets.join(",")
                    )
                };
                self.act(
                    pcx,
                    Action::CreateRoute {
                        route_table: table.id.clone(),
                        destination: dest,
                        peering: pcx.clone(),
                    },
                    why,
                );
            }
        }
    }

    /// Routes through a live managed peering to blocks it may not be routed
    /// to. A route to exactly one of the peer's blocks is what peerlink
    /// makes: it is taken back. Any other (a summary, say) is the user's:
    /// reported, never removed.
    pub(super) fn unroutable_routes(&mut self, binds: &[Binding<'_>]) {
        // Each table once, each route looked up: linear in the routes of the VPCs.
        let live: FxHashMap<(&str, &str), &Binding<'_>> = binds
            .iter()
            .filter(|b| b.peering.status == PeeringStatus::Active)
            .map(|b| ((b.peering.id.as_str(), b.peering.side(b.side).vpc.as_str()), b))
            .collect();
        let obs = self.obs;
        for table in &obs.route_tables {
            for r in &table.routes {
                let RouteTarget::Peering(pcx) = &r.target else { continue };
                let Some(b) = live.get(&(pcx.as_str(), table.vpc.as_str())) else {
                    continue;
                };
                if r.blackhole || self.routing.blocks(pcx, &table.vpc).contains(&r.destination) {
                    continue;
                }
                if self.claimed_routes.contains(&(table.id.as_str(), r.destination)) {
                    continue;
                }
                if b.peering.side(b.side.other()).cidrs.contains(&r.destination) {
                    self.act(
                        pcx,
                        Action::DeleteRoute {
                            route_table: table.id.clone(),
                            destination: r.destination,
                            peering: pcx.clone(),
                        },
                        format!(
                            "peer block {} may no longer be routed through {pcx} (see the findings); taking back peerlink's route",
                            r.destination
                        ),
                    );
                } else {
                    self.finding(
                        FindingKind::UnexpectedRoute,
                        Some(pcx),
                        Some(&table.id),
                        format!(
                            "route to {} in {} goes through {pcx} but that block is not an allowed peer block",
                            r.destination, table.id
                        ),
                        "delete the route unless you added it on purpose (peerlink never removes routes it cannot prove are its own)".into(),
                    );
                }
            }
        }
    }
}
