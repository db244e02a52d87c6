//! The accepter's orchestration against the in-memory account: which requests
//! are decided in what order, what is written, what a failure or an expired
//! budget leaves behind. (The emulator tests prove the AWS calls themselves.)

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::aws::memory::{Memory, accepter_world};
use crate::decision::Approval;
use crate::events::{ACCEPTED_DETAIL_TYPE, REJECTED_DETAIL_TYPE};
use crate::fixtures::{self, Entry, LOCAL_VPC, ME, PEER, REGION};
use crate::outcome::WriteResult;
use crate::ownership::ACCEPTED_TAG;
use crate::settings::Settings;

fn context(memory: &Arc<Memory>, entry: Entry, settings: Settings) -> Context {
    let me = fixtures::me();
    Context::new(memory.clone(), me, fixtures::config("", &[entry]), settings)
}

fn entry() -> Entry {
    Entry::new("orders", PEER, LOCAL_VPC, &["10.0.0.0/8"])
}

fn status(memory: &Memory, id: &str) -> PeeringStatus {
    let w = memory.world();
    w.peerings.iter().find(|p| p.id == id).expect("peering").status.clone()
}

#[tokio::test]
async fn a_sweep_decides_in_id_order_and_never_accepts_two_overlapping_requests() {
    // Three requests: two with the same block, one elsewhere.
    let memory = Arc::new(Memory::new(accepter_world(&[
        "10.1.0.0/16",
        "10.1.0.0/16",
        "10.2.0.0/16",
    ])));
    let ctx = context(&memory, entry(), Settings::default());
    let report = handle(&ctx, &Event::Scheduled, Deadline::none()).await.unwrap();
    assert_eq!(report.accepted, vec!["pcx-00000000000000001", "pcx-00000000000000003"]);
    assert_eq!(report.rejected, vec!["pcx-00000000000000002"]);
    let second = &report.outcomes[1].decision;
    assert!(second.reason.contains("pcx-00000000000000001"), "{}", second.reason);
    assert_eq!(status(&memory, "pcx-00000000000000002"), PeeringStatus::Rejected);
    // One round of reads (peerings and the configured VPC), one write per
    // decision, and one re-read of the peerings after accepting (to undo a
    // concurrent overlapping acceptance). Three tags: request 1 could race
    // with request 2 (pending too), so it is tagged `pending-check` before
    // accepting; both accepted ones are marked `checked` after.
    let calls = ctx.calls().summary();
    assert_eq!((calls.reads, calls.writes), (3, 6), "{calls:?}");
    assert_eq!(calls.calls("CreateTags"), 3, "{calls:?}");
    let tag = |id: &str| {
        memory
            .world()
            .peerings
            .iter()
            .find(|p| p.id == id)
            .unwrap()
            .tags
            .get(ACCEPTED_TAG)
            .cloned()
    };
    assert_eq!(tag("pcx-00000000000000001").as_deref(), Some("checked"));
    assert_eq!(tag("pcx-00000000000000003").as_deref(), Some("checked"));
    assert_eq!(tag("pcx-00000000000000002"), None);
}

#[tokio::test]
async fn a_second_sweep_writes_nothing() {
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16"])));
    let ctx = context(&memory, entry(), Settings::default());
    handle(&ctx, &Event::Scheduled, Deadline::none()).await.unwrap();
    ctx.calls().reset();
    let again = handle(&ctx, &Event::Scheduled, Deadline::none()).await.unwrap();
    assert!(again.outcomes.is_empty(), "{again:?}");
    assert_eq!(ctx.calls().summary().writes, 0);
}

#[tokio::test]
async fn report_mode_decides_and_writes_nothing() {
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16"])));
    let ctx = context(&memory, entry(), Settings::default());
    let snapshot = Snapshot::read(&ctx).await.unwrap();
    let report = sweep(&ctx, &snapshot, Mode::Plan, Deadline::none()).await.unwrap();
    assert!(!report.executed);
    assert_eq!(report.outcomes[0].result, WriteResult::Planned);
    assert_eq!(report.accepted, vec!["pcx-00000000000000001"]);
    assert_eq!(ctx.calls().summary().writes, 0);
    assert_eq!(
        status(&memory, "pcx-00000000000000001"),
        PeeringStatus::PendingAcceptance
    );
}

#[tokio::test]
async fn an_expired_budget_starts_no_write_and_leaves_the_request_for_the_next_run() {
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16"])));
    let ctx = context(&memory, entry(), Settings::default());
    let report = handle(&ctx, &Event::Scheduled, Deadline::within(Duration::ZERO))
        .await
        .unwrap();
    assert_eq!(report.outcomes[0].result, WriteResult::NotStarted);
    assert_eq!(report.not_started, vec!["pcx-00000000000000001"]);
    assert!(report.failed.is_empty() && report.failures().is_empty());
    assert_eq!(report.progress(), Progress { done: 0, left: 1 });
    assert_eq!(ctx.calls().summary().writes, 0);
}

