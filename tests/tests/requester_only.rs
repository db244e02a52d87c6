//! A requester-only deployment (`requester.yaml`, `PEERLINK_ROLE=requester`)
//! on the emulator: its role may not accept or reject (the fault proxy
//! answers those calls with an error, as IAM would), so a stranger's request
//! to one of its VPCs is left alone by every drift pass: no write, no
//! failure, nothing to alarm on.

use peerlink::aws::Resilience;
use peerlink::config::DriftMode;
use peerlink::metrics::InvocationReport;
use peerlink::settings::{Role, Settings};
use peerlink::{Context, Deadline, drift};
use peerlink_tests::{Emulator, FaultProxy, Link};
use serde_json::json;

#[tokio::test]
async fn a_requester_only_account_leaves_strangers_requests_alone() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "680000000001", "680000000002").await;
    let proxy = FaultProxy::start(emu, 21);
    proxy.configure(&json!({"rates": {
        "RejectVpcPeeringConnection": {"error500": 1.0},
        "AcceptVpcPeeringConnection": {"error500": 1.0},
    }}));
    let once = Resilience {
        max_attempts: 1,
        ..Resilience::default()
    };
    let requester = emu.account_with(&proxy.endpoint, &link.requester.id, once).await;
    // The default unmatched_requests = "reject", remediating drift.
    let ctx = Context {
        settings: Settings {
            role: Role::Requester,
            ..Settings::default()
        },
        ..requester
            .context(&link.requester_config("drift_mode = \"remediate\""))
            .await
    };
    let stranger = emu.account("680000000003").await;
    let sv = stranger.vpc(&["10.7.0.0/16"], 0).await;
    let pcx = stranger
        .request_peering(&sv.id, &link.requester.id, &link.requester_vpc.id, None)
        .await;
    for _ in 0..3 {
        proxy.reset();
        let report = drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
        assert!(report.failures().is_empty(), "{report:#?}");
        assert_eq!(report.requests.skipped, vec![pcx.clone()], "{report:#?}");
        let why = &report.requests.outcomes[0].decision.reason;
        assert!(why.contains("PEERLINK_ROLE=requester"), "{why}");
        let stats = proxy.stats();
        for call in ["RejectVpcPeeringConnection", "AcceptVpcPeeringConnection"] {
            assert_eq!(stats["actions"][call]["requests"].as_u64().unwrap_or(0), 0, "{stats}");
        }
        assert!(
            report.metrics().contains(&("DecisionsFailed", 0))
                || !report.metrics().iter().any(|m| m.0 == "DecisionsFailed"),
            "{:?}",
            report.metrics()
        );
    }
    assert_eq!(link.requester.peering_status(&pcx).await, "pending-acceptance");
}
