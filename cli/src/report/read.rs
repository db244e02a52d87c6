//! Reading: for each account (at most [`ACCOUNTS_AT_ONCE`] at a time) assume
//! its role once, then in each region build a [`Context`] with the assumed
//! credentials and read what `plan` reads (observe → plan, nothing written)
//! plus the VPCs on its peerings. A failure is that account's answer, never
//! the report's.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_config::{Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use futures_util::StreamExt;
use peerlink::aws::aws_error;
use peerlink::config::{Config, ConfigSource};
use peerlink::exposure::Exposure;
use peerlink::finding::Finding;
use peerlink::model::{Peering, Vpc};
use peerlink::reconcile::{self, Report, Scope, observe};
use peerlink::settings::Settings;
use peerlink::{Context, Deadline, Mode};

use super::accounts::{AccountSpec, AccountsFile};

/// Accounts read at once.
pub const ACCOUNTS_AT_ONCE: usize = 8;

/// What one account saw in one region, or why it could not be read.
#[derive(Debug, Clone)]
pub struct AccountRead {
    pub account: String,
    pub name: Option<String>,
    pub role_arn: String,
    pub region: String,
    pub config: Option<PathBuf>,
    pub outcome: Result<Seen, String>,
}

/// One account's view in one region.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// Every peering the account can see there.
    pub peerings: Vec<Peering>,
    /// Its VPCs on those peerings and the ones its configuration names.
    pub vpcs: Vec<Vpc>,
    /// The plan against its configuration (when the file gives one).
    pub report: Option<Report>,
    /// What each managed end opens to whom, and its routes (from the plan).
    pub exposure: Vec<Exposure>,
    /// Where peering is the wrong tool (overlapping ranges, a transitive
    /// route, a VPC near its quota of peerings), with the right one.
    pub advice: Vec<Finding>,
}

/// Reads every account of `file`, in the file's order.
pub async fn read_all(file: &AccountsFile, base: &SdkConfig, progress: bool) -> Vec<AccountRead> {
    let total = file.accounts.len();
    let done = AtomicUsize::new(0);
    let show = |n: usize| {
        if progress {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[Kreport: {n}/{total} accounts read");
            let _ = err.flush();
        }
    };
    show(0);
    let reads: Vec<Vec<AccountRead>> = futures_util::stream::iter(&file.accounts)
        .map(|spec| async {
            let reads = read_account(spec, base).await;
            show(done.fetch_add(1, Ordering::Relaxed) + 1);
            reads
        })
        .buffered(ACCOUNTS_AT_ONCE)
        .collect()
        .await;
    if progress {
        eprint!("\r\x1b[K");
    }
    reads.into_iter().flatten().collect()
}

async fn read_account(spec: &AccountSpec, base: &SdkConfig) -> Vec<AccountRead> {
    let row = |region: &str, config: &Option<PathBuf>, outcome: Result<Seen, String>| AccountRead {
        account: spec.id.clone(),
        name: spec.name.clone(),
        role_arn: spec.role_arn.clone(),
        region: region.to_string(),
        config: config.clone(),
        outcome,
    };
    // Configurations first: a broken one is that region's answer, and needs no AWS call.
    let configs: Vec<Result<Option<Config>, String>> = spec
        .regions
        .iter()
        .map(|r| match &r.config {
            None => Ok(None),
            Some(path) => ConfigSource::File(path.clone())
                .read_local()
                .map(Some)
                .map_err(|e| e.to_string()),
        })
        .collect();
    let credentials = if configs.iter().any(Result::is_ok) {
        assume(spec, base).await
    } else {
        Err(String::new())
    };
    let reads = spec.regions.iter().zip(configs).map(|(r, config)| {
        let credentials = credentials.clone();
        async move {
            let outcome = match (config, credentials) {
                (Err(e), _) | (Ok(_), Err(e)) => Err(e),
                (Ok(config), Ok(creds)) => read_region(spec, base, &r.region, creds, config).await,
            };
            row(&r.region, &r.config, outcome)
        }
    });
    futures_util::future::join_all(reads).await
}

/// Assumes the account's role with the caller's credentials (`peerlink
/// verify` assumes it the same way).
pub async fn assume(spec: &AccountSpec, base: &SdkConfig) -> Result<Credentials, String> {
    let region = &spec.regions[0].region;
    let sts = aws_sdk_sts::Client::new(&base.to_builder().region(Region::new(region.clone())).build());
    let out = sts
        .assume_role()
        .role_arn(&spec.role_arn)
        .role_session_name("peerlink-report")
        .send()
        .await
        .map_err(|e| format!("cannot assume role {}: {}", spec.role_arn, aws_error("AssumeRole", e)))?;
    let c = out
        .credentials()
        .ok_or_else(|| format!("AssumeRole of {} returned no credentials", spec.role_arn))?;
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        None,
        "peerlink-report",
    ))
}

async fn read_region(
    spec: &AccountSpec,
    base: &SdkConfig,
    region: &str,
    credentials: Credentials,
    config: Option<Config>,
) -> Result<Seen, String> {
    let sdk = region_sdk(base, region, credentials);
    let managed = config.is_some();
    let ctx = Context::connect(&sdk, config.unwrap_or_default(), Settings::default())
        .await
        .map_err(|e| e.to_string())?;
    if ctx.me.account != spec.id {
        return Err(format!(
            "role {} is in account {}, not {}",
            spec.role_arn, ctx.me.account, spec.id
        ));
    }
    // The same reads as `plan`: one observation, planned, nothing written.
    let (peerings, report, exposure, mut vpcs, tables) = if managed {
        let obs = observe::observe(&ctx, &Scope::All).await.map_err(|e| e.to_string())?;
        let report = reconcile::run_observed(&ctx, Scope::All, &obs, Mode::Plan, Deadline::none()).await;
        let exposure = peerlink::exposure::view(&ctx.config, &obs, &report.managed, &report.actions);
        let vpcs: Vec<Vpc> = obs.vpcs.values().cloned().collect();
        (obs.peerings, Some(report), exposure, vpcs, obs.route_tables)
    } else {
        let peerings = ctx.aws.describe_peerings(None).await.map_err(|e| e.to_string())?;
        (peerings, None, Vec::new(), Vec::new(), Vec::new())
    };
    let quota = ctx.config.settings.active_peerings_per_vpc;
    let advice = peerlink::verify::advice::findings(&ctx.me, &peerings, &tables, quota);
    let known: BTreeSet<String> = vpcs.iter().map(|v| v.id.clone()).collect();
    let wanted: Vec<String> = peerings
        .iter()
        .flat_map(|p| p.local_sides(&ctx.me).into_iter().map(|s| p.side(s).vpc.clone()))
        .filter(|v| !known.contains(v))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    if !wanted.is_empty() {
        vpcs.extend(ctx.aws.describe_vpcs(&wanted).await.map_err(|e| e.to_string())?);
    }
    vpcs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(Seen {
        peerings,
        vpcs,
        report,
        exposure,
        advice,
    })
}

/// The SDK configuration of one account in one region: the caller's
/// endpoint (`AWS_ENDPOINT_URL`), retries and timeouts; the role's credentials.
pub fn region_sdk(base: &SdkConfig, region: &str, credentials: Credentials) -> SdkConfig {
    base.to_builder()
        .region(Region::new(region.to_string()))
        .credentials_provider(SharedCredentialsProvider::new(credentials))
        .build()
}
