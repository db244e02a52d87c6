//! Cross-account read access to secrets: one statement in each secret's
//! resource policy and one in each key's policy, rebuilt from the whole
//! configuration (every entry with an active peering), merged with every
//! statement that is not ours. What the configuration no longer grants drops
//! out; a secret or key that would grow past its size limit is a finding,
//! never a failed or truncated write.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::{Action, Binding, Planner};
use crate::config::PrincipalArn;
use crate::finding::FindingKind;
use crate::matching::match_entry;
use crate::model::{KeyState, PeeringStatus};
use crate::reconcile::observe::is_aws_managed_alias;
use crate::reconcile::policy::{self, KEY_POLICY_MAX, PolicyChange, SECRET_POLICY_MAX};

/// What the configuration grants, per secret and per key.
#[derive(Default)]
struct Grants<'c> {
    secrets: BTreeMap<&'c str, BTreeSet<&'c PrincipalArn>>,
    /// Per key ARN: the principals, and the secrets they may decrypt.
    keys: BTreeMap<String, (BTreeSet<&'c PrincipalArn>, BTreeSet<&'c str>)>,
}

impl<'a> Planner<'a> {
    /// The key a secret uses, when it can carry a cross-account grant; `Err`
    /// says why not (as a finding kind, message and fix).
    fn usable_key(&self, arn: &str, expected: Option<&str>) -> Result<&'a KeyState, (FindingKind, String, String)> {
        let obs = self.obs;
        let Some(Some(state)) = obs.secrets.get(arn) else {
            return Err((
                FindingKind::MissingResource,
                format!("secret {arn} does not exist"),
                String::new(),
            ));
        };
        let aws_managed = |key: &str| {
            (
                FindingKind::AwsManagedKey,
                format!("secret {arn} is encrypted with the AWS-managed key ({key}); its key policy cannot grant another account, so cross-account access is impossible. Nothing was written."),
                "re-encrypt the secret with a customer-managed KMS key (aws secretsmanager update-secret --kms-key-id <cmk>)".to_string(),
            )
        };
        let key_ref = match state.kms_key.as_deref() {
            None => return Err(aws_managed("aws/secretsmanager")),
            Some(k) if is_aws_managed_alias(k) => return Err(aws_managed(k)),
            Some(k) => k,
        };
        if obs.denied.contains_key(key_ref) {
            // Reported once as not permitted (mod.rs); the secret's own
            // grant does not depend on reading its key.
            return Err((FindingKind::NotPermitted, String::new(), String::new()));
        }
        let Some(key) = obs.key(key_ref) else {
            return Err((
                FindingKind::MissingResource,
                format!("KMS key {key_ref} of secret {arn} could not be found"),
                "check the secret's key".into(),
            ));
        };
        if key.aws_managed {
            return Err(aws_managed(&key.arn));
        }
        if let Some(expected) = expected.filter(|e| *e != key.arn) {
            return Err((
                FindingKind::KeyMismatch,
                format!(
                    "secret {arn} uses key {}, not the configured {expected}; nothing was written",
                    key.arn
                ),
                "fix kms_key in the entry, or re-encrypt the secret with the expected key".into(),
            ));
        }
        Ok(key)
    }

    /// Reports, per active peering, the secrets it cannot be given.
    pub(super) fn secret_checks(&mut self, b: &Binding<'_>) {
        for spec in &b.entry.secrets {
            let arn = spec.arn.arn.as_str();
            let here = spec.arn.account == self.me.account && spec.arn.region == self.me.region;
            // A secret that is elsewhere or missing is reported per entry (entries.rs).
            if !here || !matches!(self.obs.secrets.get(arn), Some(Some(_))) {
                continue;
            }
            let expected = spec.kms_key.as_ref().map(|k| k.0.as_str());
            match self.usable_key(arn, expected) {
                Err((FindingKind::NotPermitted, ..)) | Ok(_) => {}
                Err((kind, message, fix)) => self.finding(kind, Some(&b.peering.id), Some(arn), message, fix),
            }
        }
    }

    /// Every principal of every entry with an active peering (anywhere in
    /// the configuration, not only this pass's scope: a statement is one
    /// unit), per usable secret and key.
    fn grants(&self) -> Grants<'a> {
        let (config, obs) = (self.config, self.obs);
        let mut live = BTreeSet::new();
        for p in obs.peerings.iter().filter(|p| p.status == PeeringStatus::Active) {
            for side in p.local_sides(self.me) {
                if let Ok(e) = match_entry(config, p.side(side), p.side(side.other())) {
                    live.insert(e.name.as_str());
                }
            }
        }
        let mut g = Grants::default();
        for entry in config.peers.iter().filter(|e| live.contains(e.name.as_str())) {
            for spec in &entry.secrets {
                let arn = spec.arn.arn.as_str();
                let key = match self.usable_key(arn, spec.kms_key.as_ref().map(|k| k.0.as_str())) {
                    Ok(key) => Some(key),
                    // The key may not be read: the secret is granted, the key later.
                    Err((FindingKind::NotPermitted, ..)) => None,
                    Err(_) => continue,
                };
                g.secrets.entry(arn).or_default().extend(spec.principals.iter());
                if let Some(key) = key {
                    let slot = g.keys.entry(key.arn.clone()).or_default();
                    slot.0.extend(spec.principals.iter());
                    slot.1.insert(arn);
                }
            }
        }
        g
    }

    /// One merge per secret and per key, only where the policy differs. A
    /// pass over the whole account also looks at the secrets found by our
    /// tag that the configuration no longer names.
    pub(super) fn policies(&mut self, binds: &[Binding<'_>]) {
        let obs = self.obs;
        let grants = self.grants();
        let mut secrets: BTreeSet<&str> = BTreeSet::new();
        if obs.whole_account {
            secrets.extend(obs.secrets.keys().map(String::as_str));
        } else {
            let scope = obs.scope.iter().filter_map(|n| self.config.entry(n));
            secrets.extend(scope.flat_map(|e| e.secrets.iter().map(|s| s.arn.arn.as_str())));
            secrets.extend(
                binds
                    .iter()
                    .flat_map(|b| b.entry.secrets.iter().map(|s| s.arn.arn.as_str())),
            );
        }
        let mut keys: BTreeMap<String, &KeyState> = BTreeMap::new();
        for arn in secrets {
            let Some(Some(state)) = obs.secrets.get(arn) else {
                continue;
            };
            self.public(state.policy.as_ref(), arn);
            let who = grants.secrets.get(arn);
            let wanted = who.map(policy::read_statement);
            if let Some(change) = policy::change_to(state.policy.as_ref(), wanted) {
                let reason = match who {
                    Some(w) => format!("grants read access to {} principal(s) of the configuration", w.len()),
                    None => "the configuration no longer grants access to this secret".into(),
                };
                let upserts = !change.upsert.is_empty();
                if self.fits(
                    arn,
                    "secret's resource policy",
                    state.policy.as_ref(),
                    &change,
                    SECRET_POLICY_MAX,
                ) {
                    self.act_unpeered(
                        Action::MergeSecretPolicy {
                            secret: arn.to_string(),
                            change,
                        },
                        format!("secret's resource policy: {reason}; every other statement is kept"),
                    );
                    if upserts && !state.tagged {
                        self.act_unpeered(
                            Action::TagSecret {
                                secret: arn.to_string(),
                            },
                            "peerlink writes to its policy: tagged so the grant is found again if the configuration drops the secret",
                        );
                    }
                }
            }
            if let Some(key) = state.kms_key.as_deref().and_then(|k| obs.key(k)) {
                if !key.aws_managed {
                    keys.insert(key.arn.clone(), key);
                }
            }
        }
        for (arn, key) in keys {
            let wanted = grants
                .keys
                .get(&arn)
                .map(|(who, secrets)| policy::decrypt_statement(who, &self.me.region, secrets));
            let Some(change) = policy::change_to(key.policy.as_ref(), wanted) else {
                continue;
            };
            if self.fits(&arn, "key policy", key.policy.as_ref(), &change, KEY_POLICY_MAX) {
                let reason = match grants.keys.get(&arn) {
                    Some((who, secrets)) => format!(
                        "key policy: lets {} principal(s) decrypt {} secret(s) through Secrets Manager; every other statement is kept",
                        who.len(),
                        secrets.len()
                    ),
                    None => "key policy: the configuration no longer grants decryption with this key; every other statement is kept".into(),
                };
                // A key's tags cannot be read without one more call per key
                // and pass: it is tagged when our statement first goes in.
                let first_grant = !change.upsert.is_empty() && policy::owned_sids(key.policy.as_ref()).is_empty();
                self.act_unpeered(
                    Action::MergeKeyPolicy {
                        key: arn.clone(),
                        change,
                    },
                    reason,
                );
                if first_grant {
                    self.act_unpeered(
                        Action::TagKey { key: arn },
                        "peerlink writes to its policy: tagged so the grant can be taken back if the configuration drops the key",
                    );
                }
            }
        }
    }

    /// Whether the policy after `change` stays within AWS's limit; a finding
    /// naming the policy and its size when not.
    fn fits(&mut self, arn: &str, what: &str, current: Option<&Value>, change: &PolicyChange, limit: usize) -> bool {
        let size = policy::size(&policy::merge(current, change));
        if size <= limit {
            return true;
        }
        self.finding(
            FindingKind::PolicyTooLarge,
            None,
            Some(arn),
            format!(
                "the {what} of {arn} would be {size} bytes with peerlink's statement, over AWS's limit of {limit}; nothing was written"
            ),
            "shorten the other statements of the policy, or grant fewer principals on this resource (a role per account rather than per service)".into(),
        );
        false
    }

    fn public(&mut self, policy: Option<&Value>, arn: &str) {
        let Some(Value::Array(statements)) = policy.and_then(|p| p.get("Statement")) else {
            return;
        };
        if statements
            .iter()
            .any(|s| policy::grants_to_everyone(s) && s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        {
            self.finding(
                FindingKind::PublicPolicy,
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
