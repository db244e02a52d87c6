//! A platform team's hub at scale, behind a proxy that throttles exactly as
//! EC2's documented token buckets would (a bucket per account and action:
//! `CreateRoute` 50 tokens refilled at 5/s, reads 100 at 20/s, …) and
//! splits every paginated Describe answer into pages of 5.
//!
//! The proxy's buckets, and the client's copy of them, run `SPEEDUP` times
//! faster than EC2's, and the functions' timeout (120 s) is shortened alike,
//! so the minutes EC2 needs take seconds here with the same shape: the same
//! calls, the same throttling decisions, the same floor in sped-up seconds.
//! Times are printed, never asserted (`scripts/bench.sh` measures the ratio
//! to the floor at EC2's own rates).

use std::time::Instant;

use peerlink::continuation;
use peerlink::events::{Event, Function};
use peerlink::finding::FindingKind;
use peerlink::metrics::InvocationReport;
use peerlink::{Context, Deadline, accepter, finisher};
use peerlink_tests::{Emulator, FaultProxy, Hub, chain, ec2_like, timeout};
use serde_json::Value;

const PAGE: usize = 5;

/// Every Describe the pass made asked for pages (`MaxResults`) and got them
/// at most `PAGE` items long, split wherever there were more.
fn assert_paged(calls: &peerlink::aws::CallSummary, paging: &Value) {
    let describes: Vec<&String> = calls
        .by_operation
        .keys()
        .filter(|op| op.starts_with("Describe"))
        .collect();
    assert!(!describes.is_empty());
    for op in describes {
        let p = &paging[op.as_str()];
        let (pages, items) = (p["pages"].as_u64().unwrap_or(0), p["items"].as_u64().unwrap_or(0));
        assert_eq!(
            pages,
            calls.calls(op),
            "{op}: every call a page of the proxy's: {paging}"
        );
        assert!(items <= pages * PAGE as u64, "{op}: {paging}");
        if items > PAGE as u64 {
            assert!(p["split"].as_u64().unwrap_or(0) > 0, "{op} was never split: {paging}");
        }
    }
}

/// 40 spokes, 6 route tables: 240 `CreateRoute` (38 s of EC2's refill), 40
/// rules, 40 DNS options. One finisher invocation finishes it, with no write
/// failed or throttled, and its reads in pages of 5.
#[tokio::test]
async fn a_hub_of_40_spokes_and_6_tables_is_finished_in_one_finisher_invocation() {
    // An emulator of its own: moto answers one request at a time.
    // 5 times EC2's rates: 240 routes in 7.6 s, the timeout 24 s.
    const SPEEDUP: f64 = 5.0;
    let emu = &Emulator::start();
    let proxy = FaultProxy::start(emu, 1);
    let hub = Hub::build(emu, "930000000001", &["930000000002"], 40, 6).await;
    proxy.configure(&ec2_like(SPEEDUP, PAGE));
    let ctx = hub.context(&hub.role_via(emu, &proxy).await, SPEEDUP).await;

    let swept = accepter::handle(&ctx, &Event::Scheduled, Deadline::within(timeout(SPEEDUP)))
        .await
        .unwrap();
    assert_eq!(swept.accepted.len(), 40, "{swept:#?}");

    proxy.reset();
    ctx.calls().reset();
    let t0 = Instant::now();
    let report = finisher::handle(&ctx, &Event::Scheduled, Deadline::within(timeout(SPEEDUP)))
        .await
        .unwrap();
    let took = t0.elapsed().as_secs_f64();
    let seen = proxy.throttling();
    let failed = report.failures();
    println!(
        "40x6 hub: {} writes in {took:.1} s, floor {:.1} s (ratio {:.2}), {} throttled answers, {} failed writes",
        report.actions.len(),
        seen.floor_seconds,
        took / seen.floor_seconds,
        seen.throttled,
        failed.len()
    );
    assert!(
        failed.is_empty(),
        "{} of {} writes failed: {:#?}",
        failed.len(),
        report.actions.len(),
        &failed[..failed.len().min(5)]
    );
    assert_eq!(report.progress().left, 0, "{:?}", report.findings);
    assert_eq!(
        hub.unfinished_tables().await,
        vec![],
        "every table routes to every spoke"
    );
    assert_eq!(seen.throttled, 0, "paced to the buckets, EC2 never has to say no");
    assert_paged(&ctx.calls().summary(), &seen.paging);
}

