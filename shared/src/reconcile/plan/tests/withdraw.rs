//! What peerlink takes back, and only that: dead routes, routes only in the
//! tables it selects, and the grants (DNS resolution, routes) of an entry
//! that no longer asks for them.

use super::*;
use crate::fixtures::Entry;
use crate::ownership::{dns_tag, routes_tag};

const ONLY_FIRST: &str = "[peer.routes]\nselect = \"ids\"\nids = [\"rtb-00000000000000001\"]";

/// The world after a pass with `extra` in the entry.
fn finished(extra: &str) -> Observed {
    let obs = world(PeeringStatus::Active);
    let p = plan(&config(extra), &obs);
    applied(obs, &p)
}

/// (table, destination) of every route the plan deletes.
fn deleted(plan: &Plan) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = plan
        .actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::DeleteRoute {
                route_table,
                destination,
                ..
            } => Some((route_table.clone(), destination.to_string())),
            _ => None,
        })
        .collect();
    out.sort();
    out
}

fn t(n: u8) -> String {
    format!("rtb-0000000000000000{n}")
}

#[test]
fn a_dead_route_is_taken_back_in_the_selected_tables_only() {
    let selected = "[peer.routes]\nselect = \"ids\"\nids = [\"rtb-00000000000000001\", \"rtb-00000000000000002\"]";
    let mut obs = finished(selected);
    // The user's own route to the same block in a table peerlink does not
    // select, and one of theirs outside the entry's ranges.
    obs.route_tables[2].routes.push(route("10.1.0.0/16", pcx_target()));
    obs.route_tables[0].routes.push(route("10.9.0.0/16", pcx_target()));
    // The peer gives 10.1.0.0/16 up: EC2 drops what its routes carry.
    obs.peerings[0].requester.cidrs.pop();
    let plan = plan(&config(selected), &obs);
    assert_eq!(
        deleted(&plan),
        vec![(t(1), "10.1.0.0/16".into()), (t(2), "10.1.0.0/16".into())],
        "{:#?}",
        plan.actions
    );
    assert!(plan.actions.iter().all(|a| !a.reason.is_empty()));
    let unexpected: Vec<_> = plan
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::UnexpectedRoute)
        .collect();
    assert_eq!(
        unexpected.len(),
        1,
        "only the route outside the ranges: {unexpected:#?}"
    );
    assert!(unexpected[0].message.contains("10.9.0.0/16"));
}

#[test]
fn unroutable_routes_in_tables_the_entry_does_not_select_are_left_alone() {
    let mut obs = finished(ONLY_FIRST);
    obs.route_tables[1].routes.push(route("10.1.0.0/16", pcx_target()));
    // 10.1.0.0/16 may no longer be routed (the entry narrowed).
    let narrowed = Entry::new("orders", PEER, VPC, &["10.0.0.0/16"])
        .peer_vpc(PEER_VPC)
        .rule(SG, 5432)
        .secret(SECRET, &[ROLE])
        .routes("select = \"ids\"\nids = [\"rtb-00000000000000001\"]");
    let plan = plan(&fixtures::config("", &[narrowed]), &obs);
    assert_eq!(deleted(&plan), vec![(t(1), "10.1.0.0/16".into())]);
    assert!(
        plan.findings.iter().all(|f| f.kind != FindingKind::UnexpectedRoute),
        "{:#?}",
        plan.findings
    );
}

#[test]
fn a_gone_peerings_routes_are_removed_only_in_the_tables_peerlink_selects() {
    let mut obs = finished(ONLY_FIRST);
    obs.route_tables[1].routes.push(route("10.0.0.0/16", pcx_target()));
    let mut gone = obs.clone();
    gone.peerings[0].status = PeeringStatus::Deleted;
    let plan = plan(&config(ONLY_FIRST), &gone);
    assert_eq!(
        deleted(&plan),
        vec![(t(1), "10.0.0.0/16".into()), (t(1), "10.1.0.0/16".into())]
    );
    // EC2 no longer lists it: the same, found through our marked rules.
    obs.peerings.clear();
    let plan = super::plan(&config(ONLY_FIRST), &obs);
    assert_eq!(
        deleted(&plan),
        vec![(t(1), "10.0.0.0/16".into()), (t(1), "10.1.0.0/16".into())]
    );
}

