//! The finisher: an event names something (a peering, a route table, a group,
//! a secret); this maps it to the managed peerings it affects and reconciles
//! them from what it reads.

use crate::aws::Select;
use crate::context::{Context, Deadline, Mode};
use crate::error::{Error, Result};
use crate::events::{Announced, Event, EventError, Function, Subject};
use crate::reconcile::{self, Rejection, Report, Scope};

/// The CloudTrail calls the finisher reacts to: every call peerlink can map
/// to what it touches.
pub const CALLS: &[&str] = crate::events::KNOWN_CALLS;

/// Whether a secret id from an event (name or ARN) is the configured ARN.
/// Secrets Manager ARNs end in the name plus a dash and six random characters.
fn same_secret(id: &str, arn: &str) -> bool {
    id == arn
        || arn
            .rsplit_once(":secret:")
            .is_some_and(|(_, tail)| tail.len() > 7 && &tail[..tail.len() - 7] == id)
}

/// Where an event points, as a scope; `None` when it touches nothing managed.
async fn scope_of(ctx: &Context, subject: &Subject) -> Result<Option<Scope>> {
    let config = &ctx.config;
    Ok(match subject {
        Subject::Peering(id) => Some(Scope::Peerings(vec![id.to_string()])),
        Subject::Vpc(id) => config
            .peers
            .iter()
            .any(|e| e.local_vpc == *id)
            .then(|| Scope::Vpcs(vec![id.to_string()])),
        Subject::RouteTable(id) => {
            let tables = ctx.aws.describe_route_tables(Select::Ids(&[id.to_string()])).await?;
            tables
                .first()
                .filter(|t| config.peers.iter().any(|e| e.local_vpc == *t.vpc.as_str()))
                .map(|t| Scope::Vpcs(vec![t.vpc.clone()]))
        }
        Subject::SecurityGroup(id) => {
            let names: Vec<String> = config
                .peers
                .iter()
                .filter(|e| e.security_group_rules.iter().any(|r| r.group == *id))
                .map(|e| e.name.clone())
                .collect();
            (!names.is_empty()).then_some(Scope::Entries(names))
        }
        Subject::Secret(id) => {
            let names: Vec<String> = config
                .peers
                .iter()
                .filter(|e| e.secrets.iter().any(|s| same_secret(id, &s.arn.arn)))
                .map(|e| e.name.clone())
                .collect();
            (!names.is_empty()).then_some(Scope::Entries(names))
        }
    })
}

/// Runs the finisher for one parsed event.
pub async fn handle(ctx: &Context, event: &Event, deadline: Deadline) -> Result<Report> {
    let mut rejection = None;
    let (scope, from) = match event {
        Event::Reconcile { peering } => (Scope::Peerings(vec![peering.to_string()]), None),
        Event::Decided {
            peering,
            account,
            announced,
        } => {
            if let Announced::Rejected { reason, entry } = announced {
                rejection = Some(received_rejection(
                    ctx,
                    peering.as_str(),
                    account.as_deref(),
                    reason,
                    entry,
                ));
            }
            (Scope::Peerings(vec![peering.to_string()]), account.as_deref())
        }
        Event::Scheduled
        | Event::ReconcileAll
        | Event::Continue {
            function: Function::Finisher,
            ..
        } => (Scope::All, None),
        Event::ApiCall { name, subject, account } if CALLS.contains(&name.as_str()) => {
            match scope_of(ctx, subject).await? {
                Some(scope) => (scope, account.as_deref()),
                None => {
                    tracing::info!(event = %name, "the event touches nothing peerlink manages");
                    return Ok(Report::empty(
                        Scope::All,
                        format!("{name} touches nothing peerlink manages here"),
                    ));
                }
            }
        }
        Event::FailedApiCall { name, error_code } => {
            return Ok(Report::empty(
                Scope::All,
                format!("{name} failed with {error_code}: it changed nothing"),
            ));
        }
        other => {
            return Err(EventError(format!(
                "the finisher handles CloudTrail {}, scheduled events, peerlink's decisions, its own continuations and {{\"reconcile\": \"pcx-…\"}}, not {}",
                CALLS.join("/"),
                other.label()
            ))
            .into());
        }
    };
    let mut report = match reconcile::run(ctx, scope.clone(), Mode::Apply, deadline).await {
        // Another account's event (forwarded, or about its peering with a
        // third account) may name a peering this account cannot see.
        Err(Error::NotFound { id, .. }) if from.is_some_and(|a| a != ctx.me.account) => {
            let from = from.unwrap_or_default();
            tracing::info!(peering_id = %id, event_account = from, "the event names a peering this account cannot see; nothing to do");
            Report::empty(
                scope,
                format!(
                    "peering {id} (named by an event from account {from}) is not visible to this account: nothing to do"
                ),
            )
        }
        other => other?,
    };
    report.rejection = rejection;
    Ok(report)
}

/// Logs the accepter's rejection as one decision record in this account (so
/// the team that asked sees why), in the accepter's words: a hint, never
/// acted on.
fn received_rejection(
    ctx: &Context,
    peering: &str,
    account: Option<&str>,
    reason: &str,
    entry: &Option<String>,
) -> Rejection {
    let accepter_account = account.unwrap_or(ctx.me.account.as_str()).to_string();
    tracing::info!(
        peering_id = peering,
        decision = "reject",
        decided_by = %accepter_account,
        reason = reason,
        entry = entry.as_deref().unwrap_or(""),
        "decision"
    );
    Rejection {
        peering: peering.to_string(),
        accepter_account,
        reason: reason.to_string(),
        entry: entry.clone(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn secret_names_match_their_arn() {
        let arn = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:orders-db-AbCdEf";
        assert!(super::same_secret(arn, arn));
        assert!(super::same_secret("orders-db", arn));
        assert!(!super::same_secret("orders", arn));
        assert!(!super::same_secret("orders-db-AbCdEf-x", arn));
    }
}
