//! Unit tests of the plan: pure, no AWS.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde_json::json;

use super::*;
use crate::config::{Config, Protocol};
use crate::model::{KeyState, ObservedRule, PeeringSide, Route, SecretState};

const ME: &str = "222222222222";
const PEER: &str = "111111111111";
const VPC: &str = "vpc-0bbb2222bbbb2222b";
const PEER_VPC: &str = "vpc-0aaa1111aaaa1111a";
const PCX: &str = "pcx-0123456789abcdef0";
const SG: &str = "sg-0bbb2222bbbb2222d";
const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf";
const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
const ROLE: &str = "arn:aws:iam::111111111111:role/app";

fn config(extra_entry: &str) -> Config {
    let text = format!(
        r#"
[[peer]]
name = "orders"
peer_account = "{PEER}"
peer_vpc = "{PEER_VPC}"
allowed_cidrs = ["10.0.0.0/15"]
local_vpc = "{VPC}"
auto_accept = true
{extra_entry}

[[peer.security_group_rules]]
group = "{SG}"
ports = 5432

[[peer.secrets]]
arn = "{SECRET}"
principals = ["{ROLE}"]
"#
    );
    Config::parse(&text, "test").unwrap()
}

fn side(account: &str, vpc: &str, cidrs: &[&str], dns: bool) -> PeeringSide {
    PeeringSide {
        account: account.into(),
        vpc: vpc.into(),
        region: "eu-west-1".into(),
        cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
        allow_remote_dns: dns,
    }
}

fn table(id: &str, main: bool, subnets: &[&str], routes: Vec<Route>) -> RouteTable {
    let mut all = vec![Route {
        destination: "10.8.0.0/16".parse().unwrap(),
        target: RouteTarget::Local,
        blackhole: false,
    }];
    all.extend(routes);
    RouteTable {
        id: id.into(),
        vpc: VPC.into(),
        main,
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        tags: BTreeMap::new(),
        routes: all,
        other_routes: 0,
    }
}

fn route(dest: &str, target: RouteTarget) -> Route {
    Route {
        destination: dest.parse().unwrap(),
        target,
        blackhole: false,
    }
}

fn pcx_target() -> RouteTarget {
    RouteTarget::Peering(PCX.into())
}

fn rule(cidr: &str, description: Option<&str>) -> ObservedRule {
    ObservedRule {
        rule: SgRule {
            direction: Direction::Ingress,
            protocol: Protocol::Tcp,
            ports: Some(crate::config::PortRange { from: 5432, to: 5432 }),
            cidr: cidr.parse().unwrap(),
        },
        description: description.map(str::to_string),
    }
}

fn key_policy() -> serde_json::Value {
    json!({"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"}]})
}

