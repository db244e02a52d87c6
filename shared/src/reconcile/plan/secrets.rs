//! Cross-account read access to secrets: statements in the secret's
//! resource policy and in its key's policy, merged with every other statement.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Action, Binding, Planned, Planner};
use crate::config::PrincipalArn;
use crate::finding::FindingKind;
use crate::reconcile::policy::{self, PolicyChange};

/// A key reference that names the AWS-managed Secrets Manager key.
fn is_aws_managed_alias(key: &str) -> bool {
    key == "alias/aws/secretsmanager" || key.ends_with(":alias/aws/secretsmanager")
}

impl Planner<'_> {
    pub(super) fn secrets(&mut self, b: &Binding<'_>) {
        let pcx = &b.peering.id;
        let obs = self.obs;
        // Per key: the principals and secrets it must decrypt for.
        let mut per_key: BTreeMap<String, (Vec<PrincipalArn>, Vec<&str>)> = BTreeMap::new();
        for spec in &b.entry.secrets {
            let arn = spec.arn.arn.as_str();
            if spec.arn.account != self.me.account || spec.arn.region != self.me.region {
                self.finding(
                    FindingKind::MissingResource,
                    Some(pcx),
                    Some(arn),
                    format!(
                        "secret {arn} is not in this account and region ({}, {})",
                        self.me.account, self.me.region
                    ),
                    "list a secret where its own account's finisher manages it".into(),
                );
                continue;
            }
            let Some(Some(state)) = obs.secrets.get(arn) else {
                self.finding(
                    FindingKind::MissingResource,
                    Some(pcx),
                    Some(arn),
                    format!("secret {arn} does not exist"),
                    format!("create it, or fix secrets of entry {:?}", b.entry.name),
                );
                continue;
            };
            let aws_managed_msg = |key: &str| {
                (
                    format!("secret {arn} is encrypted with the AWS-managed key ({key}); its key policy cannot grant another account, so cross-account access is impossible. Nothing was written."),
                    "re-encrypt the secret with a customer-managed KMS key (aws secretsmanager update-secret --kms-key-id <cmk>)".to_string(),
                )
            };
            let key_ref = match state.kms_key.as_deref() {
                None => {
                    let (m, f) = aws_managed_msg("aws/secretsmanager");
                    self.finding(FindingKind::AwsManagedKey, Some(pcx), Some(arn), m, f);
                    continue;
                }
                Some(k) if is_aws_managed_alias(k) => {
                    let (m, f) = aws_managed_msg(k);
                    self.finding(FindingKind::AwsManagedKey, Some(pcx), Some(arn), m, f);
                    continue;
                }
                Some(k) => k,
            };
            let key = match obs.keys.get(key_ref) {
                Some(Some(k)) => k,
                _ => {
                    self.finding(
                        FindingKind::MissingResource,
                        Some(pcx),
                        Some(key_ref),
                        format!("KMS key {key_ref} of secret {arn} could not be found"),
                        "check the secret's key".into(),
                    );
                    continue;
                }
            };
            if key.aws_managed {
                let (m, f) = aws_managed_msg(&key.arn);
                self.finding(FindingKind::AwsManagedKey, Some(pcx), Some(arn), m, f);
                continue;
            }
            if let Some(expected) = &spec.kms_key {
                if expected.0 != key.arn {
                    self.finding(
                        FindingKind::KeyMismatch,
                        Some(pcx),
                        Some(arn),
                        format!(
                            "secret {arn} uses key {}, not the configured {}; nothing was written",
                            key.arn, expected.0
                        ),
                        "fix kms_key in the entry, or re-encrypt the secret with the expected key".into(),
                    );
                    continue;
                }
            }
            self.secret_changes
                .entry(arn.to_string())
                .or_default()
                .upsert
                .push(policy::read_statement(pcx, &spec.principals));
            let slot = per_key.entry(key.arn.clone()).or_default();
            slot.0.extend(spec.principals.iter().cloned());
            slot.1.push(arn);
        }
        for (key, (who, secrets)) in per_key {
            let st = policy::decrypt_statement(pcx, &who, &self.me.region, &secrets);
            self.key_changes.entry(key).or_default().upsert.push(st);
        }
    }

    /// One merge per secret and per key, only where the policy differs.
    pub(super) fn policies(&mut self) {
        let obs = self.obs;
        let secret_changes = std::mem::take(&mut self.secret_changes);
        for (arn, change) in secret_changes {
            let current = obs
                .secrets
                .get(&arn)
                .and_then(|s| s.as_ref())
                .and_then(|s| s.policy.as_ref());
            self.public(current, &arn);
            if let Some(needed) = needed(current, change) {
                let peering = peering_of_change(&needed);
                self.plan.actions.push(Planned {
                    peering,
                    reason: describe_change("secret's resource policy", &needed),
                    action: Action::MergeSecretPolicy {
                        secret: arn,
                        change: needed,
                    },
                });
            }
        }
        let key_changes = std::mem::take(&mut self.key_changes);
        for (arn, change) in key_changes {
            let current = obs
                .keys
                .values()
                .flatten()
                .find(|k| k.arn == arn)
                .and_then(|k| k.policy.as_ref());
            if let Some(needed) = needed(current, change) {
                let peering = peering_of_change(&needed);
                self.plan.actions.push(Planned {
                    peering,
                    reason: describe_change("key policy", &needed),
                    action: Action::MergeKeyPolicy {
                        key: arn,
                        change: needed,
                    },
                });
            }
        }
    }

    pub(super) fn public(&mut self, policy: Option<&Value>, arn: &str) {
        let Some(Value::Array(statements)) = policy.and_then(|p| p.get("Statement")) else {
            return;
        };
        if statements
            .iter()
            .any(|s| policy::grants_to_everyone(s) && s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        {
            self.finding(FindingKind::PublicPolicy,
                None,
                Some(arn),
                format!(
                    "the resource policy of {arn} allows access to everyone (Principal \"*\"); peerlink never writes such a statement"
                ),
                "remove that statement, or restrict it with conditions".into(),
            );
        }
    }
}

/// The part of `change` the current policy does not yet reflect; `None` if none.
fn needed(current: Option<&Value>, change: PolicyChange) -> Option<PolicyChange> {
    let upsert: Vec<Value> = change
        .upsert
        .into_iter()
        .filter(|u| {
            !policy::satisfies(
                current,
                &PolicyChange {
                    upsert: vec![u.clone()],
                    remove: vec![],
                },
            )
        })
        .collect();
    let present = policy::owned_sids(current);
    let mut remove: Vec<String> = change.remove.into_iter().filter(|r| present.contains(r)).collect();
    remove.sort();
    remove.dedup();
    let out = PolicyChange { upsert, remove };
    (!out.is_empty()).then_some(out)
}

fn peering_of_change(change: &PolicyChange) -> Option<String> {
    let mut ids: BTreeSet<String> = change
        .upsert
        .iter()
        .filter_map(|u| policy::sid_of(u).and_then(policy::peering_of_sid))
        .collect();
    ids.extend(change.remove.iter().filter_map(|r| policy::peering_of_sid(r)));
    (ids.len() == 1).then(|| ids.into_iter().next().expect("one id"))
}

fn describe_change(what: &str, change: &PolicyChange) -> String {
    let mut parts = Vec::new();
    if !change.upsert.is_empty() {
        parts.push(format!("{} statement(s) missing or altered", change.upsert.len()));
    }
    if !change.remove.is_empty() {
        parts.push(format!(
            "{} statement(s) of a gone peering to remove",
            change.remove.len()
        ));
    }
    format!("{what}: {}; every other statement is kept", parts.join(", "))
}
