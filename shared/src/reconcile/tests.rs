//! A whole pass (observe → plan → apply) against the in-memory account:
//! idempotent apply, partial failures, the time budget. (The emulator tests
//! prove the AWS calls themselves.)

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::aws::memory::{Memory, accepter_world};
use crate::finding::FindingKind;
use crate::fixtures::{self, Entry, LOCAL_VPC, PEER, REGION, ROLE, SECRET, SG};
use crate::metrics::InvocationReport;
use crate::model::PeeringStatus;
use crate::outcome::WriteResult;
use crate::settings::Settings;

const PCX: &str = "pcx-00000000000000001";

/// An active peering to 10.1.0.0/16 and the context that finishes it.
fn active() -> (Arc<Memory>, Context) {
    let mut world = accepter_world(&["10.1.0.0/16"]);
    world.peerings[0].status = PeeringStatus::Active;
    let memory = Arc::new(Memory::new(world));
    let entry = Entry::new("orders", PEER, LOCAL_VPC, &["10.0.0.0/8"])
        .rule(SG, 5432)
        .secret(SECRET, &[ROLE]);
    let settings = Settings {
        policy_settle: Duration::ZERO,
        ..Settings::default()
    };
    let me = fixtures::me();
    let ctx = Context::new(memory.clone(), me, fixtures::config("", &[entry]), settings);
    (memory, ctx)
}

#[tokio::test]
async fn a_pass_finishes_the_peering_and_a_second_pass_writes_nothing() {
    let (memory, ctx) = active();
    let scope = Scope::Peerings(vec![PCX.into()]);
    let first = run(&ctx, scope.clone(), Mode::Apply, Deadline::none()).await.unwrap();
    assert_eq!(
        first.kinds(),
        vec![
            "merge-key-policy",
            "merge-secret-policy",
            "tag-group",
            "tag-key",
            "tag-secret",
            "authorize-rule",
            "create-route",
            "create-route",
            "enable-peering-dns",
            "tag-peering",
        ]
    );
    assert!(
        first.actions.iter().all(|a| a.result == WriteResult::Done),
        "{first:#?}"
    );
    {
        let w = memory.world();
        assert!(w.route_tables.iter().all(|t| t.routes.len() == 2));
        assert_eq!(
            w.groups[0].rules[0].description.as_deref(),
            Some("peerlink:pcx-00000000000000001")
        );
        assert!(w.peerings[0].accepter.allow_remote_dns);
        assert_eq!(
            w.peerings[0].tags.get("peerlink:dns:accepter").map(String::as_str),
            Some("on")
        );
        assert_eq!(
            w.peerings[0].tags.get("peerlink:routes:accepter").map(String::as_str),
            Some("*")
        );
    }
    ctx.calls().reset();
    let second = run(&ctx, scope, Mode::Apply, Deadline::none()).await.unwrap();
    assert!(second.actions.is_empty(), "{:#?}", second.actions);
    assert_eq!(ctx.calls().summary().writes, 0);
}

#[tokio::test]
async fn applying_the_same_actions_twice_counts_the_second_time_as_already_done() {
    let (_, ctx) = active();
    let obs = observe::observe(&ctx, &Scope::All).await.unwrap();
    let planned = plan::plan(&ctx.config, &obs).actions;
    let routes_and_rules: Vec<Planned> = planned
        .into_iter()
        .filter(|p| matches!(p.action, Action::CreateRoute { .. } | Action::AuthorizeRule { .. }))
        .collect();
    assert_eq!(routes_and_rules.len(), 3);
    let first = apply::apply(&ctx, routes_and_rules.clone(), Deadline::none()).await;
    assert!(first.iter().all(|o| o.result == WriteResult::Done));
    let second = apply::apply(&ctx, routes_and_rules, Deadline::none()).await;
    assert!(
        second.iter().all(|o| o.result == WriteResult::AlreadyDone),
        "{second:#?}"
    );
}

