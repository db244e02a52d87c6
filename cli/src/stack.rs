//! One source of truth for permissions. The SAM templates limit every
//! function to the resources named in their parameters (local VPCs, groups,
//! secrets, keys, peer accounts, peer VPCs to request to); the configuration
//! names the same resources. [`derive`] computes the parameters from the
//! configuration (`peerlink deploy-params`); [`coverage`] compares a deployed
//! stack's parameters with the configuration (`peerlink doctor
//! --stack-parameters`), without AWS.

use std::collections::{BTreeMap, BTreeSet};

use peerlink::config::{Config, DriftMode};
use serde::Serialize;
use serde_json::Value;

/// Which template the parameters are for (`infra/<template>.yaml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// infra/accepter.yaml: an account that owns accepter VPCs.
    Accepter,
    /// infra/requester.yaml: an account that only requests.
    Requester,
}

/// Parameters derived from a configuration, and what could not be derived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameters {
    /// Name and value (lists joined with commas, as CloudFormation takes
    /// them), in a fixed order.
    pub values: Vec<(&'static str, String)>,
    /// What the configuration cannot say, in plain words.
    pub notes: Vec<String>,
}

impl Parameters {
    /// The `sam deploy --parameter-overrides` value: `Key=Value` pairs
    /// separated by spaces; a value with a comma (a list), or an empty one,
    /// in double quotes, which SAM strips.
    pub fn sam_overrides(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| {
                if v.is_empty() || v.contains(',') {
                    format!("{k}=\"{v}\"")
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `{"Key": "value", …}`: the values as CloudFormation receives them.
    pub fn json(&self) -> Value {
        Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (k.to_string(), Value::String(v.clone())))
                .collect(),
        )
    }
}

fn drift_mode(mode: DriftMode) -> &'static str {
    match mode {
        DriftMode::Report => "report",
        DriftMode::Remediate => "remediate",
    }
}

/// What the configuration names, resource by resource.
struct Named {
    local_vpcs: BTreeSet<String>,
    groups: BTreeSet<String>,
    secrets: BTreeSet<String>,
    keys: BTreeSet<String>,
    /// Accounts whose requests an accepter stack may accept (entries without `request = true`).
    requesters: BTreeSet<String>,
    /// Every peer account (on a requester stack, the accepters).
    peer_accounts: BTreeSet<String>,
    /// arn:<partition>:ec2:<peer_region>:<peer_account>:vpc/<peer_vpc> of the entries with `request = true`.
    request_targets: BTreeSet<String>,
}

fn named(config: &Config) -> Named {
    let mut n = Named {
        local_vpcs: config.local_vpcs().into_iter().collect(),
        groups: BTreeSet::new(),
        secrets: BTreeSet::new(),
        keys: BTreeSet::new(),
        requesters: BTreeSet::new(),
        peer_accounts: BTreeSet::new(),
        request_targets: BTreeSet::new(),
    };
    for e in &config.peers {
        n.groups
            .extend(e.security_group_rules.iter().map(|r| r.group.to_string()));
        for s in &e.secrets {
            n.secrets.insert(s.arn.arn.clone());
            if let Some(key) = &s.kms_key {
                n.keys.insert(key.0.clone());
            }
        }
        n.peer_accounts.insert(e.peer_account.to_string());
        if !e.request {
            n.requesters.insert(e.peer_account.to_string());
        }
        // Validation guarantees both with request = true.
        if let (true, Some(vpc), Some(region)) = (e.request, &e.peer_vpc, &e.peer_region) {
            n.request_targets.insert(format!(
                "arn:{}:ec2:{region}:{}:vpc/{vpc}",
                peerlink::ids::partition_of(region.as_str()),
                e.peer_account
            ));
        }
    }
    n
}

fn join(set: &BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(",")
}

