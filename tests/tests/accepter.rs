//! The accepter against the emulator: two and more accounts, real requests.
//! Every test runs twice: with the emulator describing a pending request as
//! the EC2 API reference documents (the requester's primary block only,
//! `omitted::…`), and listing the requester's whole block set (`listed::…`).

use peerlink::accepter::{self, AccepterReport};
use peerlink::decision::Verdict;
use peerlink::events::{self, Event};
use peerlink::finding::FindingKind;
use peerlink::fixtures::{self, Entry};
use peerlink::settings::Settings;
use peerlink::{Context, Deadline, Error};
use peerlink_tests::{
    Account, Emulator, EventCapture, PendingBlocks, TestVpc, create_event, create_event_in, finish, scheduled_event,
};

/// Each test body, run against both emulators.
macro_rules! both_ways {
    ($($name:ident),* $(,)?) => {
        mod listed {
            $(#[tokio::test]
            async fn $name() {
                super::$name(peerlink_tests::Emulator::shared_with(peerlink_tests::PendingBlocks::Listed)).await
            })*
        }
        mod omitted {
            $(#[tokio::test]
            async fn $name() {
                super::$name(peerlink_tests::Emulator::shared_with(peerlink_tests::PendingBlocks::Omitted)).await
            })*
        }
    };
}

both_ways!(
    an_allowed_request_ends_active_in_both_accounts,
    the_same_event_twice_changes_nothing_the_second_time,
    hostile_requests_are_rejected_or_left_pending,
    a_sweep_handles_thirty_mixed_requests_with_one_describe,
    malformed_events_fail_clearly_and_write_nothing,
    a_failed_create_call_is_a_no_op,
    the_peering_quota_is_checked_before_accepting,
    a_requester_learns_only_about_its_own_request,
);

fn config(requester: &Account, requester_vpc: Option<&str>, local_vpc: &str, settings: &str) -> String {
    let mut entry = Entry::new("orders", &requester.id, local_vpc, &["10.0.0.0/15"]);
    if let Some(vpc) = requester_vpc {
        entry = entry.peer_vpc(vpc);
    }
    fixtures::document(settings, &[entry])
}

async fn on_event(ctx: &Context, event: serde_json::Value) -> Result<AccepterReport, Error> {
    let parsed = events::parse(&event)?;
    accepter::handle(ctx, &parsed, Deadline::none()).await
}

struct Pair {
    requester: Account,
    accepter: Account,
    requester_vpc: TestVpc,
    accepter_vpc: TestVpc,
}

async fn pair(emu: &Emulator, requester_cidrs: &[&str], accepter_cidrs: &[&str]) -> Pair {
    let requester = emu.fresh_account().await;
    let accepter = emu.fresh_account().await;
    let requester_vpc = requester.vpc(requester_cidrs, 2).await;
    let accepter_vpc = accepter.vpc(accepter_cidrs, 2).await;
    Pair {
        requester,
        accepter,
        requester_vpc,
        accepter_vpc,
    }
}

async fn an_allowed_request_ends_active_in_both_accounts(emu: &Emulator) {
    let p = pair(emu, &["10.0.0.0/16", "10.1.0.0/16"], &["10.8.0.0/16"]).await;
    let ctx = p
        .accepter
        .context(&config(&p.requester, Some(&p.requester_vpc.id), &p.accepter_vpc.id, ""))
        .await;
    let pcx = p
        .requester
        .request_peering(&p.requester_vpc.id, &p.accepter.id, &p.accepter_vpc.id, None)
        .await;
    let report = on_event(&ctx, create_event(&pcx)).await.unwrap();
    assert_eq!(report.accepted, vec![pcx.clone()], "{report:#?}");
    let reason = &report.outcomes[0].decision.reason;
    match emu.pending_blocks {
        PendingBlocks::Listed => assert!(reason.contains("10.1.0.0/16"), "secondary CIDR checked: {reason}"),
        PendingBlocks::Omitted => assert!(reason.contains("checked once the peering is active"), "{reason}"),
    }
    assert_eq!(p.accepter.peering_status(&pcx).await, "active");
    assert_eq!(p.requester.peering_status(&pcx).await, "active");
    let calls = ctx.calls().summary();
    assert_eq!(calls.calls("AcceptVpcPeeringConnection"), 1);
    // The accept, and our mark on the peering (accepted by peerlink, checked).
    assert_eq!(calls.calls("CreateTags"), 1, "{calls:?}");
    assert_eq!(calls.writes, 2, "{calls:?}");
}

