//! Test fixtures shared by the unit tests here and the emulator tests (the
//! `peerlink-tests` crate enables the `fixtures` feature): the ids of the
//! ECS-to-RDS example's two accounts, and a builder for configuration entries, so
//! no test writes the same TOML by hand.

use std::fmt::Write as _;

use ipnet::IpNet;

use crate::config::Config;
use crate::model::{Identity, PeeringSide};

/// The accepter account (RDS) of the unit tests.
pub const ME: &str = "222222222222";
/// The requester account (ECS tasks).
pub const PEER: &str = "111111111111";
pub const REGION: &str = "eu-west-1";
pub const LOCAL_VPC: &str = "vpc-0bbb2222bbbb2222b";
pub const PEER_VPC: &str = "vpc-0aaa1111aaaa1111a";
pub const PCX: &str = "pcx-0123456789abcdef0";
pub const SG: &str = "sg-0bbb2222bbbb2222d";
pub const SECRET: &str = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf";
pub const KEY: &str = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab";
pub const ROLE: &str = "arn:aws:iam::111111111111:role/app";

/// One `[[peer]]` entry, written as TOML.
#[derive(Debug, Clone)]
pub struct Entry {
    name: String,
    peer_account: String,
    peer_vpc: Option<String>,
    peer_region: Option<String>,
    allowed: Vec<String>,
    local_vpc: String,
    auto_accept: bool,
    extra: Vec<String>,
    tables: Option<String>,
    rules: Vec<String>,
    secrets: Vec<String>,
}

impl Entry {
    /// An entry that auto-accepts `peer_account`'s VPCs in `allowed` into `local_vpc`.
    pub fn new(name: &str, peer_account: &str, local_vpc: &str, allowed: &[&str]) -> Entry {
        Entry {
            name: name.into(),
            peer_account: peer_account.into(),
            peer_vpc: None,
            peer_region: None,
            allowed: allowed.iter().map(|c| c.to_string()).collect(),
            local_vpc: local_vpc.into(),
            auto_accept: true,
            extra: Vec::new(),
            tables: None,
            rules: Vec::new(),
            secrets: Vec::new(),
        }
    }

    pub fn peer_vpc(mut self, vpc: &str) -> Entry {
        self.peer_vpc = Some(vpc.into());
        self
    }

    pub fn peer_region(mut self, region: &str) -> Entry {
        self.peer_region = Some(region.into());
        self
    }

    pub fn auto_accept(mut self, on: bool) -> Entry {
        self.auto_accept = on;
        self
    }

    /// Any other `key = value` line of the entry.
    pub fn line(mut self, line: &str) -> Entry {
        self.extra.push(line.into());
        self
    }

    /// `[peer.routes]` with these lines (`select = "none"`, …).
    pub fn routes(mut self, lines: &str) -> Entry {
        self.tables = Some(lines.into());
        self
    }

    /// A TCP rule on `port` in `group` (default direction).
    pub fn rule(mut self, group: &str, port: u16) -> Entry {
        self.rules.push(format!("group = \"{group}\"\nports = {port}"));
        self
    }

    /// A rule written out in full (`group = …`, `direction = …`, …).
    pub fn rule_lines(mut self, lines: &str) -> Entry {
        self.rules.push(lines.into());
        self
    }

    /// A secret the peer's `principals` may read.
    pub fn secret(mut self, arn: &str, principals: &[&str]) -> Entry {
        let list: Vec<String> = principals.iter().map(|p| format!("\"{p}\"")).collect();
        self.secrets
            .push(format!("arn = \"{arn}\"\nprincipals = [{}]", list.join(", ")));
        self
    }

    /// A secret expected to be on `key` (`kms_key`).
    pub fn secret_on_key(mut self, arn: &str, key: &str, principals: &[&str]) -> Entry {
        self = self.secret(arn, principals);
        if let Some(last) = self.secrets.last_mut() {
            last.push_str(&format!("\nkms_key = \"{key}\""));
        }
        self
    }

