//! The writes a plan can hold, and how each is shown.

use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::model::{SgRule, Side, VpcDnsAttribute};
use crate::reconcile::policy::{self, PolicyChange};

/// One write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "kebab-case")]
pub enum Action {
    CreateRoute {
        route_table: String,
        destination: IpNet,
        peering: String,
    },
    ReplaceRoute {
        route_table: String,
        destination: IpNet,
        peering: String,
        was: String,
    },
    DeleteRoute {
        route_table: String,
        destination: IpNet,
        peering: String,
    },
    AuthorizeRule {
        group: String,
        rule: SgRule,
        description: String,
    },
    RevokeRule {
        group: String,
        rule: SgRule,
    },
    /// Gives an existing rule our marker for another peering.
    RemarkRule {
        group: String,
        rule: SgRule,
        description: String,
    },
    /// Tags a security group we write rules to.
    TagGroup {
        group: String,
    },
    EnablePeeringDns {
        peering: String,
        side: Side,
    },
    /// Turns off what peerlink turned on, then records that on the peering
    /// (in that order: a failed turn-off stays peerlink's to retry).
    DisablePeeringDns {
        peering: String,
        side: Side,
    },
    /// Sets peerlink's tags on a peering (what it routes and turned on there).
    TagPeering {
        peering: String,
        tags: Vec<(String, String)>,
    },
    EnableVpcAttribute {
        vpc: String,
        attribute: VpcDnsAttribute,
    },
    MergeSecretPolicy {
        secret: String,
        change: PolicyChange,
    },
    MergeKeyPolicy {
        key: String,
        change: PolicyChange,
    },
    /// Tags a secret whose policy we write to.
    TagSecret {
        secret: String,
    },
    /// Tags a customer-managed key whose policy we write to.
    TagKey {
        key: String,
    },
    /// Requests a peering for an entry with `request = true`, and records
    /// the attempt (a tag on the local VPC, `at` in Unix seconds).
    CreatePeeringRequest {
        entry: String,
        vpc: String,
        peer_account: String,
        peer_vpc: String,
        peer_region: Option<String>,
        at: u64,
    },
}

impl Action {
    /// The AWS resource written.
    pub fn resource(&self) -> &str {
        match self {
            Action::CreateRoute { route_table, .. }
            | Action::ReplaceRoute { route_table, .. }
            | Action::DeleteRoute { route_table, .. } => route_table,
            Action::AuthorizeRule { group, .. }
            | Action::RevokeRule { group, .. }
            | Action::RemarkRule { group, .. }
            | Action::TagGroup { group } => group,
            Action::EnablePeeringDns { peering, .. }
            | Action::DisablePeeringDns { peering, .. }
            | Action::TagPeering { peering, .. } => peering,
            Action::EnableVpcAttribute { vpc, .. } | Action::CreatePeeringRequest { vpc, .. } => vpc,
            Action::MergeSecretPolicy { secret, .. } | Action::TagSecret { secret } => secret,
            Action::MergeKeyPolicy { key, .. } | Action::TagKey { key } => key,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Action::CreateRoute { .. } => "create-route",
            Action::ReplaceRoute { .. } => "replace-route",
            Action::DeleteRoute { .. } => "delete-route",
            Action::AuthorizeRule { .. } => "authorize-rule",
            Action::RevokeRule { .. } => "revoke-rule",
            Action::RemarkRule { .. } => "remark-rule",
            Action::TagGroup { .. } => "tag-group",
            Action::TagSecret { .. } => "tag-secret",
            Action::TagKey { .. } => "tag-key",
            Action::CreatePeeringRequest { .. } => "create-peering-request",
            Action::EnablePeeringDns { .. } => "enable-peering-dns",
            Action::DisablePeeringDns { .. } => "disable-peering-dns",
            Action::TagPeering { .. } => "tag-peering",
            Action::EnableVpcAttribute { .. } => "enable-vpc-attribute",
            Action::MergeSecretPolicy { .. } => "merge-secret-policy",
            Action::MergeKeyPolicy { .. } => "merge-key-policy",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sids = |c: &PolicyChange| {
            let up: Vec<&str> = c.upsert.iter().filter_map(policy::sid_of).collect();
            let mut parts = Vec::new();
            if !up.is_empty() {
                parts.push(format!("put {}", up.join(",")));
            }
            if !c.remove.is_empty() {
                parts.push(format!("remove {}", c.remove.join(",")));
            }
            parts.join("; ")
        };
        match self {
            Action::CreateRoute {
                destination, peering, ..
            } => write!(f, "{destination} -> {peering}"),
            Action::ReplaceRoute {
                destination,
                peering,
                was,
                ..
            } => write!(f, "{destination} -> {peering} (was {was})"),
            Action::DeleteRoute {
                destination, peering, ..
            } => write!(f, "{destination} -> {peering}"),
            Action::AuthorizeRule { rule, .. } | Action::RevokeRule { rule, .. } => write!(f, "{rule}"),
            Action::RemarkRule { rule, description, .. } => write!(f, "{rule} now {description}"),
            Action::TagGroup { .. } | Action::TagSecret { .. } | Action::TagKey { .. } => {
                write!(f, "{}=true", crate::ownership::MANAGED_TAG)
            }
            Action::CreatePeeringRequest {
                entry,
                peer_account,
                peer_vpc,
                peer_region,
                ..
            } => write!(
                f,
                "request {peer_vpc} of {peer_account}{} for entry {entry:?}",
                peer_region.as_ref().map(|r| format!(" in {r}")).unwrap_or_default()
            ),
            Action::EnablePeeringDns { side, .. } => write!(f, "{side} AllowDnsResolutionFromRemoteVpc"),
            Action::DisablePeeringDns { side, .. } => write!(f, "{side} AllowDnsResolutionFromRemoteVpc off"),
            Action::TagPeering { tags, .. } => {
                let pairs: Vec<String> = tags.iter().map(|(k, v)| format!("{k}={v}")).collect();
                f.write_str(&pairs.join(" "))
            }
            Action::EnableVpcAttribute { attribute, .. } => write!(f, "{attribute:?}"),
            Action::MergeSecretPolicy { change, .. } | Action::MergeKeyPolicy { change, .. } => {
                f.write_str(&sids(change))
            }
        }
    }
}

/// An action with why it is needed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Planned {
    pub peering: Option<String>,
    #[serde(flatten)]
    pub action: Action,
    pub reason: String,
}

impl Planned {
    /// The order of actions in plans and reports: by peering, kind, resource
    /// and change.
    pub fn sort_key(&self) -> (Option<String>, &'static str, String, String) {
        (
            self.peering.clone(),
            self.action.kind(),
            self.action.resource().to_string(),
            self.action.to_string(),
        )
    }
}
