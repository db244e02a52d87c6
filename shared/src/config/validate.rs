//! The checks that need more than one field at a time: ranges of the
//! settings, consistency within an entry, entries that cannot be told apart,
//! and allowlists broad enough to deserve a warning.

use ipnet::IpNet;

use super::{GlobalSettings, PeerEntry, Protocol, TableSelect};

pub(super) fn equally_specific(peers: &[&PeerEntry]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    for (i, a) in peers.iter().enumerate() {
        for (j, b) in peers.iter().enumerate().skip(i + 1) {
            let same = a.peer_account == b.peer_account
                && a.local_vpc == b.local_vpc
                && a.peer_vpc == b.peer_vpc
                && a.peer_region == b.peer_region;
            if same {
                pairs.push((i, j));
            }
        }
    }
    pairs
}

/// A problem found by a check of more than one field: where it is (a path
/// of keys and array indices from the document's root, `peer.0.secrets.1`)
/// and what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Invalid {
    pub(super) path: String,
    pub(super) message: String,
}

impl GlobalSettings {
    pub(super) fn problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        for (field, value, max) in [
            ("write_concurrency", self.write_concurrency as u64, 64),
            ("routes_per_route_table", self.routes_per_route_table as u64, 1000),
            ("rules_per_security_group", self.rules_per_security_group as u64, 1000),
            ("active_peerings_per_vpc", self.active_peerings_per_vpc as u64, 125),
            ("request_retry_hours", self.request_retry_hours, 720),
        ] {
            if value == 0 || value > max {
                out.push(Invalid {
                    path: format!("settings.{field}"),
                    message: format!("settings.{field} = {value} is out of range (1 to {max})"),
                });
            }
        }
        out
    }
}

impl PeerEntry {
    /// Every inconsistency of this entry (paths relative to the entry).
    pub(super) fn problems(&self) -> Vec<Invalid> {
        let mut out = self.identity_problems();
        out.extend(self.route_problems());
        out.extend(self.rule_problems());
        out.extend(self.verify_problems());
        out.extend(self.secret_problems());
        out
    }

