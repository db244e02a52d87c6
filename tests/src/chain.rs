//! The whole link driven by events only, as the two stacks deliver them: the
//! requester's finisher asked once (as after a configuration change), the
//! request's CloudTrail event reaching the accepter (as the requester's
//! forwarding rule delivers it), the accepter's announcement reaching both
//! finishers (its own bus, and the requester's through the forwarding rule).
//! No schedule is invoked. The announcements are read back from the
//! emulator's EventBridge (a rule on the default bus to a queue), not
//! re-created by the test.

use std::time::{Duration, Instant};

use peerlink::events::{self, Event};
use peerlink::{Context, Deadline, accepter, finisher};

use crate::{Account, create_event_in};

/// Captures what an account publishes with `source: peerlink` on its default bus.
pub struct EventCapture {
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    account: String,
}

impl EventCapture {
    pub async fn start(account: &Account) -> EventCapture {
        Self::matching(account, "peerlink-announcements", r#"{"source": ["peerlink"]}"#).await
    }

    /// Captures what matches `pattern` on the default bus, through a rule and
    /// a queue both called `name`.
    pub async fn matching(account: &Account, name: &str, pattern: &str) -> EventCapture {
        let sqs = aws_sdk_sqs::Client::new(&account.sdk);
        let events = aws_sdk_eventbridge::Client::new(&account.sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(name)
            .send()
            .await
            .expect("CreateQueue")
            .queue_url()
            .expect("queue url")
            .to_string();
        let arn = format!("arn:aws:sqs:{}:{}:{name}", crate::REGION, account.id);
        events
            .put_rule()
            .name(name)
            .event_pattern(pattern)
            .send()
            .await
            .expect("PutRule");
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(arn)
            .build()
            .expect("target");
        events
            .put_targets()
            .rule(name)
            .targets(target)
            .send()
            .await
            .expect("PutTargets");
        EventCapture {
            sqs,
            queue_url,
            account: account.id.clone(),
        }
    }

    /// The next announcement (waits up to 10 s), with the envelope's
    /// `account` that EventBridge sets and the emulator leaves out.
    pub async fn next(&self) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(1)
                .send()
                .await
                .expect("ReceiveMessage");
            if let Some(m) = out.messages().first() {
                if let Some(handle) = m.receipt_handle() {
                    let _ = self
                        .sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
                let mut event: serde_json::Value =
                    serde_json::from_str(m.body().expect("body")).expect("an EventBridge event");
                if event.get("account").is_none() {
                    event["account"] = self.account.clone().into();
                }
                return event;
            }
            assert!(Instant::now() < deadline, "no announcement arrived");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// What the chain took.
#[derive(Debug)]
pub struct Chain {
    pub peering: String,
    /// Every invocation, in order: function and event.
    pub invocations: Vec<String>,
    /// From the requester's first invocation to both sides finished.
    pub wall: Duration,
}

impl Chain {
    pub fn scheduled(&self) -> usize {
        self.invocations.iter().filter(|i| i.contains("Scheduled")).count()
    }
}

async fn finish(ctx: &Context, event: &Event, who: &str, log: &mut Vec<String>) -> peerlink::reconcile::Report {
    log.push(format!("finisher ({who}): {}", event.label()));
    let report = finisher::handle(ctx, event, Deadline::none()).await.expect("finisher");
    assert!(report.failed().is_empty(), "{who}: {report:#?}");
    report
}

/// Runs the chain. `requester_ctx` declares the request; `accepter_ctx`
/// publishes on its default bus, read back through `capture`.
pub async fn connect_by_events(
    requester: &Account,
    requester_ctx: &Context,
    accepter_ctx: &Context,
    capture: &EventCapture,
) -> Chain {
    let mut log = Vec::new();
    let t0 = Instant::now();
    // The configuration was applied: the requester's finisher is asked once.
    let asked = finish(requester_ctx, &Event::ReconcileAll, "requester", &mut log).await;
    assert!(asked.kinds().contains(&"create-peering-request"), "{asked:#?}");
    let peering = requester_ctx
        .aws
        .describe_peerings(None)
        .await
        .expect("peerings")
        .into_iter()
        .find(|p| p.requester.account == requester.id && !p.status.is_gone())
        .expect("the request")
        .id;
    // Its CloudTrail event, recorded in the requester account, forwarded.
    let created = events::parse(&create_event_in(&peering, &requester.id)).expect("event");
    log.push(format!("accepter: {}", created.label()));
    let decided = accepter::handle(accepter_ctx, &created, Deadline::none())
        .await
        .expect("accepter");
    assert_eq!(decided.accepted, vec![peering.clone()], "{decided:#?}");
    // The announcement, as published: to the accepter's finisher and, forwarded, the requester's.
    let announced = events::parse(&capture.next().await).expect("announcement");
    finish(accepter_ctx, &announced, "accepter", &mut log).await;
    finish(requester_ctx, &announced, "requester", &mut log).await;
    Chain {
        peering,
        invocations: log,
        wall: t0.elapsed(),
    }
}
