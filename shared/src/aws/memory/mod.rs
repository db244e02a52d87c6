//! An in-memory account implementing [`Aws`], for fast unit tests of the
//! orchestration (accepter, apply, reconcile). It follows EC2's answers where
//! the orchestration depends on them ("already exists", "not found", state
//! transitions) and can be told to fail an operation. It is never the only
//! test of an AWS interaction: the emulator tests are.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use futures_util::FutureExt;
use ipnet::IpNet;
use serde_json::Value;

mod world;

pub use world::{World, accepter_world};

use super::{ApiCalls, Aws, Interfaces, KeyDescription, Parameter, PeeringRequest, Pending, SecretDescription, Select};
use crate::error::AwsError;
use crate::model::{
    NetworkAcl, NetworkInterface, ObservedRule, Peering, PeeringStatus, Route, RouteTable, RouteTarget, SecurityGroup,
    SgRule, Side, StaleRule, Subnet, Vpc, VpcDnsAttribute,
};
use crate::ownership::MANAGED_TAG;

#[derive(Default)]
pub struct Memory {
    world: Mutex<World>,
    calls: ApiCalls,
    /// Operations that fail, with the error code they fail with.
    failing: Mutex<BTreeMap<&'static str, String>>,
    /// Operations a pacer would hold: how long a call asked for now waits.
    paced: Mutex<BTreeMap<&'static str, std::time::Duration>>,
}

fn err(operation: &'static str, code: &str, message: &str) -> AwsError {
    AwsError {
        operation,
        code: Some(code.to_string()),
        message: message.to_string(),
    }
}

impl Memory {
    pub fn new(world: World) -> Memory {
        Memory {
            world: Mutex::new(world),
            ..Memory::default()
        }
    }

    /// The account as it is now.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().expect("world lock")
    }

    /// Makes every later call of `operation` fail with `code`.
    pub fn fail(&self, operation: &'static str, code: &str) {
        self.failing.lock().expect("lock").insert(operation, code.to_string());
    }

    /// Makes calls of `operation` wait `wait` for their turn, as the SDK
    /// client's pacer would when EC2's bucket for it is drained ([`Aws::ready_at`]).
    pub fn pace(&self, operation: &'static str, wait: std::time::Duration) {
        self.paced.lock().expect("lock").insert(operation, wait);
    }

    /// Counts the call, fails it if asked to, else runs `f` on the world.
    fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut World) -> Result<T, AwsError>,
    ) -> Pending<'_, T> {
        self.calls.bump(operation, false);
        self.calls.bump(operation, true);
        let result = match self.failing.lock().expect("lock").get(operation) {
            Some(code) => Err(err(operation, code, "injected failure")),
            None => f(&mut self.world()),
        };
        async move { result }.boxed()
    }

    fn set_peering_dns(&self, id: &str, side: Side, on: bool) -> Pending<'_, ()> {
        self.call("ModifyVpcPeeringConnectionOptions", |w| {
            let p = peering(w, id, "ModifyVpcPeeringConnectionOptions")?;
            match side {
                Side::Requester => p.requester.allow_remote_dns = on,
                Side::Accepter => p.accepter.allow_remote_dns = on,
            }
            Ok(())
        })
    }
}

fn table<'w>(w: &'w mut World, id: &str, op: &'static str) -> Result<&'w mut RouteTable, AwsError> {
    w.route_tables
        .iter_mut()
        .find(|t| t.id == id)
        .ok_or_else(|| err(op, "InvalidRouteTableID.NotFound", id))
}

fn group<'w>(w: &'w mut World, id: &str, op: &'static str) -> Result<&'w mut SecurityGroup, AwsError> {
    w.groups
        .iter_mut()
        .find(|g| g.id == id)
        .ok_or_else(|| err(op, "InvalidGroup.NotFound", id))
}

fn peering<'w>(w: &'w mut World, id: &str, op: &'static str) -> Result<&'w mut Peering, AwsError> {
    w.peerings
        .iter_mut()
        .find(|p| p.id == id)
        .ok_or_else(|| err(op, "InvalidVpcPeeringConnectionID.NotFound", id))
}

