//! The path evaluation without AWS: the ECS-to-RDS example's two ends, then
//! one break at a time, each found as the first failing hop.

use std::collections::BTreeMap;

use ipnet::IpNet;

use super::*;
use crate::config::Direction;
use crate::fixtures::nacl_entry;
use crate::model::{GroupRef, ObservedRule, PeeringSide, PeeringStatus, Route, RouteTarget, SgRule};

const TASK: &str = "111111111111";
const DB: &str = "222222222222";
const PCX: &str = "pcx-0123456789abcdef0";

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn route(dest: &str, target: RouteTarget) -> Route {
    Route {
        destination: net(dest),
        target,
        blackhole: false,
    }
}

fn table(id: &str, vpc: &str, main: bool, subnets: &[&str], routes: Vec<Route>) -> RouteTable {
    RouteTable {
        id: id.into(),
        vpc: vpc.into(),
        main,
        subnets: subnets.iter().map(|s| s.to_string()).collect(),
        tags: BTreeMap::new(),
        routes,
        other_routes: 0,
        main_for: Vec::new(),
    }
}

/// The default network ACL: everything allowed both ways, then the final deny.
fn open_acl(id: &str, vpc: &str, subnet: &str) -> NetworkAcl {
    NetworkAcl {
        id: id.into(),
        vpc: vpc.into(),
        subnets: vec![subnet.into()],
        entries: vec![
            nacl_entry(100, false, true, None, None, "0.0.0.0/0"),
            nacl_entry(100, true, true, None, None, "0.0.0.0/0"),
            nacl_entry(32767, false, false, None, None, "0.0.0.0/0"),
            nacl_entry(32767, true, false, None, None, "0.0.0.0/0"),
        ],
    }
}

fn rule(direction: Direction, protocol: Protocol, ports: Option<(u16, u16)>, cidr: &str) -> ObservedRule {
    ObservedRule {
        rule: SgRule {
            direction,
            protocol,
            ports: ports.map(|(from, to)| PortRange { from, to }),
            peer: crate::model::RulePeer::Cidr(net(cidr)),
        },
        description: None,
    }
}

fn group(id: &str, vpc: &str, rules: Vec<ObservedRule>) -> SecurityGroup {
    SecurityGroup {
        id: id.into(),
        vpc: vpc.into(),
        rules,
        other_rules_ingress: 0,
        other_rules_egress: 0,
        group_refs: Vec::new(),
        tagged: false,
    }
}

#[allow(clippy::too_many_arguments)]
fn view(
    account: &str,
    vpc: &str,
    cidr: &str,
    eni: &str,
    ip: &str,
    subnet: &str,
    sg: SecurityGroup,
    tables: Vec<RouteTable>,
) -> EndView {
    EndView {
        account: account.into(),
        region: "eu-west-1".into(),
        interface: NetworkInterface {
            id: eni.into(),
            account: account.into(),
            vpc: vpc.into(),
            subnet: subnet.into(),
            addresses: vec![ip.parse().unwrap()],
            groups: vec![sg.id.clone()],
            description: String::new(),
        },
        vpc: Vpc {
            id: vpc.into(),
            cidrs: vec![net(cidr)],
            dns_support: Some(true),
            dns_hostnames: Some(true),
            tags: BTreeMap::new(),
        },
        route_tables: tables,
        network_acls: vec![open_acl(&format!("acl-{subnet}"), vpc, subnet)],
        groups: vec![sg],
        peering_quota: 50,
    }
}

fn peering(id: &str, status: PeeringStatus, a: (&str, &str, &str), b: (&str, &str, &str)) -> Peering {
    let side = |(account, vpc, cidr): (&str, &str, &str)| PeeringSide {
        account: account.into(),
        vpc: vpc.into(),
        region: "eu-west-1".into(),
        cidrs: vec![net(cidr)],
        allow_remote_dns: true,
        blocks_known: true,
    };
    Peering {
        id: id.into(),
        status,
        status_message: String::new(),
        requester: side(a),
        accepter: side(b),
        tags: BTreeMap::new(),
    }
}

