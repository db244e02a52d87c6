//! DNS resolution on this side of the peering, and the VPC's DNS attributes.

use super::{Action, Binding, Planner};
use crate::finding::FindingKind;
use crate::model::{Vpc, VpcDnsAttribute};
use crate::ownership::{DNS_ON, dns_tag};

impl Planner<'_> {
    /// DNS resolution is a grant peerlink records on the peering when it
    /// turns it on ([`dns_tag`]), and turns off again when the entry no
    /// longer asks for it. A flag someone else turned on (a person, an
    /// earlier version of peerlink) carries no tag: it is never turned off.
    pub(super) fn dns(&mut self, b: &Binding<'_>, vpc: &Vpc) {
        let pcx = &b.peering.id;
        let ours = b.peering.tags.get(&dns_tag(b.side)).map(String::as_str) == Some(DNS_ON);
        if !b.entry.dns.remote_resolution {
            if ours {
                let why = format!("entry {:?} no longer asks for DNS resolution", b.entry.name);
                self.dns_off(b.peering, b.side, &why);
            }
            return;
        }
        if !b.peering.side(b.side).allow_remote_dns {
            if !ours {
                self.tag_peering(pcx, dns_tag(b.side), DNS_ON);
            }
            self.act(
                pcx,
                Action::EnablePeeringDns {
                    peering: pcx.clone(),
                    side: b.side,
                },
                format!(
                    "the peer cannot resolve private DNS names of {} until the {} side allows it",
                    vpc.id, b.side
                ),
            );
        }
        for (attribute, value) in [
            (VpcDnsAttribute::EnableDnsSupport, vpc.dns_support),
            (VpcDnsAttribute::EnableDnsHostnames, vpc.dns_hostnames),
        ] {
            if value != Some(false) {
                continue;
            }
            if b.entry.dns.set_vpc_attributes {
                if self.vpc_attributes.insert((vpc.id.clone(), attribute)) {
                    self.act(
                        pcx,
                        Action::EnableVpcAttribute {
                            vpc: vpc.id.clone(),
                            attribute,
                        },
                        format!("{attribute:?} is off and entry {:?} asks to turn it on", b.entry.name),
                    );
                }
            } else {
                self.finding(FindingKind::DnsAttributeOff,
                    Some(pcx),
                    Some(&vpc.id),
                    format!(
                        "VPC {} has {attribute:?} off: names resolve to public addresses across the peering",
                        vpc.id
                    ),
                    format!(
                        "turn it on (aws ec2 modify-vpc-attribute --vpc-id {} --{}), or set dns.set_vpc_attributes = true",
                        vpc.id,
                        match attribute {
                            VpcDnsAttribute::EnableDnsSupport => "enable-dns-support",
                            VpcDnsAttribute::EnableDnsHostnames => "enable-dns-hostnames",
                        }
                    ),
                );
            }
        }
    }
}
