//! A synthetic account for benchmarking the plan (pure, no AWS): many
//! peerings spread over a few local VPCs, each VPC with many route tables and
//! a security group full of rules.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;

use peerlink::config::{Config, Direction, PortRange, Protocol};
use peerlink::fixtures::{self, Entry, ME, PEER, REGION};
use peerlink::model::{
    Identity, ObservedRule, Peering, PeeringSide, PeeringStatus, Route, RouteTable, RouteTarget, RulePeer,
    SecurityGroup, SgRule, Side, Vpc,
};
use peerlink::ownership::{ALL_TABLES, DNS_ON, dns_tag, routes_tag};
use peerlink::reconcile::Observed;

/// The shape of the synthetic account.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    pub peerings: usize,
    pub local_vpcs: usize,
    pub tables_per_vpc: usize,
    /// Rules of the user's own in each group (ours come on top).
    pub user_rules_per_group: usize,
    /// `true`: everything already in place (the drift steady state);
    /// `false`: nothing yet (every route and rule to create).
    pub finished: bool,
}

fn hex(prefix: &str, n: usize) -> String {
    format!("{prefix}-{n:017x}")
}

/// The configuration and the observed state of the synthetic account.
pub fn account(shape: Shape) -> (Config, Observed) {
    let entries: Vec<Entry> = (0..shape.local_vpcs)
        .map(|v| Entry::new(&format!("fleet-{v}"), PEER, &hex("vpc", v), &["10.0.0.0/8"]).rule(&hex("sg", v), 5432))
        .collect();
    let config = fixtures::config(
        "routes_per_route_table = 1000\nrules_per_security_group = 1000",
        &entries,
    );

    let mut obs = Observed {
        me: Some(Identity {
            account: ME.into(),
            region: REGION.into(),
        }),
        complete: true,
        scope: config.peers.iter().map(|e| e.name.clone()).collect::<BTreeSet<_>>(),
        whole_account: true,
        ..Observed::default()
    };
    for v in 0..shape.local_vpcs {
        add_local_vpc(&mut obs, &shape, v);
    }
    add_peerings(&mut obs, &shape);
    (config, obs)
}

/// Each local VPC's block (172.16/12 cycled).
fn local_cidr(v: usize) -> IpNet {
    format!("172.{}.0.0/16", 16 + v % 16).parse().expect("cidr")
}

/// Local VPC `v`: its group with the user's own rules, its route tables.
fn add_local_vpc(obs: &mut Observed, shape: &Shape, v: usize) {
    let id = hex("vpc", v);
    obs.vpcs.insert(
        id.clone(),
        Vpc {
            id: id.clone(),
            cidrs: vec![local_cidr(v)],
            dns_support: Some(true),
            dns_hostnames: Some(true),
            tags: BTreeMap::new(),
        },
    );
    let mut user_rules = Vec::new();
    for r in 0..shape.user_rules_per_group {
        user_rules.push(ObservedRule {
            rule: SgRule {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: Some(PortRange { from: 443, to: 443 }),
                peer: RulePeer::Cidr(format!("192.168.{}.{}/32", r / 256, r % 256).parse().expect("cidr")),
            },
            description: Some(format!("user rule {r}")),
        });
    }
    obs.security_groups.insert(
        hex("sg", v),
        SecurityGroup {
            id: hex("sg", v),
            vpc: id.clone(),
            rules: user_rules,
            other_rules_ingress: 0,
            other_rules_egress: 1,
            group_refs: Vec::new(),
            tagged: true,
        },
    );
    for t in 0..shape.tables_per_vpc {
        obs.route_tables.push(RouteTable {
            id: hex("rtb", v * 100_000 + t),
            vpc: id.clone(),
            main: t == 0,
            subnets: if t == 0 {
                Vec::new()
            } else {
                vec![hex("subnet", v * 100_000 + t)]
            },
            tags: BTreeMap::new(),
            routes: vec![Route {
                destination: local_cidr(v),
                target: RouteTarget::Local,
                blackhole: false,
            }],
            other_routes: 0,
            main_for: Vec::new(),
        });
    }
}

/// The peerings, spread over the local VPCs; when `shape.finished`, with
/// every route, rule and record peerlink would have made.
fn add_peerings(obs: &mut Observed, shape: &Shape) {
    let marker_port = Some(PortRange { from: 5432, to: 5432 });
    let mut table_index: HashMap<String, usize> = HashMap::new();
    for (i, t) in obs.route_tables.iter().enumerate() {
        table_index.insert(t.id.clone(), i);
    }
    for p in 0..shape.peerings {
        let v = p % shape.local_vpcs;
        let pcx = hex("pcx", p);
        let remote: IpNet = format!("10.{}.{}.0/24", p / 256, p % 256).parse().expect("cidr");
        obs.peerings.push(Peering {
            id: pcx.clone(),
            status: PeeringStatus::Active,
            status_message: String::new(),
            requester: PeeringSide {
                account: PEER.into(),
                vpc: hex("vpc", 1_000_000 + p),
                region: REGION.into(),
                cidrs: vec![remote],
                allow_remote_dns: false,
                blocks_known: true,
            },
            accepter: PeeringSide {
                account: ME.into(),
                vpc: hex("vpc", v),
                region: REGION.into(),
                cidrs: vec![local_cidr(v)],
                allow_remote_dns: shape.finished,
                blocks_known: true,
            },
            // What peerlink records on a peering it finished.
            tags: if shape.finished {
                BTreeMap::from([
                    (routes_tag(Side::Accepter), ALL_TABLES.to_string()),
                    (dns_tag(Side::Accepter), DNS_ON.to_string()),
                ])
            } else {
                BTreeMap::new()
            },
        });
        if shape.finished {
            for t in 0..shape.tables_per_vpc {
                let i = table_index[&hex("rtb", v * 100_000 + t)];
                obs.route_tables[i].routes.push(Route {
                    destination: remote,
                    target: RouteTarget::Peering(pcx.clone()),
                    blackhole: false,
                });
            }
            let g = obs.security_groups.get_mut(&hex("sg", v)).expect("group");
            g.rules.push(ObservedRule {
                rule: SgRule {
                    direction: Direction::Ingress,
                    protocol: Protocol::Tcp,
                    ports: marker_port,
                    peer: RulePeer::Cidr(remote),
                },
                description: Some(peerlink::ownership::rule_marker(&pcx)),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_synthetic_account_plans_as_expected() {
        let shape = Shape {
            peerings: 40,
            local_vpcs: 4,
            tables_per_vpc: 5,
            user_rules_per_group: 50,
            finished: false,
        };
        let (config, obs) = account(shape);
        let plan = peerlink::reconcile::plan::plan(&config, &obs);
        let count = |k: &str| plan.actions.iter().filter(|a| a.action.kind() == k).count();
        assert_eq!(count("create-route"), 40 * 5);
        assert_eq!(count("authorize-rule"), 40);
        assert_eq!(count("enable-peering-dns"), 40);
        assert_eq!(count("tag-peering"), 40);
        let (config, obs) = account(Shape {
            finished: true,
            ..shape
        });
        let steady = peerlink::reconcile::plan::plan(&config, &obs);
        assert!(
            steady.actions.is_empty(),
            "{:#?}",
            &steady.actions[..steady.actions.len().min(3)]
        );
    }
}
