//! What the in-memory account holds, and the example account tests start from.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::Value;

use crate::aws::{KeyDescription, Parameter, SecretDescription};
use crate::model::{
    NetworkAcl, NetworkInterface, Peering, PeeringStatus, Route, RouteTable, RouteTarget, RulePeer, SecurityGroup,
    StaleRule, Subnet, Vpc,
};

/// Everything the in-memory account holds.
#[derive(Debug, Clone, Default)]
pub struct World {
    pub account: String,
    pub peerings: Vec<Peering>,
    pub vpcs: Vec<Vpc>,
    pub route_tables: Vec<RouteTable>,
    pub groups: Vec<SecurityGroup>,
    pub network_acls: Vec<NetworkAcl>,
    pub interfaces: Vec<NetworkInterface>,
    pub secrets: BTreeMap<String, (SecretDescription, Option<Value>)>,
    pub keys: BTreeMap<String, (KeyDescription, Option<Value>)>,
    pub parameters: BTreeMap<String, Parameter>,
    /// Published events: (bus, detail-type, detail).
    pub events: Vec<(String, String, Value)>,
}

/// The ECS-to-RDS example's accepter account, in memory: the local VPC
/// (10.8.0.0/16) with a main table and a subnet table, the database group, a
/// secret on a customer-managed key, and `requests` pending requests from the
/// peer's VPCs (one per CIDR block, ids `pcx-…01`, `pcx-…02`, …).
pub fn accepter_world(requests: &[&str]) -> World {
    use crate::fixtures::{KEY, LOCAL_VPC, ME, PEER, SECRET, SG, side};
    let local: IpNet = "10.8.0.0/16".parse().expect("cidr");
    let peerings = requests
        .iter()
        .enumerate()
        .map(|(i, cidr)| Peering {
            id: format!("pcx-{:017x}", i + 1),
            status: PeeringStatus::PendingAcceptance,
            status_message: String::new(),
            requester: side(PEER, &format!("vpc-{:017x}", i + 1), vec![cidr.parse().expect("cidr")]),
            accepter: side(ME, LOCAL_VPC, vec![local]),
            tags: BTreeMap::new(),
        })
        .collect();
    let table = |id: &str, main: bool| RouteTable {
        id: id.into(),
        vpc: LOCAL_VPC.into(),
        main,
        subnets: if main { vec![] } else { vec!["subnet-0123".into()] },
        tags: BTreeMap::new(),
        routes: vec![Route {
            destination: local,
            target: RouteTarget::Local,
            blackhole: false,
        }],
        other_routes: 0,
        main_for: Vec::new(),
    };
    let key_policy = serde_json::json!({"Version": "2012-10-17", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{ME}:root")}, "Action": "kms:*", "Resource": "*"}]});
    World {
        account: ME.into(),
        peerings,
        vpcs: vec![Vpc {
            id: LOCAL_VPC.into(),
            cidrs: vec![local],
            dns_support: Some(true),
            dns_hostnames: Some(true),
            tags: BTreeMap::new(),
        }],
        route_tables: vec![
            table("rtb-00000000000000001", true),
            table("rtb-00000000000000002", false),
        ],
        groups: vec![SecurityGroup {
            id: SG.into(),
            vpc: LOCAL_VPC.into(),
            rules: Vec::new(),
            other_rules_ingress: 0,
            other_rules_egress: 1,
            group_refs: Vec::new(),
            tagged: false,
        }],
        secrets: BTreeMap::from([(
            SECRET.to_string(),
            (
                SecretDescription {
                    arn: SECRET.into(),
                    kms_key: Some(KEY.into()),
                    tagged: false,
                },
                None,
            ),
        )]),
        keys: BTreeMap::from([(
            KEY.to_string(),
            (
                KeyDescription {
                    arn: KEY.into(),
                    aws_managed: false,
                },
                Some(key_policy),
            ),
        )]),
        ..World::default()
    }
}

impl World {
    /// The subnets of `ids` the world knows of: those associated with a
    /// route table or holding an interface.
    pub fn subnets(&self, ids: &[String]) -> Vec<Subnet> {
        let associated = self
            .route_tables
            .iter()
            .flat_map(|t| t.subnets.iter().map(|s| (s, &t.vpc)));
        let holding = self.interfaces.iter().map(|i| (&i.subnet, &i.vpc));
        let mut out: Vec<Subnet> = associated
            .chain(holding)
            .filter(|(s, _)| ids.contains(s))
            .map(|(s, v)| Subnet {
                id: s.clone(),
                vpc: v.clone(),
            })
            .collect();
        out.dedup();
        out
    }

    /// The rules of `vpc`'s groups that reference a group through a peering
    /// that is not active: what DescribeStaleSecurityGroups lists.
    pub fn stale_rules(&self, vpc: &str) -> Vec<StaleRule> {
        let active = |pcx: &str| {
            self.peerings
                .iter()
                .any(|p| p.id == pcx && p.status == PeeringStatus::Active)
        };
        let mut out = Vec::new();
        for g in self.groups.iter().filter(|g| g.vpc == vpc) {
            for r in &g.rules {
                let RulePeer::Group {
                    account,
                    group,
                    peering,
                } = &r.rule.peer
                else {
                    continue;
                };
                if active(peering) {
                    continue;
                }
                let ports = r.rule.ports.map(|p| (i32::from(p.from), i32::from(p.to)));
                out.push(StaleRule {
                    group: g.id.clone(),
                    vpc: g.vpc.clone(),
                    direction: r.rule.direction,
                    protocol: r.rule.protocol.ec2_name().to_string(),
                    from_port: ports.map(|p| p.0),
                    to_port: ports.map(|p| p.1),
                    account: Some(account.clone()),
                    referenced_group: group.clone(),
                    peering: Some(peering.clone()),
                    peering_status: Some("deleted".into()),
                });
            }
        }
        out
    }
}
