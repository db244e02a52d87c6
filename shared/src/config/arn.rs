//! ARNs the configuration names: secrets, KMS keys and IAM principals.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// What `Arn::parse` accepts, as patterns: a partition, a 12-digit account,
/// printable ASCII only; a region without `:`.
const PARTITION: &str = "arn:aws(-cn|-us-gov)?";
const REGION: &str = "[!-9;-~]*";

fn arn_schema(pattern: String, description: &str, example: &str) -> Schema {
    json_schema!({
        "type": "string",
        "pattern": pattern,
        "description": description,
        "examples": [example],
    })
}

/// `arn:<partition>:secretsmanager:<region>:<account>:secret:<name>`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SecretArn {
    pub arn: String,
    pub region: String,
    pub account: String,
}

impl TryFrom<String> for SecretArn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let parts = Arn::parse(&value)
            .filter(|a| a.service == "secretsmanager" && a.resource.starts_with("secret:") && a.resource.len() > 7)
            .ok_or_else(|| {
                format!(
                    "invalid secret ARN {value:?}: expected arn:aws:secretsmanager:<region>:<account>:secret:<name>"
                )
            })?;
        Ok(SecretArn {
            region: parts.region.to_string(),
            account: parts.account.to_string(),
            arn: value,
        })
    }
}

impl JsonSchema for SecretArn {
    fn schema_name() -> Cow<'static, str> {
        "SecretArn".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        arn_schema(
            format!("^{PARTITION}:secretsmanager:{REGION}:[0-9]{{12}}:secret:[!-~]+$"),
            "A Secrets Manager secret's full ARN (with its 6-character suffix): arn:aws:secretsmanager:<region>:<account>:secret:<name>.",
            "arn:aws:secretsmanager:eu-west-1:222222222222:secret:orders-db-AbCdEf",
        )
    }
}

impl From<SecretArn> for String {
    fn from(a: SecretArn) -> String {
        a.arn
    }
}

/// `arn:<partition>:kms:<region>:<account>:key/<id>`
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct KmsKeyArn(pub String);

impl TryFrom<String> for KmsKeyArn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Arn::parse(&value)
            .filter(|a| a.service == "kms" && a.resource.starts_with("key/") && a.resource.len() > 4)
            .map(|_| KmsKeyArn(value.clone()))
            .ok_or_else(|| format!("invalid KMS key ARN {value:?}: expected arn:aws:kms:<region>:<account>:key/<key-id> (aliases cannot carry a key policy)"))
    }
}

impl JsonSchema for KmsKeyArn {
    fn schema_name() -> Cow<'static, str> {
        "KmsKeyArn".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        arn_schema(
            format!("^{PARTITION}:kms:{REGION}:[0-9]{{12}}:key/[!-~]+$"),
            "A KMS key's ARN: arn:aws:kms:<region>:<account>:key/<key-id> (not an alias: aliases cannot carry a key policy).",
            "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab",
        )
    }
}

impl From<KmsKeyArn> for String {
    fn from(a: KmsKeyArn) -> String {
        a.0
    }
}

/// An IAM principal ARN: `arn:<partition>:iam::<account>:(root|role/…|user/…)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PrincipalArn {
    pub arn: String,
    pub account: String,
}

impl TryFrom<String> for PrincipalArn {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        let err = || {
            format!(
                "invalid principal {value:?}: expected an IAM ARN such as arn:aws:iam::111111111111:role/app (wildcards are never allowed)"
            )
        };
        if value.contains('*') || value.contains('?') {
            return Err(err());
        }
        let arn = Arn::parse(&value).ok_or_else(err)?;
        let resource_ok = arn.resource == "root"
            || arn.resource.strip_prefix("role/").is_some_and(|r| !r.is_empty())
            || arn.resource.strip_prefix("user/").is_some_and(|r| !r.is_empty());
        if arn.service != "iam" || !arn.region.is_empty() || !resource_ok {
            return Err(err());
        }
        Ok(PrincipalArn {
            account: arn.account.to_string(),
            arn: value,
        })
    }
}

impl JsonSchema for PrincipalArn {
    fn schema_name() -> Cow<'static, str> {
        "PrincipalArn".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // Printable ASCII without `*` and `?`: no wildcards.
        let name = "[!-)+->@-~]+";
        arn_schema(
            format!("^{PARTITION}:iam::[0-9]{{12}}:(root|role/{name}|user/{name})$"),
            "An IAM principal of the peer account: arn:aws:iam::<account>:root, :role/<name> or :user/<name>. Wildcards are never allowed.",
            "arn:aws:iam::111111111111:role/orders-task",
        )
    }
}

impl From<PrincipalArn> for String {
    fn from(a: PrincipalArn) -> String {
        a.arn
    }
}

/// The pieces of an ARN, borrowed.
struct Arn<'a> {
    service: &'a str,
    region: &'a str,
    account: &'a str,
    resource: &'a str,
}

impl<'a> Arn<'a> {
    fn parse(text: &'a str) -> Option<Arn<'a>> {
        let mut parts = text.splitn(6, ':');
        let (arn, partition) = (parts.next()?, parts.next()?);
        let (service, region, account, resource) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        let partition_ok = matches!(partition, "aws" | "aws-cn" | "aws-us-gov");
        let account_ok = account.len() == 12 && account.bytes().all(|b| b.is_ascii_digit());
        let text_ok = text.bytes().all(|b| b.is_ascii_graphic());
        (arn == "arn" && partition_ok && account_ok && text_ok).then_some(Arn {
            service,
            region,
            account,
            resource,
        })
    }
}
