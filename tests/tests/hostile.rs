//! Hostile and malformed input: every case of `tests/hostile/cases.json` (and a few
//! generated ones: huge, deeply nested, another account's peering, a payload
//! claiming what EC2 does not confirm) gives a clear error or a logged no-op
//! (a failed call; a peering of other accounts, forwarded with their events),
//! and zero writes reach AWS — counted by the fault proxy in front of the
//! emulator, not by our own code.

use peerlink::{Context, Deadline, Error, accepter, events, finisher};
use peerlink_tests::{Emulator, FaultProxy, Link, create_event, create_event_in, workspace_root};
use serde_json::{Value, json};

/// Runs the event through the accepter and the finisher (as the Lambda does:
/// parse, then handle). `Ok` carries a note when the handler made no decision.
async fn both(accepter_ctx: &Context, finisher_ctx: &Context, event: &Value) -> Vec<Result<String, String>> {
    let mut out = Vec::new();
    match events::parse(event) {
        Err(e) => {
            out.push(Err(Error::from(e).to_string()));
        }
        Ok(parsed) => {
            out.push(
                accepter::handle(accepter_ctx, &parsed, Deadline::none())
                    .await
                    .map(|r| format!("accepted {:?} rejected {:?} note {:?}", r.accepted, r.rejected, r.note))
                    .map_err(|e| e.to_string()),
            );
            out.push(
                finisher::handle(finisher_ctx, &parsed, Deadline::none())
                    .await
                    .map(|r| format!("{} actions, note {:?}", r.actions.len(), r.note))
                    .map_err(|e| e.to_string()),
            );
        }
    }
    out
}

/// `base` with a JSON merge patch (RFC 7386) applied.
fn merged(base: &Value, patch: &Value) -> Value {
    let Some(changes) = patch.as_object() else {
        return patch.clone();
    };
    let mut out = base.as_object().cloned().unwrap_or_default();
    for (key, change) in changes {
        if change.is_null() {
            out.remove(key);
        } else {
            let merged = merged(out.get(key).unwrap_or(&Value::Null), change);
            out.insert(key.clone(), merged);
        }
    }
    Value::Object(out)
}

