//! Apply: carry out the plan with bounded concurrency. Every action is
//! idempotent: one that finds its work already done counts as success, so a
//! pass run twice changes nothing the second time.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::plan::{Action, Planned};
use super::policy::{self, PolicyChange};
use crate::aws::{AUTHORIZE_RULE, Aws, PeeringRequest, REMARK_RULE, REVOKE_RULE, rule_action};
use crate::context::{Context, Deadline};
use crate::error::AwsError;
use crate::finding::{Finding, FindingKind};
use crate::model::{PeeringStatus, RulePeer};
use crate::outcome::WriteResult;
use crate::ownership::{DNS_OFF, ENTRY_TAG, MANAGED_TAG, REQUESTED_AT_TAG, dns_tag, request_tag};

fn managed_tag() -> [(String, String); 1] {
    [(MANAGED_TAG.to_string(), "true".to_string())]
}

#[derive(Debug, Clone, Serialize)]
pub struct ActionOutcome {
    #[serde(flatten)]
    pub planned: Planned,
    pub result: WriteResult,
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

/// EC2's answer to a reference to a group it cannot reach across the peering.
fn peer_group_missing(action: &Action, err: &AwsError) -> bool {
    let Action::AuthorizeRule { rule, .. } = action else {
        return false;
    };
    matches!(rule.peer, RulePeer::Group { .. }) && err.code_is(&["InvalidGroup.NotFound"])
}

/// One finding per rule whose peer group EC2 could not find.
pub fn peer_group_findings(actions: &[ActionOutcome]) -> Vec<Finding> {
    let mut out = Vec::new();
    for o in actions {
        let (WriteResult::PeerGroupMissing(error), Action::AuthorizeRule { group, rule, .. }) =
            (&o.result, &o.planned.action)
        else {
            continue;
        };
        let RulePeer::Group {
            account, group: peer, ..
        } = &rule.peer
        else {
            continue;
        };
        out.push(Finding {
            kind: FindingKind::MissingResource,
            peering: o.planned.peering.clone(),
            resource: Some(group.clone()),
            message: format!(
                "peer group {peer} of account {account} does not exist or is not in the peer VPC ({error}): {group} does not get \"{rule}\"; everything else was done"
            ),
            fix: format!("correct peer_groups (the group must be in the peer VPC of account {account}), or have the peer create {peer}"),
        });
    }
    out
}

/// Runs the actions, at most `settings.write_concurrency` at once.
pub async fn apply(ctx: &Context, actions: Vec<Planned>, deadline: Deadline) -> Vec<ActionOutcome> {
    let limit = ctx.config.settings.write_concurrency;
    let mut out: Vec<ActionOutcome> = futures_util::stream::iter(actions)
        .map(|planned| async move {
            // Not started when its turn (the client paces writes to EC2's
            // rate) would come after the stop: the next run does it.
            let result = if !deadline.admits(ctx.aws.ready_at(operation(&planned.action))) {
                WriteResult::NotStarted
            } else {
                match execute(ctx, &planned.action).await {
                    Ok(r) => r,
                    Err(e) if already_done(&planned.action, &e) => WriteResult::AlreadyDone,
                    Err(e) if e.is_denied() => WriteResult::NotPermitted(e.to_string()),
                    Err(e) if peer_group_missing(&planned.action, &e) => WriteResult::PeerGroupMissing(e.to_string()),
                    Err(e) => WriteResult::Failed(e.to_string()),
                }
            };
            ActionOutcome { planned, result }
        })
        .buffer_unordered(limit)
        .collect()
        .await;
    // Keep the plan's order in reports, whatever order the writes finished in.
    out.sort_by_cached_key(|o| o.planned.sort_key());
    out
}

/// The AWS operation an action's write starts with: the one the client
/// paces it by.
fn operation(action: &Action) -> &'static str {
    match action {
        Action::CreateRoute { .. } => "CreateRoute",
        Action::ReplaceRoute { .. } => "ReplaceRoute",
        Action::DeleteRoute { .. } => "DeleteRoute",
        Action::AuthorizeRule { rule, .. } => rule_action(AUTHORIZE_RULE, rule),
        Action::RevokeRule { rule, .. } => rule_action(REVOKE_RULE, rule),
        Action::RemarkRule { rule, .. } => rule_action(REMARK_RULE, rule),
        Action::TagGroup { .. } | Action::TagPeering { .. } => "CreateTags",
        Action::TagSecret { .. } | Action::TagKey { .. } => "TagResource",
        Action::CreatePeeringRequest { .. } => "CreateVpcPeeringConnection",
        Action::EnablePeeringDns { .. } | Action::DisablePeeringDns { .. } => "ModifyVpcPeeringConnectionOptions",
        Action::EnableVpcAttribute { .. } => "ModifyVpcAttribute",
        Action::MergeSecretPolicy { .. } => "PutResourcePolicy",
        Action::MergeKeyPolicy { .. } => "PutKeyPolicy",
    }
}

