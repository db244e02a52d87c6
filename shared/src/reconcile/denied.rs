//! What the role may not touch. A stack is deployed with parameters derived
//! from the configuration (`peerlink deploy-params`); when the configuration
//! shrinks and the stack is redeployed, or names another account's resource
//! by mistake, some reads and writes answer `AccessDenied`. That resource is
//! left as it is and reported with the fix; every other entry is still
//! reconciled in the same pass, so one stale grant never freezes repair.

use std::collections::BTreeMap;

use serde::Serialize;

use super::apply::ActionOutcome;
use super::plan::Action;
use crate::error::AwsError;
use crate::finding::{Finding, FindingKind};
use crate::outcome::WriteResult;
use crate::ownership::{DECRYPT_SID, MANAGED_TAG, READ_SID};

/// What kind of resource a denied read was about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeniedRead {
    Secret,
    Key,
    /// The listing of the secrets carrying our tag.
    TaggedSecrets,
}

/// A read the role may not make, by the resource it names.
pub type DeniedReads = BTreeMap<String, (DeniedRead, String)>;

/// `Ok(Err(e))` when `call` was denied, so the caller can record it and go on;
/// any other failure stays an error.
pub async fn permitted<T>(call: impl Future<Output = Result<T, AwsError>>) -> Result<Result<T, AwsError>, AwsError> {
    match call.await {
        Err(e) if e.is_denied() => Ok(Err(e)),
        other => other.map(Ok),
    }
}

fn secret_fix(secret: &str) -> String {
    format!(
        "the stack no longer allows peerlink to use secret {secret}; keep it in SecretArns until peerlink has taken its grant back (or deploy the current template, whose role may use secrets tagged {MANAGED_TAG}), or remove statement Sid {READ_SID} from its resource policy by hand"
    )
}

fn key_fix(key: &str) -> String {
    format!(
        "the stack no longer allows peerlink to use KMS key {key}; keep it in KmsKeyArns until peerlink has taken its grant back (or deploy the current template, whose role may use keys tagged {MANAGED_TAG}), or remove statement Sid {DECRYPT_SID} from its key policy by hand"
    )
}

/// The finding for a read the role may not make.
pub fn read_finding(resource: &str, kind: DeniedRead, error: &str) -> Finding {
    let (message, fix) = match kind {
        DeniedRead::Secret => (
            format!("peerlink may not read secret {resource} ({error}); its policy is left as it is"),
            secret_fix(resource),
        ),
        DeniedRead::Key => (
            format!("peerlink may not read KMS key {resource} ({error}); its policy is left as it is"),
            key_fix(resource),
        ),
        DeniedRead::TaggedSecrets => (
            format!(
                "peerlink may not list the secrets tagged {MANAGED_TAG} ({error}): grants the configuration dropped cannot be found"
            ),
            "allow secretsmanager:ListSecrets to the function's role (the templates do)".into(),
        ),
    };
    Finding {
        kind: FindingKind::NotPermitted,
        peering: None,
        resource: Some(resource.to_string()),
        message,
        fix,
    }
}

/// What to do when the role may not make a write: which stack parameter
/// covers that resource.
fn write_fix(action: &Action) -> String {
    let resource = action.resource();
    match action {
        Action::MergeSecretPolicy { .. } | Action::TagSecret { .. } => secret_fix(resource),
        Action::MergeKeyPolicy { .. } | Action::TagKey { .. } => key_fix(resource),
        Action::AuthorizeRule { .. }
        | Action::RevokeRule { .. }
        | Action::RemarkRule { .. }
        | Action::TagGroup { .. } => format!(
            "add {resource} to the stack's SecurityGroupIds (peerlink deploy-params) and redeploy; a rule peerlink made there can also be removed by hand (description peerlink:pcx-…)"
        ),
        Action::CreateRoute { .. } | Action::ReplaceRoute { .. } | Action::DeleteRoute { .. } => format!(
            "the VPC of route table {resource} must be in the stack's LocalVpcIds (peerlink deploy-params); redeploy"
        ),
        Action::CreatePeeringRequest { .. } => {
            "the peer VPC must be in the stack's RequestPeerVpcArns (peerlink deploy-params); redeploy".into()
        }
        Action::EnablePeeringDns { .. }
        | Action::DisablePeeringDns { .. }
        | Action::TagPeering { .. }
        | Action::EnableVpcAttribute { .. } => {
            "the local VPC must be in the stack's LocalVpcIds (peerlink deploy-params); redeploy".into()
        }
    }
}

/// One finding per resource whose write the role may not make.
pub fn write_findings(actions: &[ActionOutcome]) -> Vec<Finding> {
    let mut out: Vec<Finding> = Vec::new();
    for o in actions {
        let WriteResult::NotPermitted(error) = &o.result else {
            continue;
        };
        let action = &o.planned.action;
        if out.iter().any(|f| f.resource.as_deref() == Some(action.resource())) {
            continue;
        }
        out.push(Finding {
            kind: FindingKind::NotPermitted,
            peering: o.planned.peering.clone(),
            resource: Some(action.resource().to_string()),
            message: format!(
                "peerlink may not {} {} ({error}); left as it is, everything else was done",
                action.kind(),
                action.resource()
            ),
            fix: write_fix(action),
        });
    }
    out
}
