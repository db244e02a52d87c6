//! Doctor: checks what peerlink does not own but users trip on when a peered
//! service does not answer: network ACLs that block the
//! service port or the return traffic, VPC DNS attributes, quotas close to
//! their limits, security-group references across regions, rules left stale
//! by a deleted peering. Read-only; every
//! finding comes with a plain-language fix.

use std::collections::HashMap;

use ipnet::IpNet;
use serde::Serialize;

use crate::aws::Select;
use crate::config::{Config, Direction, PeerEntry, Protocol};
use crate::context::Context;
use crate::error::Result;
use crate::finding::{Finding, FindingKind};
use crate::matching::match_entry;
use crate::model::{Identity, NetworkAcl, Peering, PeeringStatus, RouteTable, SecurityGroup, Side, StaleRule, Vpc};
use crate::verify::nacl::{self, EPHEMERAL};

/// Share of a quota at which the doctor warns.
pub const QUOTA_WARN_RATIO: f64 = 0.8;

#[derive(Debug, Clone, Default, Serialize)]
pub struct DoctorObserved {
    pub me: Option<Identity>,
    pub peerings: Vec<Peering>,
    pub vpcs: HashMap<String, Vpc>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: Vec<SecurityGroup>,
    pub network_acls: Vec<NetworkAcl>,
    /// Rules of the configured VPCs' groups EC2 calls stale.
    pub stale: Vec<StaleRule>,
}

/// Reads everything the checks need for the VPCs in the configuration: one
/// call per resource kind (plus two per VPC for its DNS attributes).
pub async fn observe(ctx: &Context) -> Result<DoctorObserved> {
    let aws = ctx.aws.as_ref();
    let vpc_ids = ctx.config.local_vpcs();
    let (peerings, vpcs, tables, groups, acls) = tokio::join!(
        aws.describe_peerings(None),
        aws.describe_vpcs(&vpc_ids),
        aws.describe_route_tables(Select::Vpcs(&vpc_ids)),
        aws.describe_security_groups(Select::Vpcs(&vpc_ids)),
        aws.describe_network_acls(&vpc_ids),
    );
    let mut vpcs: HashMap<String, Vpc> = vpcs?.into_iter().map(|v| (v.id.clone(), v)).collect();
    let mut stale = Vec::new();
    for v in vpcs.values_mut() {
        let (support, hostnames) = aws.vpc_dns_attributes(&v.id).await?;
        v.dns_support = Some(support);
        v.dns_hostnames = Some(hostnames);
        stale.extend(aws.describe_stale_rules(&v.id).await?);
    }
    Ok(DoctorObserved {
        me: Some(ctx.me.clone()),
        peerings: peerings?,
        vpcs,
        route_tables: tables?,
        security_groups: groups?,
        network_acls: acls?,
        stale,
    })
}

/// Reads and checks.
pub async fn run(ctx: &Context) -> Result<Vec<Finding>> {
    let obs = observe(ctx).await?;
    Ok(check(&ctx.config, &obs))
}

/// Runs every check (pure).
pub fn check(config: &Config, obs: &DoctorObserved) -> Vec<Finding> {
    let Some(me) = &obs.me else { return Vec::new() };
    let mut out = missing_vpcs(config, obs, me);
    out.extend(routing_refusals(config, obs, me));
    out.extend(dns_attributes(obs));
    out.extend(quotas(config, obs, me));
    out.extend(peering_paths(config, obs, me));
    out.extend(crate::stale::findings(&obs.stale, obs.security_groups.iter()));
    out.sort_by(|a, b| (a.kind, &a.resource, &a.message).cmp(&(b.kind, &b.resource, &b.message)));
    out.dedup();
    out
}

fn finding(kind: FindingKind, peering: Option<&str>, resource: &str, message: String, fix: String) -> Finding {
    Finding {
        kind,
        peering: peering.map(str::to_string),
        resource: Some(resource.to_string()),
        message,
        fix,
    }
}

/// Configured VPCs that do not exist.
fn missing_vpcs(config: &Config, obs: &DoctorObserved, me: &Identity) -> Vec<Finding> {
    let mut out = Vec::new();
    for vpc in config.local_vpcs() {
        if !obs.vpcs.contains_key(&vpc) {
            let entries: Vec<&str> = config
                .peers
                .iter()
                .filter(|e| e.local_vpc == *vpc.as_str())
                .map(|e| e.name.as_str())
                .collect();
            out.push(finding(
                FindingKind::MissingResource,
                None,
                &vpc,
                format!(
                    "local VPC {vpc} of entr{} {} does not exist in account {}, region {}",
                    if entries.len() == 1 { "y" } else { "ies" },
                    entries.join(", "),
                    me.account,
                    me.region
                ),
                "fix local_vpc of those entries".into(),
            ));
        }
    }
    out
}

/// The routing invariant: blocks no route may go to (overlaps between
/// peers of a VPC, blocks EC2 does not list).
fn routing_refusals(config: &Config, obs: &DoctorObserved, me: &Identity) -> Vec<Finding> {
    let mut out = Vec::new();
    let state = crate::routing::State {
        peerings: &obs.peerings,
        vpcs: &obs.vpcs,
        route_tables: &obs.route_tables,
        groups: obs.security_groups.iter().map(|g| (g.id.as_str(), g)).collect(),
    };
    let routed = crate::routing::routing(config, me, &state);
    out.extend(
        routed
            .refused
            .iter()
            .filter(|r| !matches!(r.refusal, crate::routing::Refusal::NotAllowed { .. }))
            .map(|r| r.finding()),
    );
    out
}