#[tokio::test]
async fn a_failed_accept_is_a_failure_unless_another_run_got_there_first() {
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16", "10.2.0.0/16"])));
    memory.fail("AcceptVpcPeeringConnection", "InternalError");
    // The other run: request 2 is already active when our accept fails.
    let ctx = context(&memory, entry(), Settings::default());
    let snapshot = Snapshot::read(&ctx).await.unwrap();
    memory.world().peerings[1].status = PeeringStatus::Active;
    let report = sweep(&ctx, &snapshot, Mode::Apply, Deadline::none()).await.unwrap();
    let results: Vec<&WriteResult> = report.outcomes.iter().map(|o| &o.result).collect();
    assert!(
        matches!(results[0], WriteResult::Failed(e) if e.contains("InternalError")),
        "{results:?}"
    );
    assert_eq!(results[1], &WriteResult::AlreadyDone);
    assert_eq!(report.failed, vec!["pcx-00000000000000001"]);
    assert_eq!(report.accepted, vec!["pcx-00000000000000002"]);
}

#[tokio::test]
async fn every_decision_is_announced_for_its_requester_with_the_reason_of_a_rejection() {
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16", "192.168.0.0/16"])));
    let settings = Settings {
        event_bus: Some("peerlink-bus".into()),
        ..Settings::default()
    };
    let ctx = context(&memory, entry(), settings);
    handle(&ctx, &Event::Scheduled, Deadline::none()).await.unwrap();
    let mut events = memory.world().events.clone();
    events.sort_by(|a, b| a.2["peeringId"].as_str().cmp(&b.2["peeringId"].as_str()));
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0].0, "peerlink-bus");
    assert_eq!(events[0].1, ACCEPTED_DETAIL_TYPE);
    assert_eq!(events[0].2["peeringId"], "pcx-00000000000000001");
    assert_eq!(events[0].2["requesterAccount"], PEER);
    assert_eq!(events[1].1, REJECTED_DETAIL_TYPE);
    assert_eq!(events[1].2["decision"], "reject");
    assert_eq!(events[1].2["entry"], "orders");
    assert!(
        events[1].2["reason"].as_str().unwrap().contains("192.168.0.0/16"),
        "{events:?}"
    );
    // The event a peer's finisher will parse.
    let envelope = serde_json::json!({
        "version": "0", "id": "x", "detail-type": events[1].1, "source": "peerlink",
        "account": ME, "time": "2026-11-25T10:00:00Z", "region": REGION, "resources": [],
        "detail": events[1].2,
    });
    assert!(matches!(
        crate::events::parse(&envelope).unwrap(),
        Event::Decided {
            announced: crate::events::Announced::Rejected { .. },
            ..
        }
    ));
}

#[tokio::test]
async fn an_event_for_a_peering_ec2_does_not_know_is_an_error_and_writes_nothing() {
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16"])));
    let ctx = context(&memory, entry(), Settings::default());
    let event = Event::ApiCall {
        name: "CreateVpcPeeringConnection".into(),
        subject: Subject::Peering("pcx-0fffffffffffffff0".parse().unwrap()),
        account: Some(ME.into()),
    };
    let err = handle(&ctx, &event, Deadline::none()).await.unwrap_err();
    assert!(err.to_string().contains("was not found"), "{err}");
    assert_eq!(ctx.calls().summary().writes, 0);
}

/// Two invocations decide two overlapping requests at once: each read both
/// pending. Whichever order their writes land in, the lower id stays.
#[tokio::test]
async fn concurrent_overlapping_acceptances_keep_the_lowest_id() {
    let (x, y) = ("pcx-00000000000000001", "pcx-00000000000000002");
    for (ours, theirs) in [(x, y), (y, x)] {
        let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16", "10.1.0.0/16"])));
        let ctx = context(&memory, entry(), Settings::default());
        let snapshot = Snapshot::read(&ctx).await.unwrap();
        // The other invocation accepts its request after we read, before we re-read.
        memory
            .world()
            .peerings
            .iter_mut()
            .find(|p| p.id == theirs)
            .unwrap()
            .status = PeeringStatus::Active;
        let event = Event::ApiCall {
            name: "CreateVpcPeeringConnection".into(),
            subject: Subject::Peering(ours.parse().unwrap()),
            account: Some(PEER.into()),
        };
        let report = run(
            &ctx,
            &snapshot,
            Which::Peering(ours),
            Approval::Automatic,
            Mode::Apply,
            event.label(),
            Deadline::none(),
        )
        .await;
        assert_eq!(report.accepted, vec![ours], "{report:#?}");
        assert_eq!(report.undone, vec![y], "{report:#?}");
        assert_eq!(status(&memory, x), PeeringStatus::Active);
        assert_eq!(status(&memory, y), PeeringStatus::Deleted);
        assert!(report.metrics().contains(&("ConcurrentAcceptsUndone", 1)));
    }
}

