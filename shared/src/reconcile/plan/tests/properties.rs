//! The routing invariant over time: whatever blocks any peers associate, in
//! any order, after each pass no route or rule of ours targets a block that
//! overlaps the local VPC or a block another established peering brings.

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

fn peer_account(i: usize) -> String {
    format!("{:012}", 300_000_000_000u64 + i as u64)
}

/// `n` active peerings into the local VPC, each from its own account, each
/// with its entry (10.0.0.0/8 allowed, port 5432 in the group).
fn hub(initial: &[IpNet]) -> (Config, Observed) {
    let mut obs = world(PeeringStatus::Active);
    obs.peerings.clear();
    obs.secrets.clear();
    obs.keys.clear();
    let mut entries = Vec::new();
    for (i, block) in initial.iter().enumerate() {
        let account = peer_account(i);
        let vpc = format!("vpc-{:017x}", i + 1);
        entries.push(Entry::new(&format!("peer-{i}"), &account, VPC, &["10.0.0.0/8"]).rule(SG, 5432));
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

/// Every route and rule of ours that breaks the invariant.
fn violations(obs: &Observed) -> Vec<String> {
    let local = &obs.vpcs[VPC].cidrs;
    let others = |pcx: &str| -> Vec<IpNet> {
        obs.peerings
            .iter()
            .filter(|p| p.id != pcx && crate::routing::is_established(p))
            .flat_map(|p| p.requester.cidrs.clone())
            .collect()
    };
    let bad = |pcx: &str, dest: &IpNet| {
        local.iter().any(|l| overlaps(dest, l)) || others(pcx).iter().any(|o| overlaps(dest, o))
    };
    let mut out = Vec::new();
    for t in &obs.route_tables {
        for r in &t.routes {
            if let RouteTarget::Peering(pcx) = &r.target {
                if bad(pcx, &r.destination) {
                    out.push(format!("route {} -> {pcx} in {}", r.destination, t.id));
                }
            }
        }
    }
    for r in &obs.security_groups[SG].rules {
        if let Some(pcx) = marked_peering(r.description.as_deref()) {
            if bad(pcx, &r.rule.cidr) {
                out.push(format!("rule {} for {pcx}", r.rule));
            }
        }
    }
    out
}

use crate::matching::overlaps;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn no_route_or_rule_ever_targets_a_contested_block(
        initial in proptest::collection::vec(0usize..14, 2..5),
        growth in proptest::collection::vec((0usize..4, 0usize..14), 0..7),
    ) {
        let blocks = pool();
        let initial: Vec<IpNet> = initial.iter().map(|i| blocks[*i]).collect();
        let (config, mut obs) = hub(&initial);
        let n = obs.peerings.len();
        let mut steps: Vec<Option<(usize, IpNet)>> = vec![None];
        steps.extend(growth.iter().map(|(p, b)| Some((p % n, blocks[*b]))));
        for step in steps {
            if let Some((peer, block)) = step {
                let cidrs = &mut obs.peerings[peer].requester.cidrs;
                if !cidrs.contains(&block) {
                    cidrs.push(block);
                }
            }
            let plan = plan(&config, &obs);
            obs = applied(obs, &plan);
            let v = violations(&obs);
            prop_assert!(v.is_empty(), "after {:?}: {:?}\nplan: {:#?}", step, v, plan.actions);
        }
    }
}
