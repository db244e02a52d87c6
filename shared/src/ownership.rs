//! What carries peerlink's mark. We remove or change only what carries it, and
//! we do remove what carries it and is no longer wanted. Marks are matched
//! exactly: a description or Sid that merely contains ours (a user's copy,
//! `peerlink:pcx-… (copy)`, `PeerlinkReadPcx1`) is the user's.
//!
//! - a security-group rule: its description is `peerlink:<pcx-id>`;
//! - a policy statement: its Sid is [`READ_SID`] or [`DECRYPT_SID`] (or the
//!   per-peering Sids of earlier versions, `PeerlinkReadPcx<hex>`, which are
//!   ours to remove);
//! - a security group or secret we wrote to: the tag [`MANAGED_TAG`], so we
//!   find it again when the configuration no longer names it;
//! - a peering request we made: the tags [`MANAGED_TAG`], [`ENTRY_TAG`] and
//!   [`REQUESTED_AT_TAG`], set by the call that creates it;
//! - the last request an entry made: a tag `peerlink:request:<entry>` on the
//!   local VPC ([`request_tag`]), a cache that outlives the request;
//! - a request peerlink accepted: the tag [`ACCEPTED_TAG`] (this account's
//!   own tag on the peering; EC2 keeps a peering's tags per account);
//! - a request announced as awaiting a human's approval: [`APPROVAL_TAG`];
//! - on a peering, for each side in this account (tags on a peering are
//!   seen only by the account that wrote them): the route tables peerlink
//!   routes it in ([`routes_tag`]), and DNS resolution peerlink turned on
//!   ([`dns_tag`]), so both can be taken back once no entry asks for them.

use crate::ids::PeeringId;
use crate::model::Side;

/// Tag on every resource peerlink writes to (value `true`).
pub const MANAGED_TAG: &str = "peerlink:managed";
/// Tag on a peering request peerlink made: the entry that asked for it.
pub const ENTRY_TAG: &str = "peerlink:entry";
/// Tag on a peering request peerlink made: when (Unix seconds). EC2 records
/// no creation time (`ExpirationTime` is only given while pending), and the
/// tag is set by the creating call itself, so a request never exists
/// without it.
pub const REQUESTED_AT_TAG: &str = "peerlink:requested-at";
/// Tag on a peering peerlink accepted. `checked`: accepted, and checked
/// for an overlapping request accepted at the same time. `pending-check
/// <pcx-id>…`: written before accepting, with the requests to the same VPC
/// that were pending then (the ones that could be accepted at the same
/// time); an invocation that dies before its check leaves it, and the next
/// sweep checks in its place.
pub const ACCEPTED_TAG: &str = "peerlink:accepted";
/// Tag on a request announced as waiting for a human (Unix seconds): it is
/// announced once.
pub const APPROVAL_TAG: &str = "peerlink:approval-requested";

/// The statement in a secret's resource policy that lets the peers read it.
pub const READ_SID: &str = "PeerlinkRead";
/// The statement in a key policy that lets the peers decrypt those secrets.
pub const DECRYPT_SID: &str = "PeerlinkDecrypt";

/// The description that marks a security-group rule as ours, for one peering.
pub fn rule_marker(peering: &str) -> String {
    format!("peerlink:{peering}")
}

/// The peering a rule description marks, if it is exactly one of our markers.
pub fn marked_peering(description: Option<&str>) -> Option<&str> {
    let id = description?.strip_prefix("peerlink:")?;
    PeeringId::try_from(id.to_string()).is_ok().then_some(id)
}

/// Whether a statement's Sid is ours: exactly one of our Sids, or a
/// per-peering Sid of an earlier version (`PeerlinkReadPcx` + a peering id's hex).
pub fn is_our_sid(sid: &str) -> bool {
    if sid == READ_SID || sid == DECRYPT_SID {
        return true;
    }
    let hex = sid
        .strip_prefix("PeerlinkReadPcx")
        .or_else(|| sid.strip_prefix("PeerlinkDecryptPcx"));
    hex.is_some_and(|h| PeeringId::try_from(format!("pcx-{h}")).is_ok())
}

/// The peering tag recording the route tables peerlink routes this side of
/// it in, as the entry selected them: [`ALL_TABLES`], [`NO_TABLES`], the
/// table ids separated by spaces, or [`TOO_MANY_TABLES`].
pub fn routes_tag(side: Side) -> String {
    format!("peerlink:routes:{side}")
}

/// [`routes_tag`]: every route table of the local VPC.
pub const ALL_TABLES: &str = "*";
/// [`routes_tag`]: no table (nothing to take back).
pub const NO_TABLES: &str = "none";
/// [`routes_tag`]: more tables than a tag value can list; nothing is taken
/// back without knowing where.
pub const TOO_MANY_TABLES: &str = "?";

/// The peering tag saying peerlink turned `AllowDnsResolutionFromRemoteVpc`
/// on for this side ([`DNS_ON`]); [`DNS_OFF`] once it turned it off again.
pub fn dns_tag(side: Side) -> String {
    format!("peerlink:dns:{side}")
}

pub const DNS_ON: &str = "on";
pub const DNS_OFF: &str = "off";

/// The VPC tag recording an entry's last request: `<pcx-id> <unix seconds>`.
pub fn request_tag(entry: &str) -> String {
    format!("peerlink:request:{entry}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_matched_exactly() {
        let pcx = "pcx-0123456789abcdef0";
        assert_eq!(marked_peering(Some(&rule_marker(pcx))), Some(pcx));
        for users in [
            format!("peerlink:{pcx} (copy)"),
            format!("copy of peerlink:{pcx}"),
            "peerlink:pcx-1".to_string(),
            "peerlink:".to_string(),
            format!("Peerlink:{pcx}"),
        ] {
            assert_eq!(marked_peering(Some(&users)), None, "{users}");
        }
        assert!(is_our_sid("PeerlinkRead") && is_our_sid("PeerlinkDecrypt"));
        assert!(is_our_sid("PeerlinkReadPcx0123456789abcdef0") && is_our_sid("PeerlinkDecryptPcx0123abcd"));
        for users in [
            "PeerlinkReadPcx1",
            "PeerlinkReadAll",
            "PeerlinkRead2",
            "peerlinkread",
            "UserRead",
        ] {
            assert!(!is_our_sid(users), "{users}");
        }
    }
}
