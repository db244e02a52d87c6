//! `peerlink`: the same engine as the Lambda functions, run from a terminal
//! with the normal AWS credential chain and `AWS_ENDPOINT_URL`.
//!
//! Exit codes, like `terraform plan -detailed-exitcode`: 0 nothing to do (or
//! done), 2 changes pending (plan), problems found (doctor) or a request
//! refused (approve), 1 error.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use peerlink::aws::{Aws, Clients, load_sdk_config};
use peerlink::config::{Config, ConfigSource, Protocol};
use peerlink::context::load_config;
use peerlink::exposure::Exposure;
use peerlink::finding::Finding;
use peerlink::reconcile::{self, ActionResult, Report, Scope};
use peerlink::settings::Settings;
use peerlink::verify::Traffic;
use peerlink::{Context, Deadline, Mode};
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "peerlink",
    version,
    about = "Cross-account VPC peering: plan, apply, approve, doctor, check-config, report, verify"
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
        /// The deployed stack's parameters, as JSON (`aws cloudformation
        /// describe-stacks` output, or `deploy-params --json`): also report
        /// what the configuration names and the stack does not cover.
        #[arg(long, value_name = "FILE")]
        stack_parameters: Option<PathBuf>,
        /// Only the checks that need no AWS access (the stack parameters').
        #[arg(long, requires = "stack_parameters")]
        offline: bool,
    },
    /// Validate the configuration without touching AWS: every error and
    /// warning, each with its line. Exit 0: valid (warnings allowed); 1: invalid.
    CheckConfig,
    /// Print the SAM template parameters the configuration needs, as
    /// `sam deploy --parameter-overrides` takes them; notes on what cannot
    /// be derived go to stderr.
    DeployParams {
        /// The template to deploy.
        #[arg(long, value_enum)]
        template: peerlink_cli::stack::Template,
        /// The stack's region (for AccepterEventBusArn). Default: AWS_REGION, AWS_DEFAULT_REGION.
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        /// A JSON object of names and values instead.
        #[arg(long)]
        json: bool,
    },
    /// Print the configuration's JSON Schema (schema/peerlink.schema.json).
    Schema,
    /// Accept a pending request its entry leaves to a human, after the
    /// accepter's own checks. Exit 0: accepted; 2: refused; 1: error.
    Approve {
        /// The request.
        #[arg(value_name = "PCX")]
        peering: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Read every account of an accounts file (assuming a role in each;
    /// writes nothing) and show every peering once, both ends merged: its
    /// state, what is missing on each side, findings and fixes.
    /// Exit 0: all finished; 2: something pending, drifted, conflicting or
    /// an account unreadable; 1: error (a bad accounts file).
    Report {
        /// TOML: `[[account]]` tables with `id`, `role`, `regions`, optional
        /// `config` and `name`.
        #[arg(long, value_name = "FILE")]
        accounts: PathBuf,
        /// Also write a self-contained HTML page with a picture of the topology.
        #[arg(long, value_name = "PATH")]
        html: Option<PathBuf>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Prove a path across accounts: can FROM reach TO on this port, and if
    /// not, which hop stops it (peering, routes, network ACLs both ways,
    /// security groups, DNS), each with a fix. Reads the accounts of an
    /// accounts file (as `report`); writes nothing.
    /// Exit 0: reachable; 2: blocked; 1: error (an endpoint not found, an
    /// account that cannot be read).
    Verify {
        /// TOML: `[[account]]` tables with `id`, `role`, `regions` (the
        /// file `report` reads).
        #[arg(long, value_name = "FILE")]
        accounts: PathBuf,
        /// Where the traffic starts: a network interface id (eni-…) or a
        /// private IPv4 address in a VPC of a listed account.
        #[arg(long, value_name = "ENDPOINT")]
        from: String,
        /// Where it goes (an RDS database or an ECS task by its interface or address).
        #[arg(long, value_name = "ENDPOINT")]
        to: String,
        /// The destination port (tcp, udp).
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
        port: Option<u16>,
        #[arg(long, value_enum, default_value = "tcp")]
        protocol: VerifyProtocol,
        /// Leave out the dns check (the client connects by address).
        #[arg(long)]
        no_dns: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

/// What `verify` sends.
#[derive(Clone, Copy, clap::ValueEnum)]
enum VerifyProtocol {
    Tcp,
    Udp,
    Icmp,
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

/// The context of an AWS command. `config`, when already read and parsed,
/// is used as it is; otherwise it is loaded from its source.
async fn context(cli: &Cli, config: Option<Config>) -> Result<Context, AnyError> {
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
async fn config_text(cli: &Cli) -> Result<(String, String), AnyError> {
    let settings = Settings::from_env()?;
    let src = source(cli, &settings)?;
    Ok(match &src {
        ConfigSource::File(path) => (
            path.display().to_string(),
            std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?,
        ),
        ConfigSource::Inline(text) => (src.to_string(), text.clone()),
        ConfigSource::SsmParameter(name) => {
            let sdk = load_sdk_config(&settings.resilience).await;
            let parameter = Clients::new(&sdk, &settings.ec2_buckets).get_parameter(name).await?;
            (src.to_string(), parameter.value)
        }
    })
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

/// One command: each is a function of its own below.
async fn run(cli: Cli) -> Result<ExitCode, AnyError> {
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
            let code = peerlink_cli::report::run(&opts)
                .await
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            Ok(ExitCode::from(code))
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
            let protocol = match protocol {
                VerifyProtocol::Tcp => Protocol::Tcp,
                VerifyProtocol::Udp => Protocol::Udp,
                VerifyProtocol::Icmp => Protocol::Icmp,
            };
            let opts = peerlink_cli::verify::Options {
                accounts: accounts.clone(),
                from: from.clone(),
                to: to.clone(),
                traffic: Traffic::new(protocol, *port).map_err(|e| format!("--protocol and --port: {e}"))?,
                dns: !no_dns,
                json: *json,
            };
            let code = peerlink_cli::verify::run(&opts)
                .await
                .map_err(|e| e as Box<dyn std::error::Error>)?;
            Ok(ExitCode::from(code))
        }
        Command::Doctor {
            json,
            stack_parameters,
            offline,
        } => doctor(&cli, *json, stack_parameters.as_deref(), *offline).await,
    }
}

async fn check_config(cli: &Cli) -> Result<ExitCode, AnyError> {
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
) -> Result<ExitCode, AnyError> {
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
async fn plan_or_apply(cli: &Cli, peering: &Option<String>, json: bool, mode: Mode) -> Result<ExitCode, AnyError> {
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

async fn doctor(
    cli: &Cli,
    json: bool,
    stack_parameters: Option<&std::path::Path>,
    offline: bool,
) -> Result<ExitCode, AnyError> {
    let mut stack = Vec::new();
    // Read and parsed once: the AWS checks below use it too.
    let mut config = None;
    if let Some(path) = stack_parameters {
        let (origin, text) = config_text(cli).await?;
        let parsed = Config::parse(&text, &origin)?;
        let read = std::fs::read_to_string(path).map_err(|e| e.to_string());
        let params = read
            .and_then(|t| peerlink_cli::stack::read_stack_parameters(&t))
            .map_err(|e| format!("{}: {e}", path.display()))?;
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

fn print_report(report: &Report, exposure: &[Exposure], json: bool, command: &str) -> Result<(), AnyError> {
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
                    ActionResult::Pending => "pending".to_string(),
                    ActionResult::Done => "done".to_string(),
                    ActionResult::AlreadyDone => "already done".to_string(),
                    ActionResult::NotStarted => "not started".to_string(),
                    ActionResult::Failed(e) => format!("FAILED: {e}"),
                    ActionResult::NotPermitted(e) => format!("NOT PERMITTED: {e}"),
                    ActionResult::PeerGroupMissing(e) => format!("PEER GROUP MISSING: {e}"),
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
#[cfg(test)]
mod docs_check;
