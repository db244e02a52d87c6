//! What the report says, as data: `--json` prints it, the table and the
//! HTML page are drawn from it.

use std::collections::BTreeMap;

use peerlink::exposure::Exposure;
use serde::Serialize;

/// The whole organisation, merged: one row per account and region read, one
/// per VPC drawn, one per peering (both of its ends together).
#[derive(Debug, Clone, Serialize)]
pub struct OrgReport {
    /// The accounts file, as given.
    pub accounts_file: String,
    pub accounts: Vec<AccountRow>,
    pub vpcs: Vec<VpcNode>,
    pub peerings: Vec<PeeringRow>,
    pub summary: Summary,
}

/// One account in one region, as listed in the accounts file.
#[derive(Debug, Clone, Serialize)]
pub struct AccountRow {
    pub account: String,
    pub name: Option<String>,
    pub region: String,
    pub role: String,
    /// The configuration compared against (drift), when the file gives one.
    pub config: Option<String>,
    pub readable: bool,
    /// Why it could not be read.
    pub error: Option<String>,
    /// Peerings it sees.
    pub peerings: usize,
    /// Changes its configuration wants that are not made (all peerings).
    pub outstanding: usize,
    /// Pending changes tied to no peering we list (a group to tag, leftovers
    /// of a peering EC2 no longer shows).
    pub other_outstanding: Vec<OutstandingChange>,
    /// Findings tied to no peering we list (a configured VPC that does not exist…).
    pub findings: Vec<FindingRow>,
}

/// A VPC drawn in the picture: an end of a peering, or a VPC a configuration names.
#[derive(Debug, Clone, Serialize)]
pub struct VpcNode {
    pub account: String,
    pub region: String,
    pub id: String,
    /// Its `Name` tag, when its account was read.
    pub name: Option<String>,
    pub cidrs: Vec<String>,
    /// Its account is in the accounts file and was read in its region.
    pub read: bool,
}

/// The state of a peering, worst first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, strum::IntoStaticStr)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum State {
    /// A finding says its blocks overlap another peering's, or a route to a
    /// peer block points elsewhere.
    Conflict,
    /// Active, and a side we read has changes outstanding (drift, or not finished yet).
    DriftPending,
    /// Waiting for the accepter (or for EC2 to provision it).
    PendingAcceptance,
    Rejected,
    /// Failed, expired, deleting or deleted.
    Gone,
    /// Active, nothing outstanding on the sides we read.
    Finished,
}

impl State {
    pub const ALL: [State; 6] = [
        State::Finished,
        State::DriftPending,
        State::PendingAcceptance,
        State::Conflict,
        State::Rejected,
        State::Gone,
    ];

    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Whether a peering in this state needs someone (exit code 2).
    pub fn needs_attention(self) -> bool {
        matches!(self, State::Conflict | State::DriftPending | State::PendingAcceptance)
    }
}

/// One peering, both ends merged.
#[derive(Debug, Clone, Serialize)]
pub struct PeeringRow {
    pub id: String,
    pub state: State,
    /// EC2's status code and message.
    pub status: String,
    pub status_message: String,
    pub requester: End,
    pub accepter: End,
    /// Both sides' findings on it, each with its fix.
    pub findings: Vec<FindingRow>,
}

impl PeeringRow {
    pub fn ends(&self) -> [&End; 2] {
        [&self.requester, &self.accepter]
    }
}

/// How we know an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EndRead {
    /// Read, and an entry of its account's configuration manages it.
    Managed,
    /// Read; no configuration entry manages it (or none was given).
    Unmanaged,
    /// Its account is not in the file, or could not be read there: only the
    /// other end's description of it.
    NotRead,
}

/// One end of a peering.
#[derive(Debug, Clone, Serialize)]
pub struct End {
    pub account: String,
    pub account_name: Option<String>,
    pub region: String,
    pub vpc: String,
    pub cidrs: Vec<String>,
    pub read: EndRead,
    /// The configuration entry managing it.
    pub entry: Option<String>,
    /// Kinds of the changes outstanding on this side ("create-route", …), each once.
    pub missing: Vec<String>,
    pub outstanding: Vec<OutstandingChange>,
    /// What this end opens to the peer and its routes per table, as its
    /// own account's plan sees them (`None` when not managed or not read).
    pub exposure: Option<Exposure>,
}

/// A change a side's configuration wants and is not made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutstandingChange {
    pub kind: String,
    pub resource: String,
    pub change: String,
    pub reason: String,
}

/// A finding, with the account that reported it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FindingRow {
    pub account: String,
    pub kind: String,
    pub resource: Option<String>,
    pub message: String,
    pub fix: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Account-region rows, and how many could not be read.
    pub accounts: usize,
    pub unreadable: usize,
    pub peerings: usize,
    /// Peerings per state (every state listed).
    pub states: BTreeMap<String, usize>,
    /// Pending changes in every account read.
    pub outstanding_changes: usize,
    /// 0: every peering finished (or rejected/gone) and nothing outstanding;
    /// 2: something outstanding, drifted or conflicting, or an account unreadable.
    pub exit_code: u8,
}

impl Summary {
    /// "n state" for every state that has peerings, in the order of [`State::ALL`].
    pub fn state_counts(&self) -> Vec<String> {
        State::ALL
            .iter()
            .filter_map(|st| {
                let n = self.states.get(st.name()).copied().unwrap_or(0);
                (n > 0).then(|| format!("{n} {}", st.name()))
            })
            .collect()
    }
}
