//! Merging: every account's view into one row per peering (the requester's
//! and the accepter's reports side by side), one per VPC, and the summary.
//! Pure and deterministic: the same reads give the same report.

use std::collections::{BTreeMap, BTreeSet};

use peerlink::finding::{Finding, FindingKind};
use peerlink::model::{Identity, Peering, PeeringSide, PeeringStatus, Side};
use peerlink::reconcile::ActionOutcome;

use super::model::{
    AccountRow, End, EndRead, FindingRow, OrgReport, PeeringRow, PendingChange, State, Summary, VpcNode,
};
use super::read::AccountRead;

/// What each read contributes to one peering.
#[derive(Default)]
struct Gathered<'a> {
    /// The views of it, in the file's order.
    views: Vec<(&'a Identity, &'a Peering)>,
    /// Per end: read at all, the managing entry, pending changes.
    read: BTreeMap<Side, (bool, Option<String>, Vec<PendingChange>)>,
    findings: Vec<FindingRow>,
}

fn pending(a: &ActionOutcome) -> PendingChange {
    PendingChange {
        kind: a.planned.action.kind().to_string(),
        resource: a.planned.action.resource().to_string(),
        change: a.planned.action.to_string(),
        reason: a.planned.reason.clone(),
    }
}

fn finding(account: &str, f: &Finding) -> FindingRow {
    FindingRow {
        account: account.to_string(),
        kind: f.kind.name(),
        resource: f.resource.clone(),
        message: f.message.clone(),
        fix: f.fix.clone(),
    }
}

