//! `emulator-bench`: how many AWS calls peerlink makes, and how long its own
//! work takes, against the emulator (moto on loopback). Call counts are exact
//! (every call goes through the SDK interceptor that counts them); times are
//! indicative (the emulator is much slower than EC2, and this machine is shared).
//!
//! Usage: emulator-bench [--short | --hubs] [--json PATH]
//! `--short` (CI) runs the smaller cases only; `--hubs` only the hubs behind
//! EC2's token buckets (40x6 and 120x10, at EC2's own rates: about 6 minutes).

use std::time::Instant;

use peerlink::aws::{Aws, Select};
use peerlink::config::DriftMode;
use peerlink::events::Event;
use peerlink::reconcile::{Scope, plan::plan};
use peerlink::{Deadline, Mode};
use peerlink_bench::synthetic::{Shape, account};
use peerlink_tests::{Emulator, EventCapture, FaultProxy, Fleet, Grown, Link, connect_by_events};
use serde_json::{Value, json};

mod hub;
mod measure;
mod print;

use measure::{Measured, account_id, cpu_time, describe_calls, measure, ms};
use print::print_results;

/// One peering, its accepter VPC grown to `tables` route tables and `groups`
/// security groups with a rule each: the finisher's first pass and a second one.
async fn per_reconcile(emu: &Emulator, tables: usize, groups: usize) -> Value {
    let grown = Grown::build(emu, &account_id(), &account_id(), tables, groups).await;
    let (accepter, cfg, pcx) = (&grown.accepter, &grown.config, &grown.peering);
    let ctx = accepter.unpaced_context(cfg).await;
    let scope = Scope::Peerings(vec![pcx.clone()]);
    let first = measure(
        &ctx,
        peerlink::reconcile::run(&ctx, scope.clone(), Mode::Apply, Deadline::none()),
    )
    .await;
    let steady = measure(
        &ctx,
        peerlink::reconcile::run(&ctx, scope, Mode::Apply, Deadline::none()),
    )
    .await;
    // A route per table, a rule per group, the DNS option, our tag on each group,
    // and the peering tag that records which grants this side made.
    let expected_writes = tables + 2 * groups + 2;
    assert_eq!(first.calls.writes as usize, expected_writes, "writes = missing items");
    assert_eq!(steady.calls.writes, 0, "steady state writes nothing");
    assert!(first.value.expect("reconcile").failed().is_empty());
    json!({
        "route_tables": tables, "security_groups": groups,
        "first": {"reads": first.calls.reads, "writes": first.calls.writes, "expected_writes": expected_writes, "wall_ms": ms(first.wall), "cpu_ms": ms(first.cpu)},
        "steady": {"reads": steady.calls.reads, "writes": steady.calls.writes, "wall_ms": ms(steady.wall), "cpu_ms": ms(steady.cpu)},
        "reads_by_operation": describe_calls(&steady.calls),
    })
}

/// A drift pass over `n` managed peerings (10 local VPCs, or fewer for small n).
async fn drift_pass(emu: &Emulator, n: usize) -> Value {
    let t0 = Instant::now();
    // 20 local VPCs whatever n: the read counts depend on them, not on n (and
    // 50 peerings per security group stays under its default quota of 60 rules).
    let fleet = Fleet::build(emu, &account_id(), &account_id(), n, 20).await;
    let setup = t0.elapsed();
    let ctx = fleet.accepter.unpaced_context(&fleet.config).await;
    let first = measure(&ctx, peerlink::drift::run(&ctx, DriftMode::Remediate, Deadline::none())).await;
    let first_report = first.value.expect("drift");
    assert_eq!(first_report.summary.managed, n);
    assert_eq!(first_report.summary.failed, 0);
    let steady = measure(&ctx, peerlink::drift::run(&ctx, DriftMode::Report, Deadline::none())).await;
    assert_eq!(steady.calls.writes, 0);
    assert_eq!(steady.value.expect("drift").summary.drift_found, 0);
    json!({
        "peerings": n, "setup_s": (setup.as_secs_f64() * 10.0).round() / 10.0,
        "first": {"reads": first.calls.reads, "writes": first.calls.writes, "wall_ms": ms(first.wall), "cpu_ms": ms(first.cpu)},
        "steady": {"reads": steady.calls.reads, "writes": steady.calls.writes, "wall_ms": ms(steady.wall), "cpu_ms": ms(steady.cpu)},
        "reads_by_operation": describe_calls(&steady.calls),
    })
}

