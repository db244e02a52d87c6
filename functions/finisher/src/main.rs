//! Lambda `finisher`: brings this account's side of a peering to its desired
//! state (routes, rules, DNS, secret and key policies). Events: the CloudTrail
//! calls in `peerlink::finisher::CALLS`, `{"reconcile": "pcx-…"}`, the
//! accepter's "VPC Peering Accepted", schedules.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    peerlink::lambda::serve("finisher", |ctx, event, deadline| async move {
        peerlink::finisher::handle(&ctx, &event, deadline).await
    })
    .await
}
