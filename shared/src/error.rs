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

/// Codes the services answer when the caller's IAM policies do not allow a
/// call (EC2's `UnauthorizedOperation`, the JSON services'
/// `AccessDeniedException`).
const DENIED: [&str; 3] = ["UnauthorizedOperation", "AccessDeniedException", "AccessDenied"];

impl AwsError {
    pub fn code_is(&self, codes: &[&str]) -> bool {
        self.code.as_deref().is_some_and(|c| codes.contains(&c))
    }

    /// The role may not make this call on this resource (a stack deployed
    /// for another configuration, an ARN of another account): a finding on
    /// that resource, not a failed pass.
    pub fn is_denied(&self) -> bool {
        self.code_is(&DENIED)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
