//! The report as one self-contained HTML page: an inline SVG picture of the
//! organisation (accounts as boxes, VPCs as nodes, peerings as edges coloured
//! by state, with a legend), then one table row per peering with its
//! findings and fixes. No script, font, style sheet or image is fetched: the
//! page opens from a file with no network.
//!
//! Built with `maud` templates, so every text from the report is escaped by
//! construction. [`layout`] computes where everything in the picture goes
//! (with [`labels`]: what each place says), the [`svg`](mod@svg) module
//! draws it, [`tables`] draws the tables, and this module the page around
//! them. Each table is a list of columns (heading, cell) in [`tables`]; one
//! finding is drawn by `tables::finding`.

mod labels;
mod layout;
mod svg;
mod tables;
#[cfg(test)]
mod tests;

use maud::{DOCTYPE, PreEscaped, html};

use super::model::{OrgReport, State};

/// Colour, dash pattern (none for a solid line) and width of each state
/// (edges, legend, table chips).
pub fn style(state: State) -> (&'static str, Option<&'static str>, f32) {
    match state {
        State::Finished => ("#2e7d32", None, 3.0),
        State::DriftPending => ("#ef6c00", Some("8 4"), 3.0),
        State::PendingAcceptance => ("#1e88e5", Some("3 4"), 2.5),
        State::Conflict => ("#d32f2f", None, 4.0),
        State::Rejected => ("#8e24aa", Some("10 4 2 4"), 2.5),
        State::Gone => ("#9e9e9e", Some("2 5"), 2.0),
    }
}

/// The SVG picture alone.
pub fn svg(r: &OrgReport) -> String {
    svg::draw(&layout::layout(r)).into_string()
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
ul.lines { margin: 0; padding-left: 0; list-style: none; }
ul.lines li.to-add { color: #2e7d32; }
ul.lines li.to-remove { color: #c62828; text-decoration: line-through; }
.kind { font-weight: 600; }
"#;

/// The whole page.
pub fn render(r: &OrgReport) -> String {
    let s = &r.summary;
    let states = s.state_counts();
    html! {
        (DOCTYPE) "\n"
        html lang="en" {
            head {
                meta charset="utf-8";
                title { "peerlink: organisation report" }
                // A constant of this file: nothing from the report.
                style { (PreEscaped(CSS)) }
            }
            body {
                h1 { "peerlink: organisation report" }
                p class="summary" {
                    "From " span class="mono" { (r.accounts_file) } ": " (s.peerings) " peering(s)"
                    @if !states.is_empty() {
                        " (" (states.join(", ")) ")"
                    }
                    "; " (s.accounts - s.unreadable) " account-region(s) read"
                    @if s.unreadable > 0 {
                        ", " span class="error" { (s.unreadable) " unreadable" }
                    }
                    "; " (s.outstanding_changes) " outstanding change(s)."
                }
                (svg::draw(&layout::layout(r)))
                (tables::peerings(r))
                (tables::exposure(r))
                (tables::accounts(r))
            }
        }
        "\n"
    }
    .into_string()
}
