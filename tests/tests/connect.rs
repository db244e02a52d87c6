//! Both sides connected by events alone, on the emulator: the requester's
//! configuration asks (`request = true`), its finisher makes the request, the
//! accepter accepts, its announcement reaches both finishers; and a
//! rejection reaches the requester with its reason. No schedule is invoked.

use std::time::{Duration, UNIX_EPOCH};

use peerlink::aws::Resilience;
use peerlink::config::DriftMode;
use peerlink::context::Clock;
use peerlink::events::{self, Event};
use peerlink::finding::FindingKind;
use peerlink::fixtures::{self, Entry};
use peerlink::metrics::InvocationReport;
use peerlink::reconcile::{self, Scope};
use peerlink::settings::Settings;
use peerlink::{Context, Deadline, Mode, accepter, drift, finisher};
use peerlink_tests::{Emulator, EventCapture, FaultProxy, Link, connect_by_events, create_event_in};

/// The request peerlink made (tagged with its entry).
async fn our_request(ctx: &Context) -> String {
    let peerings = ctx.aws.describe_peerings(None).await.unwrap();
    let ours = peerings.into_iter().find(|p| p.tags.contains_key("peerlink:entry"));
    ours.expect("the request peerlink made").id
}

/// The accepter's context, announcing on its default bus.
async fn announcing(link: &Link, config: &str) -> Context {
    let ctx = link.accepter.context(config).await;
    Context {
        settings: Settings {
            event_bus: Some("default".into()),
            ..Settings::default()
        },
        ..ctx
    }
}

#[tokio::test]
async fn both_sides_connect_by_events_alone() {
    let link = Link::new(Emulator::shared(), "640000000001", "640000000002").await;
    let requester_ctx = link.requester.context(&link.asking_config("")).await;
    let accepter_ctx = announcing(&link, &link.accepter_config("")).await;
    let capture = EventCapture::start(&link.accepter).await;
    let chain = connect_by_events(&link.requester, &requester_ctx, &accepter_ctx, &capture).await;
    println!(
        "{} invocations in {:?}: {:#?}",
        chain.invocations.len(),
        chain.wall,
        chain.invocations
    );
    assert_eq!(chain.scheduled(), 0, "{chain:?}");
    assert_eq!(chain.invocations.len(), 4, "{chain:?}");
    // Both sides are finished: a second pass on each finds nothing to do.
    for ctx in [&requester_ctx, &accepter_ctx] {
        let again = reconcile::run(
            ctx,
            Scope::Peerings(vec![chain.peering.clone()]),
            Mode::Apply,
            Deadline::none(),
        )
        .await
        .unwrap();
        assert!(again.actions.is_empty(), "{again:#?}");
    }
    let routes = link.requester.routes(&link.requester_vpc.main_table).await;
    assert!(
        routes.contains(&("10.1.0.0/16".into(), chain.peering.clone())),
        "{routes:?}"
    );
    let routes = link.accepter.routes(&link.accepter_vpc.main_table).await;
    assert!(
        routes.contains(&("10.0.0.0/16".into(), chain.peering.clone())),
        "{routes:?}"
    );
    assert_eq!(link.accepter.peering_dns(&chain.peering).await, (true, true));
}

