//! What a gone peering leaves behind: its routes (dead once the peering is
//! gone) and the rules carrying its marker; and what peerlink did for a live
//! peering that no entry manages any more: its routes and DNS resolution.
//! What a live peering claims (a replacement between the same VPCs) is never
//! removed, whatever order the events come in, and routes only ever in the
//! tables peerlink selects. Policy statements are rebuilt from the
//! configuration ([`super::secrets`]), so a gone peering's grants go with it.

use std::collections::BTreeSet;

use super::{Action, Planner};
use crate::finding::FindingKind;
use crate::matching::{match_entry, overlaps};
use crate::model::{Peering, PeeringStatus, RouteTable, RouteTarget, SecurityGroup, Side};
use crate::ownership::{
    ALL_TABLES, DNS_OFF, DNS_ON, NO_TABLES, TOO_MANY_TABLES, dns_tag, marked_peering, routes_tag, rule_marker,
};

impl<'a> Planner<'a> {
    /// Removes what we built for a gone peering: routes to it in `tables`
    /// (the tables peerlink selects in the VPCs this pass looks after) and
    /// rules carrying its marker.
    pub(super) fn cleanup(&mut self, pcx: &str, why: &str, tables: &[&RouteTable]) {
        if !self.cleaned.insert(pcx.to_string()) {
            return;
        }
        let obs = self.obs;
        for table in tables {
            for r in table
                .routes
                .iter()
                .filter(|r| matches!(&r.target, RouteTarget::Peering(p) if p == pcx))
            {
                if self.claimed_routes.contains(&(table.id.as_str(), r.destination)) {
                    continue;
                }
                self.act(
                    pcx,
                    Action::DeleteRoute {
                        route_table: table.id.clone(),
                        destination: r.destination,
                        peering: pcx.to_string(),
                    },
                    format!("the peering is {why}; its route is dead"),
                );
            }
        }
        let marker = rule_marker(pcx);
        let mut groups: Vec<&SecurityGroup> = obs.security_groups.values().collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        for group in groups {
            for r in group
                .rules
                .iter()
                .filter(|r| r.description.as_deref() == Some(marker.as_str()))
            {
                if self.claimed_rules.contains(&(group.id.clone(), r.rule.clone())) {
                    continue;
                }
                self.act(
                    pcx,
                    Action::RevokeRule {
                        group: group.id.clone(),
                        rule: r.rule.clone(),
                    },
                    format!("the peering is {why}; removing the rule peerlink made for it"),
                );
            }
        }
    }

    /// Rules marked for peerings that are gone but that no entry of this
    /// pass binds (EC2 no longer lists them, or the configuration dropped
    /// them): cleaned up all the same, with their routes in the tables the
    /// entries of this pass select (the entry that made them is unknown).
    pub(super) fn vanished(&mut self) {
        let obs = self.obs;
        let marked: BTreeSet<String> = obs
            .security_groups
            .values()
            .flat_map(|g| g.rules.iter())
            .filter_map(|r| marked_peering(r.description.as_deref()).map(str::to_string))
            .filter(|p| self.gone(p))
            .collect();
        let mut tables: Vec<&RouteTable> = obs
            .scope
            .iter()
            .filter_map(|n| self.config.entry(n))
            .flat_map(|e| self.selected_tables(e, e.local_vpc.as_str()))
            .collect();
        tables.sort_by(|a, b| a.id.cmp(&b.id));
        tables.dedup_by(|a, b| a.id == b.id);
        for pcx in marked {
            let why = match self.idx.peering(&pcx) {
                Some(p) => p.status.to_string(),
                None => "gone (EC2 no longer lists it)".to_string(),
            };
            self.cleanup(&pcx, &why, &tables);
        }
    }

    /// What peerlink did for an active peering end that no entry manages any
    /// more (the entry was removed, or no longer matches): its routes in the
    /// tables recorded on the peering (the entry's selection when peerlink
    /// last routed it), and the DNS resolution it turned on. Its rules go
    /// with [`Planner::stale_rules`]. Only in a pass over the whole account.
    pub(super) fn withdrawn(&mut self) {
        let (obs, config) = (self.obs, self.config);
        for p in obs.peerings.iter().filter(|p| p.status == PeeringStatus::Active) {
            for side in p.local_sides(self.me) {
                if match_entry(config, p.side(side), p.side(side.other())).is_ok() {
                    continue;
                }
                if p.tags.get(&dns_tag(side)).map(String::as_str) == Some(DNS_ON) {
                    self.dns_off(p, side, "no entry manages the peering any more");
                }
                self.withdraw_routes(p, side);
            }
        }
    }

    /// Turns off the DNS resolution peerlink turned on (the tag follows the
    /// flag), or only clears the tag when it is off already.
    pub(super) fn dns_off(&mut self, p: &Peering, side: Side, why: &str) {
        if p.side(side).allow_remote_dns {
            self.act(
                &p.id,
                Action::DisablePeeringDns {
                    peering: p.id.clone(),
                    side,
                },
                format!("{why}: turning off the DNS resolution peerlink turned on"),
            );
        } else {
            self.tag_peering(&p.id, dns_tag(side), DNS_OFF);
        }
    }

    /// Routes of ours through `p` in the tables its record names: exactly
    /// one of the peer's blocks, or a dead route (no block of the peer
    /// overlaps it). Once none is left, the record is cleared, so routes
    /// the user adds later are theirs.
    fn withdraw_routes(&mut self, p: &'a Peering, side: Side) {
        let key = routes_tag(side);
        let Some(record) = p.tags.get(&key) else { return };
        let (local, remote) = (p.side(side), p.side(side.other()));
        let idx = self.idx;
        let tables = idx.tables(&local.vpc);
        // Tables not read (no entry names the VPC, and it has none recorded): nothing known.
        if record == NO_TABLES || tables.is_empty() {
            return;
        }
        if record == TOO_MANY_TABLES {
            self.finding(
                FindingKind::UnexpectedRoute,
                Some(&p.id),
                Some(&local.vpc),
                format!(
                    "no entry manages {} any more, but peerlink routed it in more route tables than a tag can list; its routes there are left",
                    p.id
                ),
                "delete the routes through the peering by hand, or add its entry back".into(),
            );
            return;
        }
        let listed: Vec<&str> = record.split(' ').collect();
        let mut left = 0;
        for t in tables
            .iter()
            .map(|t| t.table)
            .filter(|t| record == ALL_TABLES || listed.contains(&t.id.as_str()))
        {
            for r in &t.routes {
                let ours = matches!(&r.target, RouteTarget::Peering(x) if *x == p.id)
                    && !r.blackhole
                    && (remote.cidrs.contains(&r.destination)
                        || remote.blocks_known && !remote.cidrs.iter().any(|c| overlaps(c, &r.destination)));
                if !ours || self.claimed_routes.contains(&(t.id.as_str(), r.destination)) {
                    continue;
                }
                left += 1;
                self.act(
                    &p.id,
                    Action::DeleteRoute {
                        route_table: t.id.clone(),
                        destination: r.destination,
                        peering: p.id.clone(),
                    },
                    format!(
                        "no entry manages {} any more; taking back peerlink's route (in a table it selected)",
                        p.id
                    ),
                );
            }
        }
        if left == 0 {
            self.tag_peering(&p.id, key, NO_TABLES);
        }
    }
}
