//! The reads a path needs, behind [`Aws`]: the interfaces that are its ends
//! (filtered by id or address, never every interface), then, per end, one
//! round of filtered calls whatever the number of route tables, rules or
//! entries: the subnet's own and the main route table, the subnet's network
//! ACL, the interface's groups, its VPC (and DNS attributes), the peerings.

use crate::aws::{Aws, Interfaces, Select};
use crate::error::AwsError;
use crate::model::{NetworkInterface, Peering};

use super::{EndView, Endpoint};

/// The interfaces matching any of `endpoints` in one account and region:
/// one call for the ids, one for the addresses (at once).
pub async fn find(aws: &dyn Aws, endpoints: &[&Endpoint]) -> Result<Vec<NetworkInterface>, AwsError> {
    let mut ids = Vec::new();
    let mut addresses = Vec::new();
    for e in endpoints {
        match e {
            Endpoint::Interface(id) => ids.push(id.to_string()),
            Endpoint::Address(a) => addresses.push(a.to_string()),
        }
    }
    let by_id = async {
        if ids.is_empty() {
            Ok(Vec::new())
        } else {
            aws.describe_network_interfaces(Interfaces::Ids(&ids)).await
        }
    };
    let by_address = async {
        if addresses.is_empty() {
            Ok(Vec::new())
        } else {
            aws.describe_network_interfaces(Interfaces::Addresses(&addresses)).await
        }
    };
    let (by_id, by_address) = tokio::join!(by_id, by_address);
    let mut out = by_id?;
    for i in by_address? {
        if !out.iter().any(|o| o.id == i.id) {
            out.push(i);
        }
    }
    Ok(out)
}

/// What one end's account shows of it, and every peering that account sees,
/// in one round. `dns`: read the VPC's DNS attributes too (two calls).
pub async fn end_view(
    aws: &dyn Aws,
    account: &str,
    region: &str,
    interface: NetworkInterface,
    dns: bool,
    peering_quota: usize,
) -> Result<(EndView, Vec<Peering>), AwsError> {
    let subnets = [interface.subnet.clone()];
    let vpcs = [interface.vpc.clone()];
    let groups = async {
        if interface.groups.is_empty() {
            Ok(Vec::new())
        } else {
            aws.describe_security_groups(Select::Ids(&interface.groups)).await
        }
    };
    let attributes = async {
        if dns {
            aws.vpc_dns_attributes(&interface.vpc).await.map(Some)
        } else {
            Ok(None)
        }
    };
    let (tables, acls, groups, described, peerings, attributes) = tokio::join!(
        aws.describe_subnet_route_tables(&subnets, &vpcs),
        aws.describe_subnet_network_acls(&subnets),
        groups,
        aws.describe_vpcs(&vpcs),
        aws.describe_peerings(None),
        attributes,
    );
    let mut vpc = described?
        .into_iter()
        .find(|v| v.id == interface.vpc)
        .ok_or_else(|| AwsError {
            operation: "DescribeVpcs",
            code: None,
            message: format!("{} of {} was not found", interface.vpc, interface.id),
        })?;
    if let Some((support, hostnames)) = attributes? {
        vpc.dns_support = Some(support);
        vpc.dns_hostnames = Some(hostnames);
    }
    let view = EndView {
        account: account.to_string(),
        region: region.to_string(),
        interface,
        vpc,
        route_tables: tables?,
        network_acls: acls?,
        groups: groups?,
        peering_quota,
    };
    Ok((view, peerings?))
}

/// Both accounts' peerings, each once (a peering between them is seen by both).
pub fn merge_peerings(lists: impl IntoIterator<Item = Vec<Peering>>) -> Vec<Peering> {
    let mut out: Vec<Peering> = Vec::new();
    for p in lists.into_iter().flatten() {
        if !out.iter().any(|o| o.id == p.id) {
            out.push(p);
        }
    }
    out
}
