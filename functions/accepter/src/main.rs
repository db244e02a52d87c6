//! Lambda `accepter`: accepts or rejects VPC peering requests against the
//! allowlist. Events: CloudTrail `CreateVpcPeeringConnection`, schedules.
//! All logic lives in `peerlink::accepter`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    peerlink::lambda::serve("accepter", |ctx, event, deadline| async move {
        peerlink::accepter::handle(&ctx, &event, deadline).await
    })
    .await
}
