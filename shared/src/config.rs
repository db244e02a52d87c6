//! The configuration document: which peers this account works with, what may be
//! auto-accepted, and what a finished peering looks like on this account's side.
//!
//! Everything is validated while parsing: unknown keys, malformed ids, bad CIDRs
//! and inconsistent entries are errors naming the field (and, from TOML, the
//! line). A configuration that fails to load stops the function before any
//! decision is taken, so a broken config can never lead to an accept.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Deserializer, Serialize};

use crate::ids::{AccountId, Region, RouteTableId, SecurityGroupId, VpcId};

/// Environment variable holding the whole TOML document inline.
pub const ENV_INLINE: &str = "PEERLINK_CONFIG";
/// Environment variable holding a path to the TOML document.
pub const ENV_FILE: &str = "PEERLINK_CONFIG_FILE";
/// Environment variable holding the name of an SSM parameter with the TOML document.
pub const ENV_SSM: &str = "PEERLINK_CONFIG_SSM_PARAMETER";

/// A configuration that could not be loaded. `origin` says where it came from
/// (file path, environment variable, SSM parameter) so the message is actionable.
#[derive(Debug, thiserror::Error)]
#[error("configuration from {origin} is invalid: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

/// Where the configuration text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    Inline(String),
    File(PathBuf),
    SsmParameter(String),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Inline(_) => write!(f, "${ENV_INLINE}"),
            ConfigSource::File(path) => write!(f, "file {}", path.display()),
            ConfigSource::SsmParameter(name) => write!(f, "SSM parameter {name}"),
        }
    }
}

impl ConfigSource {
    /// Reads which source to use from the environment. Exactly one of the three
    /// variables must be set: two set at once is ambiguous and refused.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let found: Vec<ConfigSource> = [
            get(ENV_INLINE).map(ConfigSource::Inline),
            get(ENV_FILE).map(|p| ConfigSource::File(PathBuf::from(p))),
            get(ENV_SSM).map(ConfigSource::SsmParameter),
        ]
        .into_iter()
        .flatten()
        .collect();
        let origin = "the environment".to_string();
        match found.len() {
            1 => Ok(found.into_iter().next().expect("one element")),
            0 => Err(ConfigError {
                origin,
                message: format!("none of {ENV_INLINE}, {ENV_FILE} or {ENV_SSM} is set"),
            }),
            _ => Err(ConfigError {
                origin,
                message: format!("more than one of {ENV_INLINE}, {ENV_FILE}, {ENV_SSM} is set; set exactly one"),
            }),
        }
    }

    /// Reads a local source (inline or file). SSM parameters are read by the AWS layer.
    pub fn read_local(&self) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::Inline(text) => Config::parse(text, &self.to_string()),
            ConfigSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    origin: self.to_string(),
                    message: format!("cannot read it: {e}"),
                })?;
                Config::parse(&text, &self.to_string())
            }
            ConfigSource::SsmParameter(_) => Err(ConfigError {
                origin: self.to_string(),
                message: "an SSM parameter needs AWS access; load it through peerlink::aws".into(),
            }),
        }
    }
}

/// The whole document.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub settings: Settings,
    /// One `[[peer]]` table per peer VPC (or peer account) this account works with.
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerEntry>,
}

/// Global settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// What to do with a pending request that is not accepted (matches no entry,
    /// or fails a check): `reject` it, or `ignore` it and leave it pending.
    #[serde(default)]
    pub unmatched_requests: UnmatchedRequests,
    /// `report` writes nothing on the drift schedule; `remediate` repairs.
    #[serde(default)]
    pub drift_mode: DriftMode,
    /// How many AWS writes run at once.
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
}

