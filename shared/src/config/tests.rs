//! Unit tests of parsing and validation.
use super::*;

const GOOD: &str = r#"
[settings]
unmatched_requests = "ignore"

[[peer]]
name = "orders"
peer_account = "111111111111"
peer_vpc = "vpc-0aaa1111aaaa1111a"
peer_region = "eu-west-1"
allowed_cidrs = ["10.0.0.0/16", "2600:1f18::/40"]
local_vpc = "vpc-0bbb2222bbbb2222b"
auto_accept = true

[peer.routes]
select = "tagged"
tags = { tier = "private" }

[[peer.security_group_rules]]
group = "sg-0bbb2222bbbb2222b"
ports = 5432

[[peer.security_group_rules]]
group = "sg-0bbb2222bbbb2222c"
direction = "egress"
protocol = "udp"
ports = "1024-65535"

[[peer.secrets]]
arn = "arn:aws:secretsmanager:eu-west-1:222222222222:secret:db-AbCdEf"
principals = ["arn:aws:iam::111111111111:role/orders-task"]
kms_key = "arn:aws:kms:eu-west-1:222222222222:key/1234abcd-12ab-34cd-56ef-1234567890ab"
"#;

#[test]
fn parses_a_full_document() {
    let c = Config::parse(GOOD, "test").unwrap();
    assert_eq!(c.settings.unmatched_requests, UnmatchedRequests::Ignore);
    assert_eq!(c.settings.drift_mode, DriftMode::Report);
    let p = &c.peers[0];
    assert_eq!(p.peer_account.as_str(), "111111111111");
    assert_eq!(p.routes.select, TableSelect::Tagged);
    assert_eq!(
        p.security_group_rules[0].ports,
        Some(PortRange { from: 5432, to: 5432 })
    );
    assert_eq!(p.security_group_rules[0].protocol, Protocol::Tcp);
    assert_eq!(
        p.security_group_rules[1].ports,
        Some(PortRange { from: 1024, to: 65535 })
    );
    assert!(p.dns.remote_resolution);
    assert_eq!(p.secrets[0].arn.account, "222222222222");
}

fn err_of(doc: &str) -> String {
    Config::parse(doc, "test").unwrap_err().to_string()
}

fn with(find: &str, replace: &str) -> String {
    assert!(GOOD.contains(find), "{find}");
    GOOD.replacen(find, replace, 1)
}

#[test]
fn errors_name_the_field() {
    let cases = [
        (
            with("auto_accept = true", "auto_accept = true\nauto_acept = true"),
            "auto_acept",
        ),
        (with("\"111111111111\"", "\"11111111111\""), "account id"),
        (with("\"vpc-0aaa1111aaaa1111a\"", "\"vpc-XYZ\""), "VPC id"),
        (with("\"10.0.0.0/16\"", "\"10.0.0.0/33\""), "invalid CIDR"),
        (with("\"10.0.0.0/16\"", "\"10.0.0.1/16\""), "host bits"),
        (
            with("unmatched_requests = \"ignore\"", "unmatched_requests = \"maybe\""),
            "unmatched_requests",
        ),
        (with("ports = 5432", "ports = 0"), "invalid port range"),
        (with("ports = 5432", "ports = \"9-1\""), "invalid port range"),
        (with("ports = 5432\n", ""), "needs ports"),
        (with("role/orders-task", "role/*"), "wildcards"),
        (
            with("arn:aws:iam::111111111111:role", "arn:aws:iam::999999999999:role"),
            "not in peer_account",
        ),
        (
            with(
                "select = \"tagged\"\ntags = { tier = \"private\" }",
                "select = \"tagged\"",
            ),
            "needs routes.tags",
        ),
        (with("secret:db-AbCdEf", "parameter:db"), "invalid secret ARN"),
        (
            with("[settings]", "[settings]\nwrite_concurrency = 0"),
            "write_concurrency",
        ),
        (
            with(
                "allowed_cidrs = [\"10.0.0.0/16\", \"2600:1f18::/40\"]",
                "allowed_cidrs = []",
            ),
            "allowed_cidrs is empty",
        ),
        (with("peer_account", "peer_acount"), "peer_acount"),
        (
            with("eu-west-1:222222222222:key", "us-east-1:222222222222:key"),
            "kms_key",
        ),
    ];
    for (doc, expected) in cases {
        let err = err_of(&doc);
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
    }
}

#[test]
fn toml_errors_carry_the_line() {
    let err = err_of(&with("auto_accept = true", "auto_accept = \"yes\""));
    assert!(err.contains("line 12") && err.contains("auto_accept"), "{err}");
}

#[test]
fn duplicate_names_and_ambiguous_entries() {
    let doc = format!(
        "{GOOD}\n[[peer]]\nname = \"orders\"\npeer_account = \"111111111111\"\nallowed_cidrs = [\"10.0.0.0/16\"]\nlocal_vpc = \"vpc-0bbb2222bbbb2222b\"\n"
    );
    assert!(err_of(&doc).contains("unique"));
    let doc = doc.replace(
        "name = \"orders\"\npeer_account = \"111111111111\"\nallowed",
        "name = \"other\"\npeer_account = \"111111111111\"\nallowed",
    );
    // "orders" names a peer VPC and a region: more specific than "other", both valid.
    let c = Config::parse(&doc, "t").unwrap();
    assert!(c.equally_specific_pairs().is_empty());
    // Two entries naming the same peer VPC (and region) are equally specific:
    // an error naming both, with their lines.
    let twin = doc.replace(
        "name = \"other\"\npeer_account = \"111111111111\"\n",
        "name = \"other\"\npeer_account = \"111111111111\"\npeer_vpc = \"vpc-0aaa1111aaaa1111a\"\npeer_region = \"eu-west-1\"\n",
    );
    let err = err_of(&twin);
    assert!(
        err.contains("\"orders\" (line 5)") && err.contains("\"other\" (line 33)"),
        "{err}"
    );
    assert!(err.contains("neither is more specific"), "{err}");
}

#[test]
fn the_shipped_example_is_valid() {
    let text = include_str!("../../../peerlink.example.toml");
    Config::parse(text, "peerlink.example.toml").unwrap();
}
