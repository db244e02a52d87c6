//! A platform team's hub: one VPC every spoke peers with, in front of a
//! proxy that throttles as EC2's token buckets do and pages Describe answers
//! (the scale tests and the benchmark).

use futures_util::StreamExt;
use peerlink::fixtures::{self, Entry};
use serde_json::{Value, json};

use crate::{Account, Emulator, FaultProxy, TestVpc};

/// Spoke VPCs (10.x.y.0/24), `per_account` in each of `spokes` accounts,
/// each asking to peer with a hub VPC (172.16.0.0/16, its main route table
/// and `tables - 1` subnet tables) in another; the hub's configuration: an
/// entry per spoke account that accepts its VPCs, with a route in every
/// table, a rule in that entry's own security group (AWS allows 60 inbound
/// rules a group) and DNS per spoke. Routes per table are raised to fit, as
/// such a hub has them raised.
pub struct Hub {
    pub hub: Account,
    pub spokes: Vec<Account>,
    pub vpc: TestVpc,
    /// The spokes' requests, pending.
    pub requests: Vec<String>,
    pub config: String,
}

impl Hub {
    pub async fn build(emu: &Emulator, hub: &str, spokes: &[&str], per_account: usize, tables: usize) -> Hub {
        let hub = emu.account(hub).await;
        let vpc = hub.vpc(&["172.16.0.0/16"], tables - 1).await;
        let (mut accounts, mut entries, mut requests) = (Vec::new(), Vec::new(), Vec::new());
        for (k, id) in spokes.iter().enumerate() {
            let account = emu.account(id).await;
            let group = match k {
                0 => vpc.security_group.clone(),
                _ => hub.security_group(&vpc.id, &format!("spokes-{k}")).await,
            };
            entries.push(
                Entry::new(&format!("spokes-{k}"), id, &vpc.id, &["10.0.0.0/8"])
                    .auto_accept(true)
                    .rule(&group, 5432),
            );
            let (s, h, v) = (&account, &hub.id, &vpc.id);
            let asked: Vec<String> = futures_util::stream::iter(k * per_account..(k + 1) * per_account)
                .map(|i| async move {
                    let own = s.bare_vpc(&format!("10.{}.{}.0/24", i / 256, i % 256)).await;
                    s.request_peering(&own, h, v, None).await
                })
                .buffered(8)
                .collect()
                .await;
            requests.extend(asked);
            accounts.push(account);
        }
        let config = fixtures::document("routes_per_route_table = 1000\nactive_peerings_per_vpc = 125", &entries);
        Hub {
            hub,
            spokes: accounts,
            vpc,
            requests,
            config,
        }
    }

    /// Tables of the hub VPC that lack a route to some spoke, with how many
    /// routes through a peering each has.
    pub async fn unfinished_tables(&self) -> Vec<(String, usize)> {
        let mut out = Vec::new();
        for table in self.vpc.all_tables() {
            let routes = self.hub.routes(&table).await;
            let peered = routes.iter().filter(|(_, target)| target.starts_with("pcx-")).count();
            if peered < self.requests.len() {
                out.push((table, peered));
            }
        }
        out
    }
}

/// The proxy's configuration for EC2's documented buckets, every refill
/// `speedup` times faster, and Describe answers in pages of `page_size`.
pub fn ec2_like(speedup: f64, page_size: usize) -> Value {
    json!({"token_buckets": {"speedup": speedup}, "page_size": page_size})
}

/// What the proxy saw of the buckets and pages.
#[derive(Debug, Clone)]
pub struct Throttling {
    pub admitted: u64,
    pub throttled: u64,
    /// The time the slowest bucket needs to admit every request it admitted.
    pub floor_seconds: f64,
    /// `{"<Action>": {"pages", "split", "items"}}`.
    pub paging: Value,
}

impl FaultProxy {
    pub fn throttling(&self) -> Throttling {
        let stats = self.stats();
        let b = &stats["buckets"];
        Throttling {
            admitted: b["admitted"].as_u64().unwrap_or_default(),
            throttled: b["throttled"].as_u64().unwrap_or_default(),
            floor_seconds: b["floor_seconds"].as_f64().unwrap_or_default(),
            paging: stats["paging"].clone(),
        }
    }
}