/// Plan CPU time on the synthetic account, median of `runs`.
fn plan_cpu(finished: bool, runs: usize) -> Value {
    let shape = Shape {
        peerings: 1000,
        local_vpcs: 10,
        tables_per_vpc: 200,
        user_rules_per_group: 50,
        finished,
    };
    let (config, obs) = account(shape);
    let mut samples = Vec::new();
    let mut actions = 0;
    for _ in 0..runs {
        let c0 = cpu_time();
        let p = plan(&config, &obs);
        samples.push(cpu_time() - c0);
        actions = p.actions.len();
    }
    samples.sort();
    json!({
        "shape": format!("{} peerings x {} route tables x {} SG rules ({})", shape.peerings, shape.tables_per_vpc, shape.user_rules_per_group, if finished { "steady state" } else { "from scratch" }),
        "actions": actions, "runs": runs,
        "median_ms": ms(samples[runs / 2]), "min_ms": ms(samples[0]), "max_ms": ms(samples[runs - 1]),
        "goal_ms": 50,
    })
}

/// The same 100 route writes with different write concurrency.
async fn concurrency(emu: &Emulator, limit: usize) -> Value {
    let requester = emu.account(&account_id()).await;
    let accepter = emu.account(&account_id()).await;
    let rv = requester.vpc(&["10.0.0.0/16"], 0).await;
    let local = accepter.vpc(&["10.1.0.0/16"], 0).await;
    for i in 1..100 {
        accepter.route_table(&local.id, &[("Name", &format!("t{i}"))]).await;
    }
    let cfg = format!(
        "[settings]\nwrite_concurrency = {limit}\n\n[[peer]]\nname = \"app\"\npeer_account = \"{}\"\nallowed_cidrs = [\"10.0.0.0/16\"]\nlocal_vpc = \"{}\"\n\n[peer.dns]\nremote_resolution = false\n",
        requester.id, local.id
    );
    let pcx = requester.request_peering(&rv.id, &accepter.id, &local.id, None).await;
    accepter.accept(&pcx).await;
    let ctx = accepter.unpaced_context(&cfg).await;
    let obs = peerlink::reconcile::observe::observe(&ctx, &Scope::Peerings(vec![pcx]))
        .await
        .expect("observe");
    let actions = plan(&ctx.config, &obs).actions;
    let n = actions.len();
    let m = measure(&ctx, peerlink::reconcile::apply::apply(&ctx, actions, Deadline::none())).await;
    json!({"write_concurrency": limit, "writes": m.calls.writes, "planned": n, "wall_ms": ms(m.wall)})
}

/// Reading 200 route tables: one filtered, paginated call against one call per table.
async fn batching(emu: &Emulator) -> Value {
    let acct = emu.account(&account_id()).await;
    let vpc = acct.vpc(&["10.1.0.0/16"], 0).await;
    let mut ids = vec![vpc.main_table.clone()];
    for i in 1..200 {
        ids.push(acct.route_table(&vpc.id, &[("Name", &format!("t{i}"))]).await);
    }
    // Batching, not pacing, is measured here: the emulator does not throttle.
    let clients = peerlink::aws::Clients::new(&acct.sdk, &peerlink::aws::Buckets::unpaced());
    let t0 = Instant::now();
    let batched = clients
        .describe_route_tables(Select::Vpcs(std::slice::from_ref(&vpc.id)))
        .await
        .expect("batched");
    let batched_wall = t0.elapsed();
    let batched_calls = clients.calls.summary().reads;
    clients.calls.reset();
    let t0 = Instant::now();
    for id in &ids {
        clients
            .describe_route_tables(Select::Ids(std::slice::from_ref(id)))
            .await
            .expect("one");
    }
    let naive_wall = t0.elapsed();
    let naive_calls = clients.calls.summary().reads;
    assert_eq!(batched.len(), 200);
    json!({
        "route_tables": 200,
        "filtered": {"calls": batched_calls, "wall_ms": ms(batched_wall)},
        "one_call_per_table": {"calls": naive_calls, "wall_ms": ms(naive_wall)},
        "speedup": (naive_wall.as_secs_f64() / batched_wall.as_secs_f64() * 10.0).round() / 10.0,
    })
}

