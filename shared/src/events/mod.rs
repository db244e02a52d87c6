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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// An API call recorded by CloudTrail and delivered by EventBridge.
    ApiCall { name: String, subject: Subject },
    /// A recorded call that failed (`errorCode` set): it changed nothing.
    FailedApiCall { name: String, error_code: String },
    /// An EventBridge schedule.
    Scheduled,
    /// "Reconcile this peering": a direct invocation `{"reconcile": "pcx-…"}` or
    /// the accepter's "VPC Peering Accepted" event.
    Reconcile { peering: PeeringId },
}

impl Event {
    /// A short label for logs and errors.
    pub fn label(&self) -> String {
        match self {
            Event::ApiCall { name, .. } | Event::FailedApiCall { name, .. } => name.clone(),
            Event::Scheduled => "Scheduled Event".into(),
            Event::Reconcile { .. } => "reconcile".into(),
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
                "a direct invocation is {\"reconcile\": \"pcx-…\"} and nothing else",
            ));
        }
        let id = str_at(value, "payload", &["reconcile"])?.ok_or_else(|| err("reconcile must name a peering"))?;
        let peering = PeeringId::try_from(id.to_string()).map_err(|e| err(format!("reconcile: {e}")))?;
        return Ok(Event::Reconcile { peering });
    }
    let envelope: EventBridgeEvent<Value> =
        serde_json::from_value(value.clone()).map_err(|e| err(format!("not an EventBridge event: {e}")))?;
    let (source, kind) = (envelope.source.as_str(), envelope.detail_type.as_str());
    let detail = &envelope.detail;
    match (source, kind) {
        ("aws.events", "Scheduled Event") => Ok(Event::Scheduled),
        (PEERLINK_SOURCE, ACCEPTED_DETAIL_TYPE) => {
            let peering = id_at(detail, &[&["peeringId"]], "peering id")?;
            Ok(Event::Reconcile { peering })
        }
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
            })
        }
        _ => Err(err(format!(
            "unsupported event (source {source:?}, detail-type {kind:?}); expected a CloudTrail API call from aws.ec2 or aws.secretsmanager, a scheduled event, or {{\"reconcile\": \"pcx-…\"}}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cloudtrail(name: &str, detail_extra: Value) -> Value {
        let mut detail = json!({
            "eventVersion": "1.09",
            "eventSource": "ec2.amazonaws.com",
            "eventName": name,
            "awsRegion": "eu-west-1",
        });
        for (k, v) in detail_extra.as_object().unwrap() {
            detail[k] = v.clone();
        }
        json!({
            "version": "0",
            "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.ec2",
            "account": "111111111111",
            "time": "2026-11-20T10:00:00Z",
            "region": "eu-west-1",
            "resources": [],
            "detail": detail,
        })
    }

    #[test]
    fn sample_files_parse() {
        let create: Value =
            serde_json::from_str(include_str!("../../events/create-vpc-peering-connection.json")).unwrap();
        match parse(&create).unwrap() {
            Event::ApiCall {
                name,
                subject: Subject::Peering(id),
            } => {
                assert_eq!(name, "CreateVpcPeeringConnection");
                assert!(id.as_str().starts_with("pcx-"));
            }
            other => panic!("{other:?}"),
        }
        let sched: Value = serde_json::from_str(include_str!("../../events/scheduled.json")).unwrap();
        assert_eq!(parse(&sched).unwrap(), Event::Scheduled);
    }

    #[test]
    fn takes_only_the_id() {
        let e = cloudtrail(
            "CreateVpcPeeringConnection",
            json!({"responseElements": {"vpcPeeringConnection": {"vpcPeeringConnectionId": "pcx-0123456789abcdef0", "status": {"code": "active"}}}}),
        );
        assert_eq!(
            parse(&e).unwrap(),
            Event::ApiCall {
                name: "CreateVpcPeeringConnection".into(),
                subject: Subject::Peering("pcx-0123456789abcdef0".parse().unwrap())
            }
        );
    }

    #[test]
    fn maps_each_call_to_its_subject() {
        let cases = [
            (
                "CreateRoute",
                json!({"requestParameters": {"routeTableId": "rtb-0123456789abcdef0"}}),
                "route-table",
            ),
            (
                "RevokeSecurityGroupIngress",
                json!({"requestParameters": {"groupId": "sg-0123456789abcdef0"}}),
                "security-group",
            ),
            (
                "AcceptVpcPeeringConnection",
                json!({"requestParameters": {"vpcPeeringConnectionId": "pcx-0123456789abcdef0"}}),
                "peering",
            ),
            (
                "ModifyVpcPeeringConnectionOptions",
                json!({"requestParameters": {"ModifyVpcPeeringConnectionOptionsRequest": {"VpcPeeringConnectionId": "pcx-0123456789abcdef0"}}}),
                "peering",
            ),
            (
                "CreateRouteTable",
                json!({"requestParameters": {"vpcId": "vpc-0123456789abcdef0"}}),
                "vpc",
            ),
        ];
        for (name, extra, kind) in cases {
            let ev = parse(&cloudtrail(name, extra)).unwrap();
            let Event::ApiCall { subject, .. } = ev else { panic!() };
            assert_eq!(serde_json::to_value(&subject).unwrap()["kind"], kind, "{name}");
        }
        let mut secret = cloudtrail(
            "PutResourcePolicy",
            json!({"requestParameters": {"secretId": "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf"}}),
        );
        secret["source"] = json!("aws.secretsmanager");
        secret["detail"]["eventSource"] = json!("secretsmanager.amazonaws.com");
        assert!(matches!(
            parse(&secret).unwrap(),
            Event::ApiCall {
                subject: Subject::Secret(_),
                ..
            }
        ));
    }

    #[test]
    fn malformed_events_name_what_is_wrong() {
        let cases: Vec<(Value, &str)> = vec![
            (json!([1, 2]), "JSON object"),
            (json!({"source": "aws.ec2"}), "detail-type"),
            (cloudtrail("CreateVpcPeeringConnection", json!({})), "no peering id"),
            (
                cloudtrail(
                    "CreateVpcPeeringConnection",
                    json!({"responseElements": {"vpcPeeringConnection": {"vpcPeeringConnectionId": 42}}}),
                ),
                "vpcPeeringConnectionId must be a string",
            ),
            (
                cloudtrail(
                    "CreateVpcPeeringConnection",
                    json!({"responseElements": {"vpcPeeringConnection": {"vpcPeeringConnectionId": "pcx-../../etc"}}}),
                ),
                "invalid VPC peering connection id",
            ),
            (
                cloudtrail("CreateVpcPeeringConnection", json!({"responseElements": "oops"})),
                "detail.responseElements must be a JSON object",
            ),
            (cloudtrail("RunInstances", json!({})), "not one peerlink handles"),
            (
                json!({"version": "0", "detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}),
                "unsupported event",
            ),
            (json!({"reconcile": 7}), "reconcile must be a string"),
            (json!({"reconcile": "pcx-0123456789abcdef0", "x": 1}), "nothing else"),
            (
                json!({"reconcile": "vpc-0123456789abcdef0"}),
                "invalid VPC peering connection id",
            ),
            (json!({"padding": "x".repeat(MAX_EVENT_BYTES)}), "at most"),
        ];
        for (ev, expected) in cases {
            let e = parse(&ev).unwrap_err().to_string();
            assert!(e.contains(expected), "expected {expected:?} in {e:?}");
        }
        let mut wrong_type = cloudtrail("CreateVpcPeeringConnection", json!({}));
        wrong_type["detail"] = json!("text");
        assert!(
            parse(&wrong_type)
                .unwrap_err()
                .to_string()
                .contains("detail must be a JSON object")
        );
        let mut spoofed = cloudtrail("CreateVpcPeeringConnection", json!({}));
        spoofed["detail"]["eventSource"] = json!("evil.example.com");
        assert!(parse(&spoofed).unwrap_err().to_string().contains("eventSource"));
    }

    #[test]
    fn failed_calls_are_recognised() {
        let e = cloudtrail(
            "CreateVpcPeeringConnection",
            json!({"errorCode": "Client.UnauthorizedOperation", "errorMessage": "no"}),
        );
        assert_eq!(
            parse(&e).unwrap(),
            Event::FailedApiCall {
                name: "CreateVpcPeeringConnection".into(),
                error_code: "Client.UnauthorizedOperation".into()
            }
        );
    }
}

/// Every sample in `events/` parses, and the functions that accept it are
/// exactly those `events/handlers.json` lists.
#[cfg(test)]
mod samples {
    use super::*;

    fn accepted_by(event: &Event) -> Vec<&'static str> {
        let mut out = Vec::new();
        match event {
            Event::Scheduled => out.extend(["accepter", "finisher", "drift"]),
            Event::Reconcile { .. } => out.push("finisher"),
            Event::ApiCall { name, .. } => {
                if name == "CreateVpcPeeringConnection" {
                    out.push("accepter");
                }
                if crate::finisher::CALLS.contains(&name.as_str()) {
                    out.push("finisher");
                }
            }
            Event::FailedApiCall { .. } => {}
        }
        out
    }

    #[test]
    fn every_sample_matches_the_manifest() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../events");
        let manifest: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("handlers.json")).unwrap()).unwrap();
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            if !name.ends_with(".json") || name == "handlers.json" {
                continue;
            }
            let expected: Vec<&str> = manifest[&name]
                .as_array()
                .unwrap_or_else(|| panic!("{name} is missing from handlers.json"))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            let event: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let got = match parse(&event) {
                Ok(e) => accepted_by(&e),
                Err(e) => {
                    assert!(expected.is_empty(), "{name}: {e}");
                    Vec::new()
                }
            };
            assert_eq!(got, expected, "{name}");
            seen += 1;
        }
        assert!(seen >= 15, "{seen}");
    }
}
