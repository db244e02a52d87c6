//! What a gone peering leaves behind: its routes, the rules carrying its
//! marker and the statements with its Sids. Nothing else is ever removed.

use std::collections::BTreeSet;

use super::{Action, Planner};
use crate::model::{RouteTable, RouteTarget, SecurityGroup};
use crate::reconcile::policy;

/// The description that marks a security-group rule as ours, for one peering.
pub fn rule_marker(peering: &str) -> String {
    format!("peerlink:{peering}")
}

/// The peering a rule description marks, if it is one of ours.
pub fn marked_peering(description: Option<&str>) -> Option<&str> {
    description?.strip_prefix("peerlink:").filter(|p| p.starts_with("pcx-"))
}

impl Planner<'_> {
    /// Removes what we built for a peering that is gone: routes to it in the
    /// local VPC's tables, rules carrying its marker, statements with its Sids.
    /// Routes are only removed from tables of `vpcs` (the VPCs this pass looks after).
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
        let (read, decrypt) = (policy::read_sid(pcx), policy::decrypt_sid(pcx));
        for (arn, state) in &obs.secrets {
            if let Some(s) = state {
                if policy::owned_sids(s.policy.as_ref()).contains(&read) {
                    self.secret_changes
                        .entry(arn.clone())
                        .or_default()
                        .remove
                        .push(read.clone());
                }
            }
        }
        for key in obs.keys.values().flatten() {
            if policy::owned_sids(key.policy.as_ref()).contains(&decrypt) {
                self.key_changes
                    .entry(key.arn.clone())
                    .or_default()
                    .remove
                    .push(decrypt.clone());
            }
        }
    }

    /// Markers for peerings EC2 no longer lists at all: they are long gone.
    pub(super) fn vanished(&mut self) {
        let known: BTreeSet<&str> = self.obs.peerings.iter().map(|p| p.id.as_str()).collect();
        let mut marked: BTreeSet<String> = BTreeSet::new();
        for g in self.obs.security_groups.values() {
            marked.extend(
                g.rules
                    .iter()
                    .filter_map(|r| marked_peering(r.description.as_deref()).map(str::to_string)),
            );
        }
        for s in self.obs.secrets.values().flatten() {
            marked.extend(
                policy::owned_sids(s.policy.as_ref())
                    .iter()
                    .filter_map(|sid| policy::peering_of_sid(sid)),
            );
        }
        for k in self.obs.keys.values().flatten() {
            marked.extend(
                policy::owned_sids(k.policy.as_ref())
                    .iter()
                    .filter_map(|sid| policy::peering_of_sid(sid)),
            );
        }
        let obs = self.obs;
        let scope_vpcs: Vec<&str> = obs
            .scope
            .iter()
            .filter_map(|n| self.config.entry(n))
            .map(|e| e.local_vpc.as_str())
            .collect();
        for pcx in marked.into_iter().filter(|p| !known.contains(p.as_str())) {
            self.cleanup(&pcx, "gone (EC2 no longer lists it)", &scope_vpcs);
        }
    }
}
