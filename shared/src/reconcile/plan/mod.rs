//! The plan: a pure function from the configuration and what was observed to
//! the writes that bring this account's side of every managed peering to its
//! desired state, each with its reason, plus findings for what we will not (or
//! may not) change. Unit-tested without AWS.
//!
//! One [`Planner`] walks the managed peerings; each concern is an `impl
//! Planner` block in its own file: [`routes`], [`rules`], [`dns`],
//! [`secrets`] (statements to grant) and [`cleanup`] (what gone peerings
//! leave behind, and what peerlink did for a peering no entry manages any
//! more), with [`bindings`] deciding which peerings are managed and
//! [`index`] holding the lookups built once per pass.

mod action;
mod bindings;
mod cleanup;
mod dns;
mod entries;
mod index;
mod requests;
mod routes;
mod rules;
mod secrets;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use serde::Serialize;

pub use action::{Action, Planned};
pub use bindings::{Binding, Managed, bindings};

use crate::config::{Config, Direction};
use crate::finding::{Finding, FindingKind};
use crate::model::{
    Identity, KeyState, Peering, PeeringStatus, RouteTable, SecretState, SecurityGroup, SgRule, Side, Vpc,
    VpcDnsAttribute,
};
use crate::routing::{Routing, State, routed, routing};
use index::Index;

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
    /// The pass looks after the whole account: what carries our mark and
    /// the configuration no longer wants is taken back (a pass scoped to a
    /// few peerings leaves the rest alone).
    pub whole_account: bool,
    /// When the pass observed, in seconds since the Unix epoch.
    pub now: u64,
    pub vpcs: HashMap<String, Vpc>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: HashMap<String, SecurityGroup>,
    /// By configured secret ARN; `None` when the secret does not exist.
    pub secrets: HashMap<String, Option<SecretState>>,
    /// By the key reference a secret names (id, ARN or alias); `None` when missing.
    pub keys: HashMap<String, Option<KeyState>>,
    /// Secrets and keys the role may not read: left alone, reported.
    pub denied: crate::reconcile::denied::DeniedReads,
}

impl Observed {
    /// The key a secret names (by id, ARN or alias as observed), if it was read.
    pub fn key(&self, reference: &str) -> Option<&KeyState> {
        if let Some(found) = self.keys.get(reference) {
            return found.as_ref();
        }
        let suffix = format!("/{reference}");
        self.keys
            .values()
            .flatten()
            .find(|k| k.arn == reference || k.arn.ends_with(&suffix))
    }
}

/// The writes of one pass, the findings, and the managed peerings they are for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    pub managed: Vec<Managed>,
    pub actions: Vec<Planned>,
    pub findings: Vec<Finding>,
}

struct Planner<'a> {
    config: &'a Config,
    obs: &'a Observed,
    idx: &'a Index<'a>,
    me: &'a Identity,
    routing: Routing,
    plan: Plan,
    /// Items planned per quota (route table, or group and direction).
    reserved: FxHashMap<(String, Option<Direction>), usize>,
    /// Routes (table, destination) a live peering wants: a gone peering's
    /// cleanup never removes them, whatever order events come in.
    claimed_routes: rustc_hash::FxHashSet<(&'a str, IpNet)>,
    /// Rules (group, rule) a live peering wants, whatever marker they carry now.
    claimed_rules: BTreeSet<(String, SgRule)>,
    /// Groups we write to that do not carry our tag yet.
    untagged_groups: BTreeSet<String>,
    /// Every managed peering end of this pass, by (peering, local VPC).
    ends: FxHashMap<(&'a str, &'a str), Binding<'a>>,
    /// Our tags to set on each peering (what we route and turned on there).
    peering_tags: BTreeMap<String, Vec<(String, String)>>,
    vpc_attributes: BTreeSet<(String, VpcDnsAttribute)>,
    cleaned: BTreeSet<String>,
}

