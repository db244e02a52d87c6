//! Races and leftovers of concurrent acceptances, on the emulator: two
//! overlapping requests accepted at once by two invocations must end with
//! the lowest id alone, whether an accept's answer was lost, an invocation
//! died before it could check, or drift was one of the two.

use std::time::{Duration, Instant};

use peerlink::aws::Resilience;
use peerlink::config::DriftMode;
use peerlink::events::Event;
use peerlink::fixtures::{self, Entry};
use peerlink::{Context, Deadline, accepter, drift};
use peerlink_tests::{Account, Emulator, FaultProxy, TestVpc, decide};
use serde_json::json;

/// A hub VPC and two peers asking it for a peering with the same range: the
/// requests in id order, each with its peer's entry.
struct Twins {
    hub: Account,
    vpc: TestVpc,
    /// (request, entry), lowest id first.
    requests: [(String, Entry); 2],
}

impl Twins {
    async fn new(emu: &Emulator, base: u64) -> Twins {
        let hub = emu.account(&base.to_string()).await;
        let vpc = hub.vpc(&["10.255.0.0/16"], 1).await;
        let mut requests = Vec::new();
        for i in 1..=2u64 {
            let peer = emu.account(&(base + i).to_string()).await;
            let pv = peer.vpc(&["10.5.0.0/16"], 0).await;
            let pcx = peer.request_peering(&pv.id, &hub.id, &vpc.id, None).await;
            let entry = Entry::new(&format!("peer-{i}"), &peer.id, &vpc.id, &["10.0.0.0/8"])
                .peer_vpc(&pv.id)
                .rule(&vpc.security_group, 5432);
            requests.push((pcx, entry));
        }
        requests.sort_by(|a, b| a.0.cmp(&b.0));
        let requests: [(String, Entry); 2] = requests.try_into().expect("two");
        Twins { hub, vpc, requests }
    }

    fn config(&self, settings: &str, entries: &[usize]) -> String {
        let entries: Vec<Entry> = entries.iter().map(|i| self.requests[*i].1.clone()).collect();
        fixtures::document(settings, &entries)
    }

    fn ids(&self) -> (&str, &str) {
        (&self.requests[0].0, &self.requests[1].0)
    }

    async fn statuses(&self) -> (String, String) {
        let (low, high) = self.ids();
        (self.hub.peering_status(low).await, self.hub.peering_status(high).await)
    }
}

fn once() -> Resilience {
    Resilience {
        max_attempts: 1,
        ..Resilience::default()
    }
}

