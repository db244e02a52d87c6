//! Safety after acceptance, on the emulator: a peer that grows into another
//! peer's range, a peer whose blocks EC2 does not list once active, requests that
//! overlap this VPC's own outgoing request, two overlapping requests decided
//! at once, and a peering replaced by a new one with events in any order.

use peerlink::decision::Verdict;
use peerlink::doctor;
use peerlink::finding::FindingKind;
use peerlink::fixtures::{self, Entry};
use peerlink::metrics::InvocationReport;
use peerlink::reconcile::{self, Report, Scope};
use peerlink::{Context, Deadline, Mode};
use peerlink_tests::{Account, Emulator, FaultProxy, Link, TestVpc, cloudtrail_event, decide, finish};
use serde_json::json;

/// A hub VPC (10.255.0.0/16, two subnets) in its own account, and peers in
/// accounts of their own; every entry allows 10.0.0.0/8 and opens 5432.
struct Hub {
    hub: Account,
    vpc: TestVpc,
    peers: Vec<(Account, TestVpc)>,
}

impl Hub {
    async fn new(base: u64, peer_cidrs: &[&str]) -> Hub {
        let emu = Emulator::shared();
        let hub = emu.account(&base.to_string()).await;
        let vpc = hub.vpc(&["10.255.0.0/16"], 2).await;
        let mut peers = Vec::new();
        for (i, cidr) in peer_cidrs.iter().enumerate() {
            let account = emu.account(&(base + 1 + i as u64).to_string()).await;
            let pv = account.vpc(&[cidr], 1).await;
            peers.push((account, pv));
        }
        Hub { hub, vpc, peers }
    }

    fn entry(&self, i: usize) -> Entry {
        self.entry_allowing(i, &["10.0.0.0/8"])
    }

    /// Peer `i`'s entry with its allowed range narrowed (or widened) to `allowed`.
    fn entry_allowing(&self, i: usize, allowed: &[&str]) -> Entry {
        let (account, pv) = &self.peers[i];
        Entry::new(&format!("peer-{i}"), &account.id, &self.vpc.id, allowed)
            .peer_vpc(&pv.id)
            .rule(&self.vpc.security_group, 5432)
    }

    async fn context(&self, entries: &[Entry]) -> Context {
        self.hub.context(&fixtures::document("", entries)).await
    }

    async fn request(&self, i: usize) -> String {
        let (account, pv) = &self.peers[i];
        account.request_peering(&pv.id, &self.hub.id, &self.vpc.id, None).await
    }

    /// (destination, target) of every route of every table of the hub VPC.
    async fn routes(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for t in self.vpc.all_tables() {
            all.extend(self.hub.routes(&t).await);
        }
        all
    }

    async fn ingress_cidrs(&self) -> Vec<String> {
        let rules = self.hub.rules(&self.vpc.security_group, false).await;
        rules.into_iter().map(|(_, _, _, cidr, _)| cidr).collect()
    }
}

fn overlap_findings(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::OverlapConflict)
        .map(|f| f.message.clone())
        .collect()
}

/// What peerlink has in place for `pcx` in the hub: its routes (table,
/// destination), its marked rules (CIDR), and the hub side's DNS option.
async fn held(hub: &Hub, pcx: &str) -> (Vec<(String, String)>, Vec<String>, bool) {
    let mut routes = Vec::new();
    for t in hub.vpc.all_tables() {
        for (dest, target) in hub.hub.routes(&t).await {
            if target == pcx {
                routes.push((t.clone(), dest));
            }
        }
    }
    let marker = format!("peerlink:{pcx}");
    let rules = hub
        .hub
        .rules(&hub.vpc.security_group, false)
        .await
        .into_iter()
        .filter(|(.., d)| d.as_deref() == Some(marker.as_str()))
        .map(|(_, _, _, cidr, _)| cidr)
        .collect();
    let dns = hub.hub.peering_dns(pcx).await.1;
    (routes, rules, dns)
}

