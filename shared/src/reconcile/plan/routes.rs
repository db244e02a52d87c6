//! Routes to the peer's routable blocks (or to the entry's narrower
//! `routes.destinations` inside them) in every selected route table, the
//! routes of a replaced peering (or of a block its peering gave up) taken
//! over, our routes to blocks that may no longer be routed taken back, and
//! the tables peerlink routes in recorded on the peering.
//!
//! peerlink adds, replaces and removes routes only in the tables the entry
//! selects ([`selects`]): what the user selected away is never touched.

use ipnet::IpNet;

use super::index::IndexedTable;
use super::{Action, Binding, Planner};
use crate::config::{PeerEntry, TableSelect};
use crate::finding::FindingKind;
use crate::matching::overlaps;
use crate::model::{PeeringStatus, Route, RouteTable, RouteTarget, Vpc};
use crate::ownership::{ALL_TABLES, NO_TABLES, TOO_MANY_TABLES, routes_tag};
use crate::routing::{routes_to, selects};

/// The longest value EC2 allows for a tag.
const TAG_VALUE_MAX: usize = 256;

/// Why a route through a live managed peering is peerlink's and unwanted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unwanted {
    /// Exactly one of the peer's blocks, which may not be routed; or one of
    /// the entry's destinations inside such a block.
    Refused,
    /// Exactly one of the peer's blocks, routable, while the entry routes
    /// only its `routes.destinations`.
    Narrowed,
    /// A destination in the entry's ranges that none of the peer's blocks
    /// overlaps any more (the peer gave it up): EC2 drops what it carries.
    Dead,
}

impl<'a> Planner<'a> {
    /// The peer blocks this end may be routed to (the routing invariant,
    /// [`crate::routing`]); the refused ones are reported. IPv6 blocks only
    /// where the local VPC has IPv6 too.
    pub(super) fn blocks(&mut self, b: &Binding<'_>, vpc: &Vpc) -> Vec<IpNet> {
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

    /// The tables of `vpc` that `entry` selects.
    pub(super) fn selected_tables(&self, entry: &PeerEntry, vpc: &str) -> Vec<&'a RouteTable> {
        let idx = self.idx;
        idx.tables(vpc)
            .iter()
            .map(|t| t.table)
            .filter(|t| selects(entry, t))
            .collect()
    }

