//! The accepter's decision: a pure function from the configuration and the
//! peering as EC2 describes it to accept / reject / leave pending / skip, with
//! a reason a human can read. Nothing here calls AWS.

use std::collections::HashMap;
use std::fmt;

use ipnet::IpNet;
use serde::Serialize;

use crate::config::{Config, PeerEntry, UnmatchedRequests};
use crate::model::{Identity, Peering, PeeringSide, PeeringStatus, Side, Vpc};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Accept,
    Reject,
    /// Not accepted, but left pending for a human (or for `ignore` mode).
    LeavePending,
    /// Not ours to decide: we are the requester, or it is not pending.
    Skip,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Accept => "accept",
            Verdict::Reject => "reject",
            Verdict::LeavePending => "leave-pending",
            Verdict::Skip => "skip",
        })
    }
}

/// One decision with everything a reviewer needs to check it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub peering_id: String,
    pub verdict: Verdict,
    pub reason: String,
    /// The configuration entry the request matched, if any.
    pub entry: Option<String>,
    pub status: String,
    pub requester: PeeringSide,
    pub accepter: PeeringSide,
}

/// What the decision needs besides the peering itself.
pub struct AcceptContext<'a> {
    pub me: &'a Identity,
    pub config: &'a Config,
    /// The local VPCs, as read from EC2 (for the overlap check).
    pub vpcs: &'a HashMap<String, Vpc>,
    /// Every peering this account can see (for overlap with existing peers).
    pub peerings: &'a [Peering],
}

/// Whether two CIDR blocks share any address.
pub fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(b) || b.contains(a)
}

