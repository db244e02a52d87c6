//! The configuration document: which peers this account works with, what may be
//! auto-accepted, and what a finished peering looks like on this account's side.
//!
//! Everything is validated while parsing: unknown keys, malformed ids, bad CIDRs
//! and inconsistent entries are errors naming the field (and, from TOML, the
//! line). A configuration that fails to load stops the function before any
//! decision is taken, so a broken config can never lead to an accept.

mod arn;
mod source;
mod values;

use std::collections::{BTreeMap, BTreeSet};

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, Region, RouteTableId, SecurityGroupId, VpcId};

pub use arn::{KmsKeyArn, PrincipalArn, SecretArn};
pub use source::{ConfigError, ConfigSource};
pub use values::{Cidr, Direction, PortRange, Protocol};

/// The whole document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub settings: GlobalSettings,
    /// One `[[peer]]` table per peer VPC (or peer account) this account works with.
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerEntry>,
}

/// The `[settings]` table: what applies to every entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalSettings {
    /// What to do with a pending request that is not accepted (matches no entry,
    /// or fails a check): `reject` it, or `ignore` it and leave it pending.
    #[serde(default)]
    pub unmatched_requests: UnmatchedRequests,
    /// `report` writes nothing on the drift schedule; `remediate` repairs.
    #[serde(default)]
    pub drift_mode: DriftMode,
    /// How many AWS writes run at once. The writes of one peering (a route
    /// per table, a rule per group, DNS, two policies) fit in one round at
    /// the default; a first pass over hundreds of peerings is paced by EC2's
    /// throttling, which the SDK backs off from.
    #[serde(default = "default_write_concurrency")]
    pub write_concurrency: usize,
    /// Route-table quota (AWS default 50; raise it if your account's quota is higher).
    #[serde(default = "default_routes_per_table")]
    pub routes_per_route_table: usize,
    /// Security-group quota per direction (AWS default 60).
    #[serde(default = "default_rules_per_group")]
    pub rules_per_security_group: usize,
    /// Active peerings per VPC (AWS default 50, maximum 125).
    #[serde(default = "default_peerings_per_vpc")]
    pub active_peerings_per_vpc: usize,
    /// After a request of ours was rejected, expired or failed, how long
    /// before an entry with `request = true` asks again (no request storm).
    #[serde(default = "default_request_retry_hours")]
    pub request_retry_hours: u64,
}

fn default_write_concurrency() -> usize {
    16
}
fn default_request_retry_hours() -> u64 {
    24
}
fn default_routes_per_table() -> usize {
    50
}
fn default_rules_per_group() -> usize {
    60
}
fn default_peerings_per_vpc() -> usize {
    50
}

