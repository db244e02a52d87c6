//! Observe: read what the plan needs in one round of parallel calls whose
//! number depends on the configuration (VPCs, groups, secrets, keys), not on
//! how many peerings or route tables there are. The configuration names
//! everything a pass can need, so nothing waits for anything else; only a
//! secret whose key the configuration does not name (`kms_key`), or a
//! resource found by our tag, needs a second round.
//!
//! A secret or key the role may not read is recorded as denied
//! ([`super::denied`]) and the rest is read all the same; a configured secret
//! of another account or region is not read at all (the plan reports it).

use std::collections::BTreeSet;

use futures_util::StreamExt;

use super::denied::{DeniedRead, permitted};
use super::plan::Observed;
use crate::aws::{Aws, SecretDescription, Select};
use crate::config::TableSelect;
use crate::context::Context;
use crate::error::{AwsError, Error, Result};
use crate::matching::match_entry;
use crate::model::{KeyState, PeeringStatus, RouteTable, SecretState, Subnet};
use crate::ownership::{MANAGED_TAG, NO_TABLES, routes_tag};

/// How many reads run at once: enough for one round in any sane
/// configuration, bounded so a huge one does not open hundreds of connections.
const READ_CONCURRENCY: usize = 64;

/// Which managed peerings a pass looks at.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "scope", content = "ids", rename_all = "kebab-case")]
pub enum Scope {
    /// Every managed peering of this account (the drift schedule), and what
    /// peerlink marked that the configuration no longer names.
    All,
    /// These peerings (an event naming them, a direct invocation).
    Peerings(Vec<String>),
    /// Managed peerings whose local VPC is one of these.
    Vpcs(Vec<String>),
    /// Managed peerings of these configuration entries.
    Entries(Vec<String>),
}

/// What the configuration names, so every first-round read can start at once.
struct Named {
    vpcs: Vec<String>,
    groups: Vec<String>,
    /// This account's and region's secrets (another account's are not read).
    secrets: Vec<String>,
    keys: Vec<String>,
    /// DNS attributes only where an entry may turn them on (the doctor reports them).
    dns_vpcs: Vec<String>,
    /// The subnets whose tables an entry selects (`select = "subnets"`).
    subnets: Vec<String>,
}

fn named(ctx: &Context) -> Named {
    let config = &ctx.config;
    let me = &ctx.me;
    Named {
        vpcs: config.local_vpcs(),
        groups: sorted(
            config
                .peers
                .iter()
                .flat_map(|e| e.security_group_rules.iter().map(|r| r.group.to_string())),
        ),
        secrets: sorted(config.peers.iter().flat_map(|e| {
            e.secrets
                .iter()
                .filter(|s| s.arn.account == me.account && s.arn.region == me.region)
                .map(|s| s.arn.arn.clone())
        })),
        keys: sorted(
            config
                .peers
                .iter()
                .flat_map(|e| e.secrets.iter().filter_map(|s| s.kms_key.as_ref().map(|k| k.0.clone()))),
        ),
        dns_vpcs: sorted(
            config
                .peers
                .iter()
                .filter(|e| e.dns.set_vpc_attributes)
                .map(|e| e.local_vpc.to_string()),
        ),
        subnets: sorted(config.peers.iter().flat_map(|e| {
            let selected = e.routes.select == TableSelect::Subnets;
            e.routes.subnets.iter().filter(move |_| selected).map(|s| s.to_string())
        })),
    }
}

