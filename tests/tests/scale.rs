//! Call counts are deterministic, so their flatness is asserted: the reads of
//! a reconcile do not grow with the route tables of the VPC, nor those of a
//! drift pass with the number of peerings, beyond pagination.

use peerlink::config::DriftMode;
use peerlink::reconcile::Scope;
use peerlink::{Deadline, Mode, drift, reconcile};
use peerlink_tests::{Emulator, Fleet, Grown, differ_only_by_pagination};

#[tokio::test]
async fn reconcile_reads_are_flat_from_1_to_200_route_tables() {
    let emu = Emulator::shared();
    let mut steady = Vec::new();
    for (tables, a, b) in [
        (1, "920000000001", "920000000002"),
        (200, "920000000003", "920000000004"),
    ] {
        let g = Grown::build(emu, a, b, tables, 1).await;
        let ctx = g.accepter.context(&g.config).await;
        let scope = Scope::Peerings(vec![g.peering.clone()]);
        ctx.calls().reset();
        reconcile::run(&ctx, scope.clone(), Mode::Apply, Deadline::none())
            .await
            .unwrap();
        let first = ctx.calls().summary();
        assert_eq!(
            first.writes as usize,
            tables + 1 + 1 + 1,
            "a route per table, a rule, the DNS option, our tag on the group"
        );
        ctx.calls().reset();
        reconcile::run(&ctx, scope, Mode::Apply, Deadline::none())
            .await
            .unwrap();
        let s = ctx.calls().summary();
        assert_eq!(s.writes, 0);
        println!(
            "{tables:>3} route tables: first pass {} reads, {} writes; steady {} reads",
            first.reads, first.writes, s.reads
        );
        steady.push(s);
    }
    differ_only_by_pagination(&steady[0], &steady[1], 199, 100).unwrap();
}

#[tokio::test]
async fn drift_reads_are_flat_from_10_to_1000_peerings() {
    let emu = Emulator::shared();
    let mut steady = Vec::new();
    for (n, a, b) in [
        (10, "920000000011", "920000000012"),
        (1000, "920000000013", "920000000014"),
    ] {
        let fleet = Fleet::build(emu, a, b, n, 20).await;
        let ctx = fleet.accepter.context(&fleet.config).await;
        let first = drift::run(&ctx, DriftMode::Remediate, Deadline::none()).await.unwrap();
        assert_eq!(first.summary.managed, n);
        assert_eq!(first.summary.failed, 0, "{:?}", first.reconcile.failed().first());
        ctx.calls().reset();
        let report = drift::run(&ctx, DriftMode::Report, Deadline::none()).await.unwrap();
        let kinds: std::collections::BTreeMap<&str, usize> =
            report.reconcile.actions.iter().fold(Default::default(), |mut m, a| {
                *m.entry(a.planned.action.kind()).or_default() += 1;
                m
            });
        assert_eq!(
            report.summary.drift_found,
            0,
            "{kinds:?} {:?} first: {:?}",
            report.reconcile.actions.first(),
            first.summary
        );
        let s = ctx.calls().summary();
        assert_eq!(s.writes, 0);
        println!(
            "{n:>4} peerings: steady drift pass {} reads {:?}",
            s.reads, s.by_operation
        );
        steady.push(s);
    }
    differ_only_by_pagination(&steady[0], &steady[1], 990, 1000).unwrap();
}
