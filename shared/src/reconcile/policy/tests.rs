//! Unit tests of our statements and the merge.

use super::*;

fn principal(n: u32) -> PrincipalArn {
    PrincipalArn::try_from(format!(
        "arn:aws:iam::{:012}:role/app",
        111_111_111_111u64 + u64::from(n)
    ))
    .unwrap()
}

fn read_for(n: u32) -> Value {
    let who: Vec<PrincipalArn> = (0..n).map(principal).collect();
    read_statement(&who.iter().collect())
}

#[test]
fn merge_keeps_everything_it_does_not_own() {
    let user = json!({"Sid": "UserRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::333333333333:root"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"});
    let anonymous =
        json!({"Effect": "Deny", "Principal": {"AWS": "*"}, "Action": "secretsmanager:DeleteSecret", "Resource": "*"});
    let current = json!({"Version": "2012-10-17", "Statement": [user, anonymous]});
    let ours = read_for(1);
    let change = change_to(Some(&current), Some(ours.clone())).expect("a change");
    let merged = merge(Some(&current), &change);
    let st = statements(&merged);
    assert_eq!(st, vec![user.clone(), anonymous.clone(), ours.clone()]);
    assert!(change_to(Some(&merged), Some(ours)).is_none(), "already as wanted");
    // Nothing of ours wanted any more: the original statements come back.
    let removed = merge(Some(&merged), &change_to(Some(&merged), None).expect("a change"));
    assert_eq!(statements(&removed), statements(&current));
}

#[test]
fn earlier_per_peering_statements_are_replaced_and_look_alikes_kept() {
    let legacy = json!({"Sid": "PeerlinkReadPcx0123456789abcdef0", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/app"}, "Action": "secretsmanager:GetSecretValue", "Resource": "*"});
    let look_alike = json!({"Sid": "PeerlinkReadPcx1", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:role/x"}, "Action": "secretsmanager:DescribeSecret", "Resource": "*"});
    let current = json!({"Statement": [legacy, look_alike.clone()]});
    let change = change_to(Some(&current), Some(read_for(2))).unwrap();
    assert_eq!(change.remove, vec!["PeerlinkReadPcx0123456789abcdef0"]);
    let merged = merge(Some(&current), &change);
    let sids: Vec<&str> = statements(&merged)
        .iter()
        .filter_map(|s| sid_of(s).map(|_| ""))
        .collect();
    assert_eq!(sids.len(), 2);
    assert!(statements(&merged).contains(&look_alike));
    assert_eq!(owned_sids(Some(&merged)), vec!["PeerlinkRead"]);
}

#[test]
fn altered_statements_are_replaced_in_place() {
    let mut altered = read_for(1);
    altered["Action"] = json!("secretsmanager:*");
    let current = json!({"Statement": [altered, {"Sid": "Other"}]});
    let change = change_to(Some(&current), Some(read_for(1))).unwrap();
    let merged = merge(Some(&current), &change);
    assert_eq!(sid_of(&statements(&merged)[0]), Some(READ_SID));
    assert_eq!(
        statements(&merged)[0]["Action"],
        json!(["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"])
    );
    assert_eq!(statements(&merged)[1], json!({"Sid": "Other"}));
}

#[test]
fn representation_differences_are_not_drift() {
    let ours = read_for(1);
    let mut as_aws_returns_it = ours.clone();
    as_aws_returns_it["Principal"] = json!({"AWS": principal(0).arn});
    as_aws_returns_it["Action"] = json!(["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]);
    let current = json!({"Statement": as_aws_returns_it});
    assert!(change_to(Some(&current), Some(ours)).is_none());
}

#[test]
fn no_policy_yet() {
    let change = change_to(None, Some(read_for(1))).unwrap();
    let merged = merge(None, &change);
    assert_eq!(merged["Version"], "2012-10-17");
    assert_eq!(statements(&merged).len(), 1);
    assert!(change_to(None, None).is_none());
}

#[test]
fn decrypt_is_limited_to_secrets_manager_and_the_secrets() {
    let who: Vec<PrincipalArn> = vec![principal(0)];
    let secrets = BTreeSet::from(["arn:b", "arn:a"]);
    let st = decrypt_statement(&who.iter().collect(), "eu-west-1", &secrets);
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

/// A hub's 120 peerings, one principal each, on one shared secret and key:
/// both statements stay far below AWS's limits.
#[test]
fn one_statement_per_policy_fits_a_hub() {
    let who: Vec<PrincipalArn> = (0..120).map(principal).collect();
    let read = read_statement(&who.iter().collect());
    let secret = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf";
    let decrypt = decrypt_statement(&who.iter().collect(), "eu-west-1", &BTreeSet::from([secret]));
    assert!(size(&read) < SECRET_POLICY_MAX / 2, "{}", size(&read));
    assert!(size(&decrypt) < KEY_POLICY_MAX / 4, "{}", size(&decrypt));
}

/// The check after a write: every statement of others seen before it must
/// still be there (in whatever representation AWS hands back); ours may change.
#[test]
fn a_write_keeps_every_statement_of_others() {
    let user = json!({"Sid": "UserRotation", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam::1:role/r"]}, "Action": ["a"], "Resource": "*"});
    let ours =
        json!({"Sid": READ_SID, "Effect": "Allow", "Principal": {"AWS": "arn:x"}, "Action": "b", "Resource": "*"});
    let before = json!({"Statement": [user.clone(), ours]});
    // AWS collapses single-element lists: still the same statement.
    let collapsed = json!({"Sid": "UserRotation", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::1:role/r"}, "Action": "a", "Resource": "*"});
    assert!(keeps_others(Some(&before), Some(&json!({"Statement": [collapsed]}))));
    assert!(!keeps_others(Some(&before), Some(&json!({"Statement": []}))));
    assert!(!keeps_others(Some(&before), None));
    assert!(keeps_others(None, Some(&json!({"Statement": [user]}))));
}
