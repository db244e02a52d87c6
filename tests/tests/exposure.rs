//! Least exposure on the emulator (issue 22): rules that reference the
//! peer's security groups instead of its whole CIDR blocks, and the
//! references a deleted peering leaves behind.

use peerlink::Deadline;
use peerlink::finding::FindingKind;
use peerlink::fixtures::{self, Entry};
use peerlink_tests::{Emulator, Link, decide, failed_writes, pass, peerlink};

/// The requester's entry: egress to the accepter's database group.
fn requester_by_group(link: &Link) -> String {
    let entry = Entry::new("orders-db", &link.accepter.id, &link.requester_vpc.id, &["10.1.0.0/16"])
        .peer_vpc(&link.accepter_vpc.id)
        .auto_accept(false)
        .rule_lines(&format!(
            "group = \"{}\"\nports = 5432\npeer_groups = [\"{}\"]",
            link.requester_vpc.security_group, link.accepter_vpc.security_group
        ));
    fixtures::document("", &[entry])
}

/// The accepter's entry: ingress from `peer_groups` of the requester, and
/// the rules of `more`.
fn accepter_by_group(link: &Link, peer_groups: &[&str], more: &[&str]) -> String {
    let groups: Vec<String> = peer_groups.iter().map(|g| format!("\"{g}\"")).collect();
    let mut entry = link.accepter_entry();
    if !peer_groups.is_empty() {
        entry = entry.rule_lines(&format!(
            "group = \"{}\"\nports = 5432\npeer_groups = [{}]",
            link.accepter_vpc.security_group,
            groups.join(", ")
        ));
    }
    for lines in more {
        entry = entry.rule_lines(lines);
    }
    fixtures::document("", &[entry])
}

#[tokio::test]
async fn a_same_region_link_is_finished_with_group_references_and_takes_them_back() {
    let link = Link::new(Emulator::shared(), "220000000001", "220000000002").await;
    let (app_sg, db_sg) = (&link.requester_vpc.security_group, &link.accepter_vpc.security_group);
    let requester_ctx = link.requester.context(&requester_by_group(&link)).await;
    let accepter_ctx = link.accepter.context(&accepter_by_group(&link, &[app_sg], &[])).await;
    let pcx = link.request().await;
    assert_eq!(decide(&accepter_ctx, &pcx).await.accepted, vec![pcx.clone()]);
    for ctx in [&accepter_ctx, &requester_ctx] {
        let r = pass(ctx).await;
        assert!(failed_writes(&r).is_empty(), "{r:#?}");
    }
    let marker = Some(format!("peerlink:{pcx}"));
    let ingress = link.accepter.group_rules(db_sg, false).await;
    assert!(
        ingress.iter().any(|r| r.account == link.requester.id
            && r.group == *app_sg
            && r.peering.as_deref() == Some(pcx.as_str())
            && r.port == 5432
            && r.description == marker),
        "the database group lets the ECS group in, across {pcx}: {ingress:?}"
    );
    let egress = link.requester.group_rules(app_sg, true).await;
    assert!(
        egress
            .iter()
            .any(|r| r.account == link.accepter.id && r.group == *db_sg && r.port == 5432 && r.description == marker),
        "the ECS group may reach the database group: {egress:?}"
    );
    let blocks = link.accepter.rules(db_sg, false).await;
    assert!(
        blocks.iter().all(|r| r.4 != marker),
        "no rule opens the database to the peer's CIDR blocks: {blocks:?}"
    );
    let blocks = link.requester.rules(app_sg, true).await;
    assert!(blocks.iter().all(|r| r.4 != marker), "{blocks:?}");
    // Finished: a second pass on each side has nothing to do.
    for ctx in [&accepter_ctx, &requester_ctx] {
        let again = pass(ctx).await;
        assert!(again.actions.is_empty(), "{again:#?}");
    }
    // The entry no longer asks for the group: the reference is taken back.
    let narrowed = link.accepter.context(&accepter_by_group(&link, &[], &[])).await;
    let r = pass(&narrowed).await;
    assert!(failed_writes(&r).is_empty(), "{r:#?}");
    let left = link.accepter.group_rules(db_sg, false).await;
    assert!(left.iter().all(|r| r.description != marker), "{left:?}");
}

