//! Continuous proof: every drift pass proves this account's half of each
//! path an entry declares (`verify = [{ local = "eni-…", remote = "10.1.2.3",
//! port = 5432 }]`) and reports a `path-blocked` finding naming the hop that
//! stops it and the fix. It uses what the pass already read (peerings, VPCs,
//! route tables, configured groups) plus one filtered DescribeNetworkInterfaces
//! and one filtered DescribeNetworkAcls, and reads the interfaces' groups only
//! when the configuration does not name them.

use std::collections::BTreeSet;

use super::advice::holds;
use super::{End, EndView, PathWorld, Traffic, evaluate};
use crate::aws::{Interfaces, Select};
use crate::config::{Config, Direction, PathSpec, PeerEntry};
use crate::context::Context;
use crate::error::AwsError;
use crate::finding::{Finding, FindingKind};
use crate::model::{Identity, NetworkAcl, NetworkInterface, SecurityGroup, Side, Vpc};
use crate::reconcile::Observed;

/// The declared paths, with their entries and places in them.
fn declared(config: &Config) -> Vec<(&PeerEntry, usize, &PathSpec)> {
    config
        .peers
        .iter()
        .flat_map(|e| e.verify.iter().enumerate().map(move |(i, p)| (e, i, p)))
        .collect()
}

/// What the paths need beyond the pass's observation.
#[derive(Debug, Clone, Default)]
pub struct PathReads {
    pub interfaces: Vec<NetworkInterface>,
    pub network_acls: Vec<NetworkAcl>,
    /// The interfaces' groups the observation lacks.
    pub groups: Vec<SecurityGroup>,
}

/// Reads what the declared paths need (nothing when none is declared).
pub async fn read(ctx: &Context, obs: &Observed) -> Result<PathReads, AwsError> {
    let paths = declared(&ctx.config);
    if paths.is_empty() {
        return Ok(PathReads::default());
    }
    let aws = ctx.aws.as_ref();
    let ids: Vec<String> = sorted(paths.iter().map(|(_, _, p)| p.local.to_string()));
    let vpcs: Vec<String> = sorted(paths.iter().map(|(e, _, _)| e.local_vpc.to_string()));
    let (interfaces, acls) = tokio::join!(
        aws.describe_network_interfaces(Interfaces::Ids(&ids)),
        aws.describe_network_acls(&vpcs)
    );
    let interfaces = interfaces?;
    let missing = sorted(
        interfaces
            .iter()
            .flat_map(|i| i.groups.iter().cloned())
            .filter(|g| !obs.security_groups.contains_key(g)),
    );
    let groups = if missing.is_empty() {
        Vec::new()
    } else {
        aws.describe_security_groups(Select::Ids(&missing)).await?
    };
    Ok(PathReads {
        interfaces,
        network_acls: acls?,
        groups,
    })
}

/// Reads, proves and logs: the `path-blocked` findings of one drift pass.
pub async fn run(ctx: &Context, obs: &Observed, repaired: usize) -> Result<Vec<Finding>, AwsError> {
    let reads = read(ctx, obs).await?;
    let findings = prove(&ctx.config, &ctx.me, obs, &reads, repaired);
    for f in &findings {
        tracing::warn!(
            peering_id = f.peering.as_deref().unwrap_or(""),
            finding = ?f.kind,
            resource = f.resource.as_deref().unwrap_or(""),
            message = %f.message,
            fix = %f.fix,
            "finding"
        );
    }
    Ok(findings)
}