/// The guide's path, reachable: an ECS task in 10.0.0.0/16 to PostgreSQL
/// in 10.1.0.0/16 on 5432, every hop in place.
fn guide() -> PathWorld {
    let pcx = || RouteTarget::Peering(PCX.into());
    let task = view(
        TASK,
        "vpc-a",
        "10.0.0.0/16",
        "eni-a",
        "10.0.1.10",
        "subnet-a",
        group(
            "sg-task",
            "vpc-a",
            vec![rule(Direction::Egress, Protocol::All, None, "0.0.0.0/0")],
        ),
        vec![
            table(
                "rtb-amain",
                "vpc-a",
                true,
                &[],
                vec![route("10.0.0.0/16", RouteTarget::Local), route("10.1.0.0/16", pcx())],
            ),
            table(
                "rtb-a",
                "vpc-a",
                false,
                &["subnet-a"],
                vec![route("10.0.0.0/16", RouteTarget::Local), route("10.1.0.0/16", pcx())],
            ),
        ],
    );
    let db = view(
        DB,
        "vpc-b",
        "10.1.0.0/16",
        "eni-b",
        "10.1.1.20",
        "subnet-b",
        group(
            "sg-db",
            "vpc-b",
            vec![rule(
                Direction::Ingress,
                Protocol::Tcp,
                Some((5432, 5432)),
                "10.0.0.0/16",
            )],
        ),
        vec![table(
            "rtb-b",
            "vpc-b",
            false,
            &["subnet-b"],
            vec![route("10.1.0.0/16", RouteTarget::Local), route("10.0.0.0/16", pcx())],
        )],
    );
    PathWorld {
        traffic: Traffic::new(Protocol::Tcp, Some(5432)).unwrap(),
        dns: true,
        source: End {
            address: "10.0.1.10".parse().unwrap(),
            view: Some(task),
        },
        destination: End {
            address: "10.1.1.20".parse().unwrap(),
            view: Some(db),
        },
        peerings: vec![peering(
            PCX,
            PeeringStatus::Active,
            (TASK, "vpc-a", "10.0.0.0/16"),
            (DB, "vpc-b", "10.1.0.0/16"),
        )],
    }
}

fn src(w: &mut PathWorld) -> &mut EndView {
    w.source.view.as_mut().unwrap()
}

fn dst(w: &mut PathWorld) -> &mut EndView {
    w.destination.view.as_mut().unwrap()
}

/// The first failing check's id, and the check.
fn first_failure(w: &PathWorld) -> (String, Check) {
    let v = evaluate(w);
    let c = v.first_failure().unwrap_or_else(|| panic!("reachable: {v:#?}")).clone();
    assert!(!v.reachable);
    (c.check.name().to_string(), c)
}

#[test]
fn the_guides_path_is_reachable_with_every_check_in_path_order() {
    let v = evaluate(&guide());
    assert!(v.reachable, "{v:#?}");
    let order: Vec<&str> = v.checks.iter().map(|c| c.check.name()).collect();
    assert_eq!(
        order,
        [
            "peering",
            "source-route",
            "source-nacl-out",
            "source-sg-egress",
            "destination-nacl-in",
            "destination-sg-ingress",
            "destination-route",
            "destination-nacl-out",
            "source-nacl-in",
            "dns"
        ]
    );
    assert_eq!(
        v.peering,
        Some(PeeringRef {
            id: PCX.into(),
            status: "active".into()
        })
    );
    let route = &v.checks[1];
    assert_eq!((route.account.as_str(), route.resource.as_str()), (TASK, "rtb-a"));
    assert!(route.detail.contains("the subnet's own table"), "{}", route.detail);
    assert!(v.checks.iter().all(|c| c.fix.is_none()));
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["checks"][0]["check"], "peering");
    assert_eq!(json["checks"][0]["fix"], serde_json::Value::Null);
}

