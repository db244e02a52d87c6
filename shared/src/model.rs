//! What we read from AWS, in our own terms. The AWS layer converts SDK types into
//! these; the decision and the plan only ever see these.

use std::collections::BTreeMap;
use std::fmt;
use std::net::Ipv4Addr;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Direction, PortRange, Protocol};

/// This account and region: who "we" are in every decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    pub account: String,
    pub region: String,
}

/// The lifecycle states of a VPC peering connection, named as EC2 names
/// them (`pending-acceptance`, …) in text and JSON.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, strum::Display, strum::EnumString, strum::EnumIter)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum PeeringStatus {
    InitiatingRequest,
    PendingAcceptance,
    Provisioning,
    Active,
    Deleting,
    Deleted,
    Rejected,
    Failed,
    Expired,
    /// A code this version does not know, kept as EC2 spelt it.
    #[serde(untagged)]
    #[strum(default)]
    Other(String),
}

impl PeeringStatus {
    pub fn from_code(code: &str) -> Self {
        code.parse().unwrap_or_else(|_| Self::Other(code.to_string()))
    }

    /// States from which the peering never comes back: what we built for it
    /// is cleaned up.
    pub fn is_gone(&self) -> bool {
        matches!(
            self,
            Self::Deleting | Self::Deleted | Self::Rejected | Self::Failed | Self::Expired
        )
    }
}

/// Which end of a peering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    Requester,
    Accepter,
}

impl Side {
    pub fn other(self) -> Side {
        match self {
            Side::Requester => Side::Accepter,
            Side::Accepter => Side::Requester,
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Side::Requester => "requester",
            Side::Accepter => "accepter",
        })
    }
}

/// One end of a peering as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeeringSide {
    pub account: String,
    pub vpc: String,
    pub region: String,
    /// Every CIDR block of the VPC: primary, secondary and IPv6.
    pub cidrs: Vec<IpNet>,
    /// `AllowDnsResolutionFromRemoteVpc` on this side's options.
    pub allow_remote_dns: bool,
    /// Whether EC2 listed the VPC's block set (`CidrBlockSet`). Without it
    /// only the primary block is known, and a peer's other blocks could be
    /// anything: nothing is accepted or routed on the primary block alone.
    pub blocks_known: bool,
}

/// A VPC peering connection as EC2 describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peering {
    pub id: String,
    pub status: PeeringStatus,
    pub status_message: String,
    pub requester: PeeringSide,
    pub accepter: PeeringSide,
    /// The peering's tags as this account sees them (ours mark a request we made).
    pub tags: BTreeMap<String, String>,
}

impl Peering {
    pub fn side(&self, side: Side) -> &PeeringSide {
        match side {
            Side::Requester => &self.requester,
            Side::Accepter => &self.accepter,
        }
    }

    /// The ends of this peering that belong to `me` (both for a peering between
    /// two VPCs of the same account and region).
    pub fn local_sides(&self, me: &Identity) -> Vec<Side> {
        [Side::Requester, Side::Accepter]
            .into_iter()
            .filter(|s| {
                let end = self.side(*s);
                end.account == me.account && end.region == me.region
            })
            .collect()
    }
}

/// A VPC of this account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Vpc {
    pub id: String,
    pub cidrs: Vec<IpNet>,
    /// `enableDnsSupport`/`enableDnsHostnames`; `None` when not read.
    pub dns_support: Option<bool>,
    pub dns_hostnames: Option<bool>,
    pub tags: BTreeMap<String, String>,
}

/// Where a route sends traffic, as far as we care.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum RouteTarget {
    Peering(String),
    Local,
    Other(String),
}

impl fmt::Display for RouteTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteTarget::Peering(id) | RouteTarget::Other(id) => f.write_str(id),
            RouteTarget::Local => f.write_str("local"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Route {
    pub destination: IpNet,
    pub target: RouteTarget,
    /// `true` when EC2 says the route is a blackhole (its target is gone).
    pub blackhole: bool,
}

/// A subnet and its VPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subnet {
    pub id: String,
    pub vpc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteTable {
    pub id: String,
    pub vpc: String,
    pub main: bool,
    /// The subnets explicitly associated with it.
    pub subnets: Vec<String>,
    /// A main table only: the subnets the configuration names that have no
    /// table of their own and so use this one (set by observe, which reads
    /// those subnets in the same round as the tables).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub main_for: Vec<String>,
    pub tags: BTreeMap<String, String>,
    pub routes: Vec<Route>,
    /// Routes to prefix lists and other destinations we do not model still
    /// count against the quota.
    pub other_routes: usize,
}

impl RouteTable {
    pub fn route_count(&self) -> usize {
        self.routes.len() + self.other_routes
    }
}

/// One security-group rule: one protocol, port range and peer (EC2 counts
/// rules this way against the quota).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct SgRule {
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: Option<PortRange>,
    pub peer: RulePeer,
}

/// What a rule lets in (ingress) or out to (egress): a CIDR block, or a
/// security group of the peer account referenced across a peering in the
/// same region (EC2's `UserIdGroupPair`: UserId, GroupId,
/// VpcPeeringConnectionId).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RulePeer {
    Cidr(IpNet),
    Group {
        account: String,
        group: String,
        peering: String,
    },
}

impl RulePeer {
    /// The CIDR block, for a rule that names one.
    pub fn cidr(&self) -> Option<&IpNet> {
        match self {
            RulePeer::Cidr(net) => Some(net),
            RulePeer::Group { .. } => None,
        }
    }
}

impl fmt::Display for RulePeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RulePeer::Cidr(net) => write!(f, "{net}"),
            RulePeer::Group {
                account,
                group,
                peering,
            } => write!(f, "group {account}/{group} (through {peering})"),
        }
    }
}

