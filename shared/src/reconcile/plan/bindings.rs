//! Which observed peering ends this pass manages, and with which entry.

use serde::Serialize;

use super::Observed;
use crate::config::{Config, PeerEntry};
use crate::finding::{Finding, FindingKind};
use crate::matching::match_entry;
use crate::model::{Peering, Side};

/// One managed peering end seen by the pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Managed {
    pub peering: String,
    pub status: String,
    pub side: Side,
    pub entry: String,
    pub peer_account: String,
    pub peer_vpc: String,
}

impl From<&Binding<'_>> for Managed {
    fn from(b: &Binding<'_>) -> Managed {
        let remote = b.peering.side(b.side.other());
        Managed {
            peering: b.peering.id.clone(),
            status: b.peering.status.to_string(),
            side: b.side,
            entry: b.entry.name.clone(),
            peer_account: remote.account.clone(),
            peer_vpc: remote.vpc.clone(),
        }
    }
}

/// One end of a managed peering, in this account, and the entry for it.
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub peering: &'a Peering,
    pub side: Side,
    pub entry: &'a PeerEntry,
}

/// Pairs each observed peering end in this account with its configuration
/// entry. Ends that match no entry are not ours; an end that the allowlist
/// knows but that matches no single entry is reported.
pub fn bindings<'a>(config: &'a Config, obs: &'a Observed) -> (Vec<Binding<'a>>, Vec<Finding>) {
    let Some(me) = &obs.me else {
        return (Vec::new(), Vec::new());
    };
    let mut out = Vec::new();
    let mut findings = Vec::new();
    for p in &obs.peerings {
        for side in p.local_sides(me) {
            let (local, remote) = (p.side(side), p.side(side.other()));
            match match_entry(config, local, remote) {
                Ok(entry) if obs.scope.contains(&entry.name) => out.push(Binding {
                    peering: p,
                    side,
                    entry,
                }),
                Ok(_) => {}
                Err(reason) => {
                    let related = config
                        .peers
                        .iter()
                        .any(|e| e.local_vpc == *local.vpc.as_str() && e.peer_account == *remote.account.as_str());
                    if related
                        && !p.status.is_gone()
                        && obs
                            .scope
                            .iter()
                            .any(|s| config.entry(s).is_some_and(|e| e.local_vpc == *local.vpc.as_str()))
                    {
                        findings.push(Finding {
                            kind: FindingKind::Unmanaged,
                            peering: Some(p.id.clone()),
                            resource: Some(local.vpc.clone()),
                            message: format!("peering {} ({}) is not managed: {reason}", p.id, p.status),
                            fix: "add or correct an entry for it, or delete the peering if it should not exist".into(),
                        });
                    }
                }
            }
        }
    }
    (out, findings)
}
