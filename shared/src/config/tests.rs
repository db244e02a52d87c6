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
    assert!(validate::equally_specific(&c.peers.iter().collect::<Vec<_>>()).is_empty());
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

/// The problems of a document as `(line, severity, message)`.
fn problems_of(doc: &str) -> Vec<(Option<usize>, Severity, String)> {
    Config::check(doc)
        .1
        .into_iter()
        .map(|p| (p.line, p.severity, p.message))
        .collect()
}

fn line_of(doc: &str, needle: &str) -> usize {
    doc.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle}"))
        + 1
}

#[test]
fn every_error_is_reported_with_its_line() {
    // Three different mistakes: a value out of range in [settings], an
    // unknown key in the first entry, a malformed id in a rule.
    let doc = with("[settings]", "[settings]\nwrite_concurrency = 0")
        .replacen("auto_accept = true", "auto_accept = true\nauto_acept = true", 1)
        .replacen("sg-0bbb2222bbbb2222c", "sg-XYZ", 1);
    let (config, problems) = Config::check(&doc);
    assert!(config.is_none());
    let got: Vec<(usize, &str)> = problems.iter().map(|p| (p.line.unwrap(), p.message.as_str())).collect();
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0].0, line_of(&doc, "write_concurrency = 0"));
    assert!(
        got[0].1.contains("settings.write_concurrency = 0 is out of range"),
        "{got:#?}"
    );
    assert_eq!(got[1].0, line_of(&doc, "auto_acept"));
    assert!(
        got[1]
            .1
            .starts_with("peer[0] (name \"orders\"): unknown field `auto_acept`"),
        "{got:#?}"
    );
    assert_eq!(got[2].0, line_of(&doc, "sg-XYZ"));
    assert!(
        got[2]
            .1
            .starts_with("peer[0] (name \"orders\").security_group_rules[1].group: invalid security group id"),
        "{got:#?}"
    );
    assert!(problems.iter().all(|p| p.severity == Severity::Error));

    // parse fails with all of them, in document order.
    let err = err_of(&doc);
    let first = format!(
        "3 errors: line {}: settings.write_concurrency",
        line_of(&doc, "write_concurrency")
    );
    assert!(err.contains(&first), "{err}");
    let (a, b, c) = (
        err.find("write_concurrency"),
        err.find("auto_acept"),
        err.find("sg-XYZ"),
    );
    assert!(a < b && b < c, "{err}");
}

#[test]
fn every_key_of_one_entry_is_checked() {
    // Several bad keys in one entry, two bad elements of one list, two bad rules.
    let doc = with("\"111111111111\"", "\"1111\"")
        .replacen("\"vpc-0bbb2222bbbb2222b\"", "\"vpc-local\"", 1)
        .replacen(
            "[\"10.0.0.0/16\", \"2600:1f18::/40\"]",
            "[\"10.0.0.1/16\", \"300.0.0.0/8\"]",
            1,
        )
        .replacen("ports = 5432", "ports = 0", 1)
        .replacen("ports = \"1024-65535\"", "ports = \"x\"", 1)
        .replacen("select = \"tagged\"", "select = \"some\"", 1);
    let got = problems_of(&doc);
    let messages: Vec<&str> = got.iter().map(|(_, _, m)| m.as_str()).collect();
    for (needle, expected) in [
        ("\"1111\"", "peer[0] (name \"orders\").peer_account: invalid account id"),
        (
            "10.0.0.1/16",
            "peer[0] (name \"orders\").allowed_cidrs[0]: CIDR \"10.0.0.1/16\" has host bits set",
        ),
        (
            "10.0.0.1/16",
            "peer[0] (name \"orders\").allowed_cidrs[1]: invalid CIDR \"300.0.0.0/8\"",
        ),
        ("vpc-local", "peer[0] (name \"orders\").local_vpc: invalid VPC id"),
        (
            "select = \"some\"",
            "peer[0] (name \"orders\").routes.select: unknown variant `some`",
        ),
        (
            "ports = 0",
            "peer[0] (name \"orders\").security_group_rules[0].ports: invalid port range",
        ),
        (
            "ports = \"x\"",
            "peer[0] (name \"orders\").security_group_rules[1].ports: invalid port range",
        ),
    ] {
        let line = line_of(&doc, needle);
        assert!(
            got.iter().any(|(l, _, m)| *l == Some(line) && m.starts_with(expected)),
            "expected line {line}: {expected}… in {messages:#?}"
        );
    }
    assert_eq!(got.len(), 7, "{messages:#?}");
}

