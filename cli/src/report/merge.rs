//! Merging: every account's view into one row per peering (the requester's
//! and the accepter's reports side by side), one per VPC, and the summary.
//! Pure and deterministic: the same reads give the same report.
//!
//! One step per concern: [`gather`] collects what each account says about
//! the peerings it lists (and about itself, in its [`account_row`]),
//! [`described`] the VPCs as their own accounts read them; then
//! [`peering_row`] merges a peering's ends and gives its [`state`],
//! [`vpc_nodes`] lists what the picture draws and [`summary`] counts.
//! [`merge`] puts the steps together.

use std::collections::{BTreeMap, BTreeSet};

use peerlink::exposure::Exposure;
use peerlink::finding::{Finding, FindingKind};
use peerlink::model::{Identity, Peering, PeeringSide, PeeringStatus, Side};
use peerlink::reconcile::{ActionOutcome, Report};

use super::model::{
    AccountRow, End, EndRead, FindingRow, OrgReport, OutstandingChange, PeeringRow, State, Summary, VpcNode,
};
use super::read::{AccountRead, Seen};

/// Merges the reads (in the accounts file's order) into the report.
pub fn merge(accounts_file: &str, reads: &[AccountRead]) -> OrgReport {
    let mes: Vec<Identity> = reads
        .iter()
        .map(|r| Identity {
            account: r.account.clone(),
            region: r.region.clone(),
        })
        .collect();
    let org = Org::new(reads);
    let described = described(reads, &mes);
    let Views {
        peerings: gathered,
        accounts,
        conflicts,
    } = gather(reads, &mes);
    let mut peerings: Vec<PeeringRow> = gathered
        .into_iter()
        .map(|(id, g)| peering_row(id, g, conflicts.contains(id), &org, &described))
        .collect();
    peerings.sort_by(|a, b| org.peering_order(a).cmp(&org.peering_order(b)));
    let vpcs = vpc_nodes(&peerings, &described, &org);
    OrgReport {
        accounts_file: accounts_file.to_string(),
        summary: summary(&accounts, &peerings),
        accounts,
        vpcs,
        peerings,
    }
}

/// The accounts file's names and order, by account.
struct Org<'a> {
    names: BTreeMap<&'a str, &'a str>,
    order: BTreeMap<&'a str, usize>,
}

impl<'a> Org<'a> {
    fn new(reads: &'a [AccountRead]) -> Self {
        Org {
            names: reads
                .iter()
                .filter_map(|r| r.name.as_deref().map(|n| (r.account.as_str(), n)))
                .collect(),
            // An account's first row: its place in the file.
            order: reads
                .iter()
                .enumerate()
                .rev()
                .map(|(i, r)| (r.account.as_str(), i))
                .collect(),
        }
    }

    /// Where `account` is in the file (accounts not in it last).
    fn rank(&self, account: &str) -> usize {
        self.order.get(account).copied().unwrap_or(usize::MAX)
    }

    /// Peerings by requester (in the file's order), its VPC, then accepter.
    fn peering_order<'p>(&self, p: &'p PeeringRow) -> (usize, &'p str, &'p str, usize, &'p str) {
        (
            self.rank(&p.requester.account),
            &p.requester.account,
            &p.requester.vpc,
            self.rank(&p.accepter.account),
            &p.id,
        )
    }

    /// VPCs by account (in the file's order), region and id.
    fn vpc_order<'v>(&self, v: &'v VpcNode) -> (usize, &'v str, &'v str, &'v str) {
        (self.rank(&v.account), &v.account, &v.region, &v.id)
    }
}

/// VPCs as their own accounts read them (current blocks and names), by
/// account and id.
type Described<'a> = BTreeMap<(&'a str, &'a str), VpcNode>;

/// What the reads say about each peering and each account.
#[derive(Default)]
struct Views<'a> {
    peerings: BTreeMap<&'a str, Gathered<'a>>,
    accounts: Vec<AccountRow>,
    /// Peerings a finding says conflict (overlapping blocks, routes elsewhere).
    conflicts: BTreeSet<&'a str>,
}

/// What each read contributes to one peering.
#[derive(Default)]
struct Gathered<'a> {
    /// The views of it, in the file's order.
    views: Vec<(&'a Identity, &'a Peering)>,
    ends: BTreeMap<Side, EndSeen>,
    findings: Vec<FindingRow>,
}

/// What the reads say about one end of a peering.
#[derive(Default, Clone)]
struct EndSeen {
    /// Its account was read in its region.
    read: bool,
    /// The configuration entry managing it.
    entry: Option<String>,
    outstanding: Vec<OutstandingChange>,
    exposure: Option<Exposure>,
}

