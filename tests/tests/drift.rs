//! The drift schedule against the emulator: every kind of drift is detected in
//! report mode without a write, repaired in remediate mode, and a second
//! remediate pass writes nothing. Owned cleanup, doctor, and call counts at scale.

use aws_sdk_ec2::types::{IpPermission, IpRange, PeeringConnectionOptionsRequest};
use peerlink::config::DriftMode;
use peerlink::drift::{self, DriftReport};
use peerlink::finding::FindingKind;
use peerlink::{Context, Deadline, accepter, events};
use peerlink_tests::{Emulator, Link, create_event};
use serde_json::json;

async fn pass(ctx: &Context, mode: DriftMode) -> (DriftReport, u64) {
    ctx.calls().reset();
    let report = drift::run(ctx, mode, Deadline::none()).await.expect("drift pass");
    (report, ctx.calls().summary().writes)
}

/// Runs report → remediate → remediate and checks the pattern every drift kind
/// must follow. Returns the report-mode report for kind-specific checks.
async fn detect_and_repair(ctx: &Context, what: &str, expect_actions: usize) -> DriftReport {
    let (report, writes) = pass(ctx, DriftMode::Report).await;
    assert_eq!(writes, 0, "{what}: report mode wrote");
    assert_eq!(
        report.summary.drift_found, expect_actions,
        "{what}: {:#?}",
        report.reconcile.actions
    );
    let (fixed, writes) = pass(ctx, DriftMode::Remediate).await;
    assert_eq!(
        fixed.summary.repaired, expect_actions,
        "{what}: {:#?}",
        fixed.reconcile.actions
    );
    assert_eq!(fixed.summary.failed, 0, "{what}");
    assert!(writes >= expect_actions as u64, "{what}");
    let (again, writes) = pass(ctx, DriftMode::Remediate).await;
    assert_eq!(
        writes, 0,
        "{what}: the second remediate pass wrote: {:#?}",
        again.reconcile.actions
    );
    report
}

async fn linked(a: &str, b: &str) -> (Link, String, Context, Context) {
    let link = Link::new(Emulator::shared(), a, b).await;
    let (pcx, requester_ctx, accepter_ctx) = link.accepted().await;
    for ctx in [&accepter_ctx, &requester_ctx] {
        let (r, _) = pass(ctx, DriftMode::Remediate).await;
        assert_eq!(r.summary.failed, 0);
    }
    (link, pcx, requester_ctx, accepter_ctx)
}

