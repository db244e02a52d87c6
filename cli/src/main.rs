//! `peerlink`: the same engine as the Lambda functions, run from a terminal
//! with the normal AWS credential chain and `AWS_ENDPOINT_URL`.
//!
//! Exit codes, like `terraform plan -detailed-exitcode`: 0 nothing to do (or
//! done), 2 changes pending (plan), problems found (doctor) or a request
//! refused (approve), 1 error.

use std::process::ExitCode;

use args::{Cli, Command};
use clap::Parser;
use peerlink::aws::{Aws, Clients, load_sdk_config};
use peerlink::config::{Config, ConfigSource};
use peerlink::context::load_config;
use peerlink::exposure::Exposure;
use peerlink::finding::Finding;
use peerlink::outcome::WriteResult;
use peerlink::reconcile::{self, Report, Scope};
use peerlink::settings::Settings;
use peerlink::verify::Traffic;
use peerlink::{Context, Deadline, Mode};
use peerlink_cli::{Error, Result};
use serde::Serialize;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

fn source(cli: &Cli, settings: &Settings) -> Result<ConfigSource> {
    Ok(match &cli.config {
        Some(path) => ConfigSource::File(path.clone()),
        None => settings.require_config_source()?.clone(),
    })
}

/// The context of an AWS command. `config`, when already read and parsed,
/// is used as it is; otherwise it is loaded from its source.
async fn context(cli: &Cli, config: Option<Config>) -> Result<Context> {
    let settings = Settings::from_env()?;
    let sdk = load_sdk_config(&settings.resilience).await;
    let config = match config {
        Some(config) => config,
        None => {
            let region = sdk.region().map(|r| r.to_string());
            load_config(
                &source(cli, &settings)?,
                &Clients::new(&sdk, &settings.ec2_buckets),
                region.as_deref(),
            )
            .await?
        }
    };
    Ok(Context::connect(&sdk, config, settings).await?)
}

/// The configuration's text, and its name in messages (the path as given,
/// or the variable or SSM parameter it comes from).
async fn config_text(cli: &Cli) -> Result<(String, String)> {
    let settings = Settings::from_env()?;
    let src = source(cli, &settings)?;
    Ok(match &src {
        ConfigSource::File(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|source| Error::Read {
                path: path.clone(),
                source,
            })?,
        ),
        ConfigSource::Inline(text) => (src.to_string(), text.clone()),
        ConfigSource::SsmParameter(name) => {
            let sdk = load_sdk_config(&settings.resilience).await;
            let parameter = Clients::new(&sdk, &settings.ec2_buckets).get_parameter(name).await?;
            (src.to_string(), parameter.value)
        }
    })
}

fn scope(peering: &Option<String>) -> Result<Scope> {
    Ok(match peering {
        Some(id) => {
            let id: peerlink::ids::PeeringId = id.parse()?;
            Scope::Peerings(vec![id.to_string()])
        }
        None => Scope::All,
    })
}

