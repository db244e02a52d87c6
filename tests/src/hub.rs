//! A platform team's hub: one VPC every spoke peers with, in front of a
//! proxy that throttles as EC2's token buckets do and pages Describe answers
//! (the scale tests and the benchmark).

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use peerlink::aws::Buckets;
use peerlink::config::Config;
use peerlink::events::{self, Event, Function};
use peerlink::metrics::Progress;
use peerlink::settings::Settings;
use peerlink::{Context, continuation};
use serde_json::{Value, json};

use crate::{Account, Emulator, EventCapture, FaultProxy, TestVpc};
use peerlink::fixtures::{self, Entry};

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

    /// The hub account's role through `proxy`: one session, so the proxy
    /// (which tells accounts apart by access key) keeps one set of buckets
    /// for the account, however many processes use it.
    pub async fn role_via(&self, emu: &Emulator, proxy: &FaultProxy) -> Account {
        emu.account_via(&proxy.endpoint, &self.hub.id).await
    }

    /// A function's process in the hub account, acting through `via`: its
    /// own copy of the buckets (`speedup` times EC2's, as the proxy's), its
    /// continuations on the default bus.
    pub async fn context(&self, via: &Account, speedup: f64) -> Context {
        let config = Config::parse(&self.config, "hub").expect("the hub's configuration");
        let settings = Settings {
            ec2_buckets: Buckets::default().faster(speedup),
            event_bus: Some("default".into()),
            ..Settings::default()
        };
        Context::connect(&via.sdk, config, settings).await.expect("context")
    }

    /// Captures the continuations published in the hub account.
    pub async fn continuations(&self) -> EventCapture {
        let pattern = format!(r#"{{"detail-type": ["{}"]}}"#, events::CONTINUATION_DETAIL_TYPE);
        EventCapture::matching(&self.hub, "continuations", &pattern).await
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

/// The functions' timeout in the templates (120 s), on a clock `speedup`
/// times faster.
pub fn timeout(speedup: f64) -> Duration {
    Duration::from_secs(120).div_f64(speedup)
}

/// One invocation of a chain.
#[derive(Debug, Clone)]
pub struct Link {
    pub event: String,
    pub took_s: f64,
    /// Accepted, or writes done.
    pub count: usize,
    pub left: usize,
}

/// Invokes `function` with a scheduled event, then with each continuation it
/// publishes (read back from the bus through `capture`), until one asks for
/// none. Every invocation must succeed: no failed write, no work left
/// without a continuation. `invoke` returns the invocation's context, its
/// progress, its failures and what it counts (accepted, writes done).
pub async fn chain(
    capture: &EventCapture,
    function: Function,
    mut invoke: impl AsyncFnMut(Event) -> (Context, Progress, Vec<String>, usize),
) -> Vec<Link> {
    let (mut event, mut links) = (Event::Scheduled, Vec::<Link>::new());
    loop {
        assert!(
            links.len() < 40,
            "{function:?} did not converge in 40 invocations: {links:?}"
        );
        let t0 = Instant::now();
        let (ctx, progress, failures, count) = invoke(event.clone()).await;
        let c = continuation::after(&ctx, function, &event, progress).await;
        let n = links.len() + 1;
        assert!(failures.is_empty(), "{function:?} invocation {n}: {failures:#?}");
        assert_eq!(c.failure(), None, "{function:?} invocation {n} would fail");
        links.push(Link {
            event: event.label(),
            took_s: (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            count,
            left: c.left,
        });
        if !c.requested {
            return links;
        }
        event = events::parse(&capture.next().await).expect("a continuation");
        assert_eq!(
            event,
            Event::Continue {
                function,
                left: c.left as u64
            }
        );
    }
}
