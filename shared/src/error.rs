//! The library's error type. Every variant says what was wrong in words a
//! network engineer can act on.

use crate::config::ConfigError;
use crate::events::EventError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("{what} {id} was not found in account {account}, region {region}")]
    NotFound {
        what: &'static str,
        id: String,
        account: String,
        region: String,
    },
    #[error(transparent)]
    Aws(#[from] AwsError),
}

/// A failed AWS call, reduced to what matters: the operation, the error code
/// AWS returned (when it got that far) and its message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{operation} failed: {}{message}", code.as_deref().map(|c| format!("{c}: ")).unwrap_or_default())]
pub struct AwsError {
    pub operation: &'static str,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn code_is(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
