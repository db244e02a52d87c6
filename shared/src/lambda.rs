//! What the three Lambda functions share: start-up (logs, configuration,
//! clients), payload parsing, the time budget, and turning a report with
//! failures into a failed invocation (so Lambda's retry and on-failure
//! destination see it). Each function's `main` is one call to [`serve`].

use std::future::Future;
use std::sync::Arc;
use std::time::SystemTime;

use lambda_runtime::{Error as LambdaError, LambdaEvent, service_fn};
use serde::Serialize;
use serde_json::Value;

use crate::context::{Context, Deadline};
use crate::error::Result;
use crate::events::{self, Event};

/// A handler's report: what could not be carried out, if anything.
pub trait Outcome: Serialize {
    fn failures(&self) -> Vec<String>;
}

impl Outcome for crate::accepter::AccepterReport {
    fn failures(&self) -> Vec<String> {
        self.failed.clone()
    }
}

impl Outcome for crate::reconcile::Report {
    fn failures(&self) -> Vec<String> {
        self.failed()
            .iter()
            .map(|o| {
                format!(
                    "{} {} ({:?})",
                    o.planned.action.kind(),
                    o.planned.action.resource(),
                    o.result
                )
            })
            .collect()
    }
}

impl Outcome for crate::drift::DriftReport {
    fn failures(&self) -> Vec<String> {
        let mut f = self.requests.failures();
        f.extend(self.reconcile.failures());
        f
    }
}

/// Runs `handler` for every invocation until Lambda shuts the process down.
/// A configuration that does not load fails the cold start: nothing is decided.
pub async fn serve<F, Fut, R>(function: &'static str, handler: F) -> std::result::Result<(), LambdaError>
where
    F: Fn(Arc<Context>, Event, Deadline) -> Fut,
    Fut: Future<Output = Result<R>>,
    R: Outcome,
{
    crate::logging::init();
    let ctx = Arc::new(
        Context::from_env()
            .await
            .inspect_err(|e| tracing::error!(function, error = %e, "cannot start"))?,
    );
    let handler = &handler;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let ctx = ctx.clone();
        async move {
            let remaining = event.context.deadline().duration_since(SystemTime::now()).unwrap_or_default();
            let parsed = events::parse(&event.payload)
                .inspect_err(|e| tracing::error!(function, error = %e, "rejected the invocation"))?;
            let report = handler(ctx, parsed.clone(), Deadline::within(remaining))
                .await
                .inspect_err(|e| tracing::error!(function, error = %e, event = %parsed.label(), "failed"))?;
            let failures = report.failures();
            if !failures.is_empty() {
                tracing::error!(function, failed = ?failures, report = %serde_json::to_string(&report)?, "some work could not be done; the next run retries it");
                return Err::<Value, LambdaError>(format!("{} item(s) could not be done: {}", failures.len(), failures.join("; ")).into());
            }
            Ok(serde_json::to_value(&report)?)
        }
    }))
    .await
}
