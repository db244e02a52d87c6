//! Peer-phishing defence, end to end: requests that try their luck are never
//! accepted and never routed, a peer that grows after acceptance gets no route
//! to its new block, and a broken configuration never fails open. What reaches
//! AWS is counted by the fault proxy (with no faults configured).

use peerlink::config::DriftMode;
use peerlink::{Deadline, accepter, drift, events};
use peerlink_tests::{Emulator, FaultProxy, LambdaWatch, Link, PendingBlocks, create_event, workspace_root};

#[tokio::test]
async fn phishing_requests_are_never_accepted_or_routed() {
    phishing(Emulator::shared_with(PendingBlocks::Listed)).await;
}

/// As EC2 documents a pending request (its primary block only), the VPC that
/// grew an overlapping block before asking cannot be told apart while
/// pending: it is accepted on its primary block, and the overlapping block
/// never gets a route or rule.
#[tokio::test]
async fn phishing_requests_are_never_accepted_or_routed_as_ec2_documents_pending_requests() {
    phishing(Emulator::shared_with(PendingBlocks::Omitted)).await;
}

async fn phishing(emu: &'static Emulator) {
    let listed = emu.pending_blocks == PendingBlocks::Listed;
    let proxy = FaultProxy::start(emu, 3);
    let link = Link::new(emu, "960000000001", "960000000002").await;
    let b = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = b.context(&link.accepter_config("")).await;

    let stranger = emu.account("960000000003").await;
    let east = emu.account_in(&link.requester.id, "us-east-1").await;
    let mut hostile = Vec::new();
    let v = stranger.vpc(&["10.0.0.0/16"], 0).await;
    hostile.push(
        stranger
            .request_peering(&v.id, &b.id, &link.accepter_vpc.id, None)
            .await,
    );
    let v = link.requester.vpc(&["10.0.0.0/16"], 0).await;
    hostile.push(
        link.requester
            .request_peering(&v.id, &b.id, &link.accepter_vpc.id, None)
            .await,
    );
    let v = east.vpc(&["10.0.0.0/16"], 0).await;
    hostile.push(
        east.request_peering(&v.id, &b.id, &link.accepter_vpc.id, Some("eu-west-1"))
            .await,
    );
    // The listed VPC itself, grown before asking: a block outside the range, an overlapping one.
    link.requester
        .ec2
        .associate_vpc_cidr_block()
        .vpc_id(&link.requester_vpc.id)
        .cidr_block("10.1.0.0/16")
        .send()
        .await
        .unwrap();
    hostile.push(link.request().await);

    proxy.reset();
    let report = accepter::handle(&ctx, &events::Event::Scheduled, Deadline::none())
        .await
        .unwrap();
    // Without the block set, the grown VPC's overlapping block is unknown until active.
    let refused = if listed { &hostile[..] } else { &hostile[..3] };
    assert_eq!(report.rejected.len(), refused.len(), "{report:#?}");
    for pcx in refused {
        assert!(report.rejected.contains(pcx), "{pcx}");
    }
    let stats = proxy.stats();
    if listed {
        let overlap = report
            .outcomes
            .iter()
            .find(|o| o.decision.peering_id == hostile[3])
            .unwrap();
        assert!(
            overlap.decision.reason.contains("10.1.0.0/16"),
            "{}",
            overlap.decision.reason
        );
        assert_eq!(
            stats["actions"]["AcceptVpcPeeringConnection"]["forwarded"]
                .as_u64()
                .unwrap_or(0),
            0,
            "{stats}"
        );
        assert_eq!(
            stats["totals"]["forwarded_writes"].as_u64().unwrap(),
            hostile.len() as u64,
            "one reject each: {stats}"
        );
    } else {
        assert_eq!(report.accepted, vec![hostile[3].clone()], "{report:#?}");
        // Accepted on its primary block: the block overlapping the local VPC is never routed.
        let d = drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
        assert!(d.reconcile.failed().is_empty(), "{d:#?}");
        for t in link.accepter_tables() {
            let routes = link.accepter.routes(&t).await;
            assert!(
                !routes.iter().any(|(d, target)| d == "10.1.0.0/16" && target != "local"),
                "{t}: {routes:?}"
            );
        }
        let rules = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
        assert!(!rules.iter().any(|r| r.3 == "10.1.0.0/16"), "{rules:?}");
        assert!(
            d.reconcile.findings.iter().any(|f| f.message.contains("10.1.0.0/16")),
            "{:#?}",
            d.reconcile.findings
        );
    }

    // A drift pass finds nothing to route for any of them.
    proxy.reset();
    let d = drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    assert_eq!(d.summary.drift_found, 0, "{:#?}", d.reconcile.actions);
    assert_eq!(proxy.forwarded_writes(), 0);
}

