//! Finishing active peerings: routes, rules, DNS, secrets, quotas.

use super::*;

#[test]
fn finishes_an_active_peering_in_one_pass() {
    let obs = world(PeeringStatus::Active);
    let plan = plan(&config(""), &obs);
    assert!(plan.findings.is_empty(), "{:#?}", plan.findings);
    // Two peer blocks (primary and secondary) in each of the three tables.
    assert_eq!(count(&plan, "create-route"), 6);
    assert_eq!(count(&plan, "authorize-rule"), 2);
    assert_eq!(count(&plan, "enable-peering-dns"), 1);
    assert_eq!(count(&plan, "merge-secret-policy"), 1);
    assert_eq!(count(&plan, "merge-key-policy"), 1);
    let main_route = plan
        .actions
        .iter()
        .find(|a| a.action.resource() == "rtb-00000000000000001")
        .unwrap();
    assert!(main_route.reason.contains("main table"), "{}", main_route.reason);
    let subnet_route = plan
        .actions
        .iter()
        .find(|a| a.action.resource() == "rtb-00000000000000002")
        .unwrap();
    assert!(subnet_route.reason.contains("subnet-a"), "{}", subnet_route.reason);
    let Action::AuthorizeRule { rule, description, .. } = &plan
        .actions
        .iter()
        .find(|a| a.action.kind() == "authorize-rule")
        .unwrap()
        .action
    else {
        panic!()
    };
    assert_eq!(rule.direction, Direction::Ingress);
    assert_eq!(description, &format!("peerlink:{PCX}"));
    let Action::EnablePeeringDns { side, .. } = &plan
        .actions
        .iter()
        .find(|a| a.action.kind() == "enable-peering-dns")
        .unwrap()
        .action
    else {
        panic!()
    };
    assert_eq!(*side, Side::Accepter);

    // The second pass over the result has nothing to do.
    let after = applied(obs, &plan);
    let again = super::plan(&config(""), &after);
    assert!(again.actions.is_empty(), "{:#?}", again.actions);
    // The user's statements survive.
    let secret_policy = after.secrets[SECRET].as_ref().unwrap().policy.as_ref().unwrap();
    assert_eq!(secret_policy["Statement"][0]["Sid"], "UserStatement");
    let key = after.keys[KEY].as_ref().unwrap().policy.as_ref().unwrap();
    assert_eq!(key["Statement"][0]["Sid"], "Enable IAM User Permissions");
    assert_eq!(
        key["Statement"][1]["Condition"]["StringEquals"]["kms:ViaService"],
        "secretsmanager.eu-west-1.amazonaws.com"
    );
}

#[test]
fn the_requester_side_gets_egress_and_its_own_dns_option() {
    let mut obs = world(PeeringStatus::Active);
    let p = &mut obs.peerings[0];
    std::mem::swap(&mut p.requester, &mut p.accepter);
    let plan = plan(&config(""), &obs);
    let Action::AuthorizeRule { rule, .. } = &plan
        .actions
        .iter()
        .find(|a| a.action.kind() == "authorize-rule")
        .unwrap()
        .action
    else {
        panic!()
    };
    assert_eq!(rule.direction, Direction::Egress);
    assert!(plan.actions.iter().any(|a| a.action
        == Action::EnablePeeringDns {
            peering: PCX.into(),
            side: Side::Requester
        }));
}

#[test]
fn a_conflicting_route_is_reported_not_overwritten() {
    let mut obs = world(PeeringStatus::Active);
    obs.route_tables[1]
        .routes
        .push(route("10.0.0.0/16", RouteTarget::Other("tgw-0123456789abcdef0".into())));
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "create-route"), 5);
    assert!(!kinds(&plan).contains(&"replace-route"));
    let f = plan
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::RouteConflict)
        .expect("conflict finding");
    assert!(f.message.contains("tgw-0123456789abcdef0"), "{}", f.message);
    assert!(f.fix.contains("replace_conflicts"));

    let replace = super::plan(&config("[peer.routes]\nreplace_conflicts = true"), &obs);
    assert_eq!(count(&replace, "replace-route"), 1);
    assert!(replace.findings.iter().all(|f| f.kind != FindingKind::RouteConflict));
}

#[test]
fn a_blackhole_route_to_our_peering_is_replaced() {
    let mut obs = world(PeeringStatus::Active);
    let mut r = route("10.0.0.0/16", pcx_target());
    r.blackhole = true;
    obs.route_tables[0].routes.push(r);
    let plan = plan(&config(""), &obs);
    let replaced: Vec<&Planned> = plan
        .actions
        .iter()
        .filter(|a| a.action.kind() == "replace-route")
        .collect();
    assert_eq!(replaced.len(), 1);
    assert!(replaced[0].reason.contains("blackhole"));
}

