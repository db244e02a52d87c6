//! The exposure view from observations and plans built by hand: pure, no AWS.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::*;
use crate::config::Config;
use crate::fixtures::{self, Entry, LOCAL_VPC as VPC, ME, PCX, PEER, PEER_VPC, SG};
use crate::model::{ObservedRule, PeeringStatus, Route, RouteTable, SecurityGroup, Vpc};
use crate::outcome::WriteResult;
use crate::reconcile::Planned;
use crate::reconcile::plan::plan;

const PEER_SG: &str = "sg-0ccc3333cccc3333c";
const MAIN: &str = "rtb-00000000000000001";
const SUBNET: &str = "rtb-00000000000000002";
const OTHER_PCX: &str = "pcx-0fedcba9876543210";

/// The accepter's entry: 5432 for the peer's blocks, 6432 for its group.
fn config() -> Config {
    let orders = Entry::new("orders", PEER, VPC, &["10.0.0.0/15"])
        .peer_vpc(PEER_VPC)
        .rule(SG, 5432)
        .rule_lines(&format!(
            "group = \"{SG}\"\nports = 6432\npeer_groups = [\"{PEER_SG}\"]"
        ));
    fixtures::config("", &[orders])
}

fn rule(port: u16, peer: RulePeer) -> SgRule {
    SgRule {
        direction: Direction::Ingress,
        protocol: Protocol::Tcp,
        ports: Some(PortRange { from: port, to: port }),
        peer,
    }
}

fn cidr(net: &str) -> RulePeer {
    RulePeer::Cidr(net.parse().unwrap())
}

fn peer_group() -> RulePeer {
    RulePeer::Group {
        account: PEER.into(),
        group: PEER_SG.into(),
        peering: PCX.into(),
    }
}

fn observed(rule: SgRule, description: Option<&str>) -> ObservedRule {
    ObservedRule {
        rule,
        description: description.map(str::to_string),
    }
}

fn to_peer(dest: &str, pcx: &str) -> Route {
    Route {
        destination: dest.parse().unwrap(),
        target: RouteTarget::Peering(pcx.into()),
        blackhole: false,
    }
}

fn table(id: &str, main: bool, routes: Vec<Route>) -> RouteTable {
    RouteTable {
        id: id.into(),
        vpc: VPC.into(),
        main,
        subnets: if main { vec![] } else { vec!["subnet-a".into()] },
        main_for: vec![],
        tags: BTreeMap::new(),
        routes,
        other_routes: 0,
    }
}

/// An active peering to a peer with two blocks; the group holds `rules`,
/// the two tables `routes` each.
fn world(rules: Vec<ObservedRule>, routes: Vec<Route>) -> Observed {
    let peering = Peering {
        id: PCX.into(),
        status: PeeringStatus::Active,
        status_message: String::new(),
        requester: fixtures::side(
            PEER,
            PEER_VPC,
            vec!["10.0.0.0/16".parse().unwrap(), "10.1.0.0/16".parse().unwrap()],
        ),
        accepter: fixtures::side(ME, VPC, vec!["10.8.0.0/16".parse().unwrap()]),
        tags: BTreeMap::new(),
    };
    Observed {
        me: Some(fixtures::me()),
        peerings: vec![peering],
        complete: true,
        scope: BTreeSet::from(["orders".to_string()]),
        whole_account: true,
        now: 1_800_000_000,
        vpcs: HashMap::from([(
            VPC.to_string(),
            Vpc {
                id: VPC.into(),
                cidrs: vec!["10.8.0.0/16".parse().unwrap()],
                dns_support: Some(true),
                dns_hostnames: Some(true),
                tags: BTreeMap::new(),
            },
        )]),
        route_tables: vec![table(MAIN, true, routes.clone()), table(SUBNET, false, routes)],
        security_groups: HashMap::from([(
            SG.to_string(),
            SecurityGroup {
                id: SG.into(),
                vpc: VPC.into(),
                rules,
                other_rules_ingress: 0,
                other_rules_egress: 0,
                group_refs: Vec::new(),
                tagged: true,
            },
        )]),
        ..Observed::default()
    }
}

/// Plans `obs` and views it, each action with `result`.
fn planned(obs: &Observed, result: WriteResult) -> Vec<Exposure> {
    let config = config();
    let p = plan(&config, obs);
    let actions: Vec<ActionOutcome> = p
        .actions
        .into_iter()
        .map(|planned| ActionOutcome {
            planned,
            result: result.clone(),
        })
        .collect();
    view(&config, obs, &p.managed, &actions)
}

