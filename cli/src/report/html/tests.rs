//! The picture's layout, checked on its numbers (no drawing): for any
//! organisation, no two edges share a lane where their spans meet, no two
//! boxes, nodes or badges overlap, and the same report gives the same layout.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::layout::{BADGE_R, Layout, Rect, layout};
use crate::report::model::{AccountRow, End, EndRead, OrgReport, PeeringRow, State, Summary, VpcNode};

/// An organisation: accounts (readable, named, regions), VPCs (account,
/// blocks, named) and peerings (requester VPC, accepter VPC, state), by index.
type Shape = (
    Vec<(bool, bool, usize)>,
    Vec<(usize, usize, bool)>,
    Vec<(usize, usize, usize)>,
);

fn shapes() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec((any::<bool>(), any::<bool>(), 1..3usize), 0..5),
        prop::collection::vec((0..7usize, 0..9usize, any::<bool>()), 0..12),
        prop::collection::vec((0..12usize, 0..12usize, 0..6usize), 0..24),
    )
}

fn account(i: usize) -> String {
    format!("{:012}", 100_000_000_000 + i)
}

/// The report of a shape: accounts past the listed ones are not in the file.
fn report((accounts, vpcs, peerings): Shape) -> OrgReport {
    let regions = ["eu-west-1", "us-east-1"];
    let accounts: Vec<AccountRow> = accounts
        .iter()
        .enumerate()
        .flat_map(|(i, &(readable, named, n))| {
            regions[..n].iter().map(move |region| AccountRow {
                account: account(i),
                name: named.then(|| format!("team {i} with a rather long name that must be cut")),
                region: region.to_string(),
                role: "peerlink-report".into(),
                config: None,
                readable,
                error: (!readable).then(|| "cannot assume role: AccessDenied, a long message wrapped".repeat(2)),
                peerings: 0,
                outstanding: 0,
                other_outstanding: vec![],
                findings: vec![],
            })
        })
        .collect();
    let vpcs: Vec<VpcNode> = vpcs
        .iter()
        .enumerate()
        .map(|(v, &(a, blocks, named))| VpcNode {
            account: account(a),
            region: regions[v % 2].into(),
            id: format!("vpc-{v:017}"),
            name: named.then(|| "orders <ecs> & co".into()),
            cidrs: (0..blocks).map(|b| format!("10.{v}.{}.0/20", b * 16)).collect(),
            read: a % 2 == 0,
        })
        .collect();
    let end = |v: &VpcNode| End {
        account: v.account.clone(),
        account_name: None,
        region: v.region.clone(),
        vpc: v.id.clone(),
        cidrs: v.cidrs.clone(),
        read: EndRead::Unmanaged,
        entry: None,
        missing: vec![],
        outstanding: vec![],
        exposure: None,
    };
    let peerings: Vec<PeeringRow> = if vpcs.is_empty() {
        vec![]
    } else {
        peerings
            .iter()
            .enumerate()
            .map(|(k, &(a, b, s))| PeeringRow {
                id: format!("pcx-{k:04}"),
                state: State::ALL[s],
                status: "active".into(),
                status_message: String::new(),
                requester: end(&vpcs[a % vpcs.len()]),
                accepter: end(&vpcs[b % vpcs.len()]),
                findings: vec![],
            })
            .collect()
    };
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for p in &peerings {
        *states.entry(p.state.name().into()).or_default() += 1;
    }
    OrgReport {
        accounts_file: "accounts.toml".into(),
        summary: Summary {
            accounts: accounts.len(),
            unreadable: accounts.iter().filter(|a| !a.readable).count(),
            peerings: peerings.len(),
            states,
            outstanding_changes: 0,
            exit_code: 2,
        },
        accounts,
        vpcs,
        peerings,
    }
}

fn apart(a: &Rect, b: &Rect) -> bool {
    a.x + a.w <= b.x || b.x + b.w <= a.x || a.y + a.h <= b.y || b.y + b.h <= a.y
}

fn inside(inner: &Rect, outer: &Rect) -> bool {
    inner.x >= outer.x
        && inner.y >= outer.y
        && inner.x + inner.w <= outer.x + outer.w
        && inner.y + inner.h <= outer.y + outer.h
}

