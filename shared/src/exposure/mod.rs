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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Config, Direction, PeerEntry, PortRange, Protocol};
use crate::matching::overlaps;
use crate::model::{Peering, RouteTable, RouteTarget, RulePeer, SecurityGroup, SgRule, Side};
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
    let idx = Changes::new(obs, actions);
    managed
        .iter()
        .filter_map(|m| {
            let peering = obs.peerings.iter().find(|p| p.id == m.peering)?;
            Some(end_view(config.entry(&m.entry), &idx, peering, m))
        })
        .collect()
}

/// The actions of a pass by what they change, and the groups and tables by
/// VPC: built once, so a view of many peerings stays linear.
struct Changes<'a> {
    /// RevokeRule by (group, rule).
    revokes: HashMap<(&'a str, &'a SgRule), &'a ActionOutcome>,
    /// RemarkRule by (peering, group, rule).
    remarks: HashSet<(&'a str, &'a str, &'a SgRule)>,
    /// DeleteRoute and ReplaceRoute by (table, destination).
    routes: HashMap<(&'a str, IpNet), &'a ActionOutcome>,
    /// AuthorizeRule, CreateRoute and ReplaceRoute by the peering they are for.
    adds: HashMap<&'a str, Vec<&'a ActionOutcome>>,
    groups: BTreeMap<&'a str, Vec<&'a SecurityGroup>>,
    tables: BTreeMap<&'a str, Vec<&'a RouteTable>>,
}

impl<'a> Changes<'a> {
    fn new(obs: &'a Observed, actions: &'a [ActionOutcome]) -> Self {
        let mut c = Changes {
            revokes: HashMap::new(),
            remarks: HashSet::new(),
            routes: HashMap::new(),
            adds: HashMap::new(),
            groups: BTreeMap::new(),
            tables: BTreeMap::new(),
        };
        for a in actions {
            let planned_for = a.planned.peering.as_deref().unwrap_or("");
            match &a.planned.action {
                Action::RevokeRule { group, rule } => {
                    c.revokes.insert((group, rule), a);
                }
                Action::RemarkRule { group, rule, .. } => {
                    c.remarks.insert((planned_for, group, rule));
                }
                Action::AuthorizeRule { .. } => c.adds.entry(planned_for).or_default().push(a),
                Action::CreateRoute { peering, .. } => c.adds.entry(peering).or_default().push(a),
                Action::ReplaceRoute {
                    route_table,
                    destination,
                    peering,
                    ..
                } => {
                    c.routes.insert((route_table, *destination), a);
                    c.adds.entry(peering).or_default().push(a);
                }
                Action::DeleteRoute {
                    route_table,
                    destination,
                    ..
                } => {
                    c.routes.insert((route_table, *destination), a);
                }
                _ => {}
            }
        }
        for g in obs.security_groups.values() {
            c.groups.entry(&g.vpc).or_default().push(g);
        }
        for g in c.groups.values_mut() {
            g.sort_by(|a, b| a.id.cmp(&b.id));
        }
        for t in &obs.route_tables {
            c.tables.entry(&t.vpc).or_default().push(t);
        }
        c
    }

    fn adds(&self, pcx: &str) -> impl Iterator<Item = &'a ActionOutcome> + '_ {
        self.adds.get(pcx).into_iter().flatten().copied()
    }
}

fn end_view(entry: Option<&PeerEntry>, idx: &Changes<'_>, peering: &Peering, m: &Managed) -> Exposure {
    let local = peering.side(m.side);
    let mut open = open_lines(entry, idx, peering, m.side);
    open.sort_by(|a, b| {
        (&a.group, a.direction, &a.peer, a.protocol, a.ports).cmp(&(
            &b.group,
            b.direction,
            &b.peer,
            b.protocol,
            b.ports,
        ))
    });
    let mut routes = route_lines(idx, &local.vpc, &peering.id);
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

fn open_lines(entry: Option<&PeerEntry>, idx: &Changes<'_>, peering: &Peering, side: Side) -> Vec<OpenLine> {
    let (pcx, local, peer) = (peering.id.as_str(), peering.side(side), peering.side(side.other()));
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
    let over_peer = |rule: &SgRule| {
        rule.peer
            .cidr()
            .is_some_and(|c| peer.cidrs.iter().any(|b| overlaps(c, b)))
    };
    let groups = idx
        .groups
        .get(local.vpc.as_str())
        .map(Vec::as_slice)
        .unwrap_or_default();
    let mut lines = Vec::new();
    for g in groups {
        for r in &g.rules {
            let through = matches!(&r.rule.peer, RulePeer::Group { peering: p, .. } if p == pcx);
            let owner = match marked_peering(r.description.as_deref()) {
                Some(p) if p == pcx => Owner::Peerlink,
                Some(_) if idx.remarks.contains(&(pcx, g.id.as_str(), &r.rule)) => Owner::Peerlink,
                Some(_) => continue,
                None if through || (over_peer(&r.rule) && asked(&g.id, &r.rule)) => Owner::User,
                None => continue,
            };
            let revoke = idx.revokes.get(&(g.id.as_str(), &r.rule)).copied();
            if let Some(state) = observed_state(revoke) {
                lines.push(OpenLine::new(&g.id, &r.rule, owner, state));
            }
        }
    }
    for a in idx.adds(pcx) {
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

fn route_lines(idx: &Changes<'_>, vpc: &str, pcx: &str) -> Vec<RouteLine> {
    let tables = idx.tables.get(vpc).map(Vec::as_slice).unwrap_or_default();
    let mut lines = Vec::new();
    for t in tables {
        for r in &t.routes {
            if !matches!(&r.target, RouteTarget::Peering(p) if p == pcx) {
                continue;
            }
            let change = idx.routes.get(&(t.id.as_str(), r.destination)).copied();
            // A route re-pointed at this same peering (a blackhole mended) is
            // the replacement's line below.
            let mended = change
                .is_some_and(|a| matches!(&a.planned.action, Action::ReplaceRoute { peering, .. } if peering == pcx));
            if mended {
                continue;
            }
            if let Some(state) = observed_state(change) {
                lines.push(RouteLine::new(&t.id, r.destination, pcx, r.blackhole, state));
            }
        }
    }
    for a in idx.adds(pcx) {
        if let Action::CreateRoute {
            route_table,
            destination,
            ..
        }
        | Action::ReplaceRoute {
            route_table,
            destination,
            ..
        } = &a.planned.action
        {
            lines.push(RouteLine::new(route_table, *destination, pcx, false, added_state(a)));
        }
    }
    lines
}

#[cfg(test)]
mod tests;
