//! The routing invariant over time: whatever blocks any peers associate or
//! give up, in any order, routing stays unambiguous and no peer's change
//! takes away what another peer holds, whether its entry routes the whole
//! blocks or only `routes.destinations` inside them.

use ipnet::IpNet;
use proptest::prelude::*;

use super::*;
use crate::fixtures::{self, Entry};
use crate::ownership::marked_peering;

/// Blocks a peer may have or grow into: disjoint ones, ones inside others,
/// and ones inside the local VPC (10.8.0.0/16).
fn pool() -> Vec<IpNet> {
    let mut out = Vec::new();
    for a in 0..4 {
        out.push(format!("10.{a}.0.0/16"));
        out.push(format!("10.{a}.128.0/17"));
        out.push(format!("10.{a}.7.0/24"));
    }
    out.push("10.8.3.0/24".into());
    out.push("10.0.0.0/15".into());
    out.into_iter().map(|b| b.parse().unwrap()).collect()
}

/// Narrower ranges an entry may route instead of whole blocks: inside a
/// /24, a /17 or only a /16 of the pool.
fn destinations() -> String {
    let list: Vec<String> = (0..4)
        .flat_map(|a| {
            [
                format!("\"10.{a}.7.0/25\""),
                format!("\"10.{a}.130.0/24\""),
                format!("\"10.{a}.1.0/24\""),
            ]
        })
        .collect();
    format!("destinations = [{}]", list.join(", "))
}

/// How an entry asks: whole blocks with a rule, destinations with a rule, or
/// destinations alone (only its routes then hold its blocks).
#[derive(Debug, Clone, Copy)]
enum Asks {
    Blocks,
    DestinationsAndRule,
    Destinations,
}

fn peer_account(i: usize) -> String {
    format!("{:012}", 300_000_000_000u64 + i as u64)
}

/// `n` active peerings into the local VPC, each from its own account, each
/// with its entry (10.0.0.0/8 allowed; port 5432 in the group, and/or
/// [`destinations`], as it [`Asks`]).
fn hub(initial: &[(IpNet, Asks)]) -> (Config, Observed) {
    let mut obs = world(PeeringStatus::Active);
    obs.peerings.clear();
    obs.secrets.clear();
    obs.keys.clear();
    let mut entries = Vec::new();
    for (i, (block, asks)) in initial.iter().enumerate() {
        let account = peer_account(i);
        let vpc = format!("vpc-{:017x}", i + 1);
        let entry = Entry::new(&format!("peer-{i}"), &account, VPC, &["10.0.0.0/8"]);
        entries.push(match asks {
            Asks::Blocks => entry.rule(SG, 5432),
            Asks::DestinationsAndRule => entry.rule(SG, 5432).routes(&destinations()),
            Asks::Destinations => entry.routes(&destinations()),
        });
        obs.peerings.push(Peering {
            id: format!("pcx-{:017x}", i + 1),
            status: PeeringStatus::Active,
            status_message: String::new(),
            requester: PeeringSide {
                cidrs: vec![*block],
                ..side(&account, &vpc, &[], false)
            },
            accepter: side(ME, VPC, &["10.8.0.0/16"], false),
            tags: BTreeMap::new(),
        });
    }
    let config = fixtures::config("", &entries);
    obs.scope = config.peers.iter().map(|e| e.name.clone()).collect();
    (config, obs)
}

/// Our routes (table, destination) and marked rules (CIDR) per peering.
fn held(obs: &Observed) -> BTreeMap<String, BTreeSet<(String, IpNet)>> {
    let mut out: BTreeMap<String, BTreeSet<(String, IpNet)>> = BTreeMap::new();
    for t in &obs.route_tables {
        for r in &t.routes {
            if let RouteTarget::Peering(pcx) = &r.target {
                out.entry(pcx.clone())
                    .or_default()
                    .insert((t.id.clone(), r.destination));
            }
        }
    }
    for r in &obs.security_groups[SG].rules {
        if let Some(pcx) = marked_peering(r.description.as_deref()) {
            out.entry(pcx.to_string())
                .or_default()
                .insert((SG.to_string(), *r.rule.peer.cidr().expect("a block")));
        }
    }
    out
}

