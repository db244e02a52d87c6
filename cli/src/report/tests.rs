//! The merge and the page, without AWS (the emulator test in
//! `tests/tests/report.rs` runs the whole command).

use std::collections::BTreeMap;

use peerlink::config::{Direction, PortRange, Protocol};
use peerlink::exposure::{Exposure, LineState, OpenLine, Owner, RouteLine};
use peerlink::finding::{Finding, FindingKind};
use peerlink::model::{Peering, PeeringSide, PeeringStatus, RulePeer, SgRule, Side, Vpc};
use peerlink::outcome::WriteResult;
use peerlink::reconcile::{Action, ActionOutcome, Managed, Planned, Report, Scope};

use super::merge::merge;
use super::model::{EndRead, State};
use super::read::{AccountRead, Seen};
use super::{html, text};

const REGION: &str = "eu-west-1";

fn side(account: &str, vpc: &str, cidr: &str) -> PeeringSide {
    PeeringSide {
        account: account.into(),
        vpc: vpc.into(),
        region: REGION.into(),
        cidrs: vec![cidr.parse().unwrap()],
        allow_remote_dns: false,
        blocks_known: true,
    }
}

fn peering(id: &str, status: &str, req: PeeringSide, acc: PeeringSide) -> Peering {
    Peering {
        id: id.into(),
        status: PeeringStatus::from_code(status),
        status_message: format!("{status} message"),
        requester: req,
        accepter: acc,
        tags: BTreeMap::new(),
    }
}

fn vpc(id: &str, cidr: &str, name: Option<&str>) -> Vpc {
    Vpc {
        id: id.into(),
        cidrs: vec![cidr.parse().unwrap()],
        dns_support: None,
        dns_hostnames: None,
        tags: name.map(|n| ("Name".to_string(), n.to_string())).into_iter().collect(),
    }
}

fn read(account: &str, outcome: Result<Seen, String>) -> AccountRead {
    AccountRead {
        account: account.into(),
        name: Some(format!("team-{}", &account[..1])),
        role_arn: format!("arn:aws:iam::{account}:role/peerlink-report"),
        region: REGION.into(),
        config: None,
        outcome,
    }
}

fn report(managed: Vec<Managed>, actions: Vec<Planned>, findings: Vec<Finding>) -> Report {
    Report {
        scope: Scope::All,
        applied: false,
        managed,
        actions: actions
            .into_iter()
            .map(|planned| ActionOutcome {
                planned,
                result: WriteResult::Planned,
            })
            .collect(),
        findings,
        note: None,
        rejection: None,
    }
}

fn create_route(pcx: &str) -> Planned {
    Planned {
        peering: Some(pcx.into()),
        action: Action::CreateRoute {
            route_table: "rtb-1".into(),
            destination: "10.0.0.0/16".parse().unwrap(),
            peering: pcx.into(),
        },
        reason: "route to the peer block is missing".into(),
    }
}

