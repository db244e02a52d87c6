//! What the three Lambda functions share: start-up (logs, configuration,
//! clients), payload parsing, the time budget, and turning a report with
//! failures into a failed invocation (so Lambda's retry and on-failure
//! destination see it). Each function's `main` is one call to [`serve`].

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::{Diagnostic, Error as LambdaError, LambdaEvent, service_fn};
use serde_json::Value;
use tokio::sync::OnceCell;

use crate::context::{Context, Deadline};
use crate::error::{Error, Result};
use crate::events::{self, Event};
use crate::metrics::InvocationReport;

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

/// Runs `handler` for every invocation until Lambda shuts the process down.
///
/// The context (configuration, clients, identity) is built on the first
/// invocation and kept. If it cannot be built — a broken configuration, STS
/// unreachable — that invocation fails with the reason and nothing is decided;
/// the next invocation tries again. (Failing the whole process instead would
/// hide the reason behind a generic init crash loop.)
pub async fn serve<F, Fut, R>(function: &'static str, handler: F) -> std::result::Result<(), LambdaError>
where
    F: Fn(Arc<Context>, Event, Deadline) -> Fut,
    Fut: Future<Output = Result<R>>,
    R: InvocationReport,
{
    crate::logging::init(crate::settings::log_filter().as_deref());
    let context: OnceCell<Arc<Context>> = OnceCell::new();
    let (handler, context) = (&handler, &context);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        async move {
            let ctx = context
                .get_or_try_init(|| async { Context::from_env().await.map(Arc::new) })
                .await
                .map_err(|e| {
                    tracing::error!(function, error = %e, "cannot start: nothing is decided");
                    diagnostic(&e)
                })?
                .clone();
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
            let account = ctx.me.account.clone();
            let report = handler(ctx, parsed.clone(), deadline).await.map_err(|e| {
                tracing::error!(function, error = %e, event = %parsed.label(), "failed");
                diagnostic(&e)
            })?;
            crate::metrics::emit(function, &account, &report.metrics());
            let summary = serde_json::to_value(&report).map_err(|e| Diagnostic {
                error_type: "ReportNotSerializable".into(),
                error_message: format!("the report could not be written as JSON: {e}"),
            })?;
            let failures = report.failures();
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
