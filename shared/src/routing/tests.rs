//! The routing invariant on small hubs.

use std::collections::{BTreeMap, HashMap};

use super::*;
use crate::fixtures::{self, Entry, ME};

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

#[test]
fn a_peer_growing_into_anothers_range_makes_both_blocks_unroutable() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8"), entry(2, "10.0.0.0/8")]);
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    let c = peering(2, PeeringStatus::Active, &["10.2.0.0/16", "10.1.2.0/24"]);
    let r = routing(&config, &fixtures::me(), &[a.clone(), c.clone()], &vpcs());
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
    let r = routing(&config, &fixtures::me(), &[a.clone(), c.clone()], &vpcs());
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
    let r = routing(&config, &fixtures::me(), &[a.clone(), stranger], &vpcs());
    assert!(r.blocks(&a.id, HUB).is_empty());
}

#[test]
fn unknown_blocks_are_never_routed_and_still_claim_what_is_known() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8"), entry(2, "10.0.0.0/8")]);
    let mut unknown = peering(1, PeeringStatus::Active, &["10.1.0.0/16"]);
    unknown.requester.blocks_known = false;
    let b = peering(2, PeeringStatus::Active, &["10.1.0.0/24"]);
    let r = routing(&config, &fixtures::me(), &[unknown.clone(), b.clone()], &vpcs());
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
    let r = routing(&config, &fixtures::me(), &[a.clone(), pending, deleted], &vpcs());
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
    let provisioning = peering(2, PeeringStatus::Provisioning, &["10.1.0.0/16"]);
    let r = routing(&config, &fixtures::me(), &[a.clone(), provisioning], &vpcs());
    assert!(r.blocks(&a.id, HUB).is_empty());
}

#[test]
fn a_block_overlapping_the_local_vpc_is_refused() {
    let config = fixtures::config("", &[entry(1, "10.0.0.0/8")]);
    let a = peering(1, PeeringStatus::Active, &["10.1.0.0/16", "10.255.4.0/24"]);
    let r = routing(&config, &fixtures::me(), std::slice::from_ref(&a), &vpcs());
    assert_eq!(r.blocks(&a.id, HUB), nets(&["10.1.0.0/16"]).as_slice());
    assert!(matches!(
        r.refused_for(&a.id).next().unwrap().refusal,
        Refusal::OverlapsLocal { .. }
    ));
}
