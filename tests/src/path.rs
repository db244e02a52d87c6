//! What proving a path needs on the emulator: the interfaces at its ends
//! (CreateNetworkInterface in a subnet, with groups), custom network ACLs
//! (CreateNetworkAcl, entries, the subnet's association replaced), VPC DNS
//! attributes, and an accounts file naming the accounts to read.

use std::path::{Path, PathBuf};

use aws_sdk_ec2::types::{AttributeBooleanValue, Filter, PortRange, RuleAction};

use crate::Account;

/// A network interface built for a test: its id and private address.
#[derive(Debug, Clone)]
pub struct TestInterface {
    pub id: String,
    pub address: String,
}

impl Account {
    /// A network interface in `subnet` with `groups` (an ECS task's, an RDS database's).
    pub async fn interface(&self, subnet: &str, groups: &[&str], description: &str) -> TestInterface {
        let out = self
            .ec2
            .create_network_interface()
            .subnet_id(subnet)
            .set_groups(Some(groups.iter().map(|g| g.to_string()).collect()))
            .description(description)
            .send()
            .await
            .expect("CreateNetworkInterface");
        let eni = out.network_interface().expect("interface");
        TestInterface {
            id: eni.network_interface_id().expect("id").to_string(),
            address: eni.private_ip_address().expect("address").to_string(),
        }
    }

    /// Turns `enableDnsHostnames` on or off (new VPCs have it off).
    pub async fn dns_hostnames(&self, vpc: &str, on: bool) {
        self.ec2
            .modify_vpc_attribute()
            .vpc_id(vpc)
            .enable_dns_hostnames(AttributeBooleanValue::builder().value(on).build())
            .send()
            .await
            .expect("ModifyVpcAttribute");
    }

    /// A custom network ACL of `vpc` allowing everything both ways (entries
    /// 100), associated with `subnet` in place of its current one.
    pub async fn custom_acl(&self, vpc: &str, subnet: &str) -> String {
        let acl = self
            .ec2
            .create_network_acl()
            .vpc_id(vpc)
            .send()
            .await
            .expect("CreateNetworkAcl")
            .network_acl()
            .and_then(|a| a.network_acl_id())
            .expect("acl id")
            .to_string();
        for egress in [false, true] {
            self.acl_entry(&acl, 100, egress, true, "-1", None, "0.0.0.0/0").await;
        }
        let current = self
            .ec2
            .describe_network_acls()
            .filters(Filter::builder().name("association.subnet-id").values(subnet).build())
            .send()
            .await
            .expect("DescribeNetworkAcls");
        let association = current
            .network_acls()
            .iter()
            .flat_map(|a| a.associations())
            .find(|a| a.subnet_id() == Some(subnet))
            .and_then(|a| a.network_acl_association_id())
            .expect("the subnet's ACL association")
            .to_string();
        self.ec2
            .replace_network_acl_association()
            .association_id(association)
            .network_acl_id(&acl)
            .send()
            .await
            .expect("ReplaceNetworkAclAssociation");
        acl
    }

    /// Adds (or, when `number` exists in that direction, replaces) an entry.
    /// `protocol` as EC2 spells it ("6" tcp, "-1" all).
    #[allow(clippy::too_many_arguments)]
    pub async fn acl_entry(
        &self,
        acl: &str,
        number: i32,
        egress: bool,
        allow: bool,
        protocol: &str,
        ports: Option<(i32, i32)>,
        cidr: &str,
    ) {
        let action = if allow { RuleAction::Allow } else { RuleAction::Deny };
        let range = ports.map(|(from, to)| PortRange::builder().from(from).to(to).build());
        let exists = self
            .ec2
            .describe_network_acls()
            .network_acl_ids(acl)
            .send()
            .await
            .expect("DescribeNetworkAcls")
            .network_acls()
            .iter()
            .flat_map(|a| a.entries())
            .any(|e| e.rule_number() == Some(number) && e.egress() == Some(egress));
        if exists {
            self.ec2
                .replace_network_acl_entry()
                .network_acl_id(acl)
                .rule_number(number)
                .egress(egress)
                .rule_action(action)
                .protocol(protocol)
                .set_port_range(range)
                .cidr_block(cidr)
                .send()
                .await
                .expect("ReplaceNetworkAclEntry");
        } else {
            self.ec2
                .create_network_acl_entry()
                .network_acl_id(acl)
                .rule_number(number)
                .egress(egress)
                .rule_action(action)
                .protocol(protocol)
                .set_port_range(range)
                .cidr_block(cidr)
                .send()
                .await
                .expect("CreateNetworkAclEntry");
        }
    }

    pub async fn delete_acl_entry(&self, acl: &str, number: i32, egress: bool) {
        self.ec2
            .delete_network_acl_entry()
            .network_acl_id(acl)
            .rule_number(number)
            .egress(egress)
            .send()
            .await
            .expect("DeleteNetworkAclEntry");
    }
}

/// An accounts file (as `peerlink report` and `peerlink verify` read it)
/// listing `accounts` in the emulator's region, written in `dir`.
pub fn accounts_file(dir: &Path, accounts: &[&str]) -> PathBuf {
    std::fs::create_dir_all(dir).expect("accounts file directory");
    let text: String = accounts
        .iter()
        .map(|id| {
            format!(
                "[[account]]\nid = \"{id}\"\nrole = \"peerlink-verify\"\nregions = [\"{}\"]\n\n",
                crate::REGION
            )
        })
        .collect();
    let path = dir.join("accounts.toml");
    std::fs::write(&path, text).expect("write the accounts file");
    path
}
