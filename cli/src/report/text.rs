//! The report as terminal tables.

use std::fmt::Write as _;

use super::model::{End, FindingRow, OrgReport, Summary};
use crate::text::table;

/// Accounts, peerings (one row each), then every finding with its fix.
pub fn render(r: &OrgReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}\n", accounts(r));
    if r.peerings.is_empty() {
        let _ = writeln!(out, "No peering in any account read.\n");
    } else {
        let _ = writeln!(out, "{}\n", peerings(r));
    }
    out.push_str(&findings(r));
    out.push_str(&summary(&r.summary));
    out
}

fn accounts(r: &OrgReport) -> String {
    let rows: Vec<Vec<String>> = r
        .accounts
        .iter()
        .map(|a| {
            vec![
                a.account.clone(),
                a.name.clone().unwrap_or_default(),
                a.region.clone(),
                if a.readable { "read".into() } else { "UNREADABLE".into() },
                if a.readable { a.peerings.to_string() } else { "-".into() },
                if a.readable {
                    a.outstanding.to_string()
                } else {
                    "-".into()
                },
                match (&a.error, &a.config) {
                    (Some(e), _) => e.clone(),
                    (None, Some(c)) => format!("config {c}"),
                    (None, None) => "no config: topology only".into(),
                },
            ]
        })
        .collect();
    let headers = [
        "ACCOUNT",
        "NAME",
        "REGION",
        "READ",
        "PEERINGS",
        "PENDING",
        "CONFIG / WHY",
    ];
    table(&headers, &rows)
}

fn peerings(r: &OrgReport) -> String {
    let rows: Vec<Vec<String>> = r
        .peerings
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let mut kinds: Vec<&str> = p.findings.iter().map(|f| f.kind.as_str()).collect();
            kinds.dedup();
            vec![
                (i + 1).to_string(),
                p.id.clone(),
                p.state.name().to_string(),
                end(&p.requester),
                end(&p.accepter),
                format!("{} | {}", missing(&p.requester), missing(&p.accepter)),
                if kinds.is_empty() { "-".into() } else { kinds.join(",") },
            ]
        })
        .collect();
    let headers = [
        "#",
        "PEERING",
        "STATE",
        "REQUESTER",
        "ACCEPTER",
        "MISSING (REQUESTER | ACCEPTER)",
        "FINDINGS",
    ];
    table(&headers, &rows)
}

fn end(e: &End) -> String {
    let account = match &e.account_name {
        Some(n) => format!("{n}/{}", e.account),
        None => e.account.clone(),
    };
    format!("{account} {} {}", e.vpc, e.cidrs.join(","))
}

fn missing(e: &End) -> String {
    if e.missing.is_empty() {
        "-".into()
    } else {
        e.missing.join(",")
    }
}

/// Every finding with its fix, under a heading (the peerings' by row
/// number, then the accounts'), and the changes tied to no peering.
fn findings(r: &OrgReport) -> String {
    let mut out = String::new();
    let mut any = false;
    let mut finding = |out: &mut String, at: String, f: &FindingRow| {
        if !any {
            let _ = writeln!(out, "Findings (not changed by peerlink):");
            any = true;
        }
        let _ = writeln!(out, "  {at}[{}] (account {}) {}", f.kind, f.account, f.message);
        let _ = writeln!(out, "      fix: {}", f.fix);
    };
    for (i, p) in r.peerings.iter().enumerate() {
        for f in &p.findings {
            finding(&mut out, format!("#{} {} ", i + 1, p.id), f);
        }
    }
    for a in &r.accounts {
        for f in &a.findings {
            finding(&mut out, String::new(), f);
        }
        for c in &a.other_outstanding {
            let _ = writeln!(
                out,
                "  outstanding in {} {}: {} ({})",
                a.account, a.region, c.change, c.reason
            );
        }
    }
    if any {
        out.push('\n');
    }
    out
}

fn summary(s: &Summary) -> String {
    let states = s.state_counts();
    format!(
        "report: {} peering(s){}; {} account-region(s) read, {} unreadable; {} outstanding change(s)\n",
        s.peerings,
        if states.is_empty() {
            String::new()
        } else {
            format!(" ({})", states.join(", "))
        },
        s.accounts - s.unreadable,
        s.unreadable,
        s.outstanding_changes
    )
}
