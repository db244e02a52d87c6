//! Declarative requests: an entry with `request = true` asks for a peering
//! from its local VPC to its peer VPC whenever no live one exists. No request
//! storm: after a request of ours was rejected, expired or failed, it asks
//! again only once `settings.request_retry_hours` have passed since the last
//! attempt. The record of an attempt is the request itself: the call that
//! creates it tags it with its entry and time, so there is never a request
//! without a record. The local VPC's tag caches it beyond the request (EC2
//! forgets a rejected one after a while). Each pass says why the last one did
//! not succeed. A peering we requested for an entry that no longer asks is
//! left as it is, with a finding.

use super::{Action, Planner};
use crate::finding::FindingKind;
use crate::model::Identity;
use crate::model::{Peering, PeeringStatus};
use crate::ownership::{ENTRY_TAG, REQUESTED_AT_TAG, request_tag};

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

/// The entry's last attempt, `(peering, unix seconds)`: the latest of the VPC
/// tag and the entry's requests EC2 still lists. A listed request without
/// its time (made by an earlier version) counts as made now: it is waited on
/// as long as EC2 lists it.
fn last_attempt(
    me: &Identity,
    entry: &str,
    vpc_tag: Option<(String, u64)>,
    between: &[&Peering],
    now: u64,
) -> Option<(String, u64)> {
    let listed = between
        .iter()
        .filter(|p| p.tags.get(ENTRY_TAG).map(String::as_str) == Some(entry))
        .filter(|p| p.requester.account == me.account && p.requester.region == me.region)
        .map(|p| {
            let cached = vpc_tag.as_ref().filter(|(pcx, _)| *pcx == p.id).map(|(_, at)| *at);
            let at = p.tags.get(REQUESTED_AT_TAG).and_then(|t| t.parse().ok());
            (p.id.clone(), at.or(cached).unwrap_or(now))
        });
    vpc_tag.clone().into_iter().chain(listed).max_by_key(|(_, at)| *at)
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
            let between: Vec<&Peering> = obs.peerings.iter().filter(between).collect();
            if between.iter().any(|p| is_live(p)) {
                continue;
            }
            let cached = vpc.tags.get(&request_tag(&entry.name)).and_then(|v| parse_attempt(v));
            let last = last_attempt(self.me, &entry.name, cached, &between, obs.now);
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
                        "check why the peer did not accept (its decision log, or the rejection event in this account); the request is made again at that time".into(),
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
    use crate::fixtures::{self, LOCAL_VPC, PEER, PEER_VPC};
    use crate::model::{Peering, PeeringStatus};
    use crate::ownership::{ENTRY_TAG, REQUESTED_AT_TAG};

    fn rejected(id: &str, entry: &str, at: Option<u64>) -> Peering {
        let mut tags = std::collections::BTreeMap::from([(ENTRY_TAG.to_string(), entry.to_string())]);
        if let Some(at) = at {
            tags.insert(REQUESTED_AT_TAG.into(), at.to_string());
        }
        Peering {
            id: id.into(),
            status: PeeringStatus::Rejected,
            status_message: String::new(),
            requester: fixtures::side(fixtures::ME, LOCAL_VPC, Vec::new()),
            accepter: fixtures::side(PEER, PEER_VPC, Vec::new()),
            tags,
        }
    }

    /// The request's own tags are the record; the VPC tag only a cache.
    #[test]
    fn the_last_attempt_is_the_latest_record() {
        let me = fixtures::me();
        let old = rejected("pcx-0000000000000000a", "orders", Some(100));
        let new = rejected("pcx-0000000000000000b", "orders", Some(200));
        let other_entry = rejected("pcx-0000000000000000c", "billing", Some(900));
        let all = [&old, &new, &other_entry];
        let last = |cache: Option<(&str, u64)>| {
            super::last_attempt(&me, "orders", cache.map(|(p, t)| (p.to_string(), t)), &all, 1000)
        };
        assert_eq!(last(None), Some(("pcx-0000000000000000b".into(), 200)));
        assert_eq!(
            last(Some(("pcx-0000000000000000a", 100))),
            Some(("pcx-0000000000000000b".into(), 200))
        );
        // A request EC2 forgot is remembered by the VPC tag.
        assert_eq!(
            super::last_attempt(&me, "orders", Some(("pcx-0000000000000000f".into(), 50)), &[], 1000),
            Some(("pcx-0000000000000000f".into(), 50))
        );
        // A listed request without its time waits as long as EC2 lists it.
        let untimed = rejected("pcx-0000000000000000d", "orders", None);
        assert_eq!(
            super::last_attempt(&me, "orders", None, &[&untimed], 1000),
            Some(("pcx-0000000000000000d".into(), 1000))
        );
        assert_eq!(super::last_attempt(&me, "orders", None, &[], 1000), None);
    }

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