fn default_write_concurrency() -> usize {
    4
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

impl Default for Settings {
    fn default() -> Self {
        Settings {
            unmatched_requests: UnmatchedRequests::default(),
            drift_mode: DriftMode::default(),
            write_concurrency: default_write_concurrency(),
            routes_per_route_table: default_routes_per_table(),
            rules_per_security_group: default_rules_per_group(),
            active_peerings_per_vpc: default_peerings_per_vpc(),
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
    #[serde(default)]
    pub routes: RouteSpec,
    #[serde(default)]
    pub security_group_rules: Vec<RuleSpec>,
    #[serde(default)]
    pub dns: DnsSpec,
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
}

/// A CIDR block written as its network address (`10.1.0.0/16`, `2600:1f18::/56`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr(pub IpNet);

impl TryFrom<String> for Cidr {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let net = IpNet::from_str(&value).map_err(|_| {
            format!("invalid CIDR {value:?}: expected an address and prefix length such as \"10.1.0.0/16\"")
        })?;
        if net.trunc() != net {
            return Err(format!(
                "CIDR {value:?} has host bits set; did you mean \"{}\"?",
                net.trunc()
            ));
        }
        Ok(Cidr(net))
    }
}

impl From<Cidr> for String {
    fn from(c: Cidr) -> String {
        c.0.to_string()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Ingress,
    Egress,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Icmp,
    All,
}

impl Protocol {
    /// The value EC2 uses in `IpProtocol`.
    pub fn ec2_name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
            Protocol::All => "-1",
        }
    }

    pub fn from_ec2(name: &str) -> Option<Self> {
        match name {
            "tcp" | "6" => Some(Protocol::Tcp),
            "udp" | "17" => Some(Protocol::Udp),
            "icmp" | "1" => Some(Protocol::Icmp),
            "-1" | "all" => Some(Protocol::All),
            _ => None,
        }
    }
}

/// An inclusive port range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct PortRange {
    pub from: u16,
    pub to: u16,
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.from == self.to {
            write!(f, "{}", self.from)
        } else {
            write!(f, "{}-{}", self.from, self.to)
        }
    }
}

impl FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid port range {s:?}: expected a port such as 5432 or a range such as \"1024-65535\"");
        let (from, to) = match s.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (s.trim(), s.trim()),
        };
        let from: u16 = from.parse().map_err(|_| bad())?;
        let to: u16 = to.parse().map_err(|_| bad())?;
        if from == 0 || from > to {
            return Err(bad());
        }
        Ok(PortRange { from, to })
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(i64),
            Text(String),
        }
        let text = match Raw::deserialize(deserializer)? {
            Raw::Number(n) => n.to_string(),
            Raw::Text(t) => t,
        };
        text.parse().map_err(serde::de::Error::custom)
    }
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

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretArn {
    pub arn: String,
    pub region: String,
    pub account: String,
}

impl TryFrom<String> for SecretArn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let parts = Arn::parse(&value)
            .filter(|a| a.service == "secretsmanager" && a.resource.starts_with("secret:") && a.resource.len() > 7)
            .ok_or_else(|| {
                format!(
                    "invalid secret ARN {value:?}: expected arn:aws:secretsmanager:<region>:<account>:secret:<name>"
                )
            })?;
        Ok(SecretArn {
            region: parts.region.to_string(),
            account: parts.account.to_string(),
            arn: value,
        })
    }
}

impl From<SecretArn> for String {
    fn from(a: SecretArn) -> String {
        a.arn
    }
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KmsKeyArn(pub String);

impl TryFrom<String> for KmsKeyArn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Arn::parse(&value)
            .filter(|a| a.service == "kms" && a.resource.starts_with("key/") && a.resource.len() > 4)
            .map(|_| KmsKeyArn(value.clone()))
            .ok_or_else(|| format!("invalid KMS key ARN {value:?}: expected arn:aws:kms:<region>:<account>:key/<key-id> (aliases cannot carry a key policy)"))
    }
}

impl From<KmsKeyArn> for String {
    fn from(a: KmsKeyArn) -> String {
        a.0
    }
}

/// An IAM principal ARN: `arn:<partition>:iam::<account>:(root|role/…|user/…)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalArn {
    pub arn: String,
    pub account: String,
}

impl TryFrom<String> for PrincipalArn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let err = || {
            format!(
                "invalid principal {value:?}: expected an IAM ARN such as arn:aws:iam::111111111111:role/app (wildcards are never allowed)"
            )
        };
        if value.contains('*') || value.contains('?') {
            return Err(err());
        }
        let arn = Arn::parse(&value).ok_or_else(err)?;
        let resource_ok = arn.resource == "root"
            || arn.resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
            || arn.resource.strip_prefix("user/").is_some_and(|r| !r.is_empty());
        if arn.service != "iam" || !arn.region.is_empty() || !resource_ok {
            return Err(err());
        }
        Ok(PrincipalArn {
            account: arn.account.to_string(),
            arn: value,
        })
    }
}

