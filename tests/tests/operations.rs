//! Safety under real operations, on the emulator: a stack redeployed after
//! the configuration shrank (the role may no longer touch a secret, a key or
//! a group peerlink granted on), a configuration naming another account's
//! secret, and a person editing a policy while a pass runs. IAM is played by
//! the fault proxy's `deny` rules, which answer as the services answer a call
//! the caller's policies do not allow (moto enforces no IAM).

use std::time::{Duration, Instant};

use peerlink::config::DriftMode;
use peerlink::finding::Finding;
use peerlink::fixtures;
use peerlink::metrics::InvocationReport;
use peerlink::reconcile::{self, Scope};
use peerlink::{Deadline, Mode, drift};
use peerlink_tests::{Emulator, FaultProxy, Link};
use serde_json::{Value, json};

fn not_permitted(findings: &[Finding]) -> Vec<&Finding> {
    findings.iter().filter(|f| f.kind.name() == "not-permitted").collect()
}

fn sids(policy: &Value) -> Vec<String> {
    policy["Statement"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_string))
        .collect()
}

/// A finished link, then a route of it deleted by someone: drift's work.
async fn finished_then_broken(link: &Link) -> String {
    let (pcx, _, ctx) = link.accepted().await;
    let first = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(first.failed().is_empty(), "{first:#?}");
    link.accepter
        .ec2
        .delete_route()
        .route_table_id(&link.accepter_vpc.main_table)
        .destination_cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    pcx
}

async fn main_table_routes_to(link: &Link, pcx: &str) -> bool {
    link.accepter
        .routes(&link.accepter_vpc.main_table)
        .await
        .contains(&("10.0.0.0/16".to_string(), pcx.to_string()))
}

#[tokio::test]
async fn a_redeploy_that_drops_a_secret_never_freezes_repair() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "640000000001", "640000000002").await;
    let pcx = finished_then_broken(&link).await;
    let secret = link.secret.arn.clone();
    // The stack redeployed with the shrunk configuration's parameters: its
    // role may no longer read or write that secret (peerlink tagged it, and
    // ListSecrets still lists it).
    let proxy = FaultProxy::start(emu, 1);
    proxy.configure(&json!({"deny": [
        {"action": "DescribeSecret", "contains": secret},
        {"action": "GetResourcePolicy", "contains": secret},
        {"action": "PutResourcePolicy", "contains": secret},
    ]}));
    let accepter = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = accepter.context(&link.accepter_config_without_cmk_secret("")).await;
    let report = drift::run(&ctx, DriftMode::Remediate, Deadline::none())
        .await
        .unwrap_or_else(|e| panic!("one unreadable secret froze the whole pass: {e}"));
    assert!(
        main_table_routes_to(&link, &pcx).await,
        "the deleted route was not repaired"
    );
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let found = not_permitted(&report.reconcile.findings);
    assert!(
        found.iter().any(|f| f.resource.as_deref() == Some(secret.as_str())
            && f.fix.contains("SecretArns")
            && f.fix.contains("PeerlinkRead")),
        "{found:#?}"
    );
    assert!(
        report.metrics().contains(&("NotPermitted", found.len())),
        "{:?}",
        report.metrics()
    );
    // Our statement stays where it is (we may not take it back), untouched.
    let policy = link.accepter.secret_policy(&secret).await.unwrap();
    assert!(sids(&policy).contains(&"PeerlinkRead".to_string()), "{policy}");
}

#[tokio::test]
async fn a_key_the_stack_does_not_cover_is_a_finding_and_the_rest_is_done() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "640000000011", "640000000012").await;
    let pcx = link.request().await;
    link.accepter.accept(&pcx).await;
    let key = link.secret.key_arn.clone().unwrap();
    let key_id = key.rsplit('/').next().unwrap().to_string();
    let proxy = FaultProxy::start(emu, 2);
    proxy.configure(&json!({"deny": [
        {"action": "DescribeKey", "contains": key_id},
        {"action": "GetKeyPolicy", "contains": key_id},
        {"action": "PutKeyPolicy", "contains": key_id},
        {"action": "TagResource", "contains": key_id},
    ]}));
    let accepter = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = accepter.context(&link.accepter_config("")).await;
    let report = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap_or_else(|e| panic!("one unreadable key froze the whole pass: {e}"));
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    assert!(main_table_routes_to(&link, &pcx).await);
    let found = not_permitted(&report.findings);
    assert!(
        found.iter().any(|f| f.resource.as_deref() == Some(key.as_str())
            && f.fix.contains("KmsKeyArns")
            && f.fix.contains("PeerlinkDecrypt")),
        "{found:#?}"
    );
    // The secret itself is granted all the same.
    let policy = link.accepter.secret_policy(&link.secret.arn).await.unwrap();
    assert!(sids(&policy).contains(&"PeerlinkRead".to_string()), "{policy}");
}

