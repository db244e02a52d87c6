//! `peerlink verify`: can this interface reach that one on this port, and if
//! not, which hop stops it? The ends are found in the accounts of an accounts
//! file (the one `peerlink report` reads, its roles assumed the same way)
//! with filtered DescribeNetworkInterfaces, never a scan of every interface;
//! each end's account then shows its half of the path in one round of reads,
//! and [`peerlink::verify::evaluate`] walks it hop by hop. Nothing is written.

use std::collections::BTreeMap;
use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::sync::Arc;

use aws_config::SdkConfig;
use futures_util::StreamExt;
use peerlink::aws::{Aws, Buckets, Clients, load_sdk_config};
use peerlink::config::{ConfigSource, GlobalSettings};
use peerlink::model::{NetworkInterface, Peering};
use peerlink::settings::Settings;
use peerlink::verify::{self, Check, End, Endpoint, PathWorld, PeeringRef, Traffic, read};
use serde::Serialize;

use crate::report::accounts::{AccountSpec, AccountsFile};
use crate::report::read::{ACCOUNTS_AT_ONCE, assume, region_sdk};
use crate::{Error, Result};

/// What `peerlink verify` was asked.
#[derive(Debug, Clone)]
pub struct Options {
    pub accounts: PathBuf,
    pub from: String,
    pub to: String,
    pub traffic: Traffic,
    /// Whether the `dns` check runs (`--no-dns` turns it off).
    pub dns: bool,
    pub json: bool,
}

/// One account in one region, ready to read.
struct Reader {
    account: String,
    region: String,
    aws: Arc<Clients>,
    /// `active_peerings_per_vpc` of its configuration (the AWS default without one).
    quota: usize,
}

/// The interfaces one account and region holds that match an end.
type Located = (Reader, Vec<NetworkInterface>);

/// An end of the path: as given, and where it was found.
#[derive(Debug, Clone, Serialize)]
pub struct EndInfo {
    pub endpoint: String,
    pub interface: String,
    pub address: String,
    pub account: String,
    pub region: String,
    pub vpc: String,
    pub subnet: String,
    pub groups: Vec<String>,
    pub description: String,
}

/// The answer: what `--json` prints, and the AWS calls it took.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub reachable: bool,
    pub from: EndInfo,
    pub to: EndInfo,
    pub peering: Option<PeeringRef>,
    pub checks: Vec<Check>,
    /// Calls per operation, over every account read.
    #[serde(skip)]
    pub calls: BTreeMap<String, u64>,
}

impl Outcome {
    /// Every call made, AssumeRole aside (all of them reads).
    pub fn reads(&self) -> u64 {
        self.calls.values().sum()
    }

    pub fn first_failure(&self) -> Option<&Check> {
        self.checks.iter().find(|c| !c.ok)
    }
}

/// Runs the command: prints the checks (table or JSON) and returns the exit
/// code: 0 reachable, 2 blocked. An error (a bad accounts file or endpoint,
/// an endpoint not found, an account that cannot be read) is exit 1.
pub async fn run(opts: &Options) -> Result<u8> {
    let file = AccountsFile::load(&opts.accounts)?;
    let argument = |flag| move |reason| Error::Argument { flag, reason };
    let from: Endpoint = opts.from.parse().map_err(argument("--from"))?;
    let to: Endpoint = opts.to.parse().map_err(argument("--to"))?;
    let settings = Settings::from_env()?;
    let base = load_sdk_config(&settings.resilience).await;
    let outcome = prove(&file, &base, &from, &to, opts.traffic, opts.dns).await?;
    if opts.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        eprintln!("{}", reads_line(&outcome));
    } else {
        print!("{}", render(&outcome, opts.traffic, std::io::stdout().is_terminal()));
    }
    Ok(if outcome.reachable { 0 } else { 2 })
}