#[tokio::test]
async fn a_rejection_reaches_the_requester_with_its_reason() {
    let link = Link::new(Emulator::shared(), "641000000001", "641000000002").await;
    let requester_ctx = link.requester.context(&link.asking_config("")).await;
    // The accepter manages its VPC, but not for this requester.
    let stranger_only = Entry::new("someone-else", "999999999999", &link.accepter_vpc.id, &["10.0.0.0/8"]);
    let accepter_ctx = announcing(&link, &fixtures::document("", &[stranger_only])).await;
    let capture = EventCapture::start(&link.accepter).await;
    let asked = finisher::handle(&requester_ctx, &Event::ReconcileAll, Deadline::none())
        .await
        .unwrap();
    assert_eq!(
        asked.metrics().iter().find(|m| m.0 == "RequestsCreated"),
        Some(&("RequestsCreated", 1))
    );
    let pcx = our_request(&requester_ctx).await;
    let created = create_event_in(&pcx, &link.requester.id);
    let decided = accepter::handle(&accepter_ctx, &events::parse(&created).unwrap(), Deadline::none())
        .await
        .unwrap();
    assert_eq!(decided.rejected, vec![pcx.clone()]);
    let announced = capture.next().await;
    assert_eq!(announced["detail-type"], "VPC Peering Rejected");
    assert!(
        announced["detail"].get("entry").is_none(),
        "no entry matched: {announced}"
    );
    assert_eq!(announced["detail"]["requesterAccount"], link.requester.id.as_str());
    let report = finisher::handle(&requester_ctx, &events::parse(&announced).unwrap(), Deadline::none())
        .await
        .unwrap();
    let rejection = report.rejection.clone().expect("the rejection is recorded");
    assert_eq!(rejection.accepter_account, link.accepter.id);
    assert!(rejection.reason.contains("not in the allowlist"), "{rejection:?}");
    assert!(report.metrics().contains(&("RejectionsReceived", 1)));
    // The next pass says why, and does not ask again yet.
    let next = reconcile::run(&requester_ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(
        next.findings
            .iter()
            .any(|f| f.kind == FindingKind::RequestWaiting && f.message.contains("rejected"))
    );
    assert!(!next.kinds().contains(&"create-peering-request"));
}

#[tokio::test]
async fn a_declared_request_is_made_once_and_again_only_after_the_retry_interval() {
    let link = Link::new(Emulator::shared(), "642000000001", "642000000002").await;
    let t0 = 1_900_000_000;
    let at = |secs: u64| Clock::fixed(UNIX_EPOCH + Duration::from_secs(secs));
    let mut ctx = link.requester.context(&link.asking_config("")).await;
    ctx.clock = at(t0);
    let count = || async { link.requester.peerlink_requests().await.len() };
    // Report mode lists the request and creates nothing.
    let report = drift::run(&ctx, DriftMode::Report, Deadline::none()).await.unwrap();
    assert!(report.reconcile.kinds().contains(&"create-peering-request"));
    assert_eq!(count().await, 0);
    // Exactly one, and none while it is live.
    for _ in 0..2 {
        drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    }
    assert_eq!(count().await, 1);
    // Rejected: nothing new before the interval has passed, one after.
    let pcx = our_request(&ctx).await;
    link.accepter
        .ec2
        .reject_vpc_peering_connection()
        .vpc_peering_connection_id(&pcx)
        .send()
        .await
        .unwrap();
    ctx.clock = at(t0 + 23 * 3600);
    drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    assert_eq!(count().await, 1);
    ctx.clock = at(t0 + 24 * 3600 + 1);
    drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    assert_eq!(count().await, 2);
}

#[tokio::test]
async fn a_strangers_announcement_changes_nothing() {
    let link = Link::new(Emulator::shared(), "643000000001", "643000000002").await;
    let ctx = link.requester.context(&link.asking_config("")).await;
    finisher::handle(&ctx, &Event::ReconcileAll, Deadline::none())
        .await
        .unwrap();
    let pcx = our_request(&ctx).await;
    // A stranger claims the request was accepted: EC2 says it is pending.
    let mut forged: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(peerlink_tests::workspace_root().join("events/peering-accepted-forwarded.json"))
            .unwrap(),
    )
    .unwrap();
    forged["account"] = "999999999999".into();
    forged["detail"]["peeringId"] = pcx.clone().into();
    ctx.calls().reset();
    let report = finisher::handle(&ctx, &events::parse(&forged).unwrap(), Deadline::none())
        .await
        .unwrap();
    assert_eq!(ctx.calls().summary().writes, 0, "{report:#?}");
    assert!(report.findings.iter().any(|f| f.kind == FindingKind::NotActive));
}

