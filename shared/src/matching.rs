//! Which configuration entry a peering end belongs to, and when two CIDR
//! blocks overlap. Used by the accepter's decision, by observe and the plan
//! (which peerings are managed), and by the doctor.

use ipnet::IpNet;

use crate::config::{Config, PeerEntry};
use crate::model::PeeringSide;

/// Whether two CIDR blocks share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

/// Why no single entry matches a peering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoMatch {
    #[error("peer account {account} is not in the allowlist")]
    UnknownAccount { account: String },
    #[error(
        "peer account {account} is listed, but not for local VPC {local_vpc} (its entries {} name {})",
        quoted(.entries),
        .local_vpcs.join(", ")
    )]
    OtherLocalVpc {
        account: String,
        local_vpc: String,
        entries: Vec<String>,
        local_vpcs: Vec<String>,
    },
    #[error("peer VPC {vpc} of account {account} is not listed (allowed: {})", .allowed.join(", "))]
    UnlistedVpc {
        vpc: String,
        account: String,
        allowed: Vec<String>,
    },
    #[error("peer region {region} is not allowed for {vpc} (allowed: {})", .allowed.join(", "))]
    WrongRegion {
        region: String,
        vpc: String,
        allowed: Vec<String>,
    },
    #[error(
        "the request matches several entries ({}); make them distinct so exactly one applies",
        quoted(.entries)
    )]
    Ambiguous { entries: Vec<String> },
}

fn quoted(names: &[String]) -> String {
    names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
}

fn names(entries: &[&PeerEntry]) -> Vec<String> {
    entries.iter().map(|e| e.name.clone()).collect()
}

/// Finds the entry for a peering, or says why there is none. `local` is our
/// end of the peering, `remote` the peer's.
pub fn match_entry<'c>(
    config: &'c Config,
    local: &PeeringSide,
    remote: &PeeringSide,
) -> Result<&'c PeerEntry, NoMatch> {
    let by_account: Vec<&PeerEntry> = config
        .peers
        .iter()
        .filter(|e| e.peer_account == *remote.account.as_str())
        .collect();
    if by_account.is_empty() {
        return Err(NoMatch::UnknownAccount {
            account: remote.account.clone(),
        });
    }
    let by_local: Vec<&PeerEntry> = by_account
        .iter()
        .copied()
        .filter(|e| e.local_vpc == *local.vpc.as_str())
        .collect();
    if by_local.is_empty() {
        return Err(NoMatch::OtherLocalVpc {
            account: remote.account.clone(),
            local_vpc: local.vpc.clone(),
            entries: names(&by_account),
            local_vpcs: by_account.iter().map(|e| e.local_vpc.to_string()).collect(),
        });
    }
    let by_vpc: Vec<&PeerEntry> = by_local
        .iter()
        .copied()
        .filter(|e| e.peer_vpc.as_ref().is_none_or(|v| *v == *remote.vpc.as_str()))
        .collect();
    if by_vpc.is_empty() {
        return Err(NoMatch::UnlistedVpc {
            vpc: remote.vpc.clone(),
            account: remote.account.clone(),
            allowed: by_local
                .iter()
                .filter_map(|e| e.peer_vpc.as_ref().map(|v| v.to_string()))
                .collect(),
        });
    }
    let by_region: Vec<&PeerEntry> = by_vpc
        .iter()
        .copied()
        .filter(|e| e.expected_peer_region(&local.region) == remote.region)
        .collect();
    // The most specific entry wins: naming the peer VPC beats not naming it,
    // an explicit region beats the default. Equally specific entries that can
    // match the same request are refused when the configuration loads.
    let specificity = |e: &PeerEntry| 2 * usize::from(e.peer_vpc.is_some()) + usize::from(e.peer_region.is_some());
    let best = by_region.iter().map(|e| specificity(e)).max().unwrap_or(0);
    let by_region: Vec<&PeerEntry> = by_region.into_iter().filter(|e| specificity(e) == best).collect();
    match by_region.as_slice() {
        [] => Err(NoMatch::WrongRegion {
            region: remote.region.clone(),
            vpc: remote.vpc.clone(),
            allowed: by_vpc
                .iter()
                .map(|e| e.expected_peer_region(&local.region).to_string())
                .collect(),
        }),
        [one] => Ok(one),
        several => Err(NoMatch::Ambiguous {
            entries: names(several),
        }),
    }
}