/// Reads the state the plan needs for `scope`.
pub async fn observe(ctx: &Context, scope: &Scope) -> Result<Observed> {
    let aws = ctx.aws.as_ref();
    let whole_account = *scope == Scope::All;
    let Named {
        vpcs: vpc_ids,
        groups: group_ids,
        secrets: secret_arns,
        keys: key_arns,
        dns_vpcs,
        subnets: subnet_ids,
    } = named(ctx);

    let peerings = aws.describe_peerings(None);
    let vpcs = when(!vpc_ids.is_empty(), aws.describe_vpcs(&vpc_ids));
    let tables = when(!vpc_ids.is_empty(), aws.describe_route_tables(Select::Vpcs(&vpc_ids)));
    // Which VPC each named subnet is in: a subnet with no table of its own
    // uses its VPC's main table, which the associations alone cannot tell.
    let subnets = when(!subnet_ids.is_empty(), aws.describe_subnets(&subnet_ids));
    let groups = when(
        !group_ids.is_empty(),
        aws.describe_security_groups(Select::Ids(&group_ids)),
    );
    let tagged_groups = when(whole_account, aws.describe_security_groups(Select::Tagged(MANAGED_TAG)));
    let tagged_secrets = permitted(when(whole_account, aws.list_tagged_secrets(MANAGED_TAG)));
    let dns = all(&dns_vpcs, |v| async move {
        match aws.vpc_dns_attributes(v).await {
            Ok(a) => Ok(Some(a)),
            // A configured VPC that does not exist is a finding, not a failure.
            Err(e) if e.code_is(&["InvalidVpcID.NotFound"]) => Ok(None),
            Err(e) => Err(e),
        }
    });
    let secrets = all(&secret_arns, |arn| permitted(read_secret(aws, arn)));
    let keys = all(&key_arns, |k| permitted(read_key(aws, k)));
    let (peerings, vpcs, tables, subnets, groups, tagged_groups, tagged_secrets, dns, secrets, keys) = tokio::join!(
        peerings,
        vpcs,
        tables,
        subnets,
        groups,
        tagged_groups,
        tagged_secrets,
        dns,
        secrets,
        keys
    );

    let mut obs = Observed {
        me: Some(ctx.me.clone()),
        peerings: peerings?,
        complete: true,
        whole_account,
        now: ctx.clock.unix(),
        ..Observed::default()
    };
    obs.scope = scope_entries(ctx, scope, &obs)?;
    obs.vpcs = vpcs?.into_iter().map(|v| (v.id.clone(), v)).collect();
    for (id, attributes) in dns? {
        if let (Some(v), Some((support, hostnames))) = (obs.vpcs.get_mut(&id), attributes) {
            v.dns_support = Some(support);
            v.dns_hostnames = Some(hostnames);
        }
    }
    obs.route_tables = tables?;
    on_main_tables(&mut obs.route_tables, subnets?);
    for g in groups?.into_iter().chain(tagged_groups?) {
        obs.security_groups.insert(g.id.clone(), g);
    }
    record(&mut obs.secrets, &mut obs.denied, DeniedRead::Secret, secrets?);
    record(&mut obs.keys, &mut obs.denied, DeniedRead::Key, keys?);

    let tagged = match tagged_secrets? {
        Ok(list) => list,
        Err(e) => {
            obs.denied
                .insert("ListSecrets".into(), (DeniedRead::TaggedSecrets, e.to_string()));
            Vec::new()
        }
    };
    second_round(ctx, &mut obs, tagged, &vpc_ids).await?;
    Ok(obs)
}

/// Second round, only when needed: secrets peerlink tagged that the
/// configuration no longer names, keys no entry names, and the route tables
/// of local VPCs no entry names any more where a live peering records that
/// peerlink routes it (its routes are taken back).
async fn second_round(
    ctx: &Context,
    obs: &mut Observed,
    tagged: Vec<SecretDescription>,
    vpc_ids: &[String],
) -> Result<()> {
    let aws = ctx.aws.as_ref();
    let orphans: Vec<String> = tagged
        .into_iter()
        .map(|s| s.arn)
        .filter(|arn| !obs.secrets.contains_key(arn) && !obs.denied.contains_key(arn))
        .collect();
    let orphan_secrets = all(&orphans, |arn| permitted(read_secret(aws, arn))).await?;
    record(&mut obs.secrets, &mut obs.denied, DeniedRead::Secret, orphan_secrets);
    let unresolved = sorted(
        obs.secrets
            .values()
            .flatten()
            .filter_map(|s| s.kms_key.clone())
            .filter(|k| !is_aws_managed_alias(k) && obs.key(k).is_none() && !obs.denied.contains_key(k)),
    );
    let more_keys = all(&unresolved, |k| permitted(read_key(aws, k))).await?;
    record(&mut obs.keys, &mut obs.denied, DeniedRead::Key, more_keys);
    let recorded = if obs.whole_account {
        unnamed_routed_vpcs(ctx, obs, vpc_ids)
    } else {
        Vec::new()
    };
    if !recorded.is_empty() {
        obs.route_tables
            .extend(aws.describe_route_tables(Select::Vpcs(&recorded)).await?);
    }
    Ok(())
}

/// Records on each main table the subnets (of `subnets`) of its VPC that
/// no table is explicitly associated with: they use the main table.
fn on_main_tables(tables: &mut [RouteTable], subnets: Vec<Subnet>) {
    for s in subnets {
        let own = tables.iter().any(|t| t.subnets.contains(&s.id));
        if let Some(main) = tables.iter_mut().find(|t| t.main && t.vpc == s.vpc).filter(|_| !own) {
            main.main_for.push(s.id);
        }
    }
}

/// Files each read under what it read, or under the denied reads.
fn record<T>(
    into: &mut std::collections::HashMap<String, T>,
    denied: &mut super::denied::DeniedReads,
    kind: DeniedRead,
    reads: Vec<(String, Result<T, AwsError>)>,
) {
    for (id, read) in reads {
        match read {
            Ok(v) => {
                into.insert(id, v);
            }
            Err(e) => {
                denied.insert(id, (kind, e.to_string()));
            }
        }
    }
}

