//! EC2 reads (few, filtered, paginated), converted to [`crate::model`] types.
//! The writes are in [`write`].

/// Every page of a filtered Describe, one paginated call per
/// [`FILTER_VALUES_MAX`] values (EC2's limit on a filter's values), each
/// item converted with `$from`: `$filters` gives the call's filters for one
/// chunk of values. The SDK's request and paginator are distinct types per
/// operation, hence a macro. Pacing is the caller's (`paced` in sdk.rs
/// wraps the whole read).
macro_rules! describe_filtered {
    ($ec2:expr, $call:ident, $operation:literal, $values:expr, $filters:expr, $max:literal, $items:ident, $from:expr) => {{
        let mut out = Vec::new();
        for chunk in $values.chunks(FILTER_VALUES_MAX) {
            let mut pages = $ec2
                .$call()
                .set_filters(Some($filters(chunk)))
                .max_results($max)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error($operation, e))?;
                out.extend(page.$items().iter().map($from));
            }
        }
        Ok(out)
    }};
}

mod network;
pub mod write;

use std::collections::BTreeMap;
use std::str::FromStr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{self as t, Filter, IpPermission, RouteState, VpcAttributeName};
use ipnet::IpNet;

use super::{FILTER_VALUES_MAX, Select, aws_error};
use crate::config::{Direction, PortRange, Protocol};
use crate::error::AwsError;
use crate::model::{
    GroupRef, ObservedRule, Peering, PeeringSide, PeeringStatus, Route, RouteTable, RouteTarget, RulePeer,
    SecurityGroup, SgRule, StaleRule, Vpc,
};
use crate::ownership::MANAGED_TAG;

pub use network::*;
pub use write::*;

/// AWS spells it `…ID.NotFound`, the emulator `…Id.NotFound`.
pub const PEERING_NOT_FOUND: [&str; 2] = [
    "InvalidVpcPeeringConnectionID.NotFound",
    "InvalidVpcPeeringConnectionId.NotFound",
];

pub(super) fn filter(name: &str, values: &[String]) -> Filter {
    Filter::builder().name(name).set_values(Some(values.to_vec())).build()
}

pub(super) fn parse_net(text: Option<&str>) -> Option<IpNet> {
    text.and_then(|t| IpNet::from_str(t).ok())
}

/// Every CIDR of one end: the primary block, `CidrBlockSet` (where secondary
/// blocks live, and across accounts the only place to read them) and IPv6.
fn side_from(info: Option<&t::VpcPeeringConnectionVpcInfo>) -> PeeringSide {
    let Some(info) = info else {
        return PeeringSide {
            account: String::new(),
            vpc: String::new(),
            region: String::new(),
            cidrs: Vec::new(),
            allow_remote_dns: false,
            blocks_known: false,
        };
    };
    let mut cidrs: Vec<IpNet> = Vec::new();
    let candidates = std::iter::once(info.cidr_block())
        .chain(info.cidr_block_set().iter().map(|c| c.cidr_block()))
        .chain(info.ipv6_cidr_block_set().iter().map(|c| c.ipv6_cidr_block()));
    for net in candidates.filter_map(parse_net) {
        if !cidrs.contains(&net) {
            cidrs.push(net);
        }
    }
    PeeringSide {
        account: info.owner_id().unwrap_or_default().to_string(),
        vpc: info.vpc_id().unwrap_or_default().to_string(),
        region: info.region().unwrap_or_default().to_string(),
        cidrs,
        allow_remote_dns: info
            .peering_options()
            .and_then(|o| o.allow_dns_resolution_from_remote_vpc())
            .unwrap_or(false),
        blocks_known: !info.cidr_block_set().is_empty(),
    }
}

pub fn peering_from(p: &t::VpcPeeringConnection) -> Peering {
    let status = p.status();
    Peering {
        id: p.vpc_peering_connection_id().unwrap_or_default().to_string(),
        status: PeeringStatus::from_code(status.and_then(|s| s.code()).map(|c| c.as_str()).unwrap_or("unknown")),
        status_message: status.and_then(|s| s.message()).unwrap_or_default().to_string(),
        requester: side_from(p.requester_vpc_info()),
        accepter: side_from(p.accepter_vpc_info()),
        tags: tags_of(p.tags()),
    }
}