/// One command: each is a function of its own below.
async fn run(cli: Cli) -> Result<ExitCode> {
    match &cli.command {
        Command::CheckConfig => check_config(&cli).await,
        Command::DeployParams { template, region, json } => deploy_params(&cli, *template, region.clone(), *json).await,
        Command::Approve { peering, json } => {
            let ctx = context(&cli, None).await?;
            approve::run(&ctx, peering, *json).await
        }
        Command::Schema => {
            print!("{}", peerlink::config::json_schema_text());
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { peering, json } => plan_or_apply(&cli, peering, *json, Mode::Plan).await,
        Command::Apply { peering, json } => plan_or_apply(&cli, peering, *json, Mode::Apply).await,
        Command::Report { accounts, html, json } => {
            let opts = peerlink_cli::report::Options {
                accounts: accounts.clone(),
                html: html.clone(),
                json: *json,
            };
            Ok(ExitCode::from(peerlink_cli::report::run(&opts).await?))
        }
        Command::Verify {
            accounts,
            from,
            to,
            port,
            protocol,
            no_dns,
            json,
        } => {
            let opts = peerlink_cli::verify::Options {
                accounts: accounts.clone(),
                from: from.clone(),
                to: to.clone(),
                traffic: Traffic::new((*protocol).into(), *port).map_err(|reason| Error::Argument {
                    flag: "--protocol and --port",
                    reason,
                })?,
                dns: !no_dns,
                json: *json,
            };
            Ok(ExitCode::from(peerlink_cli::verify::run(&opts).await?))
        }
        Command::Doctor {
            json,
            stack_parameters,
            offline,
        } => doctor(&cli, *json, stack_parameters.as_deref(), *offline).await,
    }
}

async fn check_config(cli: &Cli) -> Result<ExitCode> {
    let (origin, text) = config_text(cli).await?;
    // The document's region, when the environment names it: an entry may
    // then be checked against it (peer_groups).
    let region = std::env::var("AWS_REGION").ok().filter(|v| !v.is_empty());
    let (output, valid) = peerlink_cli::check::check_config(&origin, &text, region.as_deref());
    print!("{output}");
    Ok(if valid { ExitCode::SUCCESS } else { ExitCode::from(1) })
}

async fn deploy_params(
    cli: &Cli,
    template: peerlink_cli::stack::Template,
    region: Option<String>,
    json: bool,
) -> Result<ExitCode> {
    let (origin, text) = config_text(cli).await?;
    let config = Config::parse(&text, &origin)?;
    let env = |name| std::env::var(name).ok().filter(|v: &String| !v.is_empty());
    let region = region
        .or_else(|| env("AWS_REGION"))
        .or_else(|| env("AWS_DEFAULT_REGION"));
    let params = peerlink_cli::stack::derive(&config, template, region.as_deref());
    if json {
        println!("{}", serde_json::to_string_pretty(&params.json())?);
    } else {
        println!("{}", params.sam_overrides());
    }
    for note in &params.notes {
        eprintln!("note: {note}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `plan` exits 2 when there is something to do; `apply` exits 1 when a
/// write failed or was not permitted (your credentials may not make it).
async fn plan_or_apply(cli: &Cli, peering: &Option<String>, json: bool, mode: Mode) -> Result<ExitCode> {
    let ctx = context(cli, None).await?;
    let scope = scope(peering)?;
    let obs = reconcile::observe::observe(&ctx, &scope).await?;
    let report = reconcile::run_observed(&ctx, scope, &obs, mode, Deadline::none()).await;
    let exposure = peerlink::exposure::view(&ctx.config, &obs, &report.managed, &report.actions);
    let (name, bad) = match mode {
        Mode::Plan => ("plan", !report.actions.is_empty()),
        Mode::Apply => (
            "apply",
            !report.failed().is_empty() || report.count(peerlink::finding::FindingKind::NotPermitted) > 0,
        ),
    };
    print_report(&report, &exposure, json, name)?;
    Ok(match (bad, mode) {
        (false, _) => ExitCode::SUCCESS,
        (true, Mode::Plan) => ExitCode::from(2),
        (true, Mode::Apply) => ExitCode::from(1),
    })
}

async fn doctor(cli: &Cli, json: bool, stack_parameters: Option<&std::path::Path>, offline: bool) -> Result<ExitCode> {
    let mut stack = Vec::new();
    // Read and parsed once: the AWS checks below use it too.
    let mut config = None;
    if let Some(path) = stack_parameters {
        let (origin, text) = config_text(cli).await?;
        let parsed = Config::parse(&text, &origin)?;
        let read = std::fs::read_to_string(path).map_err(|e| e.to_string());
        let params = read
            .and_then(|t| peerlink_cli::stack::read_stack_parameters(&t))
            .map_err(|reason| Error::StackParameters {
                path: path.to_path_buf(),
                reason,
            })?;
        stack = peerlink_cli::stack::coverage(&parsed, &params);
        config = Some(parsed);
    }
    let findings = if offline {
        Vec::new()
    } else {
        peerlink::doctor::run(&context(cli, config).await?).await?
    };
    if json {
        let all: Vec<serde_json::Value> = findings
            .iter()
            .map(serde_json::to_value)
            .chain(stack.iter().map(serde_json::to_value))
            .collect::<Result<_, _>>()?;
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "findings": all }))?
        );
    } else if findings.is_empty() && stack.is_empty() {
        println!("doctor: no problems found");
    } else {
        print_findings(&findings);
        for f in &stack {
            print_finding(f.kind, &f.message, &f.fix);
        }
    }
    Ok(if findings.is_empty() && stack.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

#[derive(Serialize)]
struct JsonReport<'a> {
    command: &'a str,
    #[serde(flatten)]
    report: &'a Report,
    /// What each managed peering end opens to whom, and its routes.
    exposure: &'a [Exposure],
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    changes: usize,
    done: usize,
    failed: usize,
    findings: usize,
}

fn print_report(report: &Report, exposure: &[Exposure], json: bool, command: &str) -> Result<()> {
    let summary = Summary {
        changes: report.actions.len(),
        done: report.done(),
        failed: report.failed().len(),
        findings: report.findings.len(),
    };
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&JsonReport {
                command,
                report,
                exposure,
                summary
            })?
        );
        return Ok(());
    }
    if report.managed.is_empty() {
        println!(
            "No managed peering in scope{}",
            report.note.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
        );
    } else {
        let rows: Vec<Vec<String>> = report
            .managed
            .iter()
            .map(|m| {
                vec![
                    m.peering.clone(),
                    m.status.clone(),
                    m.side.to_string(),
                    m.entry.clone(),
                    format!("{} {}", m.peer_account, m.peer_vpc),
                ]
            })
            .collect();
        print_table(&["PEERING", "STATUS", "OUR SIDE", "ENTRY", "PEER"], &rows);
    }
    if !exposure.is_empty() {
        println!();
        print!("{}", peerlink_cli::text::exposure(exposure));
    }
    println!();
    if report.actions.is_empty() {
        println!("No changes: this account's side is as configured.");
    } else {
        let rows: Vec<Vec<String>> = report
            .actions
            .iter()
            .map(|a| {
                let result = match &a.result {
                    WriteResult::Planned => "planned".to_string(),
                    WriteResult::Done => "done".to_string(),
                    WriteResult::AlreadyDone => "already done".to_string(),
                    WriteResult::NoWrite => "no write".to_string(),
                    WriteResult::NotStarted => "not started".to_string(),
                    WriteResult::Failed(e) => format!("FAILED: {e}"),
                    WriteResult::NotPermitted(e) => format!("NOT PERMITTED: {e}"),
                    WriteResult::PeerGroupMissing(e) => format!("PEER GROUP MISSING: {e}"),
                };
                vec![
                    a.planned.peering.clone().unwrap_or_default(),
                    a.planned.action.kind().to_string(),
                    a.planned.action.resource().to_string(),
                    a.planned.action.to_string(),
                    result,
                    a.planned.reason.clone(),
                ]
            })
            .collect();
        print_table(&["PEERING", "ACTION", "RESOURCE", "CHANGE", "RESULT", "WHY"], &rows);
    }
    if !report.findings.is_empty() {
        println!();
        print_findings(&report.findings);
    }
    println!();
    println!(
        "{command}: {} change(s){}, {} finding(s)",
        summary.changes,
        if report.applied {
            format!(" ({} done, {} failed)", summary.done, summary.failed)
        } else {
            String::new()
        },
        summary.findings
    );
    Ok(())
}

fn print_findings(findings: &[Finding]) {
    println!("Findings (not changed by peerlink):");
    for f in findings {
        print_finding(f.kind.name(), &f.message, &f.fix);
    }
}

/// One finding: its kind and what is wrong, then the fix.
fn print_finding(kind: &str, message: &str, fix: &str) {
    println!("  [{kind}] {message}");
    println!("      fix: {fix}");
}

fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    println!("{}", peerlink_cli::text::table(headers, rows));
}

mod approve;
mod args;
#[cfg(test)]
mod docs_check;
