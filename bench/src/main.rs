//! `emulator-bench`: how many AWS calls peerlink makes, and how long its own
//! work takes, against the emulator (moto on loopback). Call counts are exact
//! (every call goes through the SDK interceptor that counts them); times are
//! indicative (the emulator is much slower than EC2, and this machine is shared).
//!
//! Usage: emulator-bench [--short | --hubs] [--json PATH]
//! `--short` (CI) runs the smaller cases only; `--hubs` only the hubs behind
//! EC2's token buckets (40x6 and 120x10, at EC2's own rates: about 6 minutes).

use std::time::{Duration, Instant};

use peerlink::aws::{Aws, CallSummary, Select};
use peerlink::config::DriftMode;
use peerlink::events::Event;
use peerlink::reconcile::{Scope, plan::plan};
use peerlink::{Context, Deadline, Mode};
use peerlink_bench::synthetic::{Shape, account};
use peerlink_tests::{Emulator, EventCapture, FaultProxy, Fleet, Grown, Link, connect_by_events};
use serde_json::{Value, json};

mod hub;

/// CPU time of this process (user + system): our work, not the emulator's,
/// which runs in its own process.
fn cpu_time() -> Duration {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

struct Measured<T> {
    value: T,
    calls: CallSummary,
    wall: Duration,
    cpu: Duration,
}

async fn measure<T>(ctx: &Context, work: impl std::future::Future<Output = T>) -> Measured<T> {
    ctx.calls().reset();
    let (t0, c0) = (Instant::now(), cpu_time());
    let value = work.await;
    Measured {
        value,
        calls: ctx.calls().summary(),
        wall: t0.elapsed(),
        cpu: cpu_time() - c0,
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0
}

fn describe_calls(c: &CallSummary) -> Value {
    c.by_operation
        .iter()
        .filter(|(k, _)| peerlink::aws::is_read(k))
        .map(|(k, v)| (k.clone(), json!(v.calls)))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

static NEXT_ACCOUNT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(800_000_000_000);

fn account_id() -> String {
    NEXT_ACCOUNT
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        .to_string()
}

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

/// A JSON value as table text (numbers without quotes, strings as they are).
fn cell(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

fn print_results(r: &Value) {
    hub::print(r["hubs"].as_array().map(Vec::as_slice).unwrap_or_default());
    print_rounds(r);
    print_calls(r);
    print_other(r);
}

/// Rounds and wall time per function; both sides connected by events.
fn print_rounds(r: &Value) {
    println!("\nDependent rounds of AWS calls per function (wall time bare | with every call held 30 ms)");
    let bare = r["rounds"][0]["rows"].as_array().cloned().unwrap_or_default();
    let slow = r["rounds"][1]["rows"].as_array().cloned().unwrap_or_default();
    println!(
        "  {:<10} {:<32} {:>6} {:>6} {:>6} | {:>9} {:>9}",
        "function", "case", "rounds", "reads", "writes", "bare ms", "30 ms"
    );
    for (b, s) in bare.iter().zip(&slow) {
        println!(
            "  {:<10} {:<32} {:>6} {:>6} {:>6} | {:>9} {:>9}",
            cell(&b["function"]),
            cell(&b["case"]),
            cell(&s["rounds"]),
            cell(&s["reads"]),
            cell(&s["writes"]),
            cell(&b["wall_ms"]),
            cell(&s["wall_ms"])
        );
    }
    println!("\nBoth sides connected by events alone (requester asks, accepter accepts, both finish)");
    for c in r["connect"].as_array().into_iter().flatten() {
        println!(
            "  latency {:>2} ms: {} invocations ({} scheduled), {} ms from the configuration applied to both sides finished",
            cell(&c["latency_ms"]),
            cell(&c["invocations"]),
            cell(&c["scheduled"]),
            cell(&c["wall_ms"])
        );
    }
    println!("\nPolicy bytes, one shared secret and key for N peerings' principals (limits 20,480 / 32,768)");
    for p in r["policies"].as_array().into_iter().flatten() {
        println!(
            "  {:>4} peerings: secret policy {:>6} bytes, key policy {:>6} bytes",
            cell(&p["peerings"]),
            cell(&p["secret_policy_bytes"]),
            cell(&p["key_policy_bytes"])
        );
    }
}

/// API calls per reconcile and per drift pass.
fn print_calls(r: &Value) {
    println!("\nAPI calls per reconcile of one peering (finisher, first pass then steady state)");
    println!(
        "  {:>6} {:>6} | {:>6} {:>6} {:>9} | {:>6} {:>6}",
        "tables", "groups", "reads", "writes", "expected", "reads", "writes"
    );
    for row in r["per_reconcile"].as_array().into_iter().flatten() {
        println!(
            "  {:>6} {:>6} | {:>6} {:>6} {:>9} | {:>6} {:>6}",
            cell(&row["route_tables"]),
            cell(&row["security_groups"]),
            cell(&row["first"]["reads"]),
            cell(&row["first"]["writes"]),
            cell(&row["first"]["expected_writes"]),
            cell(&row["steady"]["reads"]),
            cell(&row["steady"]["writes"])
        );
    }
    println!("\nDrift pass over N managed peerings (first pass repairs everything, then a steady pass)");
    println!(
        "  {:>6} | {:>6} {:>7} {:>9} {:>8} | {:>6} {:>6} {:>9} {:>8}",
        "N", "reads", "writes", "wall ms", "our cpu", "reads", "writes", "wall ms", "our cpu"
    );
    for row in r["drift"].as_array().into_iter().flatten() {
        println!(
            "  {:>6} | {:>6} {:>7} {:>9} {:>8} | {:>6} {:>6} {:>9} {:>8}",
            cell(&row["peerings"]),
            cell(&row["first"]["reads"]),
            cell(&row["first"]["writes"]),
            cell(&row["first"]["wall_ms"]),
            cell(&row["first"]["cpu_ms"]),
            cell(&row["steady"]["reads"]),
            cell(&row["steady"]["writes"]),
            cell(&row["steady"]["wall_ms"]),
            cell(&row["steady"]["cpu_ms"])
        );
    }
}

/// Plan CPU time, write concurrency, read batching.
fn print_other(r: &Value) {
    println!("\nPlan CPU time (pure, no AWS; goal < 50 ms)");
    for row in r["plan"].as_array().into_iter().flatten() {
        println!(
            "  {}: median {} ms (min {}, max {}), {} actions",
            cell(&row["shape"]),
            cell(&row["median_ms"]),
            cell(&row["min_ms"]),
            cell(&row["max_ms"]),
            cell(&row["actions"])
        );
    }
    println!("\nWrite concurrency (the same route writes, settings.write_concurrency)");
    for row in r["concurrency"].as_array().into_iter().flatten() {
        println!(
            "  concurrency {:>2}: {} writes in {} ms",
            cell(&row["write_concurrency"]),
            cell(&row["writes"]),
            cell(&row["wall_ms"])
        );
    }
    let b = &r["batching"];
    println!("\nRead batching (200 route tables)");
    println!(
        "  one filtered call: {} call(s), {} ms; one call per table: {} calls, {} ms ({}x)",
        b["filtered"]["calls"],
        b["filtered"]["wall_ms"],
        b["one_call_per_table"]["calls"],
        b["one_call_per_table"]["wall_ms"],
        b["speedup"]
    );
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
