//! The routing invariant on small hubs.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::fixtures::{self, Entry, ME};
use crate::model::Route;

const HUB: &str = "vpc-0ffffffffffffff00";

/// An established peering from peer account `n` (VPC `vpc-…n`) with `blocks`.
fn peering(n: u64, status: PeeringStatus, blocks: &[&str]) -> Peering {
    Peering {
        id: format!("pcx-{n:017x}"),
        status,
        status_message: String::new(),
        requester: fixtures::side(
            &format!("{:012}", 100_000_000_000 + n),
            &format!("vpc-{n:017x}"),
            blocks.iter().map(|b| b.parse().unwrap()).collect(),
        ),
        accepter: fixtures::side(ME, HUB, vec!["10.255.0.0/16".parse().unwrap()]),
        tags: BTreeMap::new(),
    }
}

fn entry(n: u64, allowed: &str) -> Entry {
    Entry::new(
        &format!("peer-{n}"),
        &format!("{:012}", 100_000_000_000 + n),
        HUB,
        &[allowed],
    )
}

fn vpcs() -> HashMap<String, Vpc> {
    HashMap::from([(
        HUB.to_string(),
        Vpc {
            id: HUB.into(),
            cidrs: vec!["10.255.0.0/16".parse().unwrap()],
            dns_support: None,
            dns_hostnames: None,
            tags: BTreeMap::new(),
        },
    )])
}

fn nets(list: &[&str]) -> Vec<IpNet> {
    list.iter().map(|b| b.parse().unwrap()).collect()
}

/// The invariant with nothing of peerlink's in place yet.
fn fresh(config: &Config, peerings: &[Peering]) -> Routing {
    with(config, peerings, &[], &[])
}

/// The invariant with these route tables and groups observed.
fn with(config: &Config, peerings: &[Peering], tables: &[RouteTable], groups: &[SecurityGroup]) -> Routing {
    let vpcs = vpcs();
    let state = State {
        peerings,
        vpcs: &vpcs,
        route_tables: tables,
        groups: groups.iter().map(|g| (g.id.as_str(), g)).collect(),
    };
    routing(config, &fixtures::me(), &state)
}

/// A route table of the hub with routes (destination, peering).
fn table(id: &str, routes: &[(&str, &Peering)]) -> RouteTable {
    RouteTable {
        id: id.into(),
        vpc: HUB.into(),
        main: false,
        subnets: Vec::new(),
        tags: BTreeMap::new(),
        routes: routes
            .iter()
            .map(|(d, p)| Route {
                destination: d.parse().unwrap(),
                target: RouteTarget::Peering(p.id.clone()),
                blackhole: false,
            })
            .collect(),
        other_routes: 0,
        main_for: Vec::new(),
    }
}

/// The hub's group with rules marked for (CIDR, peering).
fn group(rules: &[(&str, &Peering)]) -> SecurityGroup {
    SecurityGroup {
        id: fixtures::SG.into(),
        vpc: HUB.into(),
        rules: rules
            .iter()
            .map(|(c, p)| crate::model::ObservedRule {
                rule: crate::model::SgRule {
                    direction: crate::config::Direction::Ingress,
                    protocol: crate::config::Protocol::Tcp,
                    ports: Some(crate::config::PortRange { from: 5432, to: 5432 }),
                    peer: crate::model::RulePeer::Cidr(c.parse().unwrap()),
                },
                description: Some(crate::ownership::rule_marker(&p.id)),
            })
            .collect(),
        other_rules_ingress: 0,
        other_rules_egress: 0,
        group_refs: Vec::new(),
        tagged: true,
    }
}

fn overlap(r: &Routing, pcx: &str) -> Option<(Option<IpNet>, bool)> {
    r.refused_for(pcx).find_map(|x| match x.refusal {
        Refusal::OverlapsPeering { other_holds, .. } => Some((x.block, other_holds)),
        _ => None,
    })
}

#[test]
fn when_neither_holds_a_contested_block_both_are_unroutable() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8"), entry(2, "10.0.0.0/8")]);
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let c = peering(2, PeeringStatus::Active, &["10.2.0.0/16", "10.1.2.0/24"]);
    let r = fresh(&config, &[a.clone(), c.clone()]);
    assert_eq!(r.blocks(&a.id, HUB), &[] as &[IpNet]);
    assert_eq!(r.blocks(&c.id, HUB), nets(&["10.2.0.0/16"]).as_slice());
    let overlaps: Vec<(&str, Option<IpNet>)> = r
        .refused
        .iter()
        .filter(|x| matches!(x.refusal, Refusal::OverlapsPeering { .. }))
        .map(|x| (x.peering.as_str(), x.block))
        .collect();
    assert!(overlaps.contains(&(c.id.as_str(), Some("10.1.2.0/24".parse().unwrap()))));
    assert!(overlaps.contains(&(a.id.as_str(), Some("10.1.0.0/16".parse().unwrap()))));
    let f = r.refused_for(&c.id).next().unwrap().finding();
    assert_eq!(f.kind, FindingKind::OverlapConflict);
    assert!(f.message.contains(&a.id) && f.message.contains(&c.id) && f.message.contains("10.1.2.0/24"));
}

