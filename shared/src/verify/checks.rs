//! One function per kind of hop: the peering, a route table, a network ACL,
//! the security groups, DNS. Each looks at what its end's account showed
//! and says what it found and, when it stops the traffic, the fix.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use super::advice::{self, holds};
use super::{Check, CheckId, EndView, PathWorld, Traffic, nacl};
use crate::config::{Direction, PortRange, Protocol};
use crate::model::{Peering, PeeringSide, PeeringStatus, Side};

/// A path and the peering it goes through.
pub(super) struct Path<'w> {
    pub(super) world: &'w PathWorld,
    pub(super) peering: Option<&'w Peering>,
    /// The side of `peering` the source is on.
    pub(super) source_side: Side,
    pub(super) same_vpc: bool,
}

pub(super) fn check(check: CheckId, account: &str, resource: &str, detail: String, fix: Option<String>) -> Check {
    Check {
        check,
        account: account.to_string(),
        resource: resource.to_string(),
        ok: fix.is_none(),
        detail,
        fix,
    }
}

/// The order in which peerings between the same two VPCs are preferred.
fn rank(status: &PeeringStatus) -> u8 {
    match status {
        PeeringStatus::Active => 0,
        PeeringStatus::Provisioning => 1,
        PeeringStatus::PendingAcceptance => 2,
        PeeringStatus::InitiatingRequest => 3,
        _ => 4,
    }
}

/// Whether `side` of a peering is this end: its VPC when its account was
/// read, else the VPC holding its address.
fn is_end(side: &PeeringSide, view: Option<&EndView>, address: Ipv4Addr) -> bool {
    match view {
        Some(v) => side.vpc == v.vpc.id && side.account == v.account,
        None => side.cidrs.iter().any(|c| holds(c, address)),
    }
}

/// "tcp 5432", "tcp 1024-65535", "icmp".
fn leg(protocol: Protocol, ports: PortRange) -> String {
    match protocol {
        Protocol::Tcp | Protocol::Udp => format!("{} {ports}", protocol.ec2_name()),
        _ => protocol.ec2_name().to_string(),
    }
}

/// Whether a rule of `protocol` on `ports` lets `traffic` through.
fn lets_through(protocol: Option<Protocol>, ports: Option<PortRange>, traffic: Traffic) -> bool {
    match protocol {
        Some(Protocol::All) => true,
        Some(p) if p == traffic.protocol => match (traffic.port, ports) {
            (Some(port), Some(r)) => r.from <= port && port <= r.to,
            _ => true,
        },
        _ => false,
    }
}

pub(super) fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