/// A (1111…) requests from vpc-a to B (2222…) four times; C (3333…) is unreadable.
fn organisation(with_drift: bool) -> Vec<AccountRead> {
    let (a, b) = ("111111111111", "222222222222");
    let a_end = side(a, "vpc-a", "10.0.0.0/16");
    let b_end = side(b, "vpc-b", "10.1.0.0/16");
    let peerings = vec![
        peering("pcx-1", "active", a_end.clone(), b_end.clone()),
        peering("pcx-2", "active", a_end.clone(), side(b, "vpc-b2", "10.3.0.0/16")),
        peering("pcx-3", "rejected", a_end.clone(), b_end.clone()),
        peering("pcx-4", "deleted", a_end.clone(), b_end.clone()),
        peering("pcx-5", "pending-acceptance", a_end.clone(), b_end.clone()),
        // To an account not in the file.
        peering(
            "pcx-6",
            "active",
            a_end.clone(),
            side("999999999999", "vpc-x", "10.9.0.0/16"),
        ),
    ];
    let managed = |id: &str, s: Side| Managed {
        peering: id.into(),
        status: "active".into(),
        side: s,
        entry: "orders".into(),
        peer_account: String::new(),
        peer_vpc: String::new(),
    };
    let b_report = report(
        vec![managed("pcx-1", Side::Accepter), managed("pcx-2", Side::Accepter)],
        if with_drift {
            vec![create_route("pcx-1")]
        } else {
            vec![]
        },
        vec![Finding {
            kind: FindingKind::OverlapConflict,
            peering: Some("pcx-2".into()),
            resource: Some("vpc-b2".into()),
            message: "peer block overlaps".into(),
            fix: "narrow allowed_cidrs".into(),
        }],
    );
    // What B's plan says pcx-1's accepter end opens and routes.
    let b_exposure = vec![Exposure {
        peering: "pcx-1".into(),
        side: Side::Accepter,
        entry: "orders".into(),
        vpc: "vpc-b".into(),
        open: vec![OpenLine::new(
            "sg-b",
            &SgRule {
                direction: Direction::Ingress,
                protocol: Protocol::Tcp,
                ports: Some(PortRange { from: 5432, to: 5432 }),
                peer: RulePeer::Cidr("10.0.0.0/16".parse().unwrap()),
            },
            Owner::Peerlink,
            LineState::InPlace,
        )],
        routes: vec![RouteLine::new(
            "rtb-1",
            "10.0.0.0/16".parse().unwrap(),
            "pcx-1",
            false,
            if with_drift {
                LineState::ToAdd
            } else {
                LineState::InPlace
            },
        )],
    }];
    vec![
        read(
            a,
            Ok(Seen {
                peerings: peerings.clone(),
                vpcs: vec![vpc("vpc-a", "10.0.0.0/16", Some("orders <ecs>"))],
                report: None,
                exposure: Vec::new(),
                advice: Vec::new(),
            }),
        ),
        read(
            b,
            Ok(Seen {
                // B no longer lists the deleted one, nor the one to vpc-x.
                peerings: peerings
                    .iter()
                    .filter(|p| !["pcx-4", "pcx-6"].contains(&p.id.as_str()))
                    .cloned()
                    .collect(),
                vpcs: vec![vpc("vpc-b", "10.1.0.0/16", None), vpc("vpc-b2", "10.3.0.0/16", None)],
                report: Some(b_report),
                exposure: b_exposure,
                advice: Vec::new(),
            }),
        ),
        read("333333333333", Err("cannot assume role: AccessDenied".into())),
    ]
}

#[test]
fn both_ends_merge_into_one_row_with_its_state() {
    let r = merge("accounts.toml", &organisation(true));
    let states: Vec<(&str, State)> = r.peerings.iter().map(|p| (p.id.as_str(), p.state)).collect();
    let want = [
        ("pcx-1", State::DriftPending),
        ("pcx-2", State::Conflict),
        ("pcx-3", State::Rejected),
        ("pcx-4", State::Gone),
        ("pcx-5", State::PendingAcceptance),
        ("pcx-6", State::Finished),
    ];
    for (id, state) in want {
        assert!(states.contains(&(id, state)), "{id} {state:?}: {states:?}");
    }
    assert_eq!(r.peerings.len(), 6, "one row per peering, not per end");
    let p1 = r.peerings.iter().find(|p| p.id == "pcx-1").unwrap();
    assert_eq!(p1.accepter.missing, vec!["create-route"]);
    assert!(p1.requester.missing.is_empty());
    assert_eq!(p1.accepter.read, EndRead::Managed);
    assert_eq!(p1.requester.read, EndRead::Unmanaged);
    let p6 = r.peerings.iter().find(|p| p.id == "pcx-6").unwrap();
    assert_eq!(p6.accepter.read, EndRead::NotRead);
    let p2 = r.peerings.iter().find(|p| p.id == "pcx-2").unwrap();
    assert_eq!(p2.findings[0].fix, "narrow allowed_cidrs");
    assert_eq!(p2.findings[0].account, "222222222222");
    // The unreadable account is a row saying why.
    let c = r.accounts.iter().find(|a| a.account == "333333333333").unwrap();
    assert!(!c.readable && c.error.as_deref().unwrap().contains("AccessDenied"));
    assert_eq!(r.summary.unreadable, 1);
    assert_eq!(r.summary.exit_code, 2);
    assert_eq!(r.summary.states["gone"], 1);
    // Every end is a node, the far account's too.
    assert!(r.vpcs.iter().any(|v| v.id == "vpc-x" && !v.read));
    assert_eq!(
        r.vpcs.iter().find(|v| v.id == "vpc-a").unwrap().name.as_deref(),
        Some("orders <ecs>")
    );
}