#[test]
fn narrowing_the_intruders_range_gives_the_block_back_to_its_owner() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8"), entry(2, "10.2.0.0/16")]);
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let c = peering(2, PeeringStatus::Active, &["10.2.0.0/16", "10.1.2.0/24"]);
    let r = fresh(&config, &[a.clone(), c.clone()]);
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
    assert_eq!(r.blocks(&c.id, HUB), nets(&["10.2.0.0/16"]).as_slice());
    assert!(matches!(
        r.refused_for(&c.id).next().unwrap().refusal,
        Refusal::NotAllowed { .. }
    ));
}

#[test]
fn an_unmanaged_peering_claims_every_block_it_has() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8")]);
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let stranger = peering(9, PeeringStatus::Active, &["10.1.128.0/17"]);
    let r = fresh(&config, &[a.clone(), stranger]);
    assert!(r.blocks(&a.id, HUB).is_empty());
}

#[test]
fn unknown_blocks_are_never_routed_and_still_claim_what_is_known() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8"), entry(2, "10.0.0.0/8")]);
    let mut unknown = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    unknown.requester.blocks_known = false;
    let b = peering(2, PeeringStatus::Active, &["10.1.0.0/24"]);
    let r = fresh(&config, &[unknown.clone(), b.clone()]);
    assert!(r.blocks(&unknown.id, HUB).is_empty());
    assert_eq!(
        r.refused_for(&unknown.id).next().unwrap().refusal,
        Refusal::BlocksUnknown
    );
    assert!(r.blocks(&b.id, HUB).is_empty(), "the known primary block still counts");
}

#[test]
fn only_active_and_provisioning_peerings_count() {
    let config = fixtures::config(
        "",
        &[entry(1, "10.0.0.0/8"), entry(2, "10.0.0.0/8"), entry(3, "10.0.0.0/8")],
    );
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let pending = peering(2, PeeringStatus::PendingAcceptance, &["10.1.0.0/16"]);
    let deleted = peering(3, PeeringStatus::Deleted, &["10.1.0.0/16"]);
    let r = fresh(&config, &[a.clone(), pending, deleted]);
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
    let provisioning = peering(2, PeeringStatus::Provisioning, &["10.1.0.0/16"]);
    let r = fresh(&config, &[a.clone(), provisioning]);
    assert!(r.blocks(&a.id, HUB).is_empty());
}

#[test]
fn a_block_overlapping_the_local_vpc_is_refused() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8")]);
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16", "10.255.4.0/24"]);
    let r = fresh(&config, std::slice::from_ref(&a));
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
    assert!(matches!(
        r.refused_for(&a.id).next().unwrap().refusal,
        Refusal::OverlapsLocal { .. }
    ));
}

#[test]
fn the_peering_that_holds_a_block_keeps_it_and_the_newcomer_is_refused() {
    let config = fixtures::config(
        "",
        &[entry(1, "10.0.0.0/8").rule(fixtures::SG, 5432), entry(2, "10.0.0.0/8")],
    );
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let c = peering(2, PeeringStatus::Active, &["10.2.0.0/16", "10.1.2.0/24"]);
    let peerings = [a.clone(), c.clone()];
    // Held by a route (in one of two tables: partly finished), or by a rule alone.
    let partly = [table("rtb-1", &[("10.1.0.0/16", &a)]), table("rtb-2", &[])];
    for (tables, groups) in [(&partly[..], vec![]), (&[][..], vec![group(&[("10.1.0.0/16", &a)])])] {
        let r = with(&config, &peerings, tables, &groups);
        assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
        assert_eq!(r.blocks(&c.id, HUB), nets(&["10.2.0.0/16"]).as_slice());
        assert_eq!(overlap(&r, &c.id), Some((Some("10.1.2.0/24".parse().unwrap()), true)));
        assert_eq!(overlap(&r, &a.id), None, "the holder is not refused");
        let f = r.refused_for(&c.id).next().unwrap().finding();
        assert_eq!(f.kind, FindingKind::OverlapConflict);
        assert!(f.message.contains(&a.id) && f.message.contains(&c.id) && f.message.contains("keeps"));
    }
}

