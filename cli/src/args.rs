//! What the `peerlink` command line accepts: its commands and flags (the
//! README's command table documents each: `docs_check.rs`).

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use peerlink::config::Protocol;

#[derive(Parser)]
#[command(
    name = "peerlink",
    version,
    about = "Cross-account VPC peering: plan, apply, approve, doctor, check-config, report, verify"
)]
pub struct Cli {
    /// Configuration file. Default: PEERLINK_CONFIG_FILE, PEERLINK_CONFIG or
    /// PEERLINK_CONFIG_SSM_PARAMETER, as for the functions.
    #[arg(long, short, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
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
pub enum VerifyProtocol {
    Tcp,
    Udp,
    Icmp,
}

impl From<VerifyProtocol> for Protocol {
    fn from(p: VerifyProtocol) -> Protocol {
        match p {
            VerifyProtocol::Tcp => Protocol::Tcp,
            VerifyProtocol::Udp => Protocol::Udp,
            VerifyProtocol::Icmp => Protocol::Icmp,
        }
    }
}
