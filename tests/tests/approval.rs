//! A human decision is as safe as an automatic one, on the emulator: a
//! request its entry leaves to a human is announced once with every check's
//! result; `peerlink approve` accepts it only after the accepter's own
//! checks (the human stands in for `auto_accept`, for nothing else) and
//! records who approved; a peering accepted outside peerlink (the console)
//! that fails the checks is reported by drift.

use peerlink::config::DriftMode;
use peerlink::events::Event;
use peerlink::finding::FindingKind;
use peerlink::fixtures::{self, Entry};
use peerlink::metrics::InvocationReport;
use peerlink::settings::Settings;
use peerlink::{Context, Deadline, accepter, drift};
use peerlink_tests::{Account, Emulator, EventCapture, TestVpc, decide, peerlink_as};
use serde_json::Value;

/// An accepter VPC, and an entry for `requester` that leaves requests to a
/// human (`auto_accept = false`), leaving refused ones pending too (`ignore`).
async fn setup(base: u64) -> (Account, Account, TestVpc, String) {
    let emu = Emulator::shared();
    let requester = emu.account(&base.to_string()).await;
    let accepter = emu.account(&(base + 1).to_string()).await;
    let local = accepter.vpc(&["10.8.0.0/16"], 1).await;
    let entry = Entry::new("orders", &requester.id, &local.id, &["10.0.0.0/15"]).auto_accept(false);
    let config = fixtures::document("unmatched_requests = \"ignore\"", &[entry]);
    (requester, accepter, local, config)
}

async fn announcing(account: &Account, config: &str) -> Context {
    Context {
        settings: Settings {
            event_bus: Some("default".into()),
            ..Settings::default()
        },
        ..account.context(config).await
    }
}