/// Every box, the legend among them.
fn boxes(l: &Layout) -> Vec<Rect> {
    l.boxes.iter().map(|b| b.rect).chain([l.legend.rect]).collect()
}

fn assert_lanes_apart(l: &Layout) {
    for (i, a) in l.edges.iter().enumerate() {
        for b in &l.edges[i + 1..] {
            let (a_lo, a_hi) = (a.requester_y.min(a.accepter_y), a.requester_y.max(a.accepter_y));
            let (b_lo, b_hi) = (b.requester_y.min(b.accepter_y), b.requester_y.max(b.accepter_y));
            assert!(
                a.lane != b.lane || a_hi < b_lo || b_hi < a_lo,
                "{} and {} share lane {} where their spans meet: {a:?} {b:?}",
                a.peering,
                b.peering,
                a.lane
            );
            let ((ax, ay), (bx, by)) = (a.badge(), b.badge());
            assert!(
                ((ax - bx).powi(2) + (ay - by).powi(2)).sqrt() >= 2.0 * BADGE_R,
                "the badges of {} and {} overlap",
                a.peering,
                b.peering
            );
        }
    }
}

fn assert_boxes_apart(l: &Layout) {
    let all = boxes(l);
    for (i, a) in all.iter().enumerate() {
        assert!(
            a.x + a.w <= l.width && a.y + a.h <= l.height,
            "{a:?} outside the picture"
        );
        for b in &all[i + 1..] {
            assert!(apart(a, b), "boxes overlap: {a:?} {b:?}");
        }
    }
    let right = l
        .boxes
        .iter()
        .filter(|b| !b.nodes.is_empty())
        .map(|b| b.rect.x + b.rect.w);
    let right = right.fold(0.0, f32::max);
    for b in &l.boxes {
        for (k, n) in b.nodes.iter().enumerate() {
            assert!(inside(&n.rect, &b.rect), "{} outside its box", n.vpc);
            for m in &b.nodes[k + 1..] {
                assert!(apart(&n.rect, &m.rect), "{} and {} overlap", n.vpc, m.vpc);
            }
        }
    }
    // Lanes and badges between the boxes and the legend.
    for e in &l.edges {
        assert!(e.x - BADGE_R > right && e.x + BADGE_R < l.legend.rect.x, "{e:?}");
    }
}

proptest! {
    #[test]
    fn no_two_edges_share_a_lane_and_no_two_badges_overlap(shape in shapes()) {
        assert_lanes_apart(&layout(&report(shape)));
    }

    #[test]
    fn no_two_boxes_or_nodes_overlap(shape in shapes()) {
        assert_boxes_apart(&layout(&report(shape)));
    }

    #[test]
    fn the_same_report_gives_the_same_layout(shape in shapes()) {
        let r = report(shape);
        prop_assert_eq!(layout(&r), layout(&r.clone()));
    }
}

#[test]
fn every_peering_is_an_edge_from_its_requester_to_its_accepter() {
    let shape = (
        vec![(true, true, 1), (false, false, 1)],
        vec![(0, 2, true), (0, 1, false), (3, 1, false)],
        vec![(0, 1, 0), (2, 0, 3), (1, 1, 1)],
    );
    let r = report(shape);
    let l = layout(&r);
    assert_eq!(l.edges.len(), r.peerings.len());
    let node = |vpc: &str| {
        l.boxes
            .iter()
            .flat_map(|b| &b.nodes)
            .find(|n| n.vpc == vpc)
            .unwrap_or_else(|| panic!("{vpc}"))
            .rect
    };
    for (e, p) in l.edges.iter().zip(&r.peerings) {
        assert_eq!((e.peering.as_str(), e.state), (p.id.as_str(), p.state));
        let (from, to) = (node(&p.requester.vpc), node(&p.accepter.vpc));
        assert!(
            e.requester_y > from.y && e.requester_y < from.y + from.h,
            "{e:?} {from:?}"
        );
        assert!(e.accepter_y > to.y && e.accepter_y < to.y + to.h, "{e:?} {to:?}");
    }
}
