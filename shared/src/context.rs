//! Everything one invocation needs: who we are, the configuration, the AWS
//! calls, the settings from the environment, and its time budget.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;

use crate::aws::{ApiCalls, Aws, Clients};
use crate::config::{Config, ConfigSource};
use crate::error::{AwsError, Result};
use crate::ids::AccountId;
use crate::model::Identity;
use crate::settings::Settings;

#[derive(Clone)]
pub struct Context {
    pub me: Identity,
    pub config: Arc<Config>,
    pub aws: Arc<dyn Aws>,
    pub settings: Settings,
    pub clock: Clock,
}

/// The time decisions are made at: the system's, or a fixed one in tests
/// (a retry interval is tested by setting the clock, not by sleeping).
#[derive(Debug, Clone, Copy, Default)]
pub struct Clock(Option<SystemTime>);

impl Clock {
    pub fn fixed(at: SystemTime) -> Clock {
        Clock(Some(at))
    }

    pub fn now(&self) -> SystemTime {
        self.0.unwrap_or_else(SystemTime::now)
    }

    /// Seconds since the Unix epoch.
    pub fn unix(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }
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
    pub fn new(aws: Arc<dyn Aws>, me: Identity, config: impl Into<Arc<Config>>, settings: Settings) -> Context {
        Context {
            me,
            config: config.into(),
            aws,
            settings,
            clock: Clock::default(),
        }
    }

