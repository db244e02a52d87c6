//! Apply: carry out the plan with bounded concurrency. Every action is
//! idempotent: one that finds its work already done counts as success, so a
//! pass run twice changes nothing the second time.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::plan::{Action, Planned};
use super::policy::{self, PolicyChange};
use crate::aws::{ec2, secrets};
use crate::context::{Context, Deadline};
use crate::error::AwsError;

/// What became of one planned action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Result {
    /// Planned only (report mode, `plan`).
    Pending,
    Done,
    /// The work was already done when we tried (another run got there first).
    AlreadyDone,
    /// Not started: the time budget ran out. The next run does it.
    NotStarted,
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub planned: Planned,
    pub result: Result,
}

/// Error codes that mean "already as wanted" for each kind of write.
fn already_done(action: &Action, err: &AwsError) -> bool {
    match action {
        Action::CreateRoute { .. } => err.code_is(&["RouteAlreadyExists"]),
        Action::DeleteRoute { .. } => err.code_is(&["InvalidRoute.NotFound"]),
        Action::AuthorizeRule { .. } => err.code_is(&["InvalidPermission.Duplicate"]),
        Action::RevokeRule { .. } => err.code_is(&["InvalidPermission.NotFound"]),
        _ => false,
    }
}

/// Runs the actions, at most `settings.write_concurrency` at once.
pub async fn apply(ctx: &Context, actions: Vec<Planned>, deadline: Deadline) -> Vec<Outcome> {
    let limit = ctx.config.settings.write_concurrency;
    let mut out: Vec<Outcome> = futures_util::stream::iter(actions)
        .map(|planned| async move {
            let result = if deadline.expired() {
                Result::NotStarted
            } else {
                match execute(ctx, &planned.action).await {
                    Ok(r) => r,
                    Err(e) if already_done(&planned.action, &e) => Result::AlreadyDone,
                    Err(e) => Result::Failed(e.to_string()),
                }
            };
            Outcome { planned, result }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    // Keep the plan's order in reports, whatever order the writes finished in.
    out.sort_by(|a, b| {
        (
            a.planned.peering.as_deref(),
            a.planned.action.kind(),
            a.planned.action.resource(),
            a.planned.action.to_string(),
        )
            .cmp(&(
                b.planned.peering.as_deref(),
                b.planned.action.kind(),
                b.planned.action.resource(),
                b.planned.action.to_string(),
            ))
    });
    out
}

async fn execute(ctx: &Context, action: &Action) -> std::result::Result<Result, AwsError> {
    let c = &ctx.clients.ec2;
    match action {
        Action::CreateRoute {
            route_table,
            destination,
            peering,
        } => ec2::create_route(c, route_table, destination, peering).await?,
        Action::ReplaceRoute {
            route_table,
            destination,
            peering,
            ..
        } => ec2::replace_route(c, route_table, destination, peering).await?,
        Action::DeleteRoute {
            route_table,
            destination,
            ..
        } => ec2::delete_route(c, route_table, destination).await?,
        Action::AuthorizeRule {
            group,
            rule,
            description,
        } => ec2::authorize_rule(c, group, rule, description).await?,
        Action::RevokeRule { group, rule } => ec2::revoke_rule(c, group, rule).await?,
        Action::EnablePeeringDns { peering, side } => ec2::enable_peering_dns(c, peering, *side).await?,
        Action::EnableVpcAttribute { vpc, attribute } => ec2::enable_vpc_attribute(c, vpc, *attribute).await?,
        Action::MergeSecretPolicy { secret, change } => return merge_secret(ctx, secret, change).await,
        Action::MergeKeyPolicy { key, change } => return merge_key(ctx, key, change).await,
    }
    Ok(Result::Done)
}

/// How many read-merge-write-verify rounds a policy gets before we give up
/// (and leave it to the next run).
const MERGE_ROUNDS: u32 = 6;

/// Read-modify-write with verification. Policies have no conditional write, so
/// a writer that read before our write can overwrite it after. Seeing our
/// statements right after writing is not enough (that writer may not have
/// written yet): they must still be there after `settle`, longer than another
/// writer's read-to-write window. Otherwise merge again. A writer slower than
/// that (or a user's tool) can still drop a statement; the next scheduled run
/// puts it back.
async fn merge_loop<R, W>(
    what: &'static str,
    change: &PolicyChange,
    settle: Duration,
    mut read: R,
    mut write: W,
) -> std::result::Result<Result, AwsError>
where
    R: AsyncFnMut() -> std::result::Result<Option<Value>, AwsError>,
    W: AsyncFnMut(Value) -> std::result::Result<(), AwsError>,
{
    let mut wrote = false;
    for round in 0..=MERGE_ROUNDS {
        let current = read().await?;
        if policy::satisfies(current.as_ref(), change) {
            if !wrote {
                return Ok(Result::AlreadyDone);
            }
            tokio::time::sleep(settle).await;
            if policy::satisfies(read().await?.as_ref(), change) {
                return Ok(Result::Done);
            }
            // Overwritten while settling: merge again at once.
            continue;
        }
        if round == MERGE_ROUNDS {
            break;
        }
        if wrote {
            // Someone wrote in between: back off a little (with jitter).
            tokio::time::sleep(Duration::from_millis(20 * u64::from(round) + jitter())).await;
        }
        write(policy::merge(current.as_ref(), change)).await?;
        wrote = true;
    }
    Err(AwsError {
        operation: what,
        code: None,
        message: format!("the policy kept changing under us for {MERGE_ROUNDS} rounds; the next run retries"),
    })
}

fn jitter() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    u64::from(nanos % 50)
}

async fn merge_secret(ctx: &Context, arn: &str, change: &PolicyChange) -> std::result::Result<Result, AwsError> {
    merge_loop(
        "PutResourcePolicy",
        change,
        ctx.policy_settle,
        async || secrets::get_secret_policy(&ctx.clients, arn).await,
        async |doc| secrets::put_secret_policy(&ctx.clients, arn, &doc).await,
    )
    .await
}

async fn merge_key(ctx: &Context, key: &str, change: &PolicyChange) -> std::result::Result<Result, AwsError> {
    merge_loop(
        "PutKeyPolicy",
        change,
        ctx.policy_settle,
        async || secrets::get_key_policy(&ctx.clients, key).await,
        async |doc| secrets::put_key_policy(&ctx.clients, key, &doc).await,
    )
    .await
}
