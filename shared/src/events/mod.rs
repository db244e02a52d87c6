//! What an invocation asks for. An event is only a hint naming *which* peering
//! (or route table, group, secret) to look at: everything else in it was written
//! by whoever made the call, possibly the peer, and is never used. The engine
//! re-reads the real state from AWS.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use serde::Serialize;
use serde_json::Value;

use crate::ids::{PeeringId, RouteTableId, SecurityGroupId, VpcId};

/// `source` of the events peerlink publishes itself.
pub const PEERLINK_SOURCE: &str = "peerlink";
/// `detail-type` of the event the accepter publishes after accepting.
pub const ACCEPTED_DETAIL_TYPE: &str = "VPC Peering Accepted";
/// `detail-type` of the event the accepter publishes after rejecting.
pub const REJECTED_DETAIL_TYPE: &str = "VPC Peering Rejected";
/// `detail-type` of the event the accepter publishes, once, for a request
/// its entry leaves to a human (the stack routes it to the notification
/// topic). No function acts on it.
pub const AWAITING_APPROVAL_DETAIL_TYPE: &str = "VPC Peering Awaiting Approval";
/// `detail-type` of the event a pass that ran out of time publishes to ask
/// for its own continuation (each function's rule matches its `function`).
pub const CONTINUATION_DETAIL_TYPE: &str = "Peerlink Continuation";
/// The longest reason kept from a rejection event (the rest is cut): it is
/// another account's text, logged, never acted on.
pub const MAX_REASON_CHARS: usize = 1024;
/// EventBridge refuses events above 256 KiB; anything larger did not come from it.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

const CLOUDTRAIL: &str = "AWS API Call via CloudTrail";

/// An event we cannot act on. Nothing is written to AWS when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid event: {0}")]
pub struct EventError(pub String);

/// What a CloudTrail event names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", content = "id", rename_all = "kebab-case")]
pub enum Subject {
    Peering(PeeringId),
    RouteTable(RouteTableId),
    SecurityGroup(SecurityGroupId),
    Vpc(VpcId),
    /// A secret name or ARN as given to Secrets Manager.
    Secret(String),
}

/// The three functions, by the names their events and metrics use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, strum::IntoStaticStr, strum::EnumString)]
#[serde(rename_all = "kebab-case")]
#[strum(serialize_all = "kebab-case")]
pub enum Function {
    Accepter,
    Finisher,
    Drift,
}

impl Function {
    pub const ALL: [Function; 3] = [Function::Accepter, Function::Finisher, Function::Drift];

    pub fn name(self) -> &'static str {
        self.into()
    }

    pub fn from_name(name: &str) -> Option<Function> {
        name.parse().ok()
    }
}

/// What an accepter announced about a peering.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Announced {
    Accepted,
    /// With the accepter's reason and the entry that matched, in its words.
    Rejected {
        reason: String,
        entry: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// An API call recorded by CloudTrail and delivered by EventBridge.
    /// `account` is the envelope's: where the call was made (another
    /// account's, when its event was forwarded here).
    ApiCall {
        name: String,
        subject: Subject,
        account: Option<String>,
    },
    /// A recorded call that failed (`errorCode` set): it changed nothing.
    FailedApiCall { name: String, error_code: String },
    /// An EventBridge schedule.
    Scheduled,
    /// "Reconcile this peering": a direct invocation `{"reconcile": "pcx-…"}`.
    Reconcile { peering: PeeringId },
    /// "Reconcile everything now": `{"reconcile": "all"}`, e.g. right after
    /// a configuration change, so a request it declares is made at once.
    ReconcileAll,
    /// A peerlink accepter's decision (`source: peerlink`), published in this
    /// account or forwarded from the accepter's (`account`). A hint only: the
    /// finisher re-reads the peering from EC2.
    Decided {
        peering: PeeringId,
        account: Option<String>,
        announced: Announced,
    },
    /// "Go on": a pass of `function` ran out of time with `left` items
    /// to do (`source: peerlink`, "Peerlink Continuation"). A hint like every
    /// event: it only makes that function run a whole-account pass. `left`
    /// only bounds the chain (a continued pass asks again only when fewer
    /// items are left), so a forged one can at most run one more pass.
    Continue { function: Function, left: u64 },
}

impl Event {
    /// A short label for logs and errors.
    pub fn label(&self) -> String {
        match self {
            Event::ApiCall { name, .. } | Event::FailedApiCall { name, .. } => name.clone(),
            Event::Scheduled => "Scheduled Event".into(),
            Event::Reconcile { .. } | Event::ReconcileAll => "reconcile".into(),
            Event::Decided {
                announced: Announced::Accepted,
                ..
            } => ACCEPTED_DETAIL_TYPE.into(),
            Event::Decided { .. } => REJECTED_DETAIL_TYPE.into(),
            Event::Continue { function, .. } => format!("{CONTINUATION_DETAIL_TYPE} ({})", function.name()),
        }
    }
}

