//! Lambda `drift`: on a schedule, re-checks every managed peering, sweeps
//! pending requests, cleans up after gone peerings; `report` or `remediate`
//! (`settings.drift_mode`, or `PEERLINK_DRIFT_MODE`).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    peerlink::lambda::serve("drift", |ctx, event, deadline| async move {
        peerlink::drift::handle(&ctx, &event, deadline).await
    })
    .await
}