/// Moves a pending request to `to`, as EC2 does for the accepter's account.
fn decide(w: &mut World, id: &str, to: PeeringStatus, op: &'static str) -> Result<(), AwsError> {
    let p = peering(w, id, op)?;
    if p.status != PeeringStatus::PendingAcceptance {
        return Err(err(op, "InvalidStateTransition", &format!("{id} is {}", p.status)));
    }
    p.status = to;
    Ok(())
}

impl Aws for Memory {
    fn calls(&self) -> &ApiCalls {
        &self.calls
    }
    fn ready_at(&self, operation: &str) -> std::time::Instant {
        let wait = self.paced.lock().expect("lock").get(operation).copied();
        std::time::Instant::now() + wait.unwrap_or_default()
    }
    fn caller_account(&self) -> Pending<'_, String> {
        self.call("GetCallerIdentity", |w| Ok(w.account.clone()))
    }
    fn caller_arn(&self) -> Pending<'_, String> {
        self.call("GetCallerIdentity", |w| {
            Ok(format!("arn:aws:iam::{}:user/tester", w.account))
        })
    }
    fn get_parameter<'a>(&'a self, name: &'a str) -> Pending<'a, Parameter> {
        self.call("GetParameter", |w| {
            w.parameters
                .get(name)
                .cloned()
                .ok_or_else(|| err("GetParameter", "ParameterNotFound", name))
        })
    }
    fn put_event<'a>(&'a self, bus: &'a str, detail_type: &'a str, detail: &'a Value) -> Pending<'a, ()> {
        self.call("PutEvents", |w| {
            w.events.push((bus.into(), detail_type.into(), detail.clone()));
            Ok(())
        })
    }

    fn describe_peerings<'a>(&'a self, ids: Option<&'a [String]>) -> Pending<'a, Vec<Peering>> {
        self.call("DescribeVpcPeeringConnections", |w| {
            Ok(w.peerings
                .iter()
                .filter(|p| ids.is_none_or(|ids| ids.contains(&p.id)))
                .cloned()
                .collect())
        })
    }
    fn describe_vpcs<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<Vpc>> {
        self.call("DescribeVpcs", |w| {
            Ok(w.vpcs
                .iter()
                .filter(|v| ids.contains(&v.id))
                .map(|v| Vpc {
                    dns_support: None,
                    dns_hostnames: None,
                    ..v.clone()
                })
                .collect())
        })
    }
    fn vpc_dns_attributes<'a>(&'a self, vpc: &'a str) -> Pending<'a, (bool, bool)> {
        self.call("DescribeVpcAttribute", |w| {
            let v = w.vpcs.iter().find(|v| v.id == vpc);
            let v = v.ok_or_else(|| err("DescribeVpcAttribute", "InvalidVpcID.NotFound", vpc))?;
            Ok((v.dns_support.unwrap_or(true), v.dns_hostnames.unwrap_or(true)))
        })
    }
    fn describe_route_tables<'a>(&'a self, by: Select<'a>) -> Pending<'a, Vec<RouteTable>> {
        self.call("DescribeRouteTables", |w| {
            Ok(w.route_tables
                .iter()
                .filter(|t| match by {
                    Select::Vpcs(v) => v.contains(&t.vpc),
                    Select::Ids(ids) => ids.contains(&t.id),
                    Select::Tagged(key) => t.tags.contains_key(key),
                })
                .cloned()
                .collect())
        })
    }
    fn describe_security_groups<'a>(&'a self, by: Select<'a>) -> Pending<'a, Vec<SecurityGroup>> {
        self.call("DescribeSecurityGroups", |w| {
            Ok(w.groups
                .iter()
                .filter(|g| match by {
                    Select::Vpcs(v) => v.contains(&g.vpc),
                    Select::Ids(ids) => ids.contains(&g.id),
                    Select::Tagged(key) => key == MANAGED_TAG && g.tagged,
                })
                .cloned()
                .collect())
        })
    }
    fn describe_stale_rules<'a>(&'a self, vpc: &'a str) -> Pending<'a, Vec<StaleRule>> {
        self.call("DescribeStaleSecurityGroups", |w| Ok(w.stale_rules(vpc)))
    }
    fn describe_network_acls<'a>(&'a self, vpcs: &'a [String]) -> Pending<'a, Vec<NetworkAcl>> {
        self.call("DescribeNetworkAcls", |w| {
            Ok(w.network_acls
                .iter()
                .filter(|a| vpcs.contains(&a.vpc))
                .cloned()
                .collect())
        })
    }
    fn describe_subnet_network_acls<'a>(&'a self, subnets: &'a [String]) -> Pending<'a, Vec<NetworkAcl>> {
        self.call("DescribeNetworkAcls", |w| {
            Ok(w.network_acls
                .iter()
                .filter(|a| a.subnets.iter().any(|s| subnets.contains(s)))
                .cloned()
                .collect())
        })
    }
    fn describe_subnet_route_tables<'a>(
        &'a self,
        subnets: &'a [String],
        vpcs: &'a [String],
    ) -> Pending<'a, Vec<RouteTable>> {
        // Two calls, as EC2 needs: the subnets' own tables, the VPCs' main ones.
        self.calls.bump("DescribeRouteTables", false);
        self.calls.bump("DescribeRouteTables", true);
        self.call("DescribeRouteTables", |w| {
            Ok(w.route_tables
                .iter()
                .filter(|t| t.subnets.iter().any(|s| subnets.contains(s)) || (t.main && vpcs.contains(&t.vpc)))
                .cloned()
                .collect())
        })
    }
    fn describe_network_interfaces<'a>(&'a self, by: Interfaces<'a>) -> Pending<'a, Vec<NetworkInterface>> {
        self.call("DescribeNetworkInterfaces", |w| {
            Ok(w.interfaces
                .iter()
                .filter(|i| match by {
                    Interfaces::Ids(ids) => ids.contains(&i.id),
                    Interfaces::Addresses(a) => i.addresses.iter().any(|ip| a.contains(&ip.to_string())),
                })
                .cloned()
                .collect())
        })
    }
    fn describe_subnets<'a>(&'a self, ids: &'a [String]) -> Pending<'a, Vec<Subnet>> {
        self.call("DescribeSubnets", |w| Ok(w.subnets(ids)))
    }

    fn accept_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()> {
        self.call("AcceptVpcPeeringConnection", |w| {
            decide(w, id, PeeringStatus::Active, "AcceptVpcPeeringConnection")
        })
    }
    fn reject_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()> {
        self.call("RejectVpcPeeringConnection", |w| {
            decide(w, id, PeeringStatus::Rejected, "RejectVpcPeeringConnection")
        })
    }
    fn delete_peering<'a>(&'a self, id: &'a str) -> Pending<'a, ()> {
        self.call("DeleteVpcPeeringConnection", |w| {
            let p = peering(w, id, "DeleteVpcPeeringConnection")?;
            p.status = PeeringStatus::Deleted;
            Ok(())
        })
    }
    fn create_peering<'a>(&'a self, r: &'a PeeringRequest) -> Pending<'a, String> {
        self.call("CreateVpcPeeringConnection", |w| {
            let local = w.vpcs.iter().find(|v| v.id == r.vpc);
            let local = local.ok_or_else(|| err("CreateVpcPeeringConnection", "InvalidVpcID.NotFound", &r.vpc))?;
            let id = format!("pcx-{:017x}", 0x100 + w.peerings.len());
            let region = crate::fixtures::REGION.to_string();
            w.peerings.push(Peering {
                id: id.clone(),
                status: PeeringStatus::PendingAcceptance,
                status_message: String::new(),
                requester: crate::model::PeeringSide {
                    account: w.account.clone(),
                    vpc: r.vpc.clone(),
                    region: region.clone(),
                    cidrs: local.cidrs.clone(),
                    allow_remote_dns: false,
                    blocks_known: true,
                },
                accepter: crate::model::PeeringSide {
                    account: r.peer_account.clone(),
                    vpc: r.peer_vpc.clone(),
                    region: r.peer_region.clone().unwrap_or(region),
                    cidrs: Vec::new(),
                    allow_remote_dns: false,
                    blocks_known: false,
                },
                tags: r.tags.iter().cloned().collect(),
            });
            Ok(id)
        })
    }
    fn create_tags<'a>(&'a self, resource: &'a str, tags: &'a [(String, String)]) -> Pending<'a, ()> {
        self.call("CreateTags", |w| {
            if let Some(v) = w.vpcs.iter_mut().find(|v| v.id == resource) {
                v.tags.extend(tags.iter().cloned());
            } else if let Some(g) = w.groups.iter_mut().find(|g| g.id == resource) {
                g.tagged |= tags.iter().any(|(k, _)| k == MANAGED_TAG);
            } else if let Some(p) = w.peerings.iter_mut().find(|p| p.id == resource) {
                p.tags.extend(tags.iter().cloned());
            } else {
                return Err(err("CreateTags", "InvalidID", resource));
            }
            Ok(())
        })
    }
    fn create_route<'a>(&'a self, table_id: &'a str, destination: &'a IpNet, pcx: &'a str) -> Pending<'a, ()> {
        self.call("CreateRoute", |w| {
            let t = table(w, table_id, "CreateRoute")?;
            if t.routes.iter().any(|r| r.destination == *destination) {
                return Err(err("CreateRoute", "RouteAlreadyExists", &destination.to_string()));
            }
            t.routes.push(Route {
                destination: *destination,
                target: RouteTarget::Peering(pcx.into()),
                blackhole: false,
            });
            Ok(())
        })
    }
    fn replace_route<'a>(&'a self, table_id: &'a str, destination: &'a IpNet, pcx: &'a str) -> Pending<'a, ()> {
        self.call("ReplaceRoute", |w| {
            let t = table(w, table_id, "ReplaceRoute")?;
            let r = t.routes.iter_mut().find(|r| r.destination == *destination);
            let r = r.ok_or_else(|| err("ReplaceRoute", "InvalidRoute.NotFound", &destination.to_string()))?;
            r.target = RouteTarget::Peering(pcx.into());
            r.blackhole = false;
            Ok(())
        })
    }
    fn delete_route<'a>(&'a self, table_id: &'a str, destination: &'a IpNet) -> Pending<'a, ()> {
        self.call("DeleteRoute", |w| {
            let t = table(w, table_id, "DeleteRoute")?;
            let before = t.routes.len();
            t.routes.retain(|r| r.destination != *destination);
            if t.routes.len() == before {
                return Err(err("DeleteRoute", "InvalidRoute.NotFound", &destination.to_string()));
            }
            Ok(())
        })
    }
    fn authorize_rule<'a>(&'a self, group_id: &'a str, rule: &'a SgRule, description: &'a str) -> Pending<'a, ()> {
        self.call("AuthorizeSecurityGroupIngress", |w| {
            let g = group(w, group_id, "AuthorizeSecurityGroupIngress")?;
            if g.rules.iter().any(|r| r.rule == *rule) {
                return Err(err(
                    "AuthorizeSecurityGroupIngress",
                    "InvalidPermission.Duplicate",
                    &rule.to_string(),
                ));
            }
            g.rules.push(ObservedRule {
                rule: rule.clone(),
                description: Some(description.into()),
            });
            Ok(())
        })
    }
    fn revoke_rule<'a>(&'a self, group_id: &'a str, rule: &'a SgRule) -> Pending<'a, ()> {
        self.call("RevokeSecurityGroupIngress", |w| {
            let g = group(w, group_id, "RevokeSecurityGroupIngress")?;
            let before = g.rules.len();
            g.rules.retain(|r| r.rule != *rule);
            if g.rules.len() == before {
                return Err(err(
                    "RevokeSecurityGroupIngress",
                    "InvalidPermission.NotFound",
                    &rule.to_string(),
                ));
            }
            Ok(())
        })
    }
    fn update_rule_description<'a>(
        &'a self,
        group_id: &'a str,
        rule: &'a SgRule,
        description: &'a str,
    ) -> Pending<'a, ()> {
        self.call("UpdateSecurityGroupRuleDescriptionsIngress", |w| {
            let g = group(w, group_id, "UpdateSecurityGroupRuleDescriptionsIngress")?;
            let r = g.rules.iter_mut().find(|r| r.rule == *rule);
            let r = r.ok_or_else(|| {
                err(
                    "UpdateSecurityGroupRuleDescriptionsIngress",
                    "InvalidPermission.NotFound",
                    &rule.to_string(),
                )
            })?;
            r.description = Some(description.into());
            Ok(())
        })
    }
    fn enable_peering_dns<'a>(&'a self, id: &'a str, side: Side) -> Pending<'a, ()> {
        self.set_peering_dns(id, side, true)
    }
    fn disable_peering_dns<'a>(&'a self, id: &'a str, side: Side) -> Pending<'a, ()> {
        self.set_peering_dns(id, side, false)
    }
    fn enable_vpc_attribute<'a>(&'a self, vpc: &'a str, attribute: VpcDnsAttribute) -> Pending<'a, ()> {
        self.call("ModifyVpcAttribute", |w| {
            let v = w.vpcs.iter_mut().find(|v| v.id == vpc);
            let v = v.ok_or_else(|| err("ModifyVpcAttribute", "InvalidVpcID.NotFound", vpc))?;
            match attribute {
                VpcDnsAttribute::EnableDnsSupport => v.dns_support = Some(true),
                VpcDnsAttribute::EnableDnsHostnames => v.dns_hostnames = Some(true),
            }
            Ok(())
        })
    }

    fn describe_secret<'a>(&'a self, arn: &'a str) -> Pending<'a, Option<SecretDescription>> {
        self.call("DescribeSecret", |w| Ok(w.secrets.get(arn).map(|(d, _)| d.clone())))
    }
    fn get_secret_policy<'a>(&'a self, arn: &'a str) -> Pending<'a, Option<Value>> {
        self.call("GetResourcePolicy", |w| {
            let s = w.secrets.get(arn);
            s.map(|(_, p)| p.clone())
                .ok_or_else(|| err("GetResourcePolicy", "ResourceNotFoundException", arn))
        })
    }
    fn put_secret_policy<'a>(&'a self, arn: &'a str, policy: &'a Value) -> Pending<'a, ()> {
        self.call("PutResourcePolicy", |w| {
            let s = w.secrets.get_mut(arn);
            let s = s.ok_or_else(|| err("PutResourcePolicy", "ResourceNotFoundException", arn))?;
            s.1 = Some(policy.clone());
            Ok(())
        })
    }
    fn list_tagged_secrets<'a>(&'a self, tag_key: &'a str) -> Pending<'a, Vec<SecretDescription>> {
        self.call("ListSecrets", |w| {
            Ok(w.secrets
                .values()
                .filter(|(d, _)| tag_key == MANAGED_TAG && d.tagged)
                .map(|(d, _)| d.clone())
                .collect())
        })
    }
    fn tag_secret<'a>(&'a self, arn: &'a str, key: &'a str, _value: &'a str) -> Pending<'a, ()> {
        self.call("TagResource", |w| {
            let s = w.secrets.get_mut(arn);
            let s = s.ok_or_else(|| err("TagResource", "ResourceNotFoundException", arn))?;
            s.0.tagged |= key == MANAGED_TAG;
            Ok(())
        })
    }
    fn describe_key<'a>(&'a self, key: &'a str) -> Pending<'a, Option<KeyDescription>> {
        self.call("DescribeKey", |w| Ok(w.keys.get(key).map(|(d, _)| d.clone())))
    }
    fn get_key_policy<'a>(&'a self, key: &'a str) -> Pending<'a, Option<Value>> {
        self.call("GetKeyPolicy", |w| {
            let k = w.keys.get(key);
            k.map(|(_, p)| p.clone())
                .ok_or_else(|| err("GetKeyPolicy", "NotFoundException", key))
        })
    }
    fn put_key_policy<'a>(&'a self, key: &'a str, policy: &'a Value) -> Pending<'a, ()> {
        self.call("PutKeyPolicy", |w| {
            let k = w.keys.get_mut(key);
            let k = k.ok_or_else(|| err("PutKeyPolicy", "NotFoundException", key))?;
            k.1 = Some(policy.clone());
            Ok(())
        })
    }
    fn tag_key<'a>(&'a self, key: &'a str, _tag_key: &'a str, _value: &'a str) -> Pending<'a, ()> {
        self.call("TagResource", |w| {
            w.keys
                .get(key)
                .map(|_| ())
                .ok_or_else(|| err("TagResource", "NotFoundException", key))
        })
    }
}
