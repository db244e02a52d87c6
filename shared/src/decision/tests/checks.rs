//! The checks behind a decision: the quota, what the requester is told, a
//! human's approval, and the review of a peering accepted outside peerlink.

use super::*;

fn established(id: &str, account: &str, blocks: &[&str]) -> Peering {
    let mut p = request(blocks);
    p.id = id.into();
    p.status = PeeringStatus::Active;
    p.requester.account = account.into();
    p
}

#[test]
fn the_peering_quota_leaves_a_safe_request_pending() {
    let cfg = config("active_peerings_per_vpc = 2");
    let mut w = world(&["10.8.0.0/16"]);
    w.peerings
        .push(established("pcx-0fffffffffffffff0", "444444444444", &["10.3.0.0/16"]));
    expect(&run(&cfg, &w, &request(&["10.0.0.0/16"])), Verdict::Accept, "matches");
    w.peerings
        .push(established("pcx-0ffffffffffffffe0", "555555555555", &["10.4.0.0/16"]));
    let d = run(&cfg, &w, &request(&["10.0.0.0/16"]));
    expect(&d, Verdict::LeavePending, "settings.active_peerings_per_vpc is 2");
    assert!(!d.awaits_approval(), "the quota is not a human's call");
    assert!(d.checks.iter().any(|c| c.check == QUOTA && !c.ok), "{:?}", d.checks);
    // An unsafe request over the quota is still refused for what makes it unsafe.
    expect(
        &run(&cfg, &w, &request(&["192.168.0.0/16"])),
        Verdict::Reject,
        "outside",
    );
}

#[test]
fn the_requester_is_told_about_its_own_request_only() {
    let mut w = world(&["10.8.0.0/16"]);
    w.peerings
        .push(established("pcx-0fffffffffffffff0", "444444444444", &["10.1.128.0/17"]));
    for (blocks, own) in [
        (&["10.1.0.0/16"][..], "10.1.0.0/16"),
        (&["10.8.4.0/24"], "10.8.4.0/24"),
        (&["192.168.0.0/16"], "192.168.0.0/16"),
    ] {
        let d = run(&config(""), &w, &request(blocks));
        assert_eq!(d.verdict, Verdict::Reject, "{}", d.reason);
        assert!(d.requester_reason.contains(own), "{}", d.requester_reason);
        for secret in [
            "pcx-0fffffffffffffff0",
            "10.1.128.0/17",
            "10.0.0.0/14",
            "2600:1f18::/32",
            LOCAL_VPC,
            "10.8.0.0/16",
        ] {
            assert!(
                !d.requester_reason.contains(secret),
                "told {secret}: {}",
                d.requester_reason
            );
        }
    }
    let mut stranger = request(&["10.0.0.0/16"]);
    stranger.requester.account = "333333333333".into();
    let d = run(&config(""), &w, &stranger);
    assert!(d.reason.contains("not in the allowlist"), "{}", d.reason);
    assert!(!d.requester_reason.contains("orders"), "{}", d.requester_reason);
}

#[test]
fn a_human_stands_in_for_auto_accept_and_for_nothing_else() {
    let mut cfg = config("");
    cfg.peers[0].auto_accept = false;
    let w = world(&["10.8.0.0/16"]);
    let ctx = AcceptContext {
        me: &w.me,
        config: &cfg,
        vpcs: &w.vpcs,
        peerings: &w.peerings,
    };
    let waiting = decide(&ctx, &request(&["10.0.0.0/16"]));
    assert!(waiting.awaits_approval(), "{waiting:#?}");
    let names: Vec<&str> = waiting.checks.iter().map(|c| c.check).collect();
    assert_eq!(
        names,
        [
            ALLOWLIST,
            ALLOWED_RANGES,
            LOCAL_OVERLAP,
            PEER_OVERLAP,
            QUOTA,
            AUTO_ACCEPT
        ]
    );
    let who = "arn:aws:sts::222222222222:assumed-role/admin/alice";
    let approved = decide_as(&ctx, &request(&["10.0.0.0/16"]), Approval::Human(who));
    expect(&approved, Verdict::Accept, who);
    assert_eq!(approved.approved_by.as_deref(), Some(who));
    // Whatever the human asks, an unsafe request is refused.
    let bad = decide_as(&ctx, &request(&["192.168.0.0/16"]), Approval::Human(who));
    expect(&bad, Verdict::Reject, "192.168.0.0/16 lie outside");
    assert!(!bad.awaits_approval());
}

#[test]
fn a_review_names_what_an_accepted_peering_fails() {
    let mut w = world(&["10.8.0.0/16"]);
    let fine = established("pcx-0aaaaaaaaaaaaaaa0", PEER, &["10.0.0.0/16"]);
    let mut outside = established("pcx-0bbbbbbbbbbbbbbb0", PEER, &["192.168.0.0/16"]);
    outside.requester.vpc = PEER_VPC.into();
    let stranger = established("pcx-0ccccccccccccccc0", "333333333333", &["10.3.0.0/16"]);
    w.peerings = vec![fine.clone(), outside.clone(), stranger.clone()];
    let cfg = config("");
    let ctx = AcceptContext {
        me: &w.me,
        config: &cfg,
        vpcs: &w.vpcs,
        peerings: &w.peerings,
    };
    assert!(review(&ctx, &fine).is_empty(), "{:?}", review(&ctx, &fine));
    let failed = review(&ctx, &outside);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].check, ALLOWED_RANGES);
    let failed = review(&ctx, &stranger);
    assert_eq!(failed[0].check, ALLOWLIST, "{failed:?}");
    // A VPC no entry names is not reviewed.
    let mut elsewhere = stranger.clone();
    elsewhere.accepter.vpc = "vpc-0ddd4444dddd4444d".into();
    assert!(review(&ctx, &elsewhere).is_empty());
}
