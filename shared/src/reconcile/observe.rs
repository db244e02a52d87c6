//! Observe: read what the plan needs with few filtered, paginated calls whose
//! number depends on the configuration (VPCs, groups, secrets), not on how
//! many peerings or route tables there are.

use std::collections::{BTreeSet, HashMap};

use futures_util::StreamExt;

use super::plan::Observed;
use crate::aws::{Aws, Select};
use crate::config::PeerEntry;
use crate::context::Context;
use crate::error::{AwsError, Error, Result};
use crate::matching::match_entry;
use crate::model::{KeyState, Peering, SecretState};

/// Which managed peerings a pass looks at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "scope", content = "ids", rename_all = "kebab-case")]
pub enum Scope {
    /// Every managed peering of this account (the drift schedule).
    All,
    /// These peerings (an event naming them, a direct invocation).
    Peerings(Vec<String>),
    /// Managed peerings whose local VPC is one of these.
    Vpcs(Vec<String>),
    /// Managed peerings of these configuration entries.
    Entries(Vec<String>),
}

/// Reads the state the plan needs for `scope`.
pub async fn observe(ctx: &Context, scope: &Scope) -> Result<Observed> {
    let (peerings, listing) = match scope {
        Scope::Peerings(ids) => {
            let found = ctx.aws.describe_peerings(Some(ids)).await?;
            if let Some(missing) = ids.iter().find(|id| !found.iter().any(|p| &&p.id == id)) {
                return Err(Error::NotFound {
                    what: "VPC peering connection",
                    id: missing.clone(),
                    account: ctx.me.account.clone(),
                    region: ctx.me.region.clone(),
                });
            }
            (found, Listing::Named)
        }
        _ => (ctx.aws.describe_peerings(None).await?, Listing::Complete),
    };
    observe_with(ctx, scope, peerings, listing).await
}

/// Whether the peerings handed to `observe_with` are every peering this
/// account can see (then a marker naming none of them is a peering gone for
/// good) or only those a scope named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    Complete,
    Named,
}

/// Like [`observe`], with the peerings already read (the drift pass shares one
/// Describe between the accepter sweep and the reconcile).
async fn observe_with(ctx: &Context, scope: &Scope, peerings: Vec<Peering>, listing: Listing) -> Result<Observed> {
    let config = &ctx.config;
    let entries: Vec<&PeerEntry> = match scope {
        Scope::All => config.peers.iter().collect(),
        Scope::Entries(names) => config.peers.iter().filter(|e| names.contains(&e.name)).collect(),
        Scope::Vpcs(vpcs) => config
            .peers
            .iter()
            .filter(|e| vpcs.iter().any(|v| e.local_vpc == *v.as_str()))
            .collect(),
        Scope::Peerings(_) => {
            let mut names = BTreeSet::new();
            for p in &peerings {
                for side in p.local_sides(&ctx.me) {
                    if let Ok(e) = match_entry(config, p.side(side), p.side(side.other())) {
                        names.insert(e.name.clone());
                    }
                }
            }
            config.peers.iter().filter(|e| names.contains(&e.name)).collect()
        }
    };
    let mut obs = Observed {
        me: Some(ctx.me.clone()),
        peerings,
        complete: listing == Listing::Complete,
        scope: entries.iter().map(|e| e.name.clone()).collect(),
        ..Observed::default()
    };
    if entries.is_empty() {
        return Ok(obs);
    }

    let vpc_ids = sorted(entries.iter().map(|e| e.local_vpc.to_string()));
    let dns_vpcs = sorted(
        entries
            .iter()
            .filter(|e| e.dns.remote_resolution)
            .map(|e| e.local_vpc.to_string()),
    );
    let group_ids = sorted(
        entries
            .iter()
            .flat_map(|e| e.security_group_rules.iter().map(|r| r.group.to_string())),
    );
    let secret_arns = sorted(entries.iter().flat_map(|e| e.secrets.iter().map(|s| s.arn.arn.clone())));
    let aws = ctx.aws.as_ref();
    let limit = ctx.config.settings.write_concurrency.max(4);

    let vpcs = aws.describe_vpcs(&vpc_ids);
    let tables = aws.describe_route_tables(Select::Vpcs(&vpc_ids));
    let groups = async {
        if group_ids.is_empty() {
            Ok(Vec::new())
        } else {
            aws.describe_security_groups(Select::Ids(&group_ids)).await
        }
    };
    let dns = futures_util::stream::iter(dns_vpcs.iter())
        .map(|v| async move { aws.vpc_dns_attributes(v).await.map(|a| (v.clone(), a)) })
        .buffer_unordered(limit)
        .collect::<Vec<_>>();
    let secrets_read = futures_util::stream::iter(secret_arns.iter())
        .map(|arn| async move { read_secret(aws, arn).await.map(|s| (arn.clone(), s)) })
        .buffer_unordered(limit)
        .collect::<Vec<_>>();
    let (vpcs, tables, groups, dns, secret_states) = tokio::join!(vpcs, tables, groups, dns, secrets_read);

    obs.vpcs = vpcs?.into_iter().map(|v| (v.id.clone(), v)).collect();
    for r in dns {
        let (id, (support, hostnames)) = r?;
        if let Some(v) = obs.vpcs.get_mut(&id) {
            v.dns_support = Some(support);
            v.dns_hostnames = Some(hostnames);
        }
    }
    obs.route_tables = tables?;
    obs.security_groups = groups?.into_iter().map(|g| (g.id.clone(), g)).collect();
    let secret_states: Vec<(String, Option<SecretState>)> = secret_states.into_iter().collect::<Result<_, _>>()?;

    // Keys: the ones the secrets name (aliases of the AWS-managed key need no call).
    let key_refs = sorted(
        secret_states
            .iter()
            .filter_map(|(_, s)| s.as_ref()?.kms_key.clone())
            .filter(|k| !k.ends_with("alias/aws/secretsmanager")),
    );
    let keys: Vec<(String, Option<KeyState>)> = futures_util::stream::iter(key_refs.iter())
        .map(|k| async move { read_key(aws, k).await.map(|s| (k.clone(), s)) })
        .buffer_unordered(limit)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    obs.secrets = secret_states.into_iter().collect::<HashMap<_, _>>();
    obs.keys = keys.into_iter().collect();
    Ok(obs)
}

/// A secret with its resource policy; `None` when it does not exist.
async fn read_secret(aws: &dyn Aws, arn: &str) -> Result<Option<SecretState>, AwsError> {
    let Some(d) = aws.describe_secret(arn).await? else {
        return Ok(None);
    };
    Ok(Some(SecretState {
        arn: d.arn,
        kms_key: d.kms_key,
        policy: aws.get_secret_policy(arn).await?,
    }))
}

/// A key with its policy (only customer-managed keys have one we may change);
/// `None` when it does not exist.
async fn read_key(aws: &dyn Aws, key: &str) -> Result<Option<KeyState>, AwsError> {
    let Some(d) = aws.describe_key(key).await? else {
        return Ok(None);
    };
    let policy = if d.aws_managed {
        None
    } else {
        aws.get_key_policy(&d.arn).await?
    };
    Ok(Some(KeyState {
        arn: d.arn,
        aws_managed: d.aws_managed,
        policy,
    }))
}

fn sorted(items: impl Iterator<Item = String>) -> Vec<String> {
    let set: BTreeSet<String> = items.collect();
    set.into_iter().collect()
}
