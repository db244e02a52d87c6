//! The AWS SDK implementation of [`Aws`]: one client per service, all
//! counting their calls into one [`ApiCalls`], with our retry and timeout
//! settings; EC2 calls paced to EC2's request rate ([`Pacer`]).

use std::future::Future;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use ipnet::IpNet;
use serde_json::Value;

use super::secrets::{KeyDescription, SecretDescription};
use super::{
    AUTHORIZE_RULE, ApiCalls, Aws, Buckets, Interfaces, Pacer, Parameter, PeeringRequest, Pending, REMARK_RULE,
    REVOKE_RULE, Select, aws_error, ec2, rule_action, secrets,
};
use crate::error::AwsError;
use crate::model::{
    NetworkAcl, NetworkInterface, Peering, RouteTable, SecurityGroup, SgRule, Side, StaleRule, Subnet, Vpc,
    VpcDnsAttribute,
};

/// How many times a throttled call is sent again through the pacer (each
/// with the SDK's own retries).
const PACED_ROUNDS: u32 = 5;
/// EC2's (and the other services') answers for a full bucket.
const THROTTLED: [&str; 3] = ["RequestLimitExceeded", "Throttling", "ThrottlingException"];

/// Retry and timeout settings. The SDK retries throttling (`RequestLimitExceeded`,
/// `ThrottlingException`), 5xx and timeouts with exponential backoff and jitter.
#[derive(Debug, Clone, Copy)]
pub struct Resilience {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub attempt_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl Resilience {
    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt_timeout)
            .connect_timeout(self.connect_timeout)
            .build()
    }
}

/// Loads the SDK configuration the standard way (credential chain, region,
/// `AWS_ENDPOINT_URL`) with our retry and timeout settings.
pub async fn load_sdk_config(r: &Resilience) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(r.retry_config())
        .timeout_config(r.timeout_config())
        .load()
        .await
}

/// One client per service, all counting their calls into the same counter;
/// EC2's paced to its buckets.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sts: aws_sdk_sts::Client,
    pub calls: ApiCalls,
    pub pacer: Pacer,
}

impl Clients {
    pub fn new(sdk: &SdkConfig, buckets: &Buckets) -> Self {
        let calls = ApiCalls::default();
        let pacer = Pacer::new(buckets.clone());
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(sdk)
                        .interceptor(calls.clone())
                        .build(),
                )
            };
        }
        let ec2 = aws_sdk_ec2::Client::from_conf(
            aws_sdk_ec2::config::Builder::from(sdk)
                .interceptor(calls.clone())
                .interceptor(pacer.clone())
                .build(),
        );
        Clients {
            ec2,
            secrets: client!(aws_sdk_secretsmanager),
            kms: client!(aws_sdk_kms),
            events: client!(aws_sdk_eventbridge),
            ssm: client!(aws_sdk_ssm),
            sts: client!(aws_sdk_sts),
            calls,
            pacer,
        }
    }

    /// Sends `call` (an EC2 `action`) once the pacer admits it. A call still
    /// throttled after the SDK's retries (another process shares EC2's
    /// bucket, or the SDK's own retry quota ran out) is sent again, paced,
    /// up to [`PACED_ROUNDS`] times: throttling is a reason to slow down,
    /// never to fail a write.
    async fn paced<T, F, Fut>(&self, action: &str, call: F) -> Result<T, AwsError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, AwsError>>,
    {
        let mut round = 1;
        loop {
            self.pacer.admit(action).await;
            match call().await {
                Err(e) if round < PACED_ROUNDS && e.code_is(&THROTTLED) => round += 1,
                other => return other,
            }
        }
    }
}

async fn caller_account(sts: &aws_sdk_sts::Client) -> Result<String, AwsError> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("GetCallerIdentity", e))?;
    Ok(out.account().unwrap_or_default().to_string())
}

async fn caller_arn(sts: &aws_sdk_sts::Client) -> Result<String, AwsError> {
    let out = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| aws_error("GetCallerIdentity", e))?;
    Ok(out.arn().unwrap_or_default().to_string())
}

/// Reads a parameter with decryption, so a SecureString works too.
async fn get_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<Parameter, AwsError> {
    let out = ssm
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| aws_error("GetParameter", e))?;
    let p = out.parameter();
    Ok(Parameter {
        value: p.and_then(|p| p.value()).unwrap_or_default().to_string(),
        version: p.map_or(0, |p| p.version()),
    })
}

/// Publishes one `source: peerlink` event on `bus`.
async fn put_event(
    events: &aws_sdk_eventbridge::Client,
    bus: &str,
    detail_type: &str,
    detail: &Value,
) -> Result<(), AwsError> {
    let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
        .event_bus_name(bus)
        .source(crate::events::PEERLINK_SOURCE)
        .detail_type(detail_type)
        .detail(detail.to_string())
        .build();
    let out = events
        .put_events()
        .entries(entry)
        .send()
        .await
        .map_err(|e| aws_error("PutEvents", e))?;
    if out.failed_entry_count() > 0 {
        let first = out
            .entries()
            .iter()
            .find_map(|e| e.error_message())
            .unwrap_or("unknown");
        return Err(AwsError {
            operation: "PutEvents",
            code: None,
            message: format!("the event was not accepted by bus {bus}: {first}"),
        });
    }
    Ok(())
}

