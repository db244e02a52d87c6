//! The page's tables: one row per peering (both ends, what is missing on
//! each side, the findings and their fixes), then one per account and
//! region read. Each table is a list of columns: a column is its heading
//! and how to draw its cell, in one line.

use maud::{Markup, html};
use peerlink::exposure::{Exposure, LineState};

use super::style;
use crate::report::model::{AccountRow, End, EndRead, FindingRow, OrgReport, PeeringRow};

/// A column: its heading, the class of its cells, and its cell in the
/// `i`-th row.
type Column<T> = (&'static str, Option<&'static str>, fn(usize, &T) -> Markup);

const PEERINGS: &[Column<PeeringRow>] = &[
    ("#", Some("num"), |i, _| html! { (i + 1) }),
    ("Peering", None, |_, p| peering(p)),
    ("State", None, |_, p| chip(p)),
    ("Requester", None, |_, p| end(&p.requester)),
    ("Accepter", None, |_, p| end(&p.accepter)),
    ("Missing on the requester side", None, |_, p| missing(&p.requester)),
    ("Missing on the accepter side", None, |_, p| missing(&p.accepter)),
    ("Findings and fixes", None, |_, p| findings(p)),
];

const ACCOUNTS: &[Column<AccountRow>] = &[
    ("Account", Some("mono"), |_, a| html! { (a.account) }),
    ("Name", None, |_, a| html! { (a.name.as_deref().unwrap_or("")) }),
    ("Region", None, |_, a| html! { (a.region) }),
    ("Read", None, |_, a| read(a)),
    ("Peerings", Some("num"), |_, a| count(a, a.peerings)),
    ("Outstanding changes", Some("num"), |_, a| count(a, a.outstanding)),
    ("Configuration, or why it could not be read", None, configuration),
];

/// The peerings table, under its heading.
pub fn peerings(r: &OrgReport) -> Markup {
    html! {
        h2 { "Peerings" }
        table class="peerings" {
            (head(PEERINGS))
            tbody {
                @if r.peerings.is_empty() {
                    tr { td colspan=(PEERINGS.len()) class="muted" { "No peering in any account read." } }
                }
                @for (i, p) in r.peerings.iter().enumerate() {
                    tr data-peering=(p.id) data-state=(p.state.name()) { (cells(PEERINGS, i, p)) }
                }
            }
        }
    }
}

/// What each managed end opens to whom and its routes per table, one row
/// per end its own account's plan describes; each line as `plan` prints it.
pub fn exposure(r: &OrgReport) -> Markup {
    let ends: Vec<(&PeeringRow, &End, &Exposure)> = r
        .peerings
        .iter()
        .flat_map(|p| p.ends().map(|e| (p, e)))
        .filter_map(|(p, e)| e.exposure.as_ref().map(|x| (p, e, x)))
        .collect();
    html! {
        h2 { "Open to whom, and routes" }
        table class="exposure" {
            thead { tr { th { "Peering" } th { "Side" } th { "Open to the peer" } th { "Routes" } } }
            tbody {
                @if ends.is_empty() {
                    tr { td colspan="4" class="muted" { "No managed end in any account read." } }
                }
                @for (p, e, x) in ends {
                    tr data-peering=(p.id) data-side=(x.side.to_string()) {
                        td { span class="mono id" { (p.id) } }
                        td { (x.side) br; span class="mono" { (e.account) } br; span class="mono id" { (x.vpc) } }
                        td { (lines(x.open.iter().map(|l| (l.state, &l.line)))) }
                        td { (lines(x.routes.iter().map(|l| (l.state, &l.line)))) }
                    }
                }
            }
        }
    }
}

/// Lines in place, to add or to remove (each classed by its state).
fn lines<'a>(lines: impl Iterator<Item = (LineState, &'a String)>) -> Markup {
    let lines: Vec<_> = lines.collect();
    html! {
        @if lines.is_empty() {
            span class="muted" { "none" }
        } @else {
            ul class="lines mono" {
                @for (state, line) in lines {
                    li class=(state_class(state)) { (line) }
                }
            }
        }
    }
}

fn state_class(state: LineState) -> &'static str {
    match state {
        LineState::InPlace => "in-place",
        LineState::ToAdd => "to-add",
        LineState::ToRemove => "to-remove",
    }
}

