//! The plan: a pure function from the configuration and what was observed to
//! the writes that bring this account's side of every managed peering to its
//! desired state, each with its reason, plus findings for what we will not (or
//! may not) change. Unit-tested without AWS.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

use ipnet::IpNet;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::Serialize;
use serde_json::Value;

use super::policy::{self, PolicyChange};
use crate::aws::ec2::VpcDnsAttribute;
use crate::config::{Config, Direction, PeerEntry, TableSelect};
use crate::decision::{match_entry, overlaps};
use crate::model::{
    Identity, KeyState, Peering, PeeringStatus, Route, RouteTable, RouteTarget, SecretState, SecurityGroup, SgRule,
    Side, Vpc,
};

/// The description that marks a security-group rule as ours, for one peering.
pub fn rule_marker(peering: &str) -> String {
    format!("peerlink:{peering}")
}

/// The peering a rule description marks, if it is one of ours.
pub fn marked_peering(description: Option<&str>) -> Option<&str> {
    description?.strip_prefix("peerlink:").filter(|p| p.starts_with("pcx-"))
}

/// Everything the plan needs, as read from AWS.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Observed {
    pub me: Option<Identity>,
    pub peerings: Vec<Peering>,
    /// `true` when `peerings` is every peering this account can see: a marker
    /// naming a peering not among them belongs to one that is gone for good.
    pub complete: bool,
    /// Names of the configuration entries this pass looks after.
    pub scope: BTreeSet<String>,
    pub vpcs: HashMap<String, Vpc>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: HashMap<String, SecurityGroup>,
    /// By configured secret ARN; `None` when the secret does not exist.
    pub secrets: HashMap<String, Option<SecretState>>,
    /// By the key reference a secret names (id, ARN or alias); `None` when missing.
    pub keys: HashMap<String, Option<KeyState>>,
}

/// One write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    CreateRoute {
        route_table: String,
        destination: IpNet,
        peering: String,
    },
    ReplaceRoute {
        route_table: String,
        destination: IpNet,
        peering: String,
        was: String,
    },
    DeleteRoute {
        route_table: String,
        destination: IpNet,
        peering: String,
    },
    AuthorizeRule {
        group: String,
        rule: SgRule,
        description: String,
    },
    RevokeRule {
        group: String,
        rule: SgRule,
    },
    EnablePeeringDns {
        peering: String,
        side: Side,
    },
    EnableVpcAttribute {
        vpc: String,
        attribute: VpcDnsAttribute,
    },
    MergeSecretPolicy {
        secret: String,
        change: PolicyChange,
    },
    MergeKeyPolicy {
        key: String,
        change: PolicyChange,
    },
}

impl Action {
    /// The AWS resource written.
    pub fn resource(&self) -> &str {
        match self {
            Action::CreateRoute { route_table, .. }
            | Action::ReplaceRoute { route_table, .. }
            | Action::DeleteRoute { route_table, .. } => route_table,
            Action::AuthorizeRule { group, .. } | Action::RevokeRule { group, .. } => group,
            Action::EnablePeeringDns { peering, .. } => peering,
            Action::EnableVpcAttribute { vpc, .. } => vpc,
            Action::MergeSecretPolicy { secret, .. } => secret,
            Action::MergeKeyPolicy { key, .. } => key,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateRoute { .. } => "create-route",
            Action::ReplaceRoute { .. } => "replace-route",
            Action::DeleteRoute { .. } => "delete-route",
            Action::AuthorizeRule { .. } => "authorize-rule",
            Action::RevokeRule { .. } => "revoke-rule",
            Action::EnablePeeringDns { .. } => "enable-peering-dns",
            Action::EnableVpcAttribute { .. } => "enable-vpc-attribute",
            Action::MergeSecretPolicy { .. } => "merge-secret-policy",
            Action::MergeKeyPolicy { .. } => "merge-key-policy",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sids = |c: &PolicyChange| {
            let up: Vec<&str> = c.upsert.iter().filter_map(policy::sid_of).collect();
            let mut parts = Vec::new();
            if !up.is_empty() {
                parts.push(format!("put {}", up.join(",")));
            }
            if !c.remove.is_empty() {
                parts.push(format!("remove {}", c.remove.join(",")));
            }
            parts.join("; ")
        };
        match self {
            Action::CreateRoute {
                destination, peering, ..
            } => write!(f, "{destination} -> {peering}"),
            Action::ReplaceRoute {
                destination,
                peering,
                was,
                ..
            } => write!(f, "{destination} -> {peering} (was {was})"),
            Action::DeleteRoute {
                destination, peering, ..
            } => write!(f, "{destination} -> {peering}"),
            Action::AuthorizeRule { rule, .. } | Action::RevokeRule { rule, .. } => write!(f, "{rule}"),
            Action::EnablePeeringDns { side, .. } => write!(f, "{side} AllowDnsResolutionFromRemoteVpc"),
            Action::EnableVpcAttribute { attribute, .. } => write!(f, "{attribute:?}"),
            Action::MergeSecretPolicy { change, .. } | Action::MergeKeyPolicy { change, .. } => {
                f.write_str(&sids(change))
            }
        }
    }
}

/// An action with why it is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub peering: Option<String>,
    #[serde(flatten)]
    pub action: Action,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A route to a peer CIDR points elsewhere; left alone.
    RouteConflict,
    RouteQuota,
    RuleQuota,
    /// The peer VPC has a block outside the allowed ranges (or overlapping ours).
    CidrNotAllowed,
    /// A route to a disallowed block goes through the peering anyway.
    UnexpectedRoute,
    DnsAttributeOff,
    /// The secret uses the AWS-managed key: no cross-account access possible.
    AwsManagedKey,
    KeyMismatch,
    MissingResource,
    /// The peering waits for something (acceptance) before it can be finished.
    NotActive,
    /// A peering matches no entry, or several.
    Unmanaged,
    /// A policy grants to everyone.
    PublicPolicy,
    /// Doctor: a network ACL stops the service port or the return traffic.
    NetworkAclBlocks,
    /// Doctor: a security group references a group across an inter-region peering.
    CrossRegionGroupReference,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub peering: Option<String>,
    pub resource: Option<String>,
    pub message: String,
    /// What to do about it, in plain words.
    pub fix: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub actions: Vec<Planned>,
    pub findings: Vec<Finding>,
}

