//! Unit tests of the accepter's decision.
use super::*;

mod checks;
use crate::config::Config;
use crate::fixtures::{self, Entry, LOCAL_VPC, ME, PEER, PEER_VPC};

fn config(settings: &str) -> Config {
    let orders = Entry::new("orders", PEER, LOCAL_VPC, &["10.0.0.0/14", "2600:1f18::/32"]).peer_vpc(PEER_VPC);
    fixtures::config(settings, &[orders])
}

fn cidrs(blocks: &[&str]) -> Vec<ipnet::IpNet> {
    blocks.iter().map(|c| c.parse().unwrap()).collect()
}

fn request(requester_cidrs: &[&str]) -> Peering {
    Peering {
        id: "pcx-0123456789abcdef0".into(),
        status: PeeringStatus::PendingAcceptance,
        status_message: String::new(),
        requester: fixtures::side(PEER, PEER_VPC, cidrs(requester_cidrs)),
        accepter: fixtures::side(ME, LOCAL_VPC, cidrs(&["10.8.0.0/16"])),
        tags: Default::default(),
    }
}

struct World {
    me: Identity,
    vpcs: HashMap<String, Vpc>,
    peerings: Vec<Peering>,
}

fn world(local_cidrs: &[&str]) -> World {
    let vpc = Vpc {
        id: LOCAL_VPC.into(),
        cidrs: cidrs(local_cidrs),
        dns_support: None,
        dns_hostnames: None,
        tags: Default::default(),
    };
    World {
        me: fixtures::me(),
        vpcs: HashMap::from([(LOCAL_VPC.to_string(), vpc)]),
        peerings: Vec::new(),
    }
}

fn run(cfg: &Config, w: &World, p: &Peering) -> Decision {
    let ctx = AcceptContext {
        me: &w.me,
        config: cfg,
        vpcs: &w.vpcs,
        peerings: &w.peerings,
    };
    decide(&ctx, p)
}

fn expect(d: &Decision, verdict: Verdict, reason_part: &str) {
    assert_eq!(d.verdict, verdict, "{}", d.reason);
    assert!(
        d.reason.contains(reason_part),
        "expected {reason_part:?} in {:?}",
        d.reason
    );
}

#[test]
fn accepts_a_listed_safe_request() {
    let d = run(
        &config(""),
        &world(&["10.8.0.0/16"]),
        &request(&["10.0.0.0/16", "10.1.0.0/16"]),
    );
    expect(&d, Verdict::Accept, "matches entry \"orders\"");
    assert_eq!(d.entry.as_deref(), Some("orders"));
}

#[test]
fn rejects_an_unlisted_account() {
    let mut p = request(&["10.0.0.0/16"]);
    p.requester.account = "333333333333".into();
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &p),
        Verdict::Reject,
        "333333333333 is not in the allowlist",
    );
}

#[test]
fn rejects_a_listed_account_with_another_vpc() {
    let mut p = request(&["10.0.0.0/16"]);
    p.requester.vpc = "vpc-0ccc3333cccc3333c".into();
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &p),
        Verdict::Reject,
        "peer VPC vpc-0ccc3333cccc3333c",
    );
}

#[test]
fn leaves_requests_to_vpcs_no_entry_names_alone() {
    let mut p = request(&["10.0.0.0/16"]);
    p.accepter.vpc = "vpc-0ddd4444dddd4444d".into();
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &p),
        Verdict::Skip,
        "vpc-0ddd4444dddd4444d is not a managed VPC",
    );
}

#[test]
fn rejects_a_listed_account_for_another_managed_vpc() {
    let mut cfg = config("");
    let mut other = cfg.peers[0].clone();
    other.name = "other-vpc".into();
    other.local_vpc = "vpc-0ddd4444dddd4444d".parse().unwrap();
    other.peer_account = "999999999999".parse().unwrap();
    cfg.peers.push(other);
    let mut p = request(&["10.0.0.0/16"]);
    p.accepter.vpc = "vpc-0ddd4444dddd4444d".into();
    expect(
        &run(&cfg, &world(&["10.8.0.0/16"]), &p),
        Verdict::Reject,
        "not for local VPC vpc-0ddd4444dddd4444d",
    );
}