/// Every account's view, in the file's order.
fn gather<'a>(reads: &'a [AccountRead], mes: &'a [Identity]) -> Views<'a> {
    let mut views = Views::default();
    for (read, me) in reads.iter().zip(mes) {
        let mut row = account_row(read);
        if let Ok(seen) = &read.outcome {
            row.peerings = seen.peerings.len();
            views.see(me, seen);
            if let Some(report) = &seen.report {
                views.attribute(&mut row, me, seen, report);
            }
            views.findings(&mut row, seen);
        }
        views.accounts.push(row);
    }
    views
}

impl<'a> Views<'a> {
    /// The peerings an account lists, and which of their ends are its own.
    fn see(&mut self, me: &'a Identity, seen: &'a Seen) {
        for p in &seen.peerings {
            let g = self.peerings.entry(p.id.as_str()).or_default();
            g.views.push((me, p));
            for side in p.local_sides(me) {
                g.ends.entry(side).or_default().read = true;
            }
        }
    }

    /// An account's plan: the entries managing its ends and its outstanding
    /// changes, each on the peering it lists that they are about (on the
    /// account's own row when none).
    fn attribute(&mut self, row: &mut AccountRow, me: &Identity, seen: &'a Seen, report: &Report) {
        let listed: BTreeMap<&'a str, &'a Peering> = seen.peerings.iter().map(|p| (p.id.as_str(), p)).collect();
        for m in &report.managed {
            if let Some(g) = self.peerings.get_mut(m.peering.as_str()) {
                g.ends.entry(m.side).or_default().entry = Some(m.entry.clone());
            }
        }
        for x in &seen.exposure {
            if let Some(g) = self.peerings.get_mut(x.peering.as_str()) {
                g.ends.entry(x.side).or_default().exposure = Some(x.clone());
            }
        }
        row.outstanding = report.outstanding();
        for a in report.actions.iter().filter(|a| !a.result.succeeded()) {
            match a.planned.peering.as_deref().and_then(|id| listed.get(id)) {
                // On this account's ends of it (both, for a peering between
                // two of its VPCs in one region).
                Some(p) => {
                    let g = self
                        .peerings
                        .get_mut(p.id.as_str())
                        .expect("listed peerings are gathered");
                    for side in p.local_sides(me) {
                        g.ends.entry(side).or_default().outstanding.push(outstanding(a));
                    }
                }
                None => row.other_outstanding.push(outstanding(a)),
            }
        }
    }

    /// An account's findings and advice, each on the peering it lists that
    /// they are about (on the account's own row when none).
    fn findings(&mut self, row: &mut AccountRow, seen: &'a Seen) {
        let listed: BTreeMap<&'a str, &'a Peering> = seen.peerings.iter().map(|p| (p.id.as_str(), p)).collect();
        for f in seen.report.iter().flat_map(|r| &r.findings).chain(&seen.advice) {
            match f.peering.as_deref().and_then(|id| listed.get_key_value(id)) {
                Some((id, _)) => {
                    if matches!(f.kind, FindingKind::OverlapConflict | FindingKind::RouteConflict) {
                        self.conflicts.insert(id);
                    }
                    let g = self.peerings.get_mut(id).expect("listed peerings are gathered");
                    g.findings.push(finding(&row.account, f));
                }
                None => row.findings.push(finding(&row.account, f)),
            }
        }
    }
}

/// What an account says about itself (counts filled in by [`gather`]).
fn account_row(read: &AccountRead) -> AccountRow {
    AccountRow {
        account: read.account.clone(),
        name: read.name.clone(),
        region: read.region.clone(),
        role: read.role_arn.clone(),
        config: read.config.as_ref().map(|p| p.display().to_string()),
        readable: read.outcome.is_ok(),
        error: read.outcome.as_ref().err().cloned(),
        peerings: 0,
        outstanding: 0,
        other_outstanding: Vec::new(),
        findings: Vec::new(),
    }
}

fn outstanding(a: &ActionOutcome) -> OutstandingChange {
    OutstandingChange {
        kind: a.planned.action.kind().to_string(),
        resource: a.planned.action.resource().to_string(),
        change: a.planned.action.to_string(),
        reason: a.planned.reason.clone(),
    }
}

fn finding(account: &str, f: &Finding) -> FindingRow {
    FindingRow {
        account: account.to_string(),
        kind: f.kind.name().to_string(),
        resource: f.resource.clone(),
        message: f.message.clone(),
        fix: f.fix.clone(),
    }
}

