//! `peerlink approve PCX`: accept a request its entry leaves to a human
//! (`auto_accept = false`), after the accepter's own checks
//! ([`peerlink::accepter::approve`]). The caller's identity (STS) is the
//! approval: it stands in for `auto_accept` and for nothing else.
//!
//! Exit codes: 0 accepted; 2 refused (a check failed, or it is not a
//! pending request this account accepts here): nothing is written; 1 error
//! (AWS, or the accept itself failed).

use std::process::ExitCode;

use peerlink::Context;
use peerlink::accepter::{AccepterReport, approve};
use peerlink::decision::Verdict;
use peerlink::ids::PeeringId;

pub async fn run(ctx: &Context, peering: &str, json: bool) -> peerlink_cli::Result<ExitCode> {
    let id: PeeringId = peering.parse()?;
    let approver = ctx.aws.caller_arn().await?;
    let report = approve(ctx, &id, &approver).await?;
    let code = exit_code(&report, peering);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text(&report, peering));
    }
    Ok(code)
}

fn exit_code(report: &AccepterReport, peering: &str) -> ExitCode {
    let id = peering.to_string();
    if !report.failed.is_empty() {
        ExitCode::from(1)
    } else if report.accepted.contains(&id) && !report.undone.contains(&id) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    }
}

/// The request, every check, and what became of it.
fn text(report: &AccepterReport, peering: &str) -> String {
    let Some(o) = report.outcomes.iter().find(|o| o.decision.peering_id == peering) else {
        return format!("{peering}: nothing decided\n");
    };
    let d = &o.decision;
    let r = &d.requester;
    let blocks: Vec<String> = r.cidrs.iter().map(ToString::to_string).collect();
    let mut out = format!(
        "Request {peering}: VPC {} of account {} in {} ({}) to {}{}\n",
        r.vpc,
        r.account,
        r.region,
        blocks.join(", "),
        d.accepter.vpc,
        d.entry.as_ref().map(|e| format!(", entry {e:?}")).unwrap_or_default()
    );
    if !d.checks.is_empty() {
        let rows: Vec<Vec<String>> = d
            .checks
            .iter()
            .map(|c| {
                vec![
                    c.check.to_string(),
                    if c.ok { "ok" } else { "FAILED" }.to_string(),
                    c.detail.clone(),
                ]
            })
            .collect();
        out.push_str(&peerlink_cli::text::table(&["CHECK", "RESULT", "DETAIL"], &rows));
        out.push('\n');
    }
    let id = peering.to_string();
    let outcome = if report.undone.contains(&id) {
        "accepted, then deleted again: an overlapping peering accepted at the same time takes precedence".to_string()
    } else if report.failed.contains(&id) {
        format!("failed: {}", o.result)
    } else if d.verdict == Verdict::Accept {
        format!("accepted by {}: {}", d.approved_by.as_deref().unwrap_or("?"), d.reason)
    } else {
        format!("refused (nothing written): {}", d.reason)
    };
    out.push_str(&outcome);
    out.push('\n');
    out
}
