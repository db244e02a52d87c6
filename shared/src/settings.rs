//! Every `PEERLINK_*` environment variable, read and validated in one place.
//! A value that does not parse is an error naming the variable, never a
//! silent default: a typo in a deployment must not change behaviour unseen.
//!
//! [`VARS`] is the table the README's "Environment" section is checked
//! against (a test reads the README), so the two cannot drift apart.

use std::path::PathBuf;
use std::time::Duration;

use crate::aws::{Buckets, Resilience};
use crate::config::{ConfigError, ConfigSource, DriftMode};

pub const ENV_INLINE: &str = "PEERLINK_CONFIG";
pub const ENV_FILE: &str = "PEERLINK_CONFIG_FILE";
pub const ENV_SSM: &str = "PEERLINK_CONFIG_SSM_PARAMETER";
pub const ENV_EVENT_BUS: &str = "PEERLINK_EVENT_BUS";
pub const ENV_DRIFT_MODE: &str = "PEERLINK_DRIFT_MODE";
pub const ENV_LOG: &str = "PEERLINK_LOG";
pub const ENV_MAX_ATTEMPTS: &str = "PEERLINK_MAX_ATTEMPTS";
pub const ENV_ATTEMPT_TIMEOUT_MS: &str = "PEERLINK_ATTEMPT_TIMEOUT_MS";
pub const ENV_INITIAL_BACKOFF_MS: &str = "PEERLINK_INITIAL_BACKOFF_MS";
pub const ENV_POLICY_SETTLE_MS: &str = "PEERLINK_POLICY_SETTLE_MS";
pub const ENV_ROLE: &str = "PEERLINK_ROLE";
pub const ENV_EC2_BUCKETS: &str = "PEERLINK_EC2_BUCKETS";

/// Every variable peerlink reads, for the documentation check.
pub const VARS: &[&str] = &[
    ENV_FILE,
    ENV_INLINE,
    ENV_SSM,
    ENV_EVENT_BUS,
    ENV_DRIFT_MODE,
    ENV_LOG,
    ENV_MAX_ATTEMPTS,
    ENV_ATTEMPT_TIMEOUT_MS,
    ENV_INITIAL_BACKOFF_MS,
    ENV_POLICY_SETTLE_MS,
    ENV_ROLE,
    ENV_EC2_BUCKETS,
];

/// `PEERLINK_LOG` alone, read before anything else so that a start-up that
/// fails on the other variables is still logged.
pub fn log_filter() -> Option<String> {
    std::env::var(ENV_LOG).ok().filter(|v| !v.trim().is_empty())
}

/// What the deployment may do with requests to its VPCs (`PEERLINK_ROLE`,
/// set by the stack). A requester-only stack may not accept or reject: it
/// leaves every request to its VPCs alone (no write, one log line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    #[default]
    Accepter,
    Requester,
}

/// The process's settings from its environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the configuration document is; `None` when no variable names it
    /// (the CLI may still get it from `--config`).
    pub config_source: Option<ConfigSource>,
    /// Bus the accepter announces its decisions on. Unset: no announcement.
    pub event_bus: Option<String>,
    /// Overrides `settings.drift_mode` of the document.
    pub drift_mode: Option<DriftMode>,
    pub resilience: Resilience,
    /// How long a secret or key policy we wrote must keep our statements
    /// before the merge counts as done: longer than another writer's
    /// read-to-write window (policies have no conditional write).
    pub policy_settle: Duration,
    pub role: Role,
    /// EC2's request-rate buckets the client paces its calls to: the
    /// documented figures, or an account's raised ones.
    pub ec2_buckets: Buckets,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            config_source: None,
            event_bus: None,
            drift_mode: None,
            resilience: Resilience::default(),
            policy_settle: Duration::from_secs(1),
            role: Role::Accepter,
            ec2_buckets: Buckets::default(),
        }
    }
}

fn invalid(name: &str, value: &str, expected: &str) -> ConfigError {
    ConfigError {
        origin: format!("environment variable {name}"),
        message: format!("{value:?} is not valid: expected {expected}"),
    }
}

impl Settings {
    /// Reads the process environment.
    pub fn from_env() -> Result<Settings, ConfigError> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads through `get`, so tests need not touch the process environment.
    /// Empty values count as unset.
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let var = |name: &str| get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let number = |name: &str, range: std::ops::RangeInclusive<u64>| -> Result<Option<u64>, ConfigError> {
            let Some(text) = var(name) else { return Ok(None) };
            match text.parse::<u64>() {
                Ok(n) if range.contains(&n) => Ok(Some(n)),
                _ => Err(invalid(
                    name,
                    &text,
                    &format!("a whole number from {} to {}", range.start(), range.end()),
                )),
            }
        };
        let mut s = Settings::default();

        let sources: Vec<ConfigSource> = [
            var(ENV_INLINE).map(ConfigSource::Inline),
            var(ENV_FILE).map(|p| ConfigSource::File(PathBuf::from(p))),
            var(ENV_SSM).map(ConfigSource::SsmParameter),
        ]
        .into_iter()
        .flatten()
        .collect();
        if sources.len() > 1 {
            return Err(ConfigError {
                origin: "the environment".into(),
                message: format!("more than one of {ENV_INLINE}, {ENV_FILE}, {ENV_SSM} is set; set exactly one"),
            });
        }
        s.config_source = sources.into_iter().next();