#[tokio::test]
async fn hostile_events_fail_clearly_and_write_nothing() {
    let emu = Emulator::shared();
    let proxy = FaultProxy::start(emu, 1);
    let link = Link::new(emu, "930000000001", "930000000002").await;
    // The functions talk to AWS through the proxy, which counts what reaches it.
    let b = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let accepter_ctx = b.context(&link.accepter_config("")).await;
    let finisher_ctx = b.context(&link.accepter_config("")).await;
    let pending = link.request().await;

    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(workspace_root().join("events/create-vpc-peering-connection.json")).unwrap(),
    )
    .unwrap();
    let corpus: Value =
        serde_json::from_str(&std::fs::read_to_string(workspace_root().join("tests/hostile/cases.json")).unwrap())
            .unwrap();
    let mut cases: Vec<(String, Value, String)> = Vec::new();
    for (name, case) in corpus.as_object().unwrap().iter().filter(|(k, _)| !k.starts_with('_')) {
        let event = match (case.get("patch"), case.get("event")) {
            (Some(patch), None) => merged(&base, patch),
            (None, Some(event)) => event.clone(),
            _ => panic!("{name}: a case has a \"patch\" or an \"event\""),
        };
        cases.push((name.clone(), event, case["expect"].as_str().unwrap().to_string()));
    }
    assert!(cases.len() >= 20, "the corpus is all there");

    // Generated: too big for EventBridge, nested past any sane depth.
    let mut huge = create_event(&pending);
    huge["detail"]["requestParameters"]["padding"] = json!("x".repeat(300 * 1024));
    cases.push(("huge".into(), huge, "EventBridge events are at most".into()));
    // Nested where the parser reads (the peering id), as text parsed the way
    // the runtime parses a payload: past serde_json's depth limit (128) the
    // runtime refuses it before any handler runs; below it, the parser
    // names the field.
    let nested_text = |depth: usize| {
        let mut text = create_event_in(&pending, &link.accepter.id).to_string();
        let id = format!("\"{pending}\"");
        let deep = format!("{}\"bottom\"{}", "{\"d\":".repeat(depth), "}".repeat(depth));
        text = text.replacen(&id, &deep, 1);
        text
    };
    let refused = serde_json::from_str::<Value>(&nested_text(200)).unwrap_err();
    assert!(refused.to_string().contains("recursion limit exceeded"), "{refused}");
    let nested: Value = serde_json::from_str(&nested_text(120)).expect("within the runtime's depth limit");
    cases.push((
        "deeply nested".into(),
        nested,
        "vpcPeeringConnectionId must be a string".into(),
    ));
    // Another account's peering with a third account, forwarded here with the
    // rest of the requester's events: well-formed, not ours to see, a no-op.
    let stranger = emu.account("930000000003").await;
    let other = emu.account("930000000004").await;
    let sv = stranger.vpc(&["10.60.0.0/16"], 0).await;
    let ov = other.vpc(&["10.61.0.0/16"], 0).await;
    let theirs = stranger.request_peering(&sv.id, &other.id, &ov.id, None).await;
    let forwarded = create_event_in(&theirs, &stranger.id);
    cases.push(("another account's peering".into(), forwarded, "not visible".into()));

    proxy.reset();
    for (name, event, why) in &cases {
        for result in both(&accepter_ctx, &finisher_ctx, event).await {
            match (why.as_str(), result) {
                ("no-op", Ok(note)) => assert!(note.contains("failed with"), "{name}: {note}"),
                ("not visible", Ok(note)) => assert!(note.contains("is not visible to this account"), "{name}: {note}"),
                ("no-op" | "not visible", Err(e)) => panic!("{name}: expected a no-op, got {e}"),
                (_, Ok(note)) => {
                    // Only the finisher may see a failed call as a no-op: nothing else is Ok.
                    panic!("{name}: expected an error with {why:?}, got {note}")
                }
                (_, Err(e)) => assert!(e.contains(why.as_str()), "{name}: expected {why:?} in {e:?}"),
            }
        }
    }
    let stats = proxy.stats();
    assert_eq!(stats["totals"]["forwarded_writes"], 0, "writes reached AWS: {stats}");
    assert_eq!(link.accepter.peering_status(&pending).await, "pending-acceptance");
    assert_eq!(stranger.peering_status(&theirs).await, "pending-acceptance");
}

/// The event claims a safe, allowed, active peering; EC2 says it is a pending
/// request from an account nobody listed. EC2 wins.
#[tokio::test]
async fn an_event_claiming_what_ec2_does_not_confirm_is_judged_on_ec2() {
    let emu = Emulator::shared();
    let proxy = FaultProxy::start(emu, 2);
    let link = Link::new(emu, "930000000011", "930000000012").await;
    let intruder = emu.account("930000000013").await;
    let iv = intruder.vpc(&["10.0.0.0/16"], 0).await;
    let pcx = intruder
        .request_peering(&iv.id, &link.accepter.id, &link.accepter_vpc.id, None)
        .await;
    let mut forged = create_event_in(&pcx, &link.requester.id);
    let claimed = &mut forged["detail"]["responseElements"]["vpcPeeringConnection"];
    claimed["requesterVpcInfo"]["ownerId"] = json!(link.requester.id);
    claimed["requesterVpcInfo"]["vpcId"] = json!(link.requester_vpc.id);
    claimed["status"] = json!({"code": "active", "message": "Active"});
    forged["detail"]["userIdentity"]["accountId"] = json!(link.requester.id);

    let b = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let ctx = b.context(&link.accepter_config("")).await;
    proxy.reset();
    let report = accepter::handle(&ctx, &events::parse(&forged).unwrap(), Deadline::none())
        .await
        .unwrap();
    assert_eq!(report.rejected, vec![pcx.clone()], "{report:#?}");
    assert!(
        report.outcomes[0]
            .decision
            .reason
            .contains("930000000013 is not in the allowlist")
    );
    let stats = proxy.stats();
    assert_eq!(
        stats["actions"]["AcceptVpcPeeringConnection"]["forwarded"]
            .as_u64()
            .unwrap_or(0),
        0,
        "{stats}"
    );
    assert_eq!(stats["totals"]["forwarded_writes"], 1, "only the reject: {stats}");
    assert_eq!(link.accepter.peering_status(&pcx).await, "rejected");
}