#[tokio::test]
async fn every_kind_of_drift_is_caught_and_repaired() {
    let (link, pcx, requester_ctx, ctx) = linked("600000000001", "600000000002").await;
    let b = &link.accepter;
    let steady = pass(&ctx, DriftMode::Remediate).await;
    assert_eq!(steady.1, 0, "steady state: {:#?}", steady.0.reconcile.actions);

    // 1. A route deleted.
    let table = link.accepter_vpc.subnet_tables[0].clone();
    b.ec2
        .delete_route()
        .route_table_id(&table)
        .destination_cidr_block("10.2.0.0/16")
        .send()
        .await
        .unwrap();
    let r = detect_and_repair(&ctx, "route deleted", 1).await;
    assert_eq!(r.reconcile.actions[0].planned.action.kind(), "create-route");
    assert!(b.routes(&table).await.contains(&("10.2.0.0/16".into(), pcx.clone())));

    // 2. A route replaced to another target: reported as a conflict, not overwritten.
    let igw = b.internet_gateway(&link.accepter_vpc.id).await;
    let main = link.accepter_vpc.main_table.clone();
    b.ec2
        .replace_route()
        .route_table_id(&main)
        .destination_cidr_block("10.0.0.0/16")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();
    let r = detect_and_repair(&ctx, "route replaced", 0).await;
    assert_eq!(r.summary.conflicts, 1);
    assert!(
        b.routes(&main).await.contains(&("10.0.0.0/16".into(), igw.clone())),
        "not overwritten"
    );
    b.ec2
        .replace_route()
        .route_table_id(&main)
        .destination_cidr_block("10.0.0.0/16")
        .vpc_peering_connection_id(&pcx)
        .send()
        .await
        .unwrap();

    // 3. A new route table with a subnet association.
    let subnet = b
        .ec2
        .create_subnet()
        .vpc_id(&link.accepter_vpc.id)
        .cidr_block("10.1.200.0/24")
        .send()
        .await
        .unwrap()
        .subnet()
        .and_then(|s| s.subnet_id())
        .unwrap()
        .to_string();
    let new_table = b.route_table(&link.accepter_vpc.id, &[("Name", "added-later")]).await;
    b.ec2
        .associate_route_table()
        .route_table_id(&new_table)
        .subnet_id(&subnet)
        .send()
        .await
        .unwrap();
    detect_and_repair(&ctx, "new route table", 2).await;
    let routes = b.routes(&new_table).await;
    assert!(
        routes.contains(&("10.0.0.0/16".into(), pcx.clone())) && routes.contains(&("10.2.0.0/16".into(), pcx.clone()))
    );

    // 4. A rule revoked.
    let sg = link.accepter_vpc.security_group.clone();
    let perm = IpPermission::builder()
        .ip_protocol("tcp")
        .from_port(5432)
        .to_port(5432)
        .ip_ranges(IpRange::builder().cidr_ip("10.0.0.0/16").build())
        .build();
    b.ec2
        .revoke_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(perm)
        .send()
        .await
        .unwrap();
    detect_and_repair(&ctx, "rule revoked", 1).await;
    let marker = Some(format!("peerlink:{pcx}"));
    assert!(
        b.rules(&sg, false)
            .await
            .contains(&("tcp".into(), 5432, 5432, "10.0.0.0/16".into(), marker))
    );

    // 5. The DNS option turned off on our side.
    b.ec2
        .modify_vpc_peering_connection_options()
        .vpc_peering_connection_id(&pcx)
        .accepter_peering_connection_options(
            PeeringConnectionOptionsRequest::builder()
                .allow_dns_resolution_from_remote_vpc(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    detect_and_repair(&ctx, "dns option off", 1).await;
    assert!(b.peering_dns(&pcx).await.1);

    // 6. Our secret statement removed, then our key statement altered.
    let user_only = json!({"Version": "2012-10-17", "Statement": [{"Sid": "UserRotation", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:role/rotation", b.id)}, "Action": "secretsmanager:*", "Resource": "*"}]});
    b.secrets
        .put_resource_policy()
        .secret_id(&link.secret.arn)
        .resource_policy(user_only.to_string())
        .send()
        .await
        .unwrap();
    detect_and_repair(&ctx, "secret statement removed", 1).await;
    let key = link.secret.key_arn.clone().unwrap();
    let mut key_policy = b.key_policy(&key).await;
    key_policy["Statement"][2]["Action"] = json!("kms:*");
    b.kms
        .put_key_policy()
        .key_id(&key)
        .policy_name("default")
        .policy(key_policy.to_string())
        .send()
        .await
        .unwrap();
    detect_and_repair(&ctx, "key statement altered", 1).await;
    let key_policy = b.key_policy(&key).await;
    assert_eq!(key_policy["Statement"][2]["Action"], "kms:Decrypt");
    assert_eq!(key_policy["Statement"][1]["Sid"], "UserKeyAdmins");

    // 7. The peer VPC gains a block outside the allowed ranges: reported, never routed.
    link.requester
        .ec2
        .associate_vpc_cidr_block()
        .vpc_id(&link.requester_vpc.id)
        .cidr_block("10.30.0.0/16")
        .send()
        .await
        .unwrap();
    let r = detect_and_repair(&ctx, "peer gained a block", 0).await;
    let f = r
        .reconcile
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::CidrNotAllowed)
        .expect("reported");
    assert!(f.message.contains("10.30.0.0/16"));
    for t in link.accepter_tables() {
        assert!(!b.routes(&t).await.iter().any(|(d, _)| d == "10.30.0.0/16"), "{t}");
    }
    // The requester side is still steady.
    assert_eq!(pass(&requester_ctx, DriftMode::Remediate).await.1, 0);
}

/// A managed peering deleted: our routes, rules and statements go; the user's
/// look-alike rule, their statements and unrelated routes stay.
#[tokio::test]
async fn a_deleted_peering_is_cleaned_up_and_nothing_else() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "600000000003", "600000000004").await;
    let b = &link.accepter;
    let sg = link.accepter_vpc.security_group.clone();
    // The user's own rule for the same port and one of the peer's blocks, made before peerlink.
    b.ec2
        .authorize_security_group_ingress()
        .group_id(&sg)
        .ip_permissions(
            IpPermission::builder()
                .ip_protocol("tcp")
                .from_port(5432)
                .to_port(5432)
                .ip_ranges(
                    IpRange::builder()
                        .cidr_ip("10.2.0.0/16")
                        .description("DBA bastion")
                        .build(),
                )
                .build(),
        )
        .send()
        .await
        .unwrap();
    let igw = b.internet_gateway(&link.accepter_vpc.id).await;
    let main = link.accepter_vpc.main_table.clone();
    b.ec2
        .create_route()
        .route_table_id(&main)
        .destination_cidr_block("0.0.0.0/0")
        .gateway_id(&igw)
        .send()
        .await
        .unwrap();

    let ctx = b.context(&link.accepter_config("")).await;
    let requester_ctx = link.requester.context(&link.requester_config("")).await;
    let pcx = link.request().await;
    accepter::handle(&ctx, &events::parse(&create_event(&pcx)).unwrap(), Deadline::none())
        .await
        .unwrap();
    pass(&ctx, DriftMode::Remediate).await;
    pass(&requester_ctx, DriftMode::Remediate).await;
    assert_eq!(
        b.rules(&sg, false).await.len(),
        2,
        "ours for 10.0.0.0/16, the user's for 10.2.0.0/16"
    );

    link.requester
        .ec2
        .delete_vpc_peering_connection()
        .vpc_peering_connection_id(&pcx)
        .send()
        .await
        .unwrap();
    let (report, writes) = pass(&ctx, DriftMode::Report).await;
    assert_eq!(writes, 0);
    let kinds = report.reconcile.kinds();
    assert!(
        kinds.contains(&"delete-route") && kinds.contains(&"revoke-rule") && kinds.contains(&"merge-secret-policy"),
        "{kinds:?}"
    );
    let (fixed, _) = pass(&ctx, DriftMode::Remediate).await;
    assert_eq!(fixed.summary.failed, 0);
    let (_, writes) = pass(&requester_ctx, DriftMode::Remediate).await;
    assert!(writes > 0, "the requester side cleans up too");

    for t in link.accepter_tables() {
        assert!(!b.routes(&t).await.iter().any(|(_, target)| *target == pcx), "{t}");
    }
    assert!(
        b.routes(&main).await.contains(&("0.0.0.0/0".into(), igw)),
        "unrelated route stays"
    );
    let rules = b.rules(&sg, false).await;
    assert_eq!(
        rules,
        vec![(
            "tcp".into(),
            5432,
            5432,
            "10.2.0.0/16".into(),
            Some("DBA bastion".into())
        )]
    );
    for t in link.requester_vpc.all_tables() {
        assert!(
            !link.requester.routes(&t).await.iter().any(|(_, target)| *target == pcx),
            "{t}"
        );
    }
    assert!(
        link.requester
            .rules(&link.requester_vpc.security_group, true)
            .await
            .iter()
            .all(|r| r.4.is_none())
    );
    let policy = b.secret_policy(&link.secret.arn).await.unwrap();
    assert_eq!(policy["Statement"].as_array().unwrap().len(), 1);
    assert_eq!(policy["Statement"][0]["Sid"], "UserRotation");
    let key_policy = b.key_policy(link.secret.key_arn.as_ref().unwrap()).await;
    assert_eq!(key_policy["Statement"].as_array().unwrap().len(), 2);
    assert_eq!(pass(&ctx, DriftMode::Remediate).await.1, 0, "cleanup is done once");
}

/// A pending request the accepter missed is decided by the next drift pass,
/// and finished in that same pass.
#[tokio::test]
async fn a_missed_request_is_caught_by_the_schedule() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "600000000005", "600000000006").await;
    let ctx = link.accepter.context(&link.accepter_config("")).await;
    let pcx = link.request().await;
    let (report, writes) = pass(&ctx, DriftMode::Report).await;
    assert_eq!(writes, 0);
    assert_eq!(report.requests.accepted, vec![pcx.clone()]);
    assert!(!report.requests.executed);
    assert_eq!(link.accepter.peering_status(&pcx).await, "pending-acceptance");
    let (report, _) = pass(&ctx, DriftMode::Remediate).await;
    assert_eq!(report.requests.accepted, vec![pcx.clone()]);
    assert_eq!(link.accepter.peering_status(&pcx).await, "active");
    assert!(
        report.summary.repaired >= 4,
        "finished in the same pass: {:#?}",
        report.summary
    );
}

#[tokio::test]
async fn doctor_finds_what_we_do_not_own() {
    let (link, _pcx, _requester_ctx, ctx) = linked("600000000007", "600000000008").await;
    let b = &link.accepter;
    let acls = b
        .ec2
        .describe_network_acls()
        .filters(
            aws_sdk_ec2::types::Filter::builder()
                .name("vpc-id")
                .values(&link.accepter_vpc.id)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let acl = acls.network_acls()[0].network_acl_id().unwrap().to_string();
    b.ec2
        .create_network_acl_entry()
        .network_acl_id(&acl)
        .rule_number(50)
        .protocol("6")
        .rule_action(aws_sdk_ec2::types::RuleAction::Deny)
        .egress(false)
        .cidr_block("10.0.0.0/8")
        .port_range(aws_sdk_ec2::types::PortRange::builder().from(5432).to(5432).build())
        .send()
        .await
        .unwrap();
    let table = link.accepter_vpc.subnet_tables[0].clone();
    let igw = b.internet_gateway(&link.accepter_vpc.id).await;
    for i in 0..40 {
        b.ec2
            .create_route()
            .route_table_id(&table)
            .destination_cidr_block(format!("172.16.{i}.0/24"))
            .gateway_id(&igw)
            .send()
            .await
            .unwrap();
    }
    ctx.calls().reset();
    let findings = peerlink::doctor::run(&ctx).await.unwrap();
    assert_eq!(ctx.calls().summary().writes, 0);
    let nacl = findings
        .iter()
        .find(|f| f.kind == FindingKind::NetworkAclBlocks)
        .expect("deny NACL found");
    assert!(
        nacl.message.contains("entry 50 denies") && nacl.message.contains("5432"),
        "{}",
        nacl.message
    );
    assert!(nacl.fix.contains("stateless"));
    let dns = findings
        .iter()
        .find(|f| f.kind == FindingKind::DnsAttributeOff)
        .expect("DNS hostnames off (the default for new VPCs)");
    assert!(dns.fix.contains("enable-dns-hostnames"));
    let quota = findings
        .iter()
        .find(|f| f.kind == FindingKind::RouteQuota && f.resource.as_deref() == Some(table.as_str()));
    assert!(quota.expect("table near quota").message.contains("of 50"));
}

/// The Describe calls of a drift pass depend on the configuration, not on the
/// number of peerings (on the emulator every Describe fits in one page).
#[tokio::test]
async fn describe_calls_do_not_grow_with_peerings() {
    let emu = Emulator::shared();
    let mut counts = Vec::new();
    for (n, (a, b)) in [
        (10, ("600000000011", "600000000012")),
        (50, ("600000000013", "600000000014")),
        (200, ("600000000015", "600000000016")),
    ] {
        let requester = emu.account(a).await;
        let accepter = emu.account(b).await;
        let mut cfg = "[settings]\nroutes_per_route_table = 1000\nrules_per_security_group = 1000\n".to_string();
        let mut locals = Vec::new();
        for v in 0..4 {
            let local = accepter.vpc(&[&format!("172.{}.0.0/16", 16 + v)], 1).await;
            cfg.push_str(&format!(
                "\n[[peer]]\nname = \"fleet-{v}\"\npeer_account = \"{a}\"\nallowed_cidrs = [\"10.0.0.0/8\"]\nlocal_vpc = \"{}\"\nauto_accept = true\n\n[[peer.security_group_rules]]\ngroup = \"{}\"\nports = 443\n",
                local.id, local.security_group
            ));
            locals.push(local);
        }
        for i in 0..n {
            let vpc = requester.vpc(&[&format!("10.{}.{}.0/24", i / 256, i % 256)], 0).await;
            let local = &locals[i % locals.len()];
            let pcx = requester.request_peering(&vpc.id, b, &local.id, None).await;
            accepter
                .ec2
                .accept_vpc_peering_connection()
                .vpc_peering_connection_id(pcx)
                .send()
                .await
                .unwrap();
        }
        // Calls are counted here, not paced: 200 routes would wait 31 s for EC2's refill.
        let ctx = accepter.unpaced_context(&cfg).await;
        let (first, writes) = pass(&ctx, DriftMode::Remediate).await;
        assert_eq!(first.summary.managed, n);
        assert_eq!(first.summary.failed, 0);
        assert_eq!(
            writes as usize,
            5 * n + locals.len(),
            "a route in each of two tables, a rule, a DNS option and peerlink's record on the peering, per peering, and our tag on each group {:?}",
            ctx.calls().summary()
        );
        let reads_first = ctx.calls().summary();
        let (_, writes) = pass(&ctx, DriftMode::Report).await;
        assert_eq!(writes, 0);
        let steady = ctx.calls().summary();
        println!(
            "drift pass over {n:>3} managed peerings: first pass {} reads / {} writes; steady pass {} reads {:?}",
            reads_first.reads,
            5 * n,
            steady.reads,
            steady
                .by_operation
                .iter()
                .map(|(k, v)| (k.as_str(), v.calls))
                .collect::<Vec<_>>()
        );
        counts.push(
            steady
                .by_operation
                .iter()
                .filter(|(k, _)| k.starts_with("Describe"))
                .map(|(k, v)| (k.clone(), v.calls))
                .collect::<Vec<_>>(),
        );
    }
    assert_eq!(counts[0], counts[1], "10 vs 50 peerings");
    assert_eq!(counts[1], counts[2], "50 vs 200 peerings");
}