async fn the_same_event_twice_changes_nothing_the_second_time(emu: &Emulator) {
    let p = pair(emu, &["10.0.0.0/16"], &["10.8.0.0/16"]).await;
    let ctx = p
        .accepter
        .context(&config(&p.requester, None, &p.accepter_vpc.id, ""))
        .await;
    let pcx = p
        .requester
        .request_peering(&p.requester_vpc.id, &p.accepter.id, &p.accepter_vpc.id, None)
        .await;
    on_event(&ctx, create_event(&pcx)).await.unwrap();
    ctx.calls().reset();
    let second = on_event(&ctx, create_event(&pcx)).await.unwrap();
    assert_eq!(second.skipped, vec![pcx.clone()]);
    assert!(second.outcomes[0].decision.reason.contains("the peering is active"));
    assert_eq!(ctx.calls().summary().writes, 0);
    assert_eq!(p.accepter.peering_status(&pcx).await, "active");
}

/// Every hostile kind ends `rejected` (or stays pending in `ignore` mode), and
/// the reason names the problem. A block EC2 does not list while the request
/// is pending (a secondary one) cannot be refused then: the request is
/// accepted on what is known, and the block gets no route or rule.
async fn hostile_requests_are_rejected_or_left_pending(emu: &Emulator) {
    let blocks_listed = emu.pending_blocks == PendingBlocks::Listed;
    for mode in ["reject", "ignore"] {
        let listed = emu.fresh_account().await;
        let stranger = emu.fresh_account().await;
        let accepter = emu.fresh_account().await;
        let local = accepter.vpc(&["10.8.0.0/16", "10.9.0.0/16"], 1).await;
        let listed_vpc = listed.vpc(&["10.0.0.0/16"], 1).await;
        let ctx = accepter
            .context(&config(
                &listed,
                Some(&listed_vpc.id),
                &local.id,
                &format!("unmatched_requests = \"{mode}\""),
            ))
            .await;

        // An existing active peer of the local VPC with 10.1.0.0/16.
        let other = emu.fresh_account().await;
        let other_vpc = other.vpc(&["10.1.0.0/16"], 1).await;
        let existing = other
            .request_peering(&other_vpc.id, &accepter.id, &local.id, None)
            .await;
        accepter.accept(&existing).await;

        let mut cases: Vec<(String, &str)> = Vec::new();
        let vpc = stranger.vpc(&["10.0.0.0/16"], 1).await;
        cases.push((
            stranger.request_peering(&vpc.id, &accepter.id, &local.id, None).await,
            "not in the allowlist",
        ));
        let vpc = listed.vpc(&["10.0.0.0/16"], 1).await;
        cases.push((
            listed.request_peering(&vpc.id, &accepter.id, &local.id, None).await,
            "is not listed",
        ));

        // The listed VPC, with blocks that are out of range or overlap.
        let entry_ctx = |vpc: &TestVpc| {
            config(
                &listed,
                Some(&vpc.id),
                &local.id,
                &format!("unmatched_requests = \"{mode}\""),
            )
        };
        let mut specific = Vec::new();
        // The listed VPC id, but the VPC lives in another region than the entry allows.
        let east = emu.account_in(&listed.id, "us-east-1").await;
        let vpc = east.vpc(&["10.0.0.0/16"], 1).await;
        let pcx = east
            .request_peering(&vpc.id, &accepter.id, &local.id, Some("eu-west-1"))
            .await;
        specific.push((vpc, pcx, "peer region us-east-1 is not allowed"));
        // Bad secondary blocks (each VPC with a primary block of its own):
        // the bad block, and why.
        let mut secondary = Vec::new();
        for (cidrs, bad, why) in [
            (
                vec!["10.0.0.0/20", "172.16.0.0/16"],
                "172.16.0.0/16",
                "172.16.0.0/16 lie outside",
            ),
            (vec!["10.0.16.0/20", "ipv6"], "::/", "lie outside"),
            (vec!["10.0.32.0/20", "10.1.0.0/16"], "10.1.0.0/16", "already reachable"),
        ] {
            let vpc = listed.vpc(&cidrs, 1).await;
            let pcx = listed.request_peering(&vpc.id, &accepter.id, &local.id, None).await;
            secondary.push((vpc, pcx, bad, why));
        }
        // Overlap with the local VPC needs a range the entry allows: widen it.
        let wide = emu.fresh_account().await;
        let vpc = wide.vpc(&["10.8.0.0/16"], 1).await;
        let overlap_primary = wide.request_peering(&vpc.id, &accepter.id, &local.id, None).await;
        let vpc2 = wide.vpc(&["10.5.0.0/16", "10.9.128.0/17"], 1).await;
        let overlap_secondary = wide.request_peering(&vpc2.id, &accepter.id, &local.id, None).await;
        let wide_cfg = format!(
            "[settings]\nunmatched_requests = \"{mode}\"\n\n[[peer]]\nname = \"wide\"\npeer_account = \"{}\"\nallowed_cidrs = [\"10.0.0.0/8\"]\nlocal_vpc = \"{}\"\nauto_accept = true\n",
            wide.id, local.id
        );

        let expected_status = if mode == "reject" {
            "rejected"
        } else {
            "pending-acceptance"
        };
        let expected_verdict = if mode == "reject" {
            Verdict::Reject
        } else {
            Verdict::LeavePending
        };
        let check = |report: &AccepterReport, pcx: &str, why: &str| {
            let o = report
                .outcomes
                .iter()
                .find(|o| o.decision.peering_id == pcx)
                .expect("decision");
            assert_eq!(o.decision.verdict, expected_verdict, "{mode}: {}", o.decision.reason);
            assert!(
                o.decision.reason.contains(why),
                "{mode}: expected {why:?} in {:?}",
                o.decision.reason
            );
        };
        for (pcx, why) in &cases {
            let report = on_event(&ctx, create_event(pcx)).await.unwrap();
            check(&report, pcx, why);
            assert_eq!(accepter.peering_status(pcx).await, expected_status);
        }
        for (vpc, pcx, why) in &specific {
            let c = accepter.context(&entry_ctx(vpc)).await;
            let report = on_event(&c, create_event(pcx)).await.unwrap();
            check(&report, pcx, why);
            assert_eq!(accepter.peering_status(pcx).await, expected_status);
        }
        let c = accepter.context(&wide_cfg).await;
        let report = on_event(&c, create_event(&overlap_primary)).await.unwrap();
        check(&report, &overlap_primary, "overlaps 10.8.0.0/16 of the local VPC");
        assert_eq!(accepter.peering_status(&overlap_primary).await, expected_status);
        let mut secondary: Vec<(String, String, &str, &str)> = secondary
            .into_iter()
            .map(|(vpc, pcx, bad, why)| (entry_ctx(&vpc), pcx, bad, why))
            .collect();
        secondary.push((
            wide_cfg.clone(),
            overlap_secondary.clone(),
            "10.9.128.0/17",
            "overlaps 10.9.0.0/16",
        ));
        for (cfg, pcx, bad, why) in &secondary {
            let c = accepter.context(cfg).await;
            let report = on_event(&c, create_event(pcx)).await.unwrap();
            if blocks_listed {
                check(&report, pcx, why);
                assert_eq!(accepter.peering_status(pcx).await, expected_status);
                continue;
            }
            // Only the primary block is known: accepted on it, the bad block
            // is never routed, and it is reported.
            assert_eq!(report.accepted, vec![pcx.clone()], "{report:#?}");
            let finished = finish(&c, serde_json::json!({ "reconcile": pcx })).await;
            assert!(finished.failed().is_empty(), "{finished:#?}");
            let routed: Vec<String> = {
                let mut r = Vec::new();
                for t in local.all_tables() {
                    r.extend(
                        accepter
                            .routes(&t)
                            .await
                            .into_iter()
                            .filter(|(_, target)| target == pcx)
                            .map(|(d, _)| d),
                    );
                }
                r
            };
            assert!(!routed.is_empty(), "the primary block is routed: {finished:#?}");
            assert!(
                routed.iter().all(|d| d.starts_with("10.0.") || d.starts_with("10.5.")),
                "only the primary block is routed: {routed:?}"
            );
            let refused: Vec<&str> = finished
                .findings
                .iter()
                .filter(|f| {
                    matches!(f.kind, FindingKind::CidrNotAllowed | FindingKind::OverlapConflict)
                        && f.peering.as_deref() == Some(pcx.as_str())
                })
                .map(|f| f.message.as_str())
                .collect();
            assert!(
                !refused.is_empty() && refused.iter().any(|m| m.contains(bad)),
                "the bad block {bad} is reported: {finished:#?}"
            );
        }
        assert_eq!(accepter.peering_status(&existing).await, "active");
    }
}