#[tokio::test]
async fn a_secret_of_another_account_is_a_finding_not_a_failed_pass() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "640000000021", "640000000022").await;
    let pcx = link.request().await;
    link.accepter.accept(&pcx).await;
    // A typo: the account digits of the secret's ARN.
    let typo = "arn:aws:secretsmanager:eu-west-1:999999999999:secret:orders-db-AbCdEf";
    let entry = link
        .accepter_entry()
        .rule(&link.accepter_vpc.security_group, 5432)
        .secret(typo, &[link.task_role.as_str()]);
    let proxy = FaultProxy::start(emu, 3);
    proxy.configure(&json!({"deny": [{"action": "*", "contains": "999999999999"}]}));
    let accepter = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = accepter.context(&fixtures::document("", &[entry])).await;
    let report = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap_or_else(|e| panic!("another account's secret froze the whole pass: {e}"));
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    assert!(main_table_routes_to(&link, &pcx).await);
    assert!(
        report
            .findings
            .iter()
            .any(|f| f.resource.as_deref() == Some(typo) && f.message.contains("is not in account")),
        "{:#?}",
        report.findings
    );
}

#[tokio::test]
async fn a_group_the_stack_does_not_cover_is_a_finding_and_the_rest_is_done() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "640000000031", "640000000032").await;
    let pcx = link.request().await;
    link.accepter.accept(&pcx).await;
    let other = link.accepter.security_group(&link.accepter_vpc.id, "reporting").await;
    let entry = link
        .accepter_entry()
        .rule(&link.accepter_vpc.security_group, 5432)
        .rule(&other, 5432);
    // The configuration gained a group; the stack was not redeployed.
    let proxy = FaultProxy::start(emu, 4);
    proxy.configure(&json!({"deny": [
        {"action": "AuthorizeSecurityGroupIngress", "contains": other},
        {"action": "CreateTags", "contains": other},
    ]}));
    let accepter = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = accepter.context(&fixtures::document("", &[entry])).await;
    let report = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    assert!(main_table_routes_to(&link, &pcx).await);
    let found = not_permitted(&report.findings);
    assert!(
        found
            .iter()
            .any(|f| f.resource.as_deref() == Some(other.as_str()) && f.fix.contains("SecurityGroupIds")),
        "{found:#?}"
    );
    let rules = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
    assert!(
        rules
            .iter()
            .any(|(.., d)| d.as_deref() == Some(&format!("peerlink:{pcx}"))),
        "{rules:?}"
    );
}

/// Polls the proxy until `action` has been forwarded at least once.
async fn wait_forwarded(proxy: &FaultProxy, action: &str) {
    let start = Instant::now();
    while proxy.stats()["actions"][action]["forwarded"].as_u64().unwrap_or(0) == 0 {
        assert!(start.elapsed() < Duration::from_secs(20), "{action} never went through");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn with_statement(mut policy: Value, statement: Value) -> String {
    policy["Statement"].as_array_mut().unwrap().push(statement);
    policy.to_string()
}

#[tokio::test]
async fn a_policy_edit_made_during_a_pass_is_never_lost() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "640000000041", "640000000042").await;
    let pcx = link.request().await;
    link.accepter.accept(&pcx).await;
    let (secret, key) = (link.secret.arn.clone(), link.secret.key_arn.clone().unwrap());
    // One slow read holds the pass for seconds between reading the policies
    // and writing them, as a throttled or paged read would on EC2.
    let proxy = FaultProxy::start(emu, 5);
    proxy.configure(&json!({"slow_seconds": 3.0, "rates": {"DescribeRouteTables": {"slow": 1.0}}}));
    let accepter = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = accepter.context(&link.accepter_config("")).await;
    let pass = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none());
    let (report, ()) = tokio::join!(pass, person_edits(&link, &proxy));
    let report = report.unwrap();
    assert!(report.failures().is_empty(), "{:?}", report.failures());
    let secret_sids = sids(&link.accepter.secret_policy(&secret).await.unwrap());
    assert!(
        secret_sids.contains(&"AuditorRead".to_string()),
        "the person's statement was overwritten by a stale write: {secret_sids:?}"
    );
    assert!(secret_sids.contains(&"PeerlinkRead".to_string()), "{secret_sids:?}");
    let key_sids = sids(&link.accepter.key_policy(&key).await);
    assert!(
        key_sids.contains(&"AuditorDescribe".to_string()),
        "the person's key statement was overwritten by a stale write: {key_sids:?}"
    );
    assert!(key_sids.contains(&"PeerlinkDecrypt".to_string()), "{key_sids:?}");
}

/// A person (or Terraform) adds a statement to each policy once the pass has
/// read them, straight to the emulator.
async fn person_edits(link: &Link, proxy: &FaultProxy) {
    let (secret, key) = (link.secret.arn.clone(), link.secret.key_arn.clone().unwrap());
    wait_forwarded(proxy, "GetResourcePolicy").await;
    wait_forwarded(proxy, "GetKeyPolicy").await;
    let person = json!({"Sid": "AuditorRead", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:role/auditor", link.accepter.id)},
        "Action": "secretsmanager:DescribeSecret", "Resource": "*"});
    let policy = link.accepter.secret_policy(&secret).await.unwrap();
    link.accepter
        .secrets
        .put_resource_policy()
        .secret_id(&secret)
        .resource_policy(with_statement(policy, person))
        .send()
        .await
        .unwrap();
    let person_key = json!({"Sid": "AuditorDescribe", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:role/auditor", link.accepter.id)},
        "Action": "kms:DescribeKey", "Resource": "*"});
    let key_policy = link.accepter.key_policy(&key).await;
    link.accepter
        .kms
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(with_statement(key_policy, person_key))
        .send()
        .await
        .unwrap();
}
