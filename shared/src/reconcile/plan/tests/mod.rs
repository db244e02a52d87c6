//! Unit tests of the plan: pure, no AWS. The fixtures are here, the tests
//! by concern in the submodules.

mod cleanup;
mod finish;
mod groups;
mod narrow;
mod properties;
mod withdraw;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;

use super::*;
use crate::config::{Config, Protocol};
use crate::model::{KeyState, ObservedRule, PeeringSide, Route, RouteTarget, SecretState};
use crate::reconcile::policy;

use crate::fixtures::{self, Entry};
pub(super) use crate::fixtures::{KEY, LOCAL_VPC as VPC, ME, PCX, PEER, PEER_VPC, ROLE, SECRET, SG};

/// The accepter's entry of the ECS-to-RDS example; `extra_entry` adds lines to it.
pub(super) fn config(extra_entry: &str) -> Config {
    let mut orders = Entry::new("orders", PEER, VPC, &["10.0.0.0/15"])
        .peer_vpc(PEER_VPC)
        .rule(SG, 5432)
        .secret(SECRET, &[ROLE]);
    for line in extra_entry.lines().filter(|l| !l.trim().is_empty()) {
        orders = orders.line(line);
    }
    fixtures::config("", &[orders])
}

pub(super) fn side(account: &str, vpc: &str, cidrs: &[&str], dns: bool) -> PeeringSide {
    PeeringSide {
        account: account.into(),
        vpc: vpc.into(),
        region: "eu-west-1".into(),
        cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
        allow_remote_dns: dns,
        blocks_known: true,
    }
}

pub(super) fn table(id: &str, main: bool, subnets: &[&str], routes: Vec<Route>) -> RouteTable {
    let mut all = vec![Route {
        destination: "10.8.0.0/16".parse().unwrap(),
        target: RouteTarget::Local,
        blackhole: false,
    }];
    all.extend(routes);
    RouteTable {
        id: id.into(),
        vpc: VPC.into(),
        main,
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        tags: BTreeMap::new(),
        routes: all,
        other_routes: 0,
        main_for: Vec::new(),
    }
}

pub(super) fn route(dest: &str, target: RouteTarget) -> Route {
    Route {
        destination: dest.parse().unwrap(),
        target,
        blackhole: false,
    }
}

pub(super) fn pcx_target() -> RouteTarget {
    RouteTarget::Peering(PCX.into())
}

pub(super) fn rule(cidr: &str, description: Option<&str>) -> ObservedRule {
    ObservedRule {
        rule: SgRule {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: Some(crate::config::PortRange { from: 5432, to: 5432 }),
            peer: crate::model::RulePeer::Cidr(cidr.parse().unwrap()),
        },
        description: description.map(str::to_string),
    }
}

pub(super) fn key_policy() -> serde_json::Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"}]})
}

