//! The report as one self-contained HTML page: an inline SVG picture of the
//! organisation (accounts as boxes, VPCs as nodes, peerings as edges coloured
//! by state, with a legend), then one table row per peering with its
//! findings and fixes. No script, font, style sheet or image is fetched: the
//! page opens from a file with no network.
//!
//! The layout is computed here, deterministically: accounts stacked in the
//! file's order (accounts only seen as the far end of a peering after them),
//! VPCs stacked inside their account, and every peering drawn as a bracket
//! from its requester VPC (dot) to its accepter VPC (arrow) through a lane
//! of its own to the right of the boxes. Shorter brackets take the inner
//! lanes, and two brackets share a lane only when their spans are apart, so
//! no two edges, numbers or labels are drawn on top of each other.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::model::{AccountRow, End, EndRead, OrgReport, PeeringRow, State, VpcNode};

/// Colour and dash pattern of each state (edges, legend, table chips).
pub fn style(state: State) -> (&'static str, &'static str, f32) {
    match state {
        State::Finished => ("#2e7d32", "", 3.0),
        State::DriftPending => ("#ef6c00", "8 4", 3.0),
        State::PendingAcceptance => ("#1e88e5", "3 4", 2.5),
        State::Conflict => ("#d32f2f", "", 4.0),
        State::Rejected => ("#8e24aa", "10 4 2 4", 2.5),
        State::Gone => ("#9e9e9e", "2 5", 2.0),
    }
}

fn meaning(state: State) -> &'static str {
    match state {
        State::Finished => "active, nothing pending",
        State::DriftPending => "active, changes pending on a side",
        State::PendingAcceptance => "waiting for the accepter",
        State::Conflict => "overlapping blocks or route conflict",
        State::Rejected => "rejected by the accepter",
        State::Gone => "failed, expired or deleted",
    }
}

/// Escapes text for HTML and SVG (content and attribute values).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Splits `text` into lines of at most `width` characters at spaces (a
/// longer word gets a line of its own).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

// Geometry (px). Text is 12 px: monospace about 7.3 px a character, the
// sans-serif about 6.6.
const BOX_X: f32 = 20.0;
const BOX_W: f32 = 480.0;
const NODE_X: f32 = BOX_X + 16.0;
const NODE_W: f32 = BOX_W - 32.0;
const NODE_RIGHT: f32 = NODE_X + NODE_W;
const HEADER_H: f32 = 52.0;
const LINE_H: f32 = 16.0;
const NODE_GAP: f32 = 8.0;
const BOX_GAP: f32 = 16.0;
const BOX_PAD: f32 = 12.0;
const TOP: f32 = 16.0;
const LANE_X0: f32 = BOX_X + BOX_W + 34.0;
const LANE_STEP: f32 = 28.0;
/// Vertical room kept between two brackets sharing a lane.
const LANE_CLEARANCE: f32 = 26.0;
/// Characters of a node's text line (monospace).
const NODE_CHARS: usize = 56;
const LEGEND_W: f32 = 450.0;
/// Vertical room each edge needs at a node's side.
const PORT_STEP: f32 = 12.0;

struct Group<'a> {
    account: &'a str,
    title: String,
    sub: String,
    /// (text, is an error), wrapped when drawn.
    notes: Vec<(String, bool)>,
    in_file: bool,
    unreadable: bool,
    multi_region: bool,
    nodes: Vec<&'a VpcNode>,
}

/// Where a box and its notes go.
struct Frame {
    x: f32,
    y: f32,
    w: f32,
    h: f32,
    notes: Vec<(String, bool)>,
}

struct Placed {
    y: f32,
    h: f32,
    /// The node's text lines (first: id and, when it fits, its blocks).
    lines: Vec<String>,
    /// y of each edge's port on the right side, by peering index.
    ports: BTreeMap<usize, f32>,
}