#[test]
fn quotas_are_checked_before_writing() {
    let mut obs = world(PeeringStatus::Active);
    for i in 0..48 {
        obs.route_tables[2]
            .routes
            .push(route(&format!("172.16.{i}.0/24"), RouteTarget::Other("nat-1".into())));
    }
    let g = obs.security_groups.get_mut(SG).unwrap();
    g.other_rules_ingress = 59;
    let plan = plan(&config(""), &obs);
    // 49 routes + 2 needed > 50: none added to that table, the others still get theirs.
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| a.action.resource() == "rtb-00000000000000003")
    );
    assert_eq!(count(&plan, "create-route"), 4);
    let q = plan
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::RouteQuota)
        .unwrap();
    assert!(q.message.contains("49 of 50"), "{}", q.message);
    assert_eq!(count(&plan, "authorize-rule"), 0);
    assert!(
        plan.findings
            .iter()
            .any(|f| f.kind == FindingKind::RuleQuota && f.message.contains("59 of 60"))
    );
}

#[test]
fn an_aws_managed_key_is_reported_and_nothing_is_written_for_the_secret() {
    for kms_key in [None, Some("alias/aws/secretsmanager")] {
        let mut obs = world(PeeringStatus::Active);
        obs.secrets.get_mut(SECRET).unwrap().as_mut().unwrap().kms_key = kms_key.map(str::to_string);
        let plan = plan(&config(""), &obs);
        assert_eq!(count(&plan, "merge-secret-policy"), 0);
        assert_eq!(count(&plan, "merge-key-policy"), 0);
        let f = plan
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::AwsManagedKey)
            .expect("finding");
        assert!(f.message.contains("cross-account access is impossible"));
        assert!(f.fix.contains("customer-managed"));
    }
    let mut obs = world(PeeringStatus::Active);
    obs.keys.get_mut(KEY).unwrap().as_mut().unwrap().aws_managed = true;
    assert!(
        plan(&config(""), &obs)
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::AwsManagedKey)
    );
}

#[test]
fn a_peer_block_outside_the_allowed_ranges_is_never_routed() {
    let mut obs = world(PeeringStatus::Active);
    obs.peerings[0].requester.cidrs.push("192.168.0.0/16".parse().unwrap());
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "create-route"), 6);
    assert!(!plan.actions.iter().any(|a| a.action.to_string().contains("192.168")));
    assert!(
        plan.findings
            .iter()
            .any(|f| f.kind == FindingKind::CidrNotAllowed && f.message.contains("192.168.0.0/16"))
    );
}

#[test]
fn route_table_selection_by_tag_and_id() {
    let mut obs = world(PeeringStatus::Active);
    obs.route_tables[2].tags.insert("tier".into(), "private".into());
    let tagged = plan(
        &config("[peer.routes]\nselect = \"tagged\"\ntags = { tier = \"private\" }"),
        &obs,
    );
    assert_eq!(count(&tagged, "create-route"), 2);
    assert!(
        tagged
            .actions
            .iter()
            .filter(|a| a.action.kind() == "create-route")
            .all(|a| a.action.resource() == "rtb-00000000000000003")
    );
    let ids = plan(
        &config("[peer.routes]\nselect = \"ids\"\nids = [\"rtb-00000000000000002\", \"rtb-0000000000000000f\"]"),
        &obs,
    );
    assert_eq!(count(&ids, "create-route"), 2);
    assert!(
        ids.findings
            .iter()
            .any(|f| f.kind == FindingKind::MissingResource && f.message.contains("rtb-0000000000000000f"))
    );
    let none = plan(&config("[peer.routes]\nselect = \"none\""), &obs);
    assert_eq!(count(&none, "create-route"), 0);
}

#[test]
fn dns_attributes_off_are_reported_or_fixed() {
    let mut obs = world(PeeringStatus::Active);
    obs.vpcs.get_mut(VPC).unwrap().dns_hostnames = Some(false);
    let plan1 = plan(&config(""), &obs);
    assert!(
        plan1
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::DnsAttributeOff && f.fix.contains("enable-dns-hostnames"))
    );
    let plan2 = plan(&config("[peer.dns]\nset_vpc_attributes = true"), &obs);
    assert_eq!(count(&plan2, "enable-vpc-attribute"), 1);
}

#[test]
fn a_user_rule_that_already_allows_the_peer_is_enough() {
    let mut obs = world(PeeringStatus::Active);
    let g = obs.security_groups.get_mut(SG).unwrap();
    g.rules.push(rule("10.0.0.0/16", None));
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "authorize-rule"), 1, "only 10.1.0.0/16 is missing");
}