/// Finds both ends in the accounts of `file` (with the caller's
/// credentials in `base`), reads each end's half and walks the path.
pub async fn prove(
    file: &AccountsFile,
    base: &SdkConfig,
    from: &Endpoint,
    to: &Endpoint,
    traffic: Traffic,
    dns: bool,
) -> Result<Outcome> {
    let ends = [from, to];
    let found: Vec<Result<Vec<Located>>> = futures_util::stream::iter(&file.accounts)
        .map(|spec| locate(spec, base, &ends))
        .buffered(ACCOUNTS_AT_ONCE)
        .collect()
        .await;
    let found: Vec<Located> = found
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .into_iter()
        .flatten()
        .collect();
    let (src_reader, src_interface) = pick("--from", from, &found)?;
    let (dst_reader, dst_interface) = pick("--to", to, &found)?;
    if src_interface.id == dst_interface.id {
        return Err(Error::Endpoint(format!(
            "--from and --to are the same interface, {}",
            src_interface.id
        )));
    }
    let read_end = |r: &Reader, i: &NetworkInterface| {
        let aws = r.aws.clone();
        let (account, region, interface, quota) = (r.account.clone(), r.region.clone(), i.clone(), r.quota);
        async move {
            read::end_view(aws.as_ref(), &account, &region, interface, dns, quota)
                .await
                .map_err(|e| Error::Unreadable {
                    account,
                    region,
                    reason: e.to_string(),
                })
        }
    };
    let (src, dst) = tokio::join!(read_end(src_reader, src_interface), read_end(dst_reader, dst_interface));
    let ((src_view, src_peerings), (dst_view, dst_peerings)) = (src?, dst?);
    let source = End {
        address: address(from, src_interface)?,
        view: Some(src_view),
    };
    let destination = End {
        address: address(to, dst_interface)?,
        view: Some(dst_view),
    };
    let (from_info, to_info) = (info(from, src_reader, &source), info(to, dst_reader, &destination));
    let peerings: Vec<Peering> = read::merge_peerings([src_peerings, dst_peerings]);
    let verdict = verify::evaluate(&PathWorld {
        traffic,
        dns,
        source,
        destination,
        peerings,
    });
    let mut calls = BTreeMap::new();
    for (r, _) in &found {
        for (op, c) in r.aws.calls().summary().by_operation {
            *calls.entry(op).or_insert(0) += c.calls;
        }
    }
    Ok(Outcome {
        reachable: verdict.reachable,
        from: from_info,
        to: to_info,
        peering: verdict.peering,
        checks: verdict.checks,
        calls,
    })
}

/// Assumes the account's role and, in each of its regions, checks whose
/// account the role is in and finds the interfaces matching the ends.
async fn locate(spec: &AccountSpec, base: &SdkConfig, ends: &[&Endpoint]) -> Result<Vec<Located>> {
    let fail = |region: &str, reason: String| Error::Unreadable {
        account: spec.id.clone(),
        region: region.to_string(),
        reason,
    };
    let credentials = assume(spec, base).await.map_err(|e| fail(&spec.regions[0].region, e))?;
    let mut out = Vec::new();
    for r in &spec.regions {
        let quota = match &r.config {
            None => GlobalSettings::default().active_peerings_per_vpc,
            Some(path) => {
                let config = ConfigSource::File(path.clone()).read_local();
                config
                    .map_err(|e| fail(&r.region, e.to_string()))?
                    .settings
                    .active_peerings_per_vpc
            }
        };
        let aws = Arc::new(Clients::new(
            &region_sdk(base, &r.region, credentials.clone()),
            &Buckets::default(),
        ));
        let (who, found) = tokio::join!(aws.caller_account(), read::find(aws.as_ref(), ends));
        let who = who.map_err(|e| fail(&r.region, e.to_string()))?;
        if who != spec.id {
            return Err(fail(
                &r.region,
                format!("role {} is in account {who}, not {}", spec.role_arn, spec.id),
            ));
        }
        let found = found.map_err(|e| fail(&r.region, e.to_string()))?;
        let reader = Reader {
            account: spec.id.clone(),
            region: r.region.clone(),
            aws,
            quota,
        };
        out.push((reader, found));
    }
    Ok(out)
}

