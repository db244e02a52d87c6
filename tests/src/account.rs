//! One account on the emulator, and builders for what tests need in it:
//! VPCs with secondary CIDRs, subnets with their own route tables, security
//! groups, peering requests, secrets on customer-managed or AWS-managed keys.

mod reads;

use aws_config::SdkConfig;
use aws_sdk_ec2::types::{Filter, IpPermission, ResourceType, Tag, TagSpecification};
use aws_sdk_sts::config::Credentials;
use peerlink::config::Config;
use peerlink::settings::Settings;

/// One account on the emulator, with raw SDK clients for building fixtures.
pub struct Account {
    pub id: String,
    pub credentials: Credentials,
    pub sdk: SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
    pub ssm: aws_sdk_ssm::Client,
}

/// A rule's reference to a security group, as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRule {
    pub account: String,
    pub group: String,
    pub peering: Option<String>,
    pub port: i32,
    pub description: Option<String>,
}

/// A VPC built for a test.
#[derive(Debug, Clone)]
pub struct TestVpc {
    pub id: String,
    pub cidrs: Vec<String>,
    pub main_table: String,
    /// One table per subnet, each associated with its subnet.
    pub subnet_tables: Vec<String>,
    pub subnets: Vec<String>,
    /// A security group to put rules in.
    pub security_group: String,
}

impl TestVpc {
    pub fn all_tables(&self) -> Vec<String> {
        let mut t = vec![self.main_table.clone()];
        t.extend(self.subnet_tables.iter().cloned());
        t
    }
}

impl Account {
    /// A peerlink context acting as this account with the given configuration.
    pub async fn context(&self, config_toml: &str) -> peerlink::Context {
        self.context_with(config_toml, Settings::default()).await
    }

    /// The same, its EC2 calls not paced: for cases that make hundreds of
    /// writes to count calls (the emulator does not throttle; `hub_scale.rs`
    /// is where pacing is tested).
    pub async fn unpaced_context(&self, config_toml: &str) -> peerlink::Context {
        let settings = Settings {
            ec2_buckets: peerlink::aws::Buckets::unpaced(),
            ..Settings::default()
        };
        self.context_with(config_toml, settings).await
    }

    pub async fn context_with(&self, config_toml: &str, settings: Settings) -> peerlink::Context {
        let config = Config::parse_in(config_toml, "test config", Some(crate::REGION)).expect("valid test config");
        peerlink::Context::connect(&self.sdk, config, settings)
            .await
            .expect("context")
    }

    /// A VPC with `cidrs` (the first is primary; `"ipv6"` asks for an
    /// Amazon-provided IPv6 block), `subnets` subnets each with its own route
    /// table, and a security group.
    pub async fn vpc(&self, cidrs: &[&str], subnets: usize) -> TestVpc {
        let vpc = self.bare_vpc(cidrs[0]).await;
        for c in &cidrs[1..] {
            let req = self.ec2.associate_vpc_cidr_block().vpc_id(&vpc);
            let req = if *c == "ipv6" {
                req.amazon_provided_ipv6_cidr_block(true)
            } else {
                req.cidr_block(*c)
            };
            req.send().await.expect("AssociateVpcCidrBlock");
        }
        let main_table = self
            .ec2
            .describe_route_tables()
            .filters(Filter::builder().name("vpc-id").values(&vpc).build())
            .send()
            .await
            .expect("DescribeRouteTables")
            .route_tables()
            .first()
            .and_then(|t| t.route_table_id())
            .expect("main table")
            .to_string();
        let base: ipnet::Ipv4Net = cidrs[0].parse().expect("primary CIDR is IPv4");
        let mut subnet_ids = Vec::new();
        let mut tables = Vec::new();
        for (i, net) in base.subnets(24).expect("/24s").take(subnets).enumerate() {
            let subnet = self.subnet(&vpc, &net.to_string()).await;
            let table = self.route_table(&vpc, &[("Name", &format!("subnet-{i}"))]).await;
            self.ec2
                .associate_route_table()
                .route_table_id(&table)
                .subnet_id(&subnet)
                .send()
                .await
                .expect("AssociateRouteTable");
            subnet_ids.push(subnet);
            tables.push(table);
        }
        let security_group = self.security_group(&vpc, "app").await;
        TestVpc {
            id: vpc,
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            main_table,
            subnet_tables: tables,
            subnets: subnet_ids,
            security_group,
        }
    }

    /// A VPC with one block and nothing else (its id).
    pub async fn bare_vpc(&self, cidr: &str) -> String {
        self.ec2
            .create_vpc()
            .cidr_block(cidr)
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string()
    }