impl From<PrincipalArn> for String {
    fn from(a: PrincipalArn) -> String {
        a.arn
    }
}

/// The pieces of an ARN, borrowed.
struct Arn<'a> {
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

impl<'a> Arn<'a> {
    fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        let (arn, partition) = (parts.next()?, parts.next()?);
        let (service, region, account, resource) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let partition_ok = matches!(partition, "aws" | "aws-cn" | "aws-us-gov");
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let text_ok = text.bytes().all(|b| b.is_ascii_graphic());
        (arn == "arn" && partition_ok && account_ok && text_ok).then_some(Arn {
            service,
            region,
            account,
            resource,
        })
    }
}

impl Config {
    /// Parses and validates a TOML document. `origin` names the source in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError {
            origin: origin.to_string(),
            message: e.to_string().trim_end().to_string(),
        })?;
        config.validate().map_err(|message| ConfigError {
            origin: origin.to_string(),
            message,
        })?;
        Ok(config)
    }

    /// Checks that need more than one field at a time.
    fn validate(&self) -> Result<(), String> {
        let s = &self.settings;
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
        Ok(())
    }

    pub fn entry(&self, name: &str) -> Option<&PeerEntry> {
        self.peers.iter().find(|p| p.name == name)
    }

    /// Pairs of entries that can match the same peering (same peer account and
    /// local VPC, overlapping VPC and region). Such a peering is never accepted
    /// or finished: the ambiguity is reported instead. `check-config` warns.
    pub fn ambiguous_pairs(&self) -> Vec<(&str, &str)> {
        let mut pairs = Vec::new();
        for (i, a) in self.peers.iter().enumerate() {
            for b in &self.peers[i + 1..] {
                let vpc_overlap = match (&a.peer_vpc, &b.peer_vpc) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                };
                let region_overlap = match (&a.peer_region, &b.peer_region) {
                    (Some(x), Some(y)) => x == y,
                    _ => true,
                };
                if a.peer_account == b.peer_account && a.local_vpc == b.local_vpc && vpc_overlap && region_overlap {
                    pairs.push((a.name.as_str(), b.name.as_str()));
                }
            }
        }
        pairs
    }
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
mod tests {
    use super::*;

    const GOOD: &str = r#"
[settings]
unmatched_requests = "ignore"

[[peer]]
name = "orders"
peer_account = "111111111111"
peer_vpc = "vpc-0aaa1111aaaa1111a"
peer_region = "eu-west-1"
allowed_cidrs = ["10.0.0.0/16", "2600:1f18::/40"]
local_vpc = "vpc-0bbb2222bbbb2222b"
auto_accept = true

[peer.routes]
select = "tagged"
tags = { tier = "private" }

[[peer.security_group_rules]]
group = "sg-0bbb2222bbbb2222b"
ports = 5432

[[peer.security_group_rules]]
group = "sg-0bbb2222bbbb2222c"
direction = "egress"
protocol = "udp"
ports = "1024-65535"

[[peer.secrets]]
arn = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf"
principals = ["arn:aws:iam::111111111111:role/orders-task"]
kms_key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
"#;

    #[test]
    fn parses_a_full_document() {
        let c = Config::parse(GOOD, "test").unwrap();
        assert_eq!(c.settings.unmatched_requests, UnmatchedRequests::Ignore);
        assert_eq!(c.settings.drift_mode, DriftMode::Report);
        let p = &c.peers[0];
        assert_eq!(p.peer_account.as_str(), "111111111111");
        assert_eq!(p.routes.select, TableSelect::Tagged);
        assert_eq!(
            p.security_group_rules[0].ports,
            Some(PortRange { from: 5432, to: 5432 })
        );
        assert_eq!(p.security_group_rules[0].protocol, Protocol::Tcp);
        assert_eq!(
            p.security_group_rules[1].ports,
            Some(PortRange { from: 1024, to: 65535 })
        );
        assert!(p.dns.remote_resolution);
        assert_eq!(p.secrets[0].arn.account, "222222222222");
    }

