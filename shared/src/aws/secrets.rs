//! Secrets Manager resource policies and KMS key policies.

use aws_sdk_kms::types::KeyManagerType;

use super::{Clients, aws_error};
use crate::error::AwsError;
use crate::model::{KeyState, SecretState};

const SECRET_NOT_FOUND: [&str; 1] = ["ResourceNotFoundException"];
const KEY_NOT_FOUND: [&str; 1] = ["NotFoundException"];

fn parse_policy(operation: &'static str, text: Option<&str>) -> Result<Option<serde_json::Value>, AwsError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => serde_json::from_str(t).map(Some).map_err(|e| AwsError {
            operation,
            code: None,
            message: format!("the policy document is not valid JSON: {e}"),
        }),
    }
}

/// The secret's key and resource policy; `None` when the secret does not exist.
pub async fn read_secret(clients: &Clients, arn: &str) -> Result<Option<SecretState>, AwsError> {
    let described = match clients.secrets.describe_secret().secret_id(arn).send().await {
        Ok(d) => d,
        Err(e) => {
            let err = aws_error("DescribeSecret", e);
            return if err.code_is(&SECRET_NOT_FOUND) {
                Ok(None)
            } else {
                Err(err)
            };
        }
    };
    Ok(Some(SecretState {
        arn: described.arn().unwrap_or(arn).to_string(),
        kms_key: described.kms_key_id().filter(|k| !k.is_empty()).map(str::to_string),
        policy: get_secret_policy(clients, arn).await?,
    }))
}

/// The secret's resource policy alone; `None` when it has none.
pub async fn get_secret_policy(clients: &Clients, arn: &str) -> Result<Option<serde_json::Value>, AwsError> {
    let out = clients
        .secrets
        .get_resource_policy()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| aws_error("GetResourcePolicy", e))?;
    parse_policy("GetResourcePolicy", out.resource_policy())
}

/// Writes a secret's resource policy. `BlockPublicPolicy` makes AWS refuse a
/// document that would open the secret to everyone.
pub async fn put_secret_policy(clients: &Clients, arn: &str, policy: &serde_json::Value) -> Result<(), AwsError> {
    clients
        .secrets
        .put_resource_policy()
        .secret_id(arn)
        .resource_policy(policy.to_string())
        .block_public_policy(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("PutResourcePolicy", e))
}

/// The key behind an id, ARN or alias; its policy only for customer-managed
/// keys (AWS-managed key policies cannot change). `None` when it does not exist.
pub async fn read_key(clients: &Clients, key: &str) -> Result<Option<KeyState>, AwsError> {
    let described = match clients.kms.describe_key().key_id(key).send().await {
        Ok(d) => d,
        Err(e) => {
            let err = aws_error("DescribeKey", e);
            return if err.code_is(&KEY_NOT_FOUND) {
                Ok(None)
            } else {
                Err(err)
            };
        }
    };
    let Some(meta) = described.key_metadata() else {
        return Ok(None);
    };
    let arn = meta.arn().unwrap_or(key).to_string();
    let aws_managed = meta.key_manager() == Some(&KeyManagerType::Aws);
    let policy = if aws_managed {
        None
    } else {
        get_key_policy(clients, &arn).await?
    };
    Ok(Some(KeyState {
        arn,
        aws_managed,
        policy,
    }))
}

/// The key's `default` policy alone.
pub async fn get_key_policy(clients: &Clients, key: &str) -> Result<Option<serde_json::Value>, AwsError> {
    let out = clients
        .kms
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| aws_error("GetKeyPolicy", e))?;
    parse_policy("GetKeyPolicy", out.policy())
}

pub async fn put_key_policy(clients: &Clients, key_arn: &str, policy: &serde_json::Value) -> Result<(), AwsError> {
    clients
        .kms
        .put_key_policy()
        .key_id(key_arn)
        .policy_name("default")
        .policy(policy.to_string())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("PutKeyPolicy", e))
}
