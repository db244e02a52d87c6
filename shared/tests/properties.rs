//! Property tests of the parts that face untrusted input: the event parser,
//! the configuration parser, and the accept decision's safety property.

use std::collections::HashMap;

use ipnet::{IpNet, Ipv4Net};
use peerlink::config::Config;
use peerlink::decision::{AcceptContext, Verdict, decide};
use peerlink::events::{self, Event, Subject};
use peerlink::matching::overlaps;
use peerlink::model::{Identity, Peering, PeeringSide, PeeringStatus, Vpc};
use proptest::prelude::*;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("pcx-0123456789abcdef0"),
            Just("aws.ec2"),
            Just("AWS API Call via CloudTrail"),
            Just("CreateVpcPeeringConnection"),
            Just("ec2.amazonaws.com"),
            Just("Scheduled Event"),
            Just("aws.events"),
        ]
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::hash_map(
                prop_oneof![
                    "[a-zA-Z-]{1,12}",
                    Just("detail".to_string()),
                    Just("detail-type".to_string()),
                    Just("source".to_string()),
                    Just("eventName".to_string()),
                    Just("responseElements".to_string()),
                    Just("reconcile".to_string()),
                ],
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn sample(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Every path to a value inside a JSON document.
fn paths(v: &Value, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    if let Value::Object(m) = v {
        for (k, child) in m {
            let mut p = prefix.clone();
            p.push(k.clone());
            out.push(p.clone());
            paths(child, p, out);
        }
    }
}

fn set_path(v: &mut Value, path: &[String], new: Option<Value>) {
    let (last, parents) = path.split_last().unwrap();
    let mut cur = v;
    for p in parents {
        cur = &mut cur[p.as_str()];
    }
    if let Value::Object(m) = cur {
        match new {
            Some(n) => {
                m.insert(last.clone(), n);
            }
            None => {
                m.remove(last);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Arbitrary JSON never panics the parser.
    #[test]
    fn any_json_parses_or_fails_cleanly(v in json_value()) {
        let _ = events::parse(&v);
    }

    /// Removing or replacing any field of a real event gives a clean error or
    /// a valid event; a peering id is only ever taken when well-formed.
    #[test]
    fn mutated_samples_fail_cleanly(pick in any::<prop::sample::Index>(), replacement in proptest::option::of(json_value())) {
        let mut v = sample("create-vpc-peering-connection.json");
        let mut all = Vec::new();
        paths(&v, Vec::new(), &mut all);
        let path = pick.get(&all).clone();
        set_path(&mut v, &path, replacement);
        match events::parse(&v) {
            Ok(Event::ApiCall { subject: Subject::Peering(id), .. }) | Ok(Event::Reconcile { peering: id }) => {
                let s = id.to_string();
                prop_assert!(s.starts_with("pcx-") && s[4..].bytes().all(|b| b.is_ascii_hexdigit()));
            }
            Ok(_) => {}
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    /// Whatever id a peer writes into the event, it is accepted only if it is
    /// a well-formed peering id, and then taken exactly as written.
    #[test]
    fn peering_ids_are_validated(id in prop_oneof![".{0,30}", "pcx-[0-9a-f]{17}", "pcx-[0-9a-fA-F./]{8,17}"]) {
        let mut v = sample("create-vpc-peering-connection.json");
        v["detail"]["responseElements"]["vpcPeeringConnection"]["vpcPeeringConnectionId"] = Value::String(id.clone());
        let well_formed = id.strip_prefix("pcx-").is_some_and(|h| (h.len() == 8 || h.len() == 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        match events::parse(&v) {
            Ok(Event::ApiCall { subject: Subject::Peering(p), .. }) => {
                prop_assert!(well_formed);
                prop_assert_eq!(p.to_string(), id);
            }
            Ok(other) => prop_assert!(false, "unexpected {:?}", other),
            Err(_) => prop_assert!(!well_formed),
        }
    }

    /// Arbitrary text never panics the configuration parser.
    #[test]
    fn any_text_parses_or_fails_cleanly(text in ".{0,400}") {
        let _ = Config::parse(&text, "proptest");
    }

    /// Mangling the shipped example (dropping, doubling or altering a line)
    /// gives a clear error or a configuration that still satisfies every
    /// invariant the decision relies on.
    #[test]
    fn mangled_examples_keep_the_invariants(line in any::<prop::sample::Index>(), op in 0..3u8, junk in "[ -~]{0,12}") {
        let text = include_str!("../../peerlink.example.toml");
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        let i = line.index(lines.len());
        match op {
            0 => { lines.remove(i); }
            1 => { let l = lines[i].clone(); lines.insert(i, l); }
            _ => { lines[i].push_str(&junk); }
        }
        match Config::parse(&lines.join("\n"), "proptest") {
            Err(e) => prop_assert!(e.to_string().contains("proptest")),
            Ok(c) => {
                for p in &c.peers {
                    prop_assert!(!p.allowed_cidrs.is_empty());
                    for cidr in &p.allowed_cidrs {
                        prop_assert_eq!(cidr.0.trunc(), cidr.0);
                    }
                    for s in &p.secrets {
                        prop_assert!(s.principals.iter().all(|pr| pr.account == p.peer_account.as_str() && !pr.arn.contains('*')));
                    }
                }
            }
        }
    }

    /// The safety property: whatever the request, an accept implies every
    /// requester block inside the allowed ranges and no overlap with the local
    /// VPC or its active peers.
    #[test]
    fn accept_implies_safe(
        requester in prop::collection::vec((any::<u32>(), 8u8..=28), 1..4),
        local in prop::collection::vec((any::<u32>(), 8u8..=28), 1..3),
        peer in prop::collection::vec((any::<u32>(), 8u8..=28), 0..3),
        allowed in prop::collection::vec((any::<u32>(), 4u8..=24), 1..3),
    ) {
        let net = |(a, l): (u32, u8)| IpNet::V4(Ipv4Net::new(a.into(), l).unwrap().trunc());
        let requester: Vec<IpNet> = requester.into_iter().map(net).collect();
        let local: Vec<IpNet> = local.into_iter().map(net).collect();
        let peer: Vec<IpNet> = peer.into_iter().map(net).collect();
        let allowed: Vec<IpNet> = allowed.into_iter().map(net).collect();
        let cfg = format!(
            "[[peer]]\nname = \"p\"\npeer_account = \"111111111111\"\nallowed_cidrs = [{}]\nlocal_vpc = \"vpc-0bbb2222bbbb2222b\"\nauto_accept = true\n",
            allowed.iter().map(|c| format!("\"{c}\"")).collect::<Vec<_>>().join(",")
        );
        let config = Config::parse(&cfg, "proptest").unwrap();
        let side = |account: &str, vpc: &str, cidrs: &[IpNet]| PeeringSide {
            account: account.into(), vpc: vpc.into(), region: "eu-west-1".into(), cidrs: cidrs.to_vec(), allow_remote_dns: false, blocks_known: true,
        };
        let request = Peering {
            id: "pcx-0123456789abcdef0".into(),
            status: PeeringStatus::PendingAcceptance,
            status_message: String::new(),
            requester: side("111111111111", "vpc-0aaa1111aaaa1111a", &requester),
            accepter: side("222222222222", "vpc-0bbb2222bbbb2222b", &local),
            tags: Default::default(),
        };
        let existing = Peering {
            id: "pcx-0fffffffffffffff0".into(),
            status: PeeringStatus::Active,
            status_message: String::new(),
            requester: side("333333333333", "vpc-0ccc3333cccc3333c", &peer),
            accepter: side("222222222222", "vpc-0bbb2222bbbb2222b", &local),
            tags: Default::default(),
        };
        let me = Identity { account: "222222222222".into(), region: "eu-west-1".into() };
        let vpcs = HashMap::from([("vpc-0bbb2222bbbb2222b".to_string(), Vpc { id: "vpc-0bbb2222bbbb2222b".into(), cidrs: local.clone(), dns_support: None, dns_hostnames: None, tags: Default::default() })]);
        let peerings = vec![existing];
        let ctx = AcceptContext { me: &me, config: &config, vpcs: &vpcs, peerings: &peerings };
        let d = decide(&ctx, &request);
        if d.verdict == Verdict::Accept {
            for r in &requester {
                prop_assert!(allowed.iter().any(|a| a.contains(r)), "{} outside allowed", r);
                prop_assert!(!local.iter().any(|l| overlaps(r, l)), "{} overlaps local", r);
                prop_assert!(!peer.iter().any(|p| overlaps(r, p)), "{} overlaps a peer", r);
            }
        } else {
            prop_assert!(!d.reason.is_empty());
        }
    }
}
