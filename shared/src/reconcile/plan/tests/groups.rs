//! Rules that reference the peer's security groups (`peer_groups`).

use super::*;
use crate::model::RulePeer;

const PEER_SG: &str = "sg-0ccc3333cccc3333c";

fn by_group(peer_region: &str) -> Config {
    let orders = Entry::new("orders", PEER, VPC, &["10.0.0.0/15"])
        .peer_vpc(PEER_VPC)
        .peer_region(peer_region)
        .rule_lines(&format!(
            "group = \"{SG}\"\nports = 5432\npeer_groups = [\"{PEER_SG}\"]"
        ));
    fixtures::config("", &[orders])
}

fn authorized(plan: &Plan) -> Vec<&SgRule> {
    plan.actions
        .iter()
        .filter_map(|a| match &a.action {
            Action::AuthorizeRule { rule, .. } => Some(rule),
            _ => None,
        })
        .collect()
}

#[test]
fn a_rule_with_peer_groups_references_them_instead_of_the_blocks() {
    let plan = plan(&by_group("eu-west-1"), &world(PeeringStatus::Active));
    let rules = authorized(&plan);
    assert_eq!(rules.len(), 1, "{plan:#?}");
    assert_eq!(
        rules[0].peer,
        RulePeer::Group {
            account: PEER.into(),
            group: PEER_SG.into(),
            peering: PCX.into()
        }
    );
    // Routes to the peer's blocks are made as before.
    assert_eq!(count(&plan, "create-route"), 6, "{plan:#?}");
}

#[test]
fn across_regions_no_reference_is_written_and_the_rest_is_done() {
    let mut obs = world(PeeringStatus::Active);
    obs.peerings[0].requester.region = "us-west-2".into();
    // A configuration loaded without its region (the functions refuse it at
    // load): the plan still writes no reference.
    let plan = plan(&by_group("us-west-2"), &obs);
    assert!(authorized(&plan).is_empty(), "{plan:#?}");
    assert!(
        plan.findings
            .iter()
            .any(|f| f.kind == FindingKind::CrossRegionGroupReference && f.message.contains("orders")),
        "{:#?}",
        plan.findings
    );
    assert_eq!(count(&plan, "create-route"), 6, "{plan:#?}");
}