/// One end of a managed peering, in this account, and the entry for it.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub peering: &'a Peering,
    pub side: Side,
    pub entry: &'a PeerEntry,
}

/// Pairs each observed peering end in this account with its configuration
/// entry. Ends that match no entry are not ours; an end that the allowlist
/// knows but that matches no single entry is reported.
pub fn bindings<'a>(config: &'a Config, obs: &'a Observed) -> (Vec<Binding<'a>>, Vec<Finding>) {
    let Some(me) = &obs.me else {
        return (Vec::new(), Vec::new());
    };
    let mut out = Vec::new();
    let mut findings = Vec::new();
    for p in &obs.peerings {
        for side in p.local_sides(me) {
            let (local, remote) = (p.side(side), p.side(side.other()));
            match match_entry(config, local, remote) {
                Ok(entry) if obs.scope.contains(&entry.name) => out.push(Binding {
                    peering: p,
                    side,
                    entry,
                }),
                Ok(_) => {}
                Err(reason) => {
                    let related = config
                        .peers
                        .iter()
                        .any(|e| e.local_vpc == *local.vpc.as_str() && e.peer_account == *remote.account.as_str());
                    if related
                        && !p.status.is_gone()
                        && obs
                            .scope
                            .iter()
                            .any(|s| config.entry(s).is_some_and(|e| e.local_vpc == *local.vpc.as_str()))
                    {
                        findings.push(Finding {
                            kind: FindingKind::Unmanaged,
                            peering: Some(p.id.clone()),
                            resource: Some(local.vpc.clone()),
                            message: format!("peering {} ({}) is not managed: {reason}", p.id, p.status),
                            fix: "add or correct an entry for it, or delete the peering if it should not exist".into(),
                        });
                    }
                }
            }
        }
    }
    (out, findings)
}

/// A key reference that names the AWS-managed Secrets Manager key.
fn is_aws_managed_alias(key: &str) -> bool {
    key == "alias/aws/secretsmanager" || key.ends_with(":alias/aws/secretsmanager")
}

/// Lookups the plan makes many times, built once per pass so planning stays
/// linear in the size of the account (1,000 peerings x 200 tables is routine).
/// Fx hashing: the keys are ids and blocks we read from AWS ourselves, not
/// attacker-chosen, and SipHash was most of the plan's time.
struct Index<'a> {
    tables_by_vpc: FxHashMap<&'a str, Vec<IndexedTable<'a>>>,
    rules: FxHashMap<&'a str, FxHashSet<&'a SgRule>>,
}

struct IndexedTable<'a> {
    table: &'a RouteTable,
    by_destination: FxHashMap<IpNet, &'a Route>,
}

impl<'a> Index<'a> {
    fn new(obs: &'a Observed) -> Self {
        let mut tables_by_vpc: FxHashMap<&'a str, Vec<IndexedTable<'a>>> = FxHashMap::default();
        for t in &obs.route_tables {
            let mut by_destination = FxHashMap::with_capacity_and_hasher(t.routes.len(), Default::default());
            for r in &t.routes {
                by_destination.entry(r.destination).or_insert(r);
            }
            tables_by_vpc.entry(t.vpc.as_str()).or_default().push(IndexedTable {
                table: t,
                by_destination,
            });
        }
        let rules = obs
            .security_groups
            .values()
            .map(|g| (g.id.as_str(), g.rules.iter().map(|r| &r.rule).collect()))
            .collect();
        Index { tables_by_vpc, rules }
    }

