//! What each managed link opens to whom, and its routes per table: one view
//! per peering end, derived (pure) from what a pass observed and the
//! actions it planned or made. `peerlink plan` prints it, `plan --json` and
//! `peerlink report` carry it; every one of them says a line the same way,
//! through the line's `Display` ("sg-… ingress: 10.0.0.0/16 on tcp 5432",
//! "rtb-…: 10.0.0.0/16 -> pcx-…").
//!
//! Open lines: our rules for the peering (its marker), references to a peer
//! group through it, and the user's own rules that hold what the entry asks
//! for (same group, direction, protocol and ports, a range overlapping the
//! peer's blocks). Route lines: every route of the local VPC's tables that
//! points at the peering. Each is in place, to add or to remove; an action
//! already carried out (by `apply`) counts as done.

use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Config, Direction, PeerEntry, PortRange, Protocol};
use crate::model::{Peering, RouteTarget, RulePeer, SgRule, Side};
use crate::ownership::marked_peering;
use crate::reconcile::{Action, ActionOutcome, Managed, Observed};

/// One managed peering end: what it opens to the peer and where it routes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exposure {
    pub peering: String,
    pub side: Side,
    pub entry: String,
    /// The local VPC.
    pub vpc: String,
    pub open: Vec<OpenLine>,
    pub routes: Vec<RouteLine>,
}

/// Whether a line is in AWS now, or what the plan does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineState {
    InPlace,
    ToAdd,
    ToRemove,
}

impl LineState {
    /// What the line says after the change: nothing for what is in place.
    fn suffix(self) -> &'static str {
        match self {
            LineState::InPlace => "",
            LineState::ToAdd => " (to add)",
            LineState::ToRemove => " (to remove)",
        }
    }
}

/// Who made a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Owner {
    Peerlink,
    /// An unmarked rule that already holds what the entry asks for.
    User,
}

/// A rule that lets the peer in (ingress) or the group out to it (egress).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenLine {
    pub group: String,
    pub direction: Direction,
    pub protocol: Protocol,
    pub ports: Option<PortRange>,
    pub peer: RulePeer,
    pub owner: Owner,
    pub state: LineState,
    /// The line as `plan` and the report print it.
    pub line: String,
}

impl OpenLine {
    pub fn new(group: &str, rule: &SgRule, owner: Owner, state: LineState) -> OpenLine {
        let mut l = OpenLine {
            group: group.to_string(),
            direction: rule.direction,
            protocol: rule.protocol,
            ports: rule.ports,
            peer: rule.peer.clone(),
            owner,
            state,
            line: String::new(),
        };
        l.line = l.to_string();
        l
    }
}

impl fmt::Display for OpenLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: ", self.group, self.direction)?;
        match &self.peer {
            RulePeer::Cidr(net) => write!(f, "{net}")?,
            RulePeer::Group { account, group, .. } => write!(f, "group {account}/{group}")?,
        }
        match (self.protocol, self.ports) {
            (Protocol::All, _) => f.write_str(" on every protocol")?,
            (p, Some(ports)) => write!(f, " on {} {ports}", p.ec2_name())?,
            (p, None) => write!(f, " on {}", p.ec2_name())?,
        }
        if self.owner == Owner::User {
            f.write_str(" (not peerlink's)")?;
        }
        f.write_str(self.state.suffix())
    }
}

/// A route of a local table to a peer range through the peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteLine {
    pub route_table: String,
    pub destination: IpNet,
    pub peering: String,
    /// EC2 says its target is gone: it carries nothing.
    pub blackhole: bool,
    pub state: LineState,
    /// The line as `plan` and the report print it.
    pub line: String,
}

impl RouteLine {
    pub fn new(route_table: &str, destination: IpNet, peering: &str, blackhole: bool, state: LineState) -> RouteLine {
        let mut l = RouteLine {
            route_table: route_table.to_string(),
            destination,
            peering: peering.to_string(),
            blackhole,
            state,
            line: String::new(),
        };
        l.line = l.to_string();
        l
    }
}

impl fmt::Display for RouteLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} -> {}", self.route_table, self.destination, self.peering)?;
        if self.blackhole {
            f.write_str(" (blackhole)")?;
        }
        f.write_str(self.state.suffix())
    }
}

impl fmt::Display for Exposure {
    /// The block `plan` prints for one link.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} ({} side, entry {:?}, {})",
            self.peering, self.side, self.entry, self.vpc
        )?;
        writeln!(f, "  open to the peer:")?;
        if self.open.is_empty() {
            writeln!(f, "    nothing")?;
        }
        for l in &self.open {
            writeln!(f, "    {l}")?;
        }
        writeln!(f, "  routes:")?;
        if self.routes.is_empty() {
            writeln!(f, "    none")?;
        }
        for l in &self.routes {
            writeln!(f, "    {l}")?;
        }
        Ok(())
    }
}

/// The view of every managed peering end of a pass, in its order.
pub fn view(config: &Config, obs: &Observed, managed: &[Managed], actions: &[ActionOutcome]) -> Vec<Exposure> {
    managed
        .iter()
        .filter_map(|m| {
            let peering = obs.peerings.iter().find(|p| p.id == m.peering)?;
            Some(end_view(config.entry(&m.entry), obs, peering, m, actions))
        })
        .collect()
}