#[tokio::test]
async fn a_peer_growing_into_another_peers_range_never_cuts_it_off() {
    let hub = Hub::new(610_000_000_000, &["10.1.0.0/16", "10.2.0.0/16"]).await;
    let ctx = hub.context(&[hub.entry(0), hub.entry(1)]).await;
    let (a, c) = (hub.request(0).await, hub.request(1).await);
    assert_eq!(decide(&ctx, &a).await.accepted, vec![a.clone()]);
    assert_eq!(decide(&ctx, &c).await.accepted, vec![c.clone()]);
    let first = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(first.failed().is_empty(), "{first:#?}");
    let before = held(&hub, &a).await;
    assert_eq!(before.0.len(), 3, "A routed in every hub table: {before:?}");
    assert_eq!(before.1, vec!["10.1.0.0/16".to_string()]);
    assert!(before.2, "A's DNS resolution granted");

    // C associates a block inside A's range (AWS allows it: C is not peered with A).
    let (c_account, c_vpc) = &hub.peers[1];
    c_account.associate_cidr(&c_vpc.id, "10.1.2.0/24").await;

    // Any number of finisher passes (for C, for A) and drift passes: A keeps
    // its routes, rules and grants; C's clashing block is refused.
    let mut reports = vec![finish(&ctx, json!({ "reconcile": c })).await];
    reports.push(finish(&ctx, json!({ "reconcile": a })).await);
    for _ in 0..2 {
        let drift = peerlink::drift::run(&ctx, peerlink::config::DriftMode::Remediate, Deadline::none())
            .await
            .unwrap();
        reports.push(drift.reconcile);
        reports.push(finish(&ctx, json!({ "reconcile": c })).await);
    }
    for report in &reports {
        assert!(report.failed().is_empty(), "{report:#?}");
        let found = overlap_findings(report);
        assert!(
            found
                .iter()
                .any(|m| m.contains(&a) && m.contains(&c) && m.contains("10.1.2.0/24")),
            "a finding names both peerings and the block: {found:?}"
        );
        assert!(
            report.metrics().contains(&("OverlapConflicts", found.len())),
            "{:?}",
            report.metrics()
        );
        assert_eq!(held(&hub, &a).await, before, "A lost what it held: {report:#?}");
        let routes = hub.routes().await;
        assert!(
            !routes.iter().any(|(d, t)| d == "10.1.2.0/24" && t == &c),
            "part of A's range is routed to C: {routes:?}"
        );
        assert!(
            !hub.ingress_cidrs().await.contains(&"10.1.2.0/24".to_string()),
            "the group is open to C's new block"
        );
    }
    // C's other block is untouched by the clash.
    assert!(hub.routes().await.contains(&("10.2.0.0/16".into(), c.clone())));

    // plan and doctor say the same.
    let plan = reconcile::run(&ctx, Scope::All, Mode::Plan, Deadline::none())
        .await
        .unwrap();
    assert!(!overlap_findings(&plan).is_empty(), "{plan:#?}");
    assert!(plan.actions.is_empty(), "nothing left to do: {plan:#?}");
    let doctor = doctor::run(&ctx).await.unwrap();
    assert!(
        doctor
            .iter()
            .any(|f| f.kind == FindingKind::OverlapConflict && f.message.contains("10.1.2.0/24")),
        "{doctor:#?}"
    );

    // The operator narrows C's allowed range: C's new block is refused as
    // outside it, A is as it was, and nothing overlaps any more.
    let ctx = hub
        .context(&[hub.entry(0), hub.entry_allowing(1, &["10.2.0.0/16"])])
        .await;
    let report = finish(&ctx, json!({ "reconcile": a })).await;
    assert!(report.failed().is_empty(), "{report:#?}");
    assert_eq!(held(&hub, &a).await, before);
    assert!(!hub.routes().await.iter().any(|(d, _)| d == "10.1.2.0/24"));
    assert!(overlap_findings(&report).is_empty(), "{report:#?}");
}

