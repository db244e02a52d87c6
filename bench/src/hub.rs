//! A platform team's hub behind the proxy that throttles as EC2's documented
//! token buckets do (and pages every Describe at 5): how long the accepter's
//! sweep and the finisher take to converge, in how many invocations, with how
//! many throttled answers and failed writes, against the floor (the time the
//! slowest bucket needs to admit every call made).

use std::time::Instant;

use peerlink::events::Function;
use peerlink::metrics::InvocationReport;
use peerlink::{Deadline, accepter, finisher};
use peerlink_tests::{ChainLink, Emulator, FaultProxy, Hub, chain, ec2_like, timeout};
use serde_json::{Value, json};

fn links(chain: &[ChainLink]) -> Value {
    chain
        .iter()
        .map(|l| json!({"event": l.event, "took_s": l.took_s, "count": l.count, "left": l.left}))
        .collect()
}

fn round(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// `accounts` × `per_account` spokes and `tables` route tables, the buckets
/// (and the functions' 120 s timeout) at `speedup` times EC2's rates.
pub async fn hub(emu: &Emulator, ids: &[String], per_account: usize, tables: usize, speedup: f64) -> Value {
    let spokes: Vec<&str> = ids[1..].iter().map(String::as_str).collect();
    let hub = Hub::build(emu, &ids[0], &spokes, per_account, tables).await;
    let proxy = FaultProxy::start(emu, 21);
    proxy.configure(&ec2_like(speedup, 5));
    let via = hub.role_via(emu, &proxy).await;
    let capture = hub.continuations().await;
    let deadline = || Deadline::within(timeout(speedup));

    let t0 = Instant::now();
    let sweeps = chain(&capture, Function::Accepter, async |event| {
        let ctx = hub.context(&via, speedup).await;
        let r = accepter::handle(&ctx, &event, deadline()).await.expect("accepter");
        (ctx, r.progress(), r.failures(), r.accepted.len())
    })
    .await;
    let sweep_s = t0.elapsed().as_secs_f64();
    let sweep = proxy.throttling();

    proxy.reset();
    let t0 = Instant::now();
    let finishes = chain(&capture, Function::Finisher, async |event| {
        let ctx = hub.context(&via, speedup).await;
        let r = finisher::handle(&ctx, &event, deadline()).await.expect("finisher");
        (ctx, r.progress(), r.failures(), r.done())
    })
    .await;
    let finish_s = t0.elapsed().as_secs_f64();
    let finish = proxy.throttling();
    assert_eq!(hub.unfinished_tables().await, vec![], "the hub is finished");
    let spokes = per_account * spokes.len();
    json!({
        "hub": format!("{spokes}x{tables}"), "speedup": speedup, "timeout_s": timeout(speedup).as_secs_f64(),
        "sweep": {
            "requests": spokes, "invocations": sweeps.len(), "seconds": round(sweep_s),
            "floor_s": round(sweep.floor_seconds), "throttled": sweep.throttled, "failed_writes": 0,
            "chain": links(&sweeps),
        },
        "finisher": {
            "invocations": finishes.len(), "seconds": round(finish_s), "floor_s": round(finish.floor_seconds),
            "ratio": round(finish_s / finish.floor_seconds), "throttled": finish.throttled,
            "admitted": finish.admitted, "failed_writes": 0, "chain": links(&finishes),
        },
    })
}

/// The hubs at EC2's own rates: 40x6 (38 s of refill), and, unless `short`,
/// 120x10 (230 s: several finisher invocations).
pub async fn run(emu: &Emulator, short: bool, account_id: fn() -> String) -> Vec<Value> {
    let cases: &[(usize, usize, usize)] = if short {
        &[(1, 40, 6)]
    } else {
        &[(1, 40, 6), (2, 60, 10)]
    };
    let mut rows = Vec::new();
    for &(accounts, per_account, tables) in cases {
        eprintln!("  hub: {accounts}x{per_account} spokes, {tables} route tables, EC2's rates");
        let ids: Vec<String> = (0..=accounts).map(|_| account_id()).collect();
        rows.push(hub(emu, &ids, per_account, tables, 1.0).await);
    }
    rows
}

pub fn print(rows: &[Value]) {
    println!("\nHub behind EC2's token buckets (proxy; Describe pages of 5; functions' timeout 120 s)");
    println!(
        "  {:<7} {:>7} | {:>6} {:>8} | {:>6} {:>9} {:>8} {:>6} {:>9} {:>7}",
        "hub", "speedup", "sweep", "seconds", "inv", "converge", "floor", "ratio", "throttled", "failed"
    );
    let num = |v: &Value| v.as_f64().unwrap_or(0.0);
    for r in rows {
        let (s, f) = (&r["sweep"], &r["finisher"]);
        println!(
            "  {:<7} {:>7} | {:>6} {:>8.1} | {:>6} {:>7.1} s {:>6.1} s {:>6.2} {:>9} {:>7}",
            r["hub"].as_str().unwrap_or(""),
            num(&r["speedup"]),
            num(&s["invocations"]),
            num(&s["seconds"]),
            num(&f["invocations"]),
            num(&f["seconds"]),
            num(&f["floor_s"]),
            num(&f["ratio"]),
            num(&f["throttled"]),
            num(&f["failed_writes"])
        );
    }
}
