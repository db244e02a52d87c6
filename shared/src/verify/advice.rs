//! When peering is the wrong tool, say which tool is right: one sentence per
//! case, shared by `peerlink verify`, the accepter's rejection reasons and
//! the organisation report.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::doctor::QUOTA_WARN_RATIO;
use crate::finding::{Finding, FindingKind};
use crate::matching::overlaps;
use crate::model::{Identity, Peering, PeeringStatus, RouteTable, RouteTarget};

/// Overlapping ranges: AWS never activates such a peering, and no route
/// could tell the two ranges apart.
pub const OVERLAP: &str = "peering cannot work between overlapping ranges: expose the one service with PrivateLink (a Network Load Balancer and an endpoint service) or re-address one VPC";

/// A route through one peering to a VPC beyond it.
pub const TRANSITIVE: &str =
    "peering is not transitive: peer the two VPCs directly, or connect them through a Transit Gateway";

/// A VPC close to its quota of active peerings.
pub const QUOTA: &str = "plan for a Transit Gateway: one attachment per VPC instead of a peering per pair";

/// The first pair of blocks of `a` and `b` that overlap.
pub fn overlap(a: &[IpNet], b: &[IpNet]) -> Option<(IpNet, IpNet)> {
    a.iter()
        .flat_map(|x| b.iter().map(move |y| (*x, *y)))
        .find(|(x, y)| overlaps(x, y))
}

/// Whether `net` holds `address`.
pub fn holds(net: &IpNet, address: Ipv4Addr) -> bool {
    net.contains(&IpAddr::V4(address))
}

/// Where a route through `through` (a peering of `vpc`) ends, when the VPC
/// at its far end does not hold `address`: that VPC and its blocks. `None`
/// when the far end holds it (or is unknown).
pub fn beyond<'p>(through: &'p Peering, vpc: &str, address: Ipv4Addr) -> Option<(&'p str, &'p [IpNet])> {
    let far = [&through.requester, &through.accepter]
        .into_iter()
        .find(|side| side.vpc != vpc)?;
    let holds_it = far.cidrs.iter().any(|c| holds(c, address));
    (!holds_it && !far.cidrs.is_empty()).then_some((far.vpc.as_str(), far.cidrs.as_slice()))
}

/// The active peerings of `vpc` among `peerings`.
pub fn active_peerings(peerings: &[Peering], account: &str, vpc: &str) -> usize {
    peerings
        .iter()
        .filter(|p| p.status == PeeringStatus::Active)
        .filter(|p| {
            [&p.requester, &p.accepter]
                .iter()
                .any(|s| s.vpc == vpc && s.account == account)
        })
        .count()
}

/// "vpc-… has 41 of 50 active peerings allowed", when `active` is at least
/// 80 % of `quota` (then [`QUOTA`] is the advice).
pub fn near_quota(vpc: &str, active: usize, quota: usize) -> Option<String> {
    (active as f64 >= quota as f64 * QUOTA_WARN_RATIO)
        .then(|| format!("{vpc} has {active} of {quota} active peerings allowed"))
}