#[test]
fn rejects_another_region() {
    let mut p = request(&["10.0.0.0/16"]);
    p.requester.region = "us-east-1".into();
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &p),
        Verdict::Reject,
        "peer region us-east-1 is not allowed",
    );
}

#[test]
fn rejects_a_cidr_outside_the_allowed_ranges() {
    let p = request(&["10.0.0.0/16", "192.168.0.0/24"]);
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &p),
        Verdict::Reject,
        "192.168.0.0/24 lie outside",
    );
}

#[test]
fn rejects_overlap_with_the_local_vpc() {
    let p = request(&["10.0.0.0/16"]);
    expect(
        &run(&config(""), &world(&["10.0.128.0/17"]), &p),
        Verdict::Reject,
        "overlaps 10.0.128.0/17 of the local VPC",
    );
}

#[test]
fn rejects_overlap_through_a_secondary_cidr() {
    // The requester's secondary block overlaps the local VPC's secondary block.
    let p = request(&["10.0.0.0/16", "10.2.0.0/16"]);
    expect(
        &run(&config(""), &world(&["10.8.0.0/16", "10.2.4.0/22"]), &p),
        Verdict::Reject,
        "10.2.0.0/16 overlaps 10.2.4.0/22",
    );
}

#[test]
fn rejects_overlap_with_an_existing_peer() {
    let mut w = world(&["10.8.0.0/16"]);
    let mut existing = request(&["10.1.0.0/16"]);
    existing.id = "pcx-0fffffffffffffff0".into();
    existing.status = PeeringStatus::Active;
    existing.requester.account = "444444444444".into();
    w.peerings.push(existing);
    let d = run(&config(""), &w, &request(&["10.1.0.0/16"]));
    expect(&d, Verdict::Reject, "already reachable");
    assert!(d.reason.contains("pcx-0fffffffffffffff0"));
    // A deleted peering with the same range does not count.
    w.peerings[0].status = PeeringStatus::Deleted;
    expect(
        &run(&config(""), &w, &request(&["10.1.0.0/16"])),
        Verdict::Accept,
        "its 0 active peer",
    );
}

#[test]
fn checks_ipv6_blocks_too() {
    let ok = request(&["10.0.0.0/16", "2600:1f18:aaaa:bb00::/56"]);
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &ok),
        Verdict::Accept,
        "2600:1f18:aaaa:bb00::/56",
    );
    let bad = request(&["10.0.0.0/16", "2a05:d018:1:2300::/56"]);
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &bad),
        Verdict::Reject,
        "2a05:d018:1:2300::/56 lie outside",
    );
    let overlap = request(&["10.0.0.0/16", "2600:1f18:aaaa:bb00::/56"]);
    expect(
        &run(&config(""), &world(&["10.8.0.0/16", "2600:1f18:aaaa::/48"]), &overlap),
        Verdict::Reject,
        "overlaps 2600:1f18:aaaa::/48",
    );
}

#[test]
fn leaves_other_states_alone() {
    for status in [
        PeeringStatus::Active,
        PeeringStatus::Deleted,
        PeeringStatus::Expired,
        PeeringStatus::Rejected,
        PeeringStatus::Failed,
    ] {
        let mut p = request(&["10.0.0.0/16"]);
        p.status = status.clone();
        expect(
            &run(&config(""), &world(&["10.8.0.0/16"]), &p),
            Verdict::Skip,
            &format!("the peering is {status}"),
        );
    }
}

#[test]
fn leaves_requests_we_made_alone() {
    let mut p = request(&["10.0.0.0/16"]);
    std::mem::swap(&mut p.requester, &mut p.accepter);
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &p),
        Verdict::Skip,
        "this account is the requester",
    );
}

#[test]
fn leaves_requests_decided_in_another_region_alone() {
    let mut p = request(&["10.0.0.0/16"]);
    p.accepter.region = "us-east-1".into();
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &p),
        Verdict::Skip,
        "decided there",
    );
}

