//! What the three Lambda functions share: start-up (logs, configuration,
//! clients), payload parsing, the time budget, the continuation of a pass
//! that ran out of time, and turning a report with failures into a failed
//! invocation (so Lambda's retry and on-failure destination see it). Each
//! function's `main` is one call to [`serve`].

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::{Diagnostic, Error as LambdaError, LambdaEvent, service_fn};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::aws::{Aws, Clients, load_sdk_config};
use crate::config::ConfigError;
use crate::context::{ConfigCache, Context, Deadline, account_of_function_arn};
use crate::continuation;
use crate::error::{Error, Result};
use crate::events::{self, Event, Function};
use crate::metrics::InvocationReport;
use crate::model::Identity;
use crate::settings::Settings;

/// An error as Lambda reports it, with a type that says which kind it is.
fn diagnostic(e: &Error) -> Diagnostic {
    let error_type = match e {
        Error::Config(_) => "InvalidConfig",
        Error::Event(_) => "InvalidEvent",
        Error::NotFound { .. } => "NotFound",
        Error::Aws(_) => "AwsError",
    };
    Diagnostic {
        error_type: error_type.into(),
        error_message: e.to_string(),
    }
}

/// What a process keeps between invocations: settings, clients, the
/// configuration cache. Never the configuration itself: that is asked for
/// again on every invocation.
struct Process {
    settings: Settings,
    aws: Arc<dyn Aws>,
    region: Option<String>,
    config: ConfigCache,
    account: OnceCell<String>,
}

impl Process {
    async fn start() -> Result<Process> {
        let settings = Settings::from_env()?;
        let sdk = load_sdk_config(&settings.resilience).await;
        let region = sdk.region().map(|r| r.to_string());
        let config = ConfigCache::new(settings.require_config_source()?.clone()).in_region(region.clone());
        Ok(Process {
            aws: Arc::new(Clients::new(&sdk, &settings.ec2_buckets)),
            region,
            settings,
            config,
            account: OnceCell::new(),
        })
    }

    /// This invocation's context: who we are (from the function's ARN; STS
    /// only where it is absent) and the configuration as it is now.
    async fn context(&self, function_arn: &str) -> Result<Context> {
        let account = self
            .account
            .get_or_try_init(|| async {
                match account_of_function_arn(function_arn) {
                    Some(a) => Ok(a),
                    None => self.aws.caller_account().await,
                }
            })
            .await?
            .clone();
        let region = self.region.clone().ok_or_else(|| ConfigError {
            origin: "the environment".into(),
            message: "no AWS region is configured (set AWS_REGION)".into(),
        })?;
        // The call counters describe one invocation: a warm process would
        // otherwise keep every call's span for as long as it lives.
        self.aws.calls().reset();
        let config = self.config.current(self.aws.as_ref()).await?;
        Ok(Context::new(
            self.aws.clone(),
            Identity { account, region },
            config,
            self.settings.clone(),
        ))
    }
}

/// Runs `handler` for every invocation until Lambda shuts the process down.
///
/// Settings and clients are made on the first invocation and kept; the
/// configuration is asked for on every invocation (see [`ConfigCache`]). If
/// something cannot be made — a broken configuration, an invalid setting —
/// that invocation fails with the reason and nothing is decided; the next
/// invocation tries again. (Failing the whole process instead would hide the
/// reason behind a generic init crash loop.)
pub async fn serve<F, Fut, R>(function: &'static str, handler: F) -> std::result::Result<(), LambdaError>
where
    F: Fn(Arc<Context>, Event, Deadline) -> Fut,
    Fut: Future<Output = Result<R>>,
    R: InvocationReport,
{
    crate::logging::init(crate::settings::log_filter().as_deref());
    tracing::info!(function, pid = std::process::id(), "function starting");
    let process: OnceCell<Process> = OnceCell::new();
    let (handler, process) = (&handler, &process);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        async move {
            let started = async {
                let p = process.get_or_try_init(Process::start).await?;
                p.context(&event.context.invoked_function_arn).await
            };
            let ctx = Arc::new(started.await.map_err(|e| {
                tracing::error!(function, error = %e, "cannot start: nothing is decided");
                diagnostic(&e)
            })?);
            // A deadline already past at the start is not a real budget (local
            // emulators send one): run without a limit rather than do nothing.
            let deadline = match event.context.deadline().duration_since(SystemTime::now()) {
                Ok(remaining) if !remaining.is_zero() => Deadline::within(remaining),
                _ => {
                    tracing::warn!(function, "the invocation's deadline is already past; running without a time budget");
                    Deadline::none()
                }
            };
            let parsed = events::parse(&event.payload).map_err(|e| {
                tracing::error!(function, error = %e, "rejected the invocation");
                diagnostic(&Error::Event(e))
            })?;
            let report = handler(ctx.clone(), parsed.clone(), deadline).await.map_err(|e| {
                tracing::error!(function, error = %e, event = %parsed.label(), "failed");
                diagnostic(&e)
            })?;
            let continuation = match Function::from_name(function) {
                Some(f) => Some(continuation::after(&ctx, f, &parsed, report.progress()).await),
                None => None,
            };
            let mut metrics = report.metrics();
            metrics.extend(continuation.iter().flat_map(|c| c.metrics()));
            crate::metrics::emit(function, &ctx.me.account, &metrics);
            let mut summary = serde_json::to_value(&report).map_err(|e| Diagnostic {
                error_type: "ReportNotSerializable".into(),
                error_message: format!("the report could not be written as JSON: {e}"),
            })?;
            if let (Some(c), Some(obj)) = (&continuation, summary.as_object_mut()) {
                obj.insert("continuation".into(), serde_json::json!(c));
            }
            let mut failures = report.failures();
            failures.extend(continuation.and_then(|c| c.failure()));
            if !failures.is_empty() {
                tracing::error!(function, failed = ?failures, report = %summary, "some work could not be done; the next run retries it");
                return Err(Diagnostic {
                    error_type: "IncompleteWork".into(),
                    error_message: format!("{} item(s) could not be done: {}", failures.len(), failures.join("; ")),
                });
            }
            Ok::<Value, Diagnostic>(summary)
        }
    }))
    .await
}