impl fmt::Display for SgRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ports = self.ports.map(|p| format!(" {p}")).unwrap_or_default();
        let way = match self.direction {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        };
        write!(
            f,
            "{} {}{} {} {}",
            self.direction,
            self.protocol.ec2_name(),
            ports,
            way,
            self.peer
        )
    }
}

/// A rule EC2 calls stale (DescribeStaleSecurityGroups): it references a
/// group through a peering that is gone, or a group that is gone. It lets
/// nothing through and still counts against the quota.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StaleRule {
    pub group: String,
    pub vpc: String,
    pub direction: Direction,
    /// As EC2 names it (`tcp`, `udp`, `icmp`, `-1`).
    pub protocol: String,
    pub from_port: Option<i32>,
    pub to_port: Option<i32>,
    pub account: Option<String>,
    pub referenced_group: String,
    pub peering: Option<String>,
    pub peering_status: Option<String>,
}

/// A rule as found in a group, with its description (where our marker lives).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ObservedRule {
    pub rule: SgRule,
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecurityGroup {
    pub id: String,
    pub vpc: String,
    pub rules: Vec<ObservedRule>,
    /// Rules that reference other groups or prefix lists: they count against the
    /// quota but we never touch them.
    pub other_rules_ingress: usize,
    pub other_rules_egress: usize,
    /// Rules that reference other security groups (doctor: such references do
    /// not work across regions).
    pub group_refs: Vec<GroupRef>,
    /// Whether it carries our tag (we wrote to it).
    pub tagged: bool,
}

/// A rule's reference to another security group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GroupRef {
    pub group: String,
    pub account: Option<String>,
    pub vpc: Option<String>,
    pub peering: Option<String>,
    /// The rule's direction, protocol (`None`: one we do not model, such as
    /// a single ICMP type) and ports (TCP and UDP only): what the reference
    /// lets through (`peerlink verify`).
    pub direction: Direction,
    pub protocol: Option<Protocol>,
    pub ports: Option<PortRange>,
}

impl SecurityGroup {
    pub fn rule_count(&self, direction: Direction) -> usize {
        let other = match direction {
            Direction::Ingress => self.other_rules_ingress,
            Direction::Egress => self.other_rules_egress,
        };
        other + self.rules.iter().filter(|r| r.rule.direction == direction).count()
    }
}

/// A secret and what protects it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SecretState {
    pub arn: String,
    /// The key id or ARN the secret names; `None` means the AWS-managed key.
    pub kms_key: Option<String>,
    /// Whether it carries our tag (we wrote to its policy).
    pub tagged: bool,
    /// The resource policy document, parsed; `None` when there is none.
    pub policy: Option<serde_json::Value>,
}

/// A KMS key and its policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyState {
    pub arn: String,
    /// `true` for AWS-managed keys (`aws/secretsmanager`), whose policy cannot change.
    pub aws_managed: bool,
    pub policy: Option<serde_json::Value>,
}

/// The two DNS attributes of a VPC we may turn on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum VpcDnsAttribute {
    EnableDnsSupport,
    EnableDnsHostnames,
}

impl VpcDnsAttribute {
    /// The flag of `aws ec2 modify-vpc-attribute` that turns it on.
    pub fn cli_flag(self) -> &'static str {
        match self {
            VpcDnsAttribute::EnableDnsSupport => "enable-dns-support",
            VpcDnsAttribute::EnableDnsHostnames => "enable-dns-hostnames",
        }
    }
}

/// A network ACL entry (doctor, verify).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NaclEntry {
    pub rule_number: i32,
    pub egress: bool,
    pub allow: bool,
    /// `None` means all protocols.
    pub protocol: Option<Protocol>,
    pub ports: Option<PortRange>,
    pub cidr: IpNet,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkAcl {
    pub id: String,
    pub vpc: String,
    pub subnets: Vec<String>,
    pub entries: Vec<NaclEntry>,
}

/// A network interface: an ECS task's, an RDS database's, an instance's.
/// `peerlink verify` finds the ends of a path by them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NetworkInterface {
    pub id: String,
    /// The account that owns it (`OwnerId`).
    pub account: String,
    pub vpc: String,
    pub subnet: String,
    /// Its private IPv4 addresses, the primary first.
    pub addresses: Vec<Ipv4Addr>,
    /// Its security groups.
    pub groups: Vec<String>,
    /// What it belongs to, as EC2 says (`RDSNetworkInterface`, an ECS attachment ARN…).
    pub description: String,
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::VpcPeeringConnectionStateReasonCode as Ec2Code;
    use strum::IntoEnumIterator;

    use super::PeeringStatus;

    /// Every status code the EC2 SDK knows is a named status, and its name
    /// (text, JSON) is EC2's code; every named status is one of EC2's codes.
    #[test]
    fn peering_status_names_round_trip_with_ec2s_codes() {
        for &code in Ec2Code::values() {
            let status = PeeringStatus::from_code(code);
            assert!(
                !matches!(status, PeeringStatus::Other(_)),
                "EC2's {code:?} is not a named status"
            );
            assert_eq!(status.to_string(), code);
            assert_eq!(serde_json::to_value(&status).unwrap(), code);
        }
        for status in PeeringStatus::iter().filter(|s| !matches!(s, PeeringStatus::Other(_))) {
            let name = status.to_string();
            assert!(
                Ec2Code::values().contains(&name.as_str()),
                "{status:?} is {name:?}, not an EC2 code"
            );
        }
        let unknown = PeeringStatus::from_code("something-new");
        assert_eq!(unknown, PeeringStatus::Other("something-new".into()));
        assert_eq!(unknown.to_string(), "something-new");
        assert_eq!(serde_json::to_value(&unknown).unwrap(), "something-new");
    }
}
