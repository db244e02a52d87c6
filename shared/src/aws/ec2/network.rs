//! The reads that follow one packet (`peerlink verify`, declared paths,
//! doctor): network interfaces, the route table and network ACL of a subnet.
//! Every call is filtered: never every interface of an account.

use std::net::Ipv4Addr;

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types as t;

use super::{filter, parse_net, route_tables_where};
use crate::aws::{FILTER_VALUES_MAX, Interfaces, aws_error};
use crate::config::{PortRange, Protocol};
use crate::error::AwsError;
use crate::model::{NaclEntry, NetworkAcl, NetworkInterface, RouteTable, Subnet};

/// Network interfaces by id or by private IPv4 address, one paginated call
/// per 200 values. An id or address nothing has is absent, not an error.
pub async fn describe_network_interfaces(ec2: &Client, by: Interfaces<'_>) -> Result<Vec<NetworkInterface>, AwsError> {
    let (name, values) = match by {
        Interfaces::Ids(ids) => ("network-interface-id", ids),
        Interfaces::Addresses(addresses) => ("addresses.private-ip-address", addresses),
    };
    let filters = |chunk: &[String]| vec![filter(name, chunk)];
    describe_filtered!(
        ec2,
        describe_network_interfaces,
        "DescribeNetworkInterfaces",
        values,
        filters,
        1000,
        network_interfaces,
        interface_from
    )
}

fn interface_from(i: &t::NetworkInterface) -> NetworkInterface {
    let primary = i.private_ip_address().and_then(|a| a.parse::<Ipv4Addr>().ok());
    let mut addresses: Vec<Ipv4Addr> = primary.into_iter().collect();
    for a in i.private_ip_addresses() {
        if let Some(ip) = a.private_ip_address().and_then(|a| a.parse().ok()) {
            if !addresses.contains(&ip) {
                addresses.push(ip);
            }
        }
    }
    NetworkInterface {
        id: i.network_interface_id().unwrap_or_default().to_string(),
        account: i.owner_id().unwrap_or_default().to_string(),
        vpc: i.vpc_id().unwrap_or_default().to_string(),
        subnet: i.subnet_id().unwrap_or_default().to_string(),
        addresses,
        groups: i
            .groups()
            .iter()
            .filter_map(|g| g.group_id().map(str::to_string))
            .collect(),
        description: i.description().unwrap_or_default().to_string(),
    }
}

/// These subnets, one paginated call per 200 ids: filtered by id, so one
/// that does not exist is absent rather than failing the call.
pub async fn describe_subnets(ec2: &Client, ids: &[String]) -> Result<Vec<Subnet>, AwsError> {
    let mut out = Vec::new();
    for chunk in ids.chunks(FILTER_VALUES_MAX) {
        let mut pages = ec2
            .describe_subnets()
            .filters(filter("subnet-id", chunk))
            .max_results(1000)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| aws_error("DescribeSubnets", e))?;
            out.extend(page.subnets().iter().map(|s| Subnet {
                id: s.subnet_id().unwrap_or_default().to_string(),
                vpc: s.vpc_id().unwrap_or_default().to_string(),
            }));
        }
    }
    Ok(out)
}

/// The route tables associated with `subnets` and the main tables of
/// `vpcs` (a subnet without a table of its own uses its VPC's main one):
/// two filtered calls at once, whatever the number of tables in the VPCs.
pub async fn describe_subnet_route_tables(
    ec2: &Client,
    subnets: &[String],
    vpcs: &[String],
) -> Result<Vec<RouteTable>, AwsError> {
    let main = [filter("association.main", &["true".to_string()])];
    let (own, mains) = tokio::join!(
        route_tables_where(ec2, "association.subnet-id", subnets, &[]),
        route_tables_where(ec2, "vpc-id", vpcs, &main),
    );
    let mut out = own?;
    for t in mains? {
        if !out.iter().any(|o| o.id == t.id) {
            out.push(t);
        }
    }
    Ok(out)
}

/// Every network ACL of the given VPCs (doctor, declared paths).
pub async fn describe_network_acls(ec2: &Client, vpc_ids: &[String]) -> Result<Vec<NetworkAcl>, AwsError> {
    network_acls_where(ec2, "vpc-id", vpc_ids).await
}

/// The network ACLs associated with these subnets (every subnet has exactly one).
pub async fn describe_subnet_network_acls(ec2: &Client, subnets: &[String]) -> Result<Vec<NetworkAcl>, AwsError> {
    network_acls_where(ec2, "association.subnet-id", subnets).await
}

async fn network_acls_where(ec2: &Client, name: &str, values: &[String]) -> Result<Vec<NetworkAcl>, AwsError> {
    let filters = |chunk: &[String]| vec![filter(name, chunk)];
    describe_filtered!(
        ec2,
        describe_network_acls,
        "DescribeNetworkAcls",
        values,
        filters,
        100,
        network_acls,
        network_acl_from
    )
}

fn network_acl_from(acl: &t::NetworkAcl) -> NetworkAcl {
    let entries = acl
        .entries()
        .iter()
        .filter_map(|e| {
            let cidr = parse_net(e.cidr_block().or(e.ipv6_cidr_block()))?;
            let protocol = match e.protocol() {
                Some("-1") | None => None,
                Some(p) => Some(Protocol::from_ec2(p)?),
            };
            let ports = e.port_range().and_then(|r| match (r.from(), r.to()) {
                (Some(a), Some(b)) if (0..=65535).contains(&a) && (0..=65535).contains(&b) => Some(PortRange {
                    from: a as u16,
                    to: b as u16,
                }),
                _ => None,
            });
            Some(NaclEntry {
                rule_number: e.rule_number().unwrap_or(32767),
                egress: e.egress().unwrap_or(false),
                allow: e.rule_action() == Some(&t::RuleAction::Allow),
                protocol,
                ports,
                cidr,
            })
        })
        .collect();
    NetworkAcl {
        id: acl.network_acl_id().unwrap_or_default().to_string(),
        vpc: acl.vpc_id().unwrap_or_default().to_string(),
        subnets: acl
            .associations()
            .iter()
            .filter_map(|a| a.subnet_id().map(str::to_string))
            .collect(),
        entries,
    }
}