fn groups(r: &OrgReport) -> Vec<Group<'_>> {
    let mut order: Vec<&str> = Vec::new();
    let mut rows: BTreeMap<&str, Vec<&AccountRow>> = BTreeMap::new();
    for a in &r.accounts {
        if !rows.contains_key(a.account.as_str()) {
            order.push(&a.account);
        }
        rows.entry(&a.account).or_default().push(a);
    }
    let mut external: Vec<&str> = r
        .vpcs
        .iter()
        .map(|v| v.account.as_str())
        .filter(|a| !rows.contains_key(a))
        .collect();
    external.sort();
    external.dedup();
    order.extend(external);
    order
        .into_iter()
        .map(|account| {
            let nodes: Vec<&VpcNode> = r.vpcs.iter().filter(|v| v.account == account).collect();
            let mut regions: Vec<&str> = nodes.iter().map(|v| v.region.as_str()).collect();
            let mut notes = Vec::new();
            let (title, in_file, unreadable) = match rows.get(account) {
                Some(list) => {
                    regions.extend(list.iter().map(|a| a.region.as_str()));
                    for a in list {
                        if let Some(e) = &a.error {
                            notes.push((format!("{}: cannot read: {e}", a.region), true));
                        }
                    }
                    let title = list[0].name.clone().unwrap_or_else(|| format!("account {account}"));
                    (title, true, list.iter().any(|a| !a.readable))
                }
                None => (format!("account {account}"), false, false),
            };
            regions.sort();
            regions.dedup();
            let mut sub = format!("{account} · {}", regions.join(", "));
            if !in_file {
                sub.push_str(" · not in the accounts file");
            }
            if nodes.is_empty() && notes.is_empty() {
                notes.push(("no VPC on a peering, none configured".into(), false));
            }
            Group {
                account,
                title,
                sub,
                notes,
                in_file,
                unreadable,
                multi_region: regions.len() > 1,
                nodes,
            }
        })
        .collect()
}

/// A node's text: its id (and region, name) then its blocks, on the first
/// line when they fit.
fn node_lines(n: &VpcNode, multi_region: bool) -> Vec<String> {
    let mut head = n.id.clone();
    if multi_region {
        head = format!("{head}  {}", n.region);
    }
    let blocks = if n.cidrs.is_empty() {
        "(blocks unknown)".to_string()
    } else {
        n.cidrs.join(", ")
    };
    if n.name.is_none() && head.chars().count() + 3 + blocks.chars().count() <= NODE_CHARS {
        return vec![format!("{head}   {blocks}")];
    }
    let mut lines = vec![head];
    lines.extend(wrap(&blocks, NODE_CHARS));
    lines
}

/// Box height for `notes` wrapped to the box's width.
fn wrapped_notes(notes: &[(String, bool)], w: f32) -> Vec<(String, bool)> {
    let chars = ((w - 32.0) / 6.6) as usize;
    notes
        .iter()
        .flat_map(|(t, e)| wrap(t, chars).into_iter().map(move |l| (l, *e)))
        .collect()
}