    pub(super) fn routes(&mut self, b: &Binding<'a>, vpc: &Vpc, dests: &[IpNet]) {
        let pcx = &b.peering.id;
        let idx = self.idx;
        let tables: Vec<&IndexedTable<'a>> = idx
            .tables(&vpc.id)
            .iter()
            .filter(|t| selects(b.entry, t.table))
            .collect();
        self.record_tables(b, &tables);
        let limit = self.config.settings.routes_per_route_table;
        for it in tables {
            let table = it.table;
            let mut creates = Vec::new();
            for dest in dests {
                self.claimed_routes.insert((table.id.as_str(), *dest));
                if self.route_in(b, it, *dest) {
                    creates.push(*dest);
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

    /// Plans what `dest` needs in one selected table; `true` when a route is
    /// to be created (quotas are checked for the table's creates together).
    fn route_in(&mut self, b: &Binding<'a>, it: &IndexedTable<'a>, dest: IpNet) -> bool {
        let (pcx, table) = (&b.peering.id, it.table);
        let replace = |was: String| Action::ReplaceRoute {
            route_table: table.id.clone(),
            destination: dest,
            peering: pcx.clone(),
            was,
        };
        let existing = it.by_destination.get(&dest).copied();
        let released = existing.and_then(|r| self.released(table, r));
        match (existing, released) {
            (None, _) => return true,
            (Some(r), _) if matches!(&r.target, RouteTarget::Peering(p) if p == pcx) => {
                if r.blackhole {
                    self.act(
                        pcx,
                        replace(format!("{pcx} (blackhole)")),
                        "the route to the peer is a blackhole; re-pointing it at the active peering",
                    );
                }
            }
            // peerlink's route for a peering that no longer wants it (gone,
            // replaced by this one, or its peer gave the block up): ours to
            // take over in place, whatever order the events came in.
            (Some(r), Some(why)) => self.act(
                pcx,
                replace(format!("{} ({why})", r.target)),
                format!("{dest} pointed at {}, {why}; {pcx} takes it over", r.target),
            ),
            (Some(r), None) if b.entry.routes.replace_conflicts && r.target != RouteTarget::Local => self.act(
                pcx,
                replace(r.target.to_string()),
                format!(
                    "{dest} pointed at {} and entry {:?} allows replacing conflicts",
                    r.target, b.entry.name
                ),
            ),
            (Some(r), None) => self.finding(
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
        false
    }

    /// Records on the peering which tables the entry selects, so its routes
    /// can be taken back in those tables (and no others) once no entry
    /// manages the peering ([`Planner::withdrawn`]).
    fn record_tables(&mut self, b: &Binding<'_>, tables: &[&IndexedTable<'_>]) {
        let mut ids: Vec<&str> = tables.iter().map(|t| t.table.id.as_str()).collect();
        ids.sort_unstable();
        let record = match b.entry.routes.select {
            TableSelect::All => ALL_TABLES.to_string(),
            _ if ids.is_empty() => NO_TABLES.to_string(),
            _ => Some(ids.join(" "))
                .filter(|v| v.len() <= TAG_VALUE_MAX)
                .unwrap_or_else(|| TOO_MANY_TABLES.to_string()),
        };
        let key = routes_tag(b.side);
        if b.peering.tags.get(&key) != Some(&record) {
            self.tag_peering(&b.peering.id, key, &record);
        }
    }

    /// Whether `r` (in `table`, through a live managed peering end `b`) is
    /// peerlink's and no longer wanted by `b`. Only in the tables `b`'s entry
    /// selects; `None` for a route `b` may keep, or one not provably ours
    /// (a summary, a more specific route the entry does not list: the user's).
    fn unwanted(&self, b: &Binding<'_>, table: &RouteTable, r: &Route) -> Option<Unwanted> {
        let dest = &r.destination;
        let blocks = self.routing.blocks(&b.peering.id, &table.vpc);
        if r.blackhole || !selects(b.entry, table) || routes_to(b.entry, blocks, dest) {
            return None;
        }
        let remote = b.peering.side(b.side.other());
        let listed = b.entry.routes.destinations.iter().any(|d| d.0 == *dest);
        let inside_a_block = remote.cidrs.iter().any(|c| overlaps(c, dest));
        if remote.cidrs.contains(dest) && blocks.contains(dest) {
            Some(Unwanted::Narrowed)
        } else if remote.cidrs.contains(dest) || (listed && inside_a_block) {
            Some(Unwanted::Refused)
        } else if remote.blocks_known && b.entry.allows(dest) && !inside_a_block {
            Some(Unwanted::Dead)
        } else {
            None
        }
    }

    /// Why a route through another peering may be taken over in place by
    /// a peering that wants its destination: that peering is gone, or it is
    /// a live managed end of the same VPC that no longer wants the route.
    fn released(&self, table: &RouteTable, r: &Route) -> Option<String> {
        let RouteTarget::Peering(other) = &r.target else {
            return None;
        };
        if self.gone(other) {
            return Some("a peering that is gone".into());
        }
        let b = self.ends.get(&(other.as_str(), table.vpc.as_str()))?;
        if b.peering.status != PeeringStatus::Active {
            return None;
        }
        self.unwanted(b, table, r).map(|u| match u {
            Unwanted::Refused => format!("a block that may no longer be routed through {other}"),
            Unwanted::Narrowed => format!("a block {other} now routes only destinations inside of"),
            Unwanted::Dead => format!("a block the peer of {other} gave up"),
        })
    }

    /// Routes through a live managed peering that it no longer wants, in
    /// the tables its entry selects: exactly one of the peer's blocks that
    /// may not be routed, or a dead route to a block the peer gave up, is
    /// peerlink's and taken back; any other (a summary, say) is the user's:
    /// reported, never removed. Tables the entry does not select are the
    /// user's and left alone.
    pub(super) fn unroutable_routes(&mut self) {
        // Each table once, each route looked up: linear in the routes of the VPCs.
        let obs = self.obs;
        for table in &obs.route_tables {
            for r in &table.routes {
                let RouteTarget::Peering(pcx) = &r.target else { continue };
                let Some(b) = self.ends.get(&(pcx.as_str(), table.vpc.as_str())).copied() else {
                    continue;
                };
                if b.peering.status != PeeringStatus::Active
                    || r.blackhole
                    || !selects(b.entry, table)
                    || routes_to(b.entry, self.routing.blocks(pcx, &table.vpc), &r.destination)
                    || self.claimed_routes.contains(&(table.id.as_str(), r.destination))
                {
                    continue;
                }
                let delete = Action::DeleteRoute {
                    route_table: table.id.clone(),
                    destination: r.destination,
                    peering: pcx.clone(),
                };
                match self.unwanted(&b, table, r) {
                    Some(Unwanted::Refused) => self.act(
                        pcx,
                        delete,
                        format!(
                            "peer block {} may no longer be routed through {pcx} (see the findings); taking back peerlink's route",
                            r.destination
                        ),
                    ),
                    Some(Unwanted::Narrowed) => self.act(
                        pcx,
                        delete,
                        format!(
                            "entry {:?} routes only routes.destinations inside peer block {}; taking back peerlink's route to the whole block",
                            b.entry.name, r.destination
                        ),
                    ),
                    Some(Unwanted::Dead) => self.act(
                        pcx,
                        delete,
                        format!(
                            "the peer VPC of {pcx} no longer has {}: EC2 drops what the route carries; taking back peerlink's route",
                            r.destination
                        ),
                    ),
                    None => self.finding(
                        FindingKind::UnexpectedRoute,
                        Some(pcx),
                        Some(&table.id),
                        format!(
                            "route to {} in {} goes through {pcx} but that block is not an allowed peer block",
                            r.destination, table.id
                        ),
                        "delete the route unless you added it on purpose (peerlink never removes routes it cannot prove are its own)".into(),
                    ),
                }
            }
        }
    }
}