/// Two finisher processes at once on a 40x6 hub (the schedule and an
/// event's pass overlap), each with its own copy of the account's buckets:
/// together they ask twice what EC2 admits. Throttles come back; each copy
/// then halves its rate and paces its retries, and recovers. No write fails,
/// no invocation fails, and the hub is finished.
#[tokio::test]
async fn two_finishers_at_once_share_the_buckets_and_no_write_fails() {
    const SPEEDUP: f64 = 5.0;
    let emu = &Emulator::start();
    let proxy = FaultProxy::start(emu, 3);
    let hub = Hub::build(emu, "930000000021", &["930000000022"], 40, 6).await;
    proxy.configure(&ec2_like(SPEEDUP, PAGE));
    let via = hub.role_via(emu, &proxy).await;
    let ctx = hub.context(&via, SPEEDUP).await;
    let swept = accepter::handle(&ctx, &Event::Scheduled, Deadline::within(timeout(SPEEDUP)))
        .await
        .unwrap();
    assert_eq!(swept.accepted.len(), 40, "{swept:#?}");

    proxy.reset();
    let (a, b) = (hub.context(&via, SPEEDUP).await, hub.context(&via, SPEEDUP).await);
    let deadline = Deadline::within(timeout(SPEEDUP));
    let (ra, rb) = tokio::join!(
        finisher::handle(&a, &Event::Scheduled, deadline),
        finisher::handle(&b, &Event::Scheduled, deadline)
    );
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    let seen = proxy.throttling();
    let attempts = |c: &Context| {
        c.calls()
            .summary()
            .by_operation
            .get("CreateRoute")
            .copied()
            .unwrap_or_default()
    };
    println!(
        "two finishers at once on a 40x6 hub: {} throttled answers; CreateRoute calls/attempts {:?} and {:?}",
        seen.throttled,
        attempts(&a),
        attempts(&b)
    );
    for (ctx, r) in [(&a, &ra), (&b, &rb)] {
        assert!(r.failures().is_empty(), "{:#?}", r.failures());
        // A copy slowed by the other's share may leave writes for its
        // continuation (the other did them by then): never a failure.
        let c = continuation::after(ctx, Function::Finisher, &Event::Scheduled, r.progress()).await;
        assert_eq!(c.failure(), None);
    }
    assert!(seen.throttled > 0, "the two together asked more than the buckets hold");
    assert_eq!(
        hub.unfinished_tables().await,
        vec![],
        "every table routes to every spoke"
    );
}

/// 120 spokes (60 in each of two accounts, each account's rules in a group
/// of its own), 10 route tables. The accepter's sweep accepts the 120
/// requests (`AcceptVpcPeeringConnection`: 50, then 5/s). The finisher's
/// 1,200 routes need 230 s of EC2's refill, more than its timeout: each
/// invocation stops in time, reports what it
/// left and publishes its continuation, which is read back from the bus and
/// delivered as the next invocation, on a fresh process whose copy of the
/// buckets starts full. Both converge with no failed write and no failed
/// invocation; `left` falls with every link.
#[tokio::test]
async fn a_hub_of_120_spokes_and_10_tables_is_finished_through_continuations() {
    // An emulator of its own: moto answers one request at a time.
    // 10 times EC2's rates: 1,200 routes in 23 s, the timeout 12 s.
    const SPEEDUP: f64 = 10.0;
    let emu = &Emulator::start();
    let proxy = FaultProxy::start(emu, 2);
    let hub = Hub::build(emu, "930000000011", &["930000000012", "930000000013"], 60, 10).await;
    let capture = hub.continuations().await;
    proxy.configure(&ec2_like(SPEEDUP, PAGE));
    let via = hub.role_via(emu, &proxy).await;

    let sweeps = chain(&capture, Function::Accepter, async |event| {
        let ctx = hub.context(&via, SPEEDUP).await;
        let r = accepter::handle(&ctx, &event, Deadline::within(timeout(SPEEDUP)))
            .await
            .unwrap();
        (ctx, r.progress(), r.failures(), r.accepted.len())
    })
    .await;
    let accepted: usize = sweeps.iter().map(|l| l.count).sum();
    assert_eq!(accepted, 120, "{sweeps:?}");
    println!(
        "sweep of 120 requests: {sweeps:?}, proxy floor {:.1} s",
        proxy.throttling().floor_seconds
    );

    proxy.reset();
    let t0 = Instant::now();
    let finishes = chain(&capture, Function::Finisher, async |event| {
        let ctx = hub.context(&via, SPEEDUP).await;
        let r = finisher::handle(&ctx, &event, Deadline::within(timeout(SPEEDUP)))
            .await
            .unwrap();
        assert_eq!(r.count(FindingKind::WorkLeft), usize::from(r.progress().left > 0));
        (ctx, r.progress(), r.failures(), r.done())
    })
    .await;
    let took = t0.elapsed().as_secs_f64();
    let seen = proxy.throttling();
    println!(
        "120x10 hub: {} finisher invocations {finishes:?}, {took:.1} s, floor {:.1} s, {} throttled answers, 0 failed writes",
        finishes.len(),
        seen.floor_seconds,
        seen.throttled
    );
    assert!(finishes.len() > 1, "the test's deadline is meant to need continuations");
    assert_eq!(
        hub.unfinished_tables().await,
        vec![],
        "every table routes to every spoke"
    );
}