#[test]
fn the_most_specific_entry_wins() {
    let mut cfg = config("");
    let mut any_vpc = cfg.peers[0].clone();
    any_vpc.name = "any-vpc".into();
    any_vpc.peer_vpc = None;
    any_vpc.auto_accept = false;
    cfg.peers.insert(0, any_vpc.clone());
    let d = run(&cfg, &world(&["10.8.0.0/16"]), &request(&["10.0.0.0/16"]));
    expect(&d, Verdict::Accept, "matches entry \"orders\"");
    // A request from another VPC of the account falls to the wider entry.
    let mut other = request(&["10.0.0.0/16"]);
    other.requester.vpc = "vpc-0ccc3333cccc3333c".into();
    expect(
        &run(&cfg, &world(&["10.8.0.0/16"]), &other),
        Verdict::LeavePending,
        "matches entry \"any-vpc\"",
    );
    // An explicit region beats the default.
    let mut regional = any_vpc.clone();
    regional.name = "regional".into();
    regional.peer_region = Some("eu-west-1".parse().unwrap());
    regional.auto_accept = true;
    cfg.peers.push(regional);
    expect(
        &run(&cfg, &world(&["10.8.0.0/16"]), &other),
        Verdict::Accept,
        "matches entry \"regional\"",
    );
}

#[test]
fn equally_specific_entries_are_refused() {
    // The configuration refuses them when it loads; the decision refuses too.
    let mut cfg = config("");
    let mut twin = cfg.peers[0].clone();
    twin.name = "orders-twin".into();
    cfg.peers.push(twin);
    let d = run(&cfg, &world(&["10.8.0.0/16"]), &request(&["10.0.0.0/16"]));
    expect(
        &d,
        Verdict::Reject,
        "matches several entries (\"orders\", \"orders-twin\")",
    );
}

/// EC2 lists only the primary block of a pending request (the API reference
/// promises CIDR information for active peerings only): decide on what is
/// known, refuse what is known to be bad.
#[test]
fn a_request_listing_only_its_primary_block_is_decided_on_it() {
    let primary_only = |block: &str| {
        let mut p = request(&[block]);
        p.requester.blocks_known = false;
        p
    };
    let d = run(&config(""), &world(&["10.8.0.0/16"]), &primary_only("10.0.0.0/16"));
    expect(&d, Verdict::Accept, "checked once the peering is active");
    expect(
        &run(&config(""), &world(&["10.8.0.0/16"]), &primary_only("192.168.0.0/16")),
        Verdict::Reject,
        "192.168.0.0/16 lie outside",
    );
    expect(
        &run(&config(""), &world(&["10.0.0.0/16"]), &primary_only("10.0.0.0/16")),
        Verdict::Reject,
        "overlaps 10.0.0.0/16 of the local VPC",
    );
    let mut w = world(&["10.8.0.0/16"]);
    let mut existing = request(&["10.0.0.0/16"]);
    existing.id = "pcx-0fffffffffffffff0".into();
    existing.status = PeeringStatus::Active;
    w.peerings.push(existing);
    expect(
        &run(&config(""), &w, &primary_only("10.0.0.0/16")),
        Verdict::Reject,
        "already reachable",
    );
}

/// EC2 does not describe the accepter's blocks of a request this VPC made
/// until it is active: what it claims is every range the entry allows for
/// that peer.
#[test]
fn an_outgoing_request_claims_what_its_entry_allows_until_ec2_lists_the_peers_blocks() {
    let mut w = world(&["10.8.0.0/16"]);
    let mut outgoing = request(&["10.8.0.0/16"]);
    outgoing.id = "pcx-0fffffffffffffff0".into();
    std::mem::swap(&mut outgoing.requester, &mut outgoing.accepter);
    outgoing.accepter.vpc = "vpc-0ccc3333cccc3333c".into();
    outgoing.accepter.cidrs.clear();
    outgoing.accepter.blocks_known = false;
    w.peerings.push(outgoing);
    // The entry for that peer allows 10.0.0.0/14: a request inside it waits on nothing, it is refused.
    let mut cfg = config("");
    let mut asking = cfg.peers[0].clone();
    asking.name = "asking".into();
    asking.peer_vpc = Some("vpc-0ccc3333cccc3333c".parse().unwrap());
    cfg.peers.push(asking);
    let d = run(&cfg, &w, &request(&["10.1.0.0/16"]));
    expect(&d, Verdict::Reject, "pcx-0fffffffffffffff0");
    assert!(d.reason.contains("10.0.0.0/14"), "{}", d.reason);
    // Once EC2 lists the peer's blocks, those are what it claims.
    w.peerings[0].accepter.cidrs = cidrs(&["10.3.0.0/16"]);
    expect(&run(&cfg, &w, &request(&["10.1.0.0/16"])), Verdict::Accept, "matches");
}