#[tokio::test]
async fn a_peer_growing_after_acceptance_gets_no_route_to_its_new_block() {
    let emu = Emulator::shared();
    let proxy = FaultProxy::start(emu, 4);
    let link = Link::new(emu, "960000000011", "960000000012").await;
    let b = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = b.context(&link.accepter_config("")).await;
    let pcx = link.request().await;
    accepter::handle(&ctx, &events::parse(&create_event(&pcx)).unwrap(), Deadline::none())
        .await
        .unwrap();
    drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();

    for block in ["192.168.0.0/16", "10.1.128.0/17"] {
        link.requester
            .ec2
            .associate_vpc_cidr_block()
            .vpc_id(&link.requester_vpc.id)
            .cidr_block(block)
            .send()
            .await
            .unwrap();
    }
    proxy.reset();
    let d = drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    assert_eq!(proxy.forwarded_writes(), 0, "{:#?}", d.reconcile.actions);
    let reported: Vec<&str> = d.reconcile.findings.iter().map(|f| f.message.as_str()).collect();
    assert!(reported.iter().any(|m| m.contains("192.168.0.0/16")), "{reported:#?}");
    assert!(reported.iter().any(|m| m.contains("10.1.128.0/17")), "{reported:#?}");
    for t in link.accepter_tables() {
        let routes = link.accepter.routes(&t).await;
        assert!(
            !routes
                .iter()
                .any(|(d, _)| d == "192.168.0.0/16" || d == "10.1.128.0/17"),
            "{t}: {routes:?}"
        );
    }
    let rules = link.accepter.rules(&link.accepter_vpc.security_group, false).await;
    assert!(
        !rules.iter().any(|r| r.3 == "192.168.0.0/16" || r.3 == "10.1.128.0/17"),
        "{rules:?}"
    );
}

/// A function started with a broken configuration fails at start-up: the
/// request it would have decided stays pending, nothing is written.
#[test]
fn a_broken_configuration_never_fails_open() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let emu = Emulator::shared();
    let link = rt.block_on(Link::new(emu, "960000000021", "960000000022"));
    let pcx = rt.block_on(link.request());
    let dir = std::env::temp_dir().join(format!("peerlink-broken-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = [
        link.accepter_config("").replace(
            "allowed_cidrs = [\"10.0.0.0/16\", \"10.2.0.0/16\"]",
            "allowed_cidrs = [\"10.0.0.0/16\", \"10.2.0.0/33\"]",
        ),
        link.accepter_config("")
            .replace("auto_accept = true", "auto_accept = true\nauto_acept = true"),
        link.accepter_config("").replace(&link.requester.id, "96000000002"),
    ];
    for (i, text) in broken.iter().enumerate() {
        let config = dir.join(format!("broken-{i}.toml"));
        std::fs::write(&config, text).unwrap();
        let watch = LambdaWatch::start(
            emu,
            &link.accepter,
            &[("PEERLINK_CONFIG_FILE", config.to_str().unwrap())],
        );
        let err = watch
            .invoke("accepter", &workspace_root().join("events/scheduled.json"))
            .unwrap_err();
        assert!(!err.is_empty());
        let log = std::fs::read_to_string(&watch.log_path).unwrap_or_default();
        assert!(
            log.contains("is invalid"),
            "the start-up error names the problem: {log}"
        );
        assert_eq!(rt.block_on(link.accepter.peering_status(&pcx)), "pending-acceptance");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