    /// A new route table in `vpc` with the given tags (not associated).
    pub async fn route_table(&self, vpc: &str, tags: &[(&str, &str)]) -> String {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::RouteTable);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        self.ec2
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(spec.build())
            .send()
            .await
            .expect("CreateRouteTable")
            .route_table()
            .and_then(|t| t.route_table_id())
            .expect("route table id")
            .to_string()
    }

    pub async fn security_group(&self, vpc: &str, name: &str) -> String {
        self.ec2
            .create_security_group()
            .vpc_id(vpc)
            .group_name(name)
            .description(format!("{name} (peerlink test)"))
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id()
            .expect("group id")
            .to_string()
    }

    /// Requests a peering from `vpc` (ours) to `peer_vpc` of `peer`.
    pub async fn request_peering(&self, vpc: &str, peer: &str, peer_vpc: &str, peer_region: Option<&str>) -> String {
        self.ec2
            .create_vpc_peering_connection()
            .vpc_id(vpc)
            .peer_owner_id(peer)
            .peer_vpc_id(peer_vpc)
            .set_peer_region(peer_region.map(str::to_string))
            .send()
            .await
            .expect("CreateVpcPeeringConnection")
            .vpc_peering_connection()
            .and_then(|p| p.vpc_peering_connection_id())
            .expect("peering id")
            .to_string()
    }

    /// Accepts a peering as this account (setting up fixtures, not the accepter).
    pub async fn accept(&self, id: &str) {
        self.ec2
            .accept_vpc_peering_connection()
            .vpc_peering_connection_id(id)
            .send()
            .await
            .expect("AcceptVpcPeeringConnection");
    }

    /// A secret encrypted with a new customer-managed key (`cmk`) or with the
    /// AWS-managed default key, with a user statement in its resource policy
    /// and (for a CMK) an extra user statement in the key policy.
    pub async fn secret(&self, name: &str, cmk: bool) -> TestSecret {
        let key_arn = if cmk {
            let key = self
                .kms
                .create_key()
                .description("peerlink test")
                .send()
                .await
                .expect("CreateKey");
            let arn = key
                .key_metadata()
                .map(|m| m.arn().unwrap_or_default().to_string())
                .expect("key arn");
            let policy = serde_json::json!({
                "Version": "2012-10-17",
                "Id": "key-default-1",
                "Statement": [
                    {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", self.id)}, "Action": "kms:*", "Resource": "*"},
                    {"Sid": "UserKeyAdmins", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:role/key-admin", self.id)}, "Action": ["kms:Describe*", "kms:Get*"], "Resource": "*"}
                ]
            });
            self.kms
                .put_key_policy()
                .key_id(&arn)
                .policy_name("default")
                .policy(policy.to_string())
                .send()
                .await
                .expect("PutKeyPolicy");
            Some(arn)
        } else {
            None
        };
        let out = self
            .secrets
            .create_secret()
            .name(name)
            .secret_string("{\"password\":\"not-a-real-password\"}")
            .set_kms_key_id(key_arn.clone())
            .send()
            .await
            .expect("CreateSecret");
        let arn = out.arn().expect("secret arn").to_string();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "UserRotation", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:role/rotation", self.id)}, "Action": "secretsmanager:*", "Resource": "*"}]
        });
        self.secrets
            .put_resource_policy()
            .secret_id(&arn)
            .resource_policy(policy.to_string())
            .send()
            .await
            .expect("PutResourcePolicy");
        TestSecret { arn, key_arn }
    }

    /// A rule written by the user (not peerlink) referencing `peer`'s group
    /// `peer_group` across `peering`.
    pub async fn user_group_rule(&self, group: &str, port: i32, peer: &str, peer_group: &str, peering: &str) {
        let pair = aws_sdk_ec2::types::UserIdGroupPair::builder()
            .user_id(peer)
            .group_id(peer_group)
            .vpc_peering_connection_id(peering)
            .description("the user's own")
            .build();
        let perm = aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .user_id_group_pairs(pair)
            .build();
        self.authorize_ingress(group, perm).await;
    }

    /// Associates another CIDR block with `vpc` (a peer growing).
    pub async fn associate_cidr(&self, vpc: &str, cidr: &str) {
        self.ec2
            .associate_vpc_cidr_block()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .send()
            .await
            .expect("AssociateVpcCidrBlock");
    }

    /// Disassociates a CIDR block from `vpc` (a peer giving a block up).
    pub async fn disassociate_cidr(&self, vpc: &str, cidr: &str) {
        let out = self
            .ec2
            .describe_vpcs()
            .vpc_ids(vpc)
            .send()
            .await
            .expect("DescribeVpcs");
        let association = out.vpcs()[0]
            .cidr_block_association_set()
            .iter()
            .find(|a| a.cidr_block() == Some(cidr))
            .and_then(|a| a.association_id())
            .expect("the block is associated")
            .to_string();
        self.ec2
            .disassociate_vpc_cidr_block()
            .association_id(association)
            .send()
            .await
            .expect("DisassociateVpcCidrBlock");
    }

    /// Sets `AllowDnsResolutionFromRemoteVpc` on one side of a peering by
    /// hand (as a person would in the console).
    pub async fn set_peering_dns(&self, id: &str, accepter_side: bool, on: bool) {
        let opts = aws_sdk_ec2::types::PeeringConnectionOptionsRequest::builder()
            .allow_dns_resolution_from_remote_vpc(on)
            .build();
        let req = self
            .ec2
            .modify_vpc_peering_connection_options()
            .vpc_peering_connection_id(id);
        let req = if accepter_side {
            req.accepter_peering_connection_options(opts)
        } else {
            req.requester_peering_connection_options(opts)
        };
        req.send().await.expect("ModifyVpcPeeringConnectionOptions");
    }

    /// A route of the user's own through a peering.
    pub async fn user_route(&self, table: &str, destination: &str, peering: &str) {
        self.ec2
            .create_route()
            .route_table_id(table)
            .destination_cidr_block(destination)
            .vpc_peering_connection_id(peering)
            .send()
            .await
            .expect("CreateRoute");
    }

    /// Tags an EC2 resource.
    pub async fn tag(&self, resource: &str, key: &str, value: &str) {
        self.ec2
            .create_tags()
            .resources(resource)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .expect("CreateTags");
    }

    /// Deletes a peering as this account.
    pub async fn delete_peering(&self, id: &str) {
        self.ec2
            .delete_vpc_peering_connection()
            .vpc_peering_connection_id(id)
            .send()
            .await
            .expect("DeleteVpcPeeringConnection");
    }

    /// Writes an SSM parameter (a new version each time).
    pub async fn put_parameter(&self, name: &str, value: &str) -> i64 {
        self.ssm
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::String)
            .overwrite(true)
            .send()
            .await
            .expect("PutParameter")
            .version()
    }

    /// Deletes an SSM parameter (an infrastructure-as-code replacement does,
    /// before writing it again at version 1).
    pub async fn delete_parameter(&self, name: &str) {
        self.ssm
            .delete_parameter()
            .name(name)
            .send()
            .await
            .expect("DeleteParameter");
    }

    /// A security-group rule written by the user (not peerlink), with a description.
    pub async fn user_rule(&self, group: &str, port: i32, cidr: &str, description: &str) {
        let range = aws_sdk_ec2::types::IpRange::builder()
            .cidr_ip(cidr)
            .description(description)
            .build();
        let perm = aws_sdk_ec2::types::IpPermission::builder()
            .ip_protocol("tcp")
            .from_port(port)
            .to_port(port)
            .ip_ranges(range)
            .build();
        self.authorize_ingress(group, perm).await;
    }

    async fn authorize_ingress(&self, group: &str, permission: IpPermission) {
        self.ec2
            .authorize_security_group_ingress()
            .group_id(group)
            .ip_permissions(permission)
            .send()
            .await
            .expect("AuthorizeSecurityGroupIngress");
    }

    /// A subnet of `vpc` on no table of its own (it uses the main table).
    pub async fn subnet(&self, vpc: &str, cidr: &str) -> String {
        self.ec2
            .create_subnet()
            .vpc_id(vpc)
            .cidr_block(cidr)
            .send()
            .await
            .expect("CreateSubnet")
            .subnet()
            .and_then(|s| s.subnet_id())
            .expect("subnet id")
            .to_string()
    }

    /// An internet gateway attached to `vpc` (a route target that is not ours).
    pub async fn internet_gateway(&self, vpc: &str) -> String {
        let igw = self
            .ec2
            .create_internet_gateway()
            .send()
            .await
            .expect("CreateInternetGateway")
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .expect("igw id")
            .to_string();
        self.ec2
            .attach_internet_gateway()
            .internet_gateway_id(&igw)
            .vpc_id(vpc)
            .send()
            .await
            .expect("AttachInternetGateway");
        igw
    }
}

/// A secret on a customer-managed key, both with a statement of the user's own
/// already in their policies (which peerlink must keep).
pub struct TestSecret {
    pub arn: String,
    pub key_arn: Option<String>,
}
