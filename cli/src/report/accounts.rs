//! The accounts file: which accounts `peerlink report` reads, through which
//! role, in which regions, and against which peerlink configuration.
//!
//! ```toml
//! [[account]]
//! id = "111111111111"
//! name = "orders"                        # optional label
//! role = "peerlink-report"               # role name in that account, or a role ARN
//! regions = ["eu-west-1"]
//! config = "orders/peerlink.toml"        # optional; relative to this file
//! ```
//!
//! With several regions, `config` is a table: `config = { eu-west-1 = "a.toml" }`
//! (a configuration names VPCs of one region).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use peerlink::ids::AccountId;
use serde::Deserialize;

use crate::Error;

/// One account to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountSpec {
    pub id: String,
    pub name: Option<String>,
    /// The role to assume, always as an ARN.
    pub role_arn: String,
    pub regions: Vec<RegionSpec>,
}

/// One region of an account, with the configuration to compare it against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegionSpec {
    pub region: String,
    /// Resolved against the accounts file's directory.
    pub config: Option<PathBuf>,
}

/// The whole accounts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountsFile {
    pub path: PathBuf,
    pub accounts: Vec<AccountSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    account: Vec<RawAccount>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAccount {
    id: String,
    role: String,
    regions: Vec<String>,
    #[serde(default)]
    config: Option<RawConfig>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawConfig {
    One(String),
    PerRegion(BTreeMap<String, String>),
}

impl AccountsFile {
    /// Reads and checks `path`. The error names the file and what is wrong.
    pub fn load(path: &Path) -> crate::Result<AccountsFile> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::AccountsFile {
            path: path.to_path_buf(),
            reason: format!("cannot read it: {e}"),
        })?;
        Self::parse(&text, path)
    }

    /// Parses the text of the file at `path` (relative configuration paths
    /// are resolved against its directory).
    pub fn parse(text: &str, path: &Path) -> crate::Result<AccountsFile> {
        let fail = |reason: String| Error::AccountsFile {
            path: path.to_path_buf(),
            reason,
        };
        let doc: Document = toml::from_str(text).map_err(|e| fail(e.to_string().trim_end().to_string()))?;
        if doc.account.is_empty() {
            return Err(fail("no [[account]] table: list at least one account".into()));
        }
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut seen = BTreeSet::new();
        let mut accounts = Vec::new();
        for (i, raw) in doc.account.into_iter().enumerate() {
            let at = format!("account #{} ({})", i + 1, raw.id);
            let id: String = raw
                .id
                .trim()
                .parse::<AccountId>()
                .map_err(|_| fail(format!("{at}: id must be a 12-digit account id")))?
                .into();
            if !seen.insert(id.clone()) {
                return Err(fail(format!(
                    "{at}: account {id} is listed twice (list its regions in one table)"
                )));
            }
            if raw.regions.is_empty() {
                return Err(fail(format!("{at}: regions is empty: list at least one region")));
            }
            let mut regions_seen = BTreeSet::new();
            for r in &raw.regions {
                let valid = !r.is_empty()
                    && r.bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                    && r.contains('-');
                if !valid {
                    return Err(fail(format!("{at}: {r:?} is not a region name (like \"eu-west-1\")")));
                }
                if !regions_seen.insert(r.clone()) {
                    return Err(fail(format!("{at}: region {r} is listed twice")));
                }
            }
            let role_arn = role_arn(&raw.role, &id, &raw.regions[0]).map_err(|m| fail(format!("{at}: role: {m}")))?;
            let resolve = |p: &str| -> crate::Result<PathBuf> {
                if p.trim().is_empty() {
                    return Err(fail(format!("{at}: config is an empty path")));
                }
                let p = PathBuf::from(p);
                Ok(if p.is_absolute() { p } else { dir.join(p) })
            };
            let mut per_region: BTreeMap<String, PathBuf> = BTreeMap::new();
            match raw.config {
                None => {}
                Some(RawConfig::One(p)) => {
                    if raw.regions.len() > 1 {
                        return Err(fail(format!(
                            "{at}: a configuration names VPCs of one region; with several regions give one per region: config = {{ {} = \"...\" }}",
                            raw.regions[0]
                        )));
                    }
                    per_region.insert(raw.regions[0].clone(), resolve(&p)?);
                }
                Some(RawConfig::PerRegion(map)) => {
                    for (region, p) in map {
                        if !raw.regions.contains(&region) {
                            return Err(fail(format!(
                                "{at}: config names region {region}, which is not in regions"
                            )));
                        }
                        per_region.insert(region, resolve(&p)?);
                    }
                }
            }
            let name = raw.name.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
            accounts.push(AccountSpec {
                id,
                name,
                role_arn,
                regions: raw
                    .regions
                    .iter()
                    .map(|r| RegionSpec {
                        region: r.clone(),
                        config: per_region.get(r).cloned(),
                    })
                    .collect(),
            });
        }
        Ok(AccountsFile {
            path: path.to_path_buf(),
            accounts,
        })
    }
}

