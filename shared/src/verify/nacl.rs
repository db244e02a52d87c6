//! Network ACLs as EC2 evaluates them: stateless, entries in rule-number
//! order, the first match wins, and a final deny (`*`, rule 32767) that every
//! ACL has even where a description leaves it out (the emulator lists only a
//! custom ACL's own entries). The doctor and `peerlink verify` both ask it.

use ipnet::IpNet;

use crate::config::{PortRange, Protocol};
use crate::matching::overlaps;
use crate::model::NetworkAcl;

/// Ports a client's return traffic comes back on (the widest ephemeral range).
pub const EPHEMERAL: PortRange = PortRange { from: 1024, to: 65535 };

/// Why `acl` stops `protocol` traffic on `ports` between us and `cidr`
/// (`egress` for outbound), or `None` when every port passes. Entries are
/// evaluated in rule-number order and the first match wins, as EC2 does.
pub fn blocks(acl: &NetworkAcl, egress: bool, protocol: Protocol, ports: PortRange, cidr: &IpNet) -> Option<String> {
    let mut entries: Vec<_> = acl.entries.iter().filter(|e| e.egress == egress).collect();
    entries.sort_by_key(|e| e.rule_number);
    let mut open: Vec<(u32, u32)> = vec![(u32::from(ports.from), u32::from(ports.to))];
    for e in entries {
        if open.is_empty() {
            return None;
        }
        let proto_match = e.protocol.is_none_or(|p| p == protocol || p == Protocol::All);
        if !proto_match || !overlaps(&e.cidr, cidr) {
            continue;
        }
        let (lo, hi) = e.ports.map_or((0, 65535), |r| (u32::from(r.from), u32::from(r.to)));
        let hit = open.iter().any(|&(a, b)| a <= hi && lo <= b);
        if !hit {
            continue;
        }
        if !e.allow {
            let rule = if e.rule_number >= 32767 {
                "*".to_string()
            } else {
                e.rule_number.to_string()
            };
            return Some(format!("entry {rule} denies {}", e.cidr));
        }
        // An allow only settles the ports for every address if it covers the whole block.
        if e.cidr.contains(cidr) {
            open = open
                .into_iter()
                .flat_map(|(a, b)| {
                    let mut rest = Vec::new();
                    if a < lo {
                        rest.push((a, b.min(lo.saturating_sub(1))));
                    }
                    if b > hi {
                        rest.push((a.max(hi + 1), b));
                    }
                    if b < lo || a > hi {
                        rest = vec![(a, b)];
                    }
                    rest
                })
                .collect();
        }
    }
    if open.is_empty() {
        None
    } else {
        Some("no entry allows it, so the final deny applies".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::nacl_entry;
    use crate::model::NaclEntry;

    fn acl(entries: Vec<NaclEntry>) -> NetworkAcl {
        NetworkAcl {
            id: "acl-1".into(),
            vpc: "vpc-1".into(),
            subnets: vec!["subnet-1".into()],
            entries,
        }
    }

    const PG: PortRange = PortRange { from: 5432, to: 5432 };

    #[test]
    fn default_allow_all_passes() {
        let a = acl(vec![
            nacl_entry(100, false, true, None, None, "0.0.0.0/0"),
            nacl_entry(32767, false, false, None, None, "0.0.0.0/0"),
        ]);
        assert_eq!(
            blocks(&a, false, Protocol::Tcp, PG, &"10.0.0.0/16".parse().unwrap()),
            None
        );
    }

    #[test]
    fn an_earlier_deny_wins() {
        let a = acl(vec![
            nacl_entry(50, false, false, Some(Protocol::Tcp), Some((5432, 5432)), "10.0.0.0/8"),
            nacl_entry(100, false, true, None, None, "0.0.0.0/0"),
        ]);
        let why = blocks(&a, false, Protocol::Tcp, PG, &"10.0.0.0/16".parse().unwrap()).unwrap();
        assert!(why.contains("entry 50 denies"), "{why}");
        // Other ports and other sources pass.
        assert_eq!(
            blocks(
                &a,
                false,
                Protocol::Tcp,
                PortRange { from: 443, to: 443 },
                &"10.0.0.0/16".parse().unwrap()
            ),
            None
        );
        assert_eq!(
            blocks(&a, false, Protocol::Tcp, PG, &"192.168.0.0/16".parse().unwrap()),
            None
        );
    }

    #[test]
    fn a_partial_allow_leaves_the_rest_to_the_final_deny() {
        let a = acl(vec![
            nacl_entry(100, true, true, Some(Protocol::Tcp), Some((1024, 32767)), "10.0.0.0/16"),
            nacl_entry(32767, true, false, None, None, "0.0.0.0/0"),
        ]);
        let why = blocks(&a, true, Protocol::Tcp, EPHEMERAL, &"10.0.0.0/16".parse().unwrap()).unwrap();
        assert!(why.contains("entry * denies"), "{why}");
        let full = acl(vec![
            nacl_entry(100, true, true, Some(Protocol::Tcp), Some((1024, 32767)), "10.0.0.0/16"),
            nacl_entry(
                110,
                true,
                true,
                Some(Protocol::Tcp),
                Some((32768, 65535)),
                "10.0.0.0/16",
            ),
            nacl_entry(32767, true, false, None, None, "0.0.0.0/0"),
        ]);
        assert_eq!(
            blocks(&full, true, Protocol::Tcp, EPHEMERAL, &"10.0.0.0/16".parse().unwrap()),
            None
        );
    }

    #[test]
    fn an_allow_for_part_of_the_block_is_not_enough() {
        let a = acl(vec![nacl_entry(100, false, true, None, None, "10.0.0.0/24")]);
        assert!(blocks(&a, false, Protocol::Tcp, PG, &"10.0.0.0/16".parse().unwrap()).is_some());
    }
}