/// An accepter-side world: an active peering, a VPC with a main table and two
/// subnet tables, the database group, a secret on a customer-managed key.
fn world(status: PeeringStatus) -> Observed {
    let peering = Peering {
        id: PCX.into(),
        status,
        status_message: String::new(),
        requester: side(PEER, PEER_VPC, &["10.0.0.0/16", "10.1.0.0/16"], false),
        accepter: side(ME, VPC, &["10.8.0.0/16"], false),
    };
    Observed {
        me: Some(Identity {
            account: ME.into(),
            region: "eu-west-1".into(),
        }),
        peerings: vec![peering],
        complete: true,
        scope: BTreeSet::from(["orders".to_string()]),
        vpcs: HashMap::from([(
            VPC.to_string(),
            Vpc {
                id: VPC.into(),
                cidrs: vec!["10.8.0.0/16".parse().unwrap()],
                dns_support: Some(true),
                dns_hostnames: Some(true),
            },
        )]),
        route_tables: vec![
            table("rtb-00000000000000001", true, &[], vec![]),
            table("rtb-00000000000000002", false, &["subnet-a"], vec![]),
            table("rtb-00000000000000003", false, &["subnet-b"], vec![]),
        ],
        security_groups: HashMap::from([(
            SG.to_string(),
            SecurityGroup {
                id: SG.into(),
                vpc: VPC.into(),
                rules: vec![],
                other_rules_ingress: 0,
                other_rules_egress: 1,
                group_refs: Vec::new(),
            },
        )]),
        secrets: HashMap::from([(
            SECRET.to_string(),
            Some(SecretState {
                arn: SECRET.into(),
                kms_key: Some(KEY.into()),
                policy: Some(
                    json!({"Version": "2012-10-17", "Statement": [{"Sid": "UserStatement", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:role/admin"}, "Action": "secretsmanager:*", "Resource": "*"}]}),
                ),
            }),
        )]),
        keys: HashMap::from([(
            KEY.to_string(),
            Some(KeyState {
                arn: KEY.into(),
                aws_managed: false,
                policy: Some(key_policy()),
            }),
        )]),
    }
}

fn kinds(plan: &Plan) -> Vec<&'static str> {
    plan.actions.iter().map(|a| a.action.kind()).collect()
}

fn count(plan: &Plan, kind: &str) -> usize {
    plan.actions.iter().filter(|a| a.action.kind() == kind).count()
}

/// Applies the plan to the observed state as AWS would, for steady-state checks.
fn applied(mut obs: Observed, plan: &Plan) -> Observed {
    for a in &plan.actions {
        match &a.action {
            Action::CreateRoute {
                route_table,
                destination,
                peering,
            }
            | Action::ReplaceRoute {
                route_table,
                destination,
                peering,
                ..
            } => {
                let t = obs.route_tables.iter_mut().find(|t| &t.id == route_table).unwrap();
                t.routes.retain(|r| &r.destination != destination);
                t.routes
                    .push(route(&destination.to_string(), RouteTarget::Peering(peering.clone())));
            }
            Action::DeleteRoute {
                route_table,
                destination,
                ..
            } => {
                obs.route_tables
                    .iter_mut()
                    .find(|t| &t.id == route_table)
                    .unwrap()
                    .routes
                    .retain(|r| &r.destination != destination);
            }
            Action::AuthorizeRule {
                group,
                rule,
                description,
            } => obs.security_groups.get_mut(group).unwrap().rules.push(ObservedRule {
                rule: rule.clone(),
                description: Some(description.clone()),
            }),
            Action::RevokeRule { group, rule } => obs
                .security_groups
                .get_mut(group)
                .unwrap()
                .rules
                .retain(|r| &r.rule != rule),
            Action::EnablePeeringDns { .. } => obs.peerings[0].accepter.allow_remote_dns = true,
            Action::EnableVpcAttribute { .. } => {}
            Action::MergeSecretPolicy { secret, change } => {
                let s = obs.secrets.get_mut(secret).unwrap().as_mut().unwrap();
                s.policy = Some(policy::merge(s.policy.as_ref(), change));
            }
            Action::MergeKeyPolicy { key, change } => {
                let k = obs.keys.get_mut(key).unwrap().as_mut().unwrap();
                k.policy = Some(policy::merge(k.policy.as_ref(), change));
            }
        }
    }
    obs
}

#[test]
fn finishes_an_active_peering_in_one_pass() {
    let obs = world(PeeringStatus::Active);
    let plan = plan(&config(""), &obs);
    assert!(plan.findings.is_empty(), "{:#?}", plan.findings);
    // Two peer blocks (primary and secondary) in each of the three tables.
    assert_eq!(count(&plan, "create-route"), 6);
    assert_eq!(count(&plan, "authorize-rule"), 2);
    assert_eq!(count(&plan, "enable-peering-dns"), 1);
    assert_eq!(count(&plan, "merge-secret-policy"), 1);
    assert_eq!(count(&plan, "merge-key-policy"), 1);
    let main_route = plan
        .actions
        .iter()
        .find(|a| a.action.resource() == "rtb-00000000000000001")
        .unwrap();
    assert!(main_route.reason.contains("main table"), "{}", main_route.reason);
    let subnet_route = plan
        .actions
        .iter()
        .find(|a| a.action.resource() == "rtb-00000000000000002")
        .unwrap();
    assert!(subnet_route.reason.contains("subnet-a"), "{}", subnet_route.reason);
    let Action::AuthorizeRule { rule, description, .. } = &plan
        .actions
        .iter()
        .find(|a| a.action.kind() == "authorize-rule")
        .unwrap()
        .action
    else {
        panic!()
    };
    assert_eq!(rule.direction, Direction::Ingress);
    assert_eq!(description, &format!("peerlink:{PCX}"));
    let Action::EnablePeeringDns { side, .. } = &plan
        .actions
        .iter()
        .find(|a| a.action.kind() == "enable-peering-dns")
        .unwrap()
        .action
    else {
        panic!()
    };
    assert_eq!(*side, Side::Accepter);

    // The second pass over the result has nothing to do.
    let after = applied(obs, &plan);
    let again = super::plan(&config(""), &after);
    assert!(again.actions.is_empty(), "{:#?}", again.actions);
    // The user's statements survive.
    let secret_policy = after.secrets[SECRET].as_ref().unwrap().policy.as_ref().unwrap();
    assert_eq!(secret_policy["Statement"][0]["Sid"], "UserStatement");
    let key = after.keys[KEY].as_ref().unwrap().policy.as_ref().unwrap();
    assert_eq!(key["Statement"][0]["Sid"], "Enable IAM User Permissions");
    assert_eq!(
        key["Statement"][1]["Condition"]["StringEquals"]["kms:ViaService"],
        "secretsmanager.eu-west-1.amazonaws.com"
    );
}

#[test]
fn the_requester_side_gets_egress_and_its_own_dns_option() {
    let mut obs = world(PeeringStatus::Active);
    let p = &mut obs.peerings[0];
    std::mem::swap(&mut p.requester, &mut p.accepter);
    let plan = plan(&config(""), &obs);
    let Action::AuthorizeRule { rule, .. } = &plan
        .actions
        .iter()
        .find(|a| a.action.kind() == "authorize-rule")
        .unwrap()
        .action
    else {
        panic!()
    };
    assert_eq!(rule.direction, Direction::Egress);
    assert!(plan.actions.iter().any(|a| a.action
        == Action::EnablePeeringDns {
            peering: PCX.into(),
            side: Side::Requester
        }));
}

#[test]
fn a_conflicting_route_is_reported_not_overwritten() {
    let mut obs = world(PeeringStatus::Active);
    obs.route_tables[1]
        .routes
        .push(route("10.0.0.0/16", RouteTarget::Other("tgw-0123456789abcdef0".into())));
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "create-route"), 5);
    assert!(!kinds(&plan).contains(&"replace-route"));
    let f = plan
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::RouteConflict)
        .expect("conflict finding");
    assert!(f.message.contains("tgw-0123456789abcdef0"), "{}", f.message);
    assert!(f.fix.contains("replace_conflicts"));

    let replace = super::plan(&config("[peer.routes]\nreplace_conflicts = true"), &obs);
    assert_eq!(count(&replace, "replace-route"), 1);
    assert!(replace.findings.iter().all(|f| f.kind != FindingKind::RouteConflict));
}