/// A sweep reads every request with one Describe page and writes once per
/// decision; two requests with the same range are never both accepted.
async fn a_sweep_handles_thirty_mixed_requests_with_one_describe(emu: &Emulator) {
    let listed = emu.fresh_account().await;
    let stranger = emu.fresh_account().await;
    let accepter = emu.fresh_account().await;
    let local = accepter.vpc(&["10.8.0.0/16"], 1).await;
    let cfg = format!(
        "[[peer]]\nname = \"fleet\"\npeer_account = \"{}\"\nallowed_cidrs = [\"10.0.0.0/16\"]\nlocal_vpc = \"{}\"\nauto_accept = true\n",
        listed.id, local.id
    );
    let ctx = accepter.context(&cfg).await;
    let mut expect_accept = Vec::new();
    let mut expect_reject = Vec::new();
    for i in 0..12 {
        let vpc = listed.vpc(&[&format!("10.0.{}.0/24", i * 4)], 0).await;
        expect_accept.push(listed.request_peering(&vpc.id, &accepter.id, &local.id, None).await);
    }
    for _ in 0..8 {
        let vpc = stranger.vpc(&["10.0.200.0/24"], 0).await;
        expect_reject.push(stranger.request_peering(&vpc.id, &accepter.id, &local.id, None).await);
    }
    for _ in 0..6 {
        let vpc = listed.vpc(&["192.168.0.0/24"], 0).await;
        expect_reject.push(listed.request_peering(&vpc.id, &accepter.id, &local.id, None).await);
    }
    for _ in 0..4 {
        let vpc = listed.vpc(&["10.8.1.0/24"], 0).await;
        expect_reject.push(listed.request_peering(&vpc.id, &accepter.id, &local.id, None).await);
    }
    // Requests this account made itself are left alone.
    let mine = accepter.vpc(&["10.20.0.0/16"], 0).await;
    let outgoing_vpc = listed.vpc(&["10.0.250.0/24"], 0).await;
    let outgoing = accepter
        .request_peering(&mine.id, &listed.id, &outgoing_vpc.id, None)
        .await;

    // Two requests with the same range in one batch: only one may win.
    let twin_a = listed.vpc(&["10.0.100.0/24"], 0).await;
    let twin_b = listed.vpc(&["10.0.100.0/24"], 0).await;
    let twins = [
        listed.request_peering(&twin_a.id, &accepter.id, &local.id, None).await,
        listed.request_peering(&twin_b.id, &accepter.id, &local.id, None).await,
    ];

    let report = on_event(&ctx, scheduled_event()).await.unwrap();
    assert_eq!(report.outcomes.len(), 32, "{report:#?}");
    for pcx in &expect_accept {
        assert!(report.accepted.contains(pcx), "{pcx} should be accepted");
        assert_eq!(accepter.peering_status(pcx).await, "active");
    }
    for pcx in &expect_reject {
        assert!(report.rejected.contains(pcx), "{pcx} should be rejected");
        assert_eq!(accepter.peering_status(pcx).await, "rejected");
    }
    let twin_outcomes: Vec<Verdict> = twins
        .iter()
        .map(|t| {
            report
                .outcomes
                .iter()
                .find(|o| &o.decision.peering_id == t)
                .unwrap()
                .decision
                .verdict
        })
        .collect();
    assert!(
        twin_outcomes.contains(&Verdict::Accept) && twin_outcomes.contains(&Verdict::Reject),
        "{twin_outcomes:?}"
    );
    assert_eq!(accepter.peering_status(&outgoing).await, "pending-acceptance");

    let calls = ctx.calls().summary();
    println!("sweep of 32 requests: {calls:?}");
    assert_eq!(
        calls.calls("DescribeVpcPeeringConnections"),
        2,
        "one Describe page for the whole batch, one after accepting (concurrent overlapping acceptances)"
    );
    assert_eq!(calls.calls("DescribeVpcs"), 1);
    assert_eq!(calls.calls("AcceptVpcPeeringConnection"), 13);
    assert_eq!(calls.calls("RejectVpcPeeringConnection"), 19);
    // Tags: every accepted one marked checked, and before accepting, the
    // ones that could race with another pending request tagged
    // `pending-check`: the accepted twin when EC2 lists every block; every
    // accepted one when it lists only primary blocks (any could overlap).
    let pending_checks = if emu.pending_blocks == PendingBlocks::Listed {
        1
    } else {
        13
    };
    assert_eq!(calls.calls("CreateTags"), 13 + pending_checks, "{calls:?}");
    assert_eq!(
        calls.writes,
        32 + 13 + pending_checks,
        "one write per decision, and the tags"
    );
}