    fn tables(&self, vpc: &str) -> &[IndexedTable<'a>] {
        self.tables_by_vpc.get(vpc).map_or(&[], Vec::as_slice)
    }

    fn has_rule(&self, group: &str, rule: &SgRule) -> bool {
        self.rules.get(group).is_some_and(|r| r.contains(rule))
    }
}

struct Planner<'a> {
    config: &'a Config,
    obs: &'a Observed,
    idx: Index<'a>,
    me: &'a Identity,
    plan: Plan,
    /// Routes planned per table (quota).
    new_routes: FxHashMap<String, usize>,
    /// Rules planned per group and direction (quota).
    new_rules: FxHashMap<(String, Direction), usize>,
    /// Rules each live peering should have, per group: anything else marked
    /// with its marker is stale.
    wanted_rules: BTreeMap<String, BTreeSet<(String, SgRule)>>,
    secret_changes: BTreeMap<String, PolicyChange>,
    key_changes: BTreeMap<String, PolicyChange>,
    vpc_attributes: BTreeSet<(String, VpcDnsAttribute)>,
    cleaned: BTreeSet<String>,
    /// The blocks each live peering may be routed to, per local VPC.
    live_destinations: FxHashMap<(&'a str, &'a str), Vec<IpNet>>,
}

/// Plans one pass. Deterministic: the same input gives the same plan.
pub fn plan(config: &Config, obs: &Observed) -> Plan {
    let Some(me) = &obs.me else {
        return Plan::default();
    };
    let (binds, findings) = bindings(config, obs);
    let mut p = Planner {
        config,
        obs,
        idx: Index::new(obs),
        me,
        plan: Plan {
            actions: Vec::new(),
            findings,
        },
        new_routes: FxHashMap::default(),
        new_rules: FxHashMap::default(),
        wanted_rules: BTreeMap::new(),
        secret_changes: BTreeMap::new(),
        key_changes: BTreeMap::new(),
        vpc_attributes: BTreeSet::new(),
        cleaned: BTreeSet::new(),
        live_destinations: FxHashMap::default(),
    };
    for b in &binds {
        if b.peering.status.is_gone() {
            let vpc = b.peering.side(b.side).vpc.as_str();
            p.cleanup(&b.peering.id, &b.peering.status.to_string(), &[vpc]);
        } else if b.peering.status == PeeringStatus::Active {
            p.finish(b);
        } else {
            finding(
                &mut p.plan,
                FindingKind::NotActive,
                Some(&b.peering.id),
                None,
                format!("peering is {}; it is finished once active", b.peering.status),
                match b.peering.status {
                    PeeringStatus::PendingAcceptance if b.side == Side::Requester => {
                        format!(
                            "account {} accepts it (its peerlink accepter does, if the request matches its allowlist)",
                            b.peering.accepter.account
                        )
                    }
                    PeeringStatus::PendingAcceptance => "the accepter decides on it; see its decision log".into(),
                    _ => "wait; EC2 is still setting it up".into(),
                },
            );
        }
    }
    p.stale_rules(&binds);
    p.unexpected_routes();
    if obs.complete {
        p.vanished();
    }
    p.policies();
    let mut plan = p.plan;
    // Keys computed once per action: formatting them in every comparison was
    // most of the time of a large plan.
    plan.actions.sort_by_cached_key(|a| {
        (
            a.peering.clone(),
            a.action.kind(),
            a.action.resource().to_string(),
            a.action.to_string(),
        )
    });
    plan.findings.sort_by(|a, b| {
        (a.kind, &a.peering, &a.resource, &a.message).cmp(&(b.kind, &b.peering, &b.resource, &b.message))
    });
    plan.findings.dedup();
    plan
}

fn selected(entry: &PeerEntry, table: &RouteTable) -> bool {
    match entry.routes.select {
        TableSelect::All => true,
        TableSelect::None => false,
        TableSelect::Tagged => entry.routes.tags.iter().all(|(k, v)| table.tags.get(k) == Some(v)),
        TableSelect::Ids => entry.routes.ids.iter().any(|id| *id == *table.id.as_str()),
    }
}

fn act(plan: &mut Plan, peering: &str, action: Action, reason: impl Into<String>) {
    plan.actions.push(Planned {
        peering: Some(peering.to_string()),
        action,
        reason: reason.into(),
    });
}