#[test]
fn a_blackhole_route_to_our_peering_is_replaced() {
    let mut obs = world(PeeringStatus::Active);
    let mut r = route("10.0.0.0/16", pcx_target());
    r.blackhole = true;
    obs.route_tables[0].routes.push(r);
    let plan = plan(&config(""), &obs);
    let replaced: Vec<&Planned> = plan
        .actions
        .iter()
        .filter(|a| a.action.kind() == "replace-route")
        .collect();
    assert_eq!(replaced.len(), 1);
    assert!(replaced[0].reason.contains("blackhole"));
}

#[test]
fn quotas_are_checked_before_writing() {
    let mut obs = world(PeeringStatus::Active);
    for i in 0..48 {
        obs.route_tables[2]
            .routes
            .push(route(&format!("172.16.{i}.0/24"), RouteTarget::Other("nat-1".into())));
    }
    let g = obs.security_groups.get_mut(SG).unwrap();
    g.other_rules_ingress = 59;
    let plan = plan(&config(""), &obs);
    // 49 routes + 2 needed > 50: none added to that table, the others still get theirs.
    assert!(
        !plan
            .actions
            .iter()
            .any(|a| a.action.resource() == "rtb-00000000000000003")
    );
    assert_eq!(count(&plan, "create-route"), 4);
    let q = plan
        .findings
        .iter()
        .find(|f| f.kind == FindingKind::RouteQuota)
        .unwrap();
    assert!(q.message.contains("49 of 50"), "{}", q.message);
    assert_eq!(count(&plan, "authorize-rule"), 0);
    assert!(
        plan.findings
            .iter()
            .any(|f| f.kind == FindingKind::RuleQuota && f.message.contains("59 of 60"))
    );
}