#[tokio::test]
async fn a_missing_peer_group_is_a_finding_and_the_rest_of_the_pass_is_done() {
    let link = Link::new(Emulator::shared(), "220000000011", "220000000012").await;
    let app_sg = link.requester_vpc.security_group.clone();
    let missing = "sg-0000000000000dead";
    let also = format!("group = \"{}\"\nports = 6432", link.accepter_vpc.security_group);
    let accepter_ctx = link
        .accepter
        .context(&accepter_by_group(&link, &[missing, &app_sg], &[&also]))
        .await;
    let pcx = link.request().await;
    assert_eq!(decide(&accepter_ctx, &pcx).await.accepted, vec![pcx.clone()]);
    let r = pass(&accepter_ctx).await;
    assert!(
        failed_writes(&r).is_empty(),
        "a missing peer group does not fail the pass: {r:#?}"
    );
    let finding = r.findings.iter().find(|f| f.message.contains(missing));
    let finding = finding.unwrap_or_else(|| panic!("the missing peer group is reported: {:#?}", r.findings));
    assert_eq!(finding.kind, FindingKind::MissingResource, "{finding:?}");
    // Everything else is done: the other group, the CIDR rule, the routes.
    let ingress = link
        .accepter
        .group_rules(&link.accepter_vpc.security_group, false)
        .await;
    assert!(ingress.iter().any(|g| g.group == app_sg), "{ingress:?}");
    let blocks = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
    assert!(blocks.iter().any(|b| b.2 == 6432 && b.3 == "10.0.0.0/16"), "{blocks:?}");
    let routes = link.accepter.routes(&link.accepter_vpc.main_table).await;
    assert!(routes.contains(&("10.0.0.0/16".into(), pcx.clone())), "{routes:?}");
}

#[tokio::test]
async fn a_cross_region_entry_with_peer_groups_is_refused_at_load() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "220000000021", "220000000022").await;
    let entry = Entry::new("orders-db", &link.accepter.id, &link.requester_vpc.id, &["10.1.0.0/16"])
        .peer_vpc(&link.accepter_vpc.id)
        .peer_region("us-west-2")
        .rule_lines(&format!(
            "group = \"{}\"\nports = 5432\npeer_groups = [\"{}\"]",
            link.requester_vpc.security_group, link.accepter_vpc.security_group
        ));
    let doc = fixtures::document("", &[entry]);
    let path = std::env::temp_dir().join(format!("exposure-{}.toml", std::process::id()));
    std::fs::write(&path, &doc).unwrap();
    let line = doc.lines().position(|l| l.contains("peer_groups")).unwrap() + 1;
    let out = peerlink(&emu.endpoint, &["check-config", "--config", path.to_str().unwrap()]);
    let printed = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{printed}");
    assert!(
        printed.contains(&format!(
            ":{line}: error: peer[0] (name \"orders-db\"): security_group_rules[0].peer_groups"
        )),
        "{printed}"
    );
    // The functions load it the same way: nothing is decided on it.
    let loaded = peerlink::config::Config::parse_in(&doc, "the parameter", Some(peerlink_tests::REGION));
    assert!(loaded.is_err());
    std::fs::remove_file(path).ok();
}