async fn malformed_events_fail_clearly_and_write_nothing(emu: &Emulator) {
    let p = pair(emu, &["10.0.0.0/16"], &["10.8.0.0/16"]).await;
    let ctx = p
        .accepter
        .context(&config(&p.requester, None, &p.accepter_vpc.id, ""))
        .await;
    let pcx = p
        .requester
        .request_peering(&p.requester_vpc.id, &p.accepter.id, &p.accepter_vpc.id, None)
        .await;
    let mut missing = create_event(&pcx);
    missing["detail"]["responseElements"] = serde_json::Value::Null;
    let mut wrong_type = create_event(&pcx);
    wrong_type["detail"]["responseElements"]["vpcPeeringConnection"]["vpcPeeringConnectionId"] = 12.into();
    let mut unknown = scheduled_event();
    unknown["detail-type"] = "EC2 Instance State-change Notification".into();
    unknown["source"] = "aws.ec2".into();
    let mut other_call = create_event(&pcx);
    other_call["detail"]["eventName"] = "CreateRoute".into();
    other_call["detail"]["requestParameters"] = serde_json::json!({"routeTableId": p.accepter_vpc.main_table});
    // Recorded in this account, naming a peering that does not exist.
    let unknown_here = create_event_in("pcx-0000000000000000f", &p.accepter.id);
    let cases = [
        (missing, "no peering id"),
        (wrong_type, "must be a string"),
        (unknown, "unsupported event"),
        (other_call, "the accepter handles"),
        (unknown_here, "was not found in account"),
        (serde_json::json!("hello"), "JSON object"),
    ];
    for (event, expected) in cases {
        let err = on_event(&ctx, event).await.expect_err(expected).to_string();
        assert!(err.contains(expected), "expected {expected:?} in {err:?}");
    }
    let calls = ctx.calls().summary();
    assert_eq!(calls.writes, 0, "{calls:?}");
    assert_eq!(p.accepter.peering_status(&pcx).await, "pending-acceptance");
}