#[tokio::test]
async fn when_neither_peer_holds_a_contested_block_neither_is_routed() {
    let hub = Hub::new(614_000_000_000, &["10.6.0.0/16", "10.7.0.0/16"]).await;
    let ctx = hub.context(&[hub.entry(0), hub.entry(1)]).await;
    let (a, c) = (hub.request(0).await, hub.request(1).await);
    assert_eq!(decide(&ctx, &a).await.accepted, vec![a.clone()]);
    assert_eq!(decide(&ctx, &c).await.accepted, vec![c.clone()]);
    // C grows into A's range before either is finished: no one holds it.
    let (c_account, c_vpc) = &hub.peers[1];
    c_account.associate_cidr(&c_vpc.id, "10.6.2.0/24").await;
    for _ in 0..2 {
        let report = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
            .await
            .unwrap();
        assert!(report.failed().is_empty(), "{report:#?}");
        assert_eq!(overlap_findings(&report).len(), 2, "{report:#?}");
    }
    let routes = hub.routes().await;
    assert!(
        !routes.iter().any(|(d, _)| d == "10.6.0.0/16" || d == "10.6.2.0/24"),
        "{routes:?}"
    );
    assert!(routes.contains(&("10.7.0.0/16".into(), c.clone())), "{routes:?}");
    // The operator narrows C: A gets its block on the next pass.
    let ctx = hub
        .context(&[hub.entry(0), hub.entry_allowing(1, &["10.7.0.0/16"])])
        .await;
    let report = finish(&ctx, json!({ "reconcile": a })).await;
    assert!(report.failed().is_empty(), "{report:#?}");
    assert_eq!(held(&hub, &a).await.0.len(), 3, "{:?}", hub.routes().await);
}

#[tokio::test]
async fn routes_that_can_never_carry_traffic_are_taken_back() {
    let hub = Hub::new(615_000_000_000, &["10.1.0.0/16", "10.2.0.0/16"]).await;
    let ctx = hub.context(&[hub.entry(0), hub.entry(1)]).await;
    let (a_account, a_vpc) = &hub.peers[0];
    let (c_account, c_vpc) = &hub.peers[1];
    a_account.associate_cidr(&a_vpc.id, "10.3.0.0/16").await;
    a_account.associate_cidr(&a_vpc.id, "10.4.0.0/16").await;
    let (a, c) = (hub.request(0).await, hub.request(1).await);
    assert_eq!(decide(&ctx, &a).await.accepted, vec![a.clone()]);
    assert_eq!(decide(&ctx, &c).await.accepted, vec![c.clone()]);
    let first = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(first.failed().is_empty(), "{first:#?}");
    assert_eq!(held(&hub, &a).await.0.len(), 9, "three blocks in three tables");

    // C grows into A's 10.3.0.0/16: refused while A holds it.
    c_account.associate_cidr(&c_vpc.id, "10.3.2.0/24").await;
    let report = finish(&ctx, json!({ "reconcile": c })).await;
    assert!(!hub.routes().await.iter().any(|(d, _)| d == "10.3.2.0/24"));
    assert!(!overlap_findings(&report).is_empty(), "{report:#?}");

    // A gives 10.3.0.0/16 up: its routes there are dead (EC2 drops what they
    // carry) and taken back, and C gets its block on the next pass.
    a_account.disassociate_cidr(&a_vpc.id, "10.3.0.0/16").await;
    let report = finish(&ctx, json!({ "reconcile": a })).await;
    assert!(report.failed().is_empty(), "{report:#?}");
    let routes = hub.routes().await;
    assert!(
        !routes.iter().any(|(d, _)| d == "10.3.0.0/16"),
        "dead routes left: {routes:?}"
    );
    let report = finish(&ctx, json!({ "reconcile": c })).await;
    assert!(report.failed().is_empty(), "{report:#?}");
    let routes = hub.routes().await;
    assert_eq!(
        routes.iter().filter(|(d, t)| d == "10.3.2.0/24" && t == &c).count(),
        3,
        "{routes:?}"
    );
    assert!(hub.ingress_cidrs().await.contains(&"10.3.2.0/24".to_string()));
    assert!(overlap_findings(&report).is_empty(), "{report:#?}");

    // A gives 10.4.0.0/16 up and C takes exactly that block: A's dead routes
    // are re-pointed at C in one pass, no conflict reported.
    a_account.disassociate_cidr(&a_vpc.id, "10.4.0.0/16").await;
    c_account.associate_cidr(&c_vpc.id, "10.4.0.0/16").await;
    let report = finish(&ctx, json!({ "reconcile": c })).await;
    assert!(report.failed().is_empty(), "{report:#?}");
    assert_eq!(report.count(FindingKind::RouteConflict), 0, "{report:#?}");
    let routes = hub.routes().await;
    assert_eq!(
        routes.iter().filter(|(d, t)| d == "10.4.0.0/16" && t == &c).count(),
        3,
        "{routes:?}"
    );
    let (a_routes, rules, _) = held(&hub, &a).await;
    assert!(
        a_routes.iter().all(|(_, d)| d == "10.1.0.0/16"),
        "A keeps no route to a block it gave up: {a_routes:?}"
    );
    assert_eq!(
        rules,
        vec!["10.1.0.0/16".to_string()],
        "A's rules for blocks it gave up are revoked"
    );
    let again = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(again.actions.is_empty(), "{again:#?}");
}

