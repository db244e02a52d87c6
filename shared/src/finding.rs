//! What peerlink reports and does not change: the plan's findings (a
//! conflict it leaves alone, a quota, a missing resource) and the doctor's
//! (network ACLs, DNS attributes), each with a fix in plain words.

use serde::Serialize;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, strum::IntoStaticStr, strum::EnumIter,
)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum FindingKind {
    /// A route to a peer CIDR points elsewhere; left alone.
    RouteConflict,
    RouteQuota,
    RuleQuota,
    /// The peer VPC has a block outside the allowed ranges (or overlapping ours).
    CidrNotAllowed,
    /// A peer block overlaps a block of another peering of the same local VPC:
    /// neither is routed (longest-prefix match would send one peer's
    /// traffic to the other).
    OverlapConflict,
    /// A route to a disallowed block goes through the peering anyway.
    UnexpectedRoute,
    DnsAttributeOff,
    /// The secret uses the AWS-managed key: no cross-account access possible.
    AwsManagedKey,
    KeyMismatch,
    MissingResource,
    /// The peering waits for something (acceptance) before it can be finished.
    NotActive,
    /// A peering matches no entry, or several.
    Unmanaged,
    /// A policy grants to everyone.
    PublicPolicy,
    /// With our statement the policy would pass AWS's size limit: not written.
    PolicyTooLarge,
    /// An entry asks for a peering, but its last request did not succeed and
    /// the retry interval has not passed.
    RequestWaiting,
    /// A peering peerlink requested for an entry that no longer asks for it:
    /// left as it is.
    NoLongerRequested,
    /// A network ACL stops the service port or the return traffic.
    NetworkAclBlocks,
    /// A security group references a group across an inter-region peering.
    CrossRegionGroupReference,
    /// A peering peerlink did not accept (the console, another tool) that
    /// fails the checks peerlink makes before accepting.
    AcceptedOutsidePeerlink,
    /// The role may not read or write a resource the pass needs (the stack
    /// no longer covers it, or it belongs to another account): that resource
    /// is left as it is, everything else is reconciled.
    NotPermitted,
    /// A path an entry declares (`verify`) is blocked on this account's side:
    /// the hop that stops it, and the fix.
    PathBlocked,
    /// Peering is the wrong tool here (overlapping ranges, a transitive
    /// route, a VPC near its quota of peerings): the fix names the right one.
    WrongTool,
    /// The invocation's time ran out before every write could start (EC2
    /// admits each mutating action 5 times a second): the rest is left to
    /// the pass's continuation, or the next scheduled one.
    WorkLeft,
    /// A rule of the user's references a security group through a peering
    /// that is gone (or a group that is gone): EC2 keeps it, stale; it lets
    /// nothing through and counts against the quota. (peerlink's own are
    /// removed with the peering.)
    StaleReference,
}

impl FindingKind {
    /// The kebab-case name used in reports.
    pub fn name(self) -> &'static str {
        self.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub kind: FindingKind,
    pub peering: Option<String>,
    pub resource: Option<String>,
    pub message: String,
    /// What to do about it, in plain words.
    pub fix: String,
}

#[cfg(test)]
mod tests {
    use super::FindingKind;
    use strum::IntoEnumIterator;

    /// Reports show a kind by its name; JSON carries it by serde: one name.
    #[test]
    fn every_kind_has_one_name() {
        for kind in FindingKind::iter() {
            assert_eq!(serde_json::to_value(kind).unwrap(), kind.name(), "{kind:?}");
        }
    }
}
