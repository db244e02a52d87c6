//! Draws a [`Layout`] as SVG; every text goes through the template, escaped.

use maud::{Markup, html};

use super::layout::{AccountBox, BADGE_R, BoxKind, Edge, Layout, Legend, NODE_RIGHT, Node};
use super::style;
use crate::report::model::State;

/// The picture.
pub fn draw(l: &Layout) -> Markup {
    let (w, h) = (l.width.ceil(), l.height.ceil());
    html! {
        svg class="topology" role="img" aria-label="Peerings between the accounts' VPCs" width=(w) height=(h) viewBox={ "0 0 " (w) " " (h) } {
            defs {
                @for state in State::ALL {
                    (markers(state))
                }
            }
            @for b in &l.boxes {
                (account_box(b))
            }
            @for e in &l.edges {
                (edge(e))
            }
            (legend(&l.legend))
        }
    }
}

/// The dot at the requester's end and the arrow at the accepter's.
fn markers(state: State) -> Markup {
    let (colour, _, _) = style(state);
    html! {
        marker id={ "arrow-" (state.name()) } viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto" {
            path d="M0,0 L10,5 L0,10 z" fill=(colour) {}
        }
        marker id={ "dot-" (state.name()) } viewBox="0 0 10 10" refX="5" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9" {
            circle cx="5" cy="5" r="5" fill=(colour) {}
        }
    }
}

fn account_box(b: &AccountBox) -> Markup {
    let class = match b.kind {
        BoxKind::Read => "account",
        BoxKind::Unreadable => "account unreadable",
        BoxKind::NotInFile => "account external",
    };
    html! {
        g class=(class) data-account=(b.account) {
            rect x=(b.rect.x) y=(b.rect.y) width=(b.rect.w) height=(b.rect.h) rx="10" {}
            text class="title" x=(b.title.x) y=(b.title.y) { (b.title.text) }
            text class="sub" x=(b.sub.x) y=(b.sub.y) { (b.sub.text) }
            @for (note, error) in &b.notes {
                text class=(if *error { "error" } else { "note" }) x=(note.x) y=(note.y) { (note.text) }
            }
            @for n in &b.nodes {
                (node(n))
            }
        }
    }
}

fn node(n: &Node) -> Markup {
    html! {
        g class=(if n.read { "vpc" } else { "vpc not-read" }) data-vpc=(n.vpc) {
            rect x=(n.rect.x) y=(n.rect.y) width=(n.rect.w) height=(n.rect.h) rx="6" {}
            text class="vpc-id" x=(n.id.x) y=(n.id.y) {
                (n.id.text)
                tspan class="cidr" dx=(if n.rest.is_empty() { 0 } else { 12 }) { (n.rest) }
            }
            @if let Some(name) = &n.name {
                text class="vpc-name" x=(name.x) y=(name.y) { (name.text) }
            }
            @for line in &n.blocks {
                text class="cidr" x=(line.x) y=(line.y) { (line.text) }
            }
        }
    }
}

fn edge(e: &Edge) -> Markup {
    let (colour, dash, width) = style(e.state);
    let state = e.state.name();
    let (cx, cy) = e.badge();
    html! {
        g class={ "edge state-" (state) } data-peering=(e.peering) data-state=(state) {
            title { (e.title) }
            path d=(bracket(e)) fill="none" stroke=(colour) stroke-width=(width) stroke-dasharray=[dash] marker-start={ "url(#dot-" (state) ")" } marker-end={ "url(#arrow-" (state) ")" } {}
            circle class="badge" cx=(cx) cy=(cy) r=(BADGE_R) stroke=(colour) {}
            text class="badge" x=(cx) y=(cy + 4.0) { (e.number) }
        }
    }
}

/// Out from the requester's node to the lane, along it, and back into the
/// accepter's, with rounded corners.
fn bracket(e: &Edge) -> String {
    let (y1, y2, lx) = (e.requester_y, e.accepter_y, e.x);
    let bend = ((y2 - y1).abs() / 2.0).min(8.0);
    let dir = if y2 >= y1 { 1.0 } else { -1.0 };
    format!(
        "M{x0},{y1} H{a} Q{lx},{y1} {lx},{b} V{c} Q{lx},{y2} {a},{y2} H{x1}",
        x0 = NODE_RIGHT,
        x1 = NODE_RIGHT + 1.0,
        a = lx - bend,
        b = y1 + dir * bend,
        c = y2 - dir * bend,
    )
}

fn legend(l: &Legend) -> Markup {
    html! {
        g class="legend" {
            rect x=(l.rect.x) y=(l.rect.y) width=(l.rect.w) height=(l.rect.h) rx="8" {}
            text class="title" x=(l.title.x) y=(l.title.y) { (l.title.text) }
            @for item in &l.items {
                @let (colour, dash, width) = style(item.state);
                @let state = item.state.name();
                @let (x0, x1, y) = item.sample;
                g class="legend-item" data-state=(state) {
                    path d={ "M" (x0) "," (y) " H" (x1) } stroke=(colour) stroke-width=(width) stroke-dasharray=[dash] marker-start={ "url(#dot-" (state) ")" } marker-end={ "url(#arrow-" (state) ")" } {}
                    text x=(item.label.x) y=(item.label.y) {
                        tspan class="state-name" { (state) }
                        " (" (item.count) "): " (item.label.text)
                    }
                }
            }
            @for note in &l.notes {
                text class="note" x=(note.x) y=(note.y) { (note.text) }
            }
        }
    }
}