#[test]
fn a_removed_key_is_not_reported_missing_but_a_missing_one_is() {
    // An invalid group id is one error, not also "missing field `group`".
    let doc = with("sg-0bbb2222bbbb2222b", "sg-nope");
    let got = problems_of(&doc);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert!(got[0].2.contains("invalid security group id"), "{got:#?}");
    // A key that is really absent is named, at its table's header.
    let doc = with("local_vpc = \"vpc-0bbb2222bbbb2222b\"\n", "").replacen("group = \"sg-0bbb2222bbbb2222c\"\n", "", 1);
    let got = problems_of(&doc);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, Some(line_of(&doc, "[[peer]]")));
    assert_eq!(got[0].2, "peer[0] (name \"orders\"): missing field `local_vpc`");
    let second_rule = doc.match_indices("[[peer.security_group_rules]]").nth(1).unwrap().0;
    assert_eq!(got[1].0, Some(doc[..second_rule].lines().count() + 1));
    assert_eq!(
        got[1].2,
        "peer[0] (name \"orders\").security_group_rules[1]: missing field `group`"
    );
}

#[test]
fn checks_across_fields_are_all_reported_with_their_lines() {
    let doc = format!(
        "{}\n[[peer]]\nname = \"second\"\npeer_account = \"333333333333\"\nallowed_cidrs = [\"10.3.0.0/16\"]\nlocal_vpc = \"vpc-0bbb2222bbbb2222b\"\nrequest = true\n",
        with("[settings]", "[settings]\nrequest_retry_hours = 0").replacen("ports = 5432\n", "", 1)
    );
    let got = problems_of(&doc);
    assert_eq!(got.len(), 3, "{got:#?}");
    assert_eq!(got[0].0, Some(line_of(&doc, "request_retry_hours = 0")));
    assert!(got[0].2.contains("request_retry_hours = 0 is out of range"));
    assert_eq!(got[1].0, Some(line_of(&doc, "group = \"sg-0bbb2222bbbb2222b\"") - 1));
    assert_eq!(
        got[1].2,
        "peer[0] (name \"orders\"): security_group_rules[0]: protocol \"tcp\" needs ports"
    );
    assert_eq!(got[2].0, Some(line_of(&doc, "request = true")));
    assert!(
        got[2]
            .2
            .starts_with("peer[1] (name \"second\"): request = true needs peer_vpc and peer_region")
    );
}

#[test]
fn syntax_and_top_level_errors() {
    let got = problems_of("[settings\nx = 1\n");
    assert!(!got.is_empty() && got[0].0 == Some(1), "{got:#?}");
    assert!(got[0].2.starts_with("invalid TOML: "), "{got:#?}");
    let got = problems_of("allowlist = []\n[peer]\nname = \"x\"\n");
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(
        got[0],
        (
            Some(1),
            Severity::Error,
            "unknown field `allowlist`, expected `settings` or `peer`".into()
        )
    );
    assert_eq!(got[1].0, Some(2));
    assert!(got[1].2.starts_with("peer: expected [[peer]] tables"), "{got:#?}");
    assert!(
        Config::check("").0.is_some(),
        "an empty document is a valid one (it accepts nothing)"
    );
}

