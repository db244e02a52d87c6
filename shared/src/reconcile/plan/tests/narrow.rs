//! Routes narrower than the peer's blocks (`routes.destinations`) and
//! route tables selected by subnet (`select = "subnets"`).

use super::*;

const DESTINATIONS: &str = "[peer.routes]\ndestinations = [\"10.0.5.0/24\", \"10.1.9.0/24\"]";

/// The destinations of the planned actions of `kind`, sorted, with their table.
fn planned(plan: &Plan, kind: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = plan
        .actions
        .iter()
        .filter(|a| a.action.kind() == kind)
        .map(|a| (a.action.resource().to_string(), a.action.to_string()))
        .collect();
    out.sort();
    out
}

/// Every table of the world with routes through our peering to `dests`.
fn routed_to(dests: &[&str]) -> Observed {
    let mut obs = world(PeeringStatus::Active);
    for t in &mut obs.route_tables {
        t.routes.extend(dests.iter().map(|d| route(d, pcx_target())));
    }
    obs
}

#[test]
fn only_the_destinations_inside_routable_blocks_are_routed() {
    let plan = plan(&config(DESTINATIONS), &world(PeeringStatus::Active));
    let created = planned(&plan, "create-route");
    assert_eq!(created.len(), 6, "{created:#?}");
    assert!(
        created
            .iter()
            .all(|(_, r)| r.starts_with("10.0.5.0/24 ") || r.starts_with("10.1.9.0/24 ")),
        "no whole-block route: {created:#?}"
    );
    // The rule still opens the peer's blocks: rules narrow with their own cidrs.
    assert_eq!(count(&plan, "authorize-rule"), 2);
    // Steady once applied.
    let obs = applied(world(PeeringStatus::Active), &plan);
    assert!(super::plan(&config(DESTINATIONS), &obs).actions.is_empty());
}

#[test]
fn a_destination_the_peer_gave_up_loses_its_route_and_the_other_stays() {
    let mut obs = routed_to(&["10.0.5.0/24", "10.1.9.0/24"]);
    obs.peerings[0].requester.cidrs.pop();
    let plan = plan(&config(DESTINATIONS), &obs);
    let deleted = planned(&plan, "delete-route");
    assert_eq!(deleted.len(), 3, "one per table: {deleted:#?}");
    assert!(
        deleted.iter().all(|(_, r)| r.starts_with("10.1.9.0/24 ")),
        "{deleted:#?}"
    );
    assert_eq!(count(&plan, "create-route"), 0);
}

#[test]
fn narrowing_to_destinations_takes_back_the_whole_block_routes() {
    let obs = routed_to(&["10.0.0.0/16", "10.1.0.0/16"]);
    let plan = plan(&config(DESTINATIONS), &obs);
    let deleted = planned(&plan, "delete-route");
    assert_eq!(deleted.len(), 6, "{deleted:#?}");
    assert!(
        deleted
            .iter()
            .all(|(_, r)| r.starts_with("10.0.0.0/16 ") || r.starts_with("10.1.0.0/16 "))
    );
    assert_eq!(count(&plan, "create-route"), 6);
    assert!(
        plan.actions
            .iter()
            .any(|a| a.reason.contains("routes only routes.destinations"))
    );
}

#[test]
fn a_narrower_route_the_entry_does_not_list_is_the_users() {
    let obs = routed_to(&["10.0.5.0/24", "10.1.9.0/24", "10.0.77.0/24"]);
    let plan = plan(&config(DESTINATIONS), &obs);
    let routes = ["create-route", "delete-route", "replace-route"].map(|k| count(&plan, k));
    assert_eq!(routes, [0, 0, 0], "{:#?}", plan.actions);
    assert!(
        plan.findings
            .iter()
            .any(|f| f.kind == FindingKind::UnexpectedRoute && f.message.contains("10.0.77.0/24"))
    );
}

#[test]
fn select_subnets_takes_their_own_tables_and_the_main_one_for_the_rest() {
    let own = "subnet-0000000000000000a";
    let on_main = "subnet-0000000000000000c";
    let missing = "subnet-0000000000000dead";
    let mut obs = world(PeeringStatus::Active);
    obs.route_tables[1].subnets = vec![own.into()];
    obs.route_tables[0].main_for = vec![on_main.into()];
    let lines = format!("[peer.routes]\nselect = \"subnets\"\nsubnets = [\"{own}\", \"{missing}\"]");
    let plan = plan(&config(&lines), &obs);
    let tables: BTreeSet<String> = planned(&plan, "create-route").into_iter().map(|(t, _)| t).collect();
    assert_eq!(tables, BTreeSet::from(["rtb-00000000000000002".to_string()]));
    let f = plan.findings.iter().find(|f| f.message.contains(missing));
    assert_eq!(
        f.map(|f| f.kind),
        Some(FindingKind::MissingResource),
        "{:#?}",
        plan.findings
    );
    let lines = format!("[peer.routes]\nselect = \"subnets\"\nsubnets = [\"{own}\", \"{on_main}\"]");
    let plan = super::plan(&config(&lines), &obs);
    let tables: BTreeSet<String> = planned(&plan, "create-route").into_iter().map(|(t, _)| t).collect();
    assert_eq!(
        tables,
        BTreeSet::from(["rtb-00000000000000001".to_string(), "rtb-00000000000000002".to_string()])
    );
    assert!(plan.findings.iter().all(|f| f.kind != FindingKind::MissingResource));
}

#[test]
fn a_destination_inside_a_block_that_may_not_be_routed_loses_its_route() {
    // The peer's block 10.1.0.0/16 now overlaps the local VPC's new block.
    let mut obs = routed_to(&["10.0.5.0/24", "10.1.9.0/24"]);
    let local = obs.vpcs.get_mut(VPC).unwrap();
    local.cidrs.push("10.1.128.0/17".parse().unwrap());
    let plan = plan(&config(DESTINATIONS), &obs);
    let deleted = planned(&plan, "delete-route");
    assert_eq!(deleted.len(), 3, "{deleted:#?}");
    assert!(
        deleted.iter().all(|(_, r)| r.starts_with("10.1.9.0/24 ")),
        "{deleted:#?}"
    );
}