/// The accounts table, under its heading.
pub fn accounts(r: &OrgReport) -> Markup {
    html! {
        h2 { "Accounts" }
        table class="accounts" {
            (head(ACCOUNTS))
            tbody {
                @for (i, a) in r.accounts.iter().enumerate() {
                    tr data-account=(a.account) { (cells(ACCOUNTS, i, a)) }
                }
            }
        }
    }
}

fn head<T>(columns: &[Column<T>]) -> Markup {
    html! {
        thead { tr { @for (head, _, _) in columns { th { (head) } } } }
    }
}

fn cells<T>(columns: &[Column<T>], i: usize, row: &T) -> Markup {
    html! {
        @for (_, class, cell) in columns {
            td class=[*class] { (cell(i, row)) }
        }
    }
}

fn peering(p: &PeeringRow) -> Markup {
    html! {
        span class="mono id" { (p.id) }
        br;
        span class="muted" { "EC2: " (p.status) }
    }
}

fn chip(p: &PeeringRow) -> Markup {
    let state = p.state.name();
    html! {
        span class={ "chip state-" (state) } style={ "background:" (style(p.state).0) } { (state) }
    }
}

/// Who and what an end is, and how we know it.
fn end(e: &End) -> Markup {
    html! {
        @if let Some(name) = &e.account_name {
            (name) " "
        }
        span class="mono" { (e.account) }
        br;
        span class="mono id" { (e.vpc) }
        br;
        span class="mono" { (e.cidrs.join(", ")) }
        br;
        span class="muted" {
            (e.region) " · "
            @match e.read {
                EndRead::Managed => { "managed by entry " (e.entry.as_deref().unwrap_or("")) }
                EndRead::Unmanaged => "read; no entry manages it",
                EndRead::NotRead => "not read",
            }
        }
    }
}

/// The changes outstanding on an end's side.
fn missing(e: &End) -> Markup {
    html! {
        @if e.outstanding.is_empty() {
            span class="muted" { (if e.read == EndRead::NotRead { "not read" } else { "nothing" }) }
        } @else {
            ul class="findings" {
                @for c in &e.outstanding {
                    li {
                        span class="kind" { (c.kind) }
                        " "
                        span class="mono" { (c.change) }
                        br;
                        span class="muted" { (c.reason) }
                    }
                }
            }
        }
    }
}

/// EC2's word on a peering that is not active, then both sides' findings.
fn findings(p: &PeeringRow) -> Markup {
    let ec2 = !p.status_message.is_empty() && p.status != "active";
    html! {
        @if p.findings.is_empty() && !ec2 {
            span class="muted" { "none" }
        } @else {
            ul class="findings" {
                @if ec2 {
                    li { span class="kind" { "EC2" } " " (p.status_message) }
                }
                @for f in &p.findings {
                    (finding(f, true))
                }
            }
        }
    }
}

/// A finding and its fix (and the account that reported it, on a peering).
fn finding(f: &FindingRow, account: bool) -> Markup {
    html! {
        li {
            span class="kind" { (f.kind) }
            " "
            @if account {
                span class="muted" { "(account " (f.account) ")" }
                " "
            }
            (f.message)
            br;
            b { "fix:" }
            " " (f.fix)
        }
    }
}

fn read(a: &AccountRow) -> Markup {
    html! {
        @if a.readable {
            "read"
        } @else {
            span class="error" { "unreadable" }
        }
    }
}

/// A count of an account read, `-` for one that could not be.
fn count(a: &AccountRow, n: usize) -> Markup {
    html! {
        @if a.readable { (n) } @else { "-" }
    }
}

/// The configuration compared against (or why the account could not be
/// read), the findings and changes tied to no peering, and the role.
fn configuration(_: usize, a: &AccountRow) -> Markup {
    html! {
        @match (&a.error, &a.config) {
            (Some(e), _) => span class="error" { (e) },
            (None, Some(c)) => span class="mono" { (c) },
            (None, None) => span class="muted" { "none given: topology only" },
        }
        @if !a.findings.is_empty() || !a.other_outstanding.is_empty() {
            ul class="findings" {
                @for f in &a.findings {
                    (finding(f, false))
                }
                @for c in &a.other_outstanding {
                    li {
                        span class="kind" { "outstanding " (c.kind) }
                        " "
                        span class="mono" { (c.change) }
                        " "
                        span class="muted" { (c.reason) }
                    }
                }
            }
        }
        br;
        span class="muted" { "role " (a.role) }
    }
}
