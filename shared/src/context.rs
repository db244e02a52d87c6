//! Everything one invocation needs: who we are, the configuration, the clients.

use std::time::{Duration, Instant};

use aws_config::SdkConfig;

use crate::aws::{Clients, load_sdk_config};
use crate::config::{Config, ConfigSource};
use crate::error::Result;
use crate::model::Identity;

/// Environment variable naming the EventBridge bus the accepter announces
/// accepted peerings on (so the finisher runs at once). Unset: no announcement.
pub const ENV_EVENT_BUS: &str = "PEERLINK_EVENT_BUS";

/// Environment variable: milliseconds a policy we wrote must stay as we wrote
/// it before the merge counts as done (default 1000).
pub const ENV_POLICY_SETTLE_MS: &str = "PEERLINK_POLICY_SETTLE_MS";

#[derive(Debug, Clone)]
pub struct Context {
    pub me: Identity,
    pub config: Config,
    pub clients: Clients,
    pub event_bus: Option<String>,
    /// How long a secret or key policy we wrote must keep our statements
    /// before the merge counts as done: longer than another writer's
    /// read-to-write window (policies have no conditional write).
    pub policy_settle: Duration,
}

impl Context {
    /// Builds the context from the environment: credentials, region, endpoint
    /// and configuration source. Fails (and nothing is decided) when the
    /// configuration is missing or invalid.
    pub async fn from_env() -> Result<Context> {
        let sdk = load_sdk_config().await;
        let clients = Clients::new(&sdk);
        let source = ConfigSource::from_env()?;
        let config = clients.load_config(&source).await?;
        Self::with(sdk, clients, config).await
    }

    /// Builds a context for a given SDK configuration and document.
    pub async fn with(sdk: SdkConfig, clients: Clients, config: Config) -> Result<Context> {
        let me = clients.identity(&sdk).await?;
        Ok(Context {
            me,
            config,
            clients,
            event_bus: std::env::var(ENV_EVENT_BUS).ok().filter(|v| !v.is_empty()),
            policy_settle: std::env::var(ENV_POLICY_SETTLE_MS)
                .ok()
                .and_then(|v| v.parse().ok())
                .map_or(Duration::from_secs(1), Duration::from_millis),
        })
    }
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
