//! Resource- and key-policy statements we own, and the merge that keeps every
//! statement we do not own exactly as it is.
//!
//! One statement per policy, rebuilt from the configuration on every pass:
//! `PeerlinkRead` in a secret's resource policy holds every principal the
//! configuration lets read that secret; `PeerlinkDecrypt` in a key policy
//! holds every such principal and every secret on that key. A policy stays
//! small however many peerings a hub has (one principal ARN each), and what
//! the configuration no longer grants drops out. Ours are recognised by their
//! exact Sid ([`crate::ownership`]); nothing else is ever changed or removed.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::config::PrincipalArn;
use crate::ownership::{DECRYPT_SID, READ_SID, is_our_sid};

/// Secrets Manager refuses a resource policy above this many characters.
pub const SECRET_POLICY_MAX: usize = 20_480;
/// KMS refuses a key policy above this many bytes.
pub const KEY_POLICY_MAX: usize = 32_768;

fn principals(list: &BTreeSet<&PrincipalArn>) -> Value {
    let arns: Vec<&str> = list.iter().map(|p| p.arn.as_str()).collect();
    json!({ "AWS": arns })
}

/// Lets the principals read the secret (in a secret's resource policy,
/// `Resource: *` means the secret itself).
pub fn read_statement(who: &BTreeSet<&PrincipalArn>) -> Value {
    json!({
        "Sid": READ_SID,
        "Effect": "Allow",
        "Principal": principals(who),
        "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "Resource": "*",
    })
}

/// Lets the principals decrypt with the key, only through Secrets Manager in
/// `region` and only for the listed secrets. (A principal can decrypt a
/// secret only once that secret's own resource policy lets it read it.)
pub fn decrypt_statement(who: &BTreeSet<&PrincipalArn>, region: &str, secret_arns: &BTreeSet<&str>) -> Value {
    let secrets: Vec<&str> = secret_arns.iter().copied().collect();
    json!({
        "Sid": DECRYPT_SID,
        "Effect": "Allow",
        "Principal": principals(who),
        "Action": "kms:Decrypt",
        "Resource": "*",
        "Condition": {
            "StringEquals": {
                "kms:ViaService": format!("secretsmanager.{region}.amazonaws.com"),
                "kms:EncryptionContext:SecretARN": secrets,
            }
        },
    })
}

/// The size AWS counts: the document as we send it (compact JSON).
pub fn size(doc: &Value) -> usize {
    doc.to_string().len()
}

/// The change that makes `current` hold exactly `wanted` of ours (`None`:
/// none of ours at all), or `None` when it already does. Our earlier Sids
/// (one statement per peering) are taken out.
pub fn change_to(current: Option<&Value>, wanted: Option<Value>) -> Option<PolicyChange> {
    let keep = wanted.as_ref().and_then(sid_of).map(str::to_string);
    let mut remove: Vec<String> = owned_sids(current)
        .into_iter()
        .filter(|s| Some(s) != keep.as_ref())
        .collect();
    remove.sort();
    remove.dedup();
    let upsert: Vec<Value> = wanted.into_iter().collect();
    let change = PolicyChange { upsert, remove };
    (!satisfies(current, &change)).then_some(change)
}

/// AWS may hand a policy back with single-element lists collapsed to strings
/// and lists reordered; compare in a form where neither matters.
pub fn normalize(v: &Value) -> Value {
    match v {
        Value::Array(items) => {
            let mut n: Vec<Value> = items.iter().map(normalize).collect();
            n.sort_by_key(|x| x.to_string());
            n.dedup();
            if n.len() == 1 {
                n.pop().expect("one element")
            } else {
                Value::Array(n)
            }
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), normalize(v))).collect()),
        other => other.clone(),
    }
}

fn statements(doc: &Value) -> Vec<Value> {
    match doc.get("Statement") {
        Some(Value::Array(s)) => s.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

pub fn sid_of(statement: &Value) -> Option<&str> {
    statement.get("Sid").and_then(Value::as_str)
}

/// Statements to put in place (by Sid) and Sids to take out.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PolicyChange {
    pub upsert: Vec<Value>,
    pub remove: Vec<String>,
}

impl PolicyChange {
    pub fn is_empty(&self) -> bool {
        self.upsert.is_empty() && self.remove.is_empty()
    }
}

/// Applies `change` to `current` (absent = no policy yet). Every statement
/// whose Sid is not named by the change is kept as it is, in its place.
pub fn merge(current: Option<&Value>, change: &PolicyChange) -> Value {
    let mut doc = current.cloned().unwrap_or_else(|| json!({ "Version": "2012-10-17" }));
    if !doc.is_object() {
        doc = json!({ "Version": "2012-10-17" });
    }
    let touched = |sid: Option<&str>| {
        sid.is_some_and(|s| change.remove.iter().any(|r| r == s) || change.upsert.iter().any(|u| sid_of(u) == Some(s)))
    };
    let mut out: Vec<Value> = Vec::new();
    for st in statements(&doc) {
        match sid_of(&st).and_then(|s| change.upsert.iter().find(|u| sid_of(u) == Some(s))) {
            Some(replacement) => out.push(replacement.clone()),
            None if touched(sid_of(&st)) => {}
            None => out.push(st),
        }
    }
    for u in &change.upsert {
        if !out.iter().any(|s| sid_of(s) == sid_of(u)) {
            out.push(u.clone());
        }
    }
    doc["Statement"] = Value::Array(out);
    doc
}

/// Whether `current` already reflects `change` (ignoring representation).
pub fn satisfies(current: Option<&Value>, change: &PolicyChange) -> bool {
    let have = current.map(statements).unwrap_or_default();
    let find = |sid: &str| have.iter().find(|s| sid_of(s) == Some(sid));
    change
        .upsert
        .iter()
        .all(|u| sid_of(u).and_then(find).is_some_and(|s| normalize(s) == normalize(u)))
        && change.remove.iter().all(|r| find(r).is_none())
}

/// Whether every statement of others in `before` (not ours by Sid) is still
/// in `after`, whatever the representation.
pub fn keeps_others(before: Option<&Value>, after: Option<&Value>) -> bool {
    let after: Vec<Value> = after
        .map(statements)
        .unwrap_or_default()
        .iter()
        .map(normalize)
        .collect();
    before
        .map(statements)
        .unwrap_or_default()
        .iter()
        .filter(|s| !sid_of(s).is_some_and(is_our_sid))
        .all(|s| after.contains(&normalize(s)))
}

/// Our Sids present in a policy.
pub fn owned_sids(doc: Option<&Value>) -> Vec<String> {
    doc.map(statements)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| sid_of(s).filter(|s| is_our_sid(s)).map(str::to_string))
        .collect()
}

/// Whether a statement grants anything to everyone; we never write such a
/// statement, and we report one we find.
pub fn grants_to_everyone(statement: &Value) -> bool {
    let p = statement.get("Principal");
    let star = |v: &Value| v.as_str() == Some("*");
    match p {
        Some(v) if star(v) => true,
        Some(Value::Object(m)) => m.get("AWS").is_some_and(|a| match a {
            Value::Array(items) => items.iter().any(star),
            other => star(other),
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests;