/// An accepter-side world: an active peering, a VPC with a main table and two
/// subnet tables, the database group, a secret on a customer-managed key.
pub(super) fn world(status: PeeringStatus) -> Observed {
    let peering = Peering {
        id: PCX.into(),
        status,
        status_message: String::new(),
        requester: side(PEER, PEER_VPC, &["10.0.0.0/16", "10.1.0.0/16"], false),
        accepter: side(ME, VPC, &["10.8.0.0/16"], false),
        tags: BTreeMap::new(),
    };
    Observed {
        me: Some(fixtures::me()),
        peerings: vec![peering],
        complete: true,
        scope: BTreeSet::from(["orders".to_string()]),
        whole_account: true,
        now: 1_800_000_000,
        vpcs: HashMap::from([(
            VPC.to_string(),
            Vpc {
                id: VPC.into(),
                cidrs: vec!["10.8.0.0/16".parse().unwrap()],
                dns_support: Some(true),
                dns_hostnames: Some(true),
                tags: BTreeMap::new(),
            },
        )]),
        route_tables: vec![
            table("rtb-00000000000000001", true, &[], vec![]),
            table("rtb-00000000000000002", false, &["subnet-a"], vec![]),
            table("rtb-00000000000000003", false, &["subnet-b"], vec![]),
        ],
        security_groups: HashMap::from([(
            SG.to_string(),
            SecurityGroup {
                id: SG.into(),
                vpc: VPC.into(),
                rules: vec![],
                other_rules_ingress: 0,
                other_rules_egress: 1,
                group_refs: Vec::new(),
                tagged: true,
            },
        )]),
        secrets: HashMap::from([(
            SECRET.to_string(),
            Some(SecretState {
                arn: SECRET.into(),
                kms_key: Some(KEY.into()),
                tagged: true,
                policy: Some(
                    json!({"Version": "2012-10-17", "Statement": [{"Sid": "UserStatement", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:role/admin"}, "Action": "secretsmanager:*", "Resource": "*"}]}),
                ),
            }),
        )]),
        keys: HashMap::from([(
            KEY.to_string(),
            Some(KeyState {
                arn: KEY.into(),
                aws_managed: false,
                policy: Some(key_policy()),
            }),
        )]),
        denied: Default::default(),
    }
}

pub(super) fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.actions.iter().map(|a| a.action.kind()).collect()
}

pub(super) fn count(plan: &Plan, kind: &str) -> usize {
    plan.actions.iter().filter(|a| a.action.kind() == kind).count()
}

/// Applies the plan to the observed state as AWS would, for steady-state checks.
pub(super) fn applied(mut obs: Observed, plan: &Plan) -> Observed {
    for a in &plan.actions {
        match &a.action {
            Action::CreateRoute {
                route_table,
                destination,
                peering,
            }
            | Action::ReplaceRoute {
                route_table,
                destination,
                peering,
                ..
            } => {
                let t = obs.route_tables.iter_mut().find(|t| &t.id == route_table).unwrap();
                t.routes.retain(|r| &r.destination != destination);
                t.routes
                    .push(route(&destination.to_string(), RouteTarget::Peering(peering.clone())));
            }
            Action::DeleteRoute {
                route_table,
                destination,
                ..
            } => {
                obs.route_tables
                    .iter_mut()
                    .find(|t| &t.id == route_table)
                    .unwrap()
                    .routes
                    .retain(|r| &r.destination != destination);
            }
            Action::AuthorizeRule {
                group,
                rule,
                description,
            } => obs.security_groups.get_mut(group).unwrap().rules.push(ObservedRule {
                rule: rule.clone(),
                description: Some(description.clone()),
            }),
            Action::RevokeRule { group, rule } => obs
                .security_groups
                .get_mut(group)
                .unwrap()
                .rules
                .retain(|r| &r.rule != rule),
            Action::EnablePeeringDns { peering, side } => {
                let p = obs.peerings.iter_mut().find(|p| &p.id == peering).unwrap();
                match side {
                    Side::Requester => p.requester.allow_remote_dns = true,
                    Side::Accepter => p.accepter.allow_remote_dns = true,
                }
            }
            Action::RemarkRule {
                group,
                rule,
                description,
            } => {
                let g = obs.security_groups.get_mut(group).unwrap();
                let r = g.rules.iter_mut().find(|r| &r.rule == rule).unwrap();
                r.description = Some(description.clone());
            }
            Action::DisablePeeringDns { peering, side } => {
                let p = obs.peerings.iter_mut().find(|p| &p.id == peering).unwrap();
                match side {
                    Side::Requester => p.requester.allow_remote_dns = false,
                    Side::Accepter => p.accepter.allow_remote_dns = false,
                }
                p.tags
                    .insert(crate::ownership::dns_tag(*side), crate::ownership::DNS_OFF.into());
            }
            Action::TagPeering { peering, tags } => {
                let p = obs.peerings.iter_mut().find(|p| &p.id == peering).unwrap();
                p.tags.extend(tags.iter().cloned());
            }
            Action::TagGroup { group } => obs.security_groups.get_mut(group).unwrap().tagged = true,
            Action::TagSecret { secret } => obs.secrets.get_mut(secret).unwrap().as_mut().unwrap().tagged = true,
            Action::EnableVpcAttribute { .. } | Action::CreatePeeringRequest { .. } | Action::TagKey { .. } => {}
            Action::MergeSecretPolicy { secret, change, .. } => {
                let s = obs.secrets.get_mut(secret).unwrap().as_mut().unwrap();
                s.policy = Some(policy::merge(s.policy.as_ref(), change));
            }
            Action::MergeKeyPolicy { key, change, .. } => {
                let k = obs.keys.get_mut(key).unwrap().as_mut().unwrap();
                k.policy = Some(policy::merge(k.policy.as_ref(), change));
            }
        }
    }
    obs
}
