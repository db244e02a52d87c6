//! Security-group rules for the peer's blocks, and our rules the
//! configuration no longer wants.

use std::collections::BTreeSet;

use ipnet::IpNet;

use super::cleanup::{marked_peering, rule_marker};
use super::{Action, Binding, Planner};
use crate::config::PeerEntry;
use crate::finding::FindingKind;
use crate::model::{PeeringStatus, SecurityGroup, SgRule, Side};

impl Planner<'_> {
    pub(super) fn rules(&mut self, b: &Binding<'_>, dests: &[IpNet]) {
        let pcx = &b.peering.id;
        let marker = rule_marker(pcx);
        let limit = self.config.settings.rules_per_security_group;
        let obs = self.obs;
        for spec in &b.entry.security_group_rules {
            let Some(group) = obs.security_groups.get(spec.group.as_str()) else {
                self.finding(
                    FindingKind::MissingResource,
                    Some(pcx),
                    Some(spec.group.as_str()),
                    format!(
                        "security group {} does not exist in this account and region",
                        spec.group
                    ),
                    format!("fix security_group_rules of entry {:?}", b.entry.name),
                );
                continue;
            };
            let direction = PeerEntry::rule_direction(spec, b.side == Side::Accepter);
            let mut missing = Vec::new();
            for cidr in dests {
                let rule = SgRule {
                    direction,
                    protocol: spec.protocol,
                    ports: spec.ports,
                    cidr: *cidr,
                };
                self.wanted_rules
                    .entry(pcx.clone())
                    .or_default()
                    .insert((group.id.clone(), rule.clone()));
                if !self.idx.has_rule(&group.id, &rule) {
                    missing.push(rule);
                }
            }
            if missing.is_empty() {
                continue;
            }
            let quota = (group.id.clone(), Some(direction));
            if let Err(used) = self.reserve(quota, group.rule_count(direction), missing.len(), limit) {
                self.finding(
                    FindingKind::RuleQuota,
                    Some(pcx),
                    Some(&group.id),
                    format!(
                        "security group {} has {used} of {limit} {direction} rules; {} more are needed for {pcx}, so none were added",
                        group.id,
                        missing.len()
                    ),
                    "request a higher rules-per-security-group quota (and raise settings.rules_per_security_group), or use a prefix list".into(),
                );
                continue;
            }
            for rule in missing {
                let reason = format!("entry {:?} wants {rule} for the peer", b.entry.name);
                self.act(
                    pcx,
                    Action::AuthorizeRule {
                        group: group.id.clone(),
                        rule,
                        description: marker.clone(),
                    },
                    reason,
                );
            }
        }
    }

    /// Rules marked for a live peering that its entry no longer wants.
    pub(super) fn stale_rules(&mut self, binds: &[Binding<'_>]) {
        let live: BTreeSet<&str> = binds
            .iter()
            .filter(|b| b.peering.status == PeeringStatus::Active)
            .map(|b| b.peering.id.as_str())
            .collect();
        let obs = self.obs;
        let mut groups: Vec<&SecurityGroup> = obs.security_groups.values().collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        for group in groups {
            for r in &group.rules {
                let Some(pcx) = marked_peering(r.description.as_deref()) else {
                    continue;
                };
                if !live.contains(pcx) {
                    continue;
                }
                let wanted = self
                    .wanted_rules
                    .get(pcx)
                    .is_some_and(|w| w.contains(&(group.id.clone(), r.rule.clone())));
                if !wanted {
                    let pcx = pcx.to_string();
                    self.act(
                        &pcx,
                        Action::RevokeRule {
                            group: group.id.clone(),
                            rule: r.rule.clone(),
                        },
                        "our rule is no longer wanted by the configuration (or its peer block is no longer allowed)",
                    );
                }
            }
        }
    }
}