#[test]
fn provisioning_peerings_and_own_outgoing_requests_count_for_overlap() {
    for (status, local_is_requester) in [
        (PeeringStatus::Provisioning, false),
        (PeeringStatus::PendingAcceptance, true),
        (PeeringStatus::InitiatingRequest, true),
    ] {
        let mut w = world(&["10.8.0.0/16"]);
        let mut other = request(&["10.1.0.0/16"]);
        other.id = "pcx-0fffffffffffffff0".into();
        other.status = status.clone();
        other.requester.account = "444444444444".into();
        if local_is_requester {
            std::mem::swap(&mut other.requester, &mut other.accepter);
        }
        w.peerings.push(other);
        let d = run(&config(""), &w, &request(&["10.1.0.0/16"]));
        expect(&d, Verdict::Reject, "pcx-0fffffffffffffff0");
    }
    // Someone else's pending request to us does not: it is decided on its own.
    let mut w = world(&["10.8.0.0/16"]);
    let mut incoming = request(&["10.1.0.0/16"]);
    incoming.id = "pcx-0fffffffffffffff0".into();
    w.peerings.push(incoming);
    expect(
        &run(&config(""), &w, &request(&["10.1.0.0/16"])),
        Verdict::Accept,
        "matches",
    );
}

#[test]
fn ignore_mode_leaves_refused_requests_pending() {
    let cfg = config("unmatched_requests = \"ignore\"");
    let mut p = request(&["10.0.0.0/16"]);
    p.requester.account = "333333333333".into();
    expect(
        &run(&cfg, &world(&["10.8.0.0/16"]), &p),
        Verdict::LeavePending,
        "not in the allowlist",
    );
    let bad = request(&["192.168.0.0/16"]);
    expect(
        &run(&cfg, &world(&["10.8.0.0/16"]), &bad),
        Verdict::LeavePending,
        "outside",
    );
}

#[test]
fn entries_without_auto_accept_wait_for_a_human() {
    let mut cfg = config("");
    cfg.peers[0].auto_accept = false;
    let d = run(&cfg, &world(&["10.8.0.0/16"]), &request(&["10.0.0.0/16"]));
    expect(&d, Verdict::LeavePending, "does not allow auto-accept");
    // Unsafe requests are still refused.
    expect(
        &run(&cfg, &world(&["10.0.0.0/16"]), &request(&["10.0.0.0/16"])),
        Verdict::Reject,
        "overlaps",
    );
}

#[test]
fn unreadable_local_vpc_fails_closed() {
    let mut w = world(&["10.8.0.0/16"]);
    w.vpcs.clear();
    expect(
        &run(&config(""), &w, &request(&["10.0.0.0/16"])),
        Verdict::Reject,
        "could not be read",
    );
}

#[test]
fn empty_config_accepts_nothing() {
    let cfg = Config::default();
    expect(
        &run(&cfg, &world(&["10.8.0.0/16"]), &request(&["10.0.0.0/16"])),
        Verdict::Skip,
        "not a managed VPC",
    );
}

#[test]
fn an_overlap_rejection_says_which_tool_would_work() {
    let d = run(&config(""), &world(&["10.0.128.0/17"]), &request(&["10.0.0.0/16"]));
    expect(&d, Verdict::Reject, "expose the one service with PrivateLink");
    let mut w = world(&["10.8.0.0/16"]);
    let mut existing = request(&["10.1.0.0/16"]);
    existing.id = "pcx-0fffffffffffffff0".into();
    existing.status = PeeringStatus::Active;
    w.peerings.push(existing);
    expect(
        &run(&config(""), &w, &request(&["10.1.0.0/16"])),
        Verdict::Reject,
        "re-address one VPC",
    );
}