/// Waits until `n` requests of `action` have reached the proxy.
async fn arrived(proxy: &FaultProxy, action: &str, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while proxy.stats()["actions"][action]["requests"].as_u64().unwrap_or(0) < n {
        assert!(
            Instant::now() < deadline,
            "{action} x{n} never arrived: {}",
            proxy.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// An accept whose answer is lost (it happened; the retry or the re-read
/// finds it done) still runs the concurrent-overlap check.
#[tokio::test]
async fn an_accept_whose_answer_was_lost_still_checks_for_a_concurrent_overlap() {
    let emu = Emulator::shared();
    let twins = Twins::new(emu, 670_000_000_000).await;
    let proxy = FaultProxy::start(emu, 11);
    proxy.configure(&json!({
        "barrier": {"DescribeVpcPeeringConnections": 2},
        "rates": {"AcceptVpcPeeringConnection": {"fail_after_write": 1.0}},
    }));
    let via = emu.account_with(&proxy.endpoint, &twins.hub.id, once()).await;
    let config = twins.config("", &[0, 1]);
    let (a, b) = (via.context(&config).await, via.context(&config).await);
    let (low, high) = twins.ids();
    let (ra, rb) = tokio::join!(decide(&a, low), decide(&b, high));
    for r in [&ra, &rb] {
        assert_eq!(
            r.outcomes[0].result,
            peerlink::outcome::WriteResult::AlreadyDone,
            "the accept landed and its answer was lost: {r:#?}"
        );
    }
    assert_eq!(
        twins.statuses().await,
        ("active".into(), "deleted".into()),
        "the lowest id stays: {ra:#?}\n{rb:#?}"
    );
}

/// An invocation that accepted and could not check (it died, or its re-read
/// failed) leaves two overlapping peerings active: the next sweep finds them
/// and applies the same rule.
#[tokio::test]
async fn overlapping_peerings_left_active_by_invocations_that_could_not_check_are_found_by_the_next_sweep() {
    let emu = Emulator::shared();
    let twins = Twins::new(emu, 671_000_000_000).await;
    let proxy = FaultProxy::start(emu, 12);
    // Both read before either accepts; each accept is held a second, long
    // enough for the test to make every read after it fail.
    proxy.configure(&json!({
        "barrier": {"DescribeVpcPeeringConnections": 2},
        "slow_seconds": 1.0,
        "rates": {"AcceptVpcPeeringConnection": {"slow": 1.0}},
    }));
    let via = emu.account_with(&proxy.endpoint, &twins.hub.id, once()).await;
    let config = twins.config("", &[0, 1]);
    let (a, b) = (via.context(&config).await, via.context(&config).await);
    let (low, high) = twins.ids();
    let cut_off = async {
        arrived(&proxy, "AcceptVpcPeeringConnection", 2).await;
        proxy.configure(&json!({"rates": {"DescribeVpcPeeringConnections": {"error500": 1.0}}}));
    };
    let (ra, rb, ()) = tokio::join!(decide(&a, low), decide(&b, high), cut_off);
    assert_eq!(ra.failed, vec![low.to_string()], "its check could not run: {ra:#?}");
    assert_eq!(rb.failed, vec![high.to_string()], "its check could not run: {rb:#?}");
    assert_eq!(twins.statuses().await, ("active".into(), "active".into()));

    // The next sweep, with AWS answering again.
    proxy.configure(&json!({}));
    let sweep = twins.hub.context(&config).await;
    let report = accepter::handle(&sweep, &Event::Scheduled, Deadline::none())
        .await
        .unwrap();
    assert_eq!(report.undone, vec![high.to_string()], "{report:#?}");
    assert_eq!(twins.statuses().await, ("active".into(), "deleted".into()));
    // And nothing more after that.
    let again = accepter::handle(&sweep, &Event::Scheduled, Deadline::none())
        .await
        .unwrap();
    assert!(again.undone.is_empty() && again.failed.is_empty(), "{again:#?}");
}

/// Drift's sweep accepted a request at the same time as another invocation
/// accepted an overlapping one with a lower id, and deleted its own: the
/// same pass must not finish it (no route, no rule, no grant for it).
#[tokio::test]
async fn drift_never_finishes_a_peering_it_has_just_undone() {
    let emu = Emulator::shared();
    let twins = Twins::new(emu, 672_000_000_000).await;
    let (low, high) = twins.ids();
    let proxy = FaultProxy::start(emu, 13);
    // Both read before either accepts, and both accepts reach EC2 together:
    // each one's re-read then finds the other's acceptance (without the
    // second barrier, a slow machine could let drift re-read first, and the
    // undo would fall to the next sweep, which
    // `overlapping_peerings_left_active_by_invocations_that_could_not_check_are_found_by_the_next_sweep`
    // covers).
    proxy.configure(&json!({"barrier": {"DescribeVpcPeeringConnections": 2, "AcceptVpcPeeringConnection": 2}}));
    let via = emu.account_via(&proxy.endpoint, &twins.hub.id).await;
    // Drift knows only the higher one's entry (the other request stays
    // pending for it); the accepter knows the lower one's.
    let drift_ctx: Context = via
        .context(&twins.config("unmatched_requests = \"ignore\"", &[1]))
        .await;
    let accepter_ctx = via.context(&twins.config("", &[0])).await;
    let (d, r) = tokio::join!(
        drift::run(&drift_ctx, DriftMode::Remediate, Deadline::none()),
        decide(&accepter_ctx, low)
    );
    let d = d.unwrap();
    assert_eq!(r.accepted, vec![low.to_string()], "{r:#?}");
    assert_eq!(d.requests.undone, vec![high.to_string()], "{d:#?}");
    assert_eq!(twins.statuses().await, ("active".into(), "deleted".into()));
    let for_high: Vec<_> = d
        .reconcile
        .actions
        .iter()
        .filter(|a| a.planned.peering.as_deref() == Some(high))
        .map(|a| a.planned.action.kind())
        .collect();
    assert!(for_high.is_empty(), "drift finished what it undid: {for_high:?}");
    for t in twins.vpc.all_tables() {
        let routes = twins.hub.routes(&t).await;
        assert!(!routes.iter().any(|(_, target)| target == high), "{t}: {routes:?}");
    }
    let rules = twins.hub.rules(&twins.vpc.security_group, false).await;
    assert!(
        !rules
            .iter()
            .any(|r| r.4.as_deref() == Some(&format!("peerlink:{high}"))),
        "{rules:?}"
    );
}