fn finding(
    plan: &mut Plan,
    kind: FindingKind,
    peering: Option<&str>,
    resource: Option<&str>,
    message: String,
    fix: String,
) {
    plan.findings.push(Finding {
        kind,
        peering: peering.map(str::to_string),
        resource: resource.map(str::to_string),
        message,
        fix,
    });
}

impl<'a> Planner<'a> {
    /// The peer blocks we may route to: inside the allowed ranges and clear of
    /// our own VPC. Others are reported and never routed.
    fn destinations(&mut self, b: &Binding<'_>, vpc: &Vpc) -> Vec<IpNet> {
        let remote = b.peering.side(b.side.other());
        let local_has_v6 = vpc.cidrs.iter().any(|c| matches!(c, IpNet::V6(_)));
        let mut out = Vec::new();
        for c in &remote.cidrs {
            if !b.entry.allows(c) {
                finding(
                    &mut self.plan,
                    FindingKind::CidrNotAllowed,
                    Some(&b.peering.id),
                    Some(&remote.vpc),
                    format!(
                        "peer VPC {} has CIDR block {c}, outside the allowed ranges of entry {:?}; nothing is routed to it",
                        remote.vpc, b.entry.name
                    ),
                    "if the block is expected, add it to allowed_cidrs; otherwise ask the peer to remove it".into(),
                );
            } else if let Some(l) = vpc.cidrs.iter().find(|l| overlaps(c, l)) {
                finding(
                    &mut self.plan,
                    FindingKind::CidrNotAllowed,
                    Some(&b.peering.id),
                    Some(&remote.vpc),
                    format!(
                        "peer CIDR block {c} overlaps {l} of the local VPC {}; nothing is routed to it",
                        vpc.id
                    ),
                    "re-address one of the VPCs; overlapping ranges cannot be routed".into(),
                );
            } else if matches!(c, IpNet::V4(_)) || local_has_v6 {
                out.push(*c);
            }
        }
        out
    }

    fn finish(&mut self, b: &Binding<'a>) {
        let local = b.peering.side(b.side);
        let Some(vpc) = self.obs.vpcs.get(&local.vpc) else {
            finding(
                &mut self.plan,
                FindingKind::MissingResource,
                Some(&b.peering.id),
                Some(&local.vpc),
                format!("local VPC {} could not be read", local.vpc),
                format!(
                    "check that entry {:?} names a VPC of this account and region",
                    b.entry.name
                ),
            );
            return;
        };
        let dests = self.destinations(b, vpc);
        self.live_destinations
            .insert((b.peering.id.as_str(), local.vpc.as_str()), dests.clone());
        self.routes(b, vpc, &dests);
        self.rules(b, &dests);
        self.dns(b, vpc);
        self.secrets(b);
    }

    fn routes(&mut self, b: &Binding<'a>, vpc: &Vpc, dests: &[IpNet]) {
        let pcx = &b.peering.id;
        let idx = &self.idx;
        let tables: Vec<&IndexedTable<'a>> = idx
            .tables(&vpc.id)
            .iter()
            .filter(|t| selected(b.entry, t.table))
            .collect();
        if b.entry.routes.select == TableSelect::Ids {
            for id in &b.entry.routes.ids {
                if !tables.iter().any(|t| *id == *t.table.id.as_str()) {
                    finding(
                        &mut self.plan,
                        FindingKind::MissingResource,
                        Some(pcx),
                        Some(id.as_str()),
                        format!("route table {id} is not a table of VPC {}", vpc.id),
                        format!("fix routes.ids of entry {:?}", b.entry.name),
                    );
                }
            }
        }
        let limit = self.config.settings.routes_per_route_table;
        for it in tables {
            let table = it.table;
            let mut creates = Vec::new();
            for dest in dests {
                match it.by_destination.get(dest) {
                    None => creates.push(*dest),
                    Some(r) if matches!(&r.target, RouteTarget::Peering(p) if p == pcx) => {
                        if r.blackhole {
                            act(
                                &mut self.plan,
                                pcx,
                                Action::ReplaceRoute {
                                    route_table: table.id.clone(),
                                    destination: *dest,
                                    peering: pcx.clone(),
                                    was: format!("{pcx} (blackhole)"),
                                },
                                "the route to the peer is a blackhole; re-pointing it at the active peering",
                            );
                        }
                    }
                    Some(r) if b.entry.routes.replace_conflicts && r.target != RouteTarget::Local => act(
                        &mut self.plan,
                        pcx,
                        Action::ReplaceRoute {
                            route_table: table.id.clone(),
                            destination: *dest,
                            peering: pcx.clone(),
                            was: r.target.to_string(),
                        },
                        format!(
                            "{dest} pointed at {} and entry {:?} allows replacing conflicts",
                            r.target, b.entry.name
                        ),
                    ),
                    Some(r) => finding(
                        &mut self.plan,
                        FindingKind::RouteConflict,
                        Some(pcx),
                        Some(&table.id),
                        format!(
                            "route to {dest} in {} points at {}, not {pcx}; left alone",
                            table.id, r.target
                        ),
                        format!(
                            "remove that route, or set routes.replace_conflicts = true in entry {:?} to take it over",
                            b.entry.name
                        ),
                    ),
                }
            }
            if creates.is_empty() {
                continue;
            }
            let planned = self.new_routes.entry(table.id.clone()).or_default();
            let used = table.route_count() + *planned;
            if used + creates.len() > limit {
                finding(
                    &mut self.plan,
                    FindingKind::RouteQuota,
                    Some(pcx),
                    Some(&table.id),
                    format!(
                        "route table {} has {used} of {limit} routes; {} more are needed for {pcx}, so none were added",
                        table.id,
                        creates.len()
                    ),
                    "request a higher routes-per-route-table quota (and raise settings.routes_per_route_table), or summarise routes".into(),
                );
                continue;
            }
            *planned += creates.len();
            for dest in creates {
                let why = if table.main {
                    format!("main table of {} has no route to peer block {dest}", vpc.id)
                } else if table.subnets.is_empty() {
                    format!("table has no route to peer block {dest}")
                } else {
                    format!(
                        "table of subnet(s) {} has no route to peer block {dest}",
                        table.subnets.join(",")
                    )
                };
                act(
                    &mut self.plan,
                    pcx,
                    Action::CreateRoute {
                        route_table: table.id.clone(),
                        destination: dest,
                        peering: pcx.clone(),
                    },
                    why,
                );
            }
        }
    }