/// DNS attributes of every configured VPC.
fn dns_attributes(obs: &DoctorObserved) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut vpc_ids: Vec<&String> = obs.vpcs.keys().collect();
    vpc_ids.sort();
    for id in vpc_ids {
        let v = &obs.vpcs[id];
        for (name, flag, value) in [
            ("enableDnsSupport", "enable-dns-support", v.dns_support),
            ("enableDnsHostnames", "enable-dns-hostnames", v.dns_hostnames),
        ] {
            if value == Some(false) {
                out.push(finding(
                    FindingKind::DnsAttributeOff,
                    None,
                    id,
                    format!(
                        "VPC {id} has {name} off: the peer resolves names like the RDS endpoint to public addresses"
                    ),
                    format!("aws ec2 modify-vpc-attribute --vpc-id {id} --{flag} '{{\"Value\":true}}'"),
                ));
            }
        }
    }
    out
}

/// Quotas close to their limits.
fn quotas(config: &Config, obs: &DoctorObserved, me: &Identity) -> Vec<Finding> {
    let mut out = Vec::new();
    let s = &config.settings;
    let near = |used: usize, limit: usize| used as f64 >= limit as f64 * QUOTA_WARN_RATIO;
    for (vpc, _) in obs.vpcs.iter() {
        let active = obs
            .peerings
            .iter()
            .filter(|p| {
                p.status == PeeringStatus::Active && p.local_sides(me).iter().any(|side| p.side(*side).vpc == *vpc)
            })
            .count();
        if near(active, s.active_peerings_per_vpc) {
            out.push(finding(
                FindingKind::RouteQuota,
                None,
                vpc,
                format!("VPC {vpc} has {active} active peerings of {} allowed", s.active_peerings_per_vpc),
                "request a higher 'Active VPC peering connections per VPC' quota (up to 125), or move to Transit Gateway".into(),
            ));
        }
    }
    for t in &obs.route_tables {
        if near(t.route_count(), s.routes_per_route_table) {
            out.push(finding(
                FindingKind::RouteQuota,
                None,
                &t.id,
                format!(
                    "route table {} holds {} routes of {}",
                    t.id,
                    t.route_count(),
                    s.routes_per_route_table
                ),
                "request a higher 'Routes per route table' quota, or summarise peer ranges".into(),
            ));
        }
    }
    for g in &obs.security_groups {
        for d in [Direction::Ingress, Direction::Egress] {
            if near(g.rule_count(d), s.rules_per_security_group) {
                out.push(finding(
                    FindingKind::RuleQuota,
                    None,
                    &g.id,
                    format!("security group {} has {} {d} rules of {}", g.id, g.rule_count(d), s.rules_per_security_group),
                    "request a higher 'Inbound or outbound rules per security group' quota, or use a managed prefix list".into(),
                ));
            }
        }
    }
    out
}

/// Per managed, active peering: network ACLs and cross-region group references.
fn peering_paths(config: &Config, obs: &DoctorObserved, me: &Identity) -> Vec<Finding> {
    let mut out = Vec::new();
    for p in obs.peerings.iter().filter(|p| p.status == PeeringStatus::Active) {
        for side in p.local_sides(me) {
            let (local, remote) = (p.side(side), p.side(side.other()));
            let Ok(entry) = match_entry(config, local, remote) else {
                continue;
            };
            let remote_cidrs: Vec<IpNet> = remote.cidrs.iter().copied().filter(|c| entry.allows(c)).collect();
            for acl in obs
                .network_acls
                .iter()
                .filter(|a| a.vpc == local.vpc && !a.subnets.is_empty())
            {
                for rule in &entry.security_group_rules {
                    let (Some(ports), Protocol::Tcp | Protocol::Udp) = (rule.ports, rule.protocol) else {
                        continue;
                    };
                    let serving = PeerEntry::rule_direction(rule, side == Side::Accepter) == Direction::Ingress;
                    for cidr in &remote_cidrs {
                        // Serving: requests come in on the port, answers leave on ephemeral ports.
                        // Calling: requests leave on the port, answers come back on ephemeral ports.
                        let legs = [(!serving, ports, "requests"), (serving, EPHEMERAL, "return traffic")];
                        for (egress, range, what) in legs {
                            if let Some(why) = nacl::blocks(acl, egress, rule.protocol, range, cidr) {
                                let way = if egress { "outbound to" } else { "inbound from" };
                                out.push(finding(
                                    FindingKind::NetworkAclBlocks,
                                    Some(&p.id),
                                    &acl.id,
                                    format!(
                                        "network ACL {} (subnets {}) blocks {what}: {} {range} {way} {cidr}: {why}",
                                        acl.id,
                                        acl.subnets.join(","),
                                        rule.protocol.ec2_name()
                                    ),
                                    format!(
                                        "add an allow entry for {} {range} {way} {cidr} with a lower rule number than the deny (network ACLs are stateless: both directions need a rule)",
                                        rule.protocol.ec2_name()
                                    ),
                                ));
                            }
                        }
                    }
                }
            }
            if remote.region != local.region {
                for g in obs.security_groups.iter().filter(|g| g.vpc == local.vpc) {
                    for r in &g.group_refs {
                        let to_peer = r.peering.as_deref() == Some(p.id.as_str())
                            || r.account.as_deref() == Some(remote.account.as_str())
                            || r.vpc.as_deref() == Some(remote.vpc.as_str());
                        if to_peer {
                            out.push(finding(
                                FindingKind::CrossRegionGroupReference,
                                Some(&p.id),
                                &g.id,
                                format!(
                                    "security group {} references group {} of the peer, but {} is an inter-region peering ({} to {}): such references do not work",
                                    g.id, r.group, p.id, local.region, remote.region
                                ),
                                format!("allow the peer's CIDR blocks instead ({})", crate::logging::joined(&remote_cidrs)),
                            ));
                        }
                    }
                }
            }
        }
    }
    out
}
