//! The plan: a pure function from the configuration and what was observed to
//! the writes that bring this account's side of every managed peering to its
//! desired state, each with its reason, plus findings for what we will not (or
//! may not) change. Unit-tested without AWS.
//!
//! One [`Planner`] walks the managed peerings; each concern is an `impl
//! Planner` block in its own file: [`routes`], [`rules`], [`dns`],
//! [`secrets`] (statements to grant) and [`cleanup`] (what gone peerings
//! leave behind), with [`bindings`] deciding which peerings are managed and
//! [`index`] holding the lookups built once per pass.

mod action;
mod bindings;
mod cleanup;
mod dns;
mod index;
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
pub use cleanup::{marked_peering, rule_marker};

use super::policy::PolicyChange;
use crate::config::{Config, Direction};
use crate::finding::{Finding, FindingKind};
use crate::model::{
    Identity, KeyState, Peering, PeeringStatus, RouteTable, SecretState, SecurityGroup, SgRule, Side, Vpc,
    VpcDnsAttribute,
};
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
    pub vpcs: HashMap<String, Vpc>,
    pub route_tables: Vec<RouteTable>,
    pub security_groups: HashMap<String, SecurityGroup>,
    /// By configured secret ARN; `None` when the secret does not exist.
    pub secrets: HashMap<String, Option<SecretState>>,
    /// By the key reference a secret names (id, ARN or alias); `None` when missing.
    pub keys: HashMap<String, Option<KeyState>>,
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
    plan: Plan,
    /// Items planned per quota (route table, or group and direction).
    reserved: FxHashMap<(String, Option<Direction>), usize>,
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
    let idx = Index::new(obs);
    let mut p = Planner {
        config,
        obs,
        idx: &idx,
        me,
        plan: Plan {
            managed: binds.iter().map(Managed::from).collect(),
            actions: Vec::new(),
            findings,
        },
        reserved: FxHashMap::default(),
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
            p.not_active(b);
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
    plan.actions.sort_by_cached_key(Planned::sort_key);
    plan.findings.sort_by(|a, b| {
        (a.kind, &a.peering, &a.resource, &a.message).cmp(&(b.kind, &b.peering, &b.resource, &b.message))
    });
    plan.findings.dedup();
    plan
}

impl<'a> Planner<'a> {
    fn act(&mut self, peering: &str, action: Action, reason: impl Into<String>) {
        self.plan.actions.push(Planned {
            peering: Some(peering.to_string()),
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
        let Some(vpc) = self.obs.vpcs.get(&local.vpc) else {
            self.finding(
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