#[test]
fn an_aws_managed_key_is_reported_and_nothing_is_written_for_the_secret() {
    for kms_key in [None, Some("alias/aws/secretsmanager")] {
        let mut obs = world(PeeringStatus::Active);
        obs.secrets.get_mut(SECRET).unwrap().as_mut().unwrap().kms_key = kms_key.map(str::to_string);
        let plan = plan(&config(""), &obs);
        assert_eq!(count(&plan, "merge-secret-policy"), 0);
        assert_eq!(count(&plan, "merge-key-policy"), 0);
        let f = plan
            .findings
            .iter()
            .find(|f| f.kind == FindingKind::AwsManagedKey)
            .expect("finding");
        assert!(f.message.contains("cross-account access is impossible"));
        assert!(f.fix.contains("customer-managed"));
    }
    let mut obs = world(PeeringStatus::Active);
    obs.keys.get_mut(KEY).unwrap().as_mut().unwrap().aws_managed = true;
    assert!(
        plan(&config(""), &obs)
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::AwsManagedKey)
    );
}

#[test]
fn a_peer_block_outside_the_allowed_ranges_is_never_routed() {
    let mut obs = world(PeeringStatus::Active);
    obs.peerings[0].requester.cidrs.push("192.168.0.0/16".parse().unwrap());
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "create-route"), 6);
    assert!(!plan.actions.iter().any(|a| a.action.to_string().contains("192.168")));
    assert!(
        plan.findings
            .iter()
            .any(|f| f.kind == FindingKind::CidrNotAllowed && f.message.contains("192.168.0.0/16"))
    );
}

#[test]
fn gone_peerings_are_cleaned_up_and_nothing_else() {
    let mut obs = world(PeeringStatus::Active);
    // A user's own rule with the same port and CIDR as one we want, unmarked
    // (EC2 keeps one rule per port and CIDR, so ours is never added beside it),
    // another of theirs, and an unrelated route.
    let g = obs.security_groups.get_mut(SG).unwrap();
    g.rules.push(rule("10.0.0.0/16", Some("DBA access")));
    g.rules.push(rule("10.9.0.0/16", None));
    obs.route_tables[0]
        .routes
        .push(route("0.0.0.0/0", RouteTarget::Other("igw-0123".into())));
    let plan1 = plan(&config(""), &obs);
    assert_eq!(count(&plan1, "authorize-rule"), 1);
    obs = applied(obs, &plan1);
    for status in [
        PeeringStatus::Deleted,
        PeeringStatus::Rejected,
        PeeringStatus::Expired,
        PeeringStatus::Failed,
    ] {
        let mut gone = obs.clone();
        gone.peerings[0].status = status.clone();
        let plan = plan(&config(""), &gone);
        assert_eq!(count(&plan, "delete-route"), 6, "{status}");
        assert_eq!(count(&plan, "revoke-rule"), 1, "{status}");
        assert_eq!(count(&plan, "merge-secret-policy"), 1);
        assert_eq!(count(&plan, "merge-key-policy"), 1);
        let after = applied(gone, &plan);
        let rules = &after.security_groups[SG].rules;
        assert_eq!(rules.len(), 2, "the user's rules stay: {rules:?}");
        assert!(
            rules
                .iter()
                .all(|r| r.description.as_deref() != Some(&format!("peerlink:{PCX}")))
        );
        assert!(
            after.route_tables[0]
                .routes
                .iter()
                .any(|r| r.destination.to_string() == "0.0.0.0/0")
        );
        let secret_policy = after.secrets[SECRET].as_ref().unwrap().policy.as_ref().unwrap();
        assert_eq!(secret_policy["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(after.keys[KEY].as_ref().unwrap().policy.as_ref(), Some(&key_policy()));
    }
}

#[test]
fn markers_of_a_peering_ec2_no_longer_lists_are_cleaned_up() {
    let mut obs = world(PeeringStatus::Active);
    let plan1 = plan(&config(""), &obs);
    obs = applied(obs, &plan1);
    obs.peerings.clear();
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "delete-route"), 6);
    assert_eq!(count(&plan, "revoke-rule"), 2);
    assert_eq!(count(&plan, "merge-secret-policy"), 1);
    // Without the complete list, absence proves nothing: keep everything.
    obs.complete = false;
    assert!(super::plan(&config(""), &obs).actions.is_empty());
}

