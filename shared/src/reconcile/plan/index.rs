//! Lookups built once per pass.

use ipnet::IpNet;
use rustc_hash::FxHashMap;

use super::Observed;
use crate::model::{ObservedRule, Peering, Route, RouteTable, SgRule};

/// Lookups the plan makes many times, built once per pass so planning stays
/// linear in the size of the account (1,000 peerings x 200 tables is routine).
/// Fx hashing: the keys are ids and blocks we read from AWS ourselves, not
/// attacker-chosen, and SipHash was most of the plan's time.
pub(super) struct Index<'a> {
    peerings: FxHashMap<&'a str, &'a Peering>,
    tables_by_vpc: FxHashMap<&'a str, Vec<IndexedTable<'a>>>,
    rules: FxHashMap<&'a str, FxHashMap<&'a SgRule, &'a ObservedRule>>,
}

pub(super) struct IndexedTable<'a> {
    pub(super) table: &'a RouteTable,
    pub(super) by_destination: FxHashMap<IpNet, &'a Route>,
}

impl<'a> Index<'a> {
    pub(super) fn new(obs: &'a Observed) -> Self {
        let mut tables_by_vpc: FxHashMap<&'a str, Vec<IndexedTable<'a>>> = FxHashMap::default();
        for t in &obs.route_tables {
            let mut by_destination = FxHashMap::with_capacity_and_hasher(t.routes.len(), Default::default());
            for r in &t.routes {
                by_destination.entry(r.destination).or_insert(r);
            }
            tables_by_vpc.entry(t.vpc.as_str()).or_default().push(IndexedTable {
                table: t,
                by_destination,
            });
        }
        let rules = obs
            .security_groups
            .values()
            .map(|g| (g.id.as_str(), g.rules.iter().map(|r| (&r.rule, r)).collect()))
            .collect();
        let peerings = obs.peerings.iter().map(|p| (p.id.as_str(), p)).collect();
        Index {
            peerings,
            tables_by_vpc,
            rules,
        }
    }

    pub(super) fn peering(&self, id: &str) -> Option<&'a Peering> {
        self.peerings.get(id).copied()
    }

    pub(super) fn tables(&self, vpc: &str) -> &[IndexedTable<'a>] {
        self.tables_by_vpc.get(vpc).map_or(&[], Vec::as_slice)
    }

    /// The rule of `group` equal to `rule` (EC2 holds at most one), with its description.
    pub(super) fn held(&self, group: &str, rule: &SgRule) -> Option<&'a ObservedRule> {
        self.rules.get(group).and_then(|r| r.get(rule)).copied()
    }
}
