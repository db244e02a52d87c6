//! What the picture says in each place: the accounts grouped into boxes
//! (title, sub-title, notes, VPCs), each VPC's text lines, and text fitted
//! to the room the geometry gives it (wrapped or truncated).

use std::collections::BTreeMap;

use crate::report::model::{AccountRow, OrgReport, State, VpcNode};

/// Characters of a node's text line (monospace).
pub const NODE_CHARS: usize = 56;

/// One account's box, before it is placed.
pub struct Group<'a> {
    pub account: &'a str,
    pub title: String,
    pub sub: String,
    /// (text, is an error), wrapped when placed.
    pub notes: Vec<(String, bool)>,
    pub in_file: bool,
    pub unreadable: bool,
    pub multi_region: bool,
    pub nodes: Vec<&'a VpcNode>,
}

/// The accounts in the file's order, then those only seen as the far end of
/// a peering (by id).
pub fn groups(r: &OrgReport) -> Vec<Group<'_>> {
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
        .map(|account| group(r, account, rows.get(account).map(Vec::as_slice)))
        .collect()
}

/// One account's box: `rows` are its rows of the accounts file (none when
/// it is not in the file).
fn group<'a>(r: &'a OrgReport, account: &'a str, rows: Option<&[&AccountRow]>) -> Group<'a> {
    let nodes: Vec<&VpcNode> = r.vpcs.iter().filter(|v| v.account == account).collect();
    let mut regions: Vec<&str> = nodes.iter().map(|v| v.region.as_str()).collect();
    let mut notes = Vec::new();
    let (title, in_file, unreadable) = match rows {
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
}

/// A node's text: its id (and region, name) then its blocks, on the first
/// line when they fit.
pub fn node_lines(n: &VpcNode, multi_region: bool) -> Vec<String> {
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

/// `notes` wrapped to a box `w` wide (sans-serif, about 6.6 px a character).
pub fn wrapped_notes(notes: &[(String, bool)], w: f32) -> Vec<(String, bool)> {
    let chars = ((w - 32.0) / 6.6) as usize;
    notes
        .iter()
        .flat_map(|(t, e)| wrap(t, chars).into_iter().map(move |l| (l, *e)))
        .collect()
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

/// `s` cut to `max` characters, the last one an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// What each state means, in the legend.
pub fn meaning(state: State) -> &'static str {
    match state {
        State::Finished => "active, nothing outstanding",
        State::DriftPending => "active, changes pending on a side",
        State::PendingAcceptance => "waiting for the accepter",
        State::Conflict => "overlapping blocks or route conflict",
        State::Rejected => "rejected by the accepter",
        State::Gone => "failed, expired or deleted",
    }
}

/// How to read the picture, under the states in the legend.
pub const LEGEND_NOTES: [&str; 5] = [
    "● requester VPC → ▶ accepter VPC",
    "n: row n of the table below (hover an edge for its id)",
    "dashed VPC: described by the other end only",
    "red dashed box: account that could not be read",
    "grey dashed box: account not in the accounts file",
];
