//! The configuration document: which peers this account works with, what may be
//! auto-accepted, and what a finished peering looks like on this account's side.
//!
//! Everything is validated while parsing: unknown keys, malformed ids, bad CIDRs
//! and inconsistent entries are errors naming the field and the line. A
//! configuration that fails to load stops the function before any decision
//! is taken, so a broken config can never lead to an accept.
//!
//! [`Config::check`] finds every problem of a document at once (what
//! `peerlink check-config` prints), warnings included; [`Config::parse`] is
//! the same check, failing on any error. [`json_schema`] describes the
//! document for editors (`peerlink schema`, `schema/peerlink.schema.json`).

mod arn;
mod check;
mod schema;
mod source;
mod validate;
mod values;

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;

use ipnet::IpNet;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::ids::{AccountId, NetworkInterfaceId, Region, RouteTableId, SecurityGroupId, SubnetId, VpcId};

pub use arn::{KmsKeyArn, PrincipalArn, SecretArn};
pub use check::{Problem, Severity};
pub use schema::{json_schema, json_schema_text};
pub use source::{ConfigError, ConfigSource};
pub use values::{Cidr, Direction, PortRange, Protocol};

/// The whole document.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// What applies to every entry.
    #[serde(default)]
    pub settings: GlobalSettings,
    /// One `[[peer]]` table per peer VPC (or peer account) this account works with.
    #[serde(default, rename = "peer")]
    pub peers: Vec<PeerEntry>,
}

/// The `[settings]` table: what applies to every entry.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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
    /// throttling, which the SDK backs off from. 1 to 64.
    #[serde(default = "default_write_concurrency")]
    #[schemars(range(min = 1, max = 64))]
    pub write_concurrency: usize,
    /// Route-table quota (AWS default 50; raise it if your account's quota is higher).
    #[serde(default = "default_routes_per_table")]
    #[schemars(range(min = 1, max = 1000))]
    pub routes_per_route_table: usize,
    /// Security-group quota per direction (AWS default 60).
    #[serde(default = "default_rules_per_group")]
    #[schemars(range(min = 1, max = 1000))]
    pub rules_per_security_group: usize,
    /// Active peerings per VPC (AWS default 50, maximum 125).
    #[serde(default = "default_peerings_per_vpc")]
    #[schemars(range(min = 1, max = 125))]
    pub active_peerings_per_vpc: usize,
    /// After a request of ours was rejected, expired or failed, how long
    /// before an entry with `request = true` asks again (no request storm).
    /// 1 to 720 hours.
    #[serde(default = "default_request_retry_hours")]
    #[schemars(range(min = 1, max = 720))]
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

/// What happens to a pending request that is not accepted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum UnmatchedRequests {
    /// Reject it, with the reason logged.
    #[default]
    Reject,
    /// Leave it pending (it expires after 7 days).
    Ignore,
}

/// What the drift schedule does with what it finds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Only report drift; write nothing.
    #[default]
    Report,
    /// Repair drift.
    Remediate,
}

/// One peer this account works with, seen from this account.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::request_needs_peer)]
pub struct PeerEntry {
    /// A short name used in logs and reports: 1 to 64 letters, digits, `-`,
    /// `_` or `.`; unique.
    #[schemars(regex(pattern = r"^[A-Za-z0-9._-]{1,64}$"))]
    pub name: String,
    /// The other account.
    pub peer_account: AccountId,
    /// The other VPC; any VPC of `peer_account` when absent.
    #[serde(default)]
    pub peer_vpc: Option<VpcId>,
    /// The other VPC's region; the local VPC's region when absent.
    #[serde(default)]
    pub peer_region: Option<Region>,
    /// Every CIDR block of the peer VPC (primary, secondary, IPv6) must lie
    /// inside these ranges.
    #[schemars(length(min = 1))]
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
    /// Which route tables of `local_vpc` get a route to every peer CIDR block
    /// (or to each of `routes.destinations`).
    #[serde(default)]
    pub routes: RouteSpec,
    /// Security-group rules kept in place for the peer's CIDR blocks.
    #[serde(default)]
    pub security_group_rules: Vec<RuleSpec>,
    /// DNS resolution across the peering, on this side.
    #[serde(default)]
    pub dns: DnsSpec,
    /// Secrets of this account the peer's principals may read.
    #[serde(default)]
    pub secrets: Vec<SecretSpec>,
    /// Paths proved on every drift pass (this account's half of each): a
    /// `path-blocked` finding names the hop that stops one, and the fix.
    #[serde(default)]
    pub verify: Vec<PathSpec>,
}

/// Which route tables of the local VPC get routes to the peer.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::select_needs_its_list)]
pub struct RouteSpec {
    /// `all` (default), `tagged` (with `tags`), `ids` (with `ids`),
    /// `subnets` (with `subnets`) or `none`.
    #[serde(default)]
    pub select: TableSelect,
    /// With `select = "tagged"`: every tag listed must be present with that value.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// With `select = "ids"`: the route tables.
    #[serde(default)]
    pub ids: Vec<RouteTableId>,
    /// With `select = "subnets"`: the subnets whose route tables get the
    /// routes (each subnet's own table, else its VPC's main table).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subnets: Vec<SubnetId>,
    /// Narrower ranges than the peer's blocks: only these are routed (each
    /// inside `allowed_cidrs`), and each only while it lies inside a block
    /// the peer has and may be routed (blocks change over time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub destinations: Vec<Cidr>,
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
            subnets: Vec::new(),
            destinations: Vec::new(),
            replace_conflicts: false,
        }
    }
}