impl Default for GlobalSettings {
    fn default() -> Self {
        GlobalSettings {
            unmatched_requests: UnmatchedRequests::default(),
            drift_mode: DriftMode::default(),
            write_concurrency: default_write_concurrency(),
            routes_per_route_table: default_routes_per_table(),
            rules_per_security_group: default_rules_per_group(),
            active_peerings_per_vpc: default_peerings_per_vpc(),
            request_retry_hours: default_request_retry_hours(),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnmatchedRequests {
    #[default]
    Reject,
    Ignore,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    #[default]
    Report,
    Remediate,
}

/// One peer this account works with, seen from this account.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerEntry {
    /// A short name used in logs and reports.
    pub name: String,
    /// The other account.
    pub peer_account: AccountId,
    /// The other VPC; any VPC of `peer_account` when absent.
    #[serde(default)]
    pub peer_vpc: Option<VpcId>,
    /// The other VPC's region; the local VPC's region when absent.
    #[serde(default)]
    pub peer_region: Option<Region>,
    /// Every CIDR block of the peer VPC must lie inside these ranges.
    pub allowed_cidrs: Vec<Cidr>,
    /// This account's VPC on the peering.
    pub local_vpc: VpcId,
    /// Whether a request matching this entry may be accepted without a human.
    #[serde(default)]
    pub auto_accept: bool,
    /// This side asks: peerlink creates the request to `peer_vpc` (which,
    /// with `peer_region`, is then required) whenever no live peering
    /// between the two VPCs exists. The other side's allowlist decides.
    #[serde(default)]
    pub request: bool,
    #[serde(default)]
    pub routes: RouteSpec,
    #[serde(default)]
    pub security_group_rules: Vec<RuleSpec>,
    #[serde(default)]
    pub dns: DnsSpec,
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
}

/// Which route tables of the local VPC get routes to the peer.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    #[serde(default)]
    pub select: TableSelect,
    /// With `select = "tagged"`: every tag listed must be present with that value.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// With `select = "ids"`: the route tables.
    #[serde(default)]
    pub ids: Vec<RouteTableId>,
    /// Replace a route to the same destination that points elsewhere. Off by
    /// default: such a route is reported as a conflict and left alone.
    #[serde(default)]
    pub replace_conflicts: bool,
}

impl Default for RouteSpec {
    fn default() -> Self {
        RouteSpec {
            select: TableSelect::All,
            tags: BTreeMap::new(),
            ids: Vec::new(),
            replace_conflicts: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TableSelect {
    /// Every route table of the local VPC: the main table and every table
    /// associated with a subnet (the one people forget).
    #[default]
    All,
    Tagged,
    Ids,
    /// Do not manage routes.
    None,
}

/// A security-group rule to keep in place for the peer's CIDR blocks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub group: SecurityGroupId,
    /// `ingress` or `egress`; by default ingress on the accepter side and egress
    /// on the requester side.
    #[serde(default)]
    pub direction: Option<Direction>,
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// A port (`5432`) or range (`"1024-65535"`); absent for `all` and `icmp`.
    #[serde(default)]
    pub ports: Option<PortRange>,
}

fn default_protocol() -> Protocol {
    Protocol::Tcp
}

/// DNS settings for this side of the peering.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSpec {
    /// Turn on `AllowDnsResolutionFromRemoteVpc` on this account's side once active.
    #[serde(default = "yes")]
    pub remote_resolution: bool,
    /// Turn on `enableDnsSupport`/`enableDnsHostnames` on the local VPC when off
    /// (otherwise they are only reported).
    #[serde(default)]
    pub set_vpc_attributes: bool,
}

fn yes() -> bool {
    true
}

impl Default for DnsSpec {
    fn default() -> Self {
        DnsSpec {
            remote_resolution: true,
            set_vpc_attributes: false,
        }
    }
}

/// A secret in this account that principals of the peer account may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    pub arn: SecretArn,
    /// IAM principals of the peer account (role or user ARNs, or the account root).
    pub principals: Vec<PrincipalArn>,
    /// The customer-managed KMS key the secret is expected to use. When given,
    /// a secret found with another key is reported and not touched.
    #[serde(default)]
    pub kms_key: Option<KmsKeyArn>,
}

impl Config {
    /// Parses and validates a TOML document. `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate(&entry_lines(text)).map_err(|message| ConfigError {
            origin: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    /// Checks that need more than one field at a time. `lines` are the
    /// lines of the `[[peer]]` tables, for errors that name two entries.
    fn validate(&self, lines: &[usize]) -> Result<(), String> {
        let s = &self.settings;
        if !(1..=720).contains(&s.request_retry_hours) {
            return Err(format!(
                "settings.request_retry_hours = {} is out of range (1 to 720)",
                s.request_retry_hours
            ));
        }
        if !(1..=64).contains(&s.write_concurrency) {
            return Err(format!(
                "settings.write_concurrency = {} is out of range (1 to 64)",
                s.write_concurrency
            ));
        }
        for (field, value, max) in [
            ("routes_per_route_table", s.routes_per_route_table, 1000),
            ("rules_per_security_group", s.rules_per_security_group, 1000),
            ("active_peerings_per_vpc", s.active_peerings_per_vpc, 125),
        ] {
            if value == 0 || value > max {
                return Err(format!("settings.{field} = {value} is out of range (1 to {max})"));
            }
        }
        let mut names = BTreeSet::new();
        for (i, peer) in self.peers.iter().enumerate() {
            let at = format!("peer[{i}] (name {:?})", peer.name);
            peer.validate().map_err(|e| format!("{at}: {e}"))?;
            if !names.insert(peer.name.as_str()) {
                return Err(format!("{at}: name is used by another entry; names must be unique"));
            }
        }
        let line = |i: usize| lines.get(i).map(|l| format!(" (line {l})")).unwrap_or_default();
        if let Some((i, j)) = self.equally_specific_pairs().into_iter().next() {
            let (a, b) = (&self.peers[i], &self.peers[j]);
            return Err(format!(
                "entries {:?}{} and {:?}{} can match the same request and neither is more specific (same peer_account, local_vpc, peer_vpc and peer_region); merge them, or name a peer_vpc or peer_region in one",
                a.name,
                line(i),
                b.name,
                line(j)
            ));
        }
        Ok(())
    }

    /// Every local VPC the entries name, sorted, once each.
    pub fn local_vpcs(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.peers.iter().map(|e| e.local_vpc.to_string()).collect();
        set.into_iter().collect()
    }

