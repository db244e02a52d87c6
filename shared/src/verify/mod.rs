//! Proving a path: can this interface reach that one on this port, and if
//! not, which hop stops it? The troubleshooting table of the ECS-to-RDS
//! guide, walked in path order across both accounts:
//!
//! | check | what must hold |
//! |---|---|
//! | `peering` | an active peering joins the two VPCs (their ranges do not overlap) |
//! | `source-route` | the source subnet's route table (its own, else the main one) sends the destination, by longest prefix, to that peering; not a blackhole |
//! | `source-nacl-out` | the source subnet's network ACL lets the request out |
//! | `source-sg-egress` | a group of the source interface lets it out |
//! | `destination-nacl-in` | the destination subnet's network ACL lets it in |
//! | `destination-sg-ingress` | a group of the destination interface lets it in |
//! | `destination-route` | the destination subnet's table sends the source back through the same peering |
//! | `destination-nacl-out`, `source-nacl-in` | the answer on ephemeral ports (1024–65535) passes both ACLs (they are stateless) |
//! | `dns` | the destination side of the peering resolves its names for the source VPC; both VPCs have DNS support and hostnames on |
//!
//! [`evaluate`] is pure: what the accounts showed ([`PathWorld`]) in, the
//! checks out. [`read`] makes the reads (behind [`crate::aws::Aws`]);
//! [`declared`] checks the paths a configuration declares on every drift
//! pass, this account's half of each.

pub mod advice;
mod checks;
pub mod declared;
pub mod nacl;
pub mod read;
mod route;
#[cfg(test)]
mod tests;

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use serde::Serialize;

use crate::config::{PortRange, Protocol};
use crate::ids::NetworkInterfaceId;
use crate::model::{NetworkAcl, NetworkInterface, Peering, RouteTable, SecurityGroup, Vpc};

/// The checks, in path order. Their names are stable: scripts match on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum CheckId {
    Peering,
    SourceRoute,
    SourceNaclOut,
    SourceSgEgress,
    DestinationNaclIn,
    DestinationSgIngress,
    DestinationRoute,
    DestinationNaclOut,
    SourceNaclIn,
    Dns,
}

impl CheckId {
    pub fn name(self) -> &'static str {
        self.into()
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What is sent: TCP or UDP to a port, or ICMP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Traffic {
    pub protocol: Protocol,
    /// The destination port (TCP and UDP).
    pub port: Option<u16>,
}

impl Traffic {
    /// Checks the combination: TCP and UDP need a port, ICMP takes none, and
    /// `all` is no traffic one sends.
    pub fn new(protocol: Protocol, port: Option<u16>) -> Result<Traffic, String> {
        match (protocol, port) {
            (Protocol::Tcp | Protocol::Udp, None) => Err(format!("{} needs a port", protocol.ec2_name())),
            (Protocol::Icmp, Some(_)) => Err("icmp has no port".into()),
            (Protocol::All, _) => Err("the protocol is tcp, udp or icmp".into()),
            _ => Ok(Traffic { protocol, port }),
        }
    }

    /// The ports a request goes to (every port for ICMP, whose network ACL
    /// entries carry none).
    fn request_ports(&self) -> PortRange {
        match self.port {
            Some(p) => PortRange { from: p, to: p },
            None => PortRange { from: 0, to: 65535 },
        }
    }

    /// The ports the answer comes back to.
    fn return_ports(&self) -> PortRange {
        match self.protocol {
            Protocol::Tcp | Protocol::Udp => nacl::EPHEMERAL,
            _ => self.request_ports(),
        }
    }
}

impl fmt::Display for Traffic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{} {p}", self.protocol.ec2_name()),
            None => f.write_str(self.protocol.ec2_name()),
        }
    }
}

/// An end of a path as the user names it: an interface or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    Interface(NetworkInterfaceId),
    Address(Ipv4Addr),
}