#[test]
fn catch_all_and_very_broad_allowlists_are_warnings() {
    let doc = with(
        "[\"10.0.0.0/16\", \"2600:1f18::/40\"]",
        "[\"0.0.0.0/0\", \"10.0.0.0/7\", \"::/0\", \"2600::/16\"]",
    );
    let (config, problems) = Config::check(&doc);
    assert!(config.is_some(), "warnings do not fail: {problems:#?}");
    assert!(Config::parse(&doc, "t").is_ok());
    let line = line_of(&doc, "0.0.0.0/0");
    let got: Vec<(Option<usize>, Severity, &str)> = problems
        .iter()
        .map(|p| (p.line, p.severity, p.message.as_str()))
        .collect();
    assert_eq!(got.len(), 4, "{got:#?}");
    assert!(
        got.iter().all(|(l, s, _)| *l == Some(line) && *s == Severity::Warning),
        "{got:#?}"
    );
    assert!(got[0].2.contains("0.0.0.0/0, a catch-all: any IPv4 block"), "{got:#?}");
    assert!(got[1].2.contains("10.0.0.0/7, wider than a /8"), "{got:#?}");
    assert!(got[2].2.contains("::/0, a catch-all: any IPv6 block"), "{got:#?}");
    assert!(got[3].2.contains("2600::/16, wider than a /32"), "{got:#?}");
    // 10.0.0.0/8 and an AWS-sized IPv6 block are ordinary.
    let doc = with(
        "[\"10.0.0.0/16\", \"2600:1f18::/40\"]",
        "[\"10.0.0.0/8\", \"2600:1f18::/32\"]",
    );
    assert_eq!(problems_of(&doc), vec![]);
}

#[test]
fn the_shipped_example_has_no_problem_at_all() {
    let text = include_str!("../../../peerlink.example.toml");
    let (config, problems) = Config::check(text);
    assert!(config.is_some());
    assert_eq!(problems, vec![]);
}

#[test]
fn declared_paths_are_checked_with_their_lines() {
    let doc = with(
        "auto_accept = true\n",
        "auto_accept = true\nverify = [\n  { local = \"eni-0123456789abcdef0\", remote = \"10.0.1.5\", port = 5432 },\n  { local = \"eni-0123456789abcdef0\", remote = \"10.0.1.6\", protocol = \"icmp\", direction = \"ingress\", dns = false },\n]\n",
    );
    let c = Config::parse(&doc, "test").unwrap();
    let paths = &c.peers[0].verify;
    assert_eq!(paths[0].port, Some(5432));
    assert_eq!(paths[0].protocol, Protocol::Tcp);
    assert_eq!((paths[0].direction, paths[0].dns), (None, true));
    assert_eq!(paths[1].protocol, Protocol::Icmp);
    assert_eq!((paths[1].direction, paths[1].dns), (Some(Direction::Ingress), false));
    for (path, want) in [
        (
            "{ local = \"eni-0123456789abcdef0\", remote = \"10.0.1.5\" }",
            "verify[0]: tcp needs a port",
        ),
        (
            "{ local = \"eni-0123456789abcdef0\", remote = \"10.0.1.5\", protocol = \"icmp\", port = 7 }",
            "icmp has no port",
        ),
        (
            "{ local = \"eni-0123456789abcdef0\", remote = \"10.9.1.5\", port = 5432 }",
            "10.9.1.5 lies outside allowed_cidrs",
        ),
        (
            "{ local = \"eni-xyz\", remote = \"10.0.1.5\", port = 5432 }",
            "network interface id",
        ),
        (
            "{ local = \"eni-0123456789abcdef0\", remote = \"10.0.1\", port = 5432 }",
            "remote",
        ),
    ] {
        let doc = with(
            "auto_accept = true\n",
            &format!("auto_accept = true\nverify = [{path}]\n"),
        );
        let problems = problems_of(&doc);
        let line = line_of(&doc, "verify = ");
        assert!(
            problems
                .iter()
                .any(|(l, s, m)| *s == Severity::Error && m.contains(want) && *l == Some(line)),
            "{path}: want {want:?} at line {line}: {problems:#?}"
        );
    }
}

