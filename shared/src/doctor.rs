//! Doctor: checks what peerlink does not own but users trip on when a peered
//! service does not answer: network ACLs that block the
//! service port or the return traffic, VPC DNS attributes, quotas close to
//! their limits, security-group references across regions. Read-only; every
//! finding comes with a plain-language fix.

use std::collections::HashMap;

use ipnet::IpNet;
use serde::Serialize;

use crate::aws::Select;
use crate::config::{Config, Direction, PeerEntry, PortRange, Protocol};
use crate::context::Context;
use crate::error::Result;
use crate::finding::{Finding, FindingKind};
use crate::matching::{match_entry, overlaps};
use crate::model::{Identity, NetworkAcl, Peering, PeeringStatus, RouteTable, SecurityGroup, Side, Vpc};

/// Share of a quota at which the doctor warns.
pub const QUOTA_WARN_RATIO: f64 = 0.8;

/// Ports a client's return traffic comes back on (the widest ephemeral range).
pub const EPHEMERAL: PortRange = PortRange { from: 1024, to: 65535 };

#[derive(Debug, Clone, Default, Serialize)]
pub struct DoctorObserved {
    pub me: Option<Identity>,
    pub peerings: Vec<Peering>,
    pub vpcs: HashMap<String, Vpc>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: Vec<SecurityGroup>,
    pub network_acls: Vec<NetworkAcl>,
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
    for v in vpcs.values_mut() {
        let (support, hostnames) = aws.vpc_dns_attributes(&v.id).await?;
        v.dns_support = Some(support);
        v.dns_hostnames = Some(hostnames);
    }
    Ok(DoctorObserved {
        me: Some(ctx.me.clone()),
        peerings: peerings?,
        vpcs,
        route_tables: tables?,
        security_groups: groups?,
        network_acls: acls?,
    })
}

/// Reads and checks.
pub async fn run(ctx: &Context) -> Result<Vec<Finding>> {
    let obs = observe(ctx).await?;
    Ok(check(&ctx.config, &obs))
}