#[tokio::test]
async fn a_request_overlapping_this_vpcs_own_outgoing_request_is_refused() {
    let hub = Hub::new(611_000_000_000, &["10.3.0.0/16", "10.3.0.0/16"]).await;
    let ctx = hub.context(&[hub.entry(0), hub.entry(1)]).await;
    // The hub asks peer 0 (pending there); peer 1, with the same range, asks the hub.
    let (p0, v0) = &hub.peers[0];
    let outgoing = hub.hub.request_peering(&hub.vpc.id, &p0.id, &v0.id, None).await;
    let incoming = hub.request(1).await;
    let report = decide(&ctx, &incoming).await;
    let d = &report.outcomes[0].decision;
    assert_eq!(d.verdict, Verdict::Reject, "{}", d.reason);
    assert!(d.reason.contains(&outgoing), "{}", d.reason);
}

/// While pending, EC2 lists only the requester's primary block: the request
/// is accepted on it. A peer whose block set EC2 still does not list once
/// active gets nothing routed: its other blocks could be anything.
#[tokio::test]
async fn a_peer_whose_blocks_ec2_does_not_list_once_active_is_never_routed() {
    let hub = Hub::new(612_000_000_000, &["10.4.0.0/16"]).await;
    let ctx = hub.context(&[hub.entry(0)]).await;
    let (p, pv) = &hub.peers[0];
    p.tag(&pv.id, "peerlink-test:hide-cidr-block-set", "yes").await;
    let pcx = hub.request(0).await;
    let report = decide(&ctx, &pcx).await;
    let d = &report.outcomes[0].decision;
    assert_eq!(d.verdict, Verdict::Accept, "{}", d.reason);
    assert!(d.reason.contains("checked once the peering is active"), "{}", d.reason);
    assert_eq!(hub.hub.peering_status(&pcx).await, "active");
    let finished = finish(&ctx, json!({ "reconcile": pcx })).await;
    assert!(!hub.routes().await.iter().any(|(_, t)| t == &pcx));
    assert!(
        finished.findings.iter().any(|f| f.message.contains("CidrBlockSet")),
        "{finished:#?}"
    );
}