#[test]
fn all_finished_is_exit_0_and_anything_pending_is_2() {
    let finished = |status: &str| {
        let p = peering(
            "pcx-1",
            status,
            side("111111111111", "vpc-a", "10.0.0.0/16"),
            side("222222222222", "vpc-b", "10.1.0.0/16"),
        );
        let seen = Seen {
            peerings: vec![p],
            ..Seen::default()
        };
        merge(
            "f",
            &[read("111111111111", Ok(seen.clone())), read("222222222222", Ok(seen))],
        )
    };
    assert_eq!(finished("active").summary.exit_code, 0);
    assert_eq!(finished("rejected").summary.exit_code, 0, "history, nothing to do");
    assert_eq!(finished("pending-acceptance").summary.exit_code, 2);
    assert_eq!(merge("f", &organisation(false)).summary.exit_code, 2);
}

#[test]
fn the_terminal_table_has_a_row_per_peering_and_account() {
    let out = text::render(&merge("accounts.toml", &organisation(true)));
    for id in ["pcx-1", "pcx-6", "333333333333"] {
        assert!(out.contains(id), "{out}");
    }
    assert!(out.contains("UNREADABLE") && out.contains("AccessDenied"), "{out}");
    assert!(out.contains("fix: narrow allowed_cidrs"), "{out}");
}

/// The `(cx, cy)` of every badge in the picture.
fn badges(svg: &str) -> Vec<(f32, f32)> {
    svg.match_indices("<circle class=\"badge\"")
        .map(|(i, _)| {
            // The start tag (the template closes an empty element with `></circle>`).
            let tag = &svg[i..i + svg[i..].find('>').unwrap()];
            let attr = |name: &str| -> f32 {
                let at = tag.find(&format!(" {name}=\"")).unwrap() + name.len() + 3;
                tag[at..at + tag[at..].find('"').unwrap()].parse().unwrap()
            };
            (attr("cx"), attr("cy"))
        })
        .collect()
}

/// Every bracket as (lane x, top, bottom), from its path
/// `M x0,y1 H a Q lx,y1 lx,b V c Q lx,y2 a,y2 H x1`.
fn brackets(svg: &str) -> Vec<(f32, f32, f32)> {
    svg.match_indices("<g class=\"edge ")
        .map(|(i, _)| {
            let at = i + svg[i..].find(" d=\"M").unwrap() + 5;
            let d = &svg[at..at + svg[at..].find('"').unwrap()];
            let nums: Vec<f32> = d
                .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-'))
                .filter(|t| !t.is_empty())
                .map(|t| t.parse().unwrap())
                .collect();
            // x0 y1 a lx y1 lx b c lx y2 a y2 x1
            let (lx, y1, y2) = (nums[3], nums[1], nums[9]);
            (lx, y1.min(y2), y1.max(y2))
        })
        .collect()
}

/// No two brackets run along the same lane where their spans meet, and no
/// two numbers are drawn on top of each other.
fn assert_apart(svg: &str) {
    let b = brackets(svg);
    for (i, x) in b.iter().enumerate() {
        for y in &b[i + 1..] {
            if x.0 == y.0 {
                assert!(x.2 < y.1 || y.2 < x.1, "two brackets share a lane: {x:?} {y:?}");
            }
        }
    }
    let c = badges(svg);
    for (i, x) in c.iter().enumerate() {
        for y in &c[i + 1..] {
            let d = ((x.0 - y.0).powi(2) + (x.1 - y.1).powi(2)).sqrt();
            assert!(d >= 20.0, "badges overlap: {x:?} {y:?}");
        }
    }
}

#[test]
fn the_page_draws_one_edge_per_peering_escapes_everything_and_fetches_nothing() {
    let r = merge("accounts.toml", &organisation(true));
    let page = html::render(&r);
    assert_eq!(page.matches("<g class=\"edge ").count(), r.peerings.len());
    for p in &r.peerings {
        let (colour, _, _) = html::style(p.state);
        let edge = format!(
            "<g class=\"edge state-{s}\" data-peering=\"{id}\" data-state=\"{s}\"><title>#",
            s = p.state.name(),
            id = p.id
        );
        let at = page.find(&edge).unwrap_or_else(|| panic!("{edge}"));
        let end = at + page[at..].find("</g>").unwrap();
        let from = at + page[at..end].find("<path").unwrap();
        let path = &page[from..from + page[from..].find('>').unwrap()];
        assert!(path.contains(&format!(" stroke=\"{colour}\"")), "{path}");
        assert!(page[at..end].contains(&p.id));
    }
    assert!(page.contains("orders &lt;ecs&gt;"), "the VPC name is escaped");
    for external in ["<script", "src=", "href=", "@import", "url(http", "<link"] {
        assert!(!page.contains(external), "{external}");
    }
    assert_eq!(badges(&page).len(), r.peerings.len());
    assert_apart(&page);
}

