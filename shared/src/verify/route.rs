//! The route checks: the table a subnet uses (its own, else the main one),
//! the route it takes by longest prefix, and where that route really goes
//! (a blackhole, another peering, a VPC beyond a peering).

use std::net::{IpAddr, Ipv4Addr};

use super::advice::{self, holds};
use super::checks::{Path, capitalised, check};
use super::{Check, CheckId, EndView};
use crate::model::{Route, RouteTable, RouteTarget};

/// The route a table uses for `to`: the longest prefix holding it.
pub(super) fn longest_prefix(table: &RouteTable, to: Ipv4Addr) -> Option<&Route> {
    table
        .routes
        .iter()
        .filter(|r| r.destination.contains(&IpAddr::V4(to)))
        .max_by_key(|r| r.destination.prefix_len())
}

/// The subnet's own table, else the VPC's main one; and which it is.
pub(super) fn table_of(v: &EndView) -> Option<(&RouteTable, &'static str)> {
    let own = v.route_tables.iter().find(|t| t.subnets.contains(&v.interface.subnet));
    let main = v.route_tables.iter().find(|t| t.main && t.vpc == v.vpc.id);
    own.map(|t| (t, "the subnet's own table"))
        .or(main.map(|t| (t, "the main table: the subnet has none of its own")))
}

impl Path<'_> {
    /// A route through a peering that ends in a VPC not holding its
    /// destination, in either end's table: "rtb sends 10.5.0.9 through pcx to vpc-b (…), which does not hold it".
    pub(super) fn transitive(&self) -> Option<String> {
        let ends = [
            (&self.world.source, self.world.destination.address),
            (&self.world.destination, self.world.source.address),
        ];
        ends.into_iter().find_map(|(end, to)| {
            let v = end.view.as_ref()?;
            let (table, _) = table_of(v)?;
            let route = longest_prefix(table, to)?;
            let RouteTarget::Peering(through) = &route.target else {
                return None;
            };
            let p = self.world.peerings.iter().find(|p| p.id == *through)?;
            let (far, cidrs) = advice::beyond(p, &v.vpc.id, to)?;
            Some(format!(
                "{} sends {to} through {through} to {far} ({}), which does not hold it",
                table.id,
                crate::logging::joined(cidrs)
            ))
        })
    }

    /// The far side's block holding `to`, for a route to add.
    pub(super) fn block_for(&self, from_vpc: &str, to: Ipv4Addr) -> String {
        let far = self
            .peering
            .and_then(|p| [&p.requester, &p.accepter].into_iter().find(|s| s.vpc != from_vpc));
        far.and_then(|s| s.cidrs.iter().find(|c| holds(c, to)))
            .map_or_else(|| format!("{to}/32"), ToString::to_string)
    }

    /// The fix for a missing or misdirected route: add one to the peer
    /// block holding `to` through the path's peering.
    fn add_route(&self, v: &EndView, table: &RouteTable, to: Ipv4Addr) -> String {
        let block = self.block_for(&v.vpc.id, to);
        match self.peering {
            Some(p) => format!(
                "add a route to {block} through {} in {} (peerlink's finisher adds it to every table routes.select takes)",
                p.id, table.id
            ),
            None => format!(
                "create the peering first, then add a route to {block} through it in {}",
                table.id
            ),
        }
    }

    /// `source-route`, `destination-route`: the end's table sends `to`, by
    /// longest prefix, to the path's peering (or locally within one VPC).
    pub(super) fn route(&self, id: CheckId, v: &EndView, to: Ipv4Addr) -> Check {
        let Some((table, which)) = table_of(v) else {
            return check(
                id,
                &v.account,
                &v.interface.subnet,
                format!(
                    "no route table of {} was found (neither its own nor the main table of {})",
                    v.interface.subnet, v.vpc.id
                ),
                Some(format!("associate a route table with {}", v.interface.subnet)),
            );
        };
        let Some(route) = longest_prefix(table, to) else {
            let mut detail = format!("{} ({which}) has no route to {to}", table.id);
            let main = v
                .route_tables
                .iter()
                .find(|t| t.main && t.vpc == v.vpc.id && t.id != table.id);
            if let Some(main) = main.filter(|m| longest_prefix(m, to).is_some()) {
                detail.push_str(&format!(
                    "; the main table {} has one, but a subnet with its own table never uses the main table",
                    main.id
                ));
            }
            return check(id, &v.account, &table.id, detail, Some(self.add_route(v, table, to)));
        };
        let (detail, fix) = self.taken(v, table, route, to);
        let detail = detail.unwrap_or_else(|| {
            format!(
                "{} ({which}) sends {to} to {} (route {} -> {})",
                table.id, route.target, route.destination, route.target
            )
        });
        check(id, &v.account, &table.id, detail, fix)
    }

    /// Where the route `to` takes really goes: `(None, None)` when it is the
    /// path's (the caller words it), else what is wrong and the fix.
    fn taken(&self, v: &EndView, table: &RouteTable, route: &Route, to: Ipv4Addr) -> (Option<String>, Option<String>) {
        let by = format!("route {} -> {}", route.destination, route.target);
        let expected = self.peering.map_or("the peering", |p| p.id.as_str());
        let fail = |detail: String, fix: String| (Some(detail), Some(fix));
        match &route.target {
            RouteTarget::Local if self.same_vpc => {
                (Some(format!("{} sends {to} within the VPC ({by})", table.id)), None)
            }
            RouteTarget::Local => fail(
                format!(
                    "{} sends {to} to its own VPC ({by}): the address is inside {}'s range",
                    table.id, v.vpc.id
                ),
                capitalised(advice::OVERLAP),
            ),
            RouteTarget::Peering(through) if Some(through.as_str()) == self.peering.map(|p| p.id.as_str()) => {
                if route.blackhole {
                    fail(
                        format!(
                            "{} sends {to} to {through}, but the route is a blackhole ({by})",
                            table.id
                        ),
                        format!(
                            "replace the route to {} in {} with one through an active peering",
                            route.destination, table.id
                        ),
                    )
                } else {
                    (None, None)
                }
            }
            RouteTarget::Peering(through) => {
                let known = self.world.peerings.iter().find(|p| p.id == *through);
                match known.and_then(|p| advice::beyond(p, &v.vpc.id, to)) {
                    Some((far, cidrs)) => fail(
                        format!(
                            "{} sends {to} through {through} to {far} ({}), which does not hold it",
                            table.id,
                            crate::logging::joined(cidrs)
                        ),
                        capitalised(advice::TRANSITIVE),
                    ),
                    None => {
                        let state = known.map(|p| format!(", which is {}", p.status)).unwrap_or_default();
                        let black = if route.blackhole { " (a blackhole)" } else { "" };
                        fail(
                            format!(
                                "{} sends {to} through {through}{state}{black}, not through {expected} ({by})",
                                table.id
                            ),
                            self.add_route(v, table, to)
                                .replacen("add a route", "replace the route", 1),
                        )
                    }
                }
            }
            RouteTarget::Other(target) => fail(
                format!("{} sends {to} to {target} ({by}), not to {expected}", table.id),
                self.add_route(v, table, to),
            ),
        }
    }
}
