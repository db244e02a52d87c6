//! Security-group rules for the peer's blocks, and our rules the
//! configuration no longer wants.
//!
//! A rule satisfies a peering only if it carries that peering's marker, or
//! is the user's own (unmarked) rule. A rule another peering's marker holds
//! (one that is gone, or no longer wants it: a replaced peering) is re-marked
//! in place: EC2 identifies a rule by protocol, ports and range, so it cannot
//! exist twice with two markers, and revoking then authorizing would leave a
//! gap.

use ipnet::IpNet;

use super::{Action, Binding, Planner};
use crate::config::{PeerEntry, RuleSpec};
use crate::finding::FindingKind;
use crate::model::{PeeringStatus, RulePeer, SecurityGroup, SgRule, Side};
use crate::ownership::{marked_peering, rule_marker};
use crate::routing::inside;

impl Planner<'_> {
    pub(super) fn rules(&mut self, b: &Binding<'_>, dests: &[IpNet]) {
        let pcx = &b.peering.id;
        let marker = rule_marker(pcx);
        let limit = self.config.settings.rules_per_security_group;
        let obs = self.obs;
        for spec in &b.entry.security_group_rules {
            // A group that does not exist is reported once per entry (entries.rs).
            let Some(group) = obs.security_groups.get(spec.group.as_str()) else {
                continue;
            };
            let direction = PeerEntry::rule_direction(spec, b.side == Side::Accepter);
            let Some(peers) = self.rule_peers(b, spec, dests) else {
                continue;
            };
            let mut missing = Vec::new();
            for peer in peers {
                let rule = SgRule {
                    direction,
                    protocol: spec.protocol,
                    ports: spec.ports,
                    peer,
                };
                self.claimed_rules.insert((group.id.clone(), rule.clone()));
                let held = self.idx.held(&group.id, &rule);
                match held.map(|r| marked_peering(r.description.as_deref())) {
                    None => missing.push(rule),
                    // Ours for this peering, or the user's own rule: satisfied.
                    Some(Some(p)) if p == pcx => {}
                    Some(None) => {}
                    Some(Some(other)) => {
                        let other = other.to_string();
                        self.act(
                            pcx,
                            Action::RemarkRule {
                                group: group.id.clone(),
                                rule,
                                description: marker.clone(),
                            },
                            format!("the rule was made for {other}, which {pcx} replaces; re-marking it in place"),
                        );
                    }
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
            if !group.tagged {
                self.untagged_groups.insert(group.id.clone());
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

    /// What the rule lets through: the peer's groups it names (same region
    /// only: `None` and a finding otherwise), else its own ranges that lie
    /// inside a peer block routed now, else the peer blocks routed.
    fn rule_peers(&mut self, b: &Binding<'_>, spec: &RuleSpec, dests: &[IpNet]) -> Option<Vec<RulePeer>> {
        if !spec.cidrs.is_empty() {
            return Some(inside(&spec.cidrs, dests).map(RulePeer::Cidr).collect());
        }
        if spec.peer_groups.is_empty() {
            return Some(dests.iter().map(|d| RulePeer::Cidr(*d)).collect());
        }
        let (local, peer) = (b.peering.side(b.side), b.peering.side(b.side.other()));
        if local.region != peer.region {
            self.finding(
                FindingKind::CrossRegionGroupReference,
                Some(&b.peering.id),
                Some(spec.group.as_str()),
                format!(
                    "entry {:?} references peer groups in {} across an inter-region peering ({} to {}): EC2 cannot reference a security group across regions; no rule was written",
                    b.entry.name, spec.group, local.region, peer.region
                ),
                "name the peer's ranges instead (drop peer_groups) for a peer in another region".into(),
            );
            return None;
        }
        let peers = spec.peer_groups.iter().map(|g| RulePeer::Group {
            account: peer.account.clone(),
            group: g.to_string(),
            peering: b.peering.id.clone(),
        });
        Some(peers.collect())
    }

    /// Our rules that no live peering wants any more: the entry dropped the
    /// rule or the peer block, or (in a pass over the whole account) no entry
    /// manages the peering now. Rules of gone peerings are the cleanup's.
    pub(super) fn stale_rules(&mut self, binds: &[Binding<'_>]) {
        let obs = self.obs;
        let live: rustc_hash::FxHashSet<&str> = binds
            .iter()
            .filter(|b| b.peering.status == PeeringStatus::Active)
            .map(|b| b.peering.id.as_str())
            .collect();
        let mut groups: Vec<&SecurityGroup> = obs.security_groups.values().collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        for group in groups {
            for r in &group.rules {
                let Some(pcx) = marked_peering(r.description.as_deref()) else {
                    continue;
                };
                if self.gone(pcx) || self.claimed_rules.contains(&(group.id.clone(), r.rule.clone())) {
                    continue;
                }
                let why = if live.contains(pcx) {
                    "our rule is no longer wanted by the configuration (or its peer block may no longer be routed)"
                } else if obs.whole_account && obs.complete {
                    "no entry of the configuration manages this peering any more; taking back our rule"
                } else {
                    continue;
                };
                let pcx = pcx.to_string();
                self.act(
                    &pcx,
                    Action::RevokeRule {
                        group: group.id.clone(),
                        rule: r.rule.clone(),
                    },
                    why,
                );
            }
        }
    }

    /// Tags the groups we are about to write to, so a later pass finds our
    /// rules there even when the configuration no longer names the group.
    pub(super) fn tag_groups(&mut self) {
        for group in std::mem::take(&mut self.untagged_groups) {
            self.act_unpeered(
                Action::TagGroup { group },
                "peerlink writes rules here: tagged so they are found again if the configuration drops the group",
            );
        }
    }
}