    fn err_of(doc: &str) -> String {
        Config::parse(doc, "test").unwrap_err().to_string()
    }

    fn with(find: &str, replace: &str) -> String {
        assert!(GOOD.contains(find), "{find}");
        GOOD.replacen(find, replace, 1)
    }

    #[test]
    fn errors_name_the_field() {
        let cases = [
            (
                with("auto_accept = true", "auto_accept = true\nauto_acept = true"),
                "auto_acept",
            ),
            (with("\"111111111111\"", "\"11111111111\""), "account id"),
            (with("\"vpc-0aaa1111aaaa1111a\"", "\"vpc-XYZ\""), "VPC id"),
            (with("\"10.0.0.0/16\"", "\"10.0.0.0/33\""), "invalid CIDR"),
            (with("\"10.0.0.0/16\"", "\"10.0.0.1/16\""), "host bits"),
            (
                with("unmatched_requests = \"ignore\"", "unmatched_requests = \"maybe\""),
                "unmatched_requests",
            ),
            (with("ports = 5432", "ports = 0"), "invalid port range"),
            (with("ports = 5432", "ports = \"9-1\""), "invalid port range"),
            (with("ports = 5432\n", ""), "needs ports"),
            (with("role/orders-task", "role/*"), "wildcards"),
            (
                with("arn:aws:iam::111111111111:role", "arn:aws:iam::999999999999:role"),
                "not in peer_account",
            ),
            (
                with(
                    "select = \"tagged\"\ntags = { tier = \"private\" }",
                    "select = \"tagged\"",
                ),
                "needs routes.tags",
            ),
            (with("secret:db-AbCdEf", "parameter:db"), "invalid secret ARN"),
            (
                with("[settings]", "[settings]\nwrite_concurrency = 0"),
                "write_concurrency",
            ),
            (
                with(
                    "allowed_cidrs = [\"10.0.0.0/16\", \"2600:1f18::/40\"]",
                    "allowed_cidrs = []",
                ),
                "allowed_cidrs is empty",
            ),
            (with("peer_account", "peer_acount"), "peer_acount"),
            (
                with("eu-west-1:222222222222:key", "us-east-1:222222222222:key"),
                "kms_key",
            ),
        ];
        for (doc, expected) in cases {
            let err = err_of(&doc);
            assert!(err.contains(expected), "expected {expected:?} in: {err}");
        }
    }

    #[test]
    fn toml_errors_carry_the_line() {
        let err = err_of(&with("auto_accept = true", "auto_accept = \"yes\""));
        assert!(err.contains("line 12") && err.contains("auto_accept"), "{err}");
    }

    #[test]
    fn duplicate_names_and_ambiguous_entries() {
        let doc = format!(
            "{GOOD}\n[[peer]]\nname = \"orders\"\npeer_account = \"111111111111\"\nallowed_cidrs = [\"10.0.0.0/16\"]\nlocal_vpc = \"vpc-0bbb2222bbbb2222b\"\n"
        );
        assert!(err_of(&doc).contains("unique"));
        let doc = doc.replace(
            "name = \"orders\"\npeer_account = \"111111111111\"\nallowed",
            "name = \"other\"\npeer_account = \"111111111111\"\nallowed",
        );
        let c = Config::parse(&doc, "t").unwrap();
        assert_eq!(c.ambiguous_pairs(), vec![("orders", "other")]);
    }

    #[test]
    fn source_needs_exactly_one_variable() {
        let none = ConfigSource::from_vars(|_| None).unwrap_err();
        assert!(none.message.contains(ENV_FILE));
        let two = ConfigSource::from_vars(|n| (n != ENV_SSM).then(|| "x".to_string())).unwrap_err();
        assert!(two.message.contains("exactly one"));
        let one = ConfigSource::from_vars(|n| (n == ENV_FILE).then(|| "/tmp/x.toml".to_string())).unwrap();
        assert_eq!(one, ConfigSource::File("/tmp/x.toml".into()));
    }

    #[test]
    fn the_shipped_example_is_valid() {
        let text = include_str!("../../peerlink.example.toml");
        Config::parse(text, "peerlink.example.toml").unwrap();
    }
}