#[test]
fn the_tables_peerlink_routes_in_are_recorded_on_the_peering() {
    let obs = finished(ONLY_FIRST);
    let tags = &obs.peerings[0].tags;
    assert_eq!(tags.get(&routes_tag(Side::Accepter)), Some(&t(1)));
    assert_eq!(tags.get(&dns_tag(Side::Accepter)).map(String::as_str), Some("on"));
    assert_eq!(finished("").peerings[0].tags[&routes_tag(Side::Accepter)], "*");
    assert_eq!(
        finished("[peer.routes]\nselect = \"none\"").peerings[0].tags[&routes_tag(Side::Accepter)],
        "none"
    );
    // More tables than a tag value can list: recorded as unknown.
    let mut obs = world(PeeringStatus::Active);
    let ids: Vec<String> = (0..20).map(|i| format!("rtb-1{i:016x}")).collect();
    for id in &ids {
        obs.route_tables.push(table(id, false, &[], vec![]));
        obs.route_tables.last_mut().unwrap().id = id.clone();
    }
    let list: Vec<String> = ids.iter().map(|i| format!("\"{i}\"")).collect();
    let many = format!("[peer.routes]\nselect = \"ids\"\nids = [{}]", list.join(", "));
    let p = plan(&config(&many), &obs);
    assert_eq!(applied(obs, &p).peerings[0].tags[&routes_tag(Side::Accepter)], "?");
}

#[test]
fn dns_resolution_peerlink_turned_on_is_turned_off_when_the_entry_no_longer_asks() {
    let obs = finished("");
    assert!(obs.peerings[0].accepter.allow_remote_dns);
    let off = config("dns = { remote_resolution = false }");
    let plan1 = plan(&off, &obs);
    assert_eq!(
        plan1.actions.iter().map(|a| &a.action).collect::<Vec<_>>(),
        vec![&Action::DisablePeeringDns {
            peering: PCX.into(),
            side: Side::Accepter
        }]
    );
    let after = applied(obs, &plan1);
    assert!(!after.peerings[0].accepter.allow_remote_dns);
    assert!(plan(&off, &after).actions.is_empty());
    // Turned on by someone else (no tag of ours): never turned off.
    let mut theirs = after.clone();
    theirs.peerings[0].accepter.allow_remote_dns = true;
    assert!(plan(&off, &theirs).actions.is_empty());
    // Asked for again: turned on, and recorded again.
    let on = plan(&config(""), &after);
    assert_eq!(kinds(&on), vec!["enable-peering-dns", "tag-peering"]);
}

#[test]
fn a_removed_entrys_routes_and_dns_are_taken_back_in_whole_account_passes() {
    let mut obs = finished(ONLY_FIRST);
    // The user routes the peer by hand in a table the entry did not select.
    obs.route_tables[1].routes.push(route("10.0.0.0/16", pcx_target()));
    let other = fixtures::config("", &[Entry::new("other", "999999999999", VPC, &["10.0.0.0/8"])]);
    obs.scope = BTreeSet::from(["other".to_string()]);
    // A pass over a few peerings takes nothing back.
    let mut scoped = obs.clone();
    scoped.whole_account = false;
    assert!(plan(&other, &scoped).actions.is_empty());

    let first = plan(&other, &obs);
    assert_eq!(
        deleted(&first),
        vec![(t(1), "10.0.0.0/16".into()), (t(1), "10.1.0.0/16".into())]
    );
    assert!(first.actions.iter().any(|a| a.action
        == Action::DisablePeeringDns {
            peering: PCX.into(),
            side: Side::Accepter
        }));
    assert_eq!(count(&first, "revoke-rule"), 2, "its rules too");
    assert_eq!(
        count(&first, "tag-peering"),
        0,
        "the record stays until nothing is left"
    );
    let obs = applied(obs, &first);
    // Nothing of ours left: the record is cleared, and then nothing more.
    let second = plan(&other, &obs);
    assert_eq!(kinds(&second), vec!["tag-peering"], "{:#?}", second.actions);
    let obs = applied(obs, &second);
    assert!(plan(&other, &obs).actions.is_empty());
    assert!(
        obs.route_tables[1].routes.iter().any(|r| r.target == pcx_target()),
        "the user's route stays"
    );
}