/// Describes the given peerings (by id), or every peering this account can see
/// when `ids` is `None`, in one paginated call. A peering id that does not exist
/// is simply absent from the result.
pub async fn describe_peerings(ec2: &Client, ids: Option<&[String]>) -> Result<Vec<Peering>, AwsError> {
    let mut out = Vec::new();
    match ids {
        None => {
            let mut pages = ec2
                .describe_vpc_peering_connections()
                .max_results(1000)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| aws_error("DescribeVpcPeeringConnections", e))?;
                out.extend(page.vpc_peering_connections().iter().map(peering_from));
            }
        }
        Some(ids) => {
            for chunk in ids.chunks(FILTER_VALUES_MAX) {
                let res = ec2
                    .describe_vpc_peering_connections()
                    .set_vpc_peering_connection_ids(Some(chunk.to_vec()))
                    .send()
                    .await;
                match res {
                    Ok(page) => out.extend(page.vpc_peering_connections().iter().map(peering_from)),
                    Err(e) => {
                        let err = aws_error("DescribeVpcPeeringConnections", e);
                        if err.code_is(&PEERING_NOT_FOUND) {
                            // One unknown id fails the whole call: ask for each alone.
                            if chunk.len() > 1 {
                                for id in chunk {
                                    out.extend(Box::pin(describe_peerings(ec2, Some(std::slice::from_ref(id)))).await?);
                                }
                            }
                            continue;
                        }
                        return Err(err);
                    }
                }
            }
        }
    }
    // The emulator ignores filters and ids can repeat across pages: dedupe by id.
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.id.clone()));
    Ok(out)
}

/// The CIDR blocks of the given VPCs, in one paginated call per 200 VPCs.
pub async fn describe_vpcs(ec2: &Client, vpc_ids: &[String]) -> Result<Vec<Vpc>, AwsError> {
    let filters = |chunk: &[String]| vec![filter("vpc-id", chunk)];
    describe_filtered!(
        ec2,
        describe_vpcs,
        "DescribeVpcs",
        vpc_ids,
        filters,
        1000,
        vpcs,
        vpc_from
    )
}

fn vpc_from(v: &t::Vpc) -> Vpc {
    let mut cidrs: Vec<IpNet> = Vec::new();
    let associated =
        |state: Option<&t::VpcCidrBlockStateCode>| state.is_none_or(|s| *s == t::VpcCidrBlockStateCode::Associated);
    let v4 = v
        .cidr_block_association_set()
        .iter()
        .filter(|a| associated(a.cidr_block_state().and_then(|s| s.state())))
        .map(|a| a.cidr_block());
    let v6 = v
        .ipv6_cidr_block_association_set()
        .iter()
        .filter(|a| associated(a.ipv6_cidr_block_state().and_then(|s| s.state())))
        .map(|a| a.ipv6_cidr_block());
    for net in std::iter::once(v.cidr_block())
        .chain(v4)
        .chain(v6)
        .filter_map(parse_net)
    {
        if !cidrs.contains(&net) {
            cidrs.push(net);
        }
    }
    Vpc {
        id: v.vpc_id().unwrap_or_default().to_string(),
        cidrs,
        dns_support: None,
        dns_hostnames: None,
        tags: tags_of(v.tags()),
    }
}

/// `enableDnsSupport` and `enableDnsHostnames` of a VPC (two calls: EC2 has no batch form).
pub async fn vpc_dns_attributes(ec2: &Client, vpc_id: &str) -> Result<(bool, bool), AwsError> {
    let support = ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(VpcAttributeName::EnableDnsSupport)
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcAttribute", e))?;
    let hostnames = ec2
        .describe_vpc_attribute()
        .vpc_id(vpc_id)
        .attribute(VpcAttributeName::EnableDnsHostnames)
        .send()
        .await
        .map_err(|e| aws_error("DescribeVpcAttribute", e))?;
    Ok((
        support.enable_dns_support().and_then(|a| a.value()).unwrap_or(false),
        hostnames
            .enable_dns_hostnames()
            .and_then(|a| a.value())
            .unwrap_or(false),
    ))
}