        s.event_bus = var(ENV_EVENT_BUS);
        s.drift_mode = match var(ENV_DRIFT_MODE).as_deref() {
            None => None,
            Some("report") => Some(DriftMode::Report),
            Some("remediate") => Some(DriftMode::Remediate),
            Some(other) => return Err(invalid(ENV_DRIFT_MODE, other, "\"report\" or \"remediate\"")),
        };
        s.role = match var(ENV_ROLE).as_deref() {
            None | Some("accepter") => Role::Accepter,
            Some("requester") => Role::Requester,
            Some(other) => return Err(invalid(ENV_ROLE, other, "\"accepter\" or \"requester\"")),
        };
        if let Some(n) = number(ENV_MAX_ATTEMPTS, 1..=20)? {
            s.resilience.max_attempts = n as u32;
        }
        if let Some(ms) = number(ENV_ATTEMPT_TIMEOUT_MS, 50..=600_000)? {
            s.resilience.attempt_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = number(ENV_INITIAL_BACKOFF_MS, 0..=60_000)? {
            s.resilience.initial_backoff = Duration::from_millis(ms);
        }
        if let Some(ms) = number(ENV_POLICY_SETTLE_MS, 0..=60_000)? {
            s.policy_settle = Duration::from_millis(ms);
        }
        if let Some(text) = var(ENV_EC2_BUCKETS) {
            s.ec2_buckets = Buckets::default().with_overrides(&text).map_err(|e| {
                invalid(
                    ENV_EC2_BUCKETS,
                    &text,
                    &format!("comma-separated NAME=SIZE/REFILL pairs ({e})"),
                )
            })?;
        }
        Ok(s)
    }

    /// The configuration source, or an error saying which variables name one.
    pub fn require_config_source(&self) -> Result<&ConfigSource, ConfigError> {
        self.config_source.as_ref().ok_or_else(|| ConfigError {
            origin: "the environment".into(),
            message: format!("none of {ENV_INLINE}, {ENV_FILE} or {ENV_SSM} is set"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_vars(|name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn the_config_source_needs_exactly_one_variable() {
        let none = with(&[]).unwrap();
        assert!(none.config_source.is_none());
        assert!(none.require_config_source().unwrap_err().message.contains(ENV_FILE));
        let two = with(&[(ENV_INLINE, "x"), (ENV_FILE, "y")]).unwrap_err();
        assert!(two.message.contains("exactly one"));
        let one = with(&[(ENV_FILE, "/tmp/x.toml")]).unwrap();
        assert_eq!(one.config_source, Some(ConfigSource::File("/tmp/x.toml".into())));
        // Blank counts as unset.
        assert!(with(&[(ENV_SSM, "  ")]).unwrap().config_source.is_none());
    }

    #[test]
    fn bad_values_name_the_variable() {
        for (name, value) in [
            (ENV_DRIFT_MODE, "fix"),
            (ENV_MAX_ATTEMPTS, "0"),
            (ENV_MAX_ATTEMPTS, "many"),
            (ENV_ATTEMPT_TIMEOUT_MS, "-1"),
            (ENV_POLICY_SETTLE_MS, "1s"),
            (ENV_ROLE, "both"),
            (ENV_EC2_BUCKETS, "CreateRoute=fast"),
        ] {
            let err = with(&[(name, value)]).unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
            assert!(err.to_string().contains(value), "{err}");
        }
    }

    #[test]
    fn values_are_parsed() {
        let s = with(&[
            (ENV_DRIFT_MODE, "remediate"),
            (ENV_MAX_ATTEMPTS, "3"),
            (ENV_ATTEMPT_TIMEOUT_MS, "2000"),
            (ENV_INITIAL_BACKOFF_MS, "10"),
            (ENV_POLICY_SETTLE_MS, "0"),
            (ENV_EVENT_BUS, "default"),
            (ENV_ROLE, "requester"),
            (ENV_EC2_BUCKETS, "CreateRoute=200/20"),
        ])
        .unwrap();
        assert_eq!(s.role, Role::Requester);
        assert_eq!(with(&[]).unwrap().role, Role::Accepter);
        assert_eq!(s.ec2_buckets.limit("CreateRoute").unwrap().refill, 20.0);
        assert_eq!(s.ec2_buckets.limit("DeleteRoute").unwrap().refill, 5.0);
        assert_eq!(s.drift_mode, Some(DriftMode::Remediate));
        assert_eq!(s.resilience.max_attempts, 3);
        assert_eq!(s.resilience.attempt_timeout, Duration::from_secs(2));
        assert_eq!(s.resilience.initial_backoff, Duration::from_millis(10));
        assert_eq!(s.policy_settle, Duration::ZERO);
        assert_eq!(s.event_bus.as_deref(), Some("default"));
    }

    #[test]
    fn the_readme_documents_every_variable() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### Environment")
            .nth(1)
            .and_then(|s| s.split("\n## ").next())
            .expect("README has an Environment section");
        let mut documented: Vec<&str> = section
            .split('`')
            .filter(|w| {
                w.starts_with("PEERLINK_")
                    && w.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
            })
            .collect();
        documented.sort();
        documented.dedup();
        let mut vars = VARS.to_vec();
        vars.sort();
        assert_eq!(documented, vars, "README's Environment table and settings::VARS differ");
    }
}