/// How the route tables are selected.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum TableSelect {
    /// Every route table of the local VPC: the main table and every table
    /// associated with a subnet (the one people forget).
    #[default]
    All,
    /// The tables carrying every tag of `routes.tags`.
    Tagged,
    /// The tables of `routes.ids`.
    Ids,
    /// The tables the subnets of `routes.subnets` use: the table explicitly
    /// associated with the subnet, else its VPC's main table (as EC2 does).
    Subnets,
    /// Do not manage routes.
    None,
}

/// A security-group rule to keep in place for the peer's CIDR blocks (or,
/// with `peer_groups`, for the peer's security groups).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::rule_needs_ports)]
pub struct RuleSpec {
    /// The security group of this account that gets the rule.
    pub group: SecurityGroupId,
    /// `ingress` or `egress`; by default ingress on the accepter side and egress
    /// on the requester side.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// `tcp` (default), `udp`, `icmp` or `all`.
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// A port (`5432`) or range (`"1024-65535"`); absent for `all` and `icmp`.
    #[serde(default)]
    pub ports: Option<PortRange>,
    /// Security groups of the peer VPC the rule references (account,
    /// group and peering) instead of the peer's CIDR blocks: only those
    /// groups' members get through. A peering in one region only: EC2 cannot
    /// reference a group across regions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_groups: Vec<SecurityGroupId>,
    /// Narrower ranges than the peer's blocks: the rule opens only these
    /// (each inside `allowed_cidrs`), and only while it lies inside a block
    /// the peer has and may be routed (blocks change over time).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cidrs: Vec<Cidr>,
}

fn default_protocol() -> Protocol {
    Protocol::Tcp
}

/// DNS settings for this side of the peering.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
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

/// A path between an interface of this account and an address in the peer
/// VPC that every drift pass proves (`peerlink verify` proves both halves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::path_needs_port)]
pub struct PathSpec {
    /// The network interface in `local_vpc` (an ECS task's, a database's).
    pub local: NetworkInterfaceId,
    /// The address at the other end, in the peer VPC (inside `allowed_cidrs`).
    #[schemars(schema_with = "schema::ipv4")]
    pub remote: Ipv4Addr,
    /// The port (with `tcp` and `udp`).
    #[serde(default)]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// `tcp` (default), `udp` or `icmp`.
    #[serde(default = "default_protocol")]
    pub protocol: Protocol,
    /// Who connects: `egress` (`local` to `remote`) or `ingress` (`remote`
    /// to `local`); by default egress on the requester side and ingress on
    /// the accepter side, as for rules.
    #[serde(default)]
    pub direction: Option<Direction>,
    /// Also prove that the destination's private names resolve across the
    /// peering (default true; false when the client connects by address).
    #[serde(default = "yes")]
    pub dns: bool,
}

/// A secret in this account that principals of the peer account may read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretSpec {
    /// The secret's full ARN (with its 6-character suffix).
    pub arn: SecretArn,
    /// IAM principals of the peer account (role or user ARNs, or the account
    /// root); never `*`.
    #[schemars(length(min = 1))]
    pub principals: Vec<PrincipalArn>,
    /// The customer-managed KMS key the secret is expected to use. When given,
    /// a secret found with another key is reported and not touched.
    #[serde(default)]
    pub kms_key: Option<KmsKeyArn>,
}

impl Config {
    /// Parses and validates a TOML document. `origin` names the source in
    /// errors. Any error fails it; the message lists every error, each with
    /// its line, the first one first. Warnings ([`Config::check`]) do not.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::parse_in(text, origin, None)
    }

    /// [`Config::parse`] for a document used in `region` (see [`Config::check_in`]).
    pub fn parse_in(text: &str, origin: &str, region: Option<&str>) -> Result<Config, ConfigError> {
        let (config, problems) = Config::check_in(text, region);
        let errors: Vec<&Problem> = problems.iter().filter(|p| p.severity == Severity::Error).collect();
        match (config, errors.as_slice()) {
            (Some(config), []) => Ok(config),
            (_, errors) => Err(ConfigError {
                origin: origin.to_string(),
                message: check::summary(errors),
            }),
        }
    }

    /// Every local VPC the entries name, sorted, once each.
    pub fn local_vpcs(&self) -> Vec<String> {
        let set: BTreeSet<String> = self.peers.iter().map(|e| e.local_vpc.to_string()).collect();
        set.into_iter().collect()
    }

    pub fn entry(&self, name: &str) -> Option<&PeerEntry> {
        self.peers.iter().find(|p| p.name == name)
    }
}

impl PeerEntry {
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