    /// A context for the SDK configuration `sdk`: the account from STS, the
    /// region from `sdk`.
    pub async fn connect(sdk: &SdkConfig, config: Config, settings: Settings) -> Result<Context> {
        let aws: Arc<dyn Aws> = Arc::new(Clients::new(sdk, &settings.ec2_buckets));
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
/// `region`, when known, is where the document is used (see [`Config::check_in`]).
pub async fn load_config(source: &ConfigSource, aws: &dyn Aws, region: Option<&str>) -> Result<Config> {
    let (text, _) = read_config_text(source, aws).await?;
    Ok(Config::parse_in(&text, &source.to_string(), region)?)
}

/// The configuration's text and, for an SSM parameter, its version.
async fn read_config_text(source: &ConfigSource, aws: &dyn Aws) -> Result<(String, Option<i64>)> {
    let ConfigSource::SsmParameter(name) = source else {
        return Ok((source.read_local_text()?, None));
    };
    let parameter = aws
        .get_parameter(name)
        .await
        .map_err(|e| source.error(format!("cannot read it: {e}")))?;
    Ok((parameter.value, Some(parameter.version)))
}

/// The configuration of a process that lives for many invocations (a warm
/// Lambda execution environment is reused for hours). The configuration is
/// the allowlist, so a change must govern the very next decision: each
/// invocation asks for it again (one `GetParameter`, or one file read) and
/// parses it again only when its text changed. The text, not the
/// parameter's version: a parameter deleted and created again (an
/// infrastructure-as-code replacement) starts over at version 1. A document
/// that has become invalid fails that invocation; the last valid one is
/// never used in its place.
pub struct ConfigCache {
    source: ConfigSource,
    /// The region the document is used in, when known.
    region: Option<String>,
    last: Mutex<Option<(String, Arc<Config>)>>,
}

impl ConfigCache {
    pub fn new(source: ConfigSource) -> ConfigCache {
        ConfigCache {
            source,
            region: None,
            last: Mutex::new(None),
        }
    }

    /// The same, for a document used in `region` (see [`Config::check_in`]).
    pub fn in_region(self, region: Option<String>) -> ConfigCache {
        ConfigCache { region, ..self }
    }

    /// The configuration as it is now.
    pub async fn current(&self, aws: &dyn Aws) -> Result<Arc<Config>> {
        let origin = self.source.to_string();
        let (text, version) = read_config_text(&self.source, aws).await?;
        if let Some((seen, config)) = self.last.lock().expect("config cache").as_ref() {
            if *seen == text {
                return Ok(config.clone());
            }
        }
        let config = Arc::new(Config::parse_in(&text, &origin, self.region.as_deref())?);
        let shown = version.map(|n| format!("version {n}")).unwrap_or_default();
        tracing::info!(source = %origin, version = %shown, entries = config.peers.len(), "configuration loaded");
        *self.last.lock().expect("config cache") = Some((text, config.clone()));
        Ok(config)
    }
}

/// The account of a Lambda function, from its ARN
/// (`arn:aws:lambda:REGION:ACCOUNT:function:NAME`): no STS call needed.
pub fn account_of_function_arn(arn: &str) -> Option<String> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", _, account, "function", ..] => account.parse::<AccountId>().ok().map(String::from),
        _ => None,
    }
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
        !self.admits(Instant::now())
    }

    /// Whether work that can only start at `at` (a write the client paces
    /// behind others: [`crate::aws::Aws::ready_at`]) starts in time. A
    /// write whose turn comes after the stop is left for the next run.
    pub fn admits(&self, at: Instant) -> bool {
        self.stop_at.is_none_or(|t| at < t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_comes_from_the_function_arn() {
        let arn = "arn:aws:lambda:eu-west-1:222222222222:function:peerlink-accepter";
        assert_eq!(account_of_function_arn(arn).as_deref(), Some("222222222222"));
        for bad in [
            "",
            "arn:aws:lambda:eu-west-1:2222:function:x",
            "arn:aws:sqs:eu-west-1:222222222222:q",
        ] {
            assert_eq!(account_of_function_arn(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn a_changed_parameter_is_parsed_once_and_an_invalid_one_is_never_replaced_by_the_last() {
        use crate::aws::Parameter;
        use crate::aws::memory::{Memory, World};
        use crate::fixtures::{Entry, LOCAL_VPC, PEER, document};
        let set = |m: &Memory, version: i64, value: String| {
            m.world()
                .parameters
                .insert("/peerlink".into(), Parameter { value, version });
        };
        let memory = Memory::new(World::default());
        let cache = ConfigCache::new(ConfigSource::SsmParameter("/peerlink".into()));
        let entry = |auto: bool| Entry::new("orders", PEER, LOCAL_VPC, &["10.0.0.0/8"]).auto_accept(auto);
        set(&memory, 1, document("", &[entry(true)]));
        let first = cache.current(&memory).await.unwrap();
        assert!(first.peers[0].auto_accept);
        let again = cache.current(&memory).await.unwrap();
        assert!(Arc::ptr_eq(&first, &again), "same version: not parsed again");
        set(&memory, 2, document("", &[entry(false)]));
        assert!(!cache.current(&memory).await.unwrap().peers[0].auto_accept);
        set(&memory, 3, "[[peer]]\nname = 1\n".into());
        assert!(cache.current(&memory).await.is_err());
        assert!(
            cache.current(&memory).await.is_err(),
            "still invalid: never the last valid one"
        );
        // Deleted and created again: version 2 anew, another document.
        set(&memory, 2, document("", &[entry(true)]));
        assert!(cache.current(&memory).await.unwrap().peers[0].auto_accept);
        set(&memory, 2, document("", &[entry(false)]));
        assert!(
            !cache.current(&memory).await.unwrap().peers[0].auto_accept,
            "the same version number with another text is another document"
        );
        assert_eq!(
            memory.calls().summary().calls("GetParameter"),
            7,
            "one read per invocation"
        );
    }

    #[test]
    fn the_margin_fits_the_budget() {
        assert!(!Deadline::within(Duration::from_secs(3)).expired());
        assert!(!Deadline::within(Duration::from_secs(60)).expired());
        assert!(Deadline::within(Duration::ZERO).expired());
        assert!(!Deadline::none().expired());
    }

    #[test]
    fn a_write_whose_turn_comes_after_the_stop_is_not_admitted() {
        let deadline = Deadline::within(Duration::from_secs(60));
        let now = Instant::now();
        assert!(deadline.admits(now + Duration::from_secs(50)));
        assert!(
            !deadline.admits(now + Duration::from_secs(56)),
            "past 60 s less the 5 s margin"
        );
        assert!(Deadline::none().admits(now + Duration::from_secs(86_400)));
    }
}
