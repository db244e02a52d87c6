//! Stale references: rules that reference a security group through a
//! peering that is gone, or a group that is gone. EC2 keeps them
//! (DescribeStaleSecurityGroups lists them); they let nothing through and
//! still count against the group's quota. peerlink's own go with the
//! peering's clean-up (they carry its marker); the user's own are reported
//! with the command that removes them.

use crate::config::Direction;
use crate::context::Context;
use crate::error::Result;
use crate::finding::{Finding, FindingKind};
use crate::model::{Peering, PeeringStatus, RulePeer, SecurityGroup, StaleRule};
use crate::ownership::marked_peering;

/// Whether a stale reference can be in `vpc`'s groups: a peering of the VPC
/// was deleted (EC2 lists it for a while), or a group we read references a
/// group through a peering that is not active. Otherwise no call is made.
pub fn can_matter<'a>(vpc: &str, peerings: &[Peering], mut groups: impl Iterator<Item = &'a SecurityGroup>) -> bool {
    let ends_here = |p: &Peering| p.requester.vpc == vpc || p.accepter.vpc == vpc;
    let active = |id: &str| peerings.iter().any(|p| p.id == id && p.status == PeeringStatus::Active);
    peerings
        .iter()
        .any(|p| ends_here(p) && p.status == PeeringStatus::Deleted)
        || groups.any(|g| {
            g.vpc == vpc
                && g.group_refs
                    .iter()
                    .any(|r| r.peering.as_deref().is_some_and(|pcx| !active(pcx)))
        })
}

/// Reads the stale rules of `vpcs` (one call each, every page) and reports
/// the user's. A role that may not read them (a stack not updated yet) gets
/// a finding, not a failed pass.
pub async fn check<'a>(
    ctx: &Context,
    vpcs: &[String],
    groups: impl Iterator<Item = &'a SecurityGroup> + Clone,
) -> Result<Vec<Finding>> {
    let mut out = Vec::new();
    for vpc in vpcs {
        match ctx.aws.describe_stale_rules(vpc).await {
            Ok(stale) => out.extend(findings(&stale, groups.clone())),
            Err(e) if e.is_denied() => out.push(Finding {
                kind: FindingKind::NotPermitted,
                peering: None,
                resource: Some(vpc.clone()),
                message: format!("peerlink may not read the stale security group rules of {vpc} ({e}); not checked"),
                fix: "update the stack: the drift role needs ec2:DescribeStaleSecurityGroups".into(),
            }),
            Err(e) => return Err(e.into()),
        }
    }
    Ok(out)
}

/// One finding per stale rule that is not ours (ours carry a peering's
/// marker in a group we read: the clean-up takes them back).
pub fn findings<'a>(stale: &[StaleRule], groups: impl Iterator<Item = &'a SecurityGroup> + Clone) -> Vec<Finding> {
    stale.iter().filter(|s| !ours(s, groups.clone())).map(finding).collect()
}

fn ours<'a>(s: &StaleRule, mut groups: impl Iterator<Item = &'a SecurityGroup>) -> bool {
    groups.any(|g| {
        g.id == s.group
            && g.rules.iter().any(|r| {
                let RulePeer::Group { group, peering, .. } = &r.rule.peer else {
                    return false;
                };
                let ports = r.rule.ports.map(|p| (i32::from(p.from), i32::from(p.to)));
                r.rule.direction == s.direction
                    && r.rule.protocol.ec2_name() == s.protocol
                    && ports.is_none_or(|(from, to)| s.from_port == Some(from) && s.to_port == Some(to))
                    && *group == s.referenced_group
                    && Some(peering) == s.peering.as_ref()
                    && marked_peering(r.description.as_deref()).is_some()
            })
    })
}

fn finding(s: &StaleRule) -> Finding {
    let ports = match (s.from_port, s.to_port) {
        (Some(from), Some(to)) if s.protocol != "-1" => format!(",FromPort={from},ToPort={to}"),
        _ => String::new(),
    };
    let shown_ports = match (s.from_port, s.to_port) {
        (Some(from), Some(to)) if from == to && s.protocol != "-1" => format!(" {from}"),
        (Some(from), Some(to)) if s.protocol != "-1" => format!(" {from}-{to}"),
        _ => String::new(),
    };
    let account = s.account.as_deref().unwrap_or("?");
    let through = match (&s.peering, &s.peering_status) {
        (Some(p), Some(status)) => format!("peering {p} ({status})"),
        (Some(p), None) => format!("peering {p}"),
        _ => "a peering that is gone".into(),
    };
    let (way, verb) = match s.direction {
        Direction::Ingress => ("from", "ingress"),
        Direction::Egress => ("to", "egress"),
    };
    let user = s.account.as_deref().map(|a| format!("UserId={a},")).unwrap_or_default();
    Finding {
        kind: FindingKind::StaleReference,
        peering: s.peering.clone(),
        resource: Some(s.group.clone()),
        message: format!(
            "security group {} ({}) has a stale {} rule: {}{} {way} group {account}/{} through {through}; it lets nothing through and counts against the group's quota",
            s.group, s.vpc, s.direction, s.protocol, shown_ports, s.referenced_group
        ),
        fix: format!(
            "aws ec2 revoke-security-group-{verb} --group-id {} --ip-permissions 'IpProtocol={}{ports},UserIdGroupPairs=[{{{user}GroupId={}}}]' (or, if the peer is still needed, peer again and reference the group anew)",
            s.group, s.protocol, s.referenced_group
        ),
    }
}