impl<'w> Path<'w> {
    pub(super) fn new(world: &'w PathWorld) -> Path<'w> {
        let (src, dst) = (&world.source, &world.destination);
        let same_vpc = match (&src.view, &dst.view) {
            (Some(a), Some(b)) => a.vpc.id == b.vpc.id && a.account == b.account,
            _ => false,
        };
        let joins = |p: &Peering| {
            [Side::Requester, Side::Accepter].into_iter().find(|s| {
                is_end(p.side(*s), src.view.as_ref(), src.address)
                    && is_end(p.side(s.other()), dst.view.as_ref(), dst.address)
            })
        };
        let found = world
            .peerings
            .iter()
            .filter_map(|p| joins(p).map(|s| (p, s)))
            .filter(|_| !same_vpc)
            .min_by_key(|(p, _)| rank(&p.status));
        Path {
            world,
            peering: found.map(|(p, _)| p),
            source_side: found.map_or(Side::Requester, |(_, s)| s),
            same_vpc,
        }
    }

    fn source_vpc(&self) -> String {
        self.vpc_of(true)
    }

    fn destination_vpc(&self) -> String {
        self.vpc_of(false)
    }

    /// The VPC of an end: as read, else the peering's end, else "the VPC of 10.1.2.3".
    fn vpc_of(&self, source: bool) -> String {
        let (end, side) = if source {
            (&self.world.source, self.source_side)
        } else {
            (&self.world.destination, self.source_side.other())
        };
        match (&end.view, self.peering) {
            (Some(v), _) => v.vpc.id.clone(),
            (None, Some(p)) => p.side(side).vpc.clone(),
            (None, None) => format!("the VPC of {}", end.address),
        }
    }

    fn cidrs_of(&self, source: bool) -> Vec<IpNet> {
        let (end, side) = if source {
            (&self.world.source, self.source_side)
        } else {
            (&self.world.destination, self.source_side.other())
        };
        match (&end.view, self.peering) {
            (Some(v), _) => v.vpc.cidrs.clone(),
            (None, Some(p)) => p.side(side).cidrs.clone(),
            (None, None) => Vec::new(),
        }
    }

    /// The account the path's first readable end is in.
    fn account(&self) -> String {
        let view = self.world.source.view.as_ref().or(self.world.destination.view.as_ref());
        view.map(|v| v.account.clone()).unwrap_or_default()
    }

    /// `peering`: an active peering joins the two VPCs, whose ranges do not overlap.
    pub(super) fn peering(&self) -> Check {
        let id = CheckId::Peering;
        let account = self.account();
        let (src, dst) = (self.source_vpc(), self.destination_vpc());
        if self.same_vpc {
            return check(
                id,
                &account,
                &src,
                format!("both ends are in {src}: no peering needed"),
                None,
            );
        }
        let resource = self
            .peering
            .map_or_else(|| format!("{src} <-> {dst}"), |p| p.id.clone());
        let status = self
            .peering
            .map(|p| format!(" ({} is {})", p.id, p.status))
            .unwrap_or_default();
        if let Some((a, b)) = advice::overlap(&self.cidrs_of(true), &self.cidrs_of(false)) {
            let detail = format!("{src} ({a}) and {dst} ({b}) overlap{status}");
            return check(id, &account, &resource, detail, Some(capitalised(advice::OVERLAP)));
        }
        let Some(p) = self.peering else {
            let detail = format!("no peering joins {src} and {dst}");
            return match self.transitive() {
                Some(route) => check(
                    id,
                    &account,
                    &resource,
                    format!("{detail}; {route}"),
                    Some(capitalised(advice::TRANSITIVE)),
                ),
                None => check(
                    id,
                    &account,
                    &resource,
                    detail,
                    Some(format!(
                        "request a peering between {src} and {dst} (an entry with request = true makes it) and have its accepter accept it"
                    )),
                ),
            };
        };
        let (detail, fix) = self.status(p, &src, &dst);
        check(id, &account, &resource, detail, fix)
    }

    /// What the peering's status means for the path: its detail and fix.
    fn status(&self, p: &Peering, src: &str, dst: &str) -> (String, Option<String>) {
        let accepter = &p.accepter;
        match &p.status {
            PeeringStatus::Active => {
                let mut detail = format!(
                    "{} is active between {} (account {}) and {} (account {})",
                    p.id, p.requester.vpc, p.requester.account, accepter.vpc, accepter.account
                );
                for v in [&self.world.source.view, &self.world.destination.view]
                    .into_iter()
                    .flatten()
                {
                    let active = advice::active_peerings(&self.world.peerings, &v.account, &v.vpc.id);
                    if let Some(near) = advice::near_quota(&v.vpc.id, active, v.peering_quota) {
                        detail.push_str(&format!("; {near}: {}", advice::QUOTA));
                    }
                }
                (detail, None)
            }
            PeeringStatus::PendingAcceptance => (
                format!(
                    "{} is pending-acceptance: account {} has not accepted it",
                    p.id, accepter.account
                ),
                Some(format!(
                    "accept {} in account {} ({}) within 7 days of the request; peerlink's accepter does when an entry allows the requester",
                    p.id, accepter.account, accepter.region
                )),
            ),
            PeeringStatus::Provisioning | PeeringStatus::InitiatingRequest => (
                format!("{} is {}: EC2 has not finished setting it up", p.id, p.status),
                Some("wait a minute and verify again".into()),
            ),
            other => {
                let message = Some(p.status_message.as_str()).filter(|m| !m.is_empty());
                let mut detail = format!(
                    "{} is {other}{}",
                    p.id,
                    message.map(|m| format!(" ({m})")).unwrap_or_default()
                );
                if let Some(route) = self.transitive() {
                    detail.push_str(&format!("; {route}"));
                    (detail, Some(capitalised(advice::TRANSITIVE)))
                } else {
                    (
                        detail,
                        Some(format!(
                            "request a new peering between {src} and {dst}; the accepter's decision record says why this one is {other}"
                        )),
                    )
                }
            }
        }
    }

    /// The network-ACL checks: `egress` leaves the end's subnet, else enters it.
    pub(super) fn nacl(&self, id: CheckId, v: &EndView, egress: bool, ports: PortRange, other: Ipv4Addr) -> Check {
        let subnet = &v.interface.subnet;
        let protocol = self.world.traffic.protocol;
        let what = leg(protocol, ports);
        let way = if egress { "outbound to" } else { "inbound from" };
        let Some(acl) = v.network_acls.iter().find(|a| a.subnets.contains(subnet)) else {
            return check(
                id,
                &v.account,
                subnet,
                format!("the network ACL of {subnet} was not found"),
                Some(format!(
                    "associate a network ACL allowing {what} {way} {other} with {subnet}"
                )),
            );
        };
        match nacl::blocks(acl, egress, protocol, ports, &IpNet::from(IpAddr::V4(other))) {
            None => check(
                id,
                &v.account,
                &acl.id,
                format!("{} lets {what} {way} {other} through", acl.id),
                None,
            ),
            Some(why) => check(
                id,
                &v.account,
                &acl.id,
                format!("{} (subnet {subnet}) stops {what} {way} {other}: {why}", acl.id),
                Some(format!(
                    "add an entry to {} allowing {what} {way} {} numbered below the one that denies it (network ACLs are stateless: the request and the answer each need one)",
                    acl.id,
                    self.block_for(&v.vpc.id, other)
                )),
            ),
        }
    }

    /// `source-sg-egress`, `destination-sg-ingress`: a group of the end's
    /// interface lets the request through (a block holding the other
    /// address, or a reference to one of the other interface's groups).
    pub(super) fn group(&self, id: CheckId, v: &EndView, other: Ipv4Addr, other_view: Option<&EndView>) -> Check {
        let traffic = self.world.traffic;
        let (direction, way) = match id {
            CheckId::SourceSgEgress => (Direction::Egress, "to"),
            _ => (Direction::Ingress, "from"),
        };
        let mine = &v.interface.groups;
        let resource = mine.join(",");
        let groups: Vec<_> = v.groups.iter().filter(|g| mine.contains(&g.id)).collect();
        let ok = |detail: String| check(id, &v.account, &resource, detail, None);
        for g in &groups {
            let by_block = g.rules.iter().find(|r| {
                r.rule.direction == direction
                    && lets_through(Some(r.rule.protocol), r.rule.ports, traffic)
                    && r.rule.peer.cidr().is_some_and(|c| holds(c, other))
            });
            if let Some(r) = by_block {
                return ok(format!("{} allows {traffic} {way} {other} ({})", g.id, r.rule));
            }
        }
        let mut notes = Vec::new();
        for g in &groups {
            let refs = g
                .group_refs
                .iter()
                .filter(|r| r.direction == direction && lets_through(r.protocol, r.ports, traffic));
            for r in refs {
                match other_view {
                    None => {
                        return ok(format!(
                            "{} allows {traffic} {way} group {} (whether {other} is in it is checked in its own account)",
                            g.id, r.group
                        ));
                    }
                    Some(o) if o.interface.groups.contains(&r.group) && o.region == v.region => {
                        return ok(format!(
                            "{} allows {traffic} {way} {}, a group of {}",
                            g.id, r.group, o.interface.id
                        ));
                    }
                    Some(o) if o.interface.groups.contains(&r.group) => notes.push(format!(
                        "; {} references {}, but across regions ({} to {}) a group reference does not work",
                        g.id, r.group, v.region, o.region
                    )),
                    Some(_) => {}
                }
            }
        }
        let (detail, fix) = match groups.first() {
            None => (
                format!("{} has no security group that could be read", v.interface.id),
                format!(
                    "attach a security group allowing {traffic} {way} {other} to {}",
                    v.interface.id
                ),
            ),
            Some(first) => (
                format!(
                    "no {direction} rule of {resource} allows {traffic} {way} {other}{}",
                    notes.concat()
                ),
                format!(
                    "add an {direction} rule for {traffic} {way} {} to {} (a security_group_rules entry keeps it in place)",
                    self.block_for(&v.vpc.id, other),
                    first.id
                ),
            ),
        };
        check(id, &v.account, &resource, detail, Some(fix))
    }

    /// `dns`: the destination side of the peering resolves its private names
    /// for the source VPC, and both VPCs have DNS support and hostnames on.
    pub(super) fn dns(&self) -> Check {
        let id = CheckId::Dns;
        let (src, dst) = (self.source_vpc(), self.destination_vpc());
        if self.same_vpc {
            return check(id, &self.account(), &src, format!("both ends are in {src}"), None);
        }
        let Some(p) = self.peering.filter(|p| p.status == PeeringStatus::Active) else {
            return check(
                id,
                &self.account(),
                &dst,
                format!("DNS resolution across a peering needs an active peering between {src} and {dst}"),
                Some("make the peering active first (see the peering check)".into()),
            );
        };
        let side = self.source_side.other();
        let end = p.side(side);
        if !end.allow_remote_dns {
            return check(
                id,
                &end.account,
                &p.id,
                format!(
                    "the {side} side of {} ({dst}, account {}) does not let {src} resolve its private names: from {src} they resolve to public addresses",
                    p.id, end.account
                ),
                Some(format!(
                    "in account {}: aws ec2 modify-vpc-peering-connection-options --vpc-peering-connection-id {} --{side}-peering-connection-options AllowDnsResolutionFromRemoteVpc=true (peerlink's dns.remote_resolution does it)",
                    end.account, p.id
                )),
            );
        }
        let mut unread = Vec::new();
        for (view, vpc) in [(&self.world.source.view, &src), (&self.world.destination.view, &dst)] {
            let Some(v) = view else {
                unread.push(vpc.clone());
                continue;
            };
            for (name, flag, value) in [
                ("enableDnsSupport", "enable-dns-support", v.vpc.dns_support),
                ("enableDnsHostnames", "enable-dns-hostnames", v.vpc.dns_hostnames),
            ] {
                match value {
                    Some(false) => {
                        return check(
                            id,
                            &v.account,
                            &v.vpc.id,
                            format!(
                                "{} has {name} off: a peered VPC resolves private names only when both VPCs have DNS support and hostnames on",
                                v.vpc.id
                            ),
                            Some(format!(
                                "in account {}: aws ec2 modify-vpc-attribute --vpc-id {} --{flag} '{{\"Value\":true}}'",
                                v.account, v.vpc.id
                            )),
                        );
                    }
                    None if !unread.contains(&v.vpc.id) => unread.push(v.vpc.id.clone()),
                    _ => {}
                }
            }
        }
        let mut detail = format!("the {side} side of {} lets {src} resolve {dst}'s private names", p.id);
        if unread.is_empty() {
            detail.push_str("; both VPCs have DNS support and hostnames on");
        } else {
            detail.push_str(&format!(
                "; the DNS attributes of {} are not read here (peerlink doctor checks them in their account)",
                unread.join(" and ")
            ));
        }
        check(id, &end.account, &p.id, detail, None)
    }
}
