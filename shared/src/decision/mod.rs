//! The accepter's decision: a pure function from the configuration and the
//! peering as EC2 describes it to accept / reject / leave pending / skip, with
//! a reason a human can read, every check's result, and what the requester
//! may be told. Nothing here calls AWS. The same decision serves the
//! accepter, drift's sweep, `peerlink approve` (a human standing in for
//! `auto_accept`) and drift's review of peerings accepted outside peerlink.

mod checks;

use std::collections::HashMap;
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

pub use checks::{ALLOWED_RANGES, ALLOWLIST, AUTO_ACCEPT, Check, LOCAL_OVERLAP, PEER_OVERLAP, QUOTA};

use crate::config::{Config, PeerEntry, UnmatchedRequests};
use crate::matching::match_entry;
use crate::model::{Identity, Peering, PeeringSide, PeeringStatus, Vpc};
use checks::{Outcome, assess, peer_count, peered_cidrs};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Accept,
    Reject,
    /// Not accepted, but left pending for a human (or for `ignore` mode).
    LeavePending,
    /// Not ours to decide: we are the requester, or it is not pending.
    Skip,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accept => "accept",
            Verdict::Reject => "reject",
            Verdict::LeavePending => "leave-pending",
            Verdict::Skip => "skip",
        })
    }
}

/// One decision with everything a reviewer needs to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub peering_id: String,
    pub verdict: Verdict,
    /// Why, in full: the local decision record.
    pub reason: String,
    /// Why, as the requester is told it (announced to its account): about
    /// its own request only. Empty for a request that is not ours to decide.
    pub requester_reason: String,
    /// The configuration entry the request matched, if any.
    pub entry: Option<String>,
    pub status: String,
    pub requester: PeeringSide,
    pub accepter: PeeringSide,
    /// Every check made and its result (none for a request that is not
    /// ours to decide).
    pub checks: Vec<Check>,
    /// Who accepted in place of `auto_accept` (`peerlink approve`): the
    /// caller's identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
}

impl Decision {
    /// Left pending only because its entry wants a human to accept it:
    /// every other check passed.
    pub fn awaits_approval(&self) -> bool {
        self.verdict == Verdict::LeavePending
            && self.checks.iter().any(|c| c.check == AUTO_ACCEPT && !c.ok)
            && self.checks.iter().all(|c| c.ok || c.check == AUTO_ACCEPT)
    }
}

/// Who stands behind an acceptance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Approval<'a> {
    /// The entry's `auto_accept`.
    Automatic,
    /// A human (`peerlink approve`), identified by this ARN: stands in for
    /// `auto_accept`, never for another check.
    Human(&'a str),
}

/// What the decision needs besides the peering itself.
pub struct AcceptContext<'a> {
    pub me: &'a Identity,
    pub config: &'a Config,
    /// The local VPCs, as read from EC2 (for the overlap check).
    pub vpcs: &'a HashMap<String, Vpc>,
    /// Every peering this account can see (for overlap with existing peers).
    pub peerings: &'a [Peering],
}

/// Decides what to do with one peering, as the accepter does.
pub fn decide(ctx: &AcceptContext<'_>, peering: &Peering) -> Decision {
    decide_as(ctx, peering, Approval::Automatic)
}

/// Decides what to do with one peering with `approval` behind it.
pub fn decide_as(ctx: &AcceptContext<'_>, peering: &Peering, approval: Approval<'_>) -> Decision {
    let approved_by = match approval {
        Approval::Human(who) => Some(who.to_string()),
        Approval::Automatic => None,
    };
    let decision = |verdict: Verdict, reason: String, told: String, entry: Option<&str>, checks: Vec<Check>| Decision {
        peering_id: peering.id.clone(),
        verdict,
        reason,
        requester_reason: told,
        entry: entry.map(str::to_string),
        status: peering.status.to_string(),
        requester: peering.requester.clone(),
        accepter: peering.accepter.clone(),
        checks,
        approved_by: approved_by.clone(),
    };
    if let Some(why) = not_ours(ctx, peering) {
        return decision(Verdict::Skip, why, String::new(), None, Vec::new());
    }
    let accepter = &peering.accepter;
    let refused = match ctx.config.settings.unmatched_requests {
        UnmatchedRequests::Reject => Verdict::Reject,
        UnmatchedRequests::Ignore => Verdict::LeavePending,
    };
    let requester = &peering.requester;
    let entry = match match_entry(ctx.config, accepter, requester) {
        Ok(entry) => entry,
        Err(reason) => {
            let told = format!(
                "requester VPC {} of account {} in {} is not in the allowlist of the VPC it asks to peer with",
                requester.vpc, requester.account, requester.region
            );
            let failed = Outcome::failed(ALLOWLIST, reason.to_string(), told.clone());
            return decision(refused, reason.to_string(), told, None, vec![failed.check]);
        }
    };
    let mut outcomes = vec![Outcome::ok(ALLOWLIST, format!("matches entry {:?}", entry.name))];
    outcomes.extend(assess(ctx, peering, entry, true));
    outcomes.push(approval_check(entry, approval));
    let checks: Vec<Check> = outcomes.iter().map(|o| o.check.clone()).collect();
    let name = Some(entry.name.as_str());
    // Refused on what is unsafe; left pending on what is only not yet allowed.
    if let Some(bad) = outcomes
        .iter()
        .find(|o| !o.check.ok && ![QUOTA, AUTO_ACCEPT].contains(&o.check.check))
    {
        return decision(refused, bad.check.detail.clone(), bad.told.clone(), name, checks);
    }
    if let Some(quota) = outcomes.iter().find(|o| !o.check.ok && o.check.check == QUOTA) {
        return decision(
            Verdict::LeavePending,
            quota.check.detail.clone(),
            quota.told.clone(),
            name,
            checks,
        );
    }
    let mut reason = passed(ctx, peering, entry);
    match outcomes.iter().find(|o| !o.check.ok) {
        Some(wait) => decision(
            Verdict::LeavePending,
            format!("{reason}; but the entry does not allow auto-accept, so a human accepts it (peerlink approve)"),
            wait.told.clone(),
            name,
            checks,
        ),
        None => {
            if let Approval::Human(who) = approval {
                reason.push_str(&format!("; approved by {who}"));
            }
            decision(Verdict::Accept, reason, "accepted".into(), name, checks)
        }
    }
}

