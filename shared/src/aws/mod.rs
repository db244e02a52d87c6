//! The narrow client layer: every AWS call the product makes lives under this
//! module and returns the types of [`crate::model`]. Nothing else in the crate
//! talks to AWS.

pub mod ec2;
pub mod secrets;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use serde::Serialize;

use crate::config::{Config, ConfigError, ConfigSource};
use crate::error::{AwsError, Result};
use crate::model::Identity;

/// Calls and attempts per operation, as seen by the SDK. An attempt is one
/// HTTP request: retries after throttling show up as attempts > calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CallCount {
    pub calls: u64,
    pub attempts: u64,
}

/// Counts every AWS operation made through [`Clients`]; the benchmarks and the
/// "zero writes" assertions read it.
#[derive(Debug, Clone, Default)]
pub struct ApiCalls(Arc<Mutex<BTreeMap<String, CallCount>>>);

/// Summary of the counters, split into reads and writes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CallSummary {
    pub reads: u64,
    pub writes: u64,
    pub attempts: u64,
    pub by_operation: BTreeMap<String, CallCount>,
}

impl CallSummary {
    pub fn calls(&self, operation: &str) -> u64 {
        self.by_operation.get(operation).map_or(0, |c| c.calls)
    }
}

/// Whether an operation only reads. Everything else counts as a write.
pub fn is_read(operation: &str) -> bool {
    ["Describe", "Get", "List"].iter().any(|p| operation.starts_with(p))
}

impl ApiCalls {
    fn bump(&self, operation: &str, call: bool) {
        let mut map = self.0.lock().expect("counter lock");
        let entry = map.entry(operation.to_string()).or_default();
        if call {
            entry.calls += 1;
        } else {
            entry.attempts += 1;
        }
    }

    pub fn summary(&self) -> CallSummary {
        let map = self.0.lock().expect("counter lock").clone();
        let mut s = CallSummary::default();
        for (op, c) in &map {
            if is_read(op) {
                s.reads += c.calls;
            } else {
                s.writes += c.calls;
            }
            s.attempts += c.attempts;
        }
        s.by_operation = map;
        s
    }

    pub fn reset(&self) {
        self.0.lock().expect("counter lock").clear();
    }
}

impl Intercept for ApiCalls {
    fn name(&self) -> &'static str {
        "peerlink-api-calls"
    }

    // The operation's metadata is only in the bag once the execution is under
    // way; counting at its end sees every call exactly once, failed or not.
    fn read_after_execution(
        &self,
        _context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.bump(m.name(), true);
        }
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.bump(m.name(), false);
        }
        Ok(())
    }
}

/// Retry and timeout settings. The SDK retries throttling (`RequestLimitExceeded`,
/// `ThrottlingException`), 5xx and timeouts with exponential backoff and jitter.
#[derive(Debug, Clone, Copy)]
pub struct Resilience {
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub attempt_timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience {
            max_attempts: 8,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(3),
        }
    }
}

impl Resilience {
    /// Defaults, overridden by `PEERLINK_MAX_ATTEMPTS`, `PEERLINK_ATTEMPT_TIMEOUT_MS`
    /// and `PEERLINK_INITIAL_BACKOFF_MS` when set.
    pub fn from_env() -> Self {
        let num = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u64>().ok());
        let mut r = Resilience::default();
        if let Some(n) = num("PEERLINK_MAX_ATTEMPTS") {
            r.max_attempts = n.clamp(1, 20) as u32;
        }
        if let Some(ms) = num("PEERLINK_ATTEMPT_TIMEOUT_MS") {
            r.attempt_timeout = Duration::from_millis(ms.max(50));
        }
        if let Some(ms) = num("PEERLINK_INITIAL_BACKOFF_MS") {
            r.initial_backoff = Duration::from_millis(ms);
        }
        r
    }

    pub fn retry_config(&self) -> RetryConfig {
        RetryConfig::standard()
            .with_max_attempts(self.max_attempts)
            .with_initial_backoff(self.initial_backoff)
            .with_max_backoff(self.max_backoff)
    }

    pub fn timeout_config(&self) -> TimeoutConfig {
        TimeoutConfig::builder()
            .operation_attempt_timeout(self.attempt_timeout)
            .connect_timeout(self.connect_timeout)
            .build()
    }
}

