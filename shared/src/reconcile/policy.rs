//! Resource- and key-policy statements we own, and the merge that keeps every
//! statement we do not own exactly as it is.
//!
//! Our statements are identified by their `Sid`: `PeerlinkRead<peering>` in a
//! secret's resource policy, `PeerlinkDecrypt<peering>` in a key policy, where
//! `<peering>` is the peering id without its dash (`Pcx0abc…`). Nothing else
//! is ever changed or removed.

use serde_json::{Value, json};

use crate::config::PrincipalArn;

pub const READ_SID_PREFIX: &str = "PeerlinkRead";
pub const DECRYPT_SID_PREFIX: &str = "PeerlinkDecrypt";

fn sid_suffix(peering: &str) -> String {
    // Sids allow only letters and digits.
    let hex = peering.strip_prefix("pcx-").unwrap_or(peering);
    format!("Pcx{hex}")
}

pub fn read_sid(peering: &str) -> String {
    format!("{READ_SID_PREFIX}{}", sid_suffix(peering))
}

pub fn decrypt_sid(peering: &str) -> String {
    format!("{DECRYPT_SID_PREFIX}{}", sid_suffix(peering))
}

/// The peering an owned Sid belongs to, if `sid` is one of ours.
pub fn peering_of_sid(sid: &str) -> Option<String> {
    let rest = sid
        .strip_prefix(READ_SID_PREFIX)
        .or_else(|| sid.strip_prefix(DECRYPT_SID_PREFIX))?;
    let hex = rest.strip_prefix("Pcx")?;
    let ok = !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    ok.then(|| format!("pcx-{hex}"))
}

fn principals(list: &[PrincipalArn]) -> Value {
    let mut arns: Vec<&str> = list.iter().map(|p| p.arn.as_str()).collect();
    arns.sort();
    arns.dedup();
    json!({ "AWS": arns })
}

/// Lets the peer's principals read the secret (in a secret's resource policy,
/// `Resource: *` means the secret itself).
pub fn read_statement(peering: &str, who: &[PrincipalArn]) -> Value {
    json!({
        "Sid": read_sid(peering),
        "Effect": "Allow",
        "Principal": principals(who),
        "Action": ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"],
        "Resource": "*",
    })
}

/// Lets the peer's principals decrypt with the key, only through Secrets
/// Manager in `region` and only for the listed secrets.
pub fn decrypt_statement(peering: &str, who: &[PrincipalArn], region: &str, secret_arns: &[&str]) -> Value {
    let mut secrets: Vec<&str> = secret_arns.to_vec();
    secrets.sort();
    secrets.dedup();
    json!({
        "Sid": decrypt_sid(peering),
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

/// Our Sids present in a policy.
pub fn owned_sids(doc: Option<&Value>) -> Vec<String> {
    doc.map(statements)
        .unwrap_or_default()
        .iter()
        .filter_map(|s| sid_of(s).filter(|s| peering_of_sid(s).is_some()).map(str::to_string))
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
mod tests {
    use super::*;

    fn principal() -> Vec<PrincipalArn> {
        vec![PrincipalArn::try_from("arn:aws:iam::111111111111:role/app".to_string()).unwrap()]
    }

    #[test]
    fn sids_round_trip() {
        assert_eq!(read_sid("pcx-0abc"), "PeerlinkReadPcx0abc");
        assert_eq!(peering_of_sid("PeerlinkReadPcx0abc").as_deref(), Some("pcx-0abc"));
        assert_eq!(peering_of_sid("PeerlinkDecryptPcx0abc").as_deref(), Some("pcx-0abc"));
        assert_eq!(peering_of_sid("PeerlinkReadSomething"), None);
        assert_eq!(peering_of_sid("UserStatement"), None);
    }

    #[test]
    fn merge_keeps_everything_it_does_not_own() {
        let user = json!({"Sid": "UserRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"});
        let anonymous = json!({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "secretsmanager:DeleteSecret", "Resource": "*"});
        let current = json!({"Version": "2012-10-17", "Statement": [user, anonymous]});
        let ours = read_statement("pcx-0abc", &principal());
        let change = PolicyChange {
            upsert: vec![ours.clone()],
            remove: vec![],
        };
        let merged = merge(Some(&current), &change);
        let st = statements(&merged);
        assert_eq!(st.len(), 3);
        assert_eq!(st[0], user);
        assert_eq!(st[1], anonymous);
        assert_eq!(st[2], ours);
        assert!(satisfies(Some(&merged), &change));
        assert!(!satisfies(Some(&current), &change));
        // Removing ours gives back the original statements.
        let removed = merge(
            Some(&merged),
            &PolicyChange {
                upsert: vec![],
                remove: vec![read_sid("pcx-0abc")],
            },
        );
        assert_eq!(statements(&removed), statements(&current));
    }

    #[test]
    fn altered_statements_are_replaced_in_place() {
        let mut altered = read_statement("pcx-0abc", &principal());
        altered["Action"] = json!("secretsmanager:*");
        let current = json!({"Statement": [altered, {"Sid": "Other"}]});
        let change = PolicyChange {
            upsert: vec![read_statement("pcx-0abc", &principal())],
            remove: vec![],
        };
        assert!(!satisfies(Some(&current), &change));
        let merged = merge(Some(&current), &change);
        assert_eq!(sid_of(&statements(&merged)[0]), Some("PeerlinkReadPcx0abc"));
        assert_eq!(
            statements(&merged)[0]["Action"],
            json!(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"])
        );
        assert_eq!(statements(&merged)[1], json!({"Sid": "Other"}));
    }

    #[test]
    fn representation_differences_are_not_drift() {
        let ours = read_statement("pcx-0abc", &principal());
        let mut as_aws_returns_it = ours.clone();
        as_aws_returns_it["Principal"] = json!({"AWS": "arn:aws:iam::111111111111:role/app"});
        as_aws_returns_it["Action"] = json!(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]);
        let current = json!({"Statement": as_aws_returns_it});
        assert!(satisfies(
            Some(&current),
            &PolicyChange {
                upsert: vec![ours],
                remove: vec![]
            }
        ));
    }

    #[test]
    fn no_policy_yet() {
        let change = PolicyChange {
            upsert: vec![read_statement("pcx-1", &principal())],
            remove: vec![],
        };
        let merged = merge(None, &change);
        assert_eq!(merged["Version"], "2012-10-17");
        assert_eq!(statements(&merged).len(), 1);
        assert!(satisfies(None, &PolicyChange::default()));
    }

    #[test]
    fn decrypt_is_limited_to_secrets_manager_and_the_secrets() {
        let st = decrypt_statement("pcx-0abc", &principal(), "eu-west-1", &["arn:b", "arn:a"]);
        assert_eq!(
            st["Condition"]["StringEquals"]["kms:ViaService"],
            "secretsmanager.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            st["Condition"]["StringEquals"]["kms:EncryptionContext:SecretARN"],
            json!(["arn:a", "arn:b"])
        );
        assert!(!grants_to_everyone(&st));
        assert!(grants_to_everyone(&json!({"Principal": "*"})));
        assert!(grants_to_everyone(&json!({"Principal": {"AWS": ["arn:x", "*"]}})));
    }
}
