//! The ECS-to-RDS example's two accounts on the emulator, linked.

use peerlink::fixtures::{self, Entry};

use crate::{Account, Emulator, REGION, TestSecret, TestVpc, decide};

/// The ECS-to-RDS example's setup on the emulator: ECS tasks in the requester account
/// (10.0.0.0/16 plus a secondary 10.2.0.0/16, three subnets with their own
/// route tables), PostgreSQL in the accepter account (10.1.0.0/16, two subnets
/// and a spare table), a database secret on a customer-managed key and one on
/// the AWS-managed key, and the configuration of both accounts.
pub struct Link {
    pub requester: Account,
    pub accepter: Account,
    pub requester_vpc: TestVpc,
    pub accepter_vpc: TestVpc,
    pub spare_table: String,
    pub secret: TestSecret,
    pub plain_secret: TestSecret,
    pub task_role: String,
}

impl Link {
    pub async fn new(emu: &Emulator, requester: &str, accepter: &str) -> Link {
        let requester = emu.account(requester).await;
        let accepter = emu.account(accepter).await;
        let requester_vpc = requester.vpc(&["10.0.0.0/16", "10.2.0.0/16"], 3).await;
        let accepter_vpc = accepter.vpc(&["10.1.0.0/16"], 2).await;
        let spare_table = accepter.route_table(&accepter_vpc.id, &[("Name", "spare")]).await;
        let secret = accepter.secret("orders-db", true).await;
        let plain_secret = accepter.secret("orders-db-plain", false).await;
        let task_role = format!("arn:aws:iam::{}:role/orders-task", requester.id);
        Link {
            requester,
            accepter,
            requester_vpc,
            accepter_vpc,
            spare_table,
            secret,
            plain_secret,
            task_role,
        }
    }

    /// The requester account's entry for the accepter's VPC, named `name`.
    pub fn requester_entry(&self, name: &str) -> Entry {
        Entry::new(name, &self.accepter.id, &self.requester_vpc.id, &["10.1.0.0/16"])
            .peer_vpc(&self.accepter_vpc.id)
            .auto_accept(false)
            .rule(&self.requester_vpc.security_group, 5432)
    }

    /// The requester account's configuration.
    pub fn requester_config(&self, settings: &str) -> String {
        fixtures::document(settings, &[self.requester_entry("orders-db")])
    }

    /// The requester account's configuration that asks for the accepter's
    /// VPC (`request = true`): peerlink makes the request.
    pub fn asking_config(&self, settings: &str) -> String {
        let entry = self
            .requester_entry("orders-db")
            .peer_region(REGION)
            .line("request = true");
        fixtures::document(settings, &[entry])
    }

    /// The accepter account's configuration.
    pub fn accepter_config(&self, settings: &str) -> String {
        let entry = self
            .accepter_rule_entry()
            .secret_on_key(
                &self.secret.arn,
                self.secret.key_arn.as_deref().expect("a CMK"),
                &[self.task_role.as_str()],
            )
            .secret(&self.plain_secret.arn, &[self.task_role.as_str()]);
        fixtures::document(settings, &[entry])
    }

    /// The accepter's configuration without the secret on the
    /// customer-managed key: what it says after an operator dropped it.
    pub fn accepter_config_without_cmk_secret(&self, settings: &str) -> String {
        let entry = self
            .accepter_rule_entry()
            .secret(&self.plain_secret.arn, &[self.task_role.as_str()]);
        fixtures::document(settings, &[entry])
    }

    /// The accepter's entry for the requester's VPC: its blocks, nothing
    /// to keep in place yet.
    pub fn accepter_entry(&self) -> Entry {
        Entry::new(
            "orders-ecs",
            &self.requester.id,
            &self.accepter_vpc.id,
            &["10.0.0.0/16", "10.2.0.0/16"],
        )
        .peer_vpc(&self.requester_vpc.id)
    }

    /// The accepter's entry with its database rule, no secrets yet.
    pub fn accepter_rule_entry(&self) -> Entry {
        self.accepter_entry().rule(&self.accepter_vpc.security_group, 5432)
    }