fn described<'a>(reads: &'a [AccountRead], mes: &'a [Identity]) -> Described<'a> {
    let mut described = Described::new();
    for (read, me) in reads.iter().zip(mes) {
        let Ok(seen) = &read.outcome else { continue };
        for v in &seen.vpcs {
            let node = VpcNode {
                account: me.account.clone(),
                region: me.region.clone(),
                id: v.id.clone(),
                name: v.tags.get("Name").cloned(),
                cidrs: v.cidrs.iter().map(ToString::to_string).collect(),
                read: true,
            };
            described.insert((me.account.as_str(), v.id.as_str()), node);
        }
    }
    described
}

/// One peering, both ends merged, from the requester's own view when we
/// have it (else the first).
fn peering_row(id: &str, g: Gathered, conflict: bool, org: &Org, described: &Described) -> PeeringRow {
    let (_, p) = g
        .views
        .iter()
        .find(|(me, p)| p.local_sides(me).contains(&Side::Requester))
        .or(g.views.first())
        .copied()
        .expect("a gathered peering has a view");
    let end = |side: Side| {
        end(
            p.side(side),
            g.ends.get(&side).cloned().unwrap_or_default(),
            org,
            described,
        )
    };
    let (requester, accepter) = (end(Side::Requester), end(Side::Accepter));
    let drift = !requester.outstanding.is_empty() || !accepter.outstanding.is_empty();
    let mut findings = g.findings;
    findings.dedup();
    // Both ends see an overlap: its advice once.
    let mut said = BTreeSet::new();
    findings.retain(|f| f.kind != FindingKind::WrongTool.name() || said.insert(f.message.clone()));
    PeeringRow {
        id: id.to_string(),
        state: state(&p.status, conflict, drift),
        status: p.status.to_string(),
        status_message: p.status_message.clone(),
        requester,
        accepter,
        findings,
    }
}

/// One end: as its peering describes it, with the blocks its own account
/// reads (when it does) and what the reads say about it.
fn end(s: &PeeringSide, seen: EndSeen, org: &Org, described: &Described) -> End {
    let mut missing: Vec<String> = seen.outstanding.iter().map(|c| c.kind.clone()).collect();
    missing.sort();
    missing.dedup();
    End {
        account: s.account.clone(),
        account_name: org.names.get(s.account.as_str()).map(|n| n.to_string()),
        region: s.region.clone(),
        vpc: s.vpc.clone(),
        cidrs: described
            .get(&(s.account.as_str(), s.vpc.as_str()))
            .map(|v| v.cidrs.clone())
            .unwrap_or_else(|| s.cidrs.iter().map(ToString::to_string).collect()),
        read: match (seen.read, &seen.entry) {
            (false, _) => EndRead::NotRead,
            (true, Some(_)) => EndRead::Managed,
            (true, None) => EndRead::Unmanaged,
        },
        entry: seen.entry,
        missing,
        outstanding: seen.outstanding,
        exposure: seen.exposure,
    }
}

fn state(status: &PeeringStatus, conflict: bool, drift: bool) -> State {
    if conflict {
        return State::Conflict;
    }
    match status {
        PeeringStatus::Active if drift => State::DriftPending,
        PeeringStatus::Active => State::Finished,
        PeeringStatus::Rejected => State::Rejected,
        s if s.is_gone() => State::Gone,
        // Initiating, pending acceptance, provisioning: on its way.
        _ => State::PendingAcceptance,
    }
}

/// Every end of every peering, and the VPCs configurations name, in the
/// file's order.
fn vpc_nodes(peerings: &[PeeringRow], described: &Described, org: &Org) -> Vec<VpcNode> {
    let mut vpcs: BTreeMap<(String, String), VpcNode> = BTreeMap::new();
    for e in peerings.iter().flat_map(PeeringRow::ends) {
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
    for ((account, id), node) in described {
        vpcs.entry((account.to_string(), id.to_string()))
            .or_insert_with(|| node.clone());
    }
    let mut vpcs: Vec<VpcNode> = vpcs.into_values().collect();
    vpcs.sort_by(|a, b| org.vpc_order(a).cmp(&org.vpc_order(b)));
    vpcs
}

fn summary(accounts: &[AccountRow], peerings: &[PeeringRow]) -> Summary {
    let unreadable = accounts.iter().filter(|a| !a.readable).count();
    let outstanding_changes: usize = accounts.iter().map(|a| a.outstanding).sum();
    let mut states: BTreeMap<String, usize> = State::ALL.iter().map(|s| (s.name().to_string(), 0)).collect();
    for p in peerings {
        *states.entry(p.state.name().to_string()).or_default() += 1;
    }
    let attention = unreadable > 0 || outstanding_changes > 0 || peerings.iter().any(|p| p.state.needs_attention());
    Summary {
        accounts: accounts.len(),
        unreadable,
        peerings: peerings.len(),
        states,
        outstanding_changes,
        exit_code: if attention { 2 } else { 0 },
    }
}
