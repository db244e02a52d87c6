//! Routes to the peer's blocks in every selected route table, and the
//! routes through a live peering that its blocks no longer justify.

use ipnet::IpNet;

use super::index::IndexedTable;
use super::{Action, Binding, Planner};
use crate::config::{PeerEntry, TableSelect};
use crate::finding::FindingKind;
use crate::matching::overlaps;
use crate::model::{RouteTable, RouteTarget, Vpc};

fn selected(entry: &PeerEntry, table: &RouteTable) -> bool {
    match entry.routes.select {
        TableSelect::All => true,
        TableSelect::None => false,
        TableSelect::Tagged => entry.routes.tags.iter().all(|(k, v)| table.tags.get(k) == Some(v)),
        TableSelect::Ids => entry.routes.ids.iter().any(|id| *id == *table.id.as_str()),
    }
}

impl<'a> Planner<'a> {
    /// The peer blocks we may route to: inside the allowed ranges and clear of
    /// our own VPC. Others are reported and never routed.
    pub(super) fn destinations(&mut self, b: &Binding<'_>, vpc: &Vpc) -> Vec<IpNet> {
        let remote = b.peering.side(b.side.other());
        let local_has_v6 = vpc.cidrs.iter().any(|c| matches!(c, IpNet::V6(_)));
        let mut out = Vec::new();
        for c in &remote.cidrs {
            if !b.entry.allows(c) {
                self.finding(FindingKind::CidrNotAllowed,
                    Some(&b.peering.id),
                    Some(&remote.vpc),
                    format!(
                        "peer VPC {} has CIDR block {c}, outside the allowed ranges of entry {:?}; nothing is routed to it",
                        remote.vpc, b.entry.name
                    ),
                    "if the block is expected, add it to allowed_cidrs; otherwise ask the peer to remove it".into(),
                );
            } else if let Some(l) = vpc.cidrs.iter().find(|l| overlaps(c, l)) {
                self.finding(
                    FindingKind::CidrNotAllowed,
                    Some(&b.peering.id),
                    Some(&remote.vpc),
                    format!(
                        "peer CIDR block {c} overlaps {l} of the local VPC {}; nothing is routed to it",
                        vpc.id
                    ),
                    "re-address one of the VPCs; overlapping ranges cannot be routed".into(),
                );
            } else if matches!(c, IpNet::V4(_)) || local_has_v6 {
                out.push(*c);
            }
        }
        out
    }

    pub(super) fn routes(&mut self, b: &Binding<'a>, vpc: &Vpc, dests: &[IpNet]) {
        let pcx = &b.peering.id;
        let idx = self.idx;
        let tables: Vec<&IndexedTable<'a>> = idx
            .tables(&vpc.id)
            .iter()
            .filter(|t| selected(b.entry, t.table))
            .collect();
        if b.entry.routes.select == TableSelect::Ids {
            for id in &b.entry.routes.ids {
                if !tables.iter().any(|t| *id == *t.table.id.as_str()) {
                    self.finding(
                        FindingKind::MissingResource,
                        Some(pcx),
                        Some(id.as_str()),
                        format!("route table {id} is not a table of VPC {}", vpc.id),
                        format!("fix routes.ids of entry {:?}", b.entry.name),
                    );
                }
            }
        }
        let limit = self.config.settings.routes_per_route_table;
        for it in tables {
            let table = it.table;
            let mut creates = Vec::new();
            for dest in dests {
                match it.by_destination.get(dest) {
                    None => creates.push(*dest),
                    Some(r) if matches!(&r.target, RouteTarget::Peering(p) if p == pcx) => {
                        if r.blackhole {
                            self.act(
                                pcx,
                                Action::ReplaceRoute {
                                    route_table: table.id.clone(),
                                    destination: *dest,
                                    peering: pcx.clone(),
                                    was: format!("{pcx} (blackhole)"),
                                },
                                "the route to the peer is a blackhole; re-pointing it at the active peering",
                            );
                        }
                    }
                    Some(r) if b.entry.routes.replace_conflicts && r.target != RouteTarget::Local => self.act(
                        pcx,
                        Action::ReplaceRoute {
                            route_table: table.id.clone(),
                            destination: *dest,
                            peering: pcx.clone(),
                            was: r.target.to_string(),
                        },
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

    /// Routes through a live peering to blocks it may not be routed to (the
    /// peer's block is no longer allowed, say). Reported, not removed: nothing
    /// proves we made them.
    pub(super) fn unexpected_routes(&mut self) {
        let obs = self.obs;
        for table in &obs.route_tables {
            for r in &table.routes {
                let RouteTarget::Peering(pcx) = &r.target else { continue };
                let Some(allowed) = self.live_destinations.get(&(pcx.as_str(), table.vpc.as_str())) else {
                    continue;
                };
                if !allowed.contains(&r.destination) && !r.blackhole {
                    self.finding(FindingKind::UnexpectedRoute,
                        Some(pcx),
                        Some(&table.id),
                        format!("route to {} in {} goes through {pcx} but that block is not an allowed peer block", r.destination, table.id),
                        "delete the route unless you added it on purpose (peerlink never removes routes it cannot prove are its own)".into(),
                    );
                }
            }
        }
    }
}
