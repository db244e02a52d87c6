//! Where the configuration document comes from (an inline variable, a file,
//! an SSM parameter) and the error that names that origin.

use std::fmt;
use std::path::PathBuf;

use super::Config;

/// A configuration that could not be loaded. `origin` says where it came from
/// (file path, environment variable, SSM parameter) so the message is actionable.
#[derive(Debug, thiserror::Error)]
#[error("configuration from {origin} is invalid: {message}")]
pub struct ConfigError {
    pub origin: String,
    pub message: String,
}

/// Where the configuration text comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    Inline(String),
    File(PathBuf),
    SsmParameter(String),
}

impl fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigSource::Inline(_) => write!(f, "${}", crate::settings::ENV_INLINE),
            ConfigSource::File(path) => write!(f, "file {}", path.display()),
            ConfigSource::SsmParameter(name) => write!(f, "SSM parameter {name}"),
        }
    }
}

impl ConfigSource {
    /// Reads a local source (inline or file). SSM parameters are read by the AWS layer.
    pub fn read_local(&self) -> Result<Config, ConfigError> {
        match self {
            ConfigSource::Inline(text) => Config::parse(text, &self.to_string()),
            ConfigSource::File(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
                    origin: self.to_string(),
                    message: format!("cannot read it: {e}"),
                })?;
                Config::parse(&text, &self.to_string())
            }
            ConfigSource::SsmParameter(_) => Err(ConfigError {
                origin: self.to_string(),
                message: "an SSM parameter needs AWS access; load it through peerlink::aws".into(),
            }),
        }
    }
}