/// Dependent rounds and wall time of each function, against the emulator
/// behind a proxy that holds every call `latency_ms` (0: the bare emulator).
async fn rounds(emu: &Emulator, latency_ms: u64) -> Value {
    let link = Link::new(emu, &account_id(), &account_id()).await;
    let proxy = FaultProxy::start(emu, 11);
    proxy.configure(&json!({ "latency_ms": latency_ms }));
    let accepter = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let requester = emu.account_via(&proxy.endpoint, &link.requester.id).await;
    let actx = accepter.context(&link.accepter_config("")).await;
    let rctx = requester.context(&link.requester_config("")).await;
    let pcx = link.request().await;
    let mut rows = Vec::new();
    let mut row = |function: &str, case: &str, m: Measured<()>| {
        rows.push(json!({
            "function": function, "case": case, "rounds": m.calls.rounds,
            "reads": m.calls.reads, "writes": m.calls.writes, "wall_ms": ms(m.wall),
        }));
    };
    let created = peerlink::events::parse(&peerlink_tests::create_event(&pcx)).expect("event");
    let m = measure(&actx, async {
        peerlink::accepter::handle(&actx, &created, Deadline::none())
            .await
            .expect("accepter");
    })
    .await;
    row("accepter", "a new request", m);
    let reconcile = Event::Reconcile {
        peering: pcx.parse().expect("id"),
    };
    for (ctx, side) in [(&actx, "accepter side"), (&rctx, "requester side")] {
        let m = measure(ctx, async {
            peerlink::finisher::handle(ctx, &reconcile, Deadline::none())
                .await
                .expect("finisher");
        })
        .await;
        row("finisher", &format!("a new peering, {side}"), m);
    }
    let m = measure(&actx, async {
        peerlink::accepter::handle(&actx, &Event::Scheduled, Deadline::none())
            .await
            .expect("sweep");
    })
    .await;
    row("accepter", "steady (scheduled sweep)", m);
    let m = measure(&actx, async {
        peerlink::finisher::handle(&actx, &Event::Scheduled, Deadline::none())
            .await
            .expect("finisher");
    })
    .await;
    row("finisher", "steady (scheduled)", m);
    let m = measure(&actx, async {
        peerlink::drift::run(&actx, DriftMode::Remediate, Deadline::none())
            .await
            .expect("drift");
    })
    .await;
    row("drift", "steady", m);
    json!({ "latency_ms": latency_ms, "rows": rows })
}

/// The link from "both configurations say so" to "both sides finished", by
/// events alone (no schedule): invocations and wall time.
async fn connect(emu: &Emulator, latency_ms: u64) -> Value {
    let link = Link::new(emu, &account_id(), &account_id()).await;
    let proxy = FaultProxy::start(emu, 13);
    proxy.configure(&json!({ "latency_ms": latency_ms }));
    let accepter = emu.account_via(&proxy.endpoint, &link.accepter.id).await;
    let requester = emu.account_via(&proxy.endpoint, &link.requester.id).await;
    let rctx = requester.context(&link.asking_config("")).await;
    let mut actx = accepter.context(&link.accepter_config("")).await;
    actx.settings.event_bus = Some("default".into());
    let capture = EventCapture::start(&link.accepter).await;
    let chain = connect_by_events(&link.requester, &rctx, &actx, &capture).await;
    assert_eq!(chain.scheduled(), 0);
    json!({
        "latency_ms": latency_ms, "invocations": chain.invocations.len(), "scheduled": chain.scheduled(),
        "wall_ms": ms(chain.wall), "chain": chain.invocations,
    })
}

