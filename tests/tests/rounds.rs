//! Dependent rounds of AWS calls, what a user waits for: every call is held
//! by the proxy in front of the emulator (as EC2's latency would hold it), so
//! calls made at once overlap and calls that wait on each other add up. The
//! hold (150 ms, longer than EC2's 30–100) keeps calls started together
//! overlapping on a loaded machine too, so the count is deterministic; the
//! times are not asserted.

use peerlink::config::DriftMode;
use peerlink::events::Event;
use peerlink::reconcile::{self, Scope};
use peerlink::{Deadline, Mode, accepter, drift, finisher};
use peerlink_tests::{Emulator, FaultProxy, Link, decide};

#[tokio::test]
async fn one_round_of_reads_and_four_to_finish_a_new_peering() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "650000000001", "650000000002").await;
    let proxy = FaultProxy::start(emu, 5);
    proxy.configure(&serde_json::json!({"latency_ms": 150}));
    let accepter_side = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let requester_side = emu.account_via(&proxy.endpoint, &link.requester.id).await;
    let accepter_ctx = accepter_side.context(&link.accepter_config("")).await;
    let requester_ctx = requester_side.context(&link.requester_config("")).await;
    let rounds = |ctx: &peerlink::Context| ctx.calls().summary().rounds;

    // The accepter decides a new request: read, accept, then announce and
    // look for concurrent acceptances at once.
    let pcx = link.request().await;
    accepter_ctx.calls().reset();
    let decided = decide(&accepter_ctx, &pcx).await;
    assert_eq!(decided.accepted, vec![pcx.clone()]);
    assert_eq!(rounds(&accepter_ctx), 3, "{:?}", accepter_ctx.calls().summary());

    // Finishing a new peering: reads; writes, each policy merge reading the
    // policy again right before its write (a statement someone added since
    // the pass observed is kept); the policy settle read. The requester side
    // has no policy: reads, writes.
    for (ctx, side, expected) in [(&accepter_ctx, "accepter", 4), (&requester_ctx, "requester", 2)] {
        ctx.calls().reset();
        let r = finisher::handle(
            ctx,
            &Event::Reconcile {
                peering: pcx.parse().unwrap(),
            },
            Deadline::none(),
        )
        .await
        .unwrap();
        assert!(r.failed().is_empty() && !r.actions.is_empty(), "{side}: {r:#?}");
        assert_eq!(rounds(ctx), expected, "{side} finishing: {:?}", ctx.calls().summary());
    }

    // Steady state: one round of reads, no writes, for every function.
    accepter_ctx.calls().reset();
    let sweep = accepter::handle(&accepter_ctx, &Event::Scheduled, Deadline::none())
        .await
        .unwrap();
    assert!(sweep.outcomes.is_empty());
    assert_eq!(
        rounds(&accepter_ctx),
        1,
        "accepter sweep: {:?}",
        accepter_ctx.calls().summary()
    );
    for (ctx, side) in [(&accepter_ctx, "accepter"), (&requester_ctx, "requester")] {
        ctx.calls().reset();
        let r = finisher::handle(ctx, &Event::Scheduled, Deadline::none())
            .await
            .unwrap();
        assert!(r.actions.is_empty(), "{side}: {r:#?}");
        let calls = ctx.calls().summary();
        assert_eq!(
            (calls.rounds, calls.writes),
            (1, 0),
            "{side} finisher, steady: {calls:?}"
        );
        ctx.calls().reset();
        let d = drift::run(ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
        assert_eq!(d.summary.drift_found, 0, "{side}: {d:#?}");
        let calls = ctx.calls().summary();
        assert_eq!((calls.rounds, calls.writes), (1, 0), "{side} drift, steady: {calls:?}");
    }
    // `plan` from the CLI reads the same way.
    accepter_ctx.calls().reset();
    reconcile::run(&accepter_ctx, Scope::All, Mode::Plan, Deadline::none())
        .await
        .unwrap();
    assert_eq!(rounds(&accepter_ctx), 1);
}

/// `select = "subnets"` needs to know which VPC each named subnet is in
/// (one without a table of its own uses the main table): that read goes in
/// the same round as the route tables, so a steady pass is still one round.
#[tokio::test]
async fn selecting_tables_by_subnet_adds_a_read_not_a_round() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "650000000011", "650000000012").await;
    let entry = peerlink::fixtures::Entry::new(
        "orders-ecs",
        &link.requester.id,
        &link.accepter_vpc.id,
        &["10.0.0.0/16", "10.2.0.0/16"],
    )
    .peer_vpc(&link.requester_vpc.id)
    .routes(&format!(
        "select = \"subnets\"\nsubnets = [\"{}\"]",
        link.accepter_vpc.subnets[0]
    ));
    let config = peerlink::fixtures::document("", &[entry]);
    let proxy = FaultProxy::start(emu, 5);
    proxy.configure(&serde_json::json!({"latency_ms": 150}));
    let ctx = emu
        .account_via(&proxy.endpoint, &link.accepter.id)
        .await
        .context(&config)
        .await;
    let pcx = link.request().await;
    assert_eq!(decide(&ctx, &pcx).await.accepted, vec![pcx.clone()]);
    let r = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(r.failed().is_empty() && !r.actions.is_empty(), "{r:#?}");
    ctx.calls().reset();
    let r = reconcile::run(&ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .unwrap();
    assert!(r.actions.is_empty(), "{r:#?}");
    let calls = ctx.calls().summary();
    assert_eq!((calls.rounds, calls.writes), (1, 0), "steady: {calls:?}");
    assert_eq!(calls.calls("DescribeSubnets"), 1, "{calls:?}");
}
