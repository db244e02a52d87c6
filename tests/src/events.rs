//! Sample events as EventBridge delivers them, with the ids a test needs,
//! and the accepter and the finisher run on an event (parse, then handle).

use peerlink::accepter::{self, AccepterReport};
use peerlink::reconcile::{self, Report, Scope};
use peerlink::{Context, Deadline, Mode, events, finisher};

use crate::workspace_root;

/// The sample event for `CreateVpcPeeringConnection`, with its peering id
/// replaced by `peering_id` (as the requester's CloudTrail would record it).
pub fn create_event(peering_id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join("events/create-vpc-peering-connection.json"))
        .expect("events/create-vpc-peering-connection.json");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("sample event is JSON");
    v["detail"]["responseElements"]["vpcPeeringConnection"]["vpcPeeringConnectionId"] = peering_id.into();
    v
}

/// The sample event for `CreateVpcPeeringConnection` of `peering_id`,
/// recorded in `account` (the requester's CloudTrail, forwarded).
pub fn create_event_in(peering_id: &str, account: &str) -> serde_json::Value {
    let mut v = create_event(peering_id);
    v["account"] = account.into();
    v
}

/// The sample scheduled event.
pub fn scheduled_event() -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join("events/scheduled.json")).expect("events/scheduled.json");
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// A CloudTrail event as EventBridge delivers it, for calls other than the
/// sample's (route, group, policy changes), built on the sample envelope.
pub fn cloudtrail_event(source: &str, name: &str, request_parameters: serde_json::Value) -> serde_json::Value {
    let mut v = create_event("pcx-0000000000000000a");
    v["source"] = source.into();
    v["detail"]["eventSource"] = format!("{}.amazonaws.com", source.trim_start_matches("aws.")).into();
    v["detail"]["eventName"] = name.into();
    v["detail"]["requestParameters"] = request_parameters;
    v["detail"]["responseElements"] = serde_json::Value::Null;
    v
}

/// The accepter's decision on the sample `CreateVpcPeeringConnection` event of `pcx`.
pub async fn decide(ctx: &Context, pcx: &str) -> AccepterReport {
    let event = events::parse(&create_event(pcx)).expect("sample event");
    accepter::handle(ctx, &event, Deadline::none()).await.expect("accepter")
}

/// The finisher on `event` (parsed as the Lambda parses it).
pub async fn finish(ctx: &Context, event: serde_json::Value) -> Report {
    let parsed = events::parse(&event).expect("valid event");
    finisher::handle(ctx, &parsed, Deadline::none())
        .await
        .expect("finisher")
}

/// One whole-account pass, applied (what the finisher's schedule runs).
pub async fn pass(ctx: &Context) -> Report {
    reconcile::run(ctx, Scope::All, Mode::Apply, Deadline::none())
        .await
        .expect("reconcile pass")
}

/// The writes of a pass that failed or never started, one line each.
pub fn failed_writes(report: &Report) -> Vec<String> {
    report
        .actions
        .iter()
        .filter(|a| a.result.failed())
        .map(|a| format!("{} {:?}", a.planned.action, a.result))
        .collect()
}
