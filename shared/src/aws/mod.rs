//! The narrow client layer. Every AWS call the product makes is a method of
//! [`Aws`]; the orchestration (accepter, observe, apply) only sees this trait,
//! so it runs against the SDK ([`Clients`]) in production and against an
//! in-memory account in its unit tests. The emulator tests remain the proof
//! of every real interaction.

mod calls;
pub mod ec2;
#[cfg(test)]
pub mod memory;
mod pace;
mod sdk;
pub mod secrets;

use std::time::Instant;

use futures_util::future::BoxFuture;
use ipnet::IpNet;
use serde_json::Value;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

pub use calls::{ApiCalls, CallCount, CallSummary, is_read};
pub use pace::{Buckets, Limit, Pacer};
pub use sdk::{Clients, Resilience, load_sdk_config};
pub use secrets::{KeyDescription, SecretDescription};

use crate::error::AwsError;
use crate::model::{
    NetworkAcl, NetworkInterface, Peering, RouteTable, SecurityGroup, SgRule, Side, StaleRule, Subnet, Vpc,
    VpcDnsAttribute,
};

/// A call under way.
pub type Pending<'a, T> = BoxFuture<'a, Result<T, AwsError>>;

/// An SSM parameter's value and version (the version tells a warm process
/// whether it must parse the document again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    pub value: String,
    pub version: i64,
}

