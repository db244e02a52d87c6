//! Plan CPU time on a synthetic account (pure, no AWS): 1,000 peerings over
//! 10 local VPCs, 200 route tables per VPC, 50 user rules per security group.
//! Goal: under 50 ms per plan. `cargo bench -p peerlink-bench --bench plan`.

use peerlink::reconcile::plan::plan;
use peerlink_bench::synthetic::{Shape, account};

fn main() {
    divan::main();
}

const SHAPE: Shape = Shape {
    peerings: 1000,
    local_vpcs: 10,
    tables_per_vpc: 200,
    user_rules_per_group: 50,
    finished: true,
};

/// Steady state: everything in place, the plan is empty (the drift schedule's usual case).
#[divan::bench(sample_count = 20)]
fn steady_state_1000_peerings_200_tables(bencher: divan::Bencher) {
    let (config, obs) = account(SHAPE);
    bencher.bench_local(|| plan(divan::black_box(&config), divan::black_box(&obs)));
}

/// Nothing in place yet: 200,000 routes, 1,000 rules and 1,000 DNS changes to plan.
#[divan::bench(sample_count = 20)]
fn from_scratch_1000_peerings_200_tables(bencher: divan::Bencher) {
    let (config, obs) = account(Shape {
        finished: false,
        ..SHAPE
    });
    bencher.bench_local(|| plan(divan::black_box(&config), divan::black_box(&obs)));
}