/// The record of the last request must not depend on a tag peerlink may be
/// unable to write (the VPC's 50-tag limit, an SCP): with every CreateTags
/// failing, five rounds of "ask, get rejected" make exactly one request.
#[tokio::test]
async fn no_request_storm_when_the_attempt_cannot_be_recorded_on_the_vpc() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "644000000001", "644000000002").await;
    let proxy = FaultProxy::start(emu, 7);
    proxy.configure(&serde_json::json!({"rates": {"CreateTags": {"error500": 1.0}}}));
    let once = Resilience {
        max_attempts: 1,
        ..Resilience::default()
    };
    let requester = emu.account_with(&proxy.endpoint, &link.requester.id, once).await;
    let requester_ctx = requester.context(&link.asking_config("")).await;
    let stranger_only = Entry::new("someone-else", "999999999999", &link.accepter_vpc.id, &["10.0.0.0/8"]);
    let accepter_ctx = link.accepter.context(&fixtures::document("", &[stranger_only])).await;
    for round in 0..5 {
        finisher::handle(&requester_ctx, &Event::ReconcileAll, Deadline::none())
            .await
            .unwrap();
        let decided = accepter::handle(&accepter_ctx, &Event::Scheduled, Deadline::none())
            .await
            .unwrap();
        assert!(decided.failed.is_empty(), "round {round}: {decided:#?}");
    }
    let made = link.requester.peerlink_requests().await;
    assert_eq!(made.len(), 1, "one request in five rounds: {made:?}");
    let tags_tried = proxy.stats()["actions"]["CreateTags"]["requests"].as_u64().unwrap_or(0);
    assert!(tags_tried >= 1, "the VPC tag was tried and failed");
    // The next pass says why it waits, from the request's own record.
    let next = reconcile::run(&requester_ctx, Scope::All, Mode::Plan, Deadline::none())
        .await
        .unwrap();
    assert!(
        next.findings
            .iter()
            .any(|f| f.kind == FindingKind::RequestWaiting && f.message.contains(&made[0])),
        "{next:#?}"
    );
}

/// A rejection is the accepter's to announce: one forwarded from another
/// account (a stranger's bus, a requester's own) is logged as such and not
/// recorded as the decision.
#[tokio::test]
async fn a_rejection_from_anyone_but_the_accepter_is_not_recorded() {
    let link = Link::new(Emulator::shared(), "645000000001", "645000000002").await;
    let ctx = link.requester.context(&link.asking_config("")).await;
    finisher::handle(&ctx, &Event::ReconcileAll, Deadline::none())
        .await
        .unwrap();
    let pcx = our_request(&ctx).await;
    let forged = |account: &str| {
        let mut e: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(peerlink_tests::workspace_root().join("events/peering-rejected.json")).unwrap(),
        )
        .unwrap();
        e["account"] = account.into();
        e["detail"]["peeringId"] = pcx.clone().into();
        e["detail"]["requesterAccount"] = link.requester.id.clone().into();
        e
    };
    for sender in ["999999999999", link.requester.id.as_str()] {
        let report = finisher::handle(&ctx, &events::parse(&forged(sender)).unwrap(), Deadline::none())
            .await
            .unwrap();
        assert!(report.rejection.is_none(), "{sender}: {report:#?}");
        assert!(report.metrics().contains(&("RejectionsReceived", 0)), "{sender}");
    }
    // The accepter's own is recorded.
    let report = finisher::handle(
        &ctx,
        &events::parse(&forged(&link.accepter.id)).unwrap(),
        Deadline::none(),
    )
    .await
    .unwrap();
    assert_eq!(
        report.rejection.map(|r| r.accepter_account),
        Some(link.accepter.id.clone())
    );
}