fn lines(v: &Exposure) -> (Vec<&str>, Vec<&str>) {
    (
        v.open.iter().map(|l| l.line.as_str()).collect(),
        v.routes.iter().map(|l| l.line.as_str()).collect(),
    )
}

fn marker() -> Option<&'static str> {
    Some("peerlink:pcx-0123456789abcdef0")
}

/// Everything in place: our two CIDR rules, the group reference, a route
/// per block in each table.
fn finished() -> Observed {
    world(
        vec![
            observed(rule(5432, cidr("10.0.0.0/16")), marker()),
            observed(rule(5432, cidr("10.1.0.0/16")), marker()),
            observed(rule(6432, peer_group()), marker()),
        ],
        vec![to_peer("10.0.0.0/16", PCX), to_peer("10.1.0.0/16", PCX)],
    )
}

#[test]
fn a_new_link_shows_what_the_plan_would_open_and_route() {
    let views = planned(&world(vec![], vec![]), WriteResult::Planned);
    assert_eq!(views.len(), 1, "{views:#?}");
    let v = &views[0];
    assert_eq!(
        (v.side, v.entry.as_str(), v.vpc.as_str()),
        (Side::Accepter, "orders", VPC)
    );
    let (open, routes) = lines(v);
    assert_eq!(
        open,
        [
            format!("{SG} ingress: 10.0.0.0/16 on tcp 5432 (to add)"),
            format!("{SG} ingress: 10.1.0.0/16 on tcp 5432 (to add)"),
            format!("{SG} ingress: group {PEER}/{PEER_SG} on tcp 6432 (to add)"),
        ]
    );
    assert_eq!(
        routes,
        [
            format!("{MAIN}: 10.0.0.0/16 -> {PCX} (to add)"),
            format!("{MAIN}: 10.1.0.0/16 -> {PCX} (to add)"),
            format!("{SUBNET}: 10.0.0.0/16 -> {PCX} (to add)"),
            format!("{SUBNET}: 10.1.0.0/16 -> {PCX} (to add)"),
        ]
    );
    // Once applied, the same lines are in place.
    let done = planned(&world(vec![], vec![]), WriteResult::Done);
    assert!(done[0].open.iter().all(|l| l.state == LineState::InPlace), "{done:#?}");
    assert!(done[0].routes.iter().all(|l| !l.line.contains("(to")), "{done:#?}");
}

#[test]
fn a_finished_link_shows_its_rules_and_routes_in_place_and_nothing_else() {
    let mut obs = finished();
    let group = obs.security_groups.get_mut(SG).unwrap();
    // The user's own rule of the entry's shape over the peer's range holds
    // part of the exposure; a rule for everyone on another port, and one of
    // another peering, are not this link's.
    group.rules.push(observed(rule(5432, cidr("10.0.0.0/8")), Some("ops")));
    group.rules.push(observed(rule(22, cidr("0.0.0.0/0")), None));
    group.rules.push(observed(
        rule(5432, cidr("10.9.0.0/16")),
        Some("peerlink:pcx-0fedcba9876543210"),
    ));
    obs.route_tables[1].routes.push(to_peer("10.9.0.0/16", OTHER_PCX));
    let views = planned(&obs, WriteResult::Planned);
    let (open, routes) = lines(&views[0]);
    assert_eq!(
        open,
        [
            format!("{SG} ingress: 10.0.0.0/8 on tcp 5432 (not peerlink's)"),
            format!("{SG} ingress: 10.0.0.0/16 on tcp 5432"),
            format!("{SG} ingress: 10.1.0.0/16 on tcp 5432"),
            format!("{SG} ingress: group {PEER}/{PEER_SG} on tcp 6432"),
        ],
        "{views:#?}"
    );
    assert_eq!(routes.len(), 4, "{routes:?}");
    assert!(routes.iter().all(|r| r.ends_with(PCX)), "{routes:?}");
    assert_eq!(views[0].open[0].owner, Owner::User);
}