/// The template parameters `config` needs. `region` is the stack's region
/// (only the requester's `AccepterEventBusArn` needs it).
pub fn derive(config: &Config, template: Template, region: Option<&str>) -> Parameters {
    let n = named(config);
    let mut values: Vec<(&'static str, String)> = Vec::new();
    let mut notes = Vec::new();
    if n.local_vpcs.is_empty() {
        notes.push("LocalVpcIds: the configuration has no [[peer]] entry, and the parameter cannot be empty".into());
    } else {
        values.push(("LocalVpcIds", join(&n.local_vpcs)));
    }
    values.push(("SecurityGroupIds", join(&n.groups)));
    values.push(("SecretArns", join(&n.secrets)));
    values.push(("KmsKeyArns", join(&n.keys)));
    for e in &config.peers {
        for s in e.secrets.iter().filter(|s| s.kms_key.is_none()) {
            notes.push(format!(
                "KmsKeyArns: secret {} (entry {:?}) names no kms_key, so its key is not derived: add the key ARN \
                 that `aws secretsmanager describe-secret --secret-id {} --query KmsKeyId` gives (a customer-managed \
                 key; a secret on aws/secretsmanager cannot be shared), or better, set kms_key in the configuration",
                s.arn.arn, e.name, s.arn.arn
            ));
        }
    }
    match template {
        Template::Accepter => {
            values.push(("RequesterAccountIds", join(&n.requesters)));
            for e in config.peers.iter().filter(|e| e.request) {
                notes.push(format!(
                    "entry {:?} requests a peering to account {}: an accepter stack receives that account's decisions only \
                     with what requester.yaml adds for it (infra/README.md: an account that plays both roles)",
                    e.name, e.peer_account
                ));
            }
        }
        Template::Requester => {
            if n.peer_accounts.is_empty() {
                notes.push("AccepterAccountIds: no peer account in the configuration".into());
            } else {
                values.push(("AccepterAccountIds", join(&n.peer_accounts)));
            }
            match (n.peer_accounts.iter().collect::<Vec<_>>().as_slice(), region) {
                ([account], Some(region)) => values.push((
                    "AccepterEventBusArn",
                    format!(
                        "arn:{}:events:{region}:{account}:event-bus/default",
                        peerlink::ids::partition_of(region)
                    ),
                )),
                ([_], None) => notes.push(
                    "AccepterEventBusArn: the stack's region is unknown (pass --region or set AWS_REGION)".into(),
                ),
                (accounts, _) if accounts.len() > 1 => notes.push(format!(
                    "AccepterEventBusArn: the configuration names several peer accounts ({}); pass the default bus of \
                     the accepter account this account forwards its requests to",
                    join(&n.peer_accounts)
                )),
                _ => {}
            }
            for e in config.peers.iter().filter(|e| e.auto_accept) {
                notes.push(format!(
                    "entry {:?} has auto_accept = true, but a requester stack cannot accept: deploy accepter.yaml in this account",
                    e.name
                ));
            }
        }
    }
    values.push(("RequestPeerVpcArns", join(&n.request_targets)));
    values.push(("DriftMode", drift_mode(config.settings.drift_mode).into()));
    Parameters { values, notes }
}

/// Reads a stack's parameters from JSON: the output of `aws cloudformation
/// describe-stacks` (one stack), its `Stacks[0]` or `Stacks[0].Parameters`,
/// or an object of names and values (`peerlink deploy-params --json`).
pub fn read_stack_parameters(text: &str) -> Result<BTreeMap<String, String>, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match &value {
        Value::Object(map) if map.contains_key("Stacks") => match map["Stacks"].as_array().map(Vec::as_slice) {
            Some([stack]) => stack.get("Parameters").cloned().unwrap_or(Value::Array(Vec::new())),
            Some(stacks) => {
                return Err(format!(
                    "{} stacks in the file: pass one (aws cloudformation describe-stacks --stack-name …)",
                    stacks.len()
                ));
            }
            None => return Err("\"Stacks\" is not a list".into()),
        },
        Value::Object(map) if map.get("Parameters").is_some_and(Value::is_array) => map["Parameters"].clone(),
        other => other.clone(),
    };
    let mut out = BTreeMap::new();
    match list {
        Value::Array(items) => {
            for item in items {
                let key = item.get("ParameterKey").and_then(Value::as_str);
                let value = item.get("ParameterValue").and_then(Value::as_str);
                match (key, value) {
                    (Some(k), Some(v)) => {
                        out.insert(k.to_string(), v.to_string());
                    }
                    (Some(_), None) => {} // UsePreviousValue: unknown here
                    _ => {
                        return Err(format!(
                            "expected {{\"ParameterKey\", \"ParameterValue\"}}, found {item}"
                        ));
                    }
                }
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                let v = match v {
                    Value::String(s) => s,
                    Value::Array(items) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_string).unwrap_or_else(|| i.to_string()))
                        .collect::<Vec<_>>()
                        .join(","),
                    other => other.to_string(),
                };
                out.insert(k, v);
            }
        }
        _ => return Err("expected a describe-stacks output, a list of parameters or an object".into()),
    }
    Ok(out)
}

/// Something the configuration and the stack disagree on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackFinding {
    /// Always `stack-parameters`.
    pub kind: &'static str,
    pub resource: Option<String>,
    pub message: String,
    pub fix: String,
}