/// One break at a time: the first failing check is exactly its hop.
#[test]
fn each_break_is_the_first_failure_at_its_own_hop() {
    type Break = fn(&mut PathWorld);
    let breaks: [(&str, &str, Break); 11] = [
        ("not accepted", "peering", |w| {
            w.peerings[0].status = PeeringStatus::PendingAcceptance
        }),
        ("route missing in the task subnet's own table", "source-route", |w| {
            src(w).route_tables[1].routes.retain(|r| r.target == RouteTarget::Local)
        }),
        ("task egress restricted", "source-sg-egress", |w| {
            src(w).groups[0].rules = vec![rule(Direction::Egress, Protocol::Tcp, Some((443, 443)), "0.0.0.0/0")]
        }),
        ("a NACL denies the request leaving", "source-nacl-out", |w| {
            src(w).network_acls[0].entries.push(nacl_entry(
                90,
                true,
                false,
                Some(Protocol::Tcp),
                Some((5432, 5432)),
                "10.1.0.0/16",
            ))
        }),
        ("a NACL denies inbound", "destination-nacl-in", |w| {
            dst(w).network_acls[0].entries.push(nacl_entry(
                90,
                false,
                false,
                Some(Protocol::Tcp),
                Some((5432, 5432)),
                "10.0.0.0/16",
            ))
        }),
        ("SG ingress missing", "destination-sg-ingress", |w| {
            dst(w).groups[0].rules.clear()
        }),
        ("route missing on the database side", "destination-route", |w| {
            dst(w).route_tables[0].routes.retain(|r| r.target == RouteTarget::Local)
        }),
        ("the database's answers blocked", "destination-nacl-out", |w| {
            dst(w).network_acls[0].entries.push(nacl_entry(
                90,
                true,
                false,
                Some(Protocol::Tcp),
                Some((1024, 65535)),
                "10.0.0.0/8",
            ))
        }),
        ("the answers blocked on the way back in", "source-nacl-in", |w| {
            src(w).network_acls[0]
                .entries
                .push(nacl_entry(90, false, false, None, None, "10.1.1.0/24"))
        }),
        ("DNS option off on the database side", "dns", |w| {
            w.peerings[0].accepter.allow_remote_dns = false
        }),
        ("DNS hostnames off in the database's VPC", "dns", |w| {
            dst(w).vpc.dns_hostnames = Some(false)
        }),
    ];
    for (what, want, apply) in breaks {
        let mut w = guide();
        apply(&mut w);
        let (got, c) = first_failure(&w);
        assert_eq!(got, want, "{what}: {c:#?}");
        assert!(c.fix.as_deref().is_some_and(|f| !f.is_empty()), "{what}: a fix");
    }
}

#[test]
fn a_subnet_with_its_own_table_never_uses_the_main_one() {
    let mut w = guide();
    src(&mut w).route_tables[1]
        .routes
        .retain(|r| r.target == RouteTarget::Local);
    let (_, c) = first_failure(&w);
    assert_eq!(c.resource, "rtb-a");
    assert!(c.detail.contains("the main table rtb-amain has one"), "{}", c.detail);
    assert!(c.fix.unwrap().contains("10.1.0.0/16 through pcx-"));
    // Without a table of its own, the subnet uses the main table: reachable.
    let mut w = guide();
    src(&mut w).route_tables[1].subnets.clear();
    let v = evaluate(&w);
    assert!(v.reachable, "{v:#?}");
    assert!(v.checks[1].detail.contains("rtb-amain"), "{}", v.checks[1].detail);
}

#[test]
fn the_longest_prefix_wins_and_a_blackhole_stops_the_traffic() {
    let mut w = guide();
    src(&mut w).route_tables[1]
        .routes
        .push(route("10.1.1.0/24", RouteTarget::Other("nat-0abc".into())));
    let (got, c) = first_failure(&w);
    assert_eq!(got, "source-route");
    assert!(
        c.detail.contains("nat-0abc") && c.detail.contains("10.1.1.0/24"),
        "{}",
        c.detail
    );
    // A shorter prefix elsewhere changes nothing.
    let mut w = guide();
    src(&mut w).route_tables[1]
        .routes
        .push(route("10.0.0.0/8", RouteTarget::Other("tgw-0abc".into())));
    assert!(evaluate(&w).reachable);
    let mut w = guide();
    dst(&mut w).route_tables[0].routes[1].blackhole = true;
    let (got, c) = first_failure(&w);
    assert_eq!(got, "destination-route");
    assert!(c.detail.contains("blackhole"), "{}", c.detail);
}

#[test]
fn the_final_deny_applies_where_the_description_lists_only_the_acls_own_entries() {
    // The emulator describes a custom ACL without its `*` entries: answers
    // allowed only on 443 must still stop the database's ephemeral ports.
    let mut w = guide();
    dst(&mut w).network_acls[0].entries = vec![
        nacl_entry(100, false, true, None, None, "0.0.0.0/0"),
        nacl_entry(100, true, true, Some(Protocol::Tcp), Some((443, 443)), "0.0.0.0/0"),
    ];
    let (got, c) = first_failure(&w);
    assert_eq!(got, "destination-nacl-out");
    assert!(
        c.detail.contains("final deny") && c.detail.contains("1024-65535"),
        "{}",
        c.detail
    );
    assert!(c.fix.unwrap().contains("stateless"));
}