/// Every route and rule of ours that makes routing ambiguous: one that
/// overlaps the local VPC, or one that overlaps a route or rule of ours for
/// another peering (longest-prefix match would then split a peer's traffic).
fn violations(obs: &Observed) -> Vec<String> {
    let local = &obs.vpcs[VPC].cidrs;
    let all: Vec<(String, (String, IpNet))> = held(obs)
        .into_iter()
        .flat_map(|(pcx, set)| set.into_iter().map(move |h| (pcx.clone(), h)))
        .collect();
    let mut out = Vec::new();
    for (pcx, (at, dest)) in &all {
        if local.iter().any(|l| overlaps(dest, l)) {
            out.push(format!("{dest} -> {pcx} in {at} overlaps the local VPC"));
        }
        for (other, (other_at, other_dest)) in &all {
            if other != pcx && overlaps(dest, other_dest) {
                out.push(format!(
                    "{dest} -> {pcx} in {at} overlaps {other_dest} -> {other} in {other_at}"
                ));
            }
        }
    }
    out
}

use crate::matching::overlaps;

/// Plans and applies until a pass plans nothing (at most four passes).
fn settle(config: &Config, mut obs: Observed) -> Result<Observed, String> {
    for _ in 0..4 {
        let plan = plan(config, &obs);
        if plan.actions.is_empty() {
            return Ok(obs);
        }
        obs = applied(obs, &plan);
    }
    Err(format!("no steady state: {:#?}", plan(config, &obs).actions))
}

/// A peer's change: a block associated, or one of its secondary blocks given up.
#[derive(Debug, Clone)]
enum Change {
    Associate(usize, IpNet),
    Disassociate(usize, usize),
}

fn change(blocks: Vec<IpNet>) -> impl Strategy<Value = Change> {
    prop_oneof![
        (0usize..4, proptest::sample::select(blocks)).prop_map(|(p, b)| Change::Associate(p, b)),
        (0usize..4, 0usize..3).prop_map(|(p, i)| Change::Disassociate(p, i)),
    ]
}

/// Applies a peer's change to the observed peerings; returns the peer.
fn apply_change(obs: &mut Observed, c: &Change) -> usize {
    let n = obs.peerings.len();
    match *c {
        Change::Associate(p, block) => {
            // A VPC's own blocks never overlap (EC2 refuses that).
            let cidrs = &mut obs.peerings[p % n].requester.cidrs;
            if !cidrs.iter().any(|c| overlaps(c, &block)) {
                cidrs.push(block);
            }
            p % n
        }
        Change::Disassociate(p, i) => {
            // The primary block (the first) cannot be given up.
            let cidrs = &mut obs.peerings[p % n].requester.cidrs;
            if i + 1 < cidrs.len() {
                cidrs.remove(i + 1);
            }
            p % n
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Whatever blocks any peers associate or give up, in any order, one or
    /// several changes between two passes: routing is never ambiguous, and a
    /// peer's routes and rules are never taken away by another peer's change
    /// (the block stays with who holds it).
    #[test]
    fn no_peer_ever_cuts_off_another(
        initial in proptest::collection::vec((0usize..14, 0usize..3), 2..5),
        batches in proptest::collection::vec(proptest::collection::vec(change(pool()), 1..3), 0..6),
    ) {
        let blocks = pool();
        let asks = [Asks::Blocks, Asks::DestinationsAndRule, Asks::Destinations];
        let initial: Vec<(IpNet, Asks)> = initial.iter().map(|(i, a)| (blocks[*i], asks[*a])).collect();
        let (config, obs) = hub(&initial);
        let mut obs = settle(&config, obs).map_err(TestCaseError::fail)?;
        let v = violations(&obs);
        prop_assert!(v.is_empty(), "initially: {:?}", v);
        for batch in batches {
            let before = held(&obs);
            let mut changed = BTreeSet::new();
            for c in &batch {
                let i = apply_change(&mut obs, c);
                changed.insert(obs.peerings[i].id.clone());
            }
            obs = settle(&config, obs).map_err(TestCaseError::fail)?;
            let v = violations(&obs);
            prop_assert!(v.is_empty(), "after {:?}: {:?}", batch, v);
            let after = held(&obs);
            for (pcx, had) in before.iter().filter(|(pcx, _)| !changed.contains(*pcx)) {
                let kept = after.get(pcx).cloned().unwrap_or_default();
                let lost: Vec<_> = had.difference(&kept).collect();
                prop_assert!(lost.is_empty(), "{:?} took {:?} away from {}", batch, lost, pcx);
            }
        }
    }
}