/// What the configuration names and the stack's parameters do not cover
/// (each a call that gets `AccessDenied`), and what the stack grants that
/// the configuration does not need. The template is recognised from the
/// parameters (`RequesterAccountIds`: accepter, `AccepterAccountIds`:
/// requester).
pub fn coverage(config: &Config, stack: &BTreeMap<String, String>) -> Vec<StackFinding> {
    let n = named(config);
    let template = if stack.contains_key("AccepterAccountIds") {
        Template::Requester
    } else {
        Template::Accepter
    };
    let fix = format!(
        "peerlink deploy-params --config FILE --template {} gives the parameters; sam deploy with them",
        match template {
            Template::Accepter => "accepter",
            Template::Requester => "requester",
        }
    );
    // A secret without kms_key has a key the configuration does not name: extra keys may be it.
    let keys_unknown = config
        .peers
        .iter()
        .flat_map(|e| &e.secrets)
        .any(|s| s.kms_key.is_none());
    let peers = match template {
        Template::Accepter => Covered {
            parameter: "RequesterAccountIds",
            what: "the peer account",
            denied: "accepting its requests (and forwarding decisions to it)",
            configured: &n.requesters,
            extra_ok: false,
        },
        Template::Requester => Covered {
            parameter: "AccepterAccountIds",
            what: "the peer account",
            denied: "receiving its decisions",
            configured: &n.peer_accounts,
            extra_ok: false,
        },
    };
    let covered = [
        Covered {
            parameter: "LocalVpcIds",
            what: "the local VPC",
            denied: "everything on its peerings (accept, routes, DNS)",
            configured: &n.local_vpcs,
            extra_ok: false,
        },
        Covered {
            parameter: "SecurityGroupIds",
            what: "the security group",
            denied: "writing its rules",
            configured: &n.groups,
            extra_ok: false,
        },
        Covered {
            parameter: "SecretArns",
            what: "the secret",
            denied: "sharing it (its resource policy)",
            configured: &n.secrets,
            extra_ok: false,
        },
        Covered {
            parameter: "KmsKeyArns",
            what: "the KMS key",
            denied: "its key policy statement",
            configured: &n.keys,
            extra_ok: keys_unknown,
        },
        peers,
        Covered {
            parameter: "RequestPeerVpcArns",
            what: "the peer VPC to request to",
            denied: "creating the request",
            configured: &n.request_targets,
            extra_ok: false,
        },
    ];
    let mut out: Vec<StackFinding> = covered.iter().flat_map(|c| c.compare(stack, &fix)).collect();
    let configured = drift_mode(config.settings.drift_mode);
    if let Some(mode) = stack.get("DriftMode").filter(|m| m.as_str() != configured) {
        out.push(StackFinding {
            kind: "stack-parameters",
            resource: None,
            message: format!(
                "the stack's DriftMode is {mode} but settings.drift_mode is {configured}: the stack's value (PEERLINK_DRIFT_MODE) wins"
            ),
            fix,
        });
    }
    out
}

/// One list parameter of the stack against what the configuration names.
struct Covered<'a> {
    parameter: &'static str,
    what: &'static str,
    /// The call that gets `AccessDenied` when a configured value is missing.
    denied: &'static str,
    configured: &'a BTreeSet<String>,
    /// Values the configuration does not name are expected (not a finding).
    extra_ok: bool,
}

impl Covered<'_> {
    fn compare(&self, stack: &BTreeMap<String, String>, fix: &str) -> Vec<StackFinding> {
        let Covered {
            parameter,
            what,
            denied,
            configured,
            extra_ok,
        } = self;
        let present: BTreeSet<String> = stack
            .get(*parameter)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        let finding = |resource: &String, message: String| StackFinding {
            kind: "stack-parameters",
            resource: Some(resource.clone()),
            message,
            fix: fix.to_string(),
        };
        let mut out: Vec<StackFinding> = configured
            .difference(&present)
            .map(|missing| {
                finding(
                    missing,
                    format!(
                        "the configuration names {what} {missing}, which the stack's {parameter} does not: {denied} gets AccessDenied"
                    ),
                )
            })
            .collect();
        if !extra_ok {
            out.extend(present.difference(configured).map(|extra| {
                finding(
                    extra,
                    format!(
                        "the stack's {parameter} names {what} {extra}, which the configuration does not: more access than it needs"
                    ),
                )
            }));
        }
        out
    }
}

#[cfg(test)]
mod tests;