/// Runs every check (pure).
pub fn check(config: &Config, obs: &DoctorObserved) -> Vec<Finding> {
    let mut out = Vec::new();
    let Some(me) = &obs.me else { return out };
    let finding = |kind: FindingKind, peering: Option<&str>, resource: &str, message: String, fix: String| Finding {
        kind,
        peering: peering.map(str::to_string),
        resource: Some(resource.to_string()),
        message,
        fix,
    };

    // Configured VPCs that do not exist.
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

    // The routing invariant: blocks no route may go to (overlaps between
    // peers of a VPC, blocks EC2 does not list).
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

    // DNS attributes of every configured VPC.
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

    // Quotas close to their limits.
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

    // Per managed, active peering: network ACLs and cross-region group references.
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
                            if let Some(why) = nacl_blocks(acl, egress, rule.protocol, range, cidr) {
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
    out.sort_by(|a, b| (a.kind, &a.resource, &a.message).cmp(&(b.kind, &b.resource, &b.message)));
    out.dedup();
    out
}

/// Why `acl` stops `protocol` traffic on `ports` between us and `cidr`
/// (`egress` for outbound), or `None` when every port passes. Entries are
/// evaluated in rule-number order and the first match wins, as EC2 does.
pub fn nacl_blocks(
    acl: &NetworkAcl,
    egress: bool,
    protocol: Protocol,
    ports: PortRange,
    cidr: &IpNet,
) -> Option<String> {
    let mut entries: Vec<_> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|e| e.rule_number);
    let mut open: Vec<(u32, u32)> = vec![(u32::from(ports.from), u32::from(ports.to))];
    for e in entries {
        if open.is_empty() {
            return None;
        }
        let proto_match = e.protocol.is_none_or(|p| p == protocol || p == Protocol::All);
        if !proto_match || !overlaps(&e.cidr, cidr) {
            continue;
        }
        let (lo, hi) = e.ports.map_or((0, 65535), |r| (u32::from(r.from), u32::from(r.to)));
        let hit = open.iter().any(|&(a, b)| a <= hi && lo <= b);
        if !hit {
            continue;
        }
        if !e.allow {
            let rule = if e.rule_number >= 32767 {
                "*".to_string()
            } else {
                e.rule_number.to_string()
            };
            return Some(format!("entry {rule} denies {}", e.cidr));
        }
        // An allow only settles the ports for every address if it covers the whole block.
        if e.cidr.contains(cidr) {
            open = open
                .into_iter()
                .flat_map(|(a, b)| {
                    let mut rest = Vec::new();
                    if a < lo {
                        rest.push((a, b.min(lo.saturating_sub(1))));
                    }
                    if b > hi {
                        rest.push((a.max(hi + 1), b));
                    }
                    if b < lo || a > hi {
                        rest = vec![(a, b)];
                    }
                    rest
                })
                .collect();
        }
    }
    if open.is_empty() {
        None
    } else {
        Some("no entry allows it, so the final deny applies".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::NaclEntry;

    fn entry(
        n: i32,
        egress: bool,
        allow: bool,
        protocol: Option<Protocol>,
        ports: Option<(u16, u16)>,
        cidr: &str,
    ) -> NaclEntry {
        NaclEntry {
            rule_number: n,
            egress,
            allow,
            protocol,
            ports: ports.map(|(from, to)| PortRange { from, to }),
            cidr: cidr.parse().unwrap(),
        }
    }

    fn acl(entries: Vec<NaclEntry>) -> NetworkAcl {
        NetworkAcl {
            id: "acl-1".into(),
            vpc: "vpc-1".into(),
            subnets: vec!["subnet-1".into()],
            entries,
        }
    }

    const PG: PortRange = PortRange { from: 5432, to: 5432 };

    #[test]
    fn default_allow_all_passes() {
        let a = acl(vec![
            entry(100, false, true, None, None, "0.0.0.0/0"),
            entry(32767, false, false, None, None, "0.0.0.0/0"),
        ]);
        assert_eq!(
            nacl_blocks(&a, false, Protocol::Tcp, PG, &"10.0.0.0/16".parse().unwrap()),
            None
        );
    }

    #[test]
    fn an_earlier_deny_wins() {
        let a = acl(vec![
            entry(50, false, false, Some(Protocol::Tcp), Some((5432, 5432)), "10.0.0.0/8"),
            entry(100, false, true, None, None, "0.0.0.0/0"),
        ]);
        let why = nacl_blocks(&a, false, Protocol::Tcp, PG, &"10.0.0.0/16".parse().unwrap()).unwrap();
        assert!(why.contains("entry 50 denies"), "{why}");
        // Other ports and other sources pass.
        assert_eq!(
            nacl_blocks(
                &a,
                false,
                Protocol::Tcp,
                PortRange { from: 443, to: 443 },
                &"10.0.0.0/16".parse().unwrap()
            ),
            None
        );
        assert_eq!(
            nacl_blocks(&a, false, Protocol::Tcp, PG, &"192.168.0.0/16".parse().unwrap()),
            None
        );
    }

    #[test]
    fn a_partial_allow_leaves_the_rest_to_the_final_deny() {
        let a = acl(vec![
            entry(100, true, true, Some(Protocol::Tcp), Some((1024, 32767)), "10.0.0.0/16"),
            entry(32767, true, false, None, None, "0.0.0.0/0"),
        ]);
        let why = nacl_blocks(&a, true, Protocol::Tcp, EPHEMERAL, &"10.0.0.0/16".parse().unwrap()).unwrap();
        assert!(why.contains("entry * denies"), "{why}");
        let full = acl(vec![
            entry(100, true, true, Some(Protocol::Tcp), Some((1024, 32767)), "10.0.0.0/16"),
            entry(
                110,
                true,
                true,
                Some(Protocol::Tcp),
                Some((32768, 65535)),
                "10.0.0.0/16",
            ),
            entry(32767, true, false, None, None, "0.0.0.0/0"),
        ]);
        assert_eq!(
            nacl_blocks(&full, true, Protocol::Tcp, EPHEMERAL, &"10.0.0.0/16".parse().unwrap()),
            None
        );
    }

    #[test]
    fn an_allow_for_part_of_the_block_is_not_enough() {
        let a = acl(vec![entry(100, false, true, None, None, "10.0.0.0/24")]);
        assert!(nacl_blocks(&a, false, Protocol::Tcp, PG, &"10.0.0.0/16".parse().unwrap()).is_some());
    }
}
