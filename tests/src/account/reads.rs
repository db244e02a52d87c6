//! What a test reads back from EC2, Secrets Manager and KMS to check what
//! peerlink did: requests, statuses, routes, rules, policies.

use aws_sdk_ec2::types::IpPermission;

use super::{Account, GroupRule};

impl Account {
    /// The ids of the peering requests peerlink made in this account (the
    /// ones tagged with their entry, `peerlink:entry`), in EC2's order.
    pub async fn peerlink_requests(&self) -> Vec<String> {
        self.ec2
            .describe_vpc_peering_connections()
            .send()
            .await
            .expect("DescribeVpcPeeringConnections")
            .vpc_peering_connections()
            .iter()
            .filter(|p| p.tags().iter().any(|t| t.key() == Some("peerlink:entry")))
            .filter_map(|p| p.vpc_peering_connection_id().map(str::to_string))
            .collect()
    }

    /// The peering's status code as this account sees it.
    pub async fn peering_status(&self, id: &str) -> String {
        self.ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(id)
            .send()
            .await
            .expect("DescribeVpcPeeringConnections")
            .vpc_peering_connections()
            .first()
            .and_then(|p| p.status())
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .expect("status")
    }

    /// The secret's resource policy (parsed), if any.
    pub async fn secret_policy(&self, arn: &str) -> Option<serde_json::Value> {
        let out = self
            .secrets
            .get_resource_policy()
            .secret_id(arn)
            .send()
            .await
            .expect("GetResourcePolicy");
        out.resource_policy()
            .map(|p| serde_json::from_str(p).expect("policy JSON"))
    }

    pub async fn key_policy(&self, arn: &str) -> serde_json::Value {
        let out = self
            .kms
            .get_key_policy()
            .key_id(arn)
            .policy_name("default")
            .send()
            .await
            .expect("GetKeyPolicy");
        serde_json::from_str(out.policy().expect("policy")).expect("policy JSON")
    }

    /// Routes of a table as (destination, target) pairs.
    pub async fn routes(&self, table: &str) -> Vec<(String, String)> {
        let out = self
            .ec2
            .describe_route_tables()
            .route_table_ids(table)
            .send()
            .await
            .expect("DescribeRouteTables");
        out.route_tables()[0]
            .routes()
            .iter()
            .map(|r| {
                let dest = r
                    .destination_cidr_block()
                    .or(r.destination_ipv6_cidr_block())
                    .unwrap_or_default()
                    .to_string();
                let target = r
                    .vpc_peering_connection_id()
                    .or(r.gateway_id())
                    .or(r.nat_gateway_id())
                    .unwrap_or("?")
                    .to_string();
                (dest, target)
            })
            .collect()
    }

    /// The ingress or egress permissions of a group, as EC2 lists them.
    async fn permissions(&self, group: &str, egress: bool) -> Vec<IpPermission> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group)
            .send()
            .await
            .expect("DescribeSecurityGroups");
        let g = out.security_groups()[0].clone();
        if egress {
            g.ip_permissions_egress.unwrap_or_default()
        } else {
            g.ip_permissions.unwrap_or_default()
        }
    }

    /// Ingress or egress rules of a group as (protocol, from, to, cidr, description).
    pub async fn rules(&self, group: &str, egress: bool) -> Vec<(String, i32, i32, String, Option<String>)> {
        let mut rules = Vec::new();
        for p in self.permissions(group, egress).await {
            for r in p.ip_ranges() {
                rules.push((
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or(-1),
                    p.to_port().unwrap_or(-1),
                    r.cidr_ip().unwrap_or_default().to_string(),
                    r.description().map(str::to_string),
                ));
            }
        }
        rules
    }

    /// The group references of a group's ingress or egress rules as
    /// (account, group, peering, port, description).
    pub async fn group_rules(&self, group: &str, egress: bool) -> Vec<GroupRule> {
        let mut rules = Vec::new();
        for p in self.permissions(group, egress).await {
            for pair in p.user_id_group_pairs() {
                rules.push(GroupRule {
                    account: pair.user_id().unwrap_or_default().to_string(),
                    group: pair.group_id().unwrap_or_default().to_string(),
                    peering: pair.vpc_peering_connection_id().map(str::to_string),
                    port: p.from_port().unwrap_or(-1),
                    description: pair.description().map(str::to_string),
                });
            }
        }
        rules
    }

    /// `AllowDnsResolutionFromRemoteVpc` on (requester, accepter) as this account sees them.
    pub async fn peering_dns(&self, id: &str) -> (bool, bool) {
        let out = self
            .ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(id)
            .send()
            .await
            .expect("DescribeVpcPeeringConnections");
        let p = &out.vpc_peering_connections()[0];
        let flag = |info: Option<&aws_sdk_ec2::types::VpcPeeringConnectionVpcInfo>| {
            info.and_then(|i| i.peering_options())
                .and_then(|o| o.allow_dns_resolution_from_remote_vpc())
                .unwrap_or(false)
        };
        (flag(p.requester_vpc_info()), flag(p.accepter_vpc_info()))
    }
}