    /// Routes through a live peering to blocks it may not be routed to (the
    /// peer's block is no longer allowed, say). Reported, not removed: nothing
    /// proves we made them.
    fn unexpected_routes(&mut self) {
        let obs = self.obs;
        for table in &obs.route_tables {
            for r in &table.routes {
                let RouteTarget::Peering(pcx) = &r.target else { continue };
                let Some(allowed) = self.live_destinations.get(&(pcx.as_str(), table.vpc.as_str())) else {
                    continue;
                };
                if !allowed.contains(&r.destination) && !r.blackhole {
                    finding(
                        &mut self.plan,
                        FindingKind::UnexpectedRoute,
                        Some(pcx),
                        Some(&table.id),
                        format!("route to {} in {} goes through {pcx} but that block is not an allowed peer block", r.destination, table.id),
                        "delete the route unless you added it on purpose (peerlink never removes routes it cannot prove are its own)".into(),
                    );
                }
            }
        }
    }

    fn rules(&mut self, b: &Binding<'_>, dests: &[IpNet]) {
        let pcx = &b.peering.id;
        let marker = rule_marker(pcx);
        let limit = self.config.settings.rules_per_security_group;
        let obs = self.obs;
        for spec in &b.entry.security_group_rules {
            let Some(group) = obs.security_groups.get(spec.group.as_str()) else {
                finding(
                    &mut self.plan,
                    FindingKind::MissingResource,
                    Some(pcx),
                    Some(spec.group.as_str()),
                    format!(
                        "security group {} does not exist in this account and region",
                        spec.group
                    ),
                    format!("fix security_group_rules of entry {:?}", b.entry.name),
                );
                continue;
            };
            let direction = PeerEntry::rule_direction(spec, b.side == Side::Accepter);
            let mut missing = Vec::new();
            for cidr in dests {
                let rule = SgRule {
                    direction,
                    protocol: spec.protocol,
                    ports: spec.ports,
                    cidr: *cidr,
                };
                self.wanted_rules
                    .entry(pcx.clone())
                    .or_default()
                    .insert((group.id.clone(), rule.clone()));
                if !self.idx.has_rule(&group.id, &rule) {
                    missing.push(rule);
                }
            }
            if missing.is_empty() {
                continue;
            }
            let planned = self.new_rules.entry((group.id.clone(), direction)).or_default();
            let used = group.rule_count(direction) + *planned;
            if used + missing.len() > limit {
                finding(
                    &mut self.plan,
                    FindingKind::RuleQuota,
                    Some(pcx),
                    Some(&group.id),
                    format!(
                        "security group {} has {used} of {limit} {direction} rules; {} more are needed for {pcx}, so none were added",
                        group.id,
                        missing.len()
                    ),
                    "request a higher rules-per-security-group quota (and raise settings.rules_per_security_group), or use a prefix list".into(),
                );
                continue;
            }
            *planned += missing.len();
            for rule in missing {
                let reason = format!("entry {:?} wants {rule} for the peer", b.entry.name);
                act(
                    &mut self.plan,
                    pcx,
                    Action::AuthorizeRule {
                        group: group.id.clone(),
                        rule,
                        description: marker.clone(),
                    },
                    reason,
                );
            }
        }
    }