#[test]
fn only_peerlinks_work_for_exactly_a_current_block_holds() {
    let config = fixtures::config(
        "",
        &[
            entry(1, "10.0.0.0/8").routes("select = \"ids\"\nids = [\"rtb-0000000000000000a\"]"),
            entry(2, "10.0.0.0/8"),
        ],
    );
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let c = peering(2, PeeringStatus::Active, &["10.2.0.0/16", "10.1.2.0/24"]);
    let peerings = [a.clone(), c.clone()];
    for (what, tables, groups) in [
        (
            "a table the entry does not select",
            vec![table("rtb-0000000000000000b", &[("10.1.0.0/16", &a)])],
            vec![],
        ),
        (
            "a summary, not the block",
            vec![table("rtb-0000000000000000a", &[("10.0.0.0/8", &a)])],
            vec![],
        ),
        (
            "a group the entry does not name",
            vec![],
            vec![group(&[("10.1.0.0/16", &a)])],
        ),
    ] {
        let r = with(&config, &peerings, &tables, &groups);
        assert!(r.blocks(&a.id, HUB).is_empty(), "{what}");
        assert_eq!(
            overlap(&r, &c.id),
            Some((Some("10.1.2.0/24".parse().unwrap()), false)),
            "{what}"
        );
    }
    let held = [table("rtb-0000000000000000a", &[("10.1.0.0/16", &a)])];
    let r = with(&config, &peerings, &held, &[]);
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
}

#[test]
fn a_holder_keeps_its_block_against_an_unmanaged_peering_and_both_held_are_refused() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8"), entry(2, "10.0.0.0/8")]);
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let stranger = peering(9, PeeringStatus::Active, &["10.1.128.0/17"]);
    let held = [table("rtb-1", &[("10.1.0.0/16", &a)])];
    let r = with(&config, &[a.clone(), stranger.clone()], &held, &[]);
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
    // Both held cannot come from peerlink's writes; it does not guess.
    let c = peering(2, PeeringStatus::Active, &["10.1.2.0/24"]);
    let both = [table("rtb-1", &[("10.1.0.0/16", &a), ("10.1.2.0/24", &c)])];
    let r = with(&config, &[a.clone(), c.clone()], &both, &[]);
    assert!(r.blocks(&a.id, HUB).is_empty() && r.blocks(&c.id, HUB).is_empty());
}

#[test]
fn when_the_holder_gives_its_block_up_the_newcomer_gets_it() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8"), entry(2, "10.0.0.0/8")]);
    let mut a = peering(1, PeeringStatus::Active, &["10.1.0.0/16", "10.3.0.0/16"]);
    let c = peering(2, PeeringStatus::Active, &["10.2.0.0/16", "10.3.2.0/24"]);
    let tables = [table("rtb-1", &[("10.1.0.0/16", &a), ("10.3.0.0/16", &a)])];
    let r = with(&config, &[a.clone(), c.clone()], &tables, &[]);
    assert_eq!(r.blocks(&c.id, HUB), nets(&["10.2.0.0/16"]).as_slice());
    // A disassociates 10.3.0.0/16; its (now dead) route is not a hold.
    a.requester.cidrs.pop();
    let r = with(&config, &[a.clone(), c.clone()], &tables, &[]);
    assert_eq!(r.blocks(&c.id, HUB), nets(&["10.2.0.0/16", "10.3.2.0/24"]).as_slice());
    // Or A's entry is narrowed: A no longer claims it.
    let narrowed = fixtures::config("", &[entry(1, "10.1.0.0/16"), entry(2, "10.0.0.0/8")]);
    a.requester.cidrs.push("10.3.0.0/16".parse().unwrap());
    let r = with(&narrowed, &[a.clone(), c.clone()], &tables, &[]);
    assert_eq!(r.blocks(&c.id, HUB), nets(&["10.2.0.0/16", "10.3.2.0/24"]).as_slice());
}

#[test]
fn a_route_to_a_listed_destination_holds_the_block_it_lies_in() {
    let config = fixtures::config(
        "",
        &[
            entry(1, "10.0.0.0/8").routes("destinations = [\"10.1.5.0/24\"]"),
            entry(2, "10.0.0.0/8"),
        ],
    );
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let c = peering(2, PeeringStatus::Active, &["10.2.0.0/16", "10.1.200.0/24"]);
    let peerings = [a.clone(), c.clone()];
    let held = [table("rtb-1", &[("10.1.5.0/24", &a)])];
    let r = with(&config, &peerings, &held, &[]);
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
    // Judged block against block: the newcomer is refused even a range the
    // holder does not route.
    assert_eq!(overlap(&r, &c.id), Some((Some("10.1.200.0/24".parse().unwrap()), true)));
    assert_eq!(routed(&config.peers[0], r.blocks(&a.id, HUB)), nets(&["10.1.5.0/24"]));
    // A narrower route the entry does not list holds nothing.
    let unlisted = [table("rtb-1", &[("10.1.6.0/24", &a)])];
    let r = with(&config, &peerings, &unlisted, &[]);
    assert!(r.blocks(&a.id, HUB).is_empty());
    assert_eq!(
        overlap(&r, &c.id),
        Some((Some("10.1.200.0/24".parse().unwrap()), false))
    );
}