    /// Contexts for both accounts (default settings), the request, and the
    /// accepter's decision on its CloudTrail event: an accepted peering.
    pub async fn accepted(&self) -> (String, peerlink::Context, peerlink::Context) {
        let requester_ctx = self.requester.context(&self.requester_config("")).await;
        let accepter_ctx = self.accepter.context(&self.accepter_config("")).await;
        let pcx = self.request().await;
        let decided = decide(&accepter_ctx, &pcx).await;
        assert_eq!(decided.accepted, vec![pcx.clone()], "{decided:#?}");
        (pcx, requester_ctx, accepter_ctx)
    }

    /// The requester asks for the peering.
    pub async fn request(&self) -> String {
        self.requester
            .request_peering(&self.requester_vpc.id, &self.accepter.id, &self.accepter_vpc.id, None)
            .await
    }

    /// Every route table of the accepter VPC, the spare one included.
    pub fn accepter_tables(&self) -> Vec<String> {
        let mut t = self.accepter_vpc.all_tables();
        t.push(self.spare_table.clone());
        t
    }

    /// Everything the link consists of, in both accounts, with the ids that
    /// differ between two identical links replaced by their role, so the end
    /// states of two runs can be compared: statuses, DNS options, routes per
    /// table (destination and target), rules per group, and every statement
    /// of the policies in full (principals, actions, conditions), lists in a
    /// canonical order but duplicates kept.
    pub async fn snapshot(&self, pcx: &str) -> serde_json::Value {
        let hex = pcx.trim_start_matches("pcx-");
        let key = self.secret.key_arn.clone().expect("cmk");
        let key_id = key.rsplit('/').next().unwrap_or_default().to_string();
        let roles: [(&str, &str); 8] = [
            (pcx, "PCX"),
            (hex, "PCX"),
            (&self.secret.arn, "SECRET"),
            (&self.plain_secret.arn, "PLAIN_SECRET"),
            (&key, "KEY"),
            (&key_id, "KEY"),
            (&self.requester.id, "REQUESTER"),
            (&self.accepter.id, "ACCEPTER"),
        ];
        let norm = |s: String| roles.iter().fold(s, |s, (from, to)| s.replace(from, to));
        let mut routes = serde_json::Map::new();
        for (side, account, tables) in [
            ("accepter", &self.accepter, self.accepter_tables()),
            ("requester", &self.requester, self.requester_vpc.all_tables()),
        ] {
            let mut per_table = Vec::new();
            for t in &tables {
                let mut r: Vec<String> = account
                    .routes(t)
                    .await
                    .into_iter()
                    .map(|(d, t)| norm(format!("{d} -> {t}")))
                    .collect();
                r.sort();
                per_table.push(serde_json::json!(r));
            }
            routes.insert(side.into(), serde_json::json!(per_table));
        }
        let rules = |mut v: Vec<(String, i32, i32, String, Option<String>)>| {
            v.sort();
            v.into_iter()
                .map(|(p, f, t, c, d)| norm(format!("{p} {f}-{t} {c} {}", d.unwrap_or_default())))
                .collect::<Vec<_>>()
        };
        let statements = |policy: Option<serde_json::Value>| {
            let mut s: Vec<serde_json::Value> = policy
                .and_then(|p| p["Statement"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|st| canonical(&serde_json::from_str(&norm(st.to_string())).expect("JSON")))
                .collect();
            s.sort_by_key(|v| v.to_string());
            s
        };
        serde_json::json!({
            "status": [self.accepter.peering_status(pcx).await, self.requester.peering_status(pcx).await],
            "dns": [self.accepter.peering_dns(pcx).await, self.requester.peering_dns(pcx).await],
            "routes": routes,
            "ingress": rules(self.accepter.rules(&self.accepter_vpc.security_group, false).await),
            "egress": rules(self.requester.rules(&self.requester_vpc.security_group, true).await),
            "secret_policy": statements(self.accepter.secret_policy(&self.secret.arn).await),
            "plain_secret_policy": statements(self.accepter.secret_policy(&self.plain_secret.arn).await),
            "key_policy": statements(Some(self.accepter.key_policy(&key).await)),
        })
    }
}

/// A policy value in a canonical form: single-element lists as their element
/// (AWS hands them back either way), lists sorted, duplicates KEPT (a
/// principal granted twice is a difference).
pub fn canonical(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match v {
        Value::Array(items) if items.len() == 1 => canonical(&items[0]),
        Value::Array(items) => {
            let mut n: Vec<Value> = items.iter().map(canonical).collect();
            n.sort_by_key(|x| x.to_string());
            Value::Array(n)
        }
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), canonical(v))).collect()),
        other => other.clone(),
    }
}