    /// Rules marked for a live peering that its entry no longer wants.
    fn stale_rules(&mut self, binds: &[Binding<'_>]) {
        let live: BTreeSet<&str> = binds
            .iter()
            .filter(|b| b.peering.status == PeeringStatus::Active)
            .map(|b| b.peering.id.as_str())
            .collect();
        let obs = self.obs;
        let mut groups: Vec<&SecurityGroup> = obs.security_groups.values().collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        for group in groups {
            for r in &group.rules {
                let Some(pcx) = marked_peering(r.description.as_deref()) else {
                    continue;
                };
                if !live.contains(pcx) {
                    continue;
                }
                let wanted = self
                    .wanted_rules
                    .get(pcx)
                    .is_some_and(|w| w.contains(&(group.id.clone(), r.rule.clone())));
                if !wanted {
                    let pcx = pcx.to_string();
                    act(
                        &mut self.plan,
                        &pcx,
                        Action::RevokeRule {
                            group: group.id.clone(),
                            rule: r.rule.clone(),
                        },
                        "our rule is no longer wanted by the configuration (or its peer block is no longer allowed)",
                    );
                }
            }
        }
    }

    fn dns(&mut self, b: &Binding<'_>, vpc: &Vpc) {
        if !b.entry.dns.remote_resolution {
            return;
        }
        let pcx = &b.peering.id;
        if !b.peering.side(b.side).allow_remote_dns {
            act(
                &mut self.plan,
                pcx,
                Action::EnablePeeringDns {
                    peering: pcx.clone(),
                    side: b.side,
                },
                format!(
                    "the peer cannot resolve private DNS names of {} until the {} side allows it",
                    vpc.id, b.side
                ),
            );
        }
        for (attribute, value) in [
            (VpcDnsAttribute::EnableDnsSupport, vpc.dns_support),
            (VpcDnsAttribute::EnableDnsHostnames, vpc.dns_hostnames),
        ] {
            if value != Some(false) {
                continue;
            }
            if b.entry.dns.set_vpc_attributes {
                if self.vpc_attributes.insert((vpc.id.clone(), attribute)) {
                    act(
                        &mut self.plan,
                        pcx,
                        Action::EnableVpcAttribute {
                            vpc: vpc.id.clone(),
                            attribute,
                        },
                        format!("{attribute:?} is off and entry {:?} asks to turn it on", b.entry.name),
                    );
                }
            } else {
                finding(
                    &mut self.plan,
                    FindingKind::DnsAttributeOff,
                    Some(pcx),
                    Some(&vpc.id),
                    format!(
                        "VPC {} has {attribute:?} off: names resolve to public addresses across the peering",
                        vpc.id
                    ),
                    format!(
                        "turn it on (aws ec2 modify-vpc-attribute --vpc-id {} --{}), or set dns.set_vpc_attributes = true",
                        vpc.id,
                        match attribute {
                            VpcDnsAttribute::EnableDnsSupport => "enable-dns-support",
                            VpcDnsAttribute::EnableDnsHostnames => "enable-dns-hostnames",
                        }
                    ),
                );
            }
        }
    }

    fn secrets(&mut self, b: &Binding<'_>) {
        let pcx = &b.peering.id;
        let obs = self.obs;
        // Per key: the principals and secrets it must decrypt for.
        let mut per_key: BTreeMap<String, (Vec<crate::config::PrincipalArn>, Vec<&str>)> = BTreeMap::new();
        for spec in &b.entry.secrets {
            let arn = spec.arn.arn.as_str();
            if spec.arn.account != self.me.account || spec.arn.region != self.me.region {
                finding(
                    &mut self.plan,
                    FindingKind::MissingResource,
                    Some(pcx),
                    Some(arn),
                    format!(
                        "secret {arn} is not in this account and region ({}, {})",
                        self.me.account, self.me.region
                    ),
                    "list a secret where its own account's finisher manages it".into(),
                );
                continue;
            }
            let Some(Some(state)) = obs.secrets.get(arn) else {
                finding(
                    &mut self.plan,
                    FindingKind::MissingResource,
                    Some(pcx),
                    Some(arn),
                    format!("secret {arn} does not exist"),
                    format!("create it, or fix secrets of entry {:?}", b.entry.name),
                );
                continue;
            };
            let aws_managed_msg = |key: &str| {
                (
                    format!("secret {arn} is encrypted with the AWS-managed key ({key}); its key policy cannot grant another account, so cross-account access is impossible. Nothing was written."),
                    "re-encrypt the secret with a customer-managed KMS key (aws secretsmanager update-secret --kms-key-id <cmk>)".to_string(),
                )
            };
            let key_ref = match state.kms_key.as_deref() {
                None => {
                    let (m, f) = aws_managed_msg("aws/secretsmanager");
                    finding(&mut self.plan, FindingKind::AwsManagedKey, Some(pcx), Some(arn), m, f);
                    continue;
                }
                Some(k) if is_aws_managed_alias(k) => {
                    let (m, f) = aws_managed_msg(k);
                    finding(&mut self.plan, FindingKind::AwsManagedKey, Some(pcx), Some(arn), m, f);
                    continue;
                }
                Some(k) => k,
            };
            let key = match obs.keys.get(key_ref) {
                Some(Some(k)) => k,
                _ => {
                    finding(
                        &mut self.plan,
                        FindingKind::MissingResource,
                        Some(pcx),
                        Some(key_ref),
                        format!("KMS key {key_ref} of secret {arn} could not be found"),
                        "check the secret's key".into(),
                    );
                    continue;
                }
            };
            if key.aws_managed {
                let (m, f) = aws_managed_msg(&key.arn);
                finding(&mut self.plan, FindingKind::AwsManagedKey, Some(pcx), Some(arn), m, f);
                continue;
            }
            if let Some(expected) = &spec.kms_key {
                if expected.0 != key.arn {
                    finding(
                        &mut self.plan,
                        FindingKind::KeyMismatch,
                        Some(pcx),
                        Some(arn),
                        format!(
                            "secret {arn} uses key {}, not the configured {}; nothing was written",
                            key.arn, expected.0
                        ),
                        "fix kms_key in the entry, or re-encrypt the secret with the expected key".into(),
                    );
                    continue;
                }
            }
            self.secret_changes
                .entry(arn.to_string())
                .or_default()
                .upsert
                .push(policy::read_statement(pcx, &spec.principals));
            let slot = per_key.entry(key.arn.clone()).or_default();
            slot.0.extend(spec.principals.iter().cloned());
            slot.1.push(arn);
        }
        for (key, (who, secrets)) in per_key {
            let st = policy::decrypt_statement(pcx, &who, &self.me.region, &secrets);
            self.key_changes.entry(key).or_default().upsert.push(st);
        }
    }

    /// Removes what we built for a peering that is gone: routes to it in the
    /// local VPC's tables, rules carrying its marker, statements with its Sids.
    /// Routes are only removed from tables of `vpcs` (the VPCs this pass looks after).
    fn cleanup(&mut self, pcx: &str, why: &str, vpcs: &[&str]) {
        if !self.cleaned.insert(pcx.to_string()) {
            return;
        }
        let obs = self.obs;
        let tables: Vec<&RouteTable> = vpcs
            .iter()
            .flat_map(|v| self.idx.tables(v).iter().map(|t| t.table))
            .collect();
        for table in tables {
            for r in table
                .routes
                .iter()
                .filter(|r| matches!(&r.target, RouteTarget::Peering(p) if p == pcx))
            {
                act(
                    &mut self.plan,
                    pcx,
                    Action::DeleteRoute {
                        route_table: table.id.clone(),
                        destination: r.destination,
                        peering: pcx.to_string(),
                    },
                    format!("the peering is {why}; its route is dead"),
                );
            }
        }
        let marker = rule_marker(pcx);
        let mut groups: Vec<&SecurityGroup> = obs.security_groups.values().collect();
        groups.sort_by(|a, b| a.id.cmp(&b.id));
        for group in groups {
            for r in group
                .rules
                .iter()
                .filter(|r| r.description.as_deref() == Some(marker.as_str()))
            {
                act(
                    &mut self.plan,
                    pcx,
                    Action::RevokeRule {
                        group: group.id.clone(),
                        rule: r.rule.clone(),
                    },
                    format!("the peering is {why}; removing the rule peerlink made for it"),
                );
            }
        }
        let (read, decrypt) = (policy::read_sid(pcx), policy::decrypt_sid(pcx));
        for (arn, state) in &obs.secrets {
            if let Some(s) = state {
                if policy::owned_sids(s.policy.as_ref()).contains(&read) {
                    self.secret_changes
                        .entry(arn.clone())
                        .or_default()
                        .remove
                        .push(read.clone());
                }
            }
        }
        for key in obs.keys.values().flatten() {
            if policy::owned_sids(key.policy.as_ref()).contains(&decrypt) {
                self.key_changes
                    .entry(key.arn.clone())
                    .or_default()
                    .remove
                    .push(decrypt.clone());
            }
        }
    }

    /// Markers for peerings EC2 no longer lists at all: they are long gone.
    fn vanished(&mut self) {
        let known: BTreeSet<&str> = self.obs.peerings.iter().map(|p| p.id.as_str()).collect();
        let mut marked: BTreeSet<String> = BTreeSet::new();
        for g in self.obs.security_groups.values() {
            marked.extend(
                g.rules
                    .iter()
                    .filter_map(|r| marked_peering(r.description.as_deref()).map(str::to_string)),
            );
        }
        for s in self.obs.secrets.values().flatten() {
            marked.extend(
                policy::owned_sids(s.policy.as_ref())
                    .iter()
                    .filter_map(|sid| policy::peering_of_sid(sid)),
            );
        }
        for k in self.obs.keys.values().flatten() {
            marked.extend(
                policy::owned_sids(k.policy.as_ref())
                    .iter()
                    .filter_map(|sid| policy::peering_of_sid(sid)),
            );
        }
        let obs = self.obs;
        let scope_vpcs: Vec<&str> = obs
            .scope
            .iter()
            .filter_map(|n| self.config.entry(n))
            .map(|e| e.local_vpc.as_str())
            .collect();
        for pcx in marked.into_iter().filter(|p| !known.contains(p.as_str())) {
            self.cleanup(&pcx, "gone (EC2 no longer lists it)", &scope_vpcs);
        }
    }

    /// One merge per secret and per key, only where the policy differs.
    fn policies(&mut self) {
        let obs = self.obs;
        let secret_changes = std::mem::take(&mut self.secret_changes);
        for (arn, change) in secret_changes {
            let current = obs
                .secrets
                .get(&arn)
                .and_then(|s| s.as_ref())
                .and_then(|s| s.policy.as_ref());
            self.public(current, &arn);
            if let Some(needed) = needed(current, change) {
                let peering = peering_of_change(&needed);
                self.plan.actions.push(Planned {
                    peering,
                    reason: describe_change("secret's resource policy", &needed),
                    action: Action::MergeSecretPolicy {
                        secret: arn,
                        change: needed,
                    },
                });
            }
        }
        let key_changes = std::mem::take(&mut self.key_changes);
        for (arn, change) in key_changes {
            let current = obs
                .keys
                .values()
                .flatten()
                .find(|k| k.arn == arn)
                .and_then(|k| k.policy.as_ref());
            if let Some(needed) = needed(current, change) {
                let peering = peering_of_change(&needed);
                self.plan.actions.push(Planned {
                    peering,
                    reason: describe_change("key policy", &needed),
                    action: Action::MergeKeyPolicy {
                        key: arn,
                        change: needed,
                    },
                });
            }
        }
    }

    fn public(&mut self, policy: Option<&Value>, arn: &str) {
        let Some(Value::Array(statements)) = policy.and_then(|p| p.get("Statement")) else {
            return;
        };
        if statements
            .iter()
            .any(|s| policy::grants_to_everyone(s) && s.get("Effect").and_then(Value::as_str) == Some("Allow"))
        {
            finding(
                &mut self.plan,
                FindingKind::PublicPolicy,
                None,
                Some(arn),
                format!(
                    "the resource policy of {arn} allows access to everyone (Principal \"*\"); peerlink never writes such a statement"
                ),
                "remove that statement, or restrict it with conditions".into(),
            );
        }
    }
}

/// The part of `change` the current policy does not yet reflect; `None` if none.
fn needed(current: Option<&Value>, change: PolicyChange) -> Option<PolicyChange> {
    let upsert: Vec<Value> = change
        .upsert
        .into_iter()
        .filter(|u| {
            !policy::satisfies(
                current,
                &PolicyChange {
                    upsert: vec![u.clone()],
                    remove: vec![],
                },
            )
        })
        .collect();
    let present = policy::owned_sids(current);
    let mut remove: Vec<String> = change.remove.into_iter().filter(|r| present.contains(r)).collect();
    remove.sort();
    remove.dedup();
    let out = PolicyChange { upsert, remove };
    (!out.is_empty()).then_some(out)
}

fn peering_of_change(change: &PolicyChange) -> Option<String> {
    let mut ids: BTreeSet<String> = change
        .upsert
        .iter()
        .filter_map(|u| policy::sid_of(u).and_then(policy::peering_of_sid))
        .collect();
    ids.extend(change.remove.iter().filter_map(|r| policy::peering_of_sid(r)));
    (ids.len() == 1).then(|| ids.into_iter().next().expect("one id"))
}

fn describe_change(what: &str, change: &PolicyChange) -> String {
    let mut parts = Vec::new();
    if !change.upsert.is_empty() {
        parts.push(format!("{} statement(s) missing or altered", change.upsert.len()));
    }
    if !change.remove.is_empty() {
        parts.push(format!(
            "{} statement(s) of a gone peering to remove",
            change.remove.len()
        ));
    }
    format!("{what}: {}; every other statement is kept", parts.join(", "))
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