#[test]
fn a_block_the_peer_gave_up_is_shown_going_then_gone() {
    let obs = finished();
    let gone: IpNet = "10.1.0.0/16".parse().unwrap();
    let (config, managed) = (config(), plan(&config(), &obs).managed);
    let outcome = |action: Action, result: WriteResult| ActionOutcome {
        planned: Planned {
            peering: Some(PCX.into()),
            action,
            reason: "the peer gave the block up".into(),
        },
        result,
    };
    let removals = |result: WriteResult| -> Vec<ActionOutcome> {
        let mut out = vec![outcome(
            Action::RevokeRule {
                group: SG.into(),
                rule: rule(5432, cidr("10.1.0.0/16")),
            },
            result.clone(),
        )];
        out.extend([MAIN, SUBNET].map(|t| {
            outcome(
                Action::DeleteRoute {
                    route_table: t.into(),
                    destination: gone,
                    peering: PCX.into(),
                },
                result.clone(),
            )
        }));
        out
    };
    let v = &view(&config, &obs, &managed, &removals(WriteResult::Planned))[0];
    let (open, routes) = lines(v);
    assert!(open.contains(&format!("{SG} ingress: 10.1.0.0/16 on tcp 5432 (to remove)").as_str()));
    assert_eq!(
        routes,
        [
            format!("{MAIN}: 10.0.0.0/16 -> {PCX}"),
            format!("{MAIN}: 10.1.0.0/16 -> {PCX} (to remove)"),
            format!("{SUBNET}: 10.0.0.0/16 -> {PCX}"),
            format!("{SUBNET}: 10.1.0.0/16 -> {PCX} (to remove)"),
        ]
    );
    // Carried out: the lines are gone from the view.
    let v = &view(&config, &obs, &managed, &removals(WriteResult::Done))[0];
    assert_eq!(v.open.len(), 2, "{v:#?}");
    assert!(v.routes.iter().all(|r| r.destination != gone), "{v:#?}");
    // Failed: still to remove.
    let failed = removals(WriteResult::Failed("throttled".into()));
    let v = &view(&config, &obs, &managed, &failed)[0];
    assert_eq!(v.routes.iter().filter(|r| r.state == LineState::ToRemove).count(), 2);
}

#[test]
fn a_route_another_peering_takes_over_is_to_remove_here() {
    let obs = finished();
    let (config, managed) = (config(), plan(&config(), &obs).managed);
    let taken = ActionOutcome {
        planned: Planned {
            peering: Some(OTHER_PCX.into()),
            action: Action::ReplaceRoute {
                route_table: MAIN.into(),
                destination: "10.0.0.0/16".parse().unwrap(),
                peering: OTHER_PCX.into(),
                was: PCX.into(),
            },
            reason: "replaced".into(),
        },
        result: WriteResult::Planned,
    };
    let v = &view(&config, &obs, &managed, &[taken])[0];
    assert_eq!(v.routes[0].line, format!("{MAIN}: 10.0.0.0/16 -> {PCX} (to remove)"));
}

#[test]
fn every_protocol_and_egress_read_plainly() {
    let all = SgRule {
        direction: Direction::Egress,
        protocol: Protocol::All,
        ports: None,
        peer: cidr("10.0.0.0/16"),
    };
    let l = OpenLine::new("sg-1", &all, Owner::Peerlink, LineState::InPlace);
    assert_eq!(l.line, "sg-1 egress: 10.0.0.0/16 on every protocol");
    let icmp = SgRule {
        protocol: Protocol::Icmp,
        ..all
    };
    let l = OpenLine::new("sg-1", &icmp, Owner::Peerlink, LineState::ToAdd);
    assert_eq!(l.to_string(), "sg-1 egress: 10.0.0.0/16 on icmp (to add)");
    let ranged = rule(8000, cidr("10.0.0.0/16"));
    let ranged = SgRule {
        ports: Some(PortRange { from: 8000, to: 8080 }),
        ..ranged
    };
    let l = OpenLine::new("sg-1", &ranged, Owner::Peerlink, LineState::ToRemove);
    assert_eq!(l.line, "sg-1 ingress: 10.0.0.0/16 on tcp 8000-8080 (to remove)");
}

#[test]
fn the_json_carries_the_fields_and_the_same_line() {
    let v = &planned(&finished(), WriteResult::Planned)[0];
    let json = serde_json::to_value(v).unwrap();
    let group = &json["open"][2];
    assert_eq!(group["peer"]["group"]["account"], PEER);
    assert_eq!(group["peer"]["group"]["group"], PEER_SG);
    assert_eq!(group["state"], "in-place");
    assert_eq!(group["owner"], "peerlink");
    assert_eq!(group["line"], v.open[2].to_string());
    let route = &json["routes"][0];
    assert_eq!(route["route_table"], MAIN);
    assert_eq!(route["destination"], "10.0.0.0/16");
    assert_eq!(route["line"], v.routes[0].to_string());
    // The text block names the link and every line.
    let text = v.to_string();
    assert!(
        text.starts_with(&format!("{PCX} (accepter side, entry \"orders\", {VPC})")),
        "{text}"
    );
    for l in v.open.iter().map(|l| &l.line).chain(v.routes.iter().map(|l| &l.line)) {
        assert!(text.contains(&format!("    {l}\n")), "{text}");
    }
}
