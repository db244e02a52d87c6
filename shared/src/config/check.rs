//! Every problem of a document at once, each with its line: what
//! `peerlink check-config` prints, and what [`Config::parse`] fails with.
//!
//! The document is parsed once into a table that remembers where every key
//! and value is. `[settings]` and each `[[peer]]` are then deserialized on
//! their own; when one fails, the key (or array element) holding the error
//! is taken out and the rest is tried again, so every key's error is found,
//! not only the first. The checks across fields run on what deserialized
//! cleanly (a half-read entry would only add echoes of its first error).

use std::fmt;
use std::ops::Range;

use serde::Serialize;
use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeArray, DeTable, DeValue, ValueDeserializer};

use super::validate::{Invalid, equally_specific};
use super::{Config, GlobalSettings, PeerEntry};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The document cannot be used: the functions refuse to start with it.
    Error,
    /// Valid, but probably not what was meant (a catch-all allowlist).
    Warning,
}

/// One thing wrong with a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub severity: Severity,
    /// 1-based line of the offending key, value or table header.
    pub line: Option<usize>,
    /// What is wrong, starting with where (`peer[0] (name "orders").auto_accept: …`).
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "line {line}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The errors in one message, the first one first.
pub(super) fn summary(errors: &[&Problem]) -> String {
    match errors {
        [] => "no configuration".into(),
        [one] => one.to_string(),
        many => format!(
            "{} errors: {}",
            many.len(),
            many.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ),
    }
}

impl Config {
    /// Checks a TOML document completely: every syntax error, every key that
    /// does not deserialize, every inconsistency between fields, and the
    /// warnings, each with its line, sorted by line. The configuration comes
    /// back only when there is no error (warnings allowed).
    pub fn check(text: &str) -> (Option<Config>, Vec<Problem>) {
        Config::check_in(text, None)
    }

    /// [`Config::check`] for a document used in `region` (when known): an
    /// entry whose peer is in another region may not name `peer_groups`
    /// (EC2 cannot reference a security group across regions).
    pub fn check_in(text: &str, region: Option<&str>) -> (Option<Config>, Vec<Problem>) {
        let doc = Lines::new(text);
        let (root, syntax) = DeTable::parse_recoverable(text);
        if !syntax.is_empty() {
            let problems = syntax
                .iter()
                .map(|e| Problem {
                    severity: Severity::Error,
                    line: e.span().map(|s| doc.line(s.start)),
                    message: format!("invalid TOML: {}", e.message().trim_end()),
                })
                .collect();
            return (None, sorted(problems));
        }
        let root = root.into_inner();
        let mut problems = Vec::new();
        let (settings, peers) = deserialize(&doc, &root, &mut problems);
        across_fields(&doc, &root, settings.as_ref(), &peers, region, &mut problems);

        let problems = sorted(problems);
        let failed = problems.iter().any(|p| p.severity == Severity::Error);
        let config = match (failed, settings) {
            (false, Some(settings)) => Some(Config {
                settings,
                peers: peers.into_iter().filter_map(|(entry, _, _)| entry).collect(),
            }),
            _ => None,
        };
        (config, problems)
    }
}

/// Each `[[peer]]`: the entry when it deserialized cleanly, its label, where its table starts.
type Peers = Vec<(Option<PeerEntry>, String, usize)>;

/// Each table of the document deserialized on its own, so that one bad
/// entry does not hide the others: the settings, and each `[[peer]]` in
/// document order (the entry if it deserialized cleanly, its label in
/// messages, and where its table starts).
fn deserialize(doc: &Lines, root: &DeTable<'_>, problems: &mut Vec<Problem>) -> (Option<GlobalSettings>, Peers) {
    let mut settings = Some(GlobalSettings::default());
    let mut peers: Peers = Vec::new();
    for (key, value) in root.iter() {
        match key.get_ref().as_ref() {
            "settings" => {
                settings = collect(doc, value.clone(), "settings", problems);
            }
            "peer" => match value.get_ref() {
                DeValue::Array(items) => {
                    for (i, item) in items.iter().enumerate() {
                        let label = entry_label(i, item);
                        let entry = collect(doc, item.clone(), &label, problems);
                        peers.push((entry, label, item.span().start));
                    }
                }
                other => problems.push(doc.error(
                    value.span().start,
                    format!(
                        "peer: expected [[peer]] tables (an array of tables), found {}",
                        other.type_str()
                    ),
                )),
            },
            other => problems.push(doc.error(
                key.span().start,
                format!("unknown field `{other}`, expected `settings` or `peer`"),
            )),
        }
    }
    (settings, peers)
}

