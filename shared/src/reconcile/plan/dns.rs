//! DNS resolution on this side of the peering, and the VPC's DNS attributes.

use super::{Action, Binding, Planner};
use crate::finding::FindingKind;
use crate::model::{Vpc, VpcDnsAttribute};

impl Planner<'_> {
    pub(super) fn dns(&mut self, b: &Binding<'_>, vpc: &Vpc) {
        if !b.entry.dns.remote_resolution {
            return;
        }
        let pcx = &b.peering.id;
        if !b.peering.side(b.side).allow_remote_dns {
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
