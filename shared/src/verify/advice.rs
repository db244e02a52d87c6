//! When peering is the wrong tool, say which tool is right: one sentence per
//! case, shared by `peerlink verify`, the accepter's rejection reasons and
//! the organisation report.

use std::net::{IpAddr, Ipv4Addr};

use ipnet::IpNet;

use crate::doctor::QUOTA_WARN_RATIO;
use crate::matching::overlaps;
use crate::model::{Peering, PeeringStatus};

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

/// "vpc-… has 41 of 50 active peerings: plan for a Transit Gateway…", when
/// `active` is at least 80 % of `quota`.
pub fn near_quota(vpc: &str, active: usize, quota: usize) -> Option<String> {
    (active as f64 >= quota as f64 * QUOTA_WARN_RATIO)
        .then(|| format!("{vpc} has {active} of {quota} active peerings allowed: {QUOTA}"))
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
        let advice = near_quota("vpc-a", 40, 50).unwrap();
        assert!(
            advice.contains("40 of 50") && advice.contains("Transit Gateway"),
            "{advice}"
        );
    }
}
