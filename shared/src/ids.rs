//! Validated AWS identifiers. Every id that comes from configuration or from an
//! event passes through one of these types, so a malformed id is rejected with a
//! message naming what is wrong before any AWS call is made.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind} {value:?}: {expected}")]
pub struct IdError {
    pub kind: &'static str,
    pub value: String,
    pub expected: &'static str,
}

/// EC2 resource ids are a prefix and 8 (old style) or 17 lowercase hex digits.
fn is_ec2_id(value: &str, prefix: &str) -> bool {
    value
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|hex| {
            (hex.len() == 8 || hex.len() == 17) && hex.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

macro_rules! ec2_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(value: String) -> Result<Self, IdError> {
                if is_ec2_id(&value, $prefix) {
                    Ok(Self(value))
                } else {
                    Err(IdError {
                        kind: $kind,
                        value,
                        expected: concat!("expected \"", $prefix, "-\" followed by 8 or 17 lowercase hex digits"),
                    })
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::try_from(s.to_string())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "-([0-9a-f]{8}|[0-9a-f]{17})$"),
                    "description": concat!("A ", $kind, ": \"", $prefix, "-\" followed by 8 or 17 lowercase hex digits."),
                })
            }
        }
    };
}

ec2_id!(
    /// `vpc-…`
    VpcId, "vpc", "VPC id"
);
ec2_id!(
    /// `pcx-…`
    PeeringId, "pcx", "VPC peering connection id"
);
ec2_id!(
    /// `rtb-…`
    RouteTableId, "rtb", "route table id"
);
ec2_id!(
    /// `subnet-…`
    SubnetId, "subnet", "subnet id"
);
ec2_id!(
    /// `sg-…`
    SecurityGroupId, "sg", "security group id"
);
ec2_id!(
    /// `eni-…`
    NetworkInterfaceId, "eni", "network interface id"
);

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountId(String);

impl AccountId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for AccountId {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        if value.len() == 12 && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Self(value))
        } else {
            Err(IdError {
                kind: "account id",
                value,
                expected: "expected exactly 12 digits",
            })
        }
    }
}

impl std::str::FromStr for AccountId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_string())
    }
}

impl From<AccountId> for String {
    fn from(id: AccountId) -> String {
        id.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for AccountId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl JsonSchema for AccountId {
    fn schema_name() -> Cow<'static, str> {
        "AccountId".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "pattern": "^[0-9]{12}$",
            "description": "An AWS account id: exactly 12 digits, as a string.",
        })
    }
}

/// An AWS region name such as `eu-west-1` (lowercase words and a number, joined by dashes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Region(String);

impl Region {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The partition of a region, as ARNs are written in it (`aws`, `aws-cn`,
/// `aws-us-gov`).
pub fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

impl TryFrom<String> for Region {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, IdError> {
        let parts: Vec<&str> = value.split('-').collect();
        let ok = parts.len() >= 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
            && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        if ok {
            Ok(Self(value))
        } else {
            Err(IdError {
                kind: "region",
                value,
                expected: "expected a region name such as \"eu-west-1\"",
            })
        }
    }
}

impl std::str::FromStr for Region {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Self::try_from(s.to_string())
    }
}

impl From<Region> for String {
    fn from(id: Region) -> String {
        id.0
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for Region {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl JsonSchema for Region {
    fn schema_name() -> Cow<'static, str> {
        "Region".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            // Three or more lowercase words joined by dashes, the last a number.
            "pattern": "^[a-z0-9]+(-[a-z0-9]+)+-[0-9]+$",
            "description": "An AWS region name such as \"eu-west-1\".",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ec2_ids_need_prefix_and_hex() {
        assert!("vpc-0123abcd".parse::<VpcId>().is_ok());
        assert!("vpc-0123456789abcdef0".parse::<VpcId>().is_ok());
        assert!("pcx-0123456789abcdef0".parse::<PeeringId>().is_ok());
        for bad in [
            "vpc-0123ABCD",
            "vpc-0123abc",
            "vpc-0123abcdz",
            "pcx-0123abcd",
            "vpc0123abcd",
            "vpc-0123abcd ",
            "vpc-0123456789abcdef",
            "",
            "vpc-../../etc",
        ] {
            let err = bad.parse::<VpcId>().unwrap_err();
            assert_eq!(err.kind, "VPC id", "{bad}");
            assert!(err.to_string().contains("vpc-"), "{err}");
        }
    }

    #[test]
    fn account_ids_are_twelve_digits() {
        assert!("111111111111".parse::<AccountId>().is_ok());
        for bad in ["11111111111", "1111111111111", "11111111111a", " 111111111111"] {
            let err = bad.parse::<AccountId>().unwrap_err();
            assert!(err.to_string().contains("12 digits"), "{err}");
        }
    }

    #[test]
    fn regions_have_a_shape() {
        for good in ["eu-west-1", "us-gov-west-1", "ap-southeast-4"] {
            assert!(good.parse::<Region>().is_ok(), "{good}");
        }
        for bad in ["eu-west", "EU-WEST-1", "eu_west_1", "eu--1", ""] {
            assert!(bad.parse::<Region>().is_err(), "{bad}");
        }
    }
}
