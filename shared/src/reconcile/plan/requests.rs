//! Declarative requests: an entry with `request = true` asks for a peering
//! from its local VPC to its peer VPC whenever no live one exists. No request
//! storm: after a request of ours was rejected, expired or failed, it asks
//! again only once `settings.request_retry_hours` have passed since the last
//! attempt, which is recorded on the local VPC (a tag outlives the peering,
//! which EC2 forgets after a while). Each pass says why the last one did not
//! succeed. A peering we requested for an entry that no longer asks is left
//! as it is, with a finding.

use super::{Action, Planner};
use crate::finding::FindingKind;
use crate::model::{Peering, PeeringStatus};
use crate::ownership::{ENTRY_TAG, request_tag};

/// A request that is under way or done: nothing to ask for.
fn is_live(p: &Peering) -> bool {
    matches!(
        p.status,
        PeeringStatus::InitiatingRequest
            | PeeringStatus::PendingAcceptance
            | PeeringStatus::Provisioning
            | PeeringStatus::Active
    )
}

/// `<pcx-id> <unix seconds>`, as the VPC tag records the last attempt.
pub fn parse_attempt(value: &str) -> Option<(String, u64)> {
    let (pcx, at) = value.split_once(' ')?;
    Some((pcx.to_string(), at.trim().parse().ok()?))
}

/// An RFC 3339 timestamp (UTC).
fn when(unix: u64) -> String {
    let t = aws_smithy_types::DateTime::from_secs(i64::try_from(unix).unwrap_or(i64::MAX));
    t.fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| format!("{unix} (Unix seconds)"))
}

impl Planner<'_> {
    pub(super) fn requests(&mut self) {
        let (config, obs, idx) = (self.config, self.obs, self.idx);
        let retry = config.settings.request_retry_hours * 3600;
        for entry in config.peers.iter().filter(|e| e.request && obs.scope.contains(&e.name)) {
            let (local, Some(peer_vpc)) = (entry.local_vpc.as_str(), entry.peer_vpc.as_ref()) else {
                continue;
            };
            let Some(vpc) = obs.vpcs.get(local) else { continue };
            let between = |p: &&Peering| {
                (p.requester.vpc == local && p.accepter.vpc == *peer_vpc.as_str())
                    || (p.accepter.vpc == local && p.requester.vpc == *peer_vpc.as_str())
            };
            if obs.peerings.iter().filter(between).any(is_live) {
                continue;
            }
            let last = vpc.tags.get(&request_tag(&entry.name)).and_then(|v| parse_attempt(v));
            let outcome = |pcx: &str| match idx.peering(pcx) {
                Some(p) if p.status_message.is_empty() => format!("{pcx} was {}", p.status),
                Some(p) => format!("{pcx} was {}: {}", p.status, p.status_message),
                None => format!("{pcx} is no longer listed by EC2 (rejected, expired or failed)"),
            };
            if let Some((pcx, at)) = &last {
                if obs.now < at + retry {
                    self.finding(
                        FindingKind::RequestWaiting,
                        Some(pcx),
                        Some(local),
                        format!(
                            "entry {:?} asks for a peering with {peer_vpc}, but its last request {} (asked at {}); it asks again after {}",
                            entry.name,
                            outcome(pcx),
                            when(*at),
                            when(at + retry)
                        ),
                        "check why the peer did not accept (its decision log, or the rejection event in this account); the request is made again at that time, or sooner if you remove the VPC tag peerlink:request:<entry>".into(),
                    );
                    continue;
                }
            }
            let reason = match &last {
                Some((pcx, _)) => format!(
                    "no live peering between {local} and {peer_vpc}; the last request {}; asking again",
                    outcome(pcx)
                ),
                None => format!(
                    "no live peering between {local} and {peer_vpc}; entry {:?} asks for one",
                    entry.name
                ),
            };
            self.act_unpeered(
                Action::CreatePeeringRequest {
                    entry: entry.name.clone(),
                    vpc: local.to_string(),
                    peer_account: entry.peer_account.to_string(),
                    peer_vpc: peer_vpc.to_string(),
                    peer_region: entry
                        .peer_region
                        .as_ref()
                        .filter(|r| r.as_str() != self.me.region)
                        .map(|r| r.to_string()),
                    at: obs.now,
                },
                reason,
            );
        }
        // Peerings we requested for an entry that no longer asks for them.
        for p in obs.peerings.iter().filter(|p| is_live(p)) {
            let Some(name) = p.tags.get(ENTRY_TAG) else { continue };
            let ours = p.requester.account == self.me.account && p.requester.region == self.me.region;
            let still_asked = config.entry(name).is_some_and(|e| e.request);
            let in_scope = obs.scope.iter().any(|s| {
                config
                    .entry(s)
                    .is_some_and(|e| e.local_vpc == *p.requester.vpc.as_str())
            });
            if ours && !still_asked && (obs.whole_account || in_scope) {
                self.finding(
                    FindingKind::NoLongerRequested,
                    Some(&p.id),
                    Some(&p.requester.vpc),
                    format!(
                        "peering {} ({}) was requested by peerlink for entry {name:?}, which no longer asks for it; it is left as it is",
                        p.id, p.status
                    ),
                    "delete the peering if it should go (peerlink never deletes a live peering because the configuration stopped asking)".into(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn timestamps_are_iso_8601() {
        assert_eq!(super::when(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::when(1_795_651_200), "2026-11-26T00:00:00Z");
        assert_eq!(
            super::parse_attempt("pcx-0123abcd 1795651200"),
            Some(("pcx-0123abcd".into(), 1_795_651_200))
        );
        assert_eq!(super::parse_attempt("garbage"), None);
    }
}