    /// Its name, its ranges, and what a request needs.
    fn identity_problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut add = |path: String, message: String| out.push(Invalid { path, message });
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !name_ok {
            add(
                "name".into(),
                "name must be 1 to 64 letters, digits, '-', '_' or '.'".into(),
            );
        }
        if self.allowed_cidrs.is_empty() {
            add(
                "allowed_cidrs".into(),
                "allowed_cidrs is empty: list the ranges the peer VPC's CIDR blocks must lie in".into(),
            );
        }
        if self.request {
            if self.peer_vpc.is_none() || self.peer_region.is_none() {
                add(
                    "request".into(),
                    "request = true needs peer_vpc and peer_region: the request names both".into(),
                );
            }
            if self.auto_accept {
                add(
                    "auto_accept".into(),
                    "auto_accept has no meaning with request = true: this side asks, the peer's allowlist accepts"
                        .into(),
                );
            }
        }
        out
    }

    /// How it selects route tables.
    fn route_problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut add = |path: String, message: String| out.push(Invalid { path, message });
        let routes = &self.routes;
        let lists = [
            (TableSelect::Tagged, "tagged", "tags", routes.tags.is_empty()),
            (TableSelect::Ids, "ids", "ids", routes.ids.is_empty()),
            (TableSelect::Subnets, "subnets", "subnets", routes.subnets.is_empty()),
        ];
        for (select, name, list, empty) in lists {
            if routes.select == select && empty {
                add(
                    "routes.select".into(),
                    format!("routes.select = \"{name}\" needs routes.{list}"),
                );
            } else if routes.select != select && !empty {
                add(
                    format!("routes.{list}"),
                    format!("routes.{list} only applies with select = \"{name}\""),
                );
            }
        }
        for (k, cidr) in routes.destinations.iter().enumerate() {
            if !self.allows(&cidr.0) {
                add(
                    format!("routes.destinations.{k}"),
                    format!("routes.destinations: {cidr} lies outside allowed_cidrs: it cannot be in the peer VPC"),
                );
            }
        }
        out
    }

    /// Its security-group rules.
    fn rule_problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut add = |path: String, message: String| out.push(Invalid { path, message });
        for (i, rule) in self.security_group_rules.iter().enumerate() {
            let at = format!("security_group_rules[{i}]");
            if !rule.cidrs.is_empty() && !rule.peer_groups.is_empty() {
                add(
                    format!("security_group_rules.{i}.cidrs"),
                    format!(
                        "{at}: cidrs and peer_groups exclude each other (a rule references groups or opens ranges)"
                    ),
                );
            }
            for (k, cidr) in rule.cidrs.iter().enumerate() {
                if !self.allows(&cidr.0) {
                    add(
                        format!("security_group_rules.{i}.cidrs.{k}"),
                        format!("{at}.cidrs: {cidr} lies outside allowed_cidrs: it cannot be in the peer VPC"),
                    );
                }
            }
            match (rule.protocol, rule.ports) {
                (Protocol::Tcp | Protocol::Udp, None) => add(
                    format!("security_group_rules.{i}"),
                    format!("{at}: protocol {:?} needs ports", rule.protocol.ec2_name()),
                ),
                (Protocol::All | Protocol::Icmp, Some(_)) => add(
                    format!("security_group_rules.{i}.ports"),
                    format!("{at}: ports do not apply to protocol {:?}", rule.protocol.ec2_name()),
                ),
                _ => {}
            }
        }
        out
    }

    /// The paths it declares.
    fn verify_problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut add = |path: String, message: String| out.push(Invalid { path, message });
        for (i, path) in self.verify.iter().enumerate() {
            let at = format!("verify[{i}]");
            if let Err(e) = crate::verify::Traffic::new(path.protocol, path.port) {
                add(format!("verify.{i}"), format!("{at}: {e}"));
            }
            if path.port == Some(0) {
                add(
                    format!("verify.{i}.port"),
                    format!("{at}.port: 0 is no port (1 to 65535)"),
                );
            }
            let remote = IpNet::from(std::net::IpAddr::V4(path.remote));
            if !self.allows(&remote) {
                add(
                    format!("verify.{i}.remote"),
                    format!(
                        "{at}.remote {} lies outside allowed_cidrs: it cannot be in the peer VPC",
                        path.remote
                    ),
                );
            }
        }
        out
    }

    /// Its secrets and their keys.
    fn secret_problems(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        let mut add = |path: String, message: String| out.push(Invalid { path, message });
        for (i, secret) in self.secrets.iter().enumerate() {
            let at = format!("secrets[{i}]");
            if secret.principals.is_empty() {
                add(format!("secrets.{i}.principals"), format!("{at}.principals is empty"));
            }
            for (j, p) in secret.principals.iter().enumerate() {
                if p.account != self.peer_account.as_str() {
                    add(
                        format!("secrets.{i}.principals.{j}"),
                        format!(
                            "{at}.principals: {:?} is not in peer_account {}; access is only granted to the peer account",
                            p.arn, self.peer_account
                        ),
                    );
                }
            }
            if let Some(key) = &secret.kms_key {
                let key_region = key.0.split(':').nth(3).unwrap_or_default();
                if key_region != secret.arn.region {
                    add(
                        format!("secrets.{i}.kms_key"),
                        format!(
                            "{at}.kms_key is in region {key_region:?} but the secret is in {:?}",
                            secret.arn.region
                        ),
                    );
                }
            }
        }
        out
    }

    /// What this entry may not ask for in `region`: a reference to the
    /// peer's groups when the peer is in another region.
    pub(super) fn region_problems(&self, region: &str) -> Vec<Invalid> {
        let peer_region = self.expected_peer_region(region);
        if peer_region == region {
            return Vec::new();
        }
        let rules = self.security_group_rules.iter().enumerate();
        rules
            .filter(|(_, r)| !r.peer_groups.is_empty())
            .map(|(i, _)| Invalid {
                path: format!("security_group_rules.{i}.peer_groups"),
                message: format!(
                    "security_group_rules[{i}].peer_groups: the peer is in {peer_region}, this configuration's region is {region}, and EC2 cannot reference a security group across regions; drop peer_groups (the rule then opens to the peer's CIDR blocks)"
                ),
            })
            .collect()
    }

    /// Allowlists that admit (almost) anything: not errors, but worth a look.
    pub(super) fn warnings(&self) -> Vec<Invalid> {
        let mut out = Vec::new();
        for (k, cidr) in self.allowed_cidrs.iter().enumerate() {
            let path = format!("allowed_cidrs.{k}");
            let (len, broad, family) = match cidr.0 {
                IpNet::V4(n) => (n.prefix_len(), 8, "IPv4"),
                IpNet::V6(n) => (n.prefix_len(), 32, "IPv6"),
            };
            if len == 0 {
                out.push(Invalid {
                    path,
                    message: format!(
                        "allowed_cidrs contains {cidr}, a catch-all: any {family} block of any VPC of peer_account {} passes the range check (only the overlap checks remain); list the peer's own ranges",
                        self.peer_account
                    ),
                });
            } else if len < broad {
                out.push(Invalid {
                    path,
                    message: format!(
                        "allowed_cidrs contains {cidr}, wider than a /{broad}: is the peer's range really that large?"
                    ),
                });
            }
        }
        out
    }
}