fn err(msg: impl Into<String>) -> EventError {
    EventError(msg.into())
}

/// Follows `path` through nested objects and returns the string there.
/// `Ok(None)` when a key is absent; an error naming the path when a value has
/// the wrong type.
fn str_at<'a>(root: &'a Value, base: &str, path: &[&str]) -> Result<Option<&'a str>, EventError> {
    let mut cur = root;
    let mut at = base.to_string();
    for key in path {
        if cur.is_null() {
            return Ok(None);
        }
        let Some(obj) = cur.as_object() else {
            return Err(err(format!("{at} must be a JSON object")));
        };
        at = format!("{at}.{key}");
        match obj.get(*key) {
            None | Some(Value::Null) => return Ok(None),
            Some(v) => cur = v,
        }
    }
    match cur {
        Value::String(s) => Ok(Some(s)),
        _ => Err(err(format!("{at} must be a string"))),
    }
}

/// The first of several places an id may be, validated with `T`'s rules.
fn id_at<T>(detail: &Value, paths: &[&[&str]], what: &str) -> Result<T, EventError>
where
    T: TryFrom<String, Error = crate::ids::IdError>,
{
    for path in paths {
        if let Some(text) = str_at(detail, "detail", path)? {
            return T::try_from(text.to_string()).map_err(|e| err(format!("detail.{}: {e}", path.join("."))));
        }
    }
    let places: Vec<String> = paths.iter().map(|p| format!("detail.{}", p.join("."))).collect();
    Err(err(format!("no {what} in the event (looked at {})", places.join(", "))))
}

const PEERING_PATHS: &[&[&str]] = &[
    &["responseElements", "vpcPeeringConnection", "vpcPeeringConnectionId"],
    &["requestParameters", "vpcPeeringConnectionId"],
    &[
        "requestParameters",
        "ModifyVpcPeeringConnectionOptionsRequest",
        "VpcPeeringConnectionId",
    ],
];

/// The API calls peerlink knows how to map to what they touch.
pub const KNOWN_CALLS: &[&str] = &[
    "CreateVpcPeeringConnection",
    "AcceptVpcPeeringConnection",
    "RejectVpcPeeringConnection",
    "DeleteVpcPeeringConnection",
    "ModifyVpcPeeringConnectionOptions",
    "CreateRoute",
    "ReplaceRoute",
    "DeleteRoute",
    "CreateRouteTable",
    "AssociateRouteTable",
    "RevokeSecurityGroupIngress",
    "RevokeSecurityGroupEgress",
    "ModifyVpcAttribute",
    "PutResourcePolicy",
    "DeleteResourcePolicy",
];

fn subject_of(name: &str, detail: &Value) -> Result<Subject, EventError> {
    let req = |key: &'static str| -> Vec<&'static str> { vec!["requestParameters", key] };
    Ok(match name {
        "CreateVpcPeeringConnection" => Subject::Peering(id_at(detail, &PEERING_PATHS[..1], "peering id")?),
        "AcceptVpcPeeringConnection"
        | "RejectVpcPeeringConnection"
        | "DeleteVpcPeeringConnection"
        | "ModifyVpcPeeringConnectionOptions" => Subject::Peering(id_at(detail, PEERING_PATHS, "peering id")?),
        "CreateRoute" | "ReplaceRoute" | "DeleteRoute" | "AssociateRouteTable" => {
            Subject::RouteTable(id_at(detail, &[&req("routeTableId")], "route table id")?)
        }
        "CreateRouteTable" | "ModifyVpcAttribute" => Subject::Vpc(id_at(detail, &[&req("vpcId")], "VPC id")?),
        "RevokeSecurityGroupIngress" | "RevokeSecurityGroupEgress" => {
            Subject::SecurityGroup(id_at(detail, &[&req("groupId")], "security group id")?)
        }
        "PutResourcePolicy" | "DeleteResourcePolicy" => {
            let id = str_at(detail, "detail", &req("secretId"))?
                .ok_or_else(|| err("no secret in the event (looked at detail.requestParameters.secretId)"))?;
            let ok = !id.is_empty()
                && id.len() <= 2048
                && id
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_+=.@-:".contains(&b));
            if !ok {
                return Err(err(format!(
                    "detail.requestParameters.secretId {id:?} is not a secret name or ARN"
                )));
            }
            Subject::Secret(id.to_string())
        }
        other => {
            return Err(err(format!(
                "CloudTrail event {other:?} is not one peerlink handles (known: {})",
                KNOWN_CALLS.join(", ")
            )));
        }
    })
}

