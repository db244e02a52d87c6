//! Where everything in the picture goes, computed before anything is drawn
//! (and unit-tested without drawing): accounts stacked in the file's order
//! (accounts only seen as the far end of a peering after them), VPCs
//! stacked inside their account, and every peering a bracket from its
//! requester VPC (dot) to its accepter VPC (arrow) through a lane of its own
//! to the right of the boxes. Shorter brackets take the inner lanes, and two
//! brackets share a lane only when their spans are apart, so no two edges,
//! numbers or labels are drawn on top of each other. Accounts without a VPC
//! to draw (unreadable, empty) go beside, under the legend.
//!
//! Pure: the same report gives the same [`Layout`].

use std::collections::BTreeMap;

use super::labels::{Group, LEGEND_NOTES, groups, meaning, node_lines, truncate, wrapped_notes};
use crate::report::model::{End, OrgReport, State, VpcNode};

// Geometry (px). Text is 12 px: monospace about 7.3 px a character, the
// sans-serif about 6.6.
const BOX_X: f32 = 20.0;
const BOX_W: f32 = 480.0;
const NODE_X: f32 = BOX_X + 16.0;
const NODE_W: f32 = BOX_W - 32.0;
/// Where every edge leaves its node.
pub const NODE_RIGHT: f32 = NODE_X + NODE_W;
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
const LEGEND_W: f32 = 450.0;
/// Vertical room each edge needs at a node's side.
const PORT_STEP: f32 = 12.0;
/// The radius of the numbered badge at the middle of each edge.
pub const BADGE_R: f32 = 10.0;

/// The whole picture.
#[derive(Debug, Clone, PartialEq)]
pub struct Layout {
    pub width: f32,
    pub height: f32,
    /// Accounts with VPCs (main column, top to bottom), then the others.
    pub boxes: Vec<AccountBox>,
    /// One per peering, in the report's order.
    pub edges: Vec<Edge>,
    pub legend: Legend,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rect {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// A line of text and where it starts (its baseline).
#[derive(Debug, Clone, PartialEq)]
pub struct Text {
    pub x: f32,
    pub y: f32,
    pub text: String,
}

/// How an account's box is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoxKind {
    /// In the accounts file, read.
    Read,
    /// In the accounts file; a region could not be read.
    Unreadable,
    /// Not in the accounts file: seen as the far end of a peering.
    NotInFile,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AccountBox {
    pub account: String,
    pub kind: BoxKind,
    pub rect: Rect,
    pub title: Text,
    pub sub: Text,
    /// Wrapped to the box; `true` for an error.
    pub notes: Vec<(Text, bool)>,
    pub nodes: Vec<Node>,
}

/// A VPC.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub vpc: String,
    pub read: bool,
    pub rect: Rect,
    /// Its id, first on the first line…
    pub id: Text,
    /// …and what follows it there (its blocks, when they fit).
    pub rest: String,
    /// Its `Name` tag, after them.
    pub name: Option<Text>,
    /// The lines after the first (its blocks).
    pub blocks: Vec<Text>,
}

/// A peering: a bracket from the requester's port out to its lane and back
/// to the accepter's port, its number on a badge at the middle.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    pub peering: String,
    pub state: State,
    /// Its row in the table (from 1).
    pub number: usize,
    /// Shown on hover.
    pub title: String,
    pub lane: usize,
    /// The lane's x.
    pub x: f32,
    /// Where it leaves the requester's node and enters the accepter's.
    pub requester_y: f32,
    pub accepter_y: f32,
}

