//! Secrets Manager resource policies and KMS key policies.

use aws_sdk_kms::types::KeyManagerType;
use serde_json::Value;

use super::aws_error;
use crate::error::AwsError;
use crate::ownership::MANAGED_TAG;

const SECRET_NOT_FOUND: [&str; 1] = ["ResourceNotFoundException"];
const KEY_NOT_FOUND: [&str; 1] = ["NotFoundException"];

/// A secret as `DescribeSecret` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretDescription {
    pub arn: String,
    /// The key id, ARN or alias the secret names; `None` means the AWS-managed key.
    pub kms_key: Option<String>,
    /// Whether it carries peerlink's tag.
    pub tagged: bool,
}

/// A key as `DescribeKey` gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDescription {
    pub arn: String,
    /// `aws/secretsmanager` and other AWS-managed keys: their policy cannot change.
    pub aws_managed: bool,
}

fn parse_policy(operation: &'static str, text: Option<&str>) -> Result<Option<Value>, AwsError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => serde_json::from_str(t).map(Some).map_err(|e| AwsError {
            operation,
            code: None,
            message: format!("the policy document is not valid JSON: {e}"),
        }),
    }
}

/// The secret's key; `None` when the secret does not exist.
pub async fn describe_secret(
    sm: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<Option<SecretDescription>, AwsError> {
    match sm.describe_secret().secret_id(arn).send().await {
        Ok(d) => Ok(Some(SecretDescription {
            arn: d.arn().unwrap_or(arn).to_string(),
            kms_key: d.kms_key_id().filter(|k| !k.is_empty()).map(str::to_string),
            tagged: d.tags().iter().any(|t| t.key() == Some(MANAGED_TAG)),
        })),
        Err(e) => {
            let err = aws_error("DescribeSecret", e);
            if err.code_is(&SECRET_NOT_FOUND) {
                Ok(None)
            } else {
                Err(err)
            }
        }
    }
}

/// The secret's resource policy; `None` when it has none.
pub async fn get_secret_policy(sm: &aws_sdk_secretsmanager::Client, arn: &str) -> Result<Option<Value>, AwsError> {
    let out = sm
        .get_resource_policy()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| aws_error("GetResourcePolicy", e))?;
    parse_policy("GetResourcePolicy", out.resource_policy())
}

/// Writes a secret's resource policy. `BlockPublicPolicy` makes AWS refuse a
/// document that would open the secret to everyone.
pub async fn put_secret_policy(sm: &aws_sdk_secretsmanager::Client, arn: &str, policy: &Value) -> Result<(), AwsError> {
    sm.put_resource_policy()
        .secret_id(arn)
        .resource_policy(policy.to_string())
        .block_public_policy(true)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("PutResourcePolicy", e))
}

/// Every secret carrying the tag key `tag_key`: one paginated, filtered call.
pub async fn list_tagged_secrets(
    sm: &aws_sdk_secretsmanager::Client,
    tag_key: &str,
) -> Result<Vec<SecretDescription>, AwsError> {
    let filter = aws_sdk_secretsmanager::types::Filter::builder()
        .key(aws_sdk_secretsmanager::types::FilterNameStringType::TagKey)
        .values(tag_key)
        .build();
    let mut pages = sm
        .list_secrets()
        .filters(filter)
        .max_results(100)
        .into_paginator()
        .send();
    let mut out = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| aws_error("ListSecrets", e))?;
        for s in page.secret_list() {
            // The filter matches key prefixes: keep exact matches only.
            if s.tags().iter().any(|t| t.key() == Some(tag_key)) {
                out.push(SecretDescription {
                    arn: s.arn().unwrap_or_default().to_string(),
                    kms_key: s.kms_key_id().filter(|k| !k.is_empty()).map(str::to_string),
                    tagged: true,
                });
            }
        }
    }
    Ok(out)
}

pub async fn tag_secret(
    sm: &aws_sdk_secretsmanager::Client,
    arn: &str,
    key: &str,
    value: &str,
) -> Result<(), AwsError> {
    let tag = aws_sdk_secretsmanager::types::Tag::builder()
        .key(key)
        .value(value)
        .build();
    sm.tag_resource()
        .secret_id(arn)
        .tags(tag)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("TagResource", e))
}

/// The key behind an id, ARN or alias; `None` when it does not exist.
pub async fn describe_key(kms: &aws_sdk_kms::Client, key: &str) -> Result<Option<KeyDescription>, AwsError> {
    let described = match kms.describe_key().key_id(key).send().await {
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
    Ok(described.key_metadata().map(|meta| KeyDescription {
        arn: meta.arn().unwrap_or(key).to_string(),
        aws_managed: meta.key_manager() == Some(&KeyManagerType::Aws),
    }))
}

/// The key's `default` policy.
pub async fn get_key_policy(kms: &aws_sdk_kms::Client, key: &str) -> Result<Option<Value>, AwsError> {
    let out = kms
        .get_key_policy()
        .key_id(key)
        .policy_name("default")
        .send()
        .await
        .map_err(|e| aws_error("GetKeyPolicy", e))?;
    parse_policy("GetKeyPolicy", out.policy())
}

pub async fn tag_key(kms: &aws_sdk_kms::Client, key: &str, tag_key: &str, value: &str) -> Result<(), AwsError> {
    let tag = aws_sdk_kms::types::Tag::builder()
        .tag_key(tag_key)
        .tag_value(value)
        .build()
        .map_err(|e| AwsError {
            operation: "TagResource",
            code: None,
            message: e.to_string(),
        })?;
    kms.tag_resource()
        .key_id(key)
        .tags(tag)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("TagResource", e))
}

/// Writes a key policy. The lockout safety check stays on (sent explicitly:
/// the role may only write key policies with it on).
pub async fn put_key_policy(kms: &aws_sdk_kms::Client, key_arn: &str, policy: &Value) -> Result<(), AwsError> {
    kms.put_key_policy()
        .key_id(key_arn)
        .policy_name("default")
        .policy(policy.to_string())
        .bypass_policy_lockout_safety_check(false)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws_error("PutKeyPolicy", e))
}
