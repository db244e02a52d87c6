//! Everything one invocation needs: who we are, the configuration, the AWS
//! calls, the settings from the environment, and its time budget.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use crate::aws::{ApiCalls, Aws, Clients, load_sdk_config};
use crate::config::{Config, ConfigError, ConfigSource};
use crate::error::{AwsError, Result};
use crate::model::Identity;
use crate::settings::Settings;

#[derive(Clone)]
pub struct Context {
    pub me: Identity,
    pub config: Arc<Config>,
    pub aws: Arc<dyn Aws>,
    pub settings: Settings,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("me", &self.me)
            .field("config", &self.config)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Context {
    pub fn new(aws: Arc<dyn Aws>, me: Identity, config: Config, settings: Settings) -> Context {
        Context {
            me,
            config: Arc::new(config),
            aws,
            settings,
        }
    }

    /// Builds the context from the environment: settings, credentials, region,
    /// endpoint and configuration. Fails (and nothing is decided) when the
    /// configuration is missing or invalid.
    pub async fn from_env() -> Result<Context> {
        let settings = Settings::from_env()?;
        let sdk = load_sdk_config(&settings.resilience).await;
        let clients = Clients::new(&sdk);
        let config = load_config(settings.require_config_source()?, &clients).await?;
        Self::connect(&sdk, config, settings).await
    }

    /// A context for the SDK configuration `sdk`: the account from STS, the
    /// region from `sdk`.
    pub async fn connect(sdk: &SdkConfig, config: Config, settings: Settings) -> Result<Context> {
        let aws: Arc<dyn Aws> = Arc::new(Clients::new(sdk));
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| AwsError {
            operation: "GetCallerIdentity",
            code: None,
            message: "no AWS region is configured (set AWS_REGION)".into(),
        })?;
        let account = aws.caller_account().await?;
        Ok(Context::new(aws, Identity { account, region }, config, settings))
    }

    /// The counter of every AWS call this context made.
    pub fn calls(&self) -> &ApiCalls {
        self.aws.calls()
    }
}

/// Reads and parses the configuration from `source`; an SSM parameter is
/// read with decryption (a SecureString works too).
pub async fn load_config(source: &ConfigSource, aws: &dyn Aws) -> Result<Config> {
    let ConfigSource::SsmParameter(name) = source else {
        return Ok(source.read_local()?);
    };
    let parameter = aws.get_parameter(name).await.map_err(|e| ConfigError {
        origin: source.to_string(),
        message: format!("cannot read it: {e}"),
    })?;
    Ok(Config::parse(&parameter.value, &source.to_string())?)
}

/// Whether a pass writes: `Plan` only reports what it would do (the CLI's
/// `plan`, drift in `report` mode), `Apply` does it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Plan,
    Apply,
}

/// When an invocation must stop starting new work, so it can report what is
/// left before Lambda's time limit cuts it off. The next run picks up the rest.
#[derive(Debug, Clone, Copy)]
pub struct Deadline {
    stop_at: Option<Instant>,
}

impl Deadline {
    /// Margin kept free before the hard limit for the report and logs (at
    /// most a fifth of the budget, so a short timeout still gets work done).
    pub const MARGIN: Duration = Duration::from_secs(5);

    pub fn none() -> Self {
        Deadline { stop_at: None }
    }

    /// `remaining` is the time Lambda grants; work stops a margin before it.
    pub fn within(remaining: Duration) -> Self {
        let margin = Self::MARGIN.min(remaining / 5);
        Deadline {
            stop_at: Some(Instant::now() + remaining.saturating_sub(margin)),
        }
    }

    pub fn expired(&self) -> bool {
        self.stop_at.is_some_and(|t| Instant::now() >= t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_margin_fits_the_budget() {
        assert!(!Deadline::within(Duration::from_secs(3)).expired());
        assert!(!Deadline::within(Duration::from_secs(60)).expired());
        assert!(Deadline::within(Duration::ZERO).expired());
        assert!(!Deadline::none().expired());
    }
}