impl Edge {
    /// The centre of its badge.
    pub fn badge(&self) -> (f32, f32) {
        (self.x, (self.requester_y + self.accepter_y) / 2.0)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Legend {
    pub rect: Rect,
    pub title: Text,
    pub items: Vec<LegendItem>,
    pub notes: Vec<Text>,
}

/// A state: a sample of its edge, then its name, count and meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendItem {
    pub state: State,
    pub count: usize,
    /// The sample: from x0 to x1 at y.
    pub sample: (f32, f32, f32),
    /// Where the text starts; `text` is the state's meaning.
    pub label: Text,
}

/// A VPC, by account and id.
type Key = (String, String);

fn key(e: &End) -> Key {
    (e.account.clone(), e.vpc.clone())
}

/// Lays the report out.
pub fn layout(r: &OrgReport) -> Layout {
    let groups = groups(r);
    // Accounts with VPCs in the main column; the others (unreadable, empty)
    // beside it, under the legend.
    let (main, side): (Vec<&Group>, Vec<&Group>) = groups.iter().partition(|g| !g.nodes.is_empty());
    let (mut boxes, main_bottom) = main_column(&main, &degrees(r));
    let ends = ports(r, &boxes);
    let (lane_of, lanes) = lanes(&ends);
    let lanes_right = LANE_X0 + lanes.max(1) as f32 * LANE_STEP;
    let legend_x = if main.is_empty() { BOX_X } else { lanes_right + 24.0 };
    let legend = legend(r, legend_x);
    let (side_boxes, side_bottom) = side_column(&side, legend_x, legend.rect.y + legend.rect.h + BOX_GAP);
    boxes.extend(side_boxes);
    Layout {
        width: legend_x + LEGEND_W + BOX_X,
        height: main_bottom.max(side_bottom),
        boxes,
        edges: edges(r, &ends, &lane_of),
        legend,
    }
}

/// How many edges meet at each VPC.
fn degrees(r: &OrgReport) -> BTreeMap<Key, usize> {
    let mut degree: BTreeMap<Key, usize> = BTreeMap::new();
    for p in &r.peerings {
        for e in p.ends() {
            *degree.entry(key(e)).or_default() += 1;
        }
    }
    degree
}

/// The main column's boxes and their nodes, top to bottom; and its bottom.
fn main_column(groups: &[&Group], degree: &BTreeMap<Key, usize>) -> (Vec<AccountBox>, f32) {
    let mut boxes = Vec::new();
    let mut y = TOP;
    for g in groups {
        let top = y;
        let notes = wrapped_notes(&g.notes, BOX_W);
        y += HEADER_H + notes.len() as f32 * LINE_H;
        if !notes.is_empty() {
            y += 6.0;
        }
        let mut nodes = Vec::new();
        for n in &g.nodes {
            let edges = degree.get(&(n.account.clone(), n.id.clone())).copied().unwrap_or(0);
            let node = node(n, g.multi_region, y, edges);
            y += node.rect.h + NODE_GAP;
            nodes.push(node);
        }
        y += BOX_PAD - NODE_GAP;
        let rect = Rect {
            x: BOX_X,
            y: top,
            w: BOX_W,
            h: y - top,
        };
        boxes.push(account_box(g, rect, notes, nodes));
        y += BOX_GAP;
    }
    (boxes, y)
}

/// The side column's boxes, from `top` down; and its bottom.
fn side_column(groups: &[&Group], x: f32, top: f32) -> (Vec<AccountBox>, f32) {
    let mut boxes = Vec::new();
    let mut y = top;
    for g in groups {
        let notes = wrapped_notes(&g.notes, LEGEND_W);
        let h = HEADER_H + notes.len() as f32 * LINE_H + BOX_PAD;
        let rect = Rect { x, y, w: LEGEND_W, h };
        boxes.push(account_box(g, rect, notes, Vec::new()));
        y += h + BOX_GAP;
    }
    (boxes, y)
}

fn account_box(g: &Group, rect: Rect, notes: Vec<(String, bool)>, nodes: Vec<Node>) -> AccountBox {
    let chars = ((rect.w - 32.0) / 7.0) as usize;
    let at = |y: f32, text: String| Text {
        x: rect.x + 16.0,
        y,
        text,
    };
    AccountBox {
        account: g.account.to_string(),
        kind: if g.unreadable {
            BoxKind::Unreadable
        } else if g.in_file {
            BoxKind::Read
        } else {
            BoxKind::NotInFile
        },
        rect,
        title: at(rect.y + 22.0, truncate(&g.title, chars * 7 / 9)),
        sub: at(rect.y + 40.0, truncate(&g.sub, chars)),
        notes: notes
            .into_iter()
            .enumerate()
            .map(|(j, (note, error))| (at(rect.y + HEADER_H + 8.0 + j as f32 * LINE_H, note), error))
            .collect(),
        nodes,
    }
}

/// A VPC's node at `y`, tall enough for its text and its `edges`.
fn node(n: &VpcNode, multi_region: bool, y: f32, edges: usize) -> Node {
    let lines = node_lines(n, multi_region);
    let h = (12.0 + lines.len() as f32 * LINE_H).max(PORT_STEP * (edges as f32 + 1.0));
    let text_top = y + (h - lines.len() as f32 * LINE_H) / 2.0 + 12.0;
    let at = |k: usize, x: f32, text: String| Text {
        x,
        y: text_top + k as f32 * LINE_H,
        text,
    };
    let first = &lines[0];
    // The id in bold, what follows it (blocks) in plain text.
    let (id, rest) = first.split_at(n.id.len().min(first.len()));
    let name = n.name.as_ref().map(|name| {
        let used = first.chars().count() as f32 * 7.3 + 24.0;
        let room = ((NODE_W - used - 12.0) / 6.8).max(4.0) as usize;
        at(0, NODE_X + used, truncate(name, room))
    });
    Node {
        vpc: n.id.clone(),
        read: n.read,
        rect: Rect {
            x: NODE_X,
            y,
            w: NODE_W,
            h,
        },
        id: at(0, NODE_X + 12.0, id.to_string()),
        rest: rest.trim().to_string(),
        name,
        blocks: lines
            .iter()
            .enumerate()
            .skip(1)
            .map(|(k, line)| at(k, NODE_X + 12.0, line.clone()))
            .collect(),
    }
}

/// Where each peering leaves its requester's node and enters its
/// accepter's: a node's edges spread down its right side, ordered by where
/// their other end is.
fn ports(r: &OrgReport, boxes: &[AccountBox]) -> Vec<(f32, f32)> {
    let nodes: BTreeMap<Key, Rect> = boxes
        .iter()
        .flat_map(|b| b.nodes.iter().map(|n| ((b.account.clone(), n.vpc.clone()), n.rect)))
        .collect();
    let centre = |e: &End| nodes.get(&key(e)).map(|n| n.y + n.h / 2.0).unwrap_or(0.0);
    let mut touching: BTreeMap<Key, Vec<(f32, usize)>> = BTreeMap::new();
    for (i, p) in r.peerings.iter().enumerate() {
        let (a, b) = (&p.requester, &p.accepter);
        touching.entry(key(a)).or_default().push((centre(b), i));
        touching.entry(key(b)).or_default().push((centre(a), i));
    }
    let mut ports: BTreeMap<(Key, usize), f32> = BTreeMap::new();
    for (k, mut list) in touching {
        list.sort_by(|x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
        if let Some(node) = nodes.get(&k) {
            let n = list.len() as f32;
            for (j, (_, i)) in list.iter().enumerate() {
                ports.insert((k.clone(), *i), node.y + node.h * (j as f32 + 1.0) / (n + 1.0));
            }
        }
    }
    let port = |i: usize, e: &End| ports.get(&(key(e), i)).copied().unwrap_or(0.0);
    r.peerings
        .iter()
        .enumerate()
        .map(|(i, p)| (port(i, &p.requester), port(i, &p.accepter)))
        .collect()
}

/// Each edge's lane (by the edges' `(from, to)`), and how many lanes:
/// shortest spans innermost; a lane is shared only by spans apart.
fn lanes(ends: &[(f32, f32)]) -> (Vec<usize>, usize) {
    let mut spans: Vec<(usize, f32, f32)> = ends.iter().enumerate().map(|(i, (a, b))| (i, *a, *b)).collect();
    spans.sort_by(|a, b| {
        let (la, lb) = ((a.1 - a.2).abs(), (b.1 - b.2).abs());
        la.total_cmp(&lb)
            .then(a.1.min(a.2).total_cmp(&b.1.min(b.2)))
            .then(a.0.cmp(&b.0))
    });
    let mut lanes: Vec<Vec<(f32, f32)>> = Vec::new();
    let mut lane_of = vec![0; ends.len()];
    for (i, y1, y2) in spans {
        let (lo, hi) = (y1.min(y2), y1.max(y2));
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
        lane_of[i] = l;
    }
    (lane_of, lanes.len())
}

fn edges(r: &OrgReport, ends: &[(f32, f32)], lane_of: &[usize]) -> Vec<Edge> {
    r.peerings
        .iter()
        .zip(ends)
        .zip(lane_of)
        .enumerate()
        .map(|(i, ((p, (y1, y2)), lane))| Edge {
            peering: p.id.clone(),
            state: p.state,
            number: i + 1,
            title: format!(
                "#{n} {id} — {state} (EC2: {status})\nrequester {ra} {rv}\naccepter {aa} {av}",
                n = i + 1,
                id = p.id,
                state = p.state.name(),
                status = p.status,
                ra = p.requester.account,
                rv = p.requester.vpc,
                aa = p.accepter.account,
                av = p.accepter.vpc,
            ),
            lane: *lane,
            x: LANE_X0 + *lane as f32 * LANE_STEP,
            requester_y: *y1,
            accepter_y: *y2,
        })
        .collect()
}

/// The legend at `x`: every state with its count, then how to read the picture.
fn legend(r: &OrgReport, x: f32) -> Legend {
    let h = 40.0 + State::ALL.len() as f32 * 24.0 + LEGEND_NOTES.len() as f32 * 20.0;
    let items = State::ALL
        .iter()
        .enumerate()
        .map(|(k, st)| {
            let y = TOP + 48.0 + k as f32 * 24.0;
            LegendItem {
                state: *st,
                count: r.summary.states.get(st.name()).copied().unwrap_or(0),
                sample: (x + 16.0, x + 58.0, y),
                label: Text {
                    x: x + 70.0,
                    y: y + 4.0,
                    text: meaning(*st).to_string(),
                },
            }
        })
        .collect();
    let notes = LEGEND_NOTES
        .iter()
        .enumerate()
        .map(|(k, t)| Text {
            x: x + 16.0,
            y: TOP + 48.0 + State::ALL.len() as f32 * 24.0 + 6.0 + k as f32 * 20.0,
            text: t.to_string(),
        })
        .collect();
    Legend {
        rect: Rect {
            x,
            y: TOP,
            w: LEGEND_W,
            h,
        },
        title: Text {
            x: x + 14.0,
            y: TOP + 24.0,
            text: "Peerings by state".into(),
        },
        items,
        notes,
    }
}