async fn execute(ctx: &Context, action: &Action) -> Result<WriteResult, AwsError> {
    let aws = ctx.aws.as_ref();
    match action {
        Action::CreateRoute {
            route_table,
            destination,
            peering,
        } => aws.create_route(route_table, destination, peering).await?,
        Action::ReplaceRoute {
            route_table,
            destination,
            peering,
            ..
        } => aws.replace_route(route_table, destination, peering).await?,
        Action::DeleteRoute {
            route_table,
            destination,
            ..
        } => aws.delete_route(route_table, destination).await?,
        Action::AuthorizeRule {
            group,
            rule,
            description,
        } => aws.authorize_rule(group, rule, description).await?,
        Action::RevokeRule { group, rule } => aws.revoke_rule(group, rule).await?,
        Action::RemarkRule {
            group,
            rule,
            description,
        } => aws.update_rule_description(group, rule, description).await?,
        Action::TagGroup { group } => aws.create_tags(group, &managed_tag()).await?,
        Action::TagSecret { secret } => aws.tag_secret(secret, MANAGED_TAG, "true").await?,
        Action::TagKey { key } => aws.tag_key(key, MANAGED_TAG, "true").await?,
        Action::CreatePeeringRequest {
            entry,
            vpc,
            peer_account,
            peer_vpc,
            peer_region,
            at,
        } => {
            let request = PeeringRequest {
                vpc: vpc.clone(),
                peer_account: peer_account.clone(),
                peer_vpc: peer_vpc.clone(),
                peer_region: peer_region.clone(),
                tags: vec![
                    (MANAGED_TAG.to_string(), "true".to_string()),
                    (ENTRY_TAG.to_string(), entry.clone()),
                    (REQUESTED_AT_TAG.to_string(), at.to_string()),
                ],
            };
            request_peering(aws, &request, entry, *at).await?;
        }
        Action::EnablePeeringDns { peering, side } => aws.enable_peering_dns(peering, *side).await?,
        Action::DisablePeeringDns { peering, side } => {
            aws.disable_peering_dns(peering, *side).await?;
            aws.create_tags(peering, &[(dns_tag(*side), DNS_OFF.to_string())])
                .await?;
        }
        Action::TagPeering { peering, tags } => aws.create_tags(peering, tags).await?,
        Action::EnableVpcAttribute { vpc, attribute } => aws.enable_vpc_attribute(vpc, *attribute).await?,
        Action::MergeSecretPolicy { secret, change } => {
            return merge_loop(
                "PutResourcePolicy",
                change,
                ctx.settings.policy_settle,
                async || aws.get_secret_policy(secret).await,
                async |doc| aws.put_secret_policy(secret, &doc).await,
            )
            .await;
        }
        Action::MergeKeyPolicy { key, change } => {
            return merge_loop(
                "PutKeyPolicy",
                change,
                ctx.settings.policy_settle,
                async || aws.get_key_policy(key).await,
                async |doc| aws.put_key_policy(key, &doc).await,
            )
            .await;
        }
    }
    Ok(WriteResult::Done)
}