async fn a_failed_create_call_is_a_no_op(emu: &Emulator) {
    let p = pair(emu, &["10.0.0.0/16"], &["10.8.0.0/16"]).await;
    let ctx = p
        .accepter
        .context(&config(&p.requester, None, &p.accepter_vpc.id, ""))
        .await;
    ctx.calls().reset();
    let mut event = create_event("pcx-0123456789abcdef0");
    event["detail"]["errorCode"] = "Client.InvalidVpcID.NotFound".into();
    let parsed = events::parse(&event).unwrap();
    assert!(matches!(parsed, Event::FailedApiCall { .. }));
    let report = accepter::handle(&ctx, &parsed, Deadline::none()).await.unwrap();
    assert!(report.note.unwrap().contains("nothing to decide"));
    assert_eq!(ctx.calls().summary().reads + ctx.calls().summary().writes, 0);
}

/// `settings.active_peerings_per_vpc` is a quota AWS enforces only by
/// failing: it is checked before accepting, and a request over it is left
/// pending with that reason (requests accepted earlier in the same sweep count).
async fn the_peering_quota_is_checked_before_accepting(emu: &Emulator) {
    let requester = emu.fresh_account().await;
    let accepter = emu.fresh_account().await;
    let local = accepter.vpc(&["10.8.0.0/16"], 0).await;
    let existing_vpc = requester.vpc(&["10.0.0.0/20"], 0).await;
    let existing = requester
        .request_peering(&existing_vpc.id, &accepter.id, &local.id, None)
        .await;
    accepter.accept(&existing).await;
    let mut requests = Vec::new();
    for block in ["10.0.16.0/20", "10.0.32.0/20"] {
        let vpc = requester.vpc(&[block], 0).await;
        requests.push(requester.request_peering(&vpc.id, &accepter.id, &local.id, None).await);
    }
    requests.sort();
    let ctx = accepter
        .context(&config(&requester, None, &local.id, "active_peerings_per_vpc = 2"))
        .await;
    let report = on_event(&ctx, scheduled_event()).await.unwrap();
    assert_eq!(report.accepted, vec![requests[0].clone()], "{report:#?}");
    assert_eq!(report.left_pending, vec![requests[1].clone()], "{report:#?}");
    let over = &report.outcomes[1].decision;
    assert!(
        over.reason.contains("active_peerings_per_vpc") && over.reason.contains('2'),
        "the reason names the quota: {}",
        over.reason
    );
    assert_eq!(accepter.peering_status(&requests[1]).await, "pending-acceptance");
    assert_eq!(ctx.calls().summary().calls("AcceptVpcPeeringConnection"), 1);
}

