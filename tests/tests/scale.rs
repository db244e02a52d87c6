//! Call counts are deterministic, so their flatness is asserted: the reads of
//! a reconcile do not grow with the route tables of the VPC, nor those of a
//! drift pass with the number of peerings, beyond pagination.

use peerlink::config::DriftMode;
use peerlink::fixtures::{self, Entry};
use peerlink::reconcile::Scope;
use peerlink::reconcile::policy::{KEY_POLICY_MAX, SECRET_POLICY_MAX};
use peerlink::{Deadline, Mode, drift, reconcile};
use peerlink_tests::{Emulator, Fleet, Grown, differ_only_by_pagination};

/// A hub VPC with 120 peerings whose principals all read one shared secret
/// on one shared key: every principal is granted, and both policies stay far
/// below AWS's limits (one statement each, not one per peering).
#[tokio::test]
async fn a_hub_of_120_peerings_shares_one_secret_within_the_policy_limits() {
    let emu = Emulator::shared();
    let fleet = Fleet::build(emu, "921000000001", "921000000002", 120, 1).await;
    let secret = fleet.accepter.secret("hub-db", true).await;
    let key = secret.key_arn.clone().unwrap();
    let roles: Vec<String> = (0..120)
        .map(|i| format!("arn:aws:iam::{}:role/service-{i}", fleet.requester.id))
        .collect();
    let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
    let hub = Entry::new("hub", &fleet.requester.id, &fleet.locals[0].id, &["10.0.0.0/8"])
        .routes("select = \"none\"")
        .secret_on_key(&secret.arn, &key, &roles);
    let ctx = fleet
        .accepter
        .context(&fixtures::document(
            "active_peerings_per_vpc = 125\nwrite_concurrency = 16",
            &[hub],
        ))
        .await;
    let report = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(report.failed().is_empty() && report.findings.is_empty(), "{report:#?}");
    let statement = |doc: &serde_json::Value, sid: &str| {
        doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .cloned()
            .unwrap()
    };
    let secret_policy = fleet.accepter.secret_policy(&secret.arn).await.unwrap();
    let key_policy = fleet.accepter.key_policy(&key).await;
    for (doc, sid, limit) in [
        (&secret_policy, "PeerlinkRead", SECRET_POLICY_MAX),
        (&key_policy, "PeerlinkDecrypt", KEY_POLICY_MAX),
    ] {
        let granted = statement(doc, sid)["Principal"]["AWS"].as_array().unwrap().len();
        assert_eq!(granted, 120, "{sid}");
        let bytes = doc.to_string().len();
        println!("{sid}: {bytes} bytes for 120 peerings (limit {limit})");
        assert!(bytes < limit / 3, "{sid}: {bytes} bytes");
    }
}

#[tokio::test]
async fn reconcile_reads_are_flat_from_1_to_200_route_tables() {
    let emu = Emulator::shared();
    let mut steady = Vec::new();
    for (tables, a, b) in [
        (1, "920000000001", "920000000002"),
        (200, "920000000003", "920000000004"),
    ] {
        let g = Grown::build(emu, a, b, tables, 1).await;
        let ctx = g.accepter.unpaced_context(&g.config).await;
        let scope = Scope::Peerings(vec![g.peering.clone()]);
        ctx.calls().reset();
        reconcile::run(&ctx, scope.clone(), Mode::Apply, Deadline::none())
            .await
            .unwrap();
        let first = ctx.calls().summary();
        assert_eq!(
            first.writes as usize,
            tables + 1 + 1 + 1 + 1,
            "a route per table, a rule, the DNS option, our tag on the group, our record on the peering"
        );
        ctx.calls().reset();
        reconcile::run(&ctx, scope, Mode::Apply, Deadline::none())
            .await
            .unwrap();
        let s = ctx.calls().summary();
        assert_eq!(s.writes, 0);
        println!(
            "{tables:>3} route tables: first pass {} reads, {} writes; steady {} reads",
            first.reads, first.writes, s.reads
        );
        if tables == 1 {
            // docs/performance.md's table states these: one DescribeVpcPeeringConnections,
            // DescribeVpcs, DescribeRouteTables and DescribeSecurityGroups.
            assert_eq!((first.reads, s.reads), (4, 4), "{:?}", s.by_operation);
        }
        steady.push(s);
    }
    differ_only_by_pagination(&steady[0], &steady[1], 199, 100).unwrap();
}

#[tokio::test]
async fn drift_reads_are_flat_from_10_to_1000_peerings() {
    let emu = Emulator::shared();
    let mut steady = Vec::new();
    for (n, a, b) in [
        (10, "920000000011", "920000000012"),
        (1000, "920000000013", "920000000014"),
    ] {
        let fleet = Fleet::build(emu, a, b, n, 20).await;
        let ctx = fleet.accepter.unpaced_context(&fleet.config).await;
        let first = drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
        assert_eq!(first.summary.managed, n);
        assert_eq!(first.summary.failed, 0, "{:?}", first.reconcile.failed().first());
        ctx.calls().reset();
        let report = drift::run(&ctx, DriftMode::Report, Deadline::none()).await.unwrap();
        let kinds: std::collections::BTreeMap<&str, usize> =
            report.reconcile.actions.iter().fold(Default::default(), |mut m, a| {
                *m.entry(a.planned.action.kind()).or_default() += 1;
                m
            });
        assert_eq!(
            report.summary.drift_found,
            0,
            "{kinds:?} {:?} first: {:?}",
            report.reconcile.actions.first(),
            first.summary
        );
        let s = ctx.calls().summary();
        assert_eq!(s.writes, 0);
        println!(
            "{n:>4} peerings: steady drift pass {} reads {:?}",
            s.reads, s.by_operation
        );
        if n == 10 {
            // docs/performance.md's drift table states 6: DescribeVpcPeeringConnections,
            // DescribeVpcs, DescribeRouteTables, ListSecrets and two
            // DescribeSecurityGroups (the configured groups, the tagged ones).
            assert_eq!(s.reads, 6, "{:?}", s.by_operation);
        }
        steady.push(s);
    }
    differ_only_by_pagination(&steady[0], &steady[1], 990, 1000).unwrap();
}