fn route_from(r: &t::Route) -> Option<Route> {
    let destination = parse_net(r.destination_cidr_block().or(r.destination_ipv6_cidr_block()))?;
    let target = if let Some(pcx) = r.vpc_peering_connection_id() {
        RouteTarget::Peering(pcx.to_string())
    } else if r.gateway_id() == Some("local") {
        RouteTarget::Local
    } else {
        let other = [
            r.gateway_id(),
            r.nat_gateway_id(),
            r.transit_gateway_id(),
            r.network_interface_id(),
            r.instance_id(),
            r.egress_only_internet_gateway_id(),
            r.local_gateway_id(),
            r.carrier_gateway_id(),
            r.core_network_arn(),
        ]
        .into_iter()
        .flatten()
        .next()
        .unwrap_or("unknown");
        RouteTarget::Other(other.to_string())
    };
    Some(Route {
        destination,
        target,
        blackhole: r.state() == Some(&RouteState::Blackhole),
    })
}

pub(super) fn route_table_from(rt: &t::RouteTable) -> RouteTable {
    let mut routes = Vec::new();
    let mut other_routes = 0;
    for r in rt.routes() {
        match route_from(r) {
            Some(route) => routes.push(route),
            None => other_routes += 1,
        }
    }
    RouteTable {
        id: rt.route_table_id().unwrap_or_default().to_string(),
        vpc: rt.vpc_id().unwrap_or_default().to_string(),
        main: rt.associations().iter().any(|a| a.main() == Some(true)),
        subnets: rt
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect(),
        tags: tags_of(rt.tags()),
        routes,
        other_routes,
        main_for: Vec::new(),
    }
}

