//! Many invocations at once on the same peering, concurrent policy merges,
//! and a time budget that runs out: the same final state, no duplicates, no
//! failure for work another run already did.

use std::time::Duration;

use futures_util::future::join_all;
use peerlink::config::DriftMode;
use peerlink::outcome::WriteResult;
use peerlink::{Context, Deadline, accepter, drift, events, finisher};
use peerlink_tests::{Emulator, Link, create_event, scheduled_event};
use serde_json::{Value, json};

fn sids(policy: &Value) -> Vec<String> {
    let mut s: Vec<String> = policy["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|st| st["Sid"].as_str().map(str::to_string))
        .collect();
    s.sort();
    s
}

enum Call {
    Accepter(Value),
    Finisher(Value),
    Drift,
}

async fn invoke(ctx: &Context, call: &Call) -> Result<usize, String> {
    let failed = match call {
        Call::Accepter(e) => {
            let r = accepter::handle(ctx, &events::parse(e).unwrap(), Deadline::none())
                .await
                .map_err(|e| e.to_string())?;
            r.failed.len()
        }
        Call::Finisher(e) => {
            let r = finisher::handle(ctx, &events::parse(e).unwrap(), Deadline::none())
                .await
                .map_err(|e| e.to_string())?;
            r.failed().len()
        }
        Call::Drift => {
            let r = drift::run(ctx, DriftMode::Remediate, Deadline::none())
                .await
                .map_err(|e| e.to_string())?;
            r.reconcile.failed().len() + r.requests.failed.len()
        }
    };
    Ok(failed)
}

#[tokio::test]
async fn ten_invocations_at_once_converge() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "900000000001", "900000000002").await;
    let pcx = link.request().await;
    // Separate contexts: separate Lambda instances, sharing nothing but AWS.
    let mut b = Vec::new();
    let mut a = Vec::new();
    for _ in 0..7 {
        b.push(link.accepter.context(&link.accepter_config("")).await);
    }
    for _ in 0..3 {
        a.push(link.requester.context(&link.requester_config("")).await);
    }
    let calls = [
        (&b[0], Call::Accepter(create_event(&pcx))),
        (&b[1], Call::Accepter(create_event(&pcx))),
        (&b[2], Call::Accepter(scheduled_event())),
        (&b[3], Call::Finisher(json!({ "reconcile": pcx }))),
        (&b[4], Call::Finisher(scheduled_event())),
        (&b[5], Call::Drift),
        (&b[6], Call::Drift),
        (&a[0], Call::Finisher(json!({ "reconcile": pcx }))),
        (&a[1], Call::Finisher(scheduled_event())),
        (&a[2], Call::Drift),
    ];
    let results = join_all(calls.iter().map(|(ctx, call)| invoke(ctx, call))).await;
    for (i, r) in results.iter().enumerate() {
        assert_eq!(r, &Ok(0), "invocation {i} failed");
    }
    let accepts: u64 = b
        .iter()
        .map(|c| c.calls().summary().calls("AcceptVpcPeeringConnection"))
        .sum();
    assert!(accepts >= 1);
    assert_eq!(link.accepter.peering_status(&pcx).await, "active");

    // Whatever ran before the acceptance is finished by the next pass; then nothing is left.
    for ctx in [&b[0], &a[0]] {
        let r = drift::run(ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
        assert!(r.reconcile.failed().is_empty());
    }
    for ctx in [&b[0], &a[0]] {
        ctx.calls().reset();
        drift::run(ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
        assert_eq!(ctx.calls().summary().writes, 0, "converged");
    }

    // The same state as a quiet, sequential run on an identical link.
    let quiet = Link::new(emu, "900000000003", "900000000004").await;
    let qpcx = quiet.request().await;
    let qb = quiet.accepter.context(&quiet.accepter_config("")).await;
    let qa = quiet.requester.context(&quiet.requester_config("")).await;
    accepter::handle(&qb, &events::parse(&create_event(&qpcx)).unwrap(), Deadline::none())
        .await
        .unwrap();
    for ctx in [&qb, &qa] {
        drift::run(ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
    }
    // Whole routes (destination and target), rules and policy statements
    // (principals, actions, conditions), not counts or names.
    let busy = link.snapshot(&pcx).await;
    let calm = quiet.snapshot(&qpcx).await;
    assert_eq!(busy, calm, "ten invocations at once ended elsewhere than a quiet run");
    assert_eq!(busy["dns"], json!([[true, true], [true, true]]));
    assert_eq!(link.accepter.peering_dns(&pcx).await, (true, true));
}

/// Five peerings finishing at once all merge into the same secret and key
/// policies: every statement ends up there, the user's included.
#[tokio::test]
async fn concurrent_policy_merges_lose_nothing() {
    let emu = Emulator::shared();
    let accepter = emu.account("900000000010").await;
    let local = accepter.vpc(&["10.100.0.0/16"], 0).await;
    let secret = accepter.secret("shared-db", true).await;
    let mut cfg = String::new();
    let mut peerings = Vec::new();
    for i in 0..5 {
        let requester = emu.account(&format!("90000000002{i}")).await;
        let vpc = requester.vpc(&[&format!("10.{i}.0.0/16")], 0).await;
        cfg.push_str(&format!(
            "[[peer]]\nname = \"p{i}\"\npeer_account = \"{}\"\nallowed_cidrs = [\"10.{i}.0.0/16\"]\nlocal_vpc = \"{}\"\nauto_accept = true\n\n[peer.routes]\nselect = \"none\"\n\n[[peer.secrets]]\narn = \"{}\"\nprincipals = [\"arn:aws:iam::{}:role/app\"]\n\n",
            requester.id, local.id, secret.arn, requester.id
        ));
        let pcx = requester.request_peering(&vpc.id, &accepter.id, &local.id, None).await;
        accepter.accept(&pcx).await;
        peerings.push(pcx);
    }
    let mut ctxs = Vec::new();
    for _ in &peerings {
        ctxs.push(accepter.context(&cfg).await);
    }
    let runs = join_all(ctxs.iter().zip(&peerings).map(|(ctx, pcx)| async move {
        let event = events::Event::Reconcile {
            peering: pcx.parse().unwrap(),
        };
        finisher::handle(ctx, &event, Deadline::none()).await
    }))
    .await;
    for r in runs {
        let r = r.unwrap();
        assert!(r.failed().is_empty(), "{:#?}", r.failed());
    }
    // One statement of ours per policy, holding all five principals.
    let policy = accepter.secret_policy(&secret.arn).await.unwrap();
    assert_eq!(sids(&policy), vec!["PeerlinkRead".to_string(), "UserRotation".into()]);
    let principals = |doc: &serde_json::Value, sid: &str| -> usize {
        let st = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == sid)
            .unwrap();
        st["Principal"]["AWS"].as_array().map_or(1, Vec::len)
    };
    assert_eq!(principals(&policy, "PeerlinkRead"), 5, "{policy}");
    let key = accepter.key_policy(secret.key_arn.as_ref().unwrap()).await;
    assert_eq!(sids(&key).len(), 2 + 1, "{key}");
    assert_eq!(principals(&key, "PeerlinkDecrypt"), 5, "{key}");
}

/// When the time budget runs out, the rest is reported as not started and the
/// next run does it.
#[tokio::test]
async fn a_short_time_budget_stops_cleanly_and_the_next_run_finishes() {
    let emu = Emulator::shared();
    let link = Link::new(emu, "900000000030", "900000000031").await;
    let ctx = link.accepter.context(&link.accepter_config("")).await;
    let pcx = link.request().await;
    accepter::handle(&ctx, &events::parse(&create_event(&pcx)).unwrap(), Deadline::none())
        .await
        .unwrap();
    let out_of_time = Deadline::within(Duration::ZERO);
    let r = finisher::handle(
        &ctx,
        &events::Event::Reconcile {
            peering: pcx.parse().unwrap(),
        },
        out_of_time,
    )
    .await
    .unwrap();
    assert!(!r.actions.is_empty());
    assert!(
        r.actions.iter().all(|a| a.result == WriteResult::NotStarted),
        "{:#?}",
        r.actions
    );
    ctx.calls().reset();
    let next = finisher::handle(
        &ctx,
        &events::Event::Reconcile {
            peering: pcx.parse().unwrap(),
        },
        Deadline::none(),
    )
    .await
    .unwrap();
    assert_eq!(next.actions.len(), r.actions.len());
    assert!(next.failed().is_empty());
    ctx.calls().reset();
    finisher::handle(
        &ctx,
        &events::Event::Reconcile {
            peering: pcx.parse().unwrap(),
        },
        Deadline::none(),
    )
    .await
    .unwrap();
    assert_eq!(ctx.calls().summary().writes, 0);
}