    pub fn entry(&self, name: &str) -> Option<&PeerEntry> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// Pairs of entries that can match the same request with the same
    /// specificity: then neither is more specific, and which applies would
    /// be a guess. (An entry naming `peer_vpc` beats one that does not; an
    /// explicit `peer_region` beats the default.)
    pub fn equally_specific_pairs(&self) -> Vec<(usize, usize)> {
        let mut pairs = Vec::new();
        for (i, a) in self.peers.iter().enumerate() {
            for (j, b) in self.peers.iter().enumerate().skip(i + 1) {
                let same = a.peer_account == b.peer_account
                    && a.local_vpc == b.local_vpc
                    && a.peer_vpc == b.peer_vpc
                    && a.peer_region == b.peer_region;
                if same {
                    pairs.push((i, j));
                }
            }
        }
        pairs
    }
}

/// The line of each `[[peer]]` table (1-based), in order; empty when the
/// text does not parse (its error says where).
fn entry_lines(text: &str) -> Vec<usize> {
    #[derive(Deserialize)]
    struct Lines {
        #[serde(default)]
        peer: Vec<toml::Spanned<toml::Table>>,
    }
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    toml::from_str::<Lines>(text)
        .map(|l| l.peer.iter().map(|p| line_of(p.span().start)).collect())
        .unwrap_or_default()
}

impl PeerEntry {
    fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !name_ok {
            return Err("name must be 1 to 64 letters, digits, '-', '_' or '.'".into());
        }
        if self.allowed_cidrs.is_empty() {
            return Err("allowed_cidrs is empty: list the ranges the peer VPC's CIDR blocks must lie in".into());
        }
        if self.request {
            if self.peer_vpc.is_none() || self.peer_region.is_none() {
                return Err("request = true needs peer_vpc and peer_region: the request names both".into());
            }
            if self.auto_accept {
                return Err("auto_accept has no meaning with request = true: this side asks, the peer's allowlist accepts".into());
            }
        }
        match self.routes.select {
            TableSelect::Tagged if self.routes.tags.is_empty() => {
                return Err("routes.select = \"tagged\" needs routes.tags".into());
            }
            TableSelect::Ids if self.routes.ids.is_empty() => {
                return Err("routes.select = \"ids\" needs routes.ids".into());
            }
            TableSelect::All | TableSelect::None if !self.routes.tags.is_empty() || !self.routes.ids.is_empty() => {
                return Err("routes.tags and routes.ids only apply with select = \"tagged\" or \"ids\"".into());
            }
            _ => {}
        }
        for (i, rule) in self.security_group_rules.iter().enumerate() {
            let at = format!("security_group_rules[{i}]");
            match (rule.protocol, rule.ports) {
                (Protocol::Tcp | Protocol::Udp, None) => {
                    return Err(format!("{at}: protocol {:?} needs ports", rule.protocol.ec2_name()));
                }
                (Protocol::All | Protocol::Icmp, Some(_)) => {
                    return Err(format!(
                        "{at}: ports do not apply to protocol {:?}",
                        rule.protocol.ec2_name()
                    ));
                }
                _ => {}
            }
        }
        for (i, secret) in self.secrets.iter().enumerate() {
            let at = format!("secrets[{i}]");
            if secret.principals.is_empty() {
                return Err(format!("{at}.principals is empty"));
            }
            for p in &secret.principals {
                if p.account != self.peer_account.as_str() {
                    return Err(format!(
                        "{at}.principals: {:?} is not in peer_account {}; access is only granted to the peer account",
                        p.arn, self.peer_account
                    ));
                }
            }
            if let Some(key) = &secret.kms_key {
                let key_region = key.0.split(':').nth(3).unwrap_or_default();
                if key_region != secret.arn.region {
                    return Err(format!(
                        "{at}.kms_key is in region {key_region:?} but the secret is in {:?}",
                        secret.arn.region
                    ));
                }
            }
        }
        Ok(())
    }

    /// The peer region this entry expects, given the local VPC's region.
    pub fn expected_peer_region<'a>(&'a self, local_region: &'a str) -> &'a str {
        self.peer_region.as_ref().map_or(local_region, |r| r.as_str())
    }

    /// Whether `cidr` lies inside one of the allowed ranges.
    pub fn allows(&self, cidr: &IpNet) -> bool {
        self.allowed_cidrs.iter().any(|range| range.0.contains(cidr))
    }

    /// The direction of a rule on the given side of the peering.
    pub fn rule_direction(rule: &RuleSpec, local_is_accepter: bool) -> Direction {
        rule.direction.unwrap_or(if local_is_accepter {
            Direction::Ingress
        } else {
            Direction::Egress
        })
    }
}

#[cfg(test)]
mod tests;