/// Plans one pass. Deterministic: the same input gives the same plan.
pub fn plan(config: &Config, obs: &Observed) -> Plan {
    let Some(me) = &obs.me else {
        return Plan::default();
    };
    let (binds, findings) = bindings(config, obs);
    let idx = Index::new(obs);
    let mut p = Planner {
        config,
        obs,
        idx: &idx,
        me,
        routing: routing(
            config,
            me,
            &State {
                peerings: &obs.peerings,
                vpcs: &obs.vpcs,
                route_tables: &obs.route_tables,
                groups: obs.security_groups.iter().map(|(id, g)| (id.as_str(), g)).collect(),
            },
        ),
        plan: Plan {
            managed: binds.iter().map(Managed::from).collect(),
            actions: Vec::new(),
            findings,
        },
        reserved: FxHashMap::default(),
        claimed_routes: Default::default(),
        claimed_rules: BTreeSet::new(),
        untagged_groups: BTreeSet::new(),
        ends: binds
            .iter()
            .map(|b| ((b.peering.id.as_str(), b.peering.side(b.side).vpc.as_str()), *b))
            .collect(),
        peering_tags: BTreeMap::new(),
        vpc_attributes: BTreeSet::new(),
        cleaned: BTreeSet::new(),
    };
    p.entries();
    for (resource, (kind, error)) in &obs.denied {
        p.plan
            .findings
            .push(crate::reconcile::denied::read_finding(resource, *kind, error));
    }
    // Live peerings first: what they claim, a gone peering's cleanup keeps.
    for b in &binds {
        match b.peering.status {
            PeeringStatus::Active => p.finish(b),
            ref s if s.is_gone() => {}
            _ => p.not_active(b),
        }
    }
    for b in binds.iter().filter(|b| b.peering.status.is_gone()) {
        let tables = p.selected_tables(b.entry, &b.peering.side(b.side).vpc);
        p.cleanup(&b.peering.id, &b.peering.status.to_string(), &tables);
    }
    p.stale_rules(&binds);
    p.tag_groups();
    p.unroutable_routes();
    // Absence proves something only with every peering listed: cleanup of
    // vanished peerings, and grants rebuilt from the live ones, need it.
    if obs.complete {
        p.vanished();
        p.policies(&binds);
        if obs.whole_account {
            p.withdrawn();
        }
    }
    p.requests();
    p.tag_peerings();
    let mut plan = p.plan;
    // Keys computed once per action: formatting them in every comparison was
    // most of the time of a large plan.
    plan.actions.sort_by_cached_key(Planned::sort_key);
    plan.findings.sort_by(|a, b| {
        (a.kind, &a.peering, &a.resource, &a.message).cmp(&(b.kind, &b.peering, &b.resource, &b.message))
    });
    plan.findings.dedup();
    plan
}

impl<'a> Planner<'a> {
    /// Whether a peering is gone for good: EC2 says so, or (with the full
    /// list) no longer lists it.
    fn gone(&self, peering: &str) -> bool {
        match self.idx.peering(peering) {
            Some(p) => p.status.is_gone(),
            None => self.obs.complete,
        }
    }

    /// Queues one of our tags for a peering (one write per peering, at the end).
    fn tag_peering(&mut self, peering: &str, key: String, value: &str) {
        let tags = self.peering_tags.entry(peering.to_string()).or_default();
        tags.retain(|(k, _)| *k != key);
        tags.push((key, value.to_string()));
    }

    fn tag_peerings(&mut self) {
        for (peering, mut tags) in std::mem::take(&mut self.peering_tags) {
            tags.sort();
            self.act(
                &peering,
                Action::TagPeering {
                    peering: peering.clone(),
                    tags,
                },
                "records on the peering what peerlink routes and turned on there, to take it back once no entry asks for it",
            );
        }
    }

    fn act(&mut self, peering: &str, action: Action, reason: impl Into<String>) {
        self.plan.actions.push(Planned {
            peering: Some(peering.to_string()),
            action,
            reason: reason.into(),
        });
    }

    /// An action for no one peering: a policy shared by several, a tag, a request.
    fn act_unpeered(&mut self, action: Action, reason: impl Into<String>) {
        self.plan.actions.push(Planned {
            peering: None,
            action,
            reason: reason.into(),
        });
    }

    fn finding(
        &mut self,
        kind: FindingKind,
        peering: Option<&str>,
        resource: Option<&str>,
        message: String,
        fix: String,
    ) {
        self.plan.findings.push(Finding {
            kind,
            peering: peering.map(str::to_string),
            resource: resource.map(str::to_string),
            message,
            fix,
        });
    }

    /// Reserves room for `more` new items against a quota of `limit` where
    /// `existing` are in place and earlier parts of this plan reserved some
    /// too. `Err` carries how many are in use (existing + reserved).
    fn reserve(
        &mut self,
        quota: (String, Option<Direction>),
        existing: usize,
        more: usize,
        limit: usize,
    ) -> Result<(), usize> {
        let reserved = self.reserved.entry(quota).or_default();
        let used = existing + *reserved;
        if used + more > limit {
            return Err(used);
        }
        *reserved += more;
        Ok(())
    }

    fn finish(&mut self, b: &Binding<'a>) {
        let local = b.peering.side(b.side);
        // A local VPC that does not exist is reported once per entry (entries.rs).
        let Some(vpc) = self.obs.vpcs.get(&local.vpc) else {
            return;
        };
        let blocks = self.blocks(b, vpc);
        self.routes(b, vpc, &routed(b.entry, &blocks));
        self.rules(b, &blocks);
        self.dns(b, vpc);
        self.secret_checks(b);
    }

    /// A peering on its way to `active`: nothing to build yet.
    fn not_active(&mut self, b: &Binding<'_>) {
        let fix = match b.peering.status {
            PeeringStatus::PendingAcceptance if b.side == Side::Requester => format!(
                "account {} accepts it (its peerlink accepter does, if the request matches its allowlist)",
                b.peering.accepter.account
            ),
            PeeringStatus::PendingAcceptance => "the accepter decides on it; see its decision log".into(),
            _ => "wait; EC2 is still setting it up".into(),
        };
        self.finding(
            FindingKind::NotActive,
            Some(&b.peering.id),
            None,
            format!("peering is {}; it is finished once active", b.peering.status),
            fix,
        );
    }
}