/// Parses an invocation payload. Errors name the field that is wrong.
pub fn parse(value: &Value) -> Result<Event, EventError> {
    let size = serde_json::to_vec(value).map(|v| v.len()).unwrap_or(usize::MAX);
    if size > MAX_EVENT_BYTES {
        return Err(err(format!(
            "payload is {size} bytes; EventBridge events are at most {MAX_EVENT_BYTES} bytes"
        )));
    }
    let Some(obj) = value.as_object() else {
        return Err(err("the payload must be a JSON object"));
    };
    if obj.contains_key("reconcile") {
        if obj.len() != 1 {
            return Err(err(
                "a direct invocation is {\"reconcile\": \"pcx-…\"} (or \"all\") and nothing else",
            ));
        }
        let id = str_at(value, "payload", &["reconcile"])?.ok_or_else(|| err("reconcile must name a peering"))?;
        if id == "all" {
            return Ok(Event::ReconcileAll);
        }
        let peering = PeeringId::try_from(id.to_string()).map_err(|e| err(format!("reconcile: {e}")))?;
        return Ok(Event::Reconcile { peering });
    }
    let envelope: EventBridgeEvent<Value> =
        serde_json::from_value(value.clone()).map_err(|e| err(format!("not an EventBridge event: {e}")))?;
    let (source, kind) = (envelope.source.as_str(), envelope.detail_type.as_str());
    let account = envelope
        .account
        .clone()
        .filter(|a| crate::ids::AccountId::try_from(a.clone()).is_ok());
    let detail = &envelope.detail;
    match (source, kind) {
        ("aws.events", "Scheduled Event") => Ok(Event::Scheduled),
        (PEERLINK_SOURCE, ACCEPTED_DETAIL_TYPE | REJECTED_DETAIL_TYPE) => {
            let peering = id_at(detail, &[&["peeringId"]], "peering id")?;
            let announced = if kind == ACCEPTED_DETAIL_TYPE {
                Announced::Accepted
            } else {
                let reason = str_at(detail, "detail", &["reason"])?.unwrap_or("(no reason given)");
                let entry = str_at(detail, "detail", &["entry"])?;
                Announced::Rejected {
                    reason: reason.chars().take(MAX_REASON_CHARS).collect(),
                    entry: entry.map(|e| e.chars().take(64).collect()),
                }
            };
            Ok(Event::Decided {
                peering,
                account,
                announced,
            })
        }
        (PEERLINK_SOURCE, CONTINUATION_DETAIL_TYPE) => continuation(detail),
        ("aws.ec2" | "aws.secretsmanager", CLOUDTRAIL) => {
            if !detail.is_object() {
                return Err(err("detail must be a JSON object"));
            }
            let name = str_at(detail, "detail", &["eventName"])?.ok_or_else(|| err("detail.eventName is missing"))?;
            let expected_source = format!("{}.amazonaws.com", source.trim_start_matches("aws."));
            match str_at(detail, "detail", &["eventSource"])? {
                Some(s) if s == expected_source => {}
                Some(s) => {
                    return Err(err(format!(
                        "detail.eventSource is {s:?} but the event's source is {source:?}"
                    )));
                }
                None => return Err(err("detail.eventSource is missing")),
            }
            if let Some(code) = str_at(detail, "detail", &["errorCode"])? {
                return Ok(Event::FailedApiCall {
                    name: name.to_string(),
                    error_code: code.to_string(),
                });
            }
            let subject = subject_of(name, detail)?;
            Ok(Event::ApiCall {
                name: name.to_string(),
                subject,
                account,
            })
        }
        _ => Err(err(format!(
            "unsupported event (source {source:?}, detail-type {kind:?}); expected a CloudTrail API call from aws.ec2 or aws.secretsmanager, a scheduled event, or {{\"reconcile\": \"pcx-…\"}}"
        ))),
    }
}

/// A continuation's detail: `{"function", "account", "left"}`.
fn continuation(detail: &Value) -> Result<Event, EventError> {
    let name = str_at(detail, "detail", &["function"])?.ok_or_else(|| err("detail.function is missing"))?;
    let function = Function::from_name(name).ok_or_else(|| {
        err(format!(
            "detail.function {name:?} is not one of accepter, finisher, drift"
        ))
    })?;
    let left = detail
        .get("left")
        .and_then(Value::as_u64)
        .ok_or_else(|| err("detail.left must be a whole number (the items the pass left)"))?;
    Ok(Event::Continue { function, left })
}

#[cfg(test)]
mod tests;