/// Local VPCs not among `named` with an active peering whose side there
/// records peerlink's routes ([`routes_tag`]).
fn unnamed_routed_vpcs(ctx: &Context, obs: &Observed, named: &[String]) -> Vec<String> {
    sorted(
        obs.peerings
            .iter()
            .filter(|p| p.status == PeeringStatus::Active)
            .flat_map(|p| {
                p.local_sides(&ctx.me)
                    .into_iter()
                    .filter(|s| p.tags.get(&routes_tag(*s)).is_some_and(|v| v != NO_TABLES))
                    .map(|s| p.side(s).vpc.clone())
            })
            .filter(|v| !named.contains(v)),
    )
}

/// The entries `scope` names. An event naming a peering EC2 does not list is
/// an error (the finisher turns it into a no-op for other accounts' events).
fn scope_entries(ctx: &Context, scope: &Scope, obs: &Observed) -> Result<BTreeSet<String>> {
    let config = &ctx.config;
    Ok(match scope {
        Scope::All => config.peers.iter().map(|e| e.name.clone()).collect(),
        Scope::Entries(names) => config
            .peers
            .iter()
            .filter(|e| names.contains(&e.name))
            .map(|e| e.name.clone())
            .collect(),
        Scope::Vpcs(vpcs) => config
            .peers
            .iter()
            .filter(|e| vpcs.iter().any(|v| e.local_vpc == *v.as_str()))
            .map(|e| e.name.clone())
            .collect(),
        Scope::Peerings(ids) => {
            let mut names = BTreeSet::new();
            for id in ids {
                let Some(p) = obs.peerings.iter().find(|p| &p.id == id) else {
                    return Err(Error::NotFound {
                        what: "VPC peering connection",
                        id: id.clone(),
                        account: ctx.me.account.clone(),
                        region: ctx.me.region.clone(),
                    });
                };
                for side in p.local_sides(&ctx.me) {
                    if let Ok(e) = match_entry(config, p.side(side), p.side(side.other())) {
                        names.insert(e.name.clone());
                    }
                }
            }
            // The whole local VPC: its route tables are shared, and the
            // routing invariant weighs each peering against the others
            // (a peer that grew changes what a sibling may be routed to).
            let vpcs: BTreeSet<&str> = config
                .peers
                .iter()
                .filter(|e| names.contains(&e.name))
                .map(|e| e.local_vpc.as_str())
                .collect();
            config
                .peers
                .iter()
                .filter(|e| vpcs.contains(e.local_vpc.as_str()))
                .map(|e| e.name.clone())
                .collect()
        }
    })
}

/// A key reference that names the AWS-managed Secrets Manager key.
pub fn is_aws_managed_alias(key: &str) -> bool {
    key == "alias/aws/secretsmanager" || key.ends_with(":alias/aws/secretsmanager")
}

/// `call` when `needed`, an empty answer otherwise (no call is made).
async fn when<T: Default>(needed: bool, call: impl Future<Output = Result<T, AwsError>>) -> Result<T, AwsError> {
    if needed { call.await } else { Ok(T::default()) }
}

/// `read` for every item at once (bounded), keyed by the item.
async fn all<'a, T, F, Fut>(items: &'a [String], read: F) -> Result<Vec<(String, T)>, AwsError>
where
    F: Fn(&'a str) -> Fut,
    Fut: Future<Output = Result<T, AwsError>> + 'a,
{
    futures_util::stream::iter(items.iter())
        .map(|item| {
            let fut = read(item);
            async move { fut.await.map(|v| (item.clone(), v)) }
        })
        .buffer_unordered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// A secret with its resource policy, both read at once; `None` when it
/// does not exist.
async fn read_secret(aws: &dyn Aws, arn: &str) -> Result<Option<SecretState>, AwsError> {
    let (described, policy) = tokio::join!(aws.describe_secret(arn), aws.get_secret_policy(arn));
    let Some(d) = described? else {
        return Ok(None);
    };
    Ok(Some(SecretState {
        arn: d.arn,
        kms_key: d.kms_key,
        tagged: d.tagged,
        policy: policy?,
    }))
}

/// A key with its policy, both read at once (only customer-managed keys
/// have one we may change); `None` when it does not exist.
async fn read_key(aws: &dyn Aws, key: &str) -> Result<Option<KeyState>, AwsError> {
    // GetKeyPolicy takes no alias: an alias is described first.
    let (described, policy) = if key.starts_with("alias/") || key.contains(":alias/") {
        match aws.describe_key(key).await? {
            Some(d) if !d.aws_managed => {
                let policy = aws.get_key_policy(&d.arn).await;
                (Ok(Some(d)), policy)
            }
            other => (Ok(other), Ok(None)),
        }
    } else {
        tokio::join!(aws.describe_key(key), aws.get_key_policy(key))
    };
    let Some(d) = described? else {
        return Ok(None);
    };
    // An AWS-managed key's policy is not ours to change; a failed read of it
    // is no error.
    let policy = if d.aws_managed { None } else { policy? };
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
