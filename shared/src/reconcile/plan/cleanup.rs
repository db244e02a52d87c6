//! What a gone peering leaves behind: its routes (dead once the peering is
//! gone) and the rules carrying its marker. What a live peering claims (a
//! replacement between the same VPCs) is never removed, whatever order the
//! events come in. Policy statements are rebuilt from the configuration
//! ([`super::secrets`]), so a gone peering's grants go with it.

use std::collections::BTreeSet;

use super::{Action, Planner};
use crate::model::{RouteTable, RouteTarget, SecurityGroup};
use crate::ownership::{marked_peering, rule_marker};

impl Planner<'_> {
    /// Removes what we built for a gone peering: routes to it in the tables
    /// of `vpcs` (the VPCs this pass looks after) and rules carrying its marker.
    pub(super) fn cleanup(&mut self, pcx: &str, why: &str, vpcs: &[&str]) {
        if !self.cleaned.insert(pcx.to_string()) {
            return;
        }
        let obs = self.obs;
        let tables: Vec<&RouteTable> = vpcs
            .iter()
            .flat_map(|v| self.idx.tables(v).iter().map(|t| t.table))
            .collect();
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
    /// them): cleaned up all the same.
    pub(super) fn vanished(&mut self) {
        let obs = self.obs;
        let marked: BTreeSet<String> = obs
            .security_groups
            .values()
            .flat_map(|g| g.rules.iter())
            .filter_map(|r| marked_peering(r.description.as_deref()).map(str::to_string))
            .filter(|p| self.gone(p))
            .collect();
        let scope_vpcs: Vec<&str> = obs
            .scope
            .iter()
            .filter_map(|n| self.config.entry(n))
            .map(|e| e.local_vpc.as_str())
            .collect();
        for pcx in marked {
            let why = match self.idx.peering(&pcx) {
                Some(p) => p.status.to_string(),
                None => "gone (EC2 no longer lists it)".to_string(),
            };
            self.cleanup(&pcx, &why, &scope_vpcs);
        }
    }
}
