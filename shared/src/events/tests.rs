//! Unit tests of event parsing, and the sample files against their manifest.
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
        serde_json::from_str(include_str!("../../../events/create-vpc-peering-connection.json")).unwrap();
    match parse(&create).unwrap() {
        Event::ApiCall {
            name,
            subject: Subject::Peering(id),
            account,
        } => {
            assert_eq!(name, "CreateVpcPeeringConnection");
            assert_eq!(account.as_deref(), Some("111111111111"), "the envelope's account");
            assert!(id.as_str().starts_with("pcx-"));
        }
        other => panic!("{other:?}"),
    }
    let sched: Value = serde_json::from_str(include_str!("../../../events/scheduled.json")).unwrap();
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
            subject: Subject::Peering("pcx-0123456789abcdef0".parse().unwrap()),
            account: Some("111111111111".into()),
        }
    );
}

#[test]
fn reconcile_all_is_a_direct_invocation() {
    assert_eq!(parse(&json!({"reconcile": "all"})).unwrap(), Event::ReconcileAll);
    assert!(parse(&json!({"reconcile": "everything"})).is_err());
}

#[test]
fn peerlink_decisions_carry_the_accepter_account_and_a_bounded_reason() {
    let rejected: Value = serde_json::from_str(include_str!("../../../events/peering-rejected.json")).unwrap();
    let Event::Decided {
        peering,
        account,
        announced: Announced::Rejected { reason, entry },
    } = parse(&rejected).unwrap()
    else {
        panic!("not a rejection")
    };
    assert_eq!(peering.as_str(), "pcx-0c5e2f1d3a4b5c6d7");
    assert_eq!(account.as_deref(), Some("222222222222"));
    assert!(reason.contains("outside allowed_cidrs"), "{reason}");
    assert_eq!(entry.as_deref(), Some("orders-ecs"));

    let mut long = rejected.clone();
    long["detail"]["reason"] = "x".repeat(10 * MAX_REASON_CHARS).into();
    let Ok(Event::Decided {
        announced: Announced::Rejected { reason, .. },
        ..
    }) = parse(&long)
    else {
        panic!("not a rejection")
    };
    assert_eq!(reason.chars().count(), MAX_REASON_CHARS);

    let forwarded: Value =
        serde_json::from_str(include_str!("../../../events/peering-accepted-forwarded.json")).unwrap();
    assert!(matches!(
        parse(&forwarded).unwrap(),
        Event::Decided {
            announced: Announced::Accepted,
            ..
        }
    ));
    let mut no_id = forwarded;
    no_id["detail"] = json!({});
    assert!(parse(&no_id).unwrap_err().to_string().contains("no peering id"));
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

fn continuation(detail: Value) -> Value {
    json!({
        "version": "0",
        "id": "8e2f4a61-3c5d-4b7e-9f10-2a3b4c5d6e7f",
        "detail-type": "Peerlink Continuation",
        "source": "peerlink",
        "account": "222222222222",
        "time": "2026-11-20T09:43:05Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    })
}

#[test]
fn a_continuation_names_its_function_and_what_was_left() {
    let e = continuation(json!({"function": "drift", "account": "222222222222", "left": 12}));
    assert_eq!(
        parse(&e).unwrap(),
        Event::Continue {
            function: Function::Drift,
            left: 12
        }
    );
    assert_eq!(parse(&e).unwrap().label(), "Peerlink Continuation (drift)");
    for (detail, wrong) in [
        (json!({"function": "everything", "left": 1}), "detail.function"),
        (json!({"left": 1}), "detail.function"),
        (json!({"function": 7, "left": 1}), "detail.function"),
        (json!({"function": "finisher"}), "detail.left"),
        (json!({"function": "finisher", "left": -1}), "detail.left"),
        (json!({"function": "finisher", "left": "12"}), "detail.left"),
    ] {
        let e = parse(&continuation(detail.clone())).unwrap_err();
        assert!(e.0.contains(wrong), "{detail}: {e}");
    }
}

/// Every sample in `events/` parses, and the functions that accept it are
/// exactly those `events/handlers.json` lists.
mod samples {
    use super::*;

    /// The functions that take `event`, as their own handlers decide: each
    /// runs against an empty in-memory account, and only an event error
    /// ("not an event I handle") counts as not taking it.
    async fn accepted_by(event: &Event) -> Vec<&'static str> {
        use crate::aws::memory::{Memory, World};
        use crate::error::Error;
        use crate::fixtures::{Entry, LOCAL_VPC, PEER, document, me};
        use crate::{Context, Deadline};
        let config = crate::config::Config::parse(
            &document("", &[Entry::new("orders", PEER, LOCAL_VPC, &["10.0.0.0/8"])]),
            "test",
        )
        .unwrap();
        let aws: std::sync::Arc<dyn crate::aws::Aws> = std::sync::Arc::new(Memory::new(World::default()));
        let ctx = Context::new(aws, me(), config, crate::settings::Settings::default());
        let takes = |r: Result<(), Error>| !matches!(r, Err(Error::Event(_)));
        let mut out = Vec::new();
        if takes(crate::accepter::handle(&ctx, event, Deadline::none()).await.map(drop)) {
            out.push("accepter");
        }
        if takes(crate::finisher::handle(&ctx, event, Deadline::none()).await.map(drop)) {
            out.push("finisher");
        }
        if takes(crate::drift::handle(&ctx, event, Deadline::none()).await.map(drop)) {
            out.push("drift");
        }
        out
    }

    #[tokio::test]
    async fn every_sample_matches_the_manifest() {
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
                Ok(e) => accepted_by(&e).await,
                Err(e) => {
                    assert!(expected.is_empty(), "{name}: {e}");
                    Vec::new()
                }
            };
            assert_eq!(got, expected, "{name}");
            seen += 1;
        }
        assert!(seen >= 18, "{seen}");
    }
}
