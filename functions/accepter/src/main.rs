//! Lambda entrypoint of the accepter: parse the event, run the library, return
//! the summary. All logic lives in `peerlink::accepter`.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use peerlink::{Context, Deadline, events};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    peerlink::logging::init();
    // A missing or invalid configuration fails the cold start: nothing is decided.
    let ctx = Context::from_env()
        .await
        .inspect_err(|e| tracing::error!(error = %e, "cannot start"))?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handle(&ctx, event))).await
}

async fn handle(ctx: &Context, event: LambdaEvent<Value>) -> Result<Value, Error> {
    let deadline = Deadline::within(
        event
            .context
            .deadline()
            .duration_since(std::time::SystemTime::now())
            .unwrap_or_default(),
    );
    let parsed = events::parse(&event.payload)
        .inspect_err(|e| tracing::error!(error = %e, "rejected the invocation"))?;
    let report = peerlink::accepter::handle(ctx, &parsed, deadline)
        .await
        .inspect_err(|e| tracing::error!(error = %e, event = %parsed.label(), "accepter failed"))?;
    let summary = serde_json::to_value(&report)?;
    if report.has_failures() {
        tracing::error!(failed = ?report.failed, "some decisions could not be carried out");
        return Err(format!(
            "{} decision(s) could not be carried out: {}",
            report.failed.len(),
            report.failed.join(", ")
        )
        .into());
    }
    Ok(summary)
}