/// The announcement a requester receives says why its own request was
/// refused, and nothing about the accepter's other peerings, peers' blocks,
/// other VPCs or allowed ranges; the local decision record keeps it all.
async fn a_requester_learns_only_about_its_own_request(emu: &Emulator) {
    let requester = emu.fresh_account().await;
    let other = emu.fresh_account().await;
    let accepter = emu.fresh_account().await;
    let local = accepter.vpc(&["10.8.0.0/16"], 0).await;
    let second_local = accepter.vpc(&["10.9.0.0/16"], 0).await;
    let other_vpc = other.vpc(&["10.1.128.0/17"], 0).await;
    let existing = other
        .request_peering(&other_vpc.id, &accepter.id, &local.id, None)
        .await;
    accepter.accept(&existing).await;
    let document = fixtures::document(
        "",
        &[
            Entry::new("orders", &requester.id, &local.id, &["10.0.0.0/8"]),
            Entry::new("billing", &other.id, &local.id, &["10.1.128.0/17"]),
            Entry::new("orders-elsewhere", &requester.id, &second_local.id, &["172.20.0.0/16"]),
        ],
    );
    let ctx = Context {
        settings: Settings {
            event_bus: Some("default".into()),
            ..Settings::default()
        },
        ..accepter.context(&document).await
    };
    let capture = EventCapture::start(&accepter).await;
    // One request overlapping the other peer, one overlapping the local VPC,
    // one outside the allowed ranges.
    let mut requests = Vec::new();
    for block in ["10.1.0.0/16", "10.8.64.0/18", "192.168.0.0/16"] {
        let vpc = requester.vpc(&[block], 0).await;
        requests.push((
            block,
            requester.request_peering(&vpc.id, &accepter.id, &local.id, None).await,
        ));
    }
    let forbidden = [
        existing.as_str(),
        "10.1.128.0/17",
        second_local.id.as_str(),
        "10.0.0.0/8",
        "172.20.0.0/16",
        "billing",
        "orders-elsewhere",
    ];
    for (i, (block, pcx)) in requests.iter().enumerate() {
        let report = on_event(&ctx, create_event(pcx)).await.unwrap();
        assert_eq!(report.rejected, vec![pcx.clone()], "{report:#?}");
        if i == 0 {
            // The local decision record keeps the whole reason.
            let full = &report.outcomes[0].decision.reason;
            assert!(full.contains(&existing) && full.contains("10.1.128.0/17"), "{full}");
        }
        let announced = capture.next().await;
        assert_eq!(announced["detail"]["peeringId"], pcx.as_str(), "{announced}");
        let told = announced["detail"]["reason"].as_str().unwrap_or_default().to_string();
        assert!(told.contains(block), "the reason is about its own block: {told}");
        for secret in forbidden {
            assert!(!told.contains(secret), "the requester is told {secret:?}: {told}");
        }
    }
}