/// Why a peering is not this account's to decide here, if it is not.
fn not_ours(ctx: &AcceptContext<'_>, peering: &Peering) -> Option<String> {
    let accepter = &peering.accepter;
    if accepter.account != ctx.me.account {
        let role = if peering.requester.account == ctx.me.account {
            "this account is the requester"
        } else {
            "this account is not a party to it"
        };
        return Some(format!("{role}; account {} decides", accepter.account));
    }
    if accepter.region != ctx.me.region {
        return Some(format!(
            "the accepter VPC is in {}; it is decided there, not in {}",
            accepter.region, ctx.me.region
        ));
    }
    if peering.status != PeeringStatus::PendingAcceptance {
        return Some(format!(
            "the peering is {}; only pending-acceptance requests are decided",
            peering.status
        ));
    }
    // A VPC no entry names is not ours to decide for, whatever the setting
    // for unmatched requests (the shipped role may not even reject there).
    if !ctx.config.peers.iter().any(|e| e.local_vpc == *accepter.vpc.as_str()) {
        return Some(format!(
            "{} is not a managed VPC: no entry names it as local_vpc; left for whoever manages it",
            accepter.vpc
        ));
    }
    None
}

/// Who stands behind accepting: the entry's `auto_accept`, or a human.
fn approval_check(entry: &PeerEntry, approval: Approval<'_>) -> Outcome {
    match approval {
        Approval::Human(who) => Outcome::ok(AUTO_ACCEPT, format!("approved by {who}")),
        Approval::Automatic if entry.auto_accept => {
            Outcome::ok(AUTO_ACCEPT, format!("entry {:?} allows auto-accept", entry.name))
        }
        Approval::Automatic => Outcome::failed(
            AUTO_ACCEPT,
            format!(
                "entry {:?} does not allow auto-accept, so a human accepts it (peerlink approve)",
                entry.name
            ),
            "the request waits for the accepter's approval".into(),
        ),
    }
}

/// The reason of a request that passes every safety check.
fn passed(ctx: &AcceptContext<'_>, peering: &Peering, entry: &PeerEntry) -> String {
    let requester = &peering.requester;
    let peered = peered_cidrs(ctx, &peering.accepter.vpc, &peering.id);
    let mut reason = format!(
        "matches entry {:?}; requester CIDR block(s) {} lie inside the allowed ranges and overlap neither the local VPC nor its {} active peer(s)",
        entry.name,
        list(&requester.cidrs),
        peer_count(&peered)
    );
    // EC2 lists the requester's other blocks only once the peering is
    // active: decide on what is known; the routing invariant then routes
    // only the blocks that pass (and reports the others).
    if !requester.blocks_known {
        reason.push_str("; EC2 lists only the primary block of a pending request: any other block is checked once the peering is active, and gets no route or rule unless it passes");
    }
    reason
}

/// The acceptance checks of an established peering that this account is
/// the accepter of, as if it were decided now (no quota, no auto-accept):
/// what a peering accepted outside peerlink would have been refused for.
/// Empty when it passes, or when no entry manages its VPC.
pub fn review(ctx: &AcceptContext<'_>, peering: &Peering) -> Vec<Check> {
    let accepter = &peering.accepter;
    if !ctx.config.peers.iter().any(|e| e.local_vpc == *accepter.vpc.as_str()) {
        return Vec::new();
    }
    match match_entry(ctx.config, accepter, &peering.requester) {
        Err(reason) => vec![Check {
            check: ALLOWLIST,
            ok: false,
            detail: reason.to_string(),
        }],
        Ok(entry) => assess(ctx, peering, entry, false)
            .into_iter()
            .map(|o| o.check)
            .filter(|c| !c.ok)
            .collect(),
    }
}

fn list(nets: &[IpNet]) -> String {
    nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests;