#[test]
fn a_reference_to_the_other_interfaces_group_allows_it_within_a_region() {
    let mut w = guide();
    let db = dst(&mut w);
    db.groups[0].rules.clear();
    db.groups[0].group_refs.push(GroupRef {
        group: "sg-task".into(),
        account: Some(TASK.into()),
        vpc: Some("vpc-a".into()),
        peering: Some(PCX.into()),
        direction: Direction::Ingress,
        protocol: Some(Protocol::Tcp),
        ports: Some(PortRange { from: 5432, to: 5432 }),
    });
    let v = evaluate(&w);
    assert!(v.reachable, "{v:#?}");
    assert!(
        v.checks[5].detail.contains("sg-task, a group of eni-a"),
        "{}",
        v.checks[5].detail
    );
    // Across regions a group reference does not work.
    src(&mut w).region = "us-east-1".into();
    let (got, c) = first_failure(&w);
    assert_eq!(got, "destination-sg-ingress");
    assert!(c.detail.contains("across regions"), "{}", c.detail);
    // Another port is not allowed by it.
    let mut w2 = guide();
    dst(&mut w2).groups[0].rules = vec![rule(
        Direction::Ingress,
        Protocol::Tcp,
        Some((3306, 3306)),
        "10.0.0.0/16",
    )];
    assert_eq!(first_failure(&w2).0, "destination-sg-ingress");
}

#[test]
fn overlapping_ranges_advise_privatelink() {
    let mut w = guide();
    dst(&mut w).vpc.cidrs = vec![net("10.0.0.0/16")];
    w.destination.address = "10.0.9.9".parse().unwrap();
    w.peerings[0].status = PeeringStatus::Failed;
    w.peerings[0].accepter.cidrs = vec![net("10.0.0.0/16")];
    let (got, c) = first_failure(&w);
    assert_eq!(got, "peering");
    assert!(c.detail.contains("overlap"), "{}", c.detail);
    assert!(c.fix.as_deref().unwrap().contains("PrivateLink"), "{c:?}");
}

#[test]
fn a_transitive_route_advises_a_direct_peering_or_a_transit_gateway() {
    // The task's VPC peers with vpc-b; the database is in vpc-c, peered with vpc-b only.
    let mut w = guide();
    let c_ip = "10.5.0.9";
    let db = dst(&mut w);
    db.vpc.id = "vpc-c".into();
    db.vpc.cidrs = vec![net("10.5.0.0/16")];
    db.interface.vpc = "vpc-c".into();
    db.interface.addresses = vec![c_ip.parse().unwrap()];
    w.destination.address = c_ip.parse().unwrap();
    src(&mut w).route_tables[1]
        .routes
        .push(route("10.5.0.0/16", RouteTarget::Peering(PCX.into())));
    let (got, c) = first_failure(&w);
    assert_eq!(got, "peering");
    assert!(c.detail.contains("no peering joins vpc-a and vpc-c"), "{}", c.detail);
    assert!(
        c.detail.contains("through pcx-0123456789abcdef0 to vpc-b"),
        "{}",
        c.detail
    );
    assert!(c.fix.as_deref().unwrap().contains("Transit Gateway"), "{c:?}");
    let v = evaluate(&w);
    let route = v.checks.iter().find(|c| c.check == CheckId::SourceRoute).unwrap();
    assert!(
        !route.ok && route.fix.as_deref().unwrap().contains("not transitive"),
        "{route:?}"
    );
}

#[test]
fn a_vpc_near_its_peering_quota_is_advised_to_plan_a_transit_gateway() {
    let mut w = guide();
    dst(&mut w).peering_quota = 1;
    let v = evaluate(&w);
    assert!(v.reachable);
    assert!(
        v.checks[0].detail.contains("vpc-b has 1 of 1 active peerings"),
        "{}",
        v.checks[0].detail
    );
    assert!(v.checks[0].detail.contains("Transit Gateway"));
}

#[test]
fn without_dns_the_dns_check_is_left_out() {
    let mut w = guide();
    w.dns = false;
    w.peerings[0].accepter.allow_remote_dns = false;
    let v = evaluate(&w);
    assert!(v.reachable);
    assert!(v.checks.iter().all(|c| c.check != CheckId::Dns));
}

