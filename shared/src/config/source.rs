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
    /// Reads and parses a local source (inline or file).
    pub fn read_local(&self) -> Result<Config, ConfigError> {
        Config::parse(&self.read_local_text()?, &self.to_string())
    }

    /// The text of a local source. SSM parameters are read by the AWS layer.
    pub fn read_local_text(&self) -> Result<String, ConfigError> {
        match self {
            ConfigSource::Inline(text) => Ok(text.clone()),
            ConfigSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| self.error(format!("cannot read it: {e}")))
            }
            ConfigSource::SsmParameter(_) => {
                Err(self.error("an SSM parameter needs AWS access; load it through peerlink::aws".into()))
            }
        }
    }

    /// An error about this source.
    pub fn error(&self, message: String) -> ConfigError {
        ConfigError {
            origin: self.to_string(),
            message,
        }
    }
}
