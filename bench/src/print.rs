//! The benchmark's tables: what `emulator-bench` prints from its results
//! (the same values it writes with `--json`).

use serde_json::Value;

use crate::hub;

/// A JSON value as table text (numbers without quotes, strings as they are).
fn cell(v: &Value) -> String {
    v.as_str().map_or_else(|| v.to_string(), str::to_string)
}

pub fn print_results(r: &Value) {
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