fn tags_of(tags: &[t::Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

/// Route tables by VPC (every table of the VPCs), by id, or by tag key: one
/// paginated call per 200 values, never one call per table.
pub async fn describe_route_tables(ec2: &Client, by: Select<'_>) -> Result<Vec<RouteTable>, AwsError> {
    match by {
        Select::Vpcs(vpcs) => route_tables_where(ec2, "vpc-id", vpcs, &[]).await,
        Select::Ids(ids) => route_tables_where(ec2, "route-table-id", ids, &[]).await,
        Select::Tagged(key) => route_tables_where(ec2, "tag-key", &[key.to_string()], &[]).await,
    }
}

/// Route tables whose `name` is one of `values`, and that match every filter of `also`.
pub(super) async fn route_tables_where(
    ec2: &Client,
    name: &str,
    values: &[String],
    also: &[Filter],
) -> Result<Vec<RouteTable>, AwsError> {
    let filters = |chunk: &[String]| {
        let mut filters = vec![filter(name, chunk)];
        filters.extend(also.iter().cloned());
        filters
    };
    describe_filtered!(
        ec2,
        describe_route_tables,
        "DescribeRouteTables",
        values,
        filters,
        100,
        route_tables,
        route_table_from
    )
}

fn rules_from(
    perms: &[IpPermission],
    direction: Direction,
    other: &mut usize,
    refs: &mut Vec<GroupRef>,
) -> Vec<ObservedRule> {
    let mut rules = Vec::new();
    for p in perms {
        let proto = p.ip_protocol().and_then(Protocol::from_ec2);
        let ports = match proto {
            Some(Protocol::Tcp | Protocol::Udp) => match (p.from_port(), p.to_port()) {
                (Some(a), Some(b)) if (0..=65535).contains(&a) && (0..=65535).contains(&b) => Some(PortRange {
                    from: a as u16,
                    to: b as u16,
                }),
                _ => None,
            },
            _ => None,
        };
        // ICMP rules other than "all types" are not something we manage: count them only.
        let manageable = match proto {
            Some(Protocol::Icmp) => p.from_port() == Some(-1),
            Some(_) => true,
            None => false,
        };
        *other += p.prefix_list_ids().len();
        refs.extend(p.user_id_group_pairs().iter().map(|g| GroupRef {
            group: g.group_id().unwrap_or_default().to_string(),
            account: g.user_id().map(str::to_string),
            vpc: g.vpc_id().map(str::to_string),
            peering: g.vpc_peering_connection_id().map(str::to_string),
            direction,
            protocol: proto.filter(|_| manageable),
            ports,
        }));
        let v4 = p.ip_ranges().iter().map(|r| (r.cidr_ip(), r.description()));
        let v6 = p.ipv6_ranges().iter().map(|r| (r.cidr_ipv6(), r.description()));
        let blocks = v4
            .chain(v6)
            .map(|(cidr, description)| (parse_net(cidr).map(RulePeer::Cidr), description));
        let groups = p.user_id_group_pairs().iter().map(|g| (peer_group(g), g.description()));
        for (peer, description) in blocks.chain(groups) {
            match (manageable, proto, peer) {
                (true, Some(protocol), Some(peer)) => rules.push(ObservedRule {
                    rule: SgRule {
                        direction,
                        protocol,
                        ports,
                        peer,
                    },
                    description: description.map(str::to_string),
                }),
                _ => *other += 1,
            }
        }
    }
    rules
}

/// A reference to another account's group across a peering: one a rule of
/// ours can be (a reference within the account is the user's alone).
fn peer_group(g: &t::UserIdGroupPair) -> Option<RulePeer> {
    Some(RulePeer::Group {
        account: g.user_id()?.to_string(),
        group: g.group_id()?.to_string(),
        peering: g.vpc_peering_connection_id()?.to_string(),
    })
}

fn security_group_from(g: &t::SecurityGroup) -> SecurityGroup {
    let (mut other_in, mut other_out, mut refs) = (0, 0, Vec::new());
    let mut rules = rules_from(g.ip_permissions(), Direction::Ingress, &mut other_in, &mut refs);
    rules.extend(rules_from(
        g.ip_permissions_egress(),
        Direction::Egress,
        &mut other_out,
        &mut refs,
    ));
    SecurityGroup {
        id: g.group_id().unwrap_or_default().to_string(),
        vpc: g.vpc_id().unwrap_or_default().to_string(),
        rules,
        other_rules_ingress: other_in,
        other_rules_egress: other_out,
        group_refs: refs,
        tagged: g.tags().iter().any(|t| t.key() == Some(MANAGED_TAG)),
    }
}

/// Security groups by id (a missing group is absent, not an error), by VPC
/// (every group, for the doctor) or by tag key: one paginated call per 200 values.
pub async fn describe_security_groups(ec2: &Client, by: Select<'_>) -> Result<Vec<SecurityGroup>, AwsError> {
    match by {
        Select::Vpcs(vpcs) => describe_security_groups_by(ec2, "vpc-id", vpcs).await,
        Select::Ids(ids) => describe_security_groups_by(ec2, "group-id", ids).await,
        Select::Tagged(key) => describe_security_groups_by(ec2, "tag-key", &[key.to_string()]).await,
    }
}

async fn describe_security_groups_by(
    ec2: &Client,
    name: &str,
    values: &[String],
) -> Result<Vec<SecurityGroup>, AwsError> {
    let filters = |chunk: &[String]| vec![filter(name, chunk)];
    describe_filtered!(
        ec2,
        describe_security_groups,
        "DescribeSecurityGroups",
        values,
        filters,
        1000,
        security_groups,
        security_group_from
    )
}

/// The stale rules of `vpc`'s groups, every page (EC2 allows 5 to 255 per page).
pub async fn describe_stale_rules(ec2: &Client, vpc: &str) -> Result<Vec<StaleRule>, AwsError> {
    let mut out = Vec::new();
    let mut pages = ec2
        .describe_stale_security_groups()
        .vpc_id(vpc)
        .max_results(255)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("DescribeStaleSecurityGroups", e))?;
        for g in page.stale_security_group_set() {
            let group = g.group_id().unwrap_or_default();
            let ways = [
                (Direction::Ingress, g.stale_ip_permissions()),
                (Direction::Egress, g.stale_ip_permissions_egress()),
            ];
            for (direction, perms) in ways {
                for p in perms {
                    out.extend(p.user_id_group_pairs().iter().map(|pair| StaleRule {
                        group: group.to_string(),
                        vpc: g.vpc_id().unwrap_or(vpc).to_string(),
                        direction,
                        protocol: p.ip_protocol().unwrap_or("-1").to_string(),
                        from_port: p.from_port(),
                        to_port: p.to_port(),
                        account: pair.user_id().map(str::to_string),
                        referenced_group: pair.group_id().unwrap_or_default().to_string(),
                        peering: pair.vpc_peering_connection_id().map(str::to_string),
                        peering_status: pair.peering_status().map(str::to_string),
                    }));
                }
            }
        }
    }
    Ok(out)
}