    pub fn toml(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "\n[[peer]]\nname = \"{}\"\npeer_account = \"{}\"",
            self.name, self.peer_account
        );
        if let Some(v) = &self.peer_vpc {
            let _ = writeln!(t, "peer_vpc = \"{v}\"");
        }
        if let Some(r) = &self.peer_region {
            let _ = writeln!(t, "peer_region = \"{r}\"");
        }
        let allowed: Vec<String> = self.allowed.iter().map(|c| format!("\"{c}\"")).collect();
        let _ = writeln!(t, "allowed_cidrs = [{}]", allowed.join(", "));
        let _ = writeln!(t, "local_vpc = \"{}\"", self.local_vpc);
        let _ = writeln!(t, "auto_accept = {}", self.auto_accept);
        for line in &self.extra {
            let _ = writeln!(t, "{line}");
        }
        if let Some(lines) = &self.tables {
            let _ = writeln!(t, "\n[peer.routes]\n{lines}");
        }
        for r in &self.rules {
            let _ = writeln!(t, "\n[[peer.security_group_rules]]\n{r}");
        }
        for s in &self.secrets {
            let _ = writeln!(t, "\n[[peer.secrets]]\n{s}");
        }
        t
    }
}

/// A whole document: `[settings]` lines, then the entries.
pub fn document(settings: &str, entries: &[Entry]) -> String {
    let mut t = format!("[settings]\n{settings}\n");
    for e in entries {
        t.push_str(&e.toml());
    }
    t
}

/// The accepter account of the unit tests, in their region.
pub fn me() -> Identity {
    Identity {
        account: ME.into(),
        region: REGION.into(),
    }
}

/// One end of a peering in the fixtures' region: blocks known, DNS off.
pub fn side(account: &str, vpc: &str, cidrs: Vec<IpNet>) -> PeeringSide {
    PeeringSide {
        account: account.into(),
        vpc: vpc.into(),
        region: REGION.into(),
        cidrs,
        allow_remote_dns: false,
        blocks_known: true,
    }
}

/// A network ACL entry: `ports` None for every port, `protocol` None for all
/// traffic.
pub fn nacl_entry(
    rule_number: i32,
    egress: bool,
    allow: bool,
    protocol: Option<crate::config::Protocol>,
    ports: Option<(u16, u16)>,
    cidr: &str,
) -> crate::model::NaclEntry {
    crate::model::NaclEntry {
        rule_number,
        egress,
        allow,
        protocol,
        ports: ports.map(|(from, to)| crate::config::PortRange { from, to }),
        cidr: cidr.parse().expect("a CIDR block"),
    }
}

/// The document, parsed (it must be valid).
pub fn config(settings: &str, entries: &[Entry]) -> Config {
    let text = document(settings, entries);
    Config::parse(&text, "fixture").unwrap_or_else(|e| panic!("fixture config is invalid: {e}\n{text}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builder_writes_what_the_parser_reads() {
        let c = config(
            "unmatched_requests = \"ignore\"",
            &[Entry::new("orders", PEER, LOCAL_VPC, &["10.0.0.0/16"])
                .peer_vpc(PEER_VPC)
                .peer_region("us-east-1")
                .auto_accept(false)
                .routes("select = \"none\"")
                .rule(SG, 5432)
                .secret(SECRET, &[ROLE])],
        );
        let e = &c.peers[0];
        assert_eq!(e.peer_vpc.as_ref().unwrap().as_str(), PEER_VPC);
        assert_eq!(e.peer_region.as_ref().unwrap().as_str(), "us-east-1");
        assert!(!e.auto_accept);
        assert_eq!(e.security_group_rules[0].group.as_str(), SG);
        assert_eq!(e.secrets[0].principals[0].arn, ROLE);
        assert_eq!(e.routes.select, crate::config::TableSelect::None);
    }
}