#[test]
fn icmp_needs_an_icmp_or_all_rule() {
    let mut w = guide();
    w.traffic = Traffic::new(Protocol::Icmp, None).unwrap();
    assert_eq!(first_failure(&w).0, "destination-sg-ingress");
    dst(&mut w).groups[0]
        .rules
        .push(rule(Direction::Ingress, Protocol::Icmp, None, "10.0.0.0/16"));
    assert!(evaluate(&w).reachable);
    assert!(Traffic::new(Protocol::Tcp, None).is_err());
    assert!(Traffic::new(Protocol::Icmp, Some(1)).is_err());
}

#[test]
fn half_a_path_checks_only_the_hops_of_the_account_that_was_read() {
    // The task's account alone (a drift pass there): its hops, the peering, DNS.
    let mut w = guide();
    w.destination.view = None;
    let v = evaluate(&w);
    assert!(v.reachable, "{v:#?}");
    let order: Vec<&str> = v.checks.iter().map(|c| c.check.name()).collect();
    assert_eq!(
        order,
        [
            "peering",
            "source-route",
            "source-nacl-out",
            "source-sg-egress",
            "source-nacl-in",
            "dns"
        ]
    );
    assert!(v.checks[5].detail.contains("not read here"), "{}", v.checks[5].detail);
    // The database's account alone.
    let mut w = guide();
    w.source.view = None;
    dst(&mut w).network_acls[0].entries.push(nacl_entry(
        90,
        false,
        false,
        Some(Protocol::Tcp),
        Some((5432, 5432)),
        "10.0.0.0/16",
    ));
    let (got, c) = first_failure(&w);
    assert_eq!(got, "destination-nacl-in");
    assert_eq!(c.account, DB);
    assert_eq!(evaluate(&w).peering.unwrap().id, PCX);
}

#[test]
fn an_active_peering_is_preferred_to_an_old_one_between_the_same_vpcs() {
    let mut w = guide();
    let mut old = w.peerings[0].clone();
    old.id = "pcx-0000000000000000a".into();
    old.status = PeeringStatus::Deleted;
    w.peerings.insert(0, old);
    let v = evaluate(&w);
    assert!(v.reachable, "{v:#?}");
    assert_eq!(v.peering.unwrap().id, PCX);
    // A route still naming the old one is reported as such.
    src(&mut w).route_tables[1].routes[1] = Route {
        destination: net("10.1.0.0/16"),
        target: RouteTarget::Peering("pcx-0000000000000000a".into()),
        blackhole: true,
    };
    let (got, c) = first_failure(&w);
    assert_eq!(got, "source-route");
    assert!(
        c.detail.contains("which is deleted") && c.detail.contains("blackhole"),
        "{}",
        c.detail
    );
}

#[test]
fn endpoints_parse_as_an_interface_or_an_address() {
    assert!(matches!(
        "eni-0123456789abcdef0".parse::<Endpoint>(),
        Ok(Endpoint::Interface(_))
    ));
    assert_eq!(
        "10.1.2.3".parse::<Endpoint>(),
        Ok(Endpoint::Address("10.1.2.3".parse().unwrap()))
    );
    for bad in ["eni-xyz", "10.1.2", "db.example.com", ""] {
        let err = bad.parse::<Endpoint>().unwrap_err();
        assert!(
            err.contains("eni-") || err.contains("network interface id"),
            "{bad}: {err}"
        );
    }
}

#[test]
fn two_ends_in_one_vpc_need_no_peering_only_the_local_route() {
    let mut w = guide();
    let task = src(&mut w).clone();
    let mut db = task.clone();
    db.interface.id = "eni-c".into();
    db.interface.subnet = "subnet-c".into();
    db.interface.addresses = vec!["10.0.2.30".parse().unwrap()];
    db.network_acls = vec![open_acl("acl-c", "vpc-a", "subnet-c")];
    db.groups = vec![group(
        "sg-task",
        "vpc-a",
        vec![rule(
            Direction::Ingress,
            Protocol::Tcp,
            Some((5432, 5432)),
            "10.0.0.0/16",
        )],
    )];
    w.destination = End {
        address: "10.0.2.30".parse().unwrap(),
        view: Some(db),
    };
    w.source.view.as_mut().unwrap().groups[0].rules.push(rule(
        Direction::Ingress,
        Protocol::Tcp,
        Some((5432, 5432)),
        "10.0.0.0/16",
    ));
    let v = evaluate(&w);
    assert!(v.reachable, "{v:#?}");
    assert_eq!(v.peering, None);
    assert!(
        v.checks[0].detail.contains("no peering needed"),
        "{}",
        v.checks[0].detail
    );
    assert!(v.checks[1].detail.contains("within the VPC"), "{}", v.checks[1].detail);
}