fn list(nets: &[IpNet]) -> String {
    nets.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn names(entries: &[&PeerEntry]) -> String {
    entries
        .iter()
        .map(|e| format!("{:?}", e.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the entry matching a request, or explains why none does. `local` is
/// our end of the peering, `remote` the peer's.
pub fn match_entry<'c>(config: &'c Config, local: &PeeringSide, remote: &PeeringSide) -> Result<&'c PeerEntry, String> {
    let by_account: Vec<&PeerEntry> = config
        .peers
        .iter()
        .filter(|e| e.peer_account == *remote.account.as_str())
        .collect();
    if by_account.is_empty() {
        return Err(format!("peer account {} is not in the allowlist", remote.account));
    }
    let by_local: Vec<&PeerEntry> = by_account
        .iter()
        .copied()
        .filter(|e| e.local_vpc == *local.vpc.as_str())
        .collect();
    if by_local.is_empty() {
        let vpcs: Vec<String> = by_account.iter().map(|e| e.local_vpc.to_string()).collect();
        return Err(format!(
            "peer account {} is listed, but not for local VPC {} (its entries {} name {})",
            remote.account,
            local.vpc,
            names(&by_account),
            vpcs.join(", ")
        ));
    }
    let by_vpc: Vec<&PeerEntry> = by_local
        .iter()
        .copied()
        .filter(|e| e.peer_vpc.as_ref().is_none_or(|v| *v == *remote.vpc.as_str()))
        .collect();
    if by_vpc.is_empty() {
        let vpcs: Vec<String> = by_local
            .iter()
            .filter_map(|e| e.peer_vpc.as_ref().map(|v| v.to_string()))
            .collect();
        return Err(format!(
            "peer VPC {} of account {} is not listed (allowed: {})",
            remote.vpc,
            remote.account,
            vpcs.join(", ")
        ));
    }
    let by_region: Vec<&PeerEntry> = by_vpc
        .iter()
        .copied()
        .filter(|e| e.expected_peer_region(&local.region) == remote.region)
        .collect();
    if by_region.is_empty() {
        let regions: Vec<&str> = by_vpc.iter().map(|e| e.expected_peer_region(&local.region)).collect();
        return Err(format!(
            "peer region {} is not allowed for {} (allowed: {})",
            remote.region,
            remote.vpc,
            regions.join(", ")
        ));
    }
    match by_region.as_slice() {
        [one] => Ok(one),
        several => Err(format!(
            "the request matches several entries ({}); make them distinct so exactly one applies",
            names(several)
        )),
    }
}

/// CIDR blocks already reachable from the local VPC through its other active
/// peerings, with the peering that brings each.
fn peered_cidrs<'p>(ctx: &'p AcceptContext<'_>, local_vpc: &str, except: &str) -> Vec<(IpNet, &'p Peering)> {
    let mut out = Vec::new();
    for p in ctx
        .peerings
        .iter()
        .filter(|p| p.id != except && p.status == PeeringStatus::Active)
    {
        for side in [Side::Requester, Side::Accepter] {
            let end = p.side(side);
            if end.vpc == local_vpc && end.account == ctx.me.account {
                out.extend(p.side(side.other()).cidrs.iter().map(|c| (*c, p)));
            }
        }
    }
    out
}

/// Checks a request against a matched entry. `Err` carries why it is unsafe.
fn check(ctx: &AcceptContext<'_>, peering: &Peering, entry: &PeerEntry) -> Result<String, String> {
    let requester = &peering.requester;
    if requester.cidrs.is_empty() {
        return Err("EC2 reports no CIDR block for the requester VPC".into());
    }
    let outside: Vec<IpNet> = requester.cidrs.iter().copied().filter(|c| !entry.allows(c)).collect();
    if !outside.is_empty() {
        let allowed: Vec<String> = entry.allowed_cidrs.iter().map(ToString::to_string).collect();
        return Err(format!(
            "requester CIDR block(s) {} lie outside the allowed ranges of entry {:?} ({})",
            list(&outside),
            entry.name,
            allowed.join(", ")
        ));
    }
    let Some(local_vpc) = ctx.vpcs.get(&peering.accepter.vpc) else {
        return Err(format!(
            "local VPC {} could not be read, so overlap cannot be ruled out",
            peering.accepter.vpc
        ));
    };
    let mut local: Vec<IpNet> = local_vpc.cidrs.clone();
    local.extend(peering.accepter.cidrs.iter().filter(|c| !local_vpc.cidrs.contains(c)));
    for r in &requester.cidrs {
        if let Some(l) = local.iter().find(|l| overlaps(r, l)) {
            return Err(format!(
                "requester CIDR {r} overlaps {l} of the local VPC {}",
                local_vpc.id
            ));
        }
    }
    let peered = peered_cidrs(ctx, &local_vpc.id, &peering.id);
    for r in &requester.cidrs {
        if let Some((c, p)) = peered.iter().find(|(c, _)| overlaps(r, c)) {
            return Err(format!(
                "requester CIDR {r} overlaps {c}, already reachable from {} through active peering {}",
                local_vpc.id, p.id
            ));
        }
    }
    let peers = peered
        .iter()
        .map(|(_, p)| p.id.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    Ok(format!(
        "matches entry {:?}; requester CIDR block(s) {} lie inside the allowed ranges and overlap neither the local VPC nor its {} active peer(s)",
        entry.name,
        list(&requester.cidrs),
        peers
    ))
}

/// Decides what to do with one peering.
pub fn decide(ctx: &AcceptContext<'_>, peering: &Peering) -> Decision {
    let decision = |verdict: Verdict, reason: String, entry: Option<&str>| Decision {
        peering_id: peering.id.clone(),
        verdict,
        reason,
        entry: entry.map(str::to_string),
        status: peering.status.to_string(),
        requester: peering.requester.clone(),
        accepter: peering.accepter.clone(),
    };
    let accepter = &peering.accepter;
    if accepter.account != ctx.me.account {
        let role = if peering.requester.account == ctx.me.account {
            "this account is the requester"
        } else {
            "this account is not a party to it"
        };
        return decision(
            Verdict::Skip,
            format!("{role}; account {} decides", accepter.account),
            None,
        );
    }
    if accepter.region != ctx.me.region {
        return decision(
            Verdict::Skip,
            format!(
                "the accepter VPC is in {}; it is decided there, not in {}",
                accepter.region, ctx.me.region
            ),
            None,
        );
    }
    if peering.status != PeeringStatus::PendingAcceptance {
        return decision(
            Verdict::Skip,
            format!(
                "the peering is {}; only pending-acceptance requests are decided",
                peering.status
            ),
            None,
        );
    }
    let refuse = |reason: String, entry: Option<&str>| {
        let verdict = match ctx.config.settings.unmatched_requests {
            UnmatchedRequests::Reject => Verdict::Reject,
            UnmatchedRequests::Ignore => Verdict::LeavePending,
        };
        decision(verdict, reason, entry)
    };
    let entry = match match_entry(ctx.config, accepter, &peering.requester) {
        Ok(entry) => entry,
        Err(reason) => return refuse(reason, None),
    };
    match check(ctx, peering, entry) {
        Err(reason) => refuse(reason, Some(&entry.name)),
        Ok(reason) if !entry.auto_accept => decision(
            Verdict::LeavePending,
            format!("{reason}; but the entry does not allow auto-accept, so a human accepts it"),
            Some(&entry.name),
        ),
        Ok(reason) => decision(Verdict::Accept, reason, Some(&entry.name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    const ME: &str = "222222222222";
    const PEER: &str = "111111111111";
    const LOCAL_VPC: &str = "vpc-0bbb2222bbbb2222b";
    const PEER_VPC: &str = "vpc-0aaa1111aaaa1111a";

    fn config(extra: &str) -> Config {
        let text = format!(
            r#"
[settings]
{extra}

[[peer]]
name = "orders"
peer_account = "{PEER}"
peer_vpc = "{PEER_VPC}"
allowed_cidrs = ["10.0.0.0/14", "2600:1f18::/32"]
local_vpc = "{LOCAL_VPC}"
auto_accept = true
"#
        );
        Config::parse(&text, "test").unwrap()
    }

    fn side(account: &str, vpc: &str, region: &str, cidrs: &[&str]) -> PeeringSide {
        PeeringSide {
            account: account.into(),
            vpc: vpc.into(),
            region: region.into(),
            cidrs: cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            allow_remote_dns: false,
        }
    }

    fn request(requester_cidrs: &[&str]) -> Peering {
        Peering {
            id: "pcx-0123456789abcdef0".into(),
            status: PeeringStatus::PendingAcceptance,
            status_message: String::new(),
            requester: side(PEER, PEER_VPC, "eu-west-1", requester_cidrs),
            accepter: side(ME, LOCAL_VPC, "eu-west-1", &["10.8.0.0/16"]),
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
            cidrs: local_cidrs.iter().map(|c| c.parse().unwrap()).collect(),
            dns_support: None,
            dns_hostnames: None,
        };
        World {
            me: Identity {
                account: ME.into(),
                region: "eu-west-1".into(),
            },
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
    fn rejects_a_request_for_another_local_vpc() {
        let mut p = request(&["10.0.0.0/16"]);
        p.accepter.vpc = "vpc-0ddd4444dddd4444d".into();
        expect(
            &run(&config(""), &world(&["10.8.0.0/16"]), &p),
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
    fn two_matching_entries_are_refused() {
        let mut cfg = config("");
        let mut twin = cfg.peers[0].clone();
        twin.name = "orders-twin".into();
        twin.peer_vpc = None;
        cfg.peers.push(twin);
        let d = run(&cfg, &world(&["10.8.0.0/16"]), &request(&["10.0.0.0/16"]));
        expect(
            &d,
            Verdict::Reject,
            "matches several entries (\"orders\", \"orders-twin\")",
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
            Verdict::Reject,
            "not in the allowlist",
        );
    }
}