/// The one interface an end names, or why there is not exactly one.
fn pick<'a>(flag: &str, endpoint: &Endpoint, found: &'a [Located]) -> Result<(&'a Reader, &'a NetworkInterface)> {
    let matches: Vec<(&Reader, &NetworkInterface)> = found
        .iter()
        .flat_map(|(r, list)| list.iter().filter(|i| endpoint.matches(i)).map(move |i| (r, i)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => {
            let searched: Vec<String> = found
                .iter()
                .map(|(r, _)| format!("{} {}", r.account, r.region))
                .collect();
            let what = match endpoint {
                Endpoint::Interface(_) => "network interface has this id",
                Endpoint::Address(_) => "network interface has this private address",
            };
            Err(Error::Endpoint(format!(
                "{flag} {endpoint}: no {what} in the accounts listed ({})",
                searched.join(", ")
            )))
        }
        many => {
            let list: Vec<String> = many
                .iter()
                .map(|(r, i)| format!("{} (account {} {}, {})", i.id, r.account, r.region, i.vpc))
                .collect();
            Err(Error::Endpoint(format!(
                "{flag} {endpoint} matches {} interfaces: {}; name one by its id",
                many.len(),
                list.join(", ")
            )))
        }
    }
}

fn address(endpoint: &Endpoint, interface: &NetworkInterface) -> Result<std::net::Ipv4Addr> {
    match endpoint {
        Endpoint::Address(a) => Ok(*a),
        Endpoint::Interface(_) => interface
            .addresses
            .first()
            .copied()
            .ok_or_else(|| Error::Endpoint(format!("{} has no private IPv4 address", interface.id))),
    }
}

fn info(endpoint: &Endpoint, reader: &Reader, end: &End) -> EndInfo {
    let i = &end.view.as_ref().expect("both ends are read").interface;
    EndInfo {
        endpoint: endpoint.to_string(),
        interface: i.id.clone(),
        address: end.address.to_string(),
        account: reader.account.clone(),
        region: reader.region.clone(),
        vpc: i.vpc.clone(),
        subnet: i.subnet.clone(),
        groups: i.groups.clone(),
        description: i.description.clone(),
    }
}

/// "reads: 17 (DescribeNetworkInterfaces 2, …)".
pub fn reads_line(outcome: &Outcome) -> String {
    let each: Vec<String> = outcome.calls.iter().map(|(op, n)| format!("{op} {n}")).collect();
    format!("reads: {} ({}), no writes", outcome.reads(), each.join(", "))
}

/// The checks as a table in path order, the first failing hop marked (and
/// in bold red on a terminal), then its fix.
pub fn render(outcome: &Outcome, traffic: Traffic, colour: bool) -> String {
    let end = |e: &EndInfo| {
        format!(
            "{} ({}, account {} {}, {})",
            e.interface, e.address, e.account, e.region, e.vpc
        )
    };
    let mut out = format!("verify: {} -> {}, {traffic}\n\n", end(&outcome.from), end(&outcome.to));
    let first = outcome.first_failure().map(|c| c.check);
    let rows: Vec<Vec<String>> = outcome
        .checks
        .iter()
        .map(|c| {
            let result = match (c.ok, Some(c.check) == first) {
                (true, _) => "ok",
                (false, true) => "BLOCKED <",
                (false, false) => "fail",
            };
            vec![
                c.check.name().to_string(),
                c.account.clone(),
                c.resource.clone(),
                result.to_string(),
                c.detail.clone(),
            ]
        })
        .collect();
    let table = crate::text::table(&["CHECK", "ACCOUNT", "RESOURCE", "RESULT", "DETAIL"], &rows);
    for line in table.lines() {
        let marked = line.contains("BLOCKED <");
        if marked && colour {
            out.push_str(&format!("\x1b[1;31m{line}\x1b[0m\n"));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push('\n');
    match outcome.first_failure() {
        None => out.push_str("REACHABLE: every hop lets it through.\n"),
        Some(c) => {
            out.push_str(&format!(
                "BLOCKED at {} (account {}, {}): {}\n  fix: {}\n",
                c.check,
                c.account,
                c.resource,
                c.detail,
                c.fix.as_deref().unwrap_or_default()
            ));
        }
    }
    out.push_str(&reads_line(outcome));
    out.push('\n');
    out
}