#[tokio::test]
async fn a_failing_write_fails_its_action_and_the_others_are_done() {
    let (memory, ctx) = active();
    memory.fail("CreateRoute", "RouteLimitExceeded");
    let report = run(&ctx, Scope::All, Mode::Apply, Deadline::none()).await.unwrap();
    let failed: Vec<&str> = report.failed().iter().map(|o| o.planned.action.kind()).collect();
    assert_eq!(failed, vec!["create-route", "create-route"]);
    assert_eq!(report.done(), report.actions.len() - 2);
    let failures = report.failures();
    assert!(failures[0].contains("RouteLimitExceeded"), "{failures:?}");
    assert_eq!(report.metrics()[2], ("RepairFailed", 2));
}

#[tokio::test]
async fn out_of_time_nothing_starts_and_everything_is_left_for_the_next_run() {
    let (_, ctx) = active();
    let report = run(&ctx, Scope::All, Mode::Apply, Deadline::within(Duration::ZERO))
        .await
        .unwrap();
    assert!(!report.actions.is_empty());
    assert!(report.actions.iter().all(|a| a.result == WriteResult::NotStarted));
    assert_eq!(ctx.calls().summary().writes, 0);
}

#[tokio::test]
async fn a_write_whose_turn_comes_after_the_deadline_is_left_and_the_others_are_done() {
    let (memory, ctx) = active();
    // EC2's CreateRoute bucket is drained: the next route would go in 100 s.
    memory.pace("CreateRoute", Duration::from_secs(100));
    let report = run(&ctx, Scope::All, Mode::Apply, Deadline::within(Duration::from_secs(60)))
        .await
        .unwrap();
    let left: Vec<&str> = report
        .actions
        .iter()
        .filter(|a| a.result == WriteResult::NotStarted)
        .map(|a| a.planned.action.kind())
        .collect();
    assert_eq!(left, vec!["create-route", "create-route"], "{report:#?}");
    assert!(report.failures().is_empty(), "not a failure: left for the continuation");
    assert_eq!(report.progress().left, 2);
    assert_eq!(report.progress().done, report.actions.len() - 2);
    assert_eq!(ctx.calls().summary().calls("CreateRoute"), 0);
    let finding = report
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::WorkLeft)
        .unwrap();
    assert!(finding.message.starts_with("2 of"), "{finding:?}");
}

#[tokio::test]
async fn plan_mode_writes_nothing_and_reports_every_action_pending() {
    let (_, ctx) = active();
    let report = run(&ctx, Scope::All, Mode::Plan, Deadline::none()).await.unwrap();
    assert!(!report.applied);
    assert_eq!(report.outstanding(), report.actions.len());
    assert!(report.actions.iter().all(|a| a.result == WriteResult::Planned));
    assert_eq!(ctx.calls().summary().writes, 0);
}

/// An entry that asks for a peering with the peer's VPC.
fn requesting(memory: &Arc<Memory>, at: u64) -> Context {
    let entry = Entry::new("reports", PEER, LOCAL_VPC, &["10.0.0.0/8"])
        .peer_vpc(crate::fixtures::PEER_VPC)
        .peer_region(REGION)
        .auto_accept(false)
        .line("request = true");
    let me = fixtures::me();
    let mut ctx = Context::new(memory.clone(), me, fixtures::config("", &[entry]), Settings::default());
    ctx.clock = crate::context::Clock::fixed(std::time::UNIX_EPOCH + Duration::from_secs(at));
    ctx
}

fn requests_made(memory: &Memory) -> Vec<(String, PeeringStatus)> {
    let w = memory.world();
    w.peerings
        .iter()
        .filter(|p| p.tags.get(crate::ownership::ENTRY_TAG).map(String::as_str) == Some("reports"))
        .map(|p| (p.id.clone(), p.status.clone()))
        .collect()
}