#[test]
fn peer_groups_across_regions_are_refused_with_their_line() {
    let entry = crate::fixtures::Entry::new("orders", "111111111111", "vpc-0aaa1111aaaa1111a", &["10.1.0.0/16"])
        .peer_region("us-west-2")
        .rule_lines("group = \"sg-0aaa1111aaaa1111a\"\nports = 5432\npeer_groups = [\"sg-0bbb2222bbbb2222c\"]");
    let doc = crate::fixtures::document("", &[entry]);
    let err = Config::parse_in(&doc, "x.toml", Some("eu-west-1")).unwrap_err();
    let line = line_of(&doc, "peer_groups");
    assert!(
        err.message.contains(&format!("line {line}:")) && err.message.contains("peer[0] (name \"orders\")"),
        "{err}"
    );
    assert!(err.message.contains("across regions"), "{err}");
    // In the peer's own region, and where the region is not known, it is fine.
    Config::parse_in(&doc, "x.toml", Some("us-west-2")).unwrap();
    Config::parse(&doc, "x.toml").unwrap();
}

#[test]
fn rule_cidrs_must_be_allowed_and_exclude_peer_groups() {
    let entry = crate::fixtures::Entry::new("orders", "111111111111", "vpc-0aaa1111aaaa1111a", &["10.1.0.0/16"])
        .rule_lines("group = \"sg-0aaa1111aaaa1111a\"\nports = 5432\ncidrs = [\"10.1.2.0/24\", \"10.9.0.0/24\"]")
        .rule_lines(
            "group = \"sg-0aaa1111aaaa1111a\"\nports = 6432\ncidrs = [\"10.1.3.0/24\"]\npeer_groups = [\"sg-0bbb2222bbbb2222c\"]",
        );
    let doc = crate::fixtures::document("", &[entry]);
    let got = problems_of(&doc);
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(got[0].0, Some(line_of(&doc, "10.9.0.0/24")), "{got:#?}");
    assert!(got[0].2.contains("10.9.0.0/24 lies outside allowed_cidrs"), "{got:#?}");
    assert!(
        got[1].2.contains("cidrs and peer_groups exclude each other"),
        "{got:#?}"
    );
    let fine = doc
        .replace(", \"10.9.0.0/24\"", "")
        .replace("peer_groups = [\"sg-0bbb2222bbbb2222c\"]", "");
    Config::parse(&fine, "x.toml").unwrap();
}

#[test]
fn route_destinations_must_be_allowed() {
    let entry = crate::fixtures::Entry::new("orders", "111111111111", "vpc-0aaa1111aaaa1111a", &["10.1.0.0/16"])
        .routes("destinations = [\"10.1.10.0/24\", \"10.9.0.0/24\"]");
    let doc = crate::fixtures::document("", &[entry]);
    let got = problems_of(&doc);
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(got[0].0, Some(line_of(&doc, "10.9.0.0/24")), "{got:#?}");
    assert!(
        got[0].2.contains("\"orders\"") && got[0].2.contains("10.9.0.0/24 lies outside allowed_cidrs"),
        "{got:#?}"
    );
    let config = Config::parse(&doc.replace(", \"10.9.0.0/24\"", ""), "x.toml").unwrap();
    assert_eq!(config.peers[0].routes.destinations.len(), 1);
}

#[test]
fn select_subnets_needs_its_subnets_and_subnets_need_it() {
    let with_routes = |lines: &str| {
        let entry = crate::fixtures::Entry::new("orders", "111111111111", "vpc-0aaa1111aaaa1111a", &["10.1.0.0/16"])
            .routes(lines);
        crate::fixtures::document("", &[entry])
    };
    let only = |doc: &str| {
        let got = problems_of(doc);
        assert_eq!(got.len(), 1, "{got:#?}");
        got[0].2.clone()
    };
    assert!(only(&with_routes("select = \"subnets\"")).contains("select = \"subnets\" needs routes.subnets"));
    let stray =
        with_routes("select = \"ids\"\nids = [\"rtb-0aaa1111aaaa1111a\"]\nsubnets = [\"subnet-0aaa1111aaaa1111a\"]");
    assert!(only(&stray).contains("routes.subnets only applies with select = \"subnets\""));
    let fine = with_routes("select = \"subnets\"\nsubnets = [\"subnet-0aaa1111aaaa1111a\"]");
    let config = Config::parse(&fine, "x.toml").unwrap();
    assert_eq!(config.peers[0].routes.select, TableSelect::Subnets);
    assert!(Config::parse(&with_routes("select = \"subnets\"\nsubnets = [\"sn-1\"]"), "x.toml").is_err());
}
