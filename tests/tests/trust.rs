//! The configuration as the allowlist over time, on the emulator: a change
//! governs the very next invocation of a warm process, requests to VPCs no
//! entry names are left alone, the most specific entry wins, what the
//! configuration no longer grants is taken back, and what it names that does
//! not exist is reported.

use peerlink::accepter;
use peerlink::config::DriftMode;
use peerlink::decision::Verdict;
use peerlink::finding::FindingKind;
use peerlink::fixtures::{self, Entry};
use peerlink::reconcile::{self, Scope};
use peerlink::{Deadline, Mode, doctor, drift, events};
use peerlink_tests::{Emulator, LambdaWatch, Link, create_event_in, decide};
use serde_json::Value;

/// Sids of a policy document.
fn sids(policy: &Option<Value>) -> Vec<String> {
    policy
        .as_ref()
        .and_then(|p| p["Statement"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_string))
        .collect()
}

fn ours(sids: &[String]) -> Vec<&String> {
    sids.iter()
        .filter(|s| s.starts_with("Peerlink") && s.as_str() != "PeerlinkReadPcx1")
        .collect()
}

#[test]
fn a_configuration_change_governs_the_next_invocation_of_a_warm_process() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = Emulator::shared();
    let (requester, accepter) =
        rt.block_on(async { (emu.account("630000000001").await, emu.account("630000000002").await) });
    let local = rt.block_on(accepter.vpc(&["10.8.0.0/16"], 0));
    let vpcs: Vec<_> = ["10.1.0.0/16", "10.2.0.0/16", "10.3.0.0/16"]
        .iter()
        .map(|c| rt.block_on(requester.vpc(&[c], 0)))
        .collect();
    let entry = |auto: bool| Entry::new("orders", &requester.id, &local.id, &["10.0.0.0/8"]).auto_accept(auto);
    let parameter = "/peerlink/config";
    rt.block_on(accepter.put_parameter(parameter, &fixtures::document("", &[entry(true)])));
    let watch = LambdaWatch::start(emu, &accepter, &[("PEERLINK_CONFIG_SSM_PARAMETER", parameter)]);
    let dir = std::env::temp_dir().join(format!("peerlink-warm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let invoke = |pcx: &str| {
        let file = dir.join(format!("{pcx}.json"));
        std::fs::write(&file, create_event_in(pcx, &requester.id).to_string()).unwrap();
        watch.invoke("accepter", &file)
    };
    let request = |i: usize| rt.block_on(requester.request_peering(&vpcs[i].id, &accepter.id, &local.id, None));
    let status = |pcx: &str| rt.block_on(accepter.peering_status(pcx));

    let r1 = request(0);
    let report = invoke(&r1).expect("first invocation");
    assert_eq!(report["accepted"], serde_json::json!([r1]), "{report}");

    // Auto-accept withdrawn: the next invocation of the same process leaves the request.
    rt.block_on(accepter.put_parameter(parameter, &fixtures::document("", &[entry(false)])));
    let r2 = request(1);
    let report = invoke(&r2).expect("second invocation");
    assert_eq!(report["left_pending"], serde_json::json!([r2]), "{report}");
    assert_eq!(status(&r2), "pending-acceptance");

    // A configuration that has become invalid fails the invocation; the last good one is not used.
    rt.block_on(accepter.put_parameter(parameter, "[[peer]]\nname = \"broken\"\n"));
    let r3 = request(2);
    let err = invoke(&r3).unwrap_err();
    assert!(err.contains("InvalidConfig"), "{err}");
    assert_eq!(status(&r3), "pending-acceptance");

    // The entry removed (the VPC still managed for another account): the
    // same request is now rejected.
    let other = Entry::new("someone-else", "999999999999", &local.id, &["10.0.0.0/8"]);
    rt.block_on(accepter.put_parameter(parameter, &fixtures::document("", &[other])));
    let report = invoke(&r3).expect("fourth invocation");
    assert_eq!(report["rejected"], serde_json::json!([r3]), "{report}");

    // One process served all four (Lambda reuses an execution environment),
    // and parsed each version once.
    let log = std::fs::read_to_string(&watch.log_path).unwrap();
    let starts = log.lines().filter(|l| l.contains("\"function starting\"")).count();
    assert_eq!(starts, 1, "one warm process: {log}");
    let loaded = log.lines().filter(|l| l.contains("\"configuration loaded\"")).count();
    assert_eq!(loaded, 3, "parsed once per valid version: {log}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An infrastructure-as-code replacement deletes the parameter and writes it
/// again: it starts over at version 1. A warm process that knew version 1
/// must still see the new allowlist.
#[test]
fn a_replaced_parameter_governs_a_warm_process_though_its_version_starts_over() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = Emulator::shared();
    let (requester, accepter) =
        rt.block_on(async { (emu.account("635000000001").await, emu.account("635000000002").await) });
    let local = rt.block_on(accepter.vpc(&["10.8.0.0/16"], 0));
    let vpcs: Vec<_> = ["10.1.0.0/16", "10.2.0.0/16"]
        .iter()
        .map(|c| rt.block_on(requester.vpc(&[c], 0)))
        .collect();
    let parameter = "/peerlink/replaced";
    let allowed = Entry::new("orders", &requester.id, &local.id, &["10.0.0.0/8"]);
    let first = rt.block_on(accepter.put_parameter(parameter, &fixtures::document("", &[allowed])));
    assert_eq!(first, 1);
    let watch = LambdaWatch::start(emu, &accepter, &[("PEERLINK_CONFIG_SSM_PARAMETER", parameter)]);
    let dir = std::env::temp_dir().join(format!("peerlink-replaced-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let invoke = |pcx: &str| {
        let file = dir.join(format!("{pcx}.json"));
        std::fs::write(&file, create_event_in(pcx, &requester.id).to_string()).unwrap();
        watch.invoke("accepter", &file)
    };
    let request = |i: usize| rt.block_on(requester.request_peering(&vpcs[i].id, &accepter.id, &local.id, None));
    let r1 = request(0);
    let report = invoke(&r1).expect("first invocation");
    assert_eq!(report["accepted"], serde_json::json!([r1]), "{report}");

    // Replaced: the entry now names another account, at version 1 again.
    rt.block_on(accepter.delete_parameter(parameter));
    let other = Entry::new("someone-else", "999999999999", &local.id, &["10.0.0.0/8"]);
    let again = rt.block_on(accepter.put_parameter(parameter, &fixtures::document("", &[other])));
    assert_eq!(again, 1, "a re-created parameter starts over at version 1");
    let r2 = request(1);
    let report = invoke(&r2).expect("second invocation");
    assert_eq!(report["rejected"], serde_json::json!([r2]), "{report}");
    assert_eq!(rt.block_on(accepter.peering_status(&r2)), "rejected");
    let log = std::fs::read_to_string(&watch.log_path).unwrap();
    let starts = log.lines().filter(|l| l.contains("\"function starting\"")).count();
    assert_eq!(starts, 1, "one warm process: {log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn requests_to_vpcs_no_entry_names_are_left_alone() {
    let emu = Emulator::shared();
    let (requester, accepter) = (emu.account("631000000001").await, emu.account("631000000002").await);
    let managed = accepter.vpc(&["10.8.0.0/16"], 0).await;
    let unmanaged = accepter.vpc(&["10.9.0.0/16"], 0).await;
    let rv = requester.vpc(&["10.1.0.0/16"], 0).await;
    let ctx = accepter
        .context(&fixtures::document(
            "unmatched_requests = \"reject\"",
            &[Entry::new("orders", &requester.id, &managed.id, &["10.0.0.0/8"])],
        ))
        .await;
    let pcx = requester
        .request_peering(&rv.id, &accepter.id, &unmanaged.id, None)
        .await;
    let sweep = accepter::handle(&ctx, &events::Event::Scheduled, Deadline::none())
        .await
        .expect("sweep");
    assert_eq!(sweep.skipped, vec![pcx.clone()], "{sweep:#?}");
    assert!(sweep.failed.is_empty());
    assert!(
        sweep.outcomes[0].decision.reason.contains("not a managed VPC"),
        "{sweep:#?}"
    );
    assert_eq!(ctx.calls().summary().writes, 0);
    assert_eq!(accepter.peering_status(&pcx).await, "pending-acceptance");
}

#[tokio::test]
async fn the_most_specific_entry_wins() {
    let emu = Emulator::shared();
    let (requester, accepter) = (emu.account("632000000001").await, emu.account("632000000002").await);
    let local = accepter.vpc(&["10.8.0.0/16"], 0).await;
    let named = requester.vpc(&["10.1.0.0/16"], 0).await;
    let other = requester.vpc(&["10.2.0.0/16"], 0).await;
    let ctx = accepter
        .context(&fixtures::document(
            "",
            &[
                Entry::new("any-vpc", &requester.id, &local.id, &["10.0.0.0/8"]).auto_accept(false),
                Entry::new("orders", &requester.id, &local.id, &["10.1.0.0/16"]).peer_vpc(&named.id),
            ],
        ))
        .await;
    let x = requester
        .request_peering(&named.id, &accepter.id, &local.id, None)
        .await;
    let y = requester
        .request_peering(&other.id, &accepter.id, &local.id, None)
        .await;
    let report = decide(&ctx, &x).await;
    let d = &report.outcomes[0].decision;
    assert_eq!(
        (d.verdict, d.entry.as_deref()),
        (Verdict::Accept, Some("orders")),
        "{}",
        d.reason
    );
    let report = decide(&ctx, &y).await;
    let d = &report.outcomes[0].decision;
    assert_eq!(
        (d.verdict, d.entry.as_deref()),
        (Verdict::LeavePending, Some("any-vpc")),
        "{}",
        d.reason
    );
}

#[tokio::test]
async fn what_the_configuration_no_longer_grants_is_taken_back() {
    let link = Link::new(Emulator::shared(), "633000000001", "633000000002").await;
    let (pcx, _, ctx) = link.accepted().await;
    reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    let (secret, key) = (&link.secret.arn, link.secret.key_arn.clone().unwrap());
    let sg = &link.accepter_vpc.security_group;
    // The user's own look-alikes, which must survive: a rule whose description
    // merely contains our marker, a statement whose Sid merely looks like ours.
    link.accepter
        .user_rule(sg, 5433, "10.0.0.0/16", &format!("peerlink:{pcx} (copy)"))
        .await;
    let mut policy = link.accepter.secret_policy(secret).await.unwrap();
    policy["Statement"].as_array_mut().unwrap().push(serde_json::json!({
        "Sid": "PeerlinkReadPcx1", "Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{}:role/auditor", link.accepter.id)},
        "Action": "secretsmanager:DescribeSecret", "Resource": "*"}));
    link.accepter
        .secrets
        .put_resource_policy()
        .secret_id(secret)
        .resource_policy(policy.to_string())
        .send()
        .await
        .unwrap();
    assert!(!ours(&sids(&link.accepter.secret_policy(secret).await)).is_empty());

    // The entry no longer lists the secret nor the rule.
    let reduced = link.accepter_entry();
    let ctx = link.accepter.context(&fixtures::document("", &[reduced])).await;
    // Report mode lists what it would take back and writes nothing.
    let report = drift::run(&ctx, DriftMode::Report, Deadline::none()).await.unwrap();
    let kinds = report.reconcile.kinds();
    assert!(
        kinds.contains(&"revoke-rule") && kinds.contains(&"merge-secret-policy"),
        "{kinds:?}"
    );
    assert_eq!(ctx.calls().summary().writes, 0);
    // Remediate takes it back, and nothing of the user's.
    let report = drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    assert!(report.reconcile.failed().is_empty(), "{report:#?}");
    let secret_sids = sids(&link.accepter.secret_policy(secret).await);
    assert!(ours(&secret_sids).is_empty(), "{secret_sids:?}");
    assert!(secret_sids.contains(&"UserRotation".to_string()) && secret_sids.contains(&"PeerlinkReadPcx1".to_string()));
    let key_sids = sids(&Some(link.accepter.key_policy(&key).await));
    assert!(ours(&key_sids).is_empty(), "{key_sids:?}");
    assert!(key_sids.contains(&"UserKeyAdmins".to_string()), "{key_sids:?}");
    let rules = link.accepter.rules(sg, false).await;
    assert!(
        !rules
            .iter()
            .any(|(.., d)| d.as_deref() == Some(&format!("peerlink:{pcx}"))),
        "{rules:?}"
    );
    assert!(
        rules.iter().any(|(_, f, ..)| *f == 5433),
        "the user's copy stays: {rules:?}"
    );

    // The whole entry removed: nothing of ours is left, found without the old configuration.
    let ctx = link.accepter.context(&link.accepter_config("")).await;
    reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(!ours(&sids(&link.accepter.secret_policy(secret).await)).is_empty());
    let empty = link
        .accepter
        .context(&fixtures::document("drift_mode = \"remediate\"", &[]))
        .await;
    let report = drift::run(&empty, DriftMode::Remediate, Deadline::none())
        .await
        .unwrap();
    assert!(report.reconcile.failed().is_empty(), "{report:#?}");
    assert!(ours(&sids(&link.accepter.secret_policy(secret).await)).is_empty());
    assert!(ours(&sids(&Some(link.accepter.key_policy(&key).await))).is_empty());
    let rules = link.accepter.rules(sg, false).await;
    assert!(
        rules
            .iter()
            .all(|(.., d)| d.as_deref() != Some(&format!("peerlink:{pcx}"))),
        "{rules:?}"
    );
    // Its routes and its DNS resolution too: the peering stays active, the grants go.
    assert_eq!(routes_through(&link, &pcx).await, Vec::<(String, String)>::new());
    assert!(!link.accepter.peering_dns(&pcx).await.1, "DNS resolution left on");
}

/// (table, destination) of every accepter route through `pcx`.
async fn routes_through(link: &Link, pcx: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for t in link.accepter_tables() {
        for (dest, target) in link.accepter.routes(&t).await {
            if target == pcx {
                out.push((t.clone(), dest));
            }
        }
    }
    out
}

/// A drift pass in remediate mode, which must not fail.
async fn run(ctx: &peerlink::Context) -> drift::DriftReport {
    let report = drift::run(ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    assert!(report.reconcile.failed().is_empty(), "{report:#?}");
    report
}

#[tokio::test]
async fn every_grant_can_be_withdrawn() {
    let link = Link::new(Emulator::shared(), "635000000001", "635000000002").await;
    let (pcx, _, ctx) = link.accepted().await;
    run(&ctx).await;
    assert!(
        link.accepter.peering_dns(&pcx).await.1,
        "peerlink turned DNS resolution on"
    );
    assert_eq!(routes_through(&link, &pcx).await.len(), 8, "two blocks in four tables");
    let entry = |dns: bool| {
        link.accepter_rule_entry()
            .line(&format!("dns = {{ remote_resolution = {dns} }}"))
    };

    // The configuration turns DNS resolution off: peerlink turns off what it turned on.
    let off = link.accepter.context(&fixtures::document("", &[entry(false)])).await;
    run(&off).await;
    assert!(!link.accepter.peering_dns(&pcx).await.1, "DNS resolution left on");
    // A person turns it on by hand: that is not peerlink's to turn off.
    link.accepter.set_peering_dns(&pcx, true, true).await;
    let report = run(&off).await;
    assert!(link.accepter.peering_dns(&pcx).await.1, "{report:#?}");
    link.accepter.set_peering_dns(&pcx, true, false).await;

    // On again, then the entry goes while the peering stays active (another
    // entry keeps the VPC managed): DNS, routes and rules are taken back.
    run(&link.accepter.context(&fixtures::document("", &[entry(true)])).await).await;
    assert!(link.accepter.peering_dns(&pcx).await.1);
    let other = Entry::new("someone-else", "999999999999", &link.accepter_vpc.id, &["10.0.0.0/8"]);
    let gone = link.accepter.context(&fixtures::document("", &[other])).await;
    let report = run(&gone).await;
    assert!(!link.accepter.peering_dns(&pcx).await.1, "DNS left on: {report:#?}");
    assert_eq!(
        routes_through(&link, &pcx).await,
        Vec::<(String, String)>::new(),
        "{report:#?}"
    );
    let marker = format!("peerlink:{pcx}");
    let rules = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
    assert!(
        rules.iter().all(|(.., d)| d.as_deref() != Some(marker.as_str())),
        "{rules:?}"
    );

    // The next pass finds nothing of peerlink's left and clears its record
    // on the peering (only then: a route whose removal failed is retried).
    let report = run(&gone).await;
    assert_eq!(report.reconcile.kinds(), vec!["tag-peering"], "{report:#?}");
    assert!(run(&gone).await.reconcile.actions.is_empty());

    // The peering is the user's now: a route they add through it stays.
    link.accepter
        .user_route(&link.accepter_vpc.main_table, "10.0.0.0/16", &pcx)
        .await;
    link.accepter.set_peering_dns(&pcx, true, true).await;
    let report = run(&gone).await;
    assert_eq!(routes_through(&link, &pcx).await.len(), 1, "{report:#?}");
    assert!(link.accepter.peering_dns(&pcx).await.1, "{report:#?}");
}

#[tokio::test]
async fn configuration_that_points_at_nothing_is_reported_and_the_rest_reconciled() {
    let link = Link::new(Emulator::shared(), "634000000001", "634000000002").await;
    let (pcx, _, _) = link.accepted().await;
    let typo_vpc = "vpc-0123456789abcdef0";
    let typo_sg = "sg-0123456789abcdef0";
    let typo_secret = format!(
        "arn:aws:secretsmanager:eu-west-1:{}:secret:nothing-AbCdEf",
        link.accepter.id
    );
    let typo_key = format!(
        "arn:aws:kms:eu-west-1:{}:key/00000000-0000-0000-0000-000000000000",
        link.accepter.id
    );
    let dangling = Entry::new("typo", &link.requester.id, typo_vpc, &["10.0.0.0/8"])
        .rule(typo_sg, 5432)
        .secret_on_key(&typo_secret, &typo_key, &[&link.task_role]);
    let text = format!("{}{}", link.accepter_config(""), dangling.toml());
    let ctx = link.accepter.context(&text).await;
    let plan = reconcile::run(&ctx, Scope::All, Mode::Plan, Deadline::none())
        .await
        .unwrap();
    let missing: Vec<&str> = plan
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::MissingResource)
        .map(|f| f.message.as_str())
        .collect();
    for name in [typo_vpc, typo_sg, typo_secret.as_str(), typo_key.as_str()] {
        assert!(
            missing.iter().any(|m| m.contains(name)),
            "{name} not reported: {missing:#?}"
        );
    }
    // The other entry is still reconciled.
    assert!(
        plan.actions
            .iter()
            .any(|a| a.planned.peering.as_deref() == Some(pcx.as_str())),
        "{plan:#?}"
    );
    let drift = drift::run(&ctx, DriftMode::Report, Deadline::none()).await.unwrap();
    assert!(drift.reconcile.findings.iter().any(|f| f.message.contains(typo_vpc)));
    let doctor = doctor::run(&ctx).await.unwrap();
    assert!(doctor.iter().any(|f| f.message.contains(typo_vpc)), "{doctor:#?}");
}