/// Checks across fields, on what deserialized cleanly.
fn across_fields(
    doc: &Lines,
    root: &DeTable<'_>,
    settings: Option<&GlobalSettings>,
    peers: &Peers,
    region: Option<&str>,
    problems: &mut Vec<Problem>,
) {
    let at = |path: &str| doc.line(locate(root, path));
    let mut add = |severity: Severity, path: &str, message: String| {
        problems.push(Problem {
            severity,
            line: Some(at(path)),
            message,
        })
    };
    if let Some(s) = settings {
        for Invalid { path, message } in s.problems() {
            add(Severity::Error, &path, message);
        }
    }
    let clean: Vec<(usize, &PeerEntry)> = peers
        .iter()
        .enumerate()
        .filter_map(|(i, (entry, _, _))| entry.as_ref().map(|e| (i, e)))
        .collect();
    let mut names = std::collections::BTreeSet::new();
    for &(i, entry) in &clean {
        let label = &peers[i].1;
        for Invalid { path, message } in entry.problems() {
            add(
                Severity::Error,
                &format!("peer.{i}.{path}"),
                format!("{label}: {message}"),
            );
        }
        if !names.insert(entry.name.as_str()) {
            add(
                Severity::Error,
                &format!("peer.{i}.name"),
                format!("{label}: name is used by another entry; names must be unique"),
            );
        }
        for Invalid { path, message } in entry.warnings() {
            add(
                Severity::Warning,
                &format!("peer.{i}.{path}"),
                format!("{label}: {message}"),
            );
        }
    }
    for &(i, entry) in clean.iter().filter(|_| region.is_some()) {
        for Invalid { path, message } in entry.region_problems(region.unwrap_or_default()) {
            let label = &peers[i].1;
            add(
                Severity::Error,
                &format!("peer.{i}.{path}"),
                format!("{label}: {message}"),
            );
        }
    }
    let entries: Vec<&PeerEntry> = clean.iter().map(|&(_, e)| e).collect();
    let line_of_entry = |i: usize| doc.line(peers[i].2);
    for (a, b) in equally_specific(&entries) {
        let ((i, first), (j, second)) = (clean[a], clean[b]);
        add(
            Severity::Error,
            &format!("peer.{j}"),
            format!(
                "entries {:?} (line {}) and {:?} (line {}) can match the same request and neither is more specific (same peer_account, local_vpc, peer_vpc and peer_region); merge them, or name a peer_vpc or peer_region in one",
                first.name,
                line_of_entry(i),
                second.name,
                line_of_entry(j)
            ),
        );
    }
}

fn sorted(mut problems: Vec<Problem>) -> Vec<Problem> {
    // Stable: problems on one line keep the order they were found in.
    problems.sort_by_key(|p| p.line.unwrap_or(usize::MAX));
    problems
}

/// `peer[2] (name "orders")`, or `peer[2]` when it has no usable name.
fn entry_label(i: usize, item: &Spanned<DeValue<'_>>) -> String {
    match item.get_ref() {
        DeValue::Table(t) => match t.get("name").map(|n| n.get_ref()) {
            Some(DeValue::String(name)) => format!("peer[{i}] (name {:?})", name.as_ref()),
            _ => format!("peer[{i}]"),
        },
        _ => format!("peer[{i}]"),
    }
}

/// Line numbers of a text.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &str) -> Lines {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { starts }
    }

    /// The 1-based line of a byte offset.
    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).max(1)
    }

    fn error(&self, offset: usize, message: String) -> Problem {
        Problem {
            severity: Severity::Error,
            line: Some(self.line(offset)),
            message,
        }
    }
}

/// A step from a table to a value inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Step {
    Key(String),
    Index(usize),
}

/// Deserializes `value` as a `T`; on failure, records the error, takes out
/// the innermost key or array element holding it, and tries again, until
/// it deserializes or nothing more can be taken out. `Some` only when the
/// first attempt succeeded.
fn collect<T: DeserializeOwned>(
    doc: &Lines,
    mut value: Spanned<DeValue<'_>>,
    label: &str,
    problems: &mut Vec<Problem>,
) -> Option<T> {
    // Paths are shown as in the document, before anything was taken out.
    let original = value.clone();
    // (offset of a table, key) taken out of it: its "missing field" is an echo.
    let mut removed: Vec<(usize, String)> = Vec::new();
    let mut clean = true;
    // Each round takes one key or element out: the loop ends.
    loop {
        let err = match T::deserialize(ValueDeserializer::from(value.clone())) {
            Ok(v) => return clean.then_some(v),
            Err(err) => err,
        };
        clean = false;
        let mut span = err.span().unwrap_or_else(|| value.span());
        let message = err.message().trim_end().to_string();
        let mut path = path_to(&value, span.start);
        // A value of a list that its type refuses (a CIDR, a principal) is
        // reported at the list: find the element, so the others are checked too.
        if let Some((i, at)) = culprit::<T>(&value, &path, &message) {
            path.push(Step::Index(i));
            span = at;
        }
        let missing = message
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let echo = missing.is_some_and(|field| removed.contains(&(span.start, field.to_string())));
        if !echo {
            // An unknown key is named by the message: show where it is, not the key twice.
            let mut shown = path_to(&original, span.start);
            if message.starts_with("unknown field") {
                shown.pop();
            }
            let mut at = label.to_string();
            for step in &shown {
                match step {
                    Step::Key(k) => at.push_str(&format!(".{k}")),
                    Step::Index(i) => at.push_str(&format!("[{i}]")),
                }
            }
            problems.push(doc.error(span.start, format!("{at}: {message}")));
        }
        if !remove(&mut value, &path, &mut removed) {
            return None;
        }
    }
}

