//! `peerlink`: the same engine as the Lambda functions, run from a terminal
//! with the normal AWS credential chain and `AWS_ENDPOINT_URL`.
//!
//! Exit codes, like `terraform plan -detailed-exitcode`: 0 nothing to do (or
//! done), 2 changes pending (plan) or problems found (doctor), 1 error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use peerlink::aws::{Clients, load_sdk_config};
use peerlink::config::{Config, ConfigSource};
use peerlink::context::load_config;
use peerlink::finding::Finding;
use peerlink::reconcile::{self, ActionResult, Report, Scope};
use peerlink::settings::Settings;
use peerlink::{Context, Deadline, Mode};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "peerlink",
    version,
    about = "Cross-account VPC peering: plan, apply, doctor, check-config"
)]
struct Cli {
    /// Configuration file. Default: PEERLINK_CONFIG_FILE, PEERLINK_CONFIG or
    /// PEERLINK_CONFIG_SSM_PARAMETER, as for the functions.
    #[arg(long, short, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show what would change on this account's side, and why. Writes nothing.
    /// Exit 0: nothing to do; 2: changes pending; 1: error.
    Plan {
        /// Only this peering (default: every managed peering).
        #[arg(long, value_name = "PCX")]
        peering: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Make the changes `plan` shows. Exit 0: done; 1: something failed.
    Apply {
        #[arg(long, value_name = "PCX")]
        peering: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check what peerlink does not own: network ACLs, VPC DNS attributes,
    /// quotas, cross-region group references. Exit 0: fine; 2: findings; 1: error.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Validate the configuration without touching AWS. Exit 0: valid; 1: invalid.
    CheckConfig,
}

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

type AnyError = Box<dyn std::error::Error>;

fn source(cli: &Cli, settings: &Settings) -> Result<ConfigSource, AnyError> {
    Ok(match &cli.config {
        Some(path) => ConfigSource::File(path.clone()),
        None => settings.require_config_source()?.clone(),
    })
}

async fn context(cli: &Cli) -> Result<Context, AnyError> {
    let settings = Settings::from_env()?;
    let sdk = load_sdk_config(&settings.resilience).await;
    let config = load_config(&source(cli, &settings)?, &Clients::new(&sdk)).await?;
    Ok(Context::connect(&sdk, config, settings).await?)
}

fn scope(peering: &Option<String>) -> Result<Scope, AnyError> {
    Ok(match peering {
        Some(id) => {
            let id: peerlink::ids::PeeringId = id.parse()?;
            Scope::Peerings(vec![id.to_string()])
        }
        None => Scope::All,
    })
}

async fn run(cli: Cli) -> Result<ExitCode, AnyError> {
    match &cli.command {
        Command::CheckConfig => {
            let src = source(&cli, &Settings::from_env()?)?;
            let config = match &src {
                ConfigSource::SsmParameter(_) => context(&cli).await?.config.as_ref().clone(),
                local => local.read_local()?,
            };
            check_config(&src, &config);
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { peering, json } => {
            let ctx = context(&cli).await?;
            let report = reconcile::run(&ctx, scope(peering)?, Mode::Plan, Deadline::none()).await?;
            print_report(&report, *json, "plan")?;
            Ok(if report.actions.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
        Command::Apply { peering, json } => {
            let ctx = context(&cli).await?;
            let report = reconcile::run(&ctx, scope(peering)?, Mode::Apply, Deadline::none()).await?;
            print_report(&report, *json, "apply")?;
            Ok(if report.failed().is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::Doctor { json } => {
            let ctx = context(&cli).await?;
            let findings = peerlink::doctor::run(&ctx).await?;
            if *json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&serde_json::json!({ "findings": findings }))?
                );
            } else if findings.is_empty() {
                println!("doctor: no problems found");
            } else {
                print_findings(&findings);
            }
            Ok(if findings.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            })
        }
    }
}

fn check_config(src: &ConfigSource, config: &Config) {
    println!(
        "{src}: valid, {} peer entr{}",
        config.peers.len(),
        if config.peers.len() == 1 { "y" } else { "ies" }
    );
    for e in &config.peers {
        let vpc = e.peer_vpc.as_ref().map_or("any VPC".to_string(), |v| v.to_string());
        let cidrs: Vec<String> = e.allowed_cidrs.iter().map(ToString::to_string).collect();
        println!(
            "  {:<20} account {} {} -> local {}  allowed {}  {}",
            e.name,
            e.peer_account,
            vpc,
            e.local_vpc,
            cidrs.join(","),
            if e.auto_accept { "auto-accept" } else { "manual accept" }
        );
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    command: &'a str,
    #[serde(flatten)]
    report: &'a Report,
    summary: Summary,
}

#[derive(Serialize)]
struct Summary {
    changes: usize,
    done: usize,
    failed: usize,
    findings: usize,
}

fn print_report(report: &Report, json: bool, command: &str) -> Result<(), AnyError> {
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
    println!();
    if report.actions.is_empty() {
        println!("No changes: this account's side is as configured.");
    } else {
        let rows: Vec<Vec<String>> = report
            .actions
            .iter()
            .map(|a| {
                let result = match &a.result {
                    ActionResult::Pending => "pending".to_string(),
                    ActionResult::Done => "done".to_string(),
                    ActionResult::AlreadyDone => "already done".to_string(),
                    ActionResult::NotStarted => "not started".to_string(),
                    ActionResult::Failed(e) => format!("FAILED: {e}"),
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
        println!("  [{}] {}", f.kind.name(), f.message);
        println!("      fix: {}", f.fix);
    }
}

fn print_table(headers: &[&str], rows: &[Vec<String>]) {
    println!("{}", peerlink_cli::text::table(headers, rows));
}
