//! The CLI's one error type. Every command returns it; `main` prints it as
//! `error: MESSAGE` and exits 1. The library's errors pass through with their
//! own messages; the CLI's own say which argument or file is wrong, and why.
//!
//! A `reason` is the detail a variant wraps with the file, flag or account
//! it is about. An account that cannot be read by `report` is not an error:
//! it is that account's row (`report::read::AccountRead::outcome`).

use std::path::PathBuf;

use peerlink::config::ConfigError;
use peerlink::error::AwsError;
use peerlink::ids::IdError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The library's: a configuration, a setting, an AWS call, a resource not found.
    #[error(transparent)]
    Peerlink(#[from] peerlink::Error),
    /// An id given as an argument (`plan --peering`, `approve PCX`).
    #[error(transparent)]
    Id(#[from] IdError),
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file named by an argument that cannot be read.
    #[error("{}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    /// `report --html`.
    #[error("cannot write the page to {}: {source}", path.display())]
    WritePage { path: PathBuf, source: std::io::Error },
    /// `doctor --stack-parameters`.
    #[error("{}: {reason}", path.display())]
    StackParameters { path: PathBuf, reason: String },
    /// The accounts file of `report` and `verify`.
    #[error("accounts file {}: {reason}", path.display())]
    AccountsFile { path: PathBuf, reason: String },
    /// An argument that cannot be used as given.
    #[error("{flag}: {reason}")]
    Argument { flag: &'static str, reason: String },
    /// `verify`: an account an end is searched in cannot be read.
    #[error("account {account} ({region}) cannot be read: {reason}")]
    Unreadable {
        account: String,
        region: String,
        reason: String,
    },
    /// `verify`: an end found nowhere, more than once, or without an address.
    #[error("{0}")]
    Endpoint(String),
}

impl From<ConfigError> for Error {
    fn from(e: ConfigError) -> Self {
        Error::Peerlink(e.into())
    }
}

impl From<AwsError> for Error {
    fn from(e: AwsError) -> Self {
        Error::Peerlink(e.into())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