impl FromStr for Endpoint {
    type Err = String;
    fn from_str(s: &str) -> Result<Endpoint, String> {
        let s = s.trim();
        if s.starts_with("eni-") {
            return s.parse().map(Endpoint::Interface).map_err(|e| e.to_string());
        }
        s.parse()
            .map(Endpoint::Address)
            .map_err(|_| format!("{s:?} is neither a network interface id (eni-…) nor an IPv4 address (like 10.1.2.3)"))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Interface(id) => id.fmt(f),
            Endpoint::Address(a) => a.fmt(f),
        }
    }
}

impl Endpoint {
    pub fn matches(&self, interface: &NetworkInterface) -> bool {
        match self {
            Endpoint::Interface(id) => interface.id == id.as_str(),
            Endpoint::Address(a) => interface.addresses.contains(a),
        }
    }
}

/// One end as its account showed it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EndView {
    pub account: String,
    pub region: String,
    pub interface: NetworkInterface,
    /// Its VPC: blocks and, when read, DNS attributes.
    pub vpc: Vpc,
    /// The subnet's own route table and the VPC's main one (others are ignored).
    pub route_tables: Vec<RouteTable>,
    /// The subnet's network ACL (others are ignored).
    pub network_acls: Vec<NetworkAcl>,
    /// The interface's security groups.
    pub groups: Vec<SecurityGroup>,
    /// `active_peerings_per_vpc` of its account.
    pub peering_quota: usize,
}

/// One end of a path: its address, and what its account showed, when that
/// account was read (a drift pass sees only its own half).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct End {
    pub address: Ipv4Addr,
    pub view: Option<EndView>,
}

/// Everything a path's checks look at.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathWorld {
    pub traffic: Traffic,
    /// Whether the `dns` check runs (off when the client connects by address).
    pub dns: bool,
    pub source: End,
    pub destination: End,
    /// The peerings the accounts read can see, each once.
    pub peerings: Vec<Peering>,
}

/// One hop's check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Check {
    pub check: CheckId,
    /// The account the resource is in.
    pub account: String,
    pub resource: String,
    pub ok: bool,
    /// What it found.
    pub detail: String,
    /// What to do, in one sentence (`None` when it passes).
    pub fix: Option<String>,
}

/// The peering a path goes through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PeeringRef {
    pub id: String,
    pub status: String,
}

/// The checks of one path, in path order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub reachable: bool,
    pub peering: Option<PeeringRef>,
    pub checks: Vec<Check>,
}

impl Verdict {
    /// The first hop that stops the traffic.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }
}

/// Runs every check the world allows (a half path skips the other
/// account's hops), in path order. Pure.
pub fn evaluate(world: &PathWorld) -> Verdict {
    let path = checks::Path::new(world);
    let (src, dst) = (world.source.view.as_ref(), world.destination.view.as_ref());
    let t = world.traffic;
    let (src_ip, dst_ip) = (world.source.address, world.destination.address);
    let mut out = vec![path.peering()];
    if let Some(v) = src {
        out.push(path.route(CheckId::SourceRoute, v, dst_ip));
        out.push(path.nacl(CheckId::SourceNaclOut, v, true, t.request_ports(), dst_ip));
        out.push(path.group(CheckId::SourceSgEgress, v, dst_ip, dst));
    }
    if let Some(v) = dst {
        out.push(path.nacl(CheckId::DestinationNaclIn, v, false, t.request_ports(), src_ip));
        out.push(path.group(CheckId::DestinationSgIngress, v, src_ip, src));
        out.push(path.route(CheckId::DestinationRoute, v, src_ip));
        out.push(path.nacl(CheckId::DestinationNaclOut, v, true, t.return_ports(), src_ip));
    }
    if let Some(v) = src {
        out.push(path.nacl(CheckId::SourceNaclIn, v, false, t.return_ports(), dst_ip));
    }
    if world.dns {
        out.push(path.dns());
    }
    Verdict {
        reachable: out.iter().all(|c| c.ok),
        peering: path.peering.map(|p| PeeringRef {
            id: p.id.clone(),
            status: p.status.to_string(),
        }),
        checks: out,
    }
}