/// Proves every declared path's half on this account's side (pure).
/// `repaired`: writes the pass made after observing, which the findings
/// mention (they describe what was observed before).
pub fn prove(config: &Config, me: &Identity, obs: &Observed, reads: &PathReads, repaired: usize) -> Vec<Finding> {
    let mut out = Vec::new();
    for (entry, i, path) in declared(config) {
        let at = format!("verify[{i}] of entry {:?}", entry.name);
        let missing = |message: String| Finding {
            kind: FindingKind::MissingResource,
            peering: None,
            resource: Some(path.local.to_string()),
            message: format!("{at}: {message}"),
            fix: format!("fix {at}: local names an interface of local_vpc {}", entry.local_vpc),
        };
        let Some(interface) = reads.interfaces.iter().find(|n| n.id == path.local.as_str()) else {
            out.push(missing(format!(
                "network interface {} does not exist in account {}, region {}",
                path.local, me.account, me.region
            )));
            continue;
        };
        if entry.local_vpc != *interface.vpc.as_str() {
            out.push(missing(format!(
                "network interface {} is in {}, not in local_vpc {}",
                path.local, interface.vpc, entry.local_vpc
            )));
            continue;
        }
        let Some(&address) = interface.addresses.first() else {
            out.push(missing(format!(
                "network interface {} has no private IPv4 address",
                path.local
            )));
            continue;
        };
        // A local VPC that does not exist is the plan's finding already.
        let Some(vpc) = obs.vpcs.get(&interface.vpc) else {
            continue;
        };
        let Ok(traffic) = Traffic::new(path.protocol, path.port) else {
            continue;
        };
        let view = local_view(me, obs, reads, interface, vpc, config.settings.active_peerings_per_vpc);
        let local = End {
            address,
            view: Some(view),
        };
        let remote = End {
            address: path.remote,
            view: None,
        };
        let direction = path
            .direction
            .unwrap_or_else(|| default_direction(obs, me, &vpc.id, path));
        let (source, destination) = match direction {
            Direction::Egress => (local, remote),
            Direction::Ingress => (remote, local),
        };
        let verdict = evaluate(&PathWorld {
            traffic,
            dns: path.dns,
            source,
            destination,
            peerings: obs.peerings.clone(),
        });
        let Some(hop) = verdict.first_failure() else {
            continue;
        };
        let arrow = match direction {
            Direction::Egress => format!("{} ({address}) -> {}", path.local, path.remote),
            Direction::Ingress => format!("{} -> {} ({address})", path.remote, path.local),
        };
        let note = if repaired > 0 {
            format!(" (as observed before this pass made {repaired} change(s); the next pass proves it again)")
        } else {
            String::new()
        };
        out.push(Finding {
            kind: FindingKind::PathBlocked,
            peering: verdict.peering.as_ref().map(|p| p.id.clone()),
            resource: Some(hop.resource.clone()),
            message: format!(
                "{at}: {arrow} {traffic} is blocked at {} (account {}): {}{note}",
                hop.check, hop.account, hop.detail
            ),
            fix: hop.fix.clone().unwrap_or_default(),
        });
    }
    out
}

/// This account's end of a path: the interface, its subnet's tables and ACL,
/// its groups, from the pass's observation and the path reads.
fn local_view(
    me: &Identity,
    obs: &Observed,
    reads: &PathReads,
    interface: &NetworkInterface,
    vpc: &Vpc,
    peering_quota: usize,
) -> EndView {
    let subnet = &interface.subnet;
    EndView {
        account: me.account.clone(),
        region: me.region.clone(),
        interface: interface.clone(),
        vpc: vpc.clone(),
        route_tables: obs
            .route_tables
            .iter()
            .filter(|t| t.vpc == vpc.id && (t.main || t.subnets.contains(subnet)))
            .cloned()
            .collect(),
        network_acls: reads
            .network_acls
            .iter()
            .filter(|a| a.subnets.contains(subnet))
            .cloned()
            .collect(),
        groups: interface
            .groups
            .iter()
            .filter_map(|g| obs.security_groups.get(g).or(reads.groups.iter().find(|r| r.id == *g)))
            .cloned()
            .collect(),
        peering_quota,
    }
}

/// Who connects, when the path does not say: as for rules, the requester
/// side calls out and the accepter side serves.
fn default_direction(obs: &Observed, me: &Identity, vpc: &str, path: &PathSpec) -> Direction {
    let side = obs.peerings.iter().filter(|p| !p.status.is_gone()).find_map(|p| {
        p.local_sides(me)
            .into_iter()
            .find(|s| p.side(*s).vpc == vpc && p.side(s.other()).cidrs.iter().any(|c| holds(c, path.remote)))
    });
    match side {
        Some(Side::Accepter) => Direction::Ingress,
        _ => Direction::Egress,
    }
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    items.collect::<BTreeSet<_>>().into_iter().collect()
}