/// Where peering is the wrong tool in one account's view (the organisation
/// report): a peering between overlapping ranges, a route through a peering
/// to a VPC that does not hold its destination, a VPC at 80 % of its quota
/// of active peerings. `tables`: the account's route tables, when read.
pub fn findings(me: &Identity, peerings: &[Peering], tables: &[RouteTable], quota: usize) -> Vec<Finding> {
    let finding = |peering: Option<&str>, resource: &str, message: String, fix: &str| Finding {
        kind: FindingKind::WrongTool,
        peering: peering.map(str::to_string),
        resource: Some(resource.to_string()),
        message,
        fix: fix.to_string(),
    };
    let mut out = Vec::new();
    let mine: Vec<&Peering> = peerings.iter().filter(|p| !p.local_sides(me).is_empty()).collect();
    for p in &mine {
        if let Some((a, b)) = overlap(&p.requester.cidrs, &p.accepter.cidrs) {
            let message = format!(
                "{} ({a}) and {} ({b}) on {} overlap",
                p.requester.vpc, p.accepter.vpc, p.id
            );
            out.push(finding(Some(&p.id), &p.id, message, OVERLAP));
        }
    }
    for t in tables {
        for r in &t.routes {
            let RouteTarget::Peering(through) = &r.target else {
                continue;
            };
            let Some(p) = mine.iter().find(|p| p.id == *through) else {
                continue;
            };
            let far = [&p.requester, &p.accepter].into_iter().find(|s| s.vpc != t.vpc);
            let Some(far) = far.filter(|s| !s.cidrs.is_empty()) else {
                continue;
            };
            if !far.cidrs.iter().any(|c| overlaps(c, &r.destination)) {
                let message = format!(
                    "route table {} sends {} through {through} to {} ({}), which does not hold it",
                    t.id,
                    r.destination,
                    far.vpc,
                    crate::logging::joined(&far.cidrs)
                );
                out.push(finding(Some(through), &t.id, message, TRANSITIVE));
            }
        }
    }
    let vpcs: BTreeSet<&str> = mine
        .iter()
        .flat_map(|p| p.local_sides(me).into_iter().map(|s| p.side(s).vpc.as_str()))
        .collect();
    for vpc in vpcs {
        if let Some(message) = near_quota(vpc, active_peerings(peerings, &me.account, vpc), quota) {
            out.push(finding(None, vpc, message, QUOTA));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::side;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    #[test]
    fn overlap_names_the_pair() {
        let a = nets(&["10.0.0.0/16", "10.2.0.0/16"]);
        assert_eq!(overlap(&a, &nets(&["10.1.0.0/16"])), None);
        let (x, y) = overlap(&a, &nets(&["10.9.0.0/16", "10.2.128.0/17"])).unwrap();
        assert_eq!(
            (x.to_string(), y.to_string()),
            ("10.2.0.0/16".into(), "10.2.128.0/17".into())
        );
    }

    #[test]
    fn a_route_through_a_peering_to_an_address_beyond_it_is_transitive() {
        let p = Peering {
            id: "pcx-1".into(),
            status: PeeringStatus::Active,
            status_message: String::new(),
            requester: side("111111111111", "vpc-a", nets(&["10.0.0.0/16"])),
            accepter: side("222222222222", "vpc-b", nets(&["10.1.0.0/16"])),
            tags: Default::default(),
        };
        let (far, cidrs) = beyond(&p, "vpc-a", "10.5.0.9".parse().unwrap()).unwrap();
        assert_eq!((far, cidrs.len()), ("vpc-b", 1));
        assert_eq!(beyond(&p, "vpc-a", "10.1.2.3".parse().unwrap()), None);
        assert_eq!(active_peerings(std::slice::from_ref(&p), "222222222222", "vpc-b"), 1);
        assert_eq!(active_peerings(std::slice::from_ref(&p), "111111111111", "vpc-b"), 0);
    }

    #[test]
    fn the_quota_advice_starts_at_eighty_percent() {
        assert_eq!(near_quota("vpc-a", 39, 50), None);
        assert_eq!(
            near_quota("vpc-a", 40, 50).unwrap(),
            "vpc-a has 40 of 50 active peerings allowed"
        );
    }

    #[test]
    fn one_accounts_view_gets_advice_where_peering_is_the_wrong_tool() {
        use crate::model::Route;
        let me = Identity {
            account: "111111111111".into(),
            region: "eu-west-1".into(),
        };
        let peering = |id: &str, local: &str, far: &str, far_cidr: &str| Peering {
            id: id.into(),
            status: PeeringStatus::Active,
            status_message: String::new(),
            requester: side("111111111111", local, nets(&["10.0.0.0/16"])),
            accepter: side("222222222222", far, nets(&[far_cidr])),
            tags: Default::default(),
        };
        let peerings = [
            peering("pcx-ab", "vpc-a", "vpc-b", "10.1.0.0/16"),
            peering("pcx-ax", "vpc-a", "vpc-x", "10.0.128.0/17"),
        ];
        let route = |dest: &str| Route {
            destination: dest.parse().unwrap(),
            target: RouteTarget::Peering("pcx-ab".into()),
            blackhole: false,
        };
        let table = RouteTable {
            id: "rtb-a".into(),
            vpc: "vpc-a".into(),
            main: true,
            subnets: Vec::new(),
            tags: Default::default(),
            routes: vec![route("10.1.0.0/16"), route("10.5.0.0/16")],
            other_routes: 0,
            main_for: Vec::new(),
        };
        let found = findings(&me, &peerings, std::slice::from_ref(&table), 2);
        let messages: Vec<(&str, &str)> = found.iter().map(|f| (f.message.as_str(), f.fix.as_str())).collect();
        assert_eq!(
            messages,
            [
                (
                    "vpc-a (10.0.0.0/16) and vpc-x (10.0.128.0/17) on pcx-ax overlap",
                    OVERLAP
                ),
                (
                    "route table rtb-a sends 10.5.0.0/16 through pcx-ab to vpc-b (10.1.0.0/16), which does not hold it",
                    TRANSITIVE
                ),
                ("vpc-a has 2 of 2 active peerings allowed", QUOTA),
            ]
        );
        assert!(found.iter().all(|f| f.kind == FindingKind::WrongTool));
        assert!(findings(&me, &peerings[..1], &[], 50).is_empty());
    }
}