impl Aws for Clients {
    fn calls(&self) -> &ApiCalls {
        &self.calls
    }
    fn ready_at(&self, operation: &str) -> Instant {
        self.pacer.ready_at(operation)
    }
    fn caller_account(&self) -> Pending<'_, String> {
        Box::pin(caller_account(&self.sts))
    }
    fn caller_arn(&self) -> Pending<'_, String> {
        Box::pin(caller_arn(&self.sts))
    }
    fn get_parameter<'a>(&'a self, name: &'a str) -> Pending<'a, Parameter> {
        Box::pin(get_parameter(&self.ssm, name))
    }
    fn put_event<'a>(&'a self, bus: &'a str, detail_type: &'a str, detail: &'a Value) -> Pending<'a, ()> {
        Box::pin(put_event(&self.events, bus, detail_type, detail))
    }

    fn describe_peerings<'a>(&'a self, ids: Option<&'a [String]>) -> Pending<'a, Vec<Peering>> {
        Box::pin(self.paced("DescribeVpcPeeringConnections", move || {
            ec2::describe_peerings(&self.ec2, ids)
        }))
    }
    fn describe_vpcs<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<Vpc>> {
        Box::pin(self.paced("DescribeVpcs", move || ec2::describe_vpcs(&self.ec2, ids)))
    }
    fn vpc_dns_attributes<'a>(&'a self, vpc: &'a str) -> Pending<'a, (bool, bool)> {
        Box::pin(self.paced("DescribeVpcAttribute", move || ec2::vpc_dns_attributes(&self.ec2, vpc)))
    }
    fn describe_route_tables<'a>(&'a self, by: Select<'a>) -> Pending<'a, Vec<RouteTable>> {
        Box::pin(self.paced("DescribeRouteTables", move || ec2::describe_route_tables(&self.ec2, by)))
    }
    fn describe_security_groups<'a>(&'a self, by: Select<'a>) -> Pending<'a, Vec<SecurityGroup>> {
        Box::pin(self.paced("DescribeSecurityGroups", move || {
            ec2::describe_security_groups(&self.ec2, by)
        }))
    }
    fn describe_stale_rules<'a>(&'a self, vpc: &'a str) -> Pending<'a, Vec<StaleRule>> {
        Box::pin(self.paced("DescribeStaleSecurityGroups", move || {
            ec2::describe_stale_rules(&self.ec2, vpc)
        }))
    }
    fn describe_network_acls<'a>(&'a self, vpcs: &'a [String]) -> Pending<'a, Vec<NetworkAcl>> {
        Box::pin(self.paced("DescribeNetworkAcls", move || {
            ec2::describe_network_acls(&self.ec2, vpcs)
        }))
    }
    fn describe_subnet_network_acls<'a>(&'a self, subnets: &'a [String]) -> Pending<'a, Vec<NetworkAcl>> {
        Box::pin(self.paced("DescribeNetworkAcls", move || {
            ec2::describe_subnet_network_acls(&self.ec2, subnets)
        }))
    }
    fn describe_subnet_route_tables<'a>(
        &'a self,
        subnets: &'a [String],
        vpcs: &'a [String],
    ) -> Pending<'a, Vec<RouteTable>> {
        Box::pin(self.paced("DescribeRouteTables", move || {
            ec2::describe_subnet_route_tables(&self.ec2, subnets, vpcs)
        }))
    }
    fn describe_network_interfaces<'a>(&'a self, by: Interfaces<'a>) -> Pending<'a, Vec<NetworkInterface>> {
        Box::pin(self.paced("DescribeNetworkInterfaces", move || {
            ec2::describe_network_interfaces(&self.ec2, by)
        }))
    }
    fn describe_subnets<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<Subnet>> {
        Box::pin(self.paced("DescribeSubnets", move || ec2::describe_subnets(&self.ec2, ids)))
    }

    fn accept_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()> {
        Box::pin(self.paced("AcceptVpcPeeringConnection", move || ec2::accept_peering(&self.ec2, id)))
    }
    fn reject_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()> {
        Box::pin(self.paced("RejectVpcPeeringConnection", move || ec2::reject_peering(&self.ec2, id)))
    }
    fn delete_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()> {
        Box::pin(self.paced("DeleteVpcPeeringConnection", move || ec2::delete_peering(&self.ec2, id)))
    }
    fn create_peering<'a>(&'a self, request: &'a PeeringRequest) -> Pending<'a, String> {
        Box::pin(self.paced("CreateVpcPeeringConnection", move || {
            ec2::create_peering(&self.ec2, request)
        }))
    }
    fn create_tags<'a>(&'a self, resource: &'a str, tags: &'a [(String, String)]) -> Pending<'a, ()> {
        Box::pin(self.paced("CreateTags", move || ec2::create_tags(&self.ec2, resource, tags)))
    }
    fn create_route<'a>(&'a self, table: &'a str, destination: &'a IpNet, peering: &'a str) -> Pending<'a, ()> {
        Box::pin(self.paced("CreateRoute", move || {
            ec2::create_route(&self.ec2, table, destination, peering)
        }))
    }
    fn replace_route<'a>(&'a self, table: &'a str, destination: &'a IpNet, peering: &'a str) -> Pending<'a, ()> {
        Box::pin(self.paced("ReplaceRoute", move || {
            ec2::replace_route(&self.ec2, table, destination, peering)
        }))
    }
    fn delete_route<'a>(&'a self, table: &'a str, destination: &'a IpNet) -> Pending<'a, ()> {
        Box::pin(self.paced("DeleteRoute", move || ec2::delete_route(&self.ec2, table, destination)))
    }
    fn authorize_rule<'a>(&'a self, group: &'a str, rule: &'a SgRule, description: &'a str) -> Pending<'a, ()> {
        Box::pin(self.paced(rule_action(AUTHORIZE_RULE, rule), move || {
            ec2::authorize_rule(&self.ec2, group, rule, description)
        }))
    }
    fn revoke_rule<'a>(&'a self, group: &'a str, rule: &'a SgRule) -> Pending<'a, ()> {
        Box::pin(self.paced(rule_action(REVOKE_RULE, rule), move || {
            ec2::revoke_rule(&self.ec2, group, rule)
        }))
    }
    fn update_rule_description<'a>(
        &'a self,
        group: &'a str,
        rule: &'a SgRule,
        description: &'a str,
    ) -> Pending<'a, ()> {
        Box::pin(self.paced(rule_action(REMARK_RULE, rule), move || {
            ec2::update_rule_description(&self.ec2, group, rule, description)
        }))
    }
    fn enable_peering_dns<'a>(&'a self, peering: &'a str, side: Side) -> Pending<'a, ()> {
        Box::pin(self.paced("ModifyVpcPeeringConnectionOptions", move || {
            ec2::set_peering_dns(&self.ec2, peering, side, true)
        }))
    }
    fn disable_peering_dns<'a>(&'a self, peering: &'a str, side: Side) -> Pending<'a, ()> {
        Box::pin(self.paced("ModifyVpcPeeringConnectionOptions", move || {
            ec2::set_peering_dns(&self.ec2, peering, side, false)
        }))
    }
    fn enable_vpc_attribute<'a>(&'a self, vpc: &'a str, attribute: VpcDnsAttribute) -> Pending<'a, ()> {
        Box::pin(self.paced("ModifyVpcAttribute", move || {
            ec2::enable_vpc_attribute(&self.ec2, vpc, attribute)
        }))
    }

    fn describe_secret<'a>(&'a self, arn: &'a str) -> Pending<'a, Option<SecretDescription>> {
        Box::pin(secrets::describe_secret(&self.secrets, arn))
    }
    fn get_secret_policy<'a>(&'a self, arn: &'a str) -> Pending<'a, Option<Value>> {
        Box::pin(secrets::get_secret_policy(&self.secrets, arn))
    }
    fn put_secret_policy<'a>(&'a self, arn: &'a str, policy: &'a Value) -> Pending<'a, ()> {
        Box::pin(secrets::put_secret_policy(&self.secrets, arn, policy))
    }
    fn list_tagged_secrets<'a>(&'a self, tag_key: &'a str) -> Pending<'a, Vec<SecretDescription>> {
        Box::pin(secrets::list_tagged_secrets(&self.secrets, tag_key))
    }
    fn tag_secret<'a>(&'a self, arn: &'a str, key: &'a str, value: &'a str) -> Pending<'a, ()> {
        Box::pin(secrets::tag_secret(&self.secrets, arn, key, value))
    }
    fn describe_key<'a>(&'a self, key: &'a str) -> Pending<'a, Option<KeyDescription>> {
        Box::pin(secrets::describe_key(&self.kms, key))
    }
    fn get_key_policy<'a>(&'a self, key: &'a str) -> Pending<'a, Option<Value>> {
        Box::pin(secrets::get_key_policy(&self.kms, key))
    }
    fn put_key_policy<'a>(&'a self, key: &'a str, policy: &'a Value) -> Pending<'a, ()> {
        Box::pin(secrets::put_key_policy(&self.kms, key, policy))
    }
    fn tag_key<'a>(&'a self, key: &'a str, tag_key: &'a str, value: &'a str) -> Pending<'a, ()> {
        Box::pin(secrets::tag_key(&self.kms, key, tag_key, value))
    }
}
