//! The finisher: an event names something (a peering, a route table, a group,
//! a secret); this maps it to the managed peerings it affects and reconciles
//! them from what it reads.

use crate::aws::Select;
use crate::context::{Context, Deadline, Mode};
use crate::error::{Error, Result};
use crate::events::{Announced, Event, EventError, Function, Subject};
use crate::reconcile::{self, Observed, Rejection, Report, Scope, observe};

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
                rejection = Some(Rejection {
                    peering: peering.to_string(),
                    accepter_account: account.clone().unwrap_or_else(|| ctx.me.account.clone()),
                    reason: reason.clone(),
                    entry: entry.clone(),
                });
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
    let obs = match observe::observe(ctx, &scope).await {
        // Another account's event (forwarded, or about its peering with a
        // third account) may name a peering this account cannot see.
        Err(Error::NotFound { id, .. }) if from.is_some_and(|a| a != ctx.me.account) => {
            let from = from.unwrap_or_default();
            tracing::info!(peering_id = %id, event_account = from, "the event names a peering this account cannot see; nothing to do");
            return Ok(Report::empty(
                scope,
                format!(
                    "peering {id} (named by an event from account {from}) is not visible to this account: nothing to do"
                ),
            ));
        }
        other => other?,
    };
    let mut report = reconcile::run_observed(ctx, scope, &obs, Mode::Apply, deadline).await;
    report.rejection = rejection.filter(|r| from_the_accepter(&obs, r));
    Ok(report)
}

/// Whether a rejection was announced by the account that decides the
/// peering (EC2's accepter of it), and logs it as one decision record in
/// this account (so the team that asked sees why), in the accepter's words:
/// a hint, never acted on. Anyone else's is logged as ignored.
fn from_the_accepter(obs: &Observed, r: &Rejection) -> bool {
    let accepter = obs
        .peerings
        .iter()
        .find(|p| p.id == r.peering)
        .map(|p| &p.accepter.account);
    if accepter != Some(&r.accepter_account) {
        tracing::warn!(
            peering_id = %r.peering,
            sender = %r.accepter_account,
            accepter = accepter.map_or("(not visible)", String::as_str),
            "ignored a rejection announced by an account that is not the peering's accepter"
        );
        return false;
    }
    tracing::info!(
        peering_id = %r.peering,
        decision = "reject",
        decided_by = %r.accepter_account,
        reason = %r.reason,
        entry = r.entry.as_deref().unwrap_or(""),
        "decision"
    );
    true
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