/// A peering that was already established when the request was decided is
/// never deleted (the check refused to overlap it); only concurrent ones are.
#[tokio::test]
async fn an_established_peering_is_never_undone() {
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16", "10.2.0.0/16"])));
    let ctx = context(&memory, entry(), Settings::default());
    // Request 1 is active already; request 2 grew into its range after the check.
    memory.world().peerings[0].status = PeeringStatus::Active;
    let snapshot = Snapshot::read(&ctx).await.unwrap();
    memory.world().peerings[1]
        .requester
        .cidrs
        .push("10.1.0.0/24".parse().unwrap());
    let report = sweep(&ctx, &snapshot, Mode::Apply, Deadline::none()).await.unwrap();
    assert_eq!(report.accepted, vec!["pcx-00000000000000002"]);
    assert!(report.undone.is_empty(), "{report:#?}");
    assert_eq!(status(&memory, "pcx-00000000000000001"), PeeringStatus::Active);
}

/// An accept whose answer was lost (it happened: the re-read finds it
/// active) is checked for a concurrent overlapping acceptance all the same.
#[tokio::test]
async fn an_accept_found_already_done_is_checked_for_a_concurrent_overlap() {
    let (x, y) = ("pcx-00000000000000001", "pcx-00000000000000002");
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16", "10.1.0.0/16"])));
    let ctx = context(&memory, entry(), Settings::default());
    let snapshot = Snapshot::read(&ctx).await.unwrap();
    // Both landed (ours and the other invocation's); our answer was lost.
    for p in memory.world().peerings.iter_mut() {
        p.status = PeeringStatus::Active;
    }
    memory.fail("AcceptVpcPeeringConnection", "InternalError");
    let event = Event::ApiCall {
        name: "CreateVpcPeeringConnection".into(),
        subject: Subject::Peering(y.parse().unwrap()),
        account: Some(PEER.into()),
    };
    let report = run(
        &ctx,
        &snapshot,
        Which::Peering(y),
        Approval::Automatic,
        Mode::Apply,
        event.label(),
        Deadline::none(),
    )
    .await;
    assert_eq!(report.outcomes[0].result, WriteResult::AlreadyDone);
    assert_eq!(report.undone, vec![y], "{report:#?}");
    assert_eq!(status(&memory, x), PeeringStatus::Active);
}

/// Two overlapping peerings accepted by invocations that died before their
/// check: the sweep finds them by their `pending-check` tags and keeps the
/// lowest id. A peering whose tag names no established overlapping one is
/// only marked checked; one established before it is never touched.
#[tokio::test]
async fn the_sweep_checks_in_place_of_invocations_that_could_not() {
    let (x, y, z) = (
        "pcx-00000000000000001",
        "pcx-00000000000000002",
        "pcx-00000000000000003",
    );
    let memory = Arc::new(Memory::new(accepter_world(&[
        "10.1.0.0/16",
        "10.1.0.0/16",
        "10.1.0.0/16",
    ])));
    {
        let mut w = memory.world();
        for p in w.peerings.iter_mut() {
            p.status = PeeringStatus::Active;
        }
        // x was established before; y and z raced each other and died.
        w.peerings[1]
            .tags
            .insert(ACCEPTED_TAG.into(), format!("pending-check {z}"));
        w.peerings[2]
            .tags
            .insert(ACCEPTED_TAG.into(), format!("pending-check {y}"));
    }
    let ctx = context(&memory, entry(), Settings::default());
    let report = handle(&ctx, &Event::Scheduled, Deadline::none()).await.unwrap();
    assert_eq!(report.undone, vec![z], "{report:#?}");
    assert_eq!(
        status(&memory, x),
        PeeringStatus::Active,
        "established before: never undone"
    );
    assert_eq!(status(&memory, y), PeeringStatus::Active);
    let tag = memory.world().peerings[1].tags.get(ACCEPTED_TAG).cloned();
    assert_eq!(tag.as_deref(), Some("checked"));
    // Report mode names them and deletes nothing.
    let memory = Arc::new(Memory::new(accepter_world(&["10.1.0.0/16", "10.1.0.0/16"])));
    {
        let mut w = memory.world();
        for p in w.peerings.iter_mut() {
            p.status = PeeringStatus::Active;
            p.tags.insert(
                ACCEPTED_TAG.into(),
                "pending-check pcx-00000000000000001 pcx-00000000000000002".into(),
            );
        }
    }
    let ctx = context(&memory, entry(), Settings::default());
    let snapshot = Snapshot::read(&ctx).await.unwrap();
    let report = sweep(&ctx, &snapshot, Mode::Plan, Deadline::none()).await.unwrap();
    assert!(report.undone.is_empty());
    assert!(report.note.as_deref().unwrap_or("").contains(y), "{report:#?}");
    assert_eq!(ctx.calls().summary().writes, 0);
}