#[tokio::test]
async fn a_request_left_for_a_human_is_announced_once_with_every_check() {
    let (requester, accepter, local, config) = setup(690_000_000_001).await;
    let ctx = announcing(&accepter, &config).await;
    let capture = EventCapture::start(&accepter).await;
    let vpc = requester.vpc(&["10.0.0.0/16"], 0).await;
    let pcx = requester.request_peering(&vpc.id, &accepter.id, &local.id, None).await;
    let report = decide(&ctx, &pcx).await;
    assert_eq!(report.left_pending, vec![pcx.clone()], "{report:#?}");
    assert!(
        report.metrics().contains(&("LeftForApproval", 1)),
        "{:?}",
        report.metrics()
    );
    let announced = capture.next().await;
    assert_eq!(announced["detail-type"], "VPC Peering Awaiting Approval", "{announced}");
    let d = &announced["detail"];
    assert_eq!(d["peeringId"], pcx.as_str());
    assert_eq!(d["requesterAccount"], requester.id.as_str());
    assert_eq!(d["requesterVpc"], vpc.id.as_str());
    assert_eq!(d["requesterCidrs"], serde_json::json!(["10.0.0.0/16"]));
    assert_eq!(d["accepterVpc"], local.id.as_str());
    assert_eq!(d["entry"], "orders");
    assert!(d["reason"].as_str().unwrap_or("").contains("auto-accept"), "{d}");
    let checks: Vec<(&str, bool)> = d["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["check"].as_str().unwrap(), c["ok"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        checks,
        [
            ("allowlist", true),
            ("allowed-ranges", true),
            ("local-overlap", true),
            ("peer-overlap", true),
            ("quota", true),
            ("auto-accept", false)
        ],
        "{d}"
    );
    // The sweeps that follow do not announce it again.
    ctx.calls().reset();
    let again = accepter::handle(&ctx, &Event::Scheduled, Deadline::none())
        .await
        .unwrap();
    assert_eq!(again.left_pending, vec![pcx.clone()]);
    assert!(again.metrics().contains(&("LeftForApproval", 1)));
    assert_eq!(ctx.calls().summary().calls("PutEvents"), 0, "announced once");
    assert_eq!(accepter.peering_status(&pcx).await, "pending-acceptance");
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[tokio::test]
async fn peerlink_approve_accepts_only_what_passes_the_checks_and_records_who() {
    let emu = Emulator::shared();
    let (requester, accepter, local, config) = setup(691_000_000_001).await;
    let good_vpc = requester.vpc(&["10.0.0.0/16"], 0).await;
    let good = requester
        .request_peering(&good_vpc.id, &accepter.id, &local.id, None)
        .await;
    // Overlapping the local VPC: no human makes that safe.
    let bad_vpc = requester.vpc(&["10.1.0.0/16"], 0).await;
    let bad_local = accepter.vpc(&["10.1.0.0/16"], 0).await;
    let both = format!(
        "{config}{}",
        Entry::new("orders-b", &requester.id, &bad_local.id, &["10.0.0.0/15"])
            .auto_accept(false)
            .toml()
    );
    let dir = std::env::temp_dir().join(format!("peerlink-approve-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("accepter.toml");
    std::fs::write(&path, &both).unwrap();
    let file = path.to_str().unwrap();
    let bad = requester
        .request_peering(&bad_vpc.id, &accepter.id, &bad_local.id, None)
        .await;

    let refused = peerlink_as(emu, &accepter, &["approve", &bad, "--config", file, "--json"]);
    assert_eq!(refused.status.code(), Some(2), "refused: {refused:?}");
    let out = json(&refused);
    // Refused for what makes it unsafe (left pending here: `ignore` mode).
    assert_eq!(out["outcomes"][0]["verdict"], "leave-pending", "{out}");
    assert!(out["accepted"].as_array().unwrap().is_empty(), "{out}");
    assert!(
        out["outcomes"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("overlaps 10.1.0.0/16 of the local VPC"),
        "{out}"
    );
    assert_eq!(
        accepter.peering_status(&bad).await,
        "pending-acceptance",
        "nothing written"
    );

    let approved = peerlink_as(emu, &accepter, &["approve", &good, "--config", file, "--json"]);
    assert_eq!(approved.status.code(), Some(0), "{approved:?}");
    let out = json(&approved);
    assert_eq!(out["accepted"], serde_json::json!([good]), "{out}");
    let who = out["outcomes"][0]["approved_by"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(who.contains(&accepter.id) && who.starts_with("arn:aws:"), "{out}");
    assert_eq!(accepter.peering_status(&good).await, "active");
    // Approved through peerlink: drift does not report it as accepted outside.
    let ctx = accepter.context(&both).await;
    let d = drift::run(&ctx, DriftMode::Report, Deadline::none()).await.unwrap();
    assert_eq!(d.reconcile.count(FindingKind::AcceptedOutsidePeerlink), 0, "{d:#?}");

    // The text output names each check.
    let text = peerlink_as(emu, &accepter, &["approve", &bad, "--config", file]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert_eq!(text.status.code(), Some(2));
    assert!(
        stdout.contains("local-overlap") && stdout.contains("refused"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn drift_reports_a_peering_accepted_outside_peerlink_that_fails_the_checks() {
    let (requester, accepter, local, config) = setup(692_000_000_001).await;
    // Accepted in the console: one inside the allowed ranges, one outside.
    let fine_vpc = requester.vpc(&["10.0.0.0/16"], 0).await;
    let fine = requester
        .request_peering(&fine_vpc.id, &accepter.id, &local.id, None)
        .await;
    let outside_vpc = requester.vpc(&["172.31.0.0/16"], 0).await;
    let outside = requester
        .request_peering(&outside_vpc.id, &accepter.id, &local.id, None)
        .await;
    accepter.accept(&fine).await;
    accepter.accept(&outside).await;
    let ctx = accepter.context(&config).await;
    let d = drift::run(&ctx, DriftMode::Report, Deadline::none()).await.unwrap();
    let found: Vec<_> = d
        .reconcile
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::AcceptedOutsidePeerlink)
        .collect();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].peering.as_deref(), Some(outside.as_str()));
    assert!(found[0].message.contains("172.31.0.0/16"), "{:?}", found[0]);
    assert!(found[0].fix.contains("AcceptVpcPeeringConnection"), "{:?}", found[0]);
}
