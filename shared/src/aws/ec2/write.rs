//! EC2 writes: one call per missing item, each reduced to success or an
//! [`AwsError`] whose code the apply step uses for idempotency.

use aws_sdk_ec2::Client;
use aws_sdk_ec2::types::{
    self as t, IpPermission, IpRange, Ipv6Range, PeeringConnectionOptionsRequest, UserIdGroupPair,
};
use ipnet::IpNet;

use super::super::{PeeringRequest, aws_error};
use crate::config::Direction;
use crate::error::AwsError;
use crate::model::{RulePeer, SgRule, Side, VpcDnsAttribute};

pub async fn accept_peering(ec2: &Client, id: &str) -> Result<(), AwsError> {
    ec2.accept_vpc_peering_connection()
        .vpc_peering_connection_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("AcceptVpcPeeringConnection", e))
}

pub async fn reject_peering(ec2: &Client, id: &str) -> Result<(), AwsError> {
    ec2.reject_vpc_peering_connection()
        .vpc_peering_connection_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("RejectVpcPeeringConnection", e))
}

pub async fn delete_peering(ec2: &Client, id: &str) -> Result<(), AwsError> {
    ec2.delete_vpc_peering_connection()
        .vpc_peering_connection_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("DeleteVpcPeeringConnection", e))
}

fn tags(tags: &[(String, String)]) -> Vec<t::Tag> {
    tags.iter()
        .map(|(k, v)| t::Tag::builder().key(k).value(v).build())
        .collect()
}

/// Requests a peering, tagged as it is created (one call: a request that
/// exists always carries our tags).
pub async fn create_peering(ec2: &Client, r: &PeeringRequest) -> Result<String, AwsError> {
    let spec = t::TagSpecification::builder()
        .resource_type(t::ResourceType::VpcPeeringConnection)
        .set_tags(Some(tags(&r.tags)))
        .build();
    let out = ec2
        .create_vpc_peering_connection()
        .vpc_id(&r.vpc)
        .peer_owner_id(&r.peer_account)
        .peer_vpc_id(&r.peer_vpc)
        .set_peer_region(r.peer_region.clone())
        .tag_specifications(spec)
        .send()
        .await
        .map_err(|e| aws_error("CreateVpcPeeringConnection", e))?;
    out.vpc_peering_connection()
        .and_then(|p| p.vpc_peering_connection_id())
        .map(str::to_string)
        .ok_or_else(|| AwsError {
            operation: "CreateVpcPeeringConnection",
            code: None,
            message: "the answer names no peering".into(),
        })
}

pub async fn create_tags(ec2: &Client, resource: &str, list: &[(String, String)]) -> Result<(), AwsError> {
    ec2.create_tags()
        .resources(resource)
        .set_tags(Some(tags(list)))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("CreateTags", e))
}

pub async fn create_route(ec2: &Client, table: &str, destination: &IpNet, peering: &str) -> Result<(), AwsError> {
    let req = ec2
        .create_route()
        .route_table_id(table)
        .vpc_peering_connection_id(peering);
    let req = match destination {
        IpNet::V4(_) => req.destination_cidr_block(destination.to_string()),
        IpNet::V6(_) => req.destination_ipv6_cidr_block(destination.to_string()),
    };
    req.send().await.map(|_| ()).map_err(|e| aws_error("CreateRoute", e))
}

pub async fn replace_route(ec2: &Client, table: &str, destination: &IpNet, peering: &str) -> Result<(), AwsError> {
    let req = ec2
        .replace_route()
        .route_table_id(table)
        .vpc_peering_connection_id(peering);
    let req = match destination {
        IpNet::V4(_) => req.destination_cidr_block(destination.to_string()),
        IpNet::V6(_) => req.destination_ipv6_cidr_block(destination.to_string()),
    };
    req.send().await.map(|_| ()).map_err(|e| aws_error("ReplaceRoute", e))
}

pub async fn delete_route(ec2: &Client, table: &str, destination: &IpNet) -> Result<(), AwsError> {
    let req = ec2.delete_route().route_table_id(table);
    let req = match destination {
        IpNet::V4(_) => req.destination_cidr_block(destination.to_string()),
        IpNet::V6(_) => req.destination_ipv6_cidr_block(destination.to_string()),
    };
    req.send().await.map(|_| ()).map_err(|e| aws_error("DeleteRoute", e))
}