#[tokio::test]
async fn a_deleted_peering_leaves_our_references_cleaned_and_the_users_reported() {
    let link = Link::new(Emulator::shared(), "220000000031", "220000000032").await;
    let (app_sg, db_sg) = (&link.requester_vpc.security_group, &link.accepter_vpc.security_group);
    let accepter_ctx = link.accepter.context(&accepter_by_group(&link, &[app_sg], &[])).await;
    let pcx = link.request().await;
    assert_eq!(decide(&accepter_ctx, &pcx).await.accepted, vec![pcx.clone()]);
    assert!(failed_writes(&pass(&accepter_ctx).await).is_empty());
    // The user's own reference to the same group, on another port.
    link.accepter
        .user_group_rule(db_sg, 6000, &link.requester.id, app_sg, &pcx)
        .await;
    link.requester.delete_peering(&pcx).await;

    let drifted = peerlink::drift::run(&accepter_ctx, peerlink::config::DriftMode::Remediate, Deadline::none())
        .await
        .unwrap();
    let marker = Some(format!("peerlink:{pcx}"));
    let left = link.accepter.group_rules(db_sg, false).await;
    assert!(
        left.iter().all(|r| r.description != marker),
        "our stale reference is removed with the peering: {left:?}"
    );
    assert!(
        left.iter().any(|r| r.port == 6000 && r.group == *app_sg),
        "the user's rule is theirs to remove: {left:?}"
    );
    let stale = |findings: &[peerlink::finding::Finding]| {
        findings
            .iter()
            .filter(|f| f.kind.name() == "stale-reference")
            .cloned()
            .collect::<Vec<_>>()
    };
    let reported = stale(&drifted.reconcile.findings);
    assert_eq!(
        reported.len(),
        1,
        "the user's stale rule is reported: {:#?}",
        drifted.reconcile.findings
    );
    let f = &reported[0];
    assert_eq!(f.resource.as_deref(), Some(db_sg.as_str()), "{f:?}");
    assert_eq!(f.peering.as_deref(), Some(pcx.as_str()), "{f:?}");
    assert!(
        f.message.contains(app_sg.as_str()) && f.message.contains("6000"),
        "{f:?}"
    );
    assert!(f.fix.contains("revoke-security-group-ingress"), "{f:?}");
    let calls = accepter_ctx.calls().summary();
    assert_eq!(calls.calls("DescribeStaleSecurityGroups"), 1, "once per configured VPC");

    // The doctor reports it too.
    let doctor = peerlink::doctor::run(&accepter_ctx).await.unwrap();
    assert_eq!(stale(&doctor).len(), 1, "{doctor:#?}");
}

#[tokio::test]
async fn a_rule_opens_only_its_cidrs_and_loses_one_the_peer_gives_up() {
    let link = Link::new(Emulator::shared(), "220000000041", "220000000042").await;
    let db_sg = &link.accepter_vpc.security_group;
    let narrow = format!("group = \"{db_sg}\"\nports = 5432\ncidrs = [\"10.0.1.0/24\", \"10.2.5.0/24\"]");
    let accepter_ctx = link.accepter.context(&accepter_by_group(&link, &[], &[&narrow])).await;
    let pcx = link.request().await;
    assert_eq!(decide(&accepter_ctx, &pcx).await.accepted, vec![pcx.clone()]);
    assert!(failed_writes(&pass(&accepter_ctx).await).is_empty());
    let marker = Some(format!("peerlink:{pcx}"));
    let opened = |rules: Vec<(String, i32, i32, String, Option<String>)>| {
        let mut c: Vec<String> = rules.into_iter().filter(|r| r.4 == marker).map(|r| r.3).collect();
        c.sort();
        c
    };
    assert_eq!(
        opened(link.accepter.rules(db_sg, false).await),
        vec!["10.0.1.0/24", "10.2.5.0/24"],
        "only the rule's ranges, not the peer's whole blocks"
    );
    // The peer gives 10.2.0.0/16 up: the range inside it is taken back.
    link.requester
        .disassociate_cidr(&link.requester_vpc.id, "10.2.0.0/16")
        .await;
    assert!(failed_writes(&pass(&accepter_ctx).await).is_empty());
    assert_eq!(opened(link.accepter.rules(db_sg, false).await), vec!["10.0.1.0/24"]);
}