/// Bytes of a secret's resource policy and of its key's policy when `n`
/// peerings' principals read one shared secret on one shared key (beside
/// the user statements of the fixture), against AWS's limits.
fn policy_bytes(n: usize) -> Value {
    use peerlink::config::PrincipalArn;
    use peerlink::reconcile::policy::{self, KEY_POLICY_MAX, SECRET_POLICY_MAX};
    let principals: Vec<PrincipalArn> = (0..n)
        .map(|i| {
            PrincipalArn::try_from(format!("arn:aws:iam::{:012}:role/orders-task", 100_000_000_000 + i)).expect("arn")
        })
        .collect();
    let who = principals.iter().collect();
    let secret = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:orders-db-AbCdEf";
    let user = json!({"Version": "2012-10-17", "Statement": [{"Sid": "UserRotation", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:role/rotation"}, "Action": "secretsmanager:*", "Resource": "*"}]});
    let key_user = json!({"Version": "2012-10-17", "Statement": [{"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "kms:*", "Resource": "*"}]});
    let grant = |current: &Value, wanted: Value| {
        let change = policy::change_to(Some(current), Some(wanted)).expect("a change");
        policy::size(&policy::merge(Some(current), &change))
    };
    let secret_bytes = grant(&user, policy::read_statement(&who));
    let key_bytes = grant(
        &key_user,
        policy::decrypt_statement(&who, "eu-west-1", &std::collections::BTreeSet::from([secret])),
    );
    json!({
        "peerings": n, "secret_policy_bytes": secret_bytes, "secret_limit": SECRET_POLICY_MAX,
        "key_policy_bytes": key_bytes, "key_limit": KEY_POLICY_MAX,
    })
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let short = args.iter().any(|a| a == "--short");
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned();
    let emu = Emulator::start();
    eprintln!(
        "emulator-bench: emulator at {} ({} mode)",
        emu.endpoint,
        if short { "short" } else { "full" }
    );
    if args.iter().any(|a| a == "--hubs") {
        let hubs = hub::run(&emu, false, account_id).await;
        hub::print(&hubs);
        write(json_path, &json!({ "hubs": hubs }));
        return;
    }

    let mut per = Vec::new();
    let table_cases: &[usize] = if short { &[1, 200] } else { &[1, 10, 100, 200] };
    for &tables in table_cases {
        for groups in [1, 20] {
            eprintln!("  reconcile: {tables} route tables, {groups} groups");
            per.push(per_reconcile(&emu, tables, groups).await);
        }
    }
    let mut drift = Vec::new();
    let sizes: &[usize] = if short { &[10, 100] } else { &[10, 100, 1000] };
    for &n in sizes {
        eprintln!("  drift pass: {n} peerings");
        drift.push(drift_pass(&emu, n).await);
    }
    let runs = if short { 5 } else { 21 };
    let plan_rows = vec![plan_cpu(true, runs), plan_cpu(false, runs)];
    let mut conc = Vec::new();
    for limit in [1, 4, 16] {
        eprintln!("  concurrency {limit}");
        conc.push(concurrency(&emu, limit).await);
    }
    eprintln!("  rounds (bare, then every call held 30 ms)");
    let round_rows = vec![rounds(&emu, 0).await, rounds(&emu, 30).await];
    eprintln!("  connecting by events");
    let connect_rows = vec![connect(&emu, 0).await, connect(&emu, 30).await];
    let policies: Vec<Value> = [10, 50, 120].into_iter().map(policy_bytes).collect();
    let hubs = hub::run(&emu, short, account_id).await;
    let results = json!({
        "hubs": hubs,
        "rounds": round_rows,
        "connect": connect_rows,
        "policies": policies,
        "machine": {"cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0), "profile": if cfg!(debug_assertions) { "debug" } else { "release" }},
        "short": short,
        "per_reconcile": per,
        "drift": drift,
        "plan": plan_rows,
        "concurrency": conc,
        "batching": batching(&emu).await,
    });
    print_results(&results);
    write(json_path, &results);
}

fn write(json_path: Option<String>, results: &Value) {
    if let Some(path) = json_path {
        if let Some(dir) = std::path::Path::new(&path).parent() {
            std::fs::create_dir_all(dir).expect("results directory");
        }
        std::fs::write(&path, serde_json::to_string_pretty(results).expect("json")).expect("write results");
        eprintln!("emulator-bench: wrote {path}");
    }
}