/// When `path` leads to a list: the element whose removal makes the error
/// `message` go away, and its span.
fn culprit<T: DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    path: &[Step],
    message: &str,
) -> Option<(usize, Range<usize>)> {
    let DeValue::Array(items) = node(value, path)?.get_ref() else {
        return None;
    };
    (0..items.len()).find_map(|i| {
        let mut probe = value.clone();
        let mut at = path.to_vec();
        at.push(Step::Index(i));
        remove(&mut probe, &at, &mut Vec::new());
        let gone = match T::deserialize(ValueDeserializer::from(probe)) {
            Ok(_) => true,
            Err(e) => e.message().trim_end() != message,
        };
        gone.then(|| (i, items[i].span()))
    })
}

/// The value `path` leads to.
fn node<'v, 'i>(value: &'v Spanned<DeValue<'i>>, path: &[Step]) -> Option<&'v Spanned<DeValue<'i>>> {
    let mut here = value;
    for step in path {
        here = match (here.get_ref(), step) {
            (DeValue::Table(t), Step::Key(k)) => t.get(k.as_str())?,
            (DeValue::Array(a), Step::Index(i)) => a.get(*i)?,
            _ => return None,
        };
    }
    Some(here)
}

/// Where a value reaches in the text: its own span (for an array of tables
/// only the header) and everything inside it.
fn extent(value: &Spanned<DeValue<'_>>) -> Range<usize> {
    let mut out = value.span();
    let mut widen = |r: Range<usize>| {
        out.start = out.start.min(r.start);
        out.end = out.end.max(r.end);
    };
    match value.get_ref() {
        DeValue::Table(t) => {
            for (k, v) in t.iter() {
                widen(k.span());
                widen(extent(v));
            }
        }
        DeValue::Array(a) => {
            for v in a.iter() {
                widen(extent(v));
            }
        }
        _ => {}
    }
    out
}

fn contains(range: &Range<usize>, offset: usize) -> bool {
    range.start <= offset && offset < range.end.max(range.start + 1)
}

/// The path to the innermost key or array element whose text holds `offset`.
fn path_to(value: &Spanned<DeValue<'_>>, offset: usize) -> Vec<Step> {
    let mut path = Vec::new();
    let mut here = value;
    'descend: loop {
        match here.get_ref() {
            DeValue::Table(t) => {
                for (k, v) in t.iter() {
                    let e = extent(v);
                    let whole = k.span().start.min(e.start)..k.span().end.max(e.end);
                    if contains(&whole, offset) {
                        path.push(Step::Key(k.get_ref().to_string()));
                        here = v;
                        continue 'descend;
                    }
                }
            }
            DeValue::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    if contains(&extent(v), offset) {
                        path.push(Step::Index(i));
                        here = v;
                        continue 'descend;
                    }
                }
            }
            _ => {}
        }
        return path;
    }
}

/// Takes out what `path` leads to; false when the path is empty (the whole
/// value is wrong) or leads nowhere.
fn remove(value: &mut Spanned<DeValue<'_>>, path: &[Step], removed: &mut Vec<(usize, String)>) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut here = value;
    for step in parents {
        let next = match (here.get_mut(), step) {
            (DeValue::Table(t), Step::Key(k)) => t.get_mut(k.as_str()),
            (DeValue::Array(a), Step::Index(i)) => a.get_mut(*i),
            _ => None,
        };
        match next {
            Some(next) => here = next,
            None => return false,
        }
    }
    let start = here.span().start;
    match (here.get_mut(), last) {
        (DeValue::Table(t), Step::Key(k)) => {
            removed.push((start, k.clone()));
            t.remove(k.as_str()).is_some()
        }
        (DeValue::Array(a), Step::Index(i)) if *i < a.len() => {
            let mut kept = DeArray::new();
            for (j, item) in a.iter().enumerate() {
                if j != *i {
                    kept.push(item.clone());
                }
            }
            *a = kept;
            true
        }
        _ => false,
    }
}

/// The offset of the key (or element, or table header) a path of the form
/// `peer.0.secrets.1.kms_key` leads to; as far as it exists (a defaulted
/// table is not in the text: then its entry's header).
fn locate(root: &DeTable<'_>, path: &str) -> usize {
    let mut offset = 0;
    let mut steps = path.split('.');
    let Some(first) = steps.next() else {
        return offset;
    };
    let Some((key, mut here)) = root.get_key_value(first) else {
        return offset;
    };
    offset = key.span().start;
    for step in steps {
        let next = match (here.get_ref(), step.parse::<usize>()) {
            (DeValue::Array(a), Ok(i)) => a.get(i).map(|v| (v.span().start, v)),
            (DeValue::Table(t), _) => t.get_key_value(step).map(|(k, v)| (k.span().start, v)),
            _ => None,
        };
        match next {
            Some((at, v)) => {
                offset = at;
                here = v;
            }
            None => break,
        }
    }
    offset
}