#[test]
fn a_changed_rule_replaces_only_our_old_rule() {
    let mut obs = world(PeeringStatus::Active);
    let plan1 = plan(&config(""), &obs);
    obs = applied(obs, &plan1);
    let mut cfg = config("");
    cfg.peers[0].security_group_rules[0].ports = Some(crate::config::PortRange { from: 3306, to: 3306 });
    let plan = plan(&cfg, &obs);
    assert_eq!(count(&plan, "revoke-rule"), 2);
    assert_eq!(count(&plan, "authorize-rule"), 2);
    assert_eq!(plan.actions.len(), 4, "{:#?}", plan.actions);
}

#[test]
fn route_table_selection_by_tag_and_id() {
    let mut obs = world(PeeringStatus::Active);
    obs.route_tables[2].tags.insert("tier".into(), "private".into());
    let tagged = plan(
        &config("[peer.routes]\nselect = \"tagged\"\ntags = { tier = \"private\" }"),
        &obs,
    );
    assert_eq!(count(&tagged, "create-route"), 2);
    assert!(
        tagged
            .actions
            .iter()
            .filter(|a| a.action.kind() == "create-route")
            .all(|a| a.action.resource() == "rtb-00000000000000003")
    );
    let ids = plan(
        &config("[peer.routes]\nselect = \"ids\"\nids = [\"rtb-00000000000000002\", \"rtb-0000000000000000f\"]"),
        &obs,
    );
    assert_eq!(count(&ids, "create-route"), 2);
    assert!(
        ids.findings
            .iter()
            .any(|f| f.kind == FindingKind::MissingResource && f.message.contains("rtb-0000000000000000f"))
    );
    let none = plan(&config("[peer.routes]\nselect = \"none\""), &obs);
    assert_eq!(count(&none, "create-route"), 0);
}

#[test]
fn dns_attributes_off_are_reported_or_fixed() {
    let mut obs = world(PeeringStatus::Active);
    obs.vpcs.get_mut(VPC).unwrap().dns_hostnames = Some(false);
    let plan1 = plan(&config(""), &obs);
    assert!(
        plan1
            .findings
            .iter()
            .any(|f| f.kind == FindingKind::DnsAttributeOff && f.fix.contains("enable-dns-hostnames"))
    );
    let plan2 = plan(&config("[peer.dns]\nset_vpc_attributes = true"), &obs);
    assert_eq!(count(&plan2, "enable-vpc-attribute"), 1);
}

#[test]
fn pending_peerings_wait_and_unknown_ones_are_ignored() {
    let plan1 = plan(&config(""), &world(PeeringStatus::PendingAcceptance));
    assert!(plan1.actions.is_empty());
    assert!(plan1.findings.iter().any(|f| f.kind == FindingKind::NotActive));
    let mut obs = world(PeeringStatus::Active);
    obs.peerings[0].requester.account = "999999999999".into();
    let plan2 = plan(&config(""), &obs);
    assert!(plan2.actions.is_empty(), "{:#?}", plan2.actions);
}

#[test]
fn a_user_rule_that_already_allows_the_peer_is_enough() {
    let mut obs = world(PeeringStatus::Active);
    let g = obs.security_groups.get_mut(SG).unwrap();
    g.rules.push(rule("10.0.0.0/16", None));
    let plan = plan(&config(""), &obs);
    assert_eq!(count(&plan, "authorize-rule"), 1, "only 10.1.0.0/16 is missing");
}