fn end_view(
    entry: Option<&PeerEntry>,
    obs: &Observed,
    peering: &Peering,
    m: &Managed,
    actions: &[ActionOutcome],
) -> Exposure {
    let local = peering.side(m.side);
    let mut open = open_lines(entry, obs, peering, m.side, actions);
    open.sort_by(|a, b| {
        (&a.group, a.direction, &a.peer, a.protocol, a.ports).cmp(&(
            &b.group,
            b.direction,
            &b.peer,
            b.protocol,
            b.ports,
        ))
    });
    let mut routes = route_lines(obs, &local.vpc, &peering.id, actions);
    routes.sort_by(|a, b| (&a.route_table, a.destination).cmp(&(&b.route_table, b.destination)));
    Exposure {
        peering: peering.id.clone(),
        side: m.side,
        entry: m.entry.clone(),
        vpc: local.vpc.clone(),
        open,
        routes,
    }
}

/// The state of something observed in place, given the action on it.
fn observed_state(change: Option<&ActionOutcome>) -> Option<LineState> {
    match change {
        None => Some(LineState::InPlace),
        Some(a) if a.result.succeeded() => None,
        Some(_) => Some(LineState::ToRemove),
    }
}

/// The state of something the plan adds.
fn added_state(a: &ActionOutcome) -> LineState {
    if a.result.succeeded() {
        LineState::InPlace
    } else {
        LineState::ToAdd
    }
}

fn open_lines(
    entry: Option<&PeerEntry>,
    obs: &Observed,
    peering: &Peering,
    side: Side,
    actions: &[ActionOutcome],
) -> Vec<OpenLine> {
    let (pcx, local, peer) = (&peering.id, peering.side(side), peering.side(side.other()));
    let revoked = |group: &str, rule: &SgRule| {
        actions
            .iter()
            .find(|a| matches!(&a.planned.action, Action::RevokeRule { group: g, rule: r } if g == group && r == rule))
    };
    let remarked = |group: &str, rule: &SgRule| {
        actions.iter().any(|a| {
            a.planned.peering.as_deref() == Some(pcx.as_str())
                && matches!(&a.planned.action, Action::RemarkRule { group: g, rule: r, .. } if g == group && r == rule)
        })
    };
    // What the entry asks for in a group, the peer aside: a user's rule of
    // that shape over the peer's blocks holds it.
    let asked = |group: &str, rule: &SgRule| {
        entry.is_some_and(|e| {
            e.security_group_rules.iter().any(|s| {
                s.group.as_str() == group
                    && PeerEntry::rule_direction(s, side == Side::Accepter) == rule.direction
                    && s.protocol == rule.protocol
                    && s.ports == rule.ports
            })
        })
    };
    let mut groups: Vec<_> = obs.security_groups.values().filter(|g| g.vpc == local.vpc).collect();
    groups.sort_by(|a, b| a.id.cmp(&b.id));
    let mut lines = Vec::new();
    for g in groups {
        for r in &g.rules {
            let through = matches!(&r.rule.peer, RulePeer::Group { peering: p, .. } if p == pcx);
            let owner = match marked_peering(r.description.as_deref()) {
                Some(p) if p == pcx => Owner::Peerlink,
                Some(_) if remarked(&g.id, &r.rule) => Owner::Peerlink,
                Some(_) => continue,
                None if through => Owner::User,
                None => {
                    let over_peer = r
                        .rule
                        .peer
                        .cidr()
                        .is_some_and(|c| peer.cidrs.iter().any(|b| overlap(c, b)));
                    if !(over_peer && asked(&g.id, &r.rule)) {
                        continue;
                    }
                    Owner::User
                }
            };
            if let Some(state) = observed_state(revoked(&g.id, &r.rule)) {
                lines.push(OpenLine::new(&g.id, &r.rule, owner, state));
            }
        }
    }
    for a in actions
        .iter()
        .filter(|a| a.planned.peering.as_deref() == Some(pcx.as_str()))
    {
        if let Action::AuthorizeRule { group, rule, .. } = &a.planned.action {
            if !lines.iter().any(|l| l.group == *group && same_rule(l, rule)) {
                lines.push(OpenLine::new(group, rule, Owner::Peerlink, added_state(a)));
            }
        }
    }
    lines
}

fn same_rule(l: &OpenLine, rule: &SgRule) -> bool {
    l.direction == rule.direction && l.protocol == rule.protocol && l.ports == rule.ports && l.peer == rule.peer
}

fn overlap(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn route_lines(obs: &Observed, vpc: &str, pcx: &str, actions: &[ActionOutcome]) -> Vec<RouteLine> {
    let change = |table: &str, dest: IpNet| {
        actions.iter().find(|a| match &a.planned.action {
            Action::DeleteRoute {
                route_table,
                destination,
                ..
            }
            | Action::ReplaceRoute {
                route_table,
                destination,
                ..
            } => route_table == table && *destination == dest,
            _ => false,
        })
    };
    let mut lines = Vec::new();
    for t in obs.route_tables.iter().filter(|t| t.vpc == vpc) {
        for r in &t.routes {
            if !matches!(&r.target, RouteTarget::Peering(p) if p == pcx) {
                continue;
            }
            // A route re-pointed at this same peering (a blackhole mended) is
            // the replacement's line below.
            let replaced = change(&t.id, r.destination)
                .is_some_and(|a| matches!(&a.planned.action, Action::ReplaceRoute { peering, .. } if peering == pcx));
            if replaced {
                continue;
            }
            if let Some(state) = observed_state(change(&t.id, r.destination)) {
                lines.push(RouteLine::new(&t.id, r.destination, pcx, r.blackhole, state));
            }
        }
    }
    for a in actions {
        match &a.planned.action {
            Action::CreateRoute {
                route_table,
                destination,
                peering,
            }
            | Action::ReplaceRoute {
                route_table,
                destination,
                peering,
                ..
            } if peering == pcx => {
                lines.push(RouteLine::new(route_table, *destination, pcx, false, added_state(a)));
            }
            _ => {}
        }
    }
    lines
}

#[cfg(test)]
mod tests;