#[tokio::test]
async fn two_overlapping_requests_decided_at_once_end_with_one_active() {
    let emu = Emulator::shared();
    let hub = Hub::new(613_000_000_000, &["10.5.0.0/16", "10.5.0.0/16"]).await;
    let config = fixtures::document("", &[hub.entry(0), hub.entry(1)]);
    let (x, y) = (hub.request(0).await, hub.request(1).await);
    // Both invocations read before either accepts: the proxy holds the first
    // two peering reads until both have arrived.
    let proxy = FaultProxy::start(emu, 3);
    proxy.configure(&json!({"barrier": {"DescribeVpcPeeringConnections": 2}}));
    let via = emu.account_via(&proxy.endpoint, &hub.hub.id).await;
    let (cx, cy) = (via.context(&config).await, via.context(&config).await);
    let (rx, ry) = tokio::join!(decide(&cx, &x), decide(&cy, &y));
    let active: Vec<&String> = {
        let mut v = Vec::new();
        for id in [&x, &y] {
            if hub.hub.peering_status(id).await == "active" {
                v.push(id);
            }
        }
        v
    };
    assert_eq!(
        active.len(),
        1,
        "both overlapping requests ended active: {rx:#?}\n{ry:#?}"
    );
    // The rule every invocation applies the same way: the lower id stays.
    assert_eq!(active[0], std::cmp::min(&x, &y));
    let loser = std::cmp::max(&x, &y);
    assert_eq!(hub.hub.peering_status(loser).await, "deleted");
    // Either invocation (or both) may have deleted it: only the loser, ever.
    let mut undone: Vec<&String> = rx.undone.iter().chain(&ry.undone).collect();
    undone.dedup();
    assert_eq!(undone, vec![loser], "{rx:#?}\n{ry:#?}");
    assert!(
        proxy.stats()["actions"]["DescribeVpcPeeringConnections"]["barrier_released"]
            .as_u64()
            .unwrap_or(0)
            >= 2,
        "the interleaving was forced: {}",
        proxy.stats()
    );
}

/// Deletes the link's peering, requests a new one between the same VPCs and
/// accepts it: P2 replaces P1, whose routes are now blackholes.
async fn replaced(link: &Link, p1: &str, accepter_ctx: &Context) -> String {
    link.requester.delete_peering(p1).await;
    let p2 = link.request().await;
    assert_eq!(decide(accepter_ctx, &p2).await.accepted, vec![p2.clone()]);
    p2
}

async fn assert_finished(link: &Link, pcx: &str) {
    for t in link.accepter_tables() {
        let routes = link.accepter.routes(&t).await;
        for block in ["10.0.0.0/16", "10.2.0.0/16"] {
            assert!(routes.contains(&(block.into(), pcx.into())), "{t}: {routes:?}");
        }
    }
    let marker = format!("peerlink:{pcx}");
    let rules = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
    for block in ["10.0.0.0/16", "10.2.0.0/16"] {
        assert!(
            rules
                .iter()
                .any(|(_, f, _, c, d)| *f == 5432 && c == block && d.as_deref() == Some(&marker)),
            "{block} marked for {pcx}: {rules:?}"
        );
    }
}

#[tokio::test]
async fn a_replaced_peering_ends_fully_finished_whatever_the_order_of_events() {
    for (order, base) in [
        ("late delete event", 620_000_000_001u64),
        ("delete event first", 620_000_000_003),
    ] {
        let link = Link::new(Emulator::shared(), &base.to_string(), &(base + 1).to_string()).await;
        let (p1, _, accepter_ctx) = link.accepted().await;
        finish(&accepter_ctx, json!({ "reconcile": p1 })).await;
        let deleted = cloudtrail_event(
            "aws.ec2",
            "DeleteVpcPeeringConnection",
            json!({ "vpcPeeringConnectionId": p1 }),
        );
        let p2 = replaced(&link, &p1, &accepter_ctx).await;
        let reports = if order == "late delete event" {
            vec![
                finish(&accepter_ctx, json!({ "reconcile": p2 })).await,
                finish(&accepter_ctx, deleted).await,
            ]
        } else {
            vec![
                finish(&accepter_ctx, deleted).await,
                finish(&accepter_ctx, json!({ "reconcile": p2 })).await,
            ]
        };
        for r in &reports {
            assert!(r.failed().is_empty(), "{order}: {r:#?}");
            assert!(r.count(FindingKind::RouteConflict) == 0, "{order}: {r:#?}");
        }
        assert_finished(&link, &p2).await;
        // Nothing is left to do for P2, and P1 left nothing behind.
        let again = finish(&accepter_ctx, json!({ "reconcile": p2 })).await;
        assert!(again.actions.is_empty(), "{order}: {again:#?}");
        let rules = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
        assert!(
            !rules
                .iter()
                .any(|(.., d)| d.as_deref() == Some(&format!("peerlink:{p1}"))),
            "{order}: {rules:?}"
        );
    }
}