/// The SVG picture alone.
pub fn svg(r: &OrgReport) -> String {
    let groups = groups(r);
    // Accounts with VPCs in the main column; the others (unreadable, empty)
    // beside it, under the legend.
    let (main, side): (Vec<&Group>, Vec<&Group>) = groups.iter().partition(|g| !g.nodes.is_empty());
    let key = |e: &End| (e.account.clone(), e.vpc.clone());
    let mut degree: BTreeMap<(String, String), usize> = BTreeMap::new();
    for p in &r.peerings {
        for e in p.ends() {
            *degree.entry(key(e)).or_default() += 1;
        }
    }

    // Main column: boxes and nodes, top to bottom.
    let mut placed: BTreeMap<(String, String), Placed> = BTreeMap::new();
    let mut frames: Vec<(&Group, Frame)> = Vec::new();
    let mut y = TOP;
    for g in &main {
        let top = y;
        let notes = wrapped_notes(&g.notes, BOX_W);
        y += HEADER_H + notes.len() as f32 * LINE_H;
        if !notes.is_empty() {
            y += 6.0;
        }
        for n in &g.nodes {
            let lines = node_lines(n, g.multi_region);
            let ports = degree.get(&(n.account.clone(), n.id.clone())).copied().unwrap_or(0);
            let h = (12.0 + lines.len() as f32 * LINE_H).max(PORT_STEP * (ports as f32 + 1.0));
            placed.insert(
                (n.account.clone(), n.id.clone()),
                Placed {
                    y,
                    h,
                    lines,
                    ports: BTreeMap::new(),
                },
            );
            y += h + NODE_GAP;
        }
        y += BOX_PAD - NODE_GAP;
        frames.push((
            g,
            Frame {
                x: BOX_X,
                y: top,
                w: BOX_W,
                h: y - top,
                notes,
            },
        ));
        y += BOX_GAP;
    }
    let main_bottom = y;

    // Ports: each node's edges ordered by where their other end is.
    let centre = |placed: &BTreeMap<(String, String), Placed>, e: &End| {
        placed.get(&key(e)).map(|p| p.y + p.h / 2.0).unwrap_or(0.0)
    };
    let mut touching: BTreeMap<(String, String), Vec<(f32, usize)>> = BTreeMap::new();
    for (i, p) in r.peerings.iter().enumerate() {
        let (a, b) = (&p.requester, &p.accepter);
        touching.entry(key(a)).or_default().push((centre(&placed, b), i));
        touching.entry(key(b)).or_default().push((centre(&placed, a), i));
    }
    for (k, mut list) in touching {
        list.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        if let Some(node) = placed.get_mut(&k) {
            let n = list.len() as f32;
            for (j, (_, i)) in list.iter().enumerate() {
                node.ports.insert(*i, node.y + node.h * (j as f32 + 1.0) / (n + 1.0));
            }
        }
    }
    let port = |i: usize, e: &End| {
        placed
            .get(&key(e))
            .and_then(|n| n.ports.get(&i))
            .copied()
            .unwrap_or(0.0)
    };

    // Lanes: shortest spans innermost; a lane is shared only by spans apart.
    let mut spans: Vec<(usize, f32, f32)> = r
        .peerings
        .iter()
        .enumerate()
        .map(|(i, p)| (i, port(i, &p.requester), port(i, &p.accepter)))
        .collect();
    spans.sort_by(|a, b| {
        let (la, lb) = ((a.1 - a.2).abs(), (b.1 - b.2).abs());
        la.total_cmp(&lb)
            .then(a.1.min(a.2).total_cmp(&b.1.min(b.2)))
            .then(a.0.cmp(&b.0))
    });
    let mut lanes: Vec<Vec<(f32, f32)>> = Vec::new();
    let mut lane_of: BTreeMap<usize, usize> = BTreeMap::new();
    for (i, y1, y2) in &spans {
        let (lo, hi) = (y1.min(*y2), y1.max(*y2));
        let free = |lane: &Vec<(f32, f32)>| {
            lane.iter()
                .all(|(a, b)| *a > hi + LANE_CLEARANCE || *b < lo - LANE_CLEARANCE)
        };
        let l = match lanes.iter().position(free) {
            Some(l) => l,
            None => {
                lanes.push(Vec::new());
                lanes.len() - 1
            }
        };
        lanes[l].push((lo, hi));
        lane_of.insert(*i, l);
    }
    let lanes_right = LANE_X0 + lanes.len().max(1) as f32 * LANE_STEP;
    let legend_x = if main.is_empty() { BOX_X } else { lanes_right + 24.0 };
    let legend_h = 40.0 + State::ALL.len() as f32 * 24.0 + 5.0 * 20.0;

    // Side column: accounts without a VPC to draw, under the legend.
    let mut y = TOP + legend_h + BOX_GAP;
    for g in &side {
        let notes = wrapped_notes(&g.notes, LEGEND_W);
        let h = HEADER_H + notes.len() as f32 * LINE_H + BOX_PAD;
        frames.push((
            g,
            Frame {
                x: legend_x,
                y,
                w: LEGEND_W,
                h,
                notes,
            },
        ));
        y += h + BOX_GAP;
    }
    let width = legend_x + LEGEND_W + BOX_X;
    let height = main_bottom.max(y);

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="topology" role="img" aria-label="Peerings between the accounts' VPCs" width="{w}" height="{h}" viewBox="0 0 {w} {h}">"#,
        w = width.ceil(),
        h = height.ceil()
    );
    s.push_str("<defs>");
    for st in State::ALL {
        let (colour, _, _) = style(st);
        let _ = write!(
            s,
            r#"<marker id="arrow-{n}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" markerWidth="11" markerHeight="11" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker><marker id="dot-{n}" viewBox="0 0 10 10" refX="5" refY="5" markerUnits="userSpaceOnUse" markerWidth="9" markerHeight="9"><circle cx="5" cy="5" r="5" fill="{colour}"/></marker>"#,
            n = st.name()
        );
    }
    s.push_str("</defs>");

    // Accounts and their VPCs.
    for (g, f) in &frames {
        let class = if g.unreadable {
            "account unreadable"
        } else if g.in_file {
            "account"
        } else {
            "account external"
        };
        let chars = ((f.w - 32.0) / 7.0) as usize;
        let _ = write!(
            s,
            r#"<g class="{class}" data-account="{a}"><rect x="{x}" y="{y}" width="{w}" height="{h}" rx="10"/><text class="title" x="{tx}" y="{ty}">{title}</text><text class="sub" x="{tx}" y="{sy}">{sub}</text>"#,
            a = esc(g.account),
            x = f.x,
            y = f.y,
            w = f.w,
            h = f.h,
            tx = f.x + 16.0,
            ty = f.y + 22.0,
            sy = f.y + 40.0,
            title = esc(&truncate(&g.title, chars * 7 / 9)),
            sub = esc(&truncate(&g.sub, chars)),
        );
        for (j, (note, error)) in f.notes.iter().enumerate() {
            let _ = write!(
                s,
                r#"<text class="{c}" x="{x}" y="{y}">{t}</text>"#,
                c = if *error { "error" } else { "note" },
                x = f.x + 16.0,
                y = f.y + HEADER_H + 8.0 + j as f32 * LINE_H,
                t = esc(note)
            );
        }
        for n in &g.nodes {
            let Some(p) = placed.get(&(n.account.clone(), n.id.clone())) else {
                continue;
            };
            let _ = write!(
                s,
                r#"<g class="vpc{c}" data-vpc="{id}"><rect x="{NODE_X}" y="{y}" width="{NODE_W}" height="{h}" rx="6"/>"#,
                c = if n.read { "" } else { " not-read" },
                id = esc(&n.id),
                y = p.y,
                h = p.h,
            );
            let text_top = p.y + (p.h - p.lines.len() as f32 * LINE_H) / 2.0 + 12.0;
            for (k, line) in p.lines.iter().enumerate() {
                let class = if k == 0 { "vpc-id" } else { "cidr" };
                let ly = text_top + k as f32 * LINE_H;
                if k == 0 {
                    // The id in bold, what follows it (blocks) in plain text.
                    let (id, rest) = line.split_at(n.id.len().min(line.len()));
                    let _ = write!(
                        s,
                        r#"<text class="{class}" x="{x}" y="{ly}">{id}<tspan class="cidr" dx="{dx}">{rest}</tspan></text>"#,
                        x = NODE_X + 12.0,
                        id = esc(id),
                        dx = if rest.trim().is_empty() { 0 } else { 12 },
                        rest = esc(rest.trim()),
                    );
                    if let Some(name) = &n.name {
                        let used = line.chars().count() as f32 * 7.3 + 24.0;
                        let room = ((NODE_W - used - 12.0) / 6.8).max(4.0) as usize;
                        let _ = write!(
                            s,
                            r#"<text class="vpc-name" x="{x}" y="{ly}">{t}</text>"#,
                            x = NODE_X + used,
                            t = esc(&truncate(name, room))
                        );
                    }
                } else {
                    let _ = write!(
                        s,
                        r#"<text class="{class}" x="{x}" y="{ly}">{t}</text>"#,
                        x = NODE_X + 12.0,
                        t = esc(line)
                    );
                }
            }
            s.push_str("</g>");
        }
        s.push_str("</g>");
    }

    // Peerings: one bracket each, its number at the middle of its lane.
    for (i, p) in r.peerings.iter().enumerate() {
        let (colour, dash, width) = style(p.state);
        let (y1, y2) = (port(i, &p.requester), port(i, &p.accepter));
        let lx = LANE_X0 + lane_of.get(&i).copied().unwrap_or(0) as f32 * LANE_STEP;
        let bend = ((y2 - y1).abs() / 2.0).min(8.0);
        let dir = if y2 >= y1 { 1.0 } else { -1.0 };
        let d = format!(
            "M{x0},{y1} H{a} Q{lx},{y1} {lx},{b} V{c} Q{lx},{y2} {a},{y2} H{x1}",
            x0 = NODE_RIGHT,
            x1 = NODE_RIGHT + 1.0,
            a = lx - bend,
            b = y1 + dir * bend,
            c = y2 - dir * bend,
        );
        let title = format!(
            "#{n} {id} — {state} (EC2: {status})\nrequester {ra} {rv}\naccepter {aa} {av}",
            n = i + 1,
            id = p.id,
            state = p.state.name(),
            status = p.status,
            ra = p.requester.account,
            rv = p.requester.vpc,
            aa = p.accepter.account,
            av = p.accepter.vpc,
        );
        let _ = write!(
            s,
            r#"<g class="edge state-{st}" data-peering="{id}" data-state="{st}"><title>{title}</title><path d="{d}" fill="none" stroke="{colour}" stroke-width="{width}"{dash} marker-start="url(#dot-{st})" marker-end="url(#arrow-{st})"/><circle class="badge" cx="{lx}" cy="{my}" r="10" stroke="{colour}"/><text class="badge" x="{lx}" y="{ty}">{n}</text></g>"#,
            st = p.state.name(),
            id = esc(&p.id),
            title = esc(&title),
            dash = dasharray(dash),
            my = (y1 + y2) / 2.0,
            ty = (y1 + y2) / 2.0 + 4.0,
            n = i + 1,
        );
    }

    // Legend.
    let lx = legend_x;
    let _ = write!(
        s,
        r#"<g class="legend"><rect x="{lx}" y="{TOP}" width="{LEGEND_W}" height="{legend_h}" rx="8"/><text class="title" x="{tx}" y="{ty}">Peerings by state</text>"#,
        tx = lx + 14.0,
        ty = TOP + 24.0,
    );
    for (k, st) in State::ALL.iter().enumerate() {
        let (colour, dash, width) = style(*st);
        let y = TOP + 48.0 + k as f32 * 24.0;
        let count = r.summary.states.get(st.name()).copied().unwrap_or(0);
        let _ = write!(
            s,
            r#"<g class="legend-item" data-state="{n}"><path d="M{x0},{y} H{x1}" stroke="{colour}" stroke-width="{width}"{dash} marker-start="url(#dot-{n})" marker-end="url(#arrow-{n})"/><text x="{tx}" y="{ty}"><tspan class="state-name">{n}</tspan> ({count}): {m}</text></g>"#,
            n = st.name(),
            x0 = lx + 16.0,
            x1 = lx + 58.0,
            dash = dasharray(dash),
            tx = lx + 70.0,
            ty = y + 4.0,
            m = meaning(*st),
        );
    }
    let notes = [
        "● requester VPC → ▶ accepter VPC",
        "n: row n of the table below (hover an edge for its id)",
        "dashed VPC: described by the other end only",
        "red dashed box: account that could not be read",
        "grey dashed box: account not in the accounts file",
    ];
    for (k, t) in notes.iter().enumerate() {
        let _ = write!(
            s,
            r#"<text class="note" x="{x}" y="{y}">{t}</text>"#,
            x = lx + 16.0,
            y = TOP + 48.0 + State::ALL.len() as f32 * 24.0 + 6.0 + k as f32 * 20.0,
            t = esc(t)
        );
    }
    s.push_str("</g></svg>");
    s
}

