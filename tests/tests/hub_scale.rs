//! A platform team's hub at scale, behind a proxy that throttles exactly as
//! EC2's documented token buckets would (a bucket per account and action:
//! `CreateRoute` 50 tokens refilled at 5/s, reads 100 at 20/s, …) and
//! splits every paginated Describe answer into pages of 5.
//!
//! The proxy's buckets, and the client's copy of them, run `SPEEDUP` times
//! faster than EC2's, so the 38 s that 240 routes need take seconds here;
//! every ratio (time to the floor, throttles, pages) is the same shape.

use std::time::{Duration, Instant};

use peerlink::aws::Buckets;
use peerlink::config::Config;
use peerlink::events::Event;
use peerlink::settings::Settings;
use peerlink::{Context, Deadline, accepter, finisher};
use peerlink_tests::{Emulator, FaultProxy, Hub, ec2_like};

const SPEEDUP: f64 = 5.0;
/// The finisher's timeout in the templates (120 s), on the sped-up clock.
const FINISHER_TIMEOUT: Duration = Duration::from_secs(24);

/// The client paces itself to the same sped-up buckets.
fn settings() -> Settings {
    Settings {
        ec2_buckets: Buckets::default().faster(SPEEDUP),
        ..Settings::default()
    }
}

async fn hub_context(emu: &Emulator, proxy: &FaultProxy, hub: &Hub) -> Context {
    let via = emu.account_via(&proxy.endpoint, &hub.hub.id).await;
    let config = Config::parse(&hub.config, "hub").unwrap();
    Context::connect(&via.sdk, config, settings()).await.unwrap()
}

/// 40 spokes, 6 route tables: 240 `CreateRoute`, 40 rules, 40 DNS options.
/// One finisher invocation finishes it, with no write failed or throttled.
#[tokio::test]
async fn a_hub_of_40_spokes_and_6_tables_is_finished_in_one_finisher_invocation() {
    let emu = Emulator::shared();
    let proxy = FaultProxy::start(emu, 1);
    let hub = Hub::build(emu, "930000000001", "930000000002", 40, 6).await;
    proxy.configure(&ec2_like(SPEEDUP, 5));
    let ctx = hub_context(emu, &proxy, &hub).await;

    let swept = accepter::handle(&ctx, &Event::Scheduled, Deadline::within(FINISHER_TIMEOUT))
        .await
        .unwrap();
    assert_eq!(swept.accepted.len(), 40, "{swept:#?}");

    proxy.reset();
    let t0 = Instant::now();
    let report = finisher::handle(&ctx, &Event::Scheduled, Deadline::within(FINISHER_TIMEOUT))
        .await
        .unwrap();
    let took = t0.elapsed().as_secs_f64();
    let seen = proxy.throttling();
    let failed: Vec<String> = report
        .failed()
        .iter()
        .map(|o| {
            format!(
                "{} {}: {:?}",
                o.planned.action.kind(),
                o.planned.action.resource(),
                o.result
            )
        })
        .collect();
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
    assert_eq!(
        hub.unfinished_tables().await,
        vec![],
        "every table routes to every spoke"
    );
    assert_eq!(seen.throttled, 0, "paced to the buckets, EC2 never has to say no");
}