/// Whether the user's two routes (spare table, unselected subnet table) are there.
async fn users_routes(link: &Link, other: &str, pcx: &str) -> (bool, bool) {
    let b = &link.accepter;
    (
        b.routes(&link.spare_table)
            .await
            .contains(&("10.2.0.0/16".into(), pcx.into())),
        b.routes(other).await.contains(&("10.0.0.0/16".into(), pcx.into())),
    )
}

#[tokio::test]
async fn what_the_user_selected_away_is_never_touched() {
    let link = Link::new(Emulator::shared(), "616000000001", "616000000002").await;
    let b = &link.accepter;
    let (selected, other) = (
        link.accepter_vpc.subnet_tables[0].clone(),
        link.accepter_vpc.subnet_tables[1].clone(),
    );
    let entry = |allowed: &[&str], select: &str| {
        Entry::new("orders-ecs", &link.requester.id, &link.accepter_vpc.id, allowed)
            .peer_vpc(&link.requester_vpc.id)
            .routes(select)
            .rule(&link.accepter_vpc.security_group, 5432)
    };
    let by_id = format!("select = \"ids\"\nids = [\"{selected}\"]");
    let both = ["10.0.0.0/16", "10.2.0.0/16"];
    let ctx = b.context(&fixtures::document("", &[entry(&both, &by_id)])).await;
    let pcx = link.request().await;
    assert_eq!(decide(&ctx, &pcx).await.accepted, vec![pcx.clone()]);
    let report = finish(&ctx, json!({ "reconcile": pcx })).await;
    assert!(report.failed().is_empty(), "{report:#?}");
    let ours = |block: &str| (block.to_string(), pcx.clone());
    assert!(b.routes(&selected).await.contains(&ours("10.2.0.0/16")));
    // The user routes the peer by hand in tables peerlink does not select.
    b.user_route(&link.spare_table, "10.2.0.0/16", &pcx).await;
    b.user_route(&other, "10.0.0.0/16", &pcx).await;
    // 10.2.0.0/16 may no longer be routed: peerlink takes back its own
    // route in the selected table, and leaves the user's.
    let narrowed = b
        .context(&fixtures::document("", &[entry(&["10.0.0.0/16"], &by_id)]))
        .await;
    let drift = peerlink::drift::run(&narrowed, peerlink::config::DriftMode::Remediate, Deadline::none())
        .await
        .unwrap();
    assert!(drift.reconcile.failed().is_empty(), "{drift:#?}");
    assert!(!b.routes(&selected).await.contains(&ours("10.2.0.0/16")));
    assert_eq!(
        users_routes(&link, &other, &pcx).await,
        (true, true),
        "the user's routes were removed"
    );

    // Nothing selected: nothing of the routes is touched, peerlink's included.
    let none = b
        .context(&fixtures::document("", &[entry(&["10.0.0.0/16"], "select = \"none\"")]))
        .await;
    let report = reconcile::run(&none, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(report.failed().is_empty(), "{report:#?}");
    assert!(b.routes(&selected).await.contains(&ours("10.0.0.0/16")));
    assert_eq!(users_routes(&link, &other, &pcx).await, (true, true));

    // The peering is deleted: peerlink cleans up the selected table only.
    link.requester.delete_peering(&pcx).await;
    let drift = peerlink::drift::run(&narrowed, peerlink::config::DriftMode::Remediate, Deadline::none())
        .await
        .unwrap();
    assert!(drift.reconcile.failed().is_empty(), "{drift:#?}");
    assert!(!b.routes(&selected).await.iter().any(|(_, t)| *t == pcx));
    assert_eq!(
        users_routes(&link, &other, &pcx).await,
        (true, true),
        "the user's routes were removed"
    );
}
