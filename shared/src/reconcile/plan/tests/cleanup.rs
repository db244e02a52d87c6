//! Gone peerings, stale rules, peerings not (yet) to finish.

use super::*;

#[test]
fn gone_peerings_are_cleaned_up_and_nothing_else() {
    let mut obs = world(PeeringStatus::Active);
    // A user's own rule with the same port and CIDR as one we want, unmarked
    // (EC2 keeps one rule per port and CIDR, so ours is never added beside it),
    // another of theirs, and an unrelated route.
    let g = obs.security_groups.get_mut(SG).unwrap();
    g.rules.push(rule("10.0.0.0/16", Some("DBA access")));
    g.rules.push(rule("10.9.0.0/16", None));
    obs.route_tables[0]
        .routes
        .push(route("0.0.0.0/0", RouteTarget::Other("igw-0123".into())));
    let plan1 = plan(&config(""), &obs);
    assert_eq!(count(&plan1, "authorize-rule"), 1);
    obs = applied(obs, &plan1);
    for status in [
        PeeringStatus::Deleted,
        PeeringStatus::Rejected,
        PeeringStatus::Expired,
        PeeringStatus::Failed,
    ] {
        let mut gone = obs.clone();
        gone.peerings[0].status = status.clone();
        let plan = plan(&config(""), &gone);
        assert_eq!(count(&plan, "delete-route"), 6, "{status}");
        assert_eq!(count(&plan, "revoke-rule"), 1, "{status}");
        assert_eq!(count(&plan, "merge-secret-policy"), 1);
        assert_eq!(count(&plan, "merge-key-policy"), 1);
        let after = applied(gone, &plan);
        let rules = &after.security_groups[SG].rules;
        assert_eq!(rules.len(), 2, "the user's rules stay: {rules:?}");
        assert!(
            rules
                .iter()
                .all(|r| r.description.as_deref() != Some(&format!("peerlink:{PCX}")))
        );
        assert!(
            after.route_tables[0]
                .routes
                .iter()
                .any(|r| r.destination.to_string() == "0.0.0.0/0")
        );
        let secret_policy = after.secrets[SECRET].as_ref().unwrap().policy.as_ref().unwrap();
        assert_eq!(secret_policy["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(after.keys[KEY].as_ref().unwrap().policy.as_ref(), Some(&key_policy()));
    }
}

#[test]
fn markers_of_a_peering_ec2_no_longer_lists_are_cleaned_up() {
    let mut obs = world(PeeringStatus::Active);
    let plan1 = plan(&config(""), &obs);
    obs = applied(obs, &plan1);
    obs.peerings.clear();
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "delete-route"), 6);
    assert_eq!(count(&plan, "revoke-rule"), 2);
    assert_eq!(count(&plan, "merge-secret-policy"), 1);
    // Without the complete list, absence proves nothing: keep everything.
    obs.complete = false;
    assert!(super::plan(&config(""), &obs).actions.is_empty());
}

#[test]
fn a_changed_rule_replaces_only_our_old_rule() {
    let mut obs = world(PeeringStatus::Active);
    let plan1 = plan(&config(""), &obs);
    obs = applied(obs, &plan1);
    let mut cfg = config("");
    cfg.peers[0].security_group_rules[0].ports = Some(crate::config::PortRange { from: 3306, to: 3306 });
    let plan = plan(&cfg, &obs);
    assert_eq!(count(&plan, "revoke-rule"), 2);
    assert_eq!(count(&plan, "authorize-rule"), 2);
    assert_eq!(plan.actions.len(), 4, "{:#?}", plan.actions);
}

#[test]
fn pending_peerings_wait_and_unknown_ones_are_ignored() {
    let plan1 = plan(&config(""), &world(PeeringStatus::PendingAcceptance));
    assert!(plan1.actions.is_empty());
    assert!(plan1.findings.iter().any(|f| f.kind == FindingKind::NotActive));
    let mut obs = world(PeeringStatus::Active);
    obs.peerings[0].requester.account = "999999999999".into();
    let plan2 = plan(&config(""), &obs);
    assert!(plan2.actions.is_empty(), "{:#?}", plan2.actions);
}
