//! Many managed peerings, or one peering in a grown VPC: the scale tests and
//! the benchmarks.

use peerlink::fixtures::{self, Entry};

use crate::{Account, Emulator};

/// Many managed peerings for scale tests and benchmarks: `peerings` requester
/// VPCs (10.x.y.0/24) in one account, each peered with one of `local_vpcs`
/// VPCs of the accepter (one route table and one security group each) and
/// accepted. The configuration manages them all (quotas raised to fit).
pub struct Fleet {
    pub requester: Account,
    pub accepter: Account,
    /// The accepter's VPCs the peerings are spread over.
    pub locals: Vec<crate::TestVpc>,
    pub config: String,
    pub peerings: Vec<String>,
}

impl Fleet {
    pub async fn build(emu: &Emulator, requester: &str, accepter: &str, peerings: usize, local_vpcs: usize) -> Fleet {
        use futures_util::StreamExt;
        let requester = emu.account(requester).await;
        let accepter = emu.account(accepter).await;
        let mut entries = Vec::new();
        let mut locals = Vec::new();
        for v in 0..local_vpcs {
            let local = accepter.vpc(&[&format!("172.{}.0.0/16", 16 + v % 16)], 0).await;
            entries.push(
                Entry::new(&format!("fleet-{v}"), &requester.id, &local.id, &["10.0.0.0/8"])
                    .rule(&local.security_group, 443),
            );
            locals.push(local);
        }
        let config = fixtures::document(
            "routes_per_route_table = 1000\nrules_per_security_group = 1000\nwrite_concurrency = 8",
            &entries,
        );
        let (r, a, l) = (&requester, &accepter, &locals);
        let ids: Vec<String> = futures_util::stream::iter(0..peerings)
            .map(|i| async move {
                let cidr = format!("10.{}.{}.0/24", i / 256, i % 256);
                let vpc = r.bare_vpc(&cidr).await;
                let pcx = r.request_peering(&vpc, &a.id, &l[i % l.len()].id, None).await;
                a.accept(&pcx).await;
                pcx
            })
            .buffered(8)
            .collect()
            .await;
        Fleet {
            requester,
            accepter,
            locals,
            config,
            peerings: ids,
        }
    }
}

/// One active peering whose accepter VPC has grown to `tables` route tables
/// and `groups` security groups with a rule each (the per-reconcile benchmark
/// and scale test).
pub struct Grown {
    pub requester: Account,
    pub accepter: Account,
    pub config: String,
    pub peering: String,
}

impl Grown {
    pub async fn build(emu: &Emulator, requester: &str, accepter: &str, tables: usize, groups: usize) -> Grown {
        let requester = emu.account(requester).await;
        let accepter = emu.account(accepter).await;
        let rv = requester.vpc(&["10.0.0.0/16"], 0).await;
        let local = accepter.vpc(&["10.1.0.0/16"], 0).await;
        for i in 1..tables {
            accepter.route_table(&local.id, &[("Name", &format!("t{i}"))]).await;
        }
        let mut entry = Entry::new("app", &requester.id, &local.id, &["10.0.0.0/16"]);
        for g in 0..groups {
            let sg = if g == 0 {
                local.security_group.clone()
            } else {
                accepter.security_group(&local.id, &format!("g{g}")).await
            };
            entry = entry.rule(&sg, 5432);
        }
        let config = fixtures::document("write_concurrency = 8\nroutes_per_route_table = 1000", &[entry]);
        let peering = requester.request_peering(&rv.id, &accepter.id, &local.id, None).await;
        accepter.accept(&peering).await;
        Grown {
            requester,
            accepter,
            config,
            peering,
        }
    }
}

/// Whether two call counts differ only by pagination: every operation is
/// called as often, except paginated Describe calls, which may make at most
/// one more call per `page` extra items.
pub fn differ_only_by_pagination(
    small: &peerlink::aws::CallSummary,
    big: &peerlink::aws::CallSummary,
    extra_items: usize,
    page: usize,
) -> Result<(), String> {
    let ops: std::collections::BTreeSet<&String> = small.by_operation.keys().chain(big.by_operation.keys()).collect();
    let allowed = extra_items.div_ceil(page) as u64;
    for op in ops {
        let (s, b) = (small.calls(op), big.calls(op));
        let paginated = [
            "DescribeRouteTables",
            "DescribeVpcPeeringConnections",
            "DescribeSecurityGroups",
            "DescribeVpcs",
        ]
        .contains(&op.as_str());
        let ok = if paginated { b >= s && b - s <= allowed } else { b == s };
        if !ok {
            return Err(format!("{op}: {s} calls for the small case, {b} for the big one"));
        }
    }
    Ok(())
}