#[tokio::test]
async fn a_declared_request_is_made_once_and_again_only_after_the_retry_interval() {
    let memory = Arc::new(Memory::new(accepter_world(&[])));
    let t0 = 1_800_000_000;
    let ctx = requesting(&memory, t0);
    // Report mode lists it and makes nothing.
    let plan = run(&ctx, Scope::All, Mode::Plan, Deadline::none()).await.unwrap();
    assert_eq!(plan.kinds(), vec!["create-peering-request"]);
    assert!(requests_made(&memory).is_empty());
    // Remediate makes exactly one, tagged, and records the attempt on the VPC.
    let first = run(&ctx, Scope::All, Mode::Apply, Deadline::none()).await.unwrap();
    assert!(first.failed().is_empty(), "{first:#?}");
    assert!(first.metrics().contains(&("RequestsCreated", 1)));
    let made = requests_made(&memory);
    assert_eq!(made.len(), 1, "{made:?}");
    let tag = memory.world().vpcs[0].tags[&crate::ownership::request_tag("reports")].clone();
    assert_eq!(tag, format!("{} {t0}", made[0].0));
    // None while it is live.
    let again = run(&ctx, Scope::All, Mode::Apply, Deadline::none()).await.unwrap();
    assert!(!again.kinds().contains(&"create-peering-request"), "{again:#?}");
    // Rejected: nothing before the interval, with the reason; one new request after it.
    memory.world().peerings[0].status = PeeringStatus::Rejected;
    let early = requesting(&memory, t0 + 23 * 3600);
    let waiting = run(&early, Scope::All, Mode::Apply, Deadline::none()).await.unwrap();
    assert!(!waiting.kinds().contains(&"create-peering-request"), "{waiting:#?}");
    let why = waiting
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::RequestWaiting)
        .expect("says why");
    assert!(why.message.contains("was rejected"), "{}", why.message);
    let late = requesting(&memory, t0 + 24 * 3600);
    let retried = run(&late, Scope::All, Mode::Apply, Deadline::none()).await.unwrap();
    assert!(retried.failed().is_empty(), "{retried:#?}");
    assert_eq!(requests_made(&memory).len(), 2);
}

#[tokio::test]
async fn two_invocations_asking_at_once_leave_one_request() {
    let memory = Arc::new(Memory::new(accepter_world(&[])));
    let ctx = requesting(&memory, 1_800_000_000);
    // Both planned before either wrote.
    let obs = observe::observe(&ctx, &Scope::All).await.unwrap();
    let planned = plan::plan(&ctx.config, &obs).actions;
    apply::apply(&ctx, planned.clone(), Deadline::none()).await;
    apply::apply(&ctx, planned, Deadline::none()).await;
    let made = requests_made(&memory);
    assert_eq!(made.len(), 2);
    let live: Vec<&String> = made
        .iter()
        .filter(|(_, s)| *s == PeeringStatus::PendingAcceptance)
        .map(|(id, _)| id)
        .collect();
    assert_eq!(live, vec![&made[0].0], "the lowest id stays: {made:?}");
}

#[tokio::test]
async fn a_peering_requested_for_an_entry_that_stopped_asking_is_left_with_a_finding() {
    let memory = Arc::new(Memory::new(accepter_world(&[])));
    let ctx = requesting(&memory, 1_800_000_000);
    run(&ctx, Scope::All, Mode::Apply, Deadline::none()).await.unwrap();
    let entry = Entry::new("reports", PEER, LOCAL_VPC, &["10.0.0.0/8"]).peer_vpc(crate::fixtures::PEER_VPC);
    let stopped = Context {
        config: Arc::new(fixtures::config("", &[entry])),
        ..ctx.clone()
    };
    let report = run(&stopped, Scope::All, Mode::Apply, Deadline::none()).await.unwrap();
    assert!(
        report.findings.iter().any(|f| f.kind == FindingKind::NoLongerRequested),
        "{report:#?}"
    );
    assert_eq!(stopped.calls().summary().calls("DeleteVpcPeeringConnection"), 0);
    assert_eq!(requests_made(&memory)[0].1, PeeringStatus::PendingAcceptance);
}