/// Loads the SDK configuration the standard way (credential chain, region,
/// `AWS_ENDPOINT_URL`) with our retry and timeout settings.
pub async fn load_sdk_config() -> SdkConfig {
    let r = Resilience::from_env();
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(r.retry_config())
        .timeout_config(r.timeout_config())
        .load()
        .await
}

/// One client per service, all counting their calls into the same counter.
#[derive(Debug, Clone)]
pub struct Clients {
    pub ec2: aws_sdk_ec2::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
    pub events: aws_sdk_eventbridge::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub sts: aws_sdk_sts::Client,
    pub calls: ApiCalls,
}

impl Clients {
    pub fn new(sdk: &SdkConfig) -> Self {
        let calls = ApiCalls::default();
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(sdk)
                        .interceptor(calls.clone())
                        .build(),
                )
            };
        }
        Clients {
            ec2: client!(aws_sdk_ec2),
            secrets: client!(aws_sdk_secretsmanager),
            kms: client!(aws_sdk_kms),
            events: client!(aws_sdk_eventbridge),
            ssm: client!(aws_sdk_ssm),
            sts: client!(aws_sdk_sts),
            calls,
        }
    }

    /// Who we are: the account from STS, the region from the SDK configuration.
    pub async fn identity(&self, sdk: &SdkConfig) -> Result<Identity> {
        let out = self
            .sts
            .get_caller_identity()
            .send()
            .await
            .map_err(|e| aws_error("GetCallerIdentity", e))?;
        let region = sdk.region().map(|r| r.to_string()).ok_or_else(|| AwsError {
            operation: "GetCallerIdentity",
            code: None,
            message: "no AWS region is configured (set AWS_REGION)".into(),
        })?;
        Ok(Identity {
            account: out.account().unwrap_or_default().to_string(),
            region,
        })
    }

    /// Loads the configuration from wherever the environment points, reading
    /// SSM when asked to (with decryption, so a SecureString works too).
    pub async fn load_config(&self, source: &ConfigSource) -> Result<Config> {
        let ConfigSource::SsmParameter(name) = source else {
            return Ok(source.read_local()?);
        };
        let out = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| ConfigError {
                origin: source.to_string(),
                message: format!("cannot read it: {}", aws_error("GetParameter", e)),
            })?;
        let text = out.parameter().and_then(|p| p.value()).unwrap_or_default();
        Ok(Config::parse(text, &source.to_string())?)
    }

    /// Publishes a "VPC Peering Accepted" event on the given bus so the finisher
    /// runs right away instead of at its next schedule.
    pub async fn publish_accepted(&self, bus: &str, peering_id: &str) -> Result<()> {
        let entry = aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
            .event_bus_name(bus)
            .source(crate::events::PEERLINK_SOURCE)
            .detail_type(crate::events::ACCEPTED_DETAIL_TYPE)
            .detail(serde_json::json!({ "peeringId": peering_id }).to_string())
            .build();
        let out = self
            .events
            .put_events()
            .entries(entry)
            .send()
            .await
            .map_err(|e| aws_error("PutEvents", e))?;
        if out.failed_entry_count() > 0 {
            let first = out
                .entries()
                .iter()
                .find_map(|e| e.error_message())
                .unwrap_or("unknown");
            return Err(AwsError {
                operation: "PutEvents",
                code: None,
                message: format!("the event was not accepted by bus {bus}: {first}"),
            }
            .into());
        }
        Ok(())
    }
}

/// Reduces an SDK error to code and message. The code is what idempotency
/// decisions are made on (`RouteAlreadyExists`, `InvalidPermission.Duplicate`…).
pub fn aws_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let code = err.code().map(str::to_string);
    let message = match err.message() {
        Some(m) => m.to_string(),
        None => DisplayErrorContext(&err).to_string(),
    };
    AwsError {
        operation,
        code,
        message,
    }
}

/// Chunks of at most this many values per EC2 filter (the API's limit).
pub const FILTER_VALUES_MAX: usize = 200;