/// Which route tables or security groups a Describe call asks for.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    /// Everything in these VPCs.
    Vpcs(&'a [String]),
    /// These ids (a missing one is absent from the answer, not an error).
    Ids(&'a [String]),
    /// Everything carrying this tag key.
    Tagged(&'a str),
}

/// Which network interfaces DescribeNetworkInterfaces asks for: always
/// filtered, never every interface of an account.
#[derive(Debug, Clone, Copy)]
pub enum Interfaces<'a> {
    Ids(&'a [String]),
    /// By private IPv4 address (`addresses.private-ip-address`).
    Addresses(&'a [String]),
}

/// A peering request to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeeringRequest {
    pub vpc: String,
    pub peer_account: String,
    pub peer_vpc: String,
    /// `None`: the same region.
    pub peer_region: Option<String>,
    /// Tags set on the request as it is created.
    pub tags: Vec<(String, String)>,
}

/// Every AWS call peerlink makes. Reads return [`crate::model`] types; writes
/// return `()` or an [`AwsError`] whose code the caller checks for "already
/// done".
pub trait Aws: Send + Sync {
    /// Counts calls (and attempts) per operation.
    fn calls(&self) -> &ApiCalls;
    /// When a call of `operation` asked for now would be sent: later than
    /// now while the client paces it behind others to EC2's request rate
    /// ([`Pacer`]), so a pass can leave a write it could not start in time.
    fn ready_at(&self, _operation: &str) -> Instant {
        Instant::now()
    }
    /// The account of the credentials (STS), where nothing else tells it.
    fn caller_account(&self) -> Pending<'_, String>;
    /// Who the credentials are (STS `GetCallerIdentity`'s ARN): the human
    /// behind `peerlink approve`.
    fn caller_arn(&self) -> Pending<'_, String>;
    fn get_parameter<'a>(&'a self, name: &'a str) -> Pending<'a, Parameter>;
    /// Publishes one `source: peerlink` event.
    fn put_event<'a>(&'a self, bus: &'a str, detail_type: &'a str, detail: &'a Value) -> Pending<'a, ()>;

    /// The given peerings, or every peering this account can see (`None`).
    fn describe_peerings<'a>(&'a self, ids: Option<&'a [String]>) -> Pending<'a, Vec<Peering>>;
    fn describe_vpcs<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<Vpc>>;
    /// `enableDnsSupport` and `enableDnsHostnames`.
    fn vpc_dns_attributes<'a>(&'a self, vpc: &'a str) -> Pending<'a, (bool, bool)>;
    fn describe_route_tables<'a>(&'a self, by: Select<'a>) -> Pending<'a, Vec<RouteTable>>;
    fn describe_security_groups<'a>(&'a self, by: Select<'a>) -> Pending<'a, Vec<SecurityGroup>>;
    fn describe_network_acls<'a>(&'a self, vpcs: &'a [String]) -> Pending<'a, Vec<NetworkAcl>>;
    /// The stale rules of the groups of `vpc` (every page).
    fn describe_stale_rules<'a>(&'a self, vpc: &'a str) -> Pending<'a, Vec<StaleRule>>;
    /// The network ACL of each of these subnets.
    fn describe_subnet_network_acls<'a>(&'a self, subnets: &'a [String]) -> Pending<'a, Vec<NetworkAcl>>;
    /// The route tables associated with `subnets` and the main tables of `vpcs`.
    fn describe_subnet_route_tables<'a>(
        &'a self,
        subnets: &'a [String],
        vpcs: &'a [String],
    ) -> Pending<'a, Vec<RouteTable>>;
    fn describe_network_interfaces<'a>(&'a self, by: Interfaces<'a>) -> Pending<'a, Vec<NetworkInterface>>;
    /// These subnets (a subnet that does not exist is absent, not an error).
    fn describe_subnets<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<Subnet>>;

    fn accept_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()>;
    fn reject_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()>;
    fn delete_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()>;
    /// Creates a request; returns its id.
    fn create_peering<'a>(&'a self, request: &'a PeeringRequest) -> Pending<'a, String>;
    /// Sets tags on an EC2 resource (a security group, a VPC, a peering).
    fn create_tags<'a>(&'a self, resource: &'a str, tags: &'a [(String, String)]) -> Pending<'a, ()>;
    fn create_route<'a>(&'a self, table: &'a str, destination: &'a IpNet, peering: &'a str) -> Pending<'a, ()>;
    fn replace_route<'a>(&'a self, table: &'a str, destination: &'a IpNet, peering: &'a str) -> Pending<'a, ()>;
    fn delete_route<'a>(&'a self, table: &'a str, destination: &'a IpNet) -> Pending<'a, ()>;
    fn authorize_rule<'a>(&'a self, group: &'a str, rule: &'a SgRule, description: &'a str) -> Pending<'a, ()>;
    fn revoke_rule<'a>(&'a self, group: &'a str, rule: &'a SgRule) -> Pending<'a, ()>;
    /// Changes the description of an existing rule (its marker).
    fn update_rule_description<'a>(&'a self, group: &'a str, rule: &'a SgRule, description: &'a str)
    -> Pending<'a, ()>;
    fn enable_peering_dns<'a>(&'a self, peering: &'a str, side: Side) -> Pending<'a, ()>;
    /// Turns `AllowDnsResolutionFromRemoteVpc` off on our side (a grant withdrawn).
    fn disable_peering_dns<'a>(&'a self, peering: &'a str, side: Side) -> Pending<'a, ()>;
    fn enable_vpc_attribute<'a>(&'a self, vpc: &'a str, attribute: VpcDnsAttribute) -> Pending<'a, ()>;

    /// `None` when the secret does not exist.
    fn describe_secret<'a>(&'a self, arn: &'a str) -> Pending<'a, Option<SecretDescription>>;
    fn get_secret_policy<'a>(&'a self, arn: &'a str) -> Pending<'a, Option<Value>>;
    fn put_secret_policy<'a>(&'a self, arn: &'a str, policy: &'a Value) -> Pending<'a, ()>;
    /// Secrets carrying this tag key.
    fn list_tagged_secrets<'a>(&'a self, tag_key: &'a str) -> Pending<'a, Vec<SecretDescription>>;
    fn tag_secret<'a>(&'a self, arn: &'a str, key: &'a str, value: &'a str) -> Pending<'a, ()>;
    /// `None` when the key does not exist.
    fn describe_key<'a>(&'a self, key: &'a str) -> Pending<'a, Option<KeyDescription>>;
    fn get_key_policy<'a>(&'a self, key: &'a str) -> Pending<'a, Option<Value>>;
    fn put_key_policy<'a>(&'a self, key: &'a str, policy: &'a Value) -> Pending<'a, ()>;
    /// Tags a customer-managed key (peerlink's mark, so the role's tag
    /// condition still lets it take back its grant after the configuration
    /// stops naming the key).
    fn tag_key<'a>(&'a self, key: &'a str, tag_key: &'a str, value: &'a str) -> Pending<'a, ()>;
}

/// Reduces an SDK error to code and message. The code is what idempotency
/// decisions are made on (`RouteAlreadyExists`, `InvalidPermission.Duplicate`…).
pub fn aws_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = match err.message() {
        Some(m) => m.to_string(),
        None => DisplayErrorContext(&err).to_string(),
    };
    AwsError {
        operation,
        code,
        message,
    }
}

/// Chunks of at most this many values per EC2 filter (the API's limit).
pub const FILTER_VALUES_MAX: usize = 200;

/// The EC2 actions writing a rule, for ingress and for egress.
pub const AUTHORIZE_RULE: [&str; 2] = ["AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"];
pub const REVOKE_RULE: [&str; 2] = ["RevokeSecurityGroupIngress", "RevokeSecurityGroupEgress"];
pub const REMARK_RULE: [&str; 2] = [
    "UpdateSecurityGroupRuleDescriptionsIngress",
    "UpdateSecurityGroupRuleDescriptionsEgress",
];

/// Which of a pair of actions writes `rule`.
pub fn rule_action(actions: [&'static str; 2], rule: &SgRule) -> &'static str {
    match rule.direction {
        crate::config::Direction::Ingress => actions[0],
        crate::config::Direction::Egress => actions[1],
    }
}