/// `role` as an ARN: an ARN is checked and kept, a name (with an optional
/// path, `team/peerlink-report`) becomes a role of account `id`.
fn role_arn(role: &str, id: &str, region: &str) -> Result<String, String> {
    let role = role.trim();
    if role.is_empty() {
        return Err("empty: give a role name or ARN".into());
    }
    if role.starts_with("arn:") {
        let parts: Vec<&str> = role.splitn(6, ':').collect();
        let ok = matches!(parts.as_slice(), ["arn", p, "iam", "", acct, res]
            if !p.is_empty() && acct.parse::<AccountId>().is_ok()
               && res.strip_prefix("role/").is_some_and(|n| !n.is_empty()));
        if !ok {
            return Err(format!("{role:?} is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)"));
        }
        return Ok(role.to_string());
    }
    if role.contains(':') || role.chars().any(char::is_whitespace) {
        return Err(format!("{role:?} is neither a role name nor a role ARN"));
    }
    Ok(format!(
        "arn:{}:iam::{id}:role/{}",
        peerlink::ids::partition_of(region),
        role.trim_matches('/')
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<AccountsFile, String> {
        AccountsFile::parse(text, Path::new("/org/accounts.toml")).map_err(|e| e.to_string())
    }

    #[test]
    fn names_become_arns_and_paths_resolve_next_to_the_file() {
        let f = parse(
            r#"
            [[account]]
            id = "111111111111"
            name = "orders"
            role = "peerlink-report"
            regions = ["eu-west-1"]
            config = "orders/peerlink.toml"

            [[account]]
            id = "222222222222"
            role = "arn:aws:iam::222222222222:role/audit/peerlink"
            regions = ["eu-west-1", "us-east-1"]
            config = { us-east-1 = "/abs/db.toml" }
            "#,
        )
        .unwrap();
        let a = &f.accounts[0];
        assert_eq!(a.role_arn, "arn:aws:iam::111111111111:role/peerlink-report");
        assert_eq!(a.name.as_deref(), Some("orders"));
        assert_eq!(
            a.regions[0].config.as_deref(),
            Some(Path::new("/org/orders/peerlink.toml"))
        );
        let b = &f.accounts[1];
        assert_eq!(b.role_arn, "arn:aws:iam::222222222222:role/audit/peerlink");
        assert_eq!(b.regions[0].config, None);
        assert_eq!(b.regions[1].config.as_deref(), Some(Path::new("/abs/db.toml")));
    }

    #[test]
    fn mistakes_are_named() {
        let cases = [
            ("", "no [[account]]"),
            (
                "[[account]]\nid = \"1\"\nrole = \"r\"\nregions = [\"eu-west-1\"]\n",
                "12-digit",
            ),
            (
                "[[account]]\nid = \"111111111111\"\nrole = \"r\"\nregions = []\n",
                "regions is empty",
            ),
            (
                "[[account]]\nid = \"111111111111\"\nrole = \"arn:aws:iam::1:role/x\"\nregions = [\"eu-west-1\"]\n",
                "not a role ARN",
            ),
            (
                "[[account]]\nid = \"111111111111\"\nrole = \"r\"\nregions = [\"eu-west-1\", \"us-east-1\"]\nconfig = \"a.toml\"\n",
                "one per region",
            ),
            (
                "[[account]]\nid = \"111111111111\"\nrole = \"r\"\nregions = [\"eu-west-1\"]\nextra = 1\n",
                "unknown field",
            ),
            (
                "[[account]]\nid = \"111111111111\"\nrole = \"r\"\nregions = [\"eu-west-1\"]\n[[account]]\nid = \"111111111111\"\nrole = \"r\"\nregions = [\"eu-west-1\"]\n",
                "listed twice",
            ),
        ];
        for (text, want) in cases {
            let err = parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
            assert!(err.contains("/org/accounts.toml"), "{err}");
        }
    }
}
