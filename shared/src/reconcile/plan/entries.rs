//! What the configuration names that does not exist: a local VPC, a
//! security group, a secret, a key, a route table, a subnet. Reported once per entry,
//! whether or not a peering uses it yet, so a typo shows before it matters;
//! the other entries are reconciled all the same.

use super::Planner;
use crate::config::TableSelect;
use crate::finding::FindingKind;

impl Planner<'_> {
    pub(super) fn entries(&mut self) {
        let (config, obs) = (self.config, self.obs);
        for entry in config.peers.iter().filter(|e| obs.scope.contains(&e.name)) {
            let name = &entry.name;
            let vpc = entry.local_vpc.as_str();
            let here = format!("account {}, region {}", self.me.account, self.me.region);
            if !obs.vpcs.contains_key(vpc) {
                self.finding(
                    FindingKind::MissingResource,
                    None,
                    Some(vpc),
                    format!("local VPC {vpc} of entry {name:?} does not exist in {here}"),
                    format!("fix local_vpc of entry {name:?}"),
                );
            } else if entry.routes.select == TableSelect::Ids {
                for id in &entry.routes.ids {
                    if !self.idx.tables(vpc).iter().any(|t| *id == *t.table.id.as_str()) {
                        self.finding(
                            FindingKind::MissingResource,
                            None,
                            Some(id.as_str()),
                            format!("route table {id} of entry {name:?} is not a table of VPC {vpc}"),
                            format!("fix routes.ids of entry {name:?}"),
                        );
                    }
                }
            } else if entry.routes.select == TableSelect::Subnets {
                for id in &entry.routes.subnets {
                    let uses = |t: &&super::index::IndexedTable<'_>| {
                        t.table
                            .subnets
                            .iter()
                            .chain(&t.table.main_for)
                            .any(|s| *id == *s.as_str())
                    };
                    if !self.idx.tables(vpc).iter().any(|t| uses(&t)) {
                        self.finding(
                            FindingKind::MissingResource,
                            None,
                            Some(id.as_str()),
                            format!("subnet {id} of entry {name:?} is not a subnet of VPC {vpc}: no table gets routes for it"),
                            format!("fix routes.subnets of entry {name:?}"),
                        );
                    }
                }
            }
            for spec in &entry.security_group_rules {
                if !obs.security_groups.contains_key(spec.group.as_str()) {
                    self.finding(
                        FindingKind::MissingResource,
                        None,
                        Some(spec.group.as_str()),
                        format!(
                            "security group {} of entry {name:?} does not exist in {here}",
                            spec.group
                        ),
                        format!("fix security_group_rules of entry {name:?}"),
                    );
                }
            }
            for spec in &entry.secrets {
                let arn = spec.arn.arn.as_str();
                if spec.arn.account != self.me.account || spec.arn.region != self.me.region {
                    self.finding(
                        FindingKind::MissingResource,
                        None,
                        Some(arn),
                        format!("secret {arn} of entry {name:?} is not in {here}"),
                        "list a secret where its own account's finisher manages it".into(),
                    );
                } else if !matches!(obs.secrets.get(arn), Some(Some(_))) && !obs.denied.contains_key(arn) {
                    self.finding(
                        FindingKind::MissingResource,
                        None,
                        Some(arn),
                        format!("secret {arn} of entry {name:?} does not exist"),
                        format!("create it, or fix secrets of entry {name:?}"),
                    );
                }
                if let Some(key) = &spec.kms_key {
                    if obs.key(&key.0).is_none() && !obs.denied.contains_key(&key.0) {
                        self.finding(
                            FindingKind::MissingResource,
                            None,
                            Some(&key.0),
                            format!("KMS key {} of entry {name:?} (secret {arn}) does not exist", key.0),
                            format!("fix kms_key of entry {name:?}"),
                        );
                    }
                }
            }
        }
    }
}