fn permission(rule: &SgRule, description: Option<&str>) -> IpPermission {
    let (from, to) = match (rule.protocol, rule.ports) {
        (_, Some(p)) => (i32::from(p.from), i32::from(p.to)),
        _ => (-1, -1),
    };
    let builder = IpPermission::builder()
        .ip_protocol(rule.protocol.ec2_name())
        .from_port(from)
        .to_port(to);
    let description = description.map(str::to_string);
    match &rule.peer {
        RulePeer::Cidr(net @ IpNet::V4(_)) => builder.ip_ranges(
            IpRange::builder()
                .cidr_ip(net.to_string())
                .set_description(description)
                .build(),
        ),
        RulePeer::Cidr(net @ IpNet::V6(_)) => builder.ipv6_ranges(
            Ipv6Range::builder()
                .cidr_ipv6(net.to_string())
                .set_description(description)
                .build(),
        ),
        RulePeer::Group {
            account,
            group,
            peering,
        } => builder.user_id_group_pairs(
            UserIdGroupPair::builder()
                .user_id(account)
                .group_id(group)
                .vpc_peering_connection_id(peering)
                .set_description(description)
                .build(),
        ),
    }
    .build()
}

pub async fn authorize_rule(ec2: &Client, group: &str, rule: &SgRule, description: &str) -> Result<(), AwsError> {
    let perm = permission(rule, Some(description));
    match rule.direction {
        Direction::Ingress => ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("AuthorizeSecurityGroupIngress", e)),
        Direction::Egress => ec2
            .authorize_security_group_egress()
            .group_id(group)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("AuthorizeSecurityGroupEgress", e)),
    }
}

pub async fn revoke_rule(ec2: &Client, group: &str, rule: &SgRule) -> Result<(), AwsError> {
    let perm = permission(rule, None);
    match rule.direction {
        Direction::Ingress => ec2
            .revoke_security_group_ingress()
            .group_id(group)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("RevokeSecurityGroupIngress", e)),
        Direction::Egress => ec2
            .revoke_security_group_egress()
            .group_id(group)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("RevokeSecurityGroupEgress", e)),
    }
}

/// Re-marks a rule (EC2 rules are identified by protocol, ports and range;
/// the description is not part of that, so it can change in place).
pub async fn update_rule_description(
    ec2: &Client,
    group: &str,
    rule: &SgRule,
    description: &str,
) -> Result<(), AwsError> {
    let perm = permission(rule, Some(description));
    match rule.direction {
        Direction::Ingress => ec2
            .update_security_group_rule_descriptions_ingress()
            .group_id(group)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("UpdateSecurityGroupRuleDescriptionsIngress", e)),
        Direction::Egress => ec2
            .update_security_group_rule_descriptions_egress()
            .group_id(group)
            .ip_permissions(perm)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| aws_error("UpdateSecurityGroupRuleDescriptionsEgress", e)),
    }
}

/// Turns `AllowDnsResolutionFromRemoteVpc` on or off on our own side of the
/// peering (EC2 lets each account set only its own side).
pub async fn set_peering_dns(ec2: &Client, peering: &str, side: Side, on: bool) -> Result<(), AwsError> {
    let opts = PeeringConnectionOptionsRequest::builder()
        .allow_dns_resolution_from_remote_vpc(on)
        .build();
    let req = ec2
        .modify_vpc_peering_connection_options()
        .vpc_peering_connection_id(peering);
    let req = match side {
        Side::Requester => req.requester_peering_connection_options(opts),
        Side::Accepter => req.accepter_peering_connection_options(opts),
    };
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("ModifyVpcPeeringConnectionOptions", e))
}

/// The two DNS attributes of a VPC we may turn on.
pub async fn enable_vpc_attribute(ec2: &Client, vpc: &str, attribute: VpcDnsAttribute) -> Result<(), AwsError> {
    let on = t::AttributeBooleanValue::builder().value(true).build();
    let req = ec2.modify_vpc_attribute().vpc_id(vpc);
    let req = match attribute {
        VpcDnsAttribute::EnableDnsSupport => req.enable_dns_support(on),
        VpcDnsAttribute::EnableDnsHostnames => req.enable_dns_hostnames(on),
    };
    req.send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("ModifyVpcAttribute", e))
}