/// Creates the request (tagged with its entry and time by the same call: the
/// record of the attempt), then keeps only one: two invocations may each have
/// found none and asked. Every one of them keeps the lowest id of the
/// entry's live requests between the two VPCs and deletes the others (our
/// own, tagged, still pending). Last, the attempt is cached on the local VPC,
/// which outlives the request (EC2 forgets a rejected one after a while);
/// a VPC that takes no more tags (50) or a policy that forbids it only
/// shortens that memory to the request's own.
async fn request_peering(aws: &dyn Aws, request: &PeeringRequest, entry: &str, at: u64) -> Result<(), AwsError> {
    let id = aws.create_peering(request).await?;
    tracing::info!(peering_id = %id, entry, vpc = %request.vpc, peer_vpc = %request.peer_vpc, "requested a peering");
    let all = aws.describe_peerings(None).await?;
    let mut ours: Vec<&str> = all
        .iter()
        .filter(|p| {
            p.tags.get(ENTRY_TAG).map(String::as_str) == Some(entry)
                && p.requester.vpc == request.vpc
                && p.accepter.vpc == request.peer_vpc
                && matches!(
                    p.status,
                    PeeringStatus::PendingAcceptance | PeeringStatus::InitiatingRequest
                )
        })
        .map(|p| p.id.as_str())
        .collect();
    ours.sort();
    for duplicate in ours.iter().skip(1) {
        tracing::info!(peering_id = %duplicate, kept = %ours[0], entry, "deleting a duplicate request (made at the same time by another invocation)");
        aws.delete_peering(duplicate).await?;
    }
    let cached = [(request_tag(entry), format!("{id} {at}"))];
    if let Err(e) = aws.create_tags(&request.vpc, &cached).await {
        tracing::warn!(peering_id = %id, entry, vpc = %request.vpc, error = %e, "could not record the request on the VPC; its own tags record it while EC2 lists it");
    }
    Ok(())
}

/// How many read-merge-write-verify rounds a policy gets before we give up
/// (and leave it to the next run).
const MERGE_ROUNDS: u32 = 6;

/// Read-modify-write with verification. Policies have no conditional write,
/// so every write merges into a policy read immediately before it: the
/// policy the pass observed may be seconds old (a second round of reads,
/// throttled writes), and a statement a person or Terraform added since
/// would be lost if we merged into that. After the write, the policy must
/// still hold our change and every statement of others the fresh read saw,
/// after `settle` (longer than another writer's read-to-write window);
/// otherwise it changed under us and we merge again from a fresh read.
/// What no client can see is a writer that reads before our write and
/// writes after it without merging: the next pass puts ours back, and a
/// writer that merges as we do keeps ours.
async fn merge_loop<R, W>(
    what: &'static str,
    change: &PolicyChange,
    settle: Duration,
    mut read: R,
    mut write: W,
) -> Result<WriteResult, AwsError>
where
    R: AsyncFnMut() -> Result<Option<Value>, AwsError>,
    W: AsyncFnMut(Value) -> Result<(), AwsError>,
{
    let mut wrote = false;
    for round in 0..MERGE_ROUNDS {
        let fresh = read().await?;
        if policy::satisfies(fresh.as_ref(), change) {
            return Ok(if wrote {
                WriteResult::Done
            } else {
                WriteResult::AlreadyDone
            });
        }
        if wrote {
            // Changed under us: back off a little (with jitter), merge again.
            tokio::time::sleep(Duration::from_millis(20 * u64::from(round) + jitter())).await;
        }
        write(policy::merge(fresh.as_ref(), change)).await?;
        wrote = true;
        tokio::time::sleep(settle).await;
        let after = read().await?;
        if policy::satisfies(after.as_ref(), change) && policy::keeps_others(fresh.as_ref(), after.as_ref()) {
            return Ok(WriteResult::Done);
        }
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