fn dasharray(dash: &str) -> String {
    if dash.is_empty() {
        String::new()
    } else {
        format!(r#" stroke-dasharray="{dash}""#)
    }
}

const CSS: &str = r#"
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #212121; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; }
p.summary { margin: 0 0 14px; color: #455a64; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
td .mono.id { white-space: nowrap; }
svg.topology { display: block; font-size: 12px; }
svg .account > rect { fill: #f5f8fb; stroke: #90a4ae; stroke-width: 1.5; }
svg .account.unreadable > rect { fill: #fff4f4; stroke: #d32f2f; stroke-dasharray: 7 4; }
svg .account.external > rect { fill: #fafafa; stroke: #bdbdbd; stroke-dasharray: 6 4; }
svg text { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; font-size: 12px; fill: #263238; }
svg text.title { font-size: 15px; font-weight: 600; }
svg text.sub { fill: #607d8b; font-family: ui-monospace, "DejaVu Sans Mono", monospace; }
svg text.error { fill: #c62828; }
svg text.note { fill: #607d8b; }
svg .vpc > rect { fill: #ffffff; stroke: #546e7a; stroke-width: 1.2; }
svg .vpc.not-read > rect { fill: #fafafa; stroke: #9e9e9e; stroke-dasharray: 4 3; }
svg text.vpc-id { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 600; }
svg text.vpc-name { fill: #455a64; font-style: italic; }
svg .cidr { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-weight: 400; fill: #37474f; }
svg circle.badge { fill: #ffffff; stroke-width: 2; }
svg text.badge { font-size: 11px; font-weight: 700; text-anchor: middle; }
svg .edge:hover path { stroke-width: 5; }
svg .legend > rect { fill: #ffffff; stroke: #cfd8dc; }
svg .state-name { font-weight: 600; }
table { border-collapse: collapse; font-size: 13px; width: 100%; }
th, td { border: 1px solid #cfd8dc; padding: 5px 7px; text-align: left; vertical-align: top; }
th { background: #eceff1; }
td.num { text-align: right; }
.chip { display: inline-block; padding: 1px 7px; border-radius: 9px; color: #fff; font-weight: 600; white-space: nowrap; }
.muted { color: #78909c; }
.error { color: #c62828; }
ul.findings { margin: 0; padding-left: 16px; }
ul.findings li { margin-bottom: 4px; }
.kind { font-weight: 600; }
"#;

fn end_cell(e: &End) -> String {
    let who = match &e.account_name {
        Some(n) => format!("{} <span class=\"mono\">{}</span>", esc(n), esc(&e.account)),
        None => format!("<span class=\"mono\">{}</span>", esc(&e.account)),
    };
    let read = match e.read {
        EndRead::Managed => format!("managed by entry {}", esc(e.entry.as_deref().unwrap_or(""))),
        EndRead::Unmanaged => "read; no entry manages it".into(),
        EndRead::NotRead => "not read".into(),
    };
    format!(
        "{who}<br><span class=\"mono id\">{}</span><br><span class=\"mono\">{}</span><br><span class=\"muted\">{} · {read}</span>",
        esc(&e.vpc),
        esc(&e.cidrs.join(", ")),
        esc(&e.region)
    )
}

fn missing_cell(e: &End) -> String {
    if e.pending.is_empty() {
        return if e.read == EndRead::NotRead {
            "<span class=\"muted\">not read</span>".into()
        } else {
            "<span class=\"muted\">nothing</span>".into()
        };
    }
    let items: Vec<String> = e
        .pending
        .iter()
        .map(|c| {
            format!(
                "<li><span class=\"kind\">{}</span> <span class=\"mono\">{}</span><br><span class=\"muted\">{}</span></li>",
                esc(&c.kind),
                esc(&c.change),
                esc(&c.reason)
            )
        })
        .collect();
    format!("<ul class=\"findings\">{}</ul>", items.join(""))
}

fn findings_cell(p: &PeeringRow) -> String {
    let mut items: Vec<String> = p
        .findings
        .iter()
        .map(|f| {
            format!(
                "<li><span class=\"kind\">{}</span> <span class=\"muted\">(account {})</span> {}<br><b>fix:</b> {}</li>",
                esc(&f.kind),
                esc(&f.account),
                esc(&f.message),
                esc(&f.fix)
            )
        })
        .collect();
    if !p.status_message.is_empty() && p.status != "active" {
        items.insert(
            0,
            format!("<li><span class=\"kind\">EC2</span> {}</li>", esc(&p.status_message)),
        );
    }
    if items.is_empty() {
        "<span class=\"muted\">none</span>".into()
    } else {
        format!("<ul class=\"findings\">{}</ul>", items.join(""))
    }
}

fn chip(state: State) -> String {
    format!(
        "<span class=\"chip state-{n}\" style=\"background:{c}\">{n}</span>",
        n = state.name(),
        c = style(state).0
    )
}

/// The whole page.
pub fn render(r: &OrgReport) -> String {
    let mut h = String::new();
    h.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>peerlink: organisation report</title>",
    );
    let _ = write!(h, "<style>{CSS}</style></head><body>");
    let s = &r.summary;
    let states = s.state_counts();
    let _ = write!(
        h,
        "<h1>peerlink: organisation report</h1><p class=\"summary\">From <span class=\"mono\">{}</span>: {} peering(s){}; {} account-region(s) read{}; {} pending change(s).</p>",
        esc(&r.accounts_file),
        s.peerings,
        if states.is_empty() {
            String::new()
        } else {
            format!(" ({})", esc(&states.join(", ")))
        },
        s.accounts - s.unreadable,
        if s.unreadable > 0 {
            format!(", <span class=\"error\">{} unreadable</span>", s.unreadable)
        } else {
            String::new()
        },
        s.pending_changes
    );
    h.push_str(&svg(r));

    h.push_str("<h2>Peerings</h2><table class=\"peerings\"><thead><tr><th>#</th><th>Peering</th><th>State</th><th>Requester</th><th>Accepter</th><th>Missing on the requester side</th><th>Missing on the accepter side</th><th>Findings and fixes</th></tr></thead><tbody>");
    if r.peerings.is_empty() {
        h.push_str("<tr><td colspan=\"8\" class=\"muted\">No peering in any account read.</td></tr>");
    }
    for (i, p) in r.peerings.iter().enumerate() {
        let _ = write!(
            h,
            "<tr data-peering=\"{id}\" data-state=\"{st}\"><td class=\"num\">{n}</td><td><span class=\"mono id\">{id}</span><br><span class=\"muted\">EC2: {status}</span></td><td>{chip}</td><td>{req}</td><td>{acc}</td><td>{mr}</td><td>{ma}</td><td>{f}</td></tr>",
            id = esc(&p.id),
            st = p.state.name(),
            n = i + 1,
            status = esc(&p.status),
            chip = chip(p.state),
            req = end_cell(&p.requester),
            acc = end_cell(&p.accepter),
            mr = missing_cell(&p.requester),
            ma = missing_cell(&p.accepter),
            f = findings_cell(p),
        );
    }
    h.push_str("</tbody></table>");

    h.push_str("<h2>Accounts</h2><table class=\"accounts\"><thead><tr><th>Account</th><th>Name</th><th>Region</th><th>Read</th><th>Peerings</th><th>Pending changes</th><th>Configuration, or why it could not be read</th></tr></thead><tbody>");
    for a in &r.accounts {
        let why = match (&a.error, &a.config) {
            (Some(e), _) => format!("<span class=\"error\">{}</span>", esc(e)),
            (None, Some(c)) => format!("<span class=\"mono\">{}</span>", esc(c)),
            (None, None) => "<span class=\"muted\">none given: topology only</span>".into(),
        };
        let mut extra: Vec<String> = a
            .findings
            .iter()
            .map(|f| {
                format!(
                    "<li><span class=\"kind\">{}</span> {}<br><b>fix:</b> {}</li>",
                    esc(&f.kind),
                    esc(&f.message),
                    esc(&f.fix)
                )
            })
            .collect();
        extra.extend(a.other_pending.iter().map(|c| {
            format!(
                "<li><span class=\"kind\">pending {}</span> <span class=\"mono\">{}</span> <span class=\"muted\">{}</span></li>",
                esc(&c.kind),
                esc(&c.change),
                esc(&c.reason)
            )
        }));
        let extra = if extra.is_empty() {
            String::new()
        } else {
            format!("<ul class=\"findings\">{}</ul>", extra.join(""))
        };
        let _ = write!(
            h,
            "<tr data-account=\"{acct}\"><td class=\"mono\">{acct}</td><td>{name}</td><td>{region}</td><td>{read}</td><td class=\"num\">{peerings}</td><td class=\"num\">{pending}</td><td>{why}{extra}<br><span class=\"muted\">role {role}</span></td></tr>",
            acct = esc(&a.account),
            name = esc(a.name.as_deref().unwrap_or("")),
            region = esc(&a.region),
            read = if a.readable {
                "read".to_string()
            } else {
                "<span class=\"error\">unreadable</span>".to_string()
            },
            peerings = if a.readable { a.peerings.to_string() } else { "-".into() },
            pending = if a.readable { a.pending.to_string() } else { "-".into() },
            role = esc(&a.role),
        );
    }
    h.push_str("</tbody></table></body></html>\n");
    h
}