#[test]
fn many_peerings_of_one_hub_keep_their_lanes_and_numbers_apart() {
    let hub = side("111111111111", "vpc-hub", "10.255.0.0/16");
    let mut peerings = Vec::new();
    for i in 0..14 {
        let peer = side(
            &format!("2222222222{i:02}"),
            &format!("vpc-p{i}"),
            &format!("10.{i}.0.0/16"),
        );
        peerings.push(peering(&format!("pcx-{i:02}"), "active", peer, hub.clone()));
    }
    let seen = Seen {
        peerings,
        ..Seen::default()
    };
    let r = merge("f", &[read("111111111111", Ok(seen))]);
    let svg = html::svg(&r);
    assert_eq!(brackets(&svg).len(), 14);
    assert_apart(&svg);
}

#[test]
fn advice_where_peering_is_the_wrong_tool_reaches_the_rows_once() {
    use peerlink::verify::advice;
    let mut reads = organisation(false);
    let wrong = |peering: Option<&str>, message: &str, fix: &str| Finding {
        kind: FindingKind::WrongTool,
        peering: peering.map(str::to_string),
        resource: Some("x".into()),
        message: message.into(),
        fix: fix.into(),
    };
    // Both ends see the overlap; one account is near its quota.
    for r in reads.iter_mut().take(2) {
        if let Ok(seen) = &mut r.outcome {
            seen.advice.push(wrong(
                Some("pcx-1"),
                "vpc-a and vpc-b on pcx-1 overlap",
                advice::OVERLAP,
            ));
        }
    }
    if let Ok(seen) = &mut reads[0].outcome {
        seen.advice
            .push(wrong(None, "vpc-a has 45 of 50 active peerings allowed", advice::QUOTA));
    }
    let r = merge("accounts.toml", &reads);
    let row = r.peerings.iter().find(|p| p.id == "pcx-1").unwrap();
    let said: Vec<&str> = row
        .findings
        .iter()
        .filter(|f| f.kind == "wrong-tool")
        .map(|f| f.fix.as_str())
        .collect();
    assert_eq!(said, [advice::OVERLAP]);
    let account = r.accounts.iter().find(|a| a.account == reads[0].account).unwrap();
    assert!(
        account
            .findings
            .iter()
            .any(|f| f.fix == advice::QUOTA && f.message.contains("45 of 50")),
        "{account:#?}"
    );
}

#[test]
fn each_end_carries_its_own_accounts_exposure_in_the_json_and_the_page() {
    let r = merge("accounts.toml", &organisation(true));
    let row = r.peerings.iter().find(|p| p.id == "pcx-1").unwrap();
    let x = row.accepter.exposure.as_ref().expect("B's view of its end");
    assert_eq!(x.open[0].line, "sg-b ingress: 10.0.0.0/16 on tcp 5432");
    // A's account has no configuration: no view of its end.
    assert!(row.requester.exposure.is_none());
    let json = serde_json::to_value(&r).unwrap();
    let pcx1 = json["peerings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "pcx-1")
        .unwrap();
    assert_eq!(
        pcx1["accepter"]["exposure"]["routes"][0]["line"],
        "rtb-1: 10.0.0.0/16 -> pcx-1 (to add)"
    );
    assert_eq!(pcx1["accepter"]["exposure"]["routes"][0]["state"], "to-add");
    assert_eq!(pcx1["requester"]["exposure"], serde_json::Value::Null);
    let page = html::render(&r);
    let at = page.find("<table class=\"exposure\">").expect("the exposure table");
    let table = &page[at..at + page[at..].find("</table>").unwrap()];
    assert!(
        table.contains("data-peering=\"pcx-1\" data-side=\"accepter\""),
        "{table}"
    );
    assert!(
        table.contains("<li class=\"in-place\">sg-b ingress: 10.0.0.0/16 on tcp 5432</li>"),
        "{table}"
    );
    assert!(
        table.contains("<li class=\"to-add\">rtb-1: 10.0.0.0/16 -&gt; pcx-1 (to add)</li>"),
        "{table}"
    );
    assert_eq!(table.matches("<tr data-peering=").count(), 1, "{table}");
}
