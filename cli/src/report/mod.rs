//! `peerlink report`: the organisation at a glance. Reads every account of an
//! accounts file (assuming a role in each), with the same reads as `plan`
//! and nothing written, and merges both ends of every peering into one row:
//! its state, what is missing on each side, the findings and their fixes.
//! Printed as tables, as JSON, or as a self-contained HTML page with a
//! picture of the topology.
//!
//! [`accounts`] parses the file, [`read`] reads the accounts (bounded,
//! in parallel), [`merge`] is the pure merge into the [`model`], and
//! [`text`] and [`html`] draw it.

pub mod accounts;
pub mod html;
pub mod merge;
pub mod model;
pub mod read;
pub mod text;

#[cfg(test)]
mod tests;

use std::io::IsTerminal as _;
use std::path::PathBuf;

use peerlink::aws::load_sdk_config;
use peerlink::settings::Settings;

use crate::{Error, Result};

pub use accounts::AccountsFile;
pub use model::{OrgReport, State};

/// What `peerlink report` was asked for.
#[derive(Debug, Clone)]
pub struct Options {
    pub accounts: PathBuf,
    pub html: Option<PathBuf>,
    pub json: bool,
}

/// Reads every account of `file` with the caller's credentials (the standard
/// chain, `AWS_ENDPOINT_URL`) and merges what they see.
pub async fn collect(file: &AccountsFile, progress: bool) -> Result<OrgReport> {
    let settings = Settings::from_env()?;
    let base = load_sdk_config(&settings.resilience).await;
    let reads = read::read_all(file, &base, progress).await;
    Ok(merge::merge(&file.path.display().to_string(), &reads))
}

/// Runs the command: prints the report (table or JSON), writes the page,
/// and returns the exit code (0 all finished, 2 something needs attention).
/// An error (a bad accounts file, a page that cannot be written) is exit 1.
pub async fn run(opts: &Options) -> Result<u8> {
    let file = AccountsFile::load(&opts.accounts)?;
    let report = collect(&file, std::io::stderr().is_terminal()).await?;
    if let Some(path) = &opts.html {
        std::fs::write(path, html::render(&report)).map_err(|source| Error::WritePage {
            path: path.clone(),
            source,
        })?;
    }
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", text::render(&report));
    }
    if let Some(path) = &opts.html {
        eprintln!("report: page written to {}", path.display());
    }
    Ok(report.summary.exit_code)
}