/// Merges the reads (in the accounts file's order) into the report.
pub fn merge(accounts_file: &str, reads: &[AccountRead]) -> OrgReport {
    let mes: Vec<Identity> = reads
        .iter()
        .map(|r| Identity {
            account: r.account.clone(),
            region: r.region.clone(),
        })
        .collect();
    let names: BTreeMap<&str, &str> = reads
        .iter()
        .filter_map(|r| r.name.as_deref().map(|n| (r.account.as_str(), n)))
        .collect();
    let order: BTreeMap<&str, usize> = reads
        .iter()
        .enumerate()
        .rev()
        .map(|(i, r)| (r.account.as_str(), i))
        .collect();

    let mut gathered: BTreeMap<&str, Gathered> = BTreeMap::new();
    let mut accounts = Vec::new();
    let mut conflicts: BTreeSet<&str> = BTreeSet::new();
    for (read, me) in reads.iter().zip(&mes) {
        let mut row = AccountRow {
            account: read.account.clone(),
            name: read.name.clone(),
            region: read.region.clone(),
            role: read.role_arn.clone(),
            config: read.config.as_ref().map(|p| p.display().to_string()),
            readable: read.outcome.is_ok(),
            error: read.outcome.as_ref().err().cloned(),
            peerings: 0,
            pending: 0,
            other_pending: Vec::new(),
            findings: Vec::new(),
        };
        let Ok(seen) = &read.outcome else {
            accounts.push(row);
            continue;
        };
        row.peerings = seen.peerings.len();
        let listed: BTreeMap<&str, &Peering> = seen.peerings.iter().map(|p| (p.id.as_str(), p)).collect();
        for p in &seen.peerings {
            let g = gathered.entry(p.id.as_str()).or_default();
            g.views.push((me, p));
            for side in p.local_sides(me) {
                g.read.entry(side).or_default().0 = true;
            }
        }
        if let Some(report) = &seen.report {
            for m in &report.managed {
                if let Some(g) = gathered.get_mut(m.peering.as_str()) {
                    g.read.entry(m.side).or_default().1 = Some(m.entry.clone());
                }
            }
            row.pending = report.outstanding();
            for a in report.actions.iter().filter(|a| !a.result.succeeded()) {
                let on = a.planned.peering.as_deref().and_then(|id| listed.get(id));
                match on {
                    // Attributed to this account's ends of it (both, for a
                    // peering between two of its VPCs in one region).
                    Some(p) => {
                        let g = gathered.get_mut(p.id.as_str()).expect("listed peerings are gathered");
                        for side in p.local_sides(me) {
                            g.read.entry(side).or_default().2.push(pending(a));
                        }
                    }
                    None => row.other_pending.push(pending(a)),
                }
            }
        }
        let findings = seen.report.iter().flat_map(|r| &r.findings).chain(&seen.advice);
        for f in findings {
            match f.peering.as_deref().and_then(|id| listed.get_key_value(id)) {
                Some((id, _)) => {
                    if matches!(f.kind, FindingKind::OverlapConflict | FindingKind::RouteConflict) {
                        conflicts.insert(id);
                    }
                    let g = gathered.get_mut(id).expect("listed peerings are gathered");
                    g.findings.push(finding(&read.account, f));
                }
                None => row.findings.push(finding(&read.account, f)),
            }
        }
        accounts.push(row);
    }

    // VPCs as their own accounts read them (current blocks and names).
    let mut described: BTreeMap<(&str, &str), VpcNode> = BTreeMap::new();
    for (read, me) in reads.iter().zip(&mes) {
        if let Ok(seen) = &read.outcome {
            for v in &seen.vpcs {
                described.insert(
                    (me.account.as_str(), v.id.as_str()),
                    VpcNode {
                        account: me.account.clone(),
                        region: me.region.clone(),
                        id: v.id.clone(),
                        name: v.tags.get("Name").cloned(),
                        cidrs: v.cidrs.iter().map(ToString::to_string).collect(),
                        read: true,
                    },
                );
            }
        }
    }

    let mut peerings: Vec<PeeringRow> = gathered
        .into_iter()
        .map(|(id, g)| {
            // The requester's own view when we have it, else the first.
            let (_, p) = g
                .views
                .iter()
                .find(|(me, p)| p.local_sides(me).contains(&Side::Requester))
                .or(g.views.first())
                .copied()
                .expect("a gathered peering has a view");
            let end = |side: Side| {
                let s: &PeeringSide = p.side(side);
                let (read, entry, pending) = g.read.get(&side).cloned().unwrap_or_default();
                let mut missing: Vec<String> = pending.iter().map(|c| c.kind.clone()).collect();
                missing.sort();
                missing.dedup();
                End {
                    account: s.account.clone(),
                    account_name: names.get(s.account.as_str()).map(|n| n.to_string()),
                    region: s.region.clone(),
                    vpc: s.vpc.clone(),
                    cidrs: described
                        .get(&(s.account.as_str(), s.vpc.as_str()))
                        .map(|v| v.cidrs.clone())
                        .unwrap_or_else(|| s.cidrs.iter().map(ToString::to_string).collect()),
                    read: match (read, &entry) {
                        (false, _) => EndRead::NotRead,
                        (true, Some(_)) => EndRead::Managed,
                        (true, None) => EndRead::Unmanaged,
                    },
                    entry,
                    missing,
                    pending,
                }
            };
            let (requester, accepter) = (end(Side::Requester), end(Side::Accepter));
            let drift = !requester.pending.is_empty() || !accepter.pending.is_empty();
            let state = if conflicts.contains(id) {
                State::Conflict
            } else {
                match &p.status {
                    PeeringStatus::Active if drift => State::DriftPending,
                    PeeringStatus::Active => State::Finished,
                    PeeringStatus::Rejected => State::Rejected,
                    s if s.is_gone() => State::Gone,
                    // Initiating, pending acceptance, provisioning: on its way.
                    _ => State::PendingAcceptance,
                }
            };
            let mut findings = g.findings;
            findings.dedup();
            // Both ends see an overlap: its advice once.
            let mut said = BTreeSet::new();
            findings.retain(|f| f.kind != FindingKind::WrongTool.name() || said.insert(f.message.clone()));
            PeeringRow {
                id: id.to_string(),
                state,
                status: p.status.to_string(),
                status_message: p.status_message.clone(),
                requester,
                accepter,
                findings,
            }
        })
        .collect();
    let rank = |account: &str| order.get(account).copied().unwrap_or(usize::MAX);
    peerings.sort_by(|a, b| {
        (
            rank(&a.requester.account),
            &a.requester.account,
            &a.requester.vpc,
            rank(&a.accepter.account),
            &a.id,
        )
            .cmp(&(
                rank(&b.requester.account),
                &b.requester.account,
                &b.requester.vpc,
                rank(&b.accepter.account),
                &b.id,
            ))
    });

    // Every end of every peering, and the VPCs configurations name.
    let mut vpcs: BTreeMap<(String, String), VpcNode> = BTreeMap::new();
    for p in &peerings {
        for e in p.ends() {
            let node = described
                .get(&(e.account.as_str(), e.vpc.as_str()))
                .cloned()
                .unwrap_or_else(|| VpcNode {
                    account: e.account.clone(),
                    region: e.region.clone(),
                    id: e.vpc.clone(),
                    name: None,
                    cidrs: e.cidrs.clone(),
                    read: false,
                });
            vpcs.entry((e.account.clone(), e.vpc.clone())).or_insert(node);
        }
    }
    for ((account, id), node) in &described {
        vpcs.entry((account.to_string(), id.to_string()))
            .or_insert_with(|| node.clone());
    }
    let mut vpcs: Vec<VpcNode> = vpcs.into_values().collect();
    vpcs.sort_by(|a, b| {
        (rank(&a.account), &a.account, &a.region, &a.id).cmp(&(rank(&b.account), &b.account, &b.region, &b.id))
    });

    let unreadable = accounts.iter().filter(|a| !a.readable).count();
    let pending_changes: usize = accounts.iter().map(|a| a.pending).sum();
    let mut states: BTreeMap<String, usize> = State::ALL.iter().map(|s| (s.name().to_string(), 0)).collect();
    for p in &peerings {
        *states.entry(p.state.name().to_string()).or_default() += 1;
    }
    let attention = unreadable > 0 || pending_changes > 0 || peerings.iter().any(|p| p.state.needs_attention());
    OrgReport {
        accounts_file: accounts_file.to_string(),
        summary: Summary {
            accounts: accounts.len(),
            unreadable,
            peerings: peerings.len(),
            states,
            pending_changes,
            exit_code: if attention { 2 } else { 0 },
        },
        accounts,
        vpcs,
        peerings,
    }
}
