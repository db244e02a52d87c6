//! Local AWS for the tests and the demo: moto in server mode on a free loopback
//! port (started through `scripts/moto_server.py`, which patches the gaps the
//! design note lists), several accounts through STS AssumeRole, and builders
//! for VPCs with secondary CIDRs, subnets, route tables and security groups.
//!
//! Every request goes through the standard endpoint override, exactly as
//! `AWS_ENDPOINT_URL` does for the functions.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use peerlink::aws::{Clients, Resilience};
use peerlink::config::Config;

pub const REGION: &str = "eu-west-1";

/// The workspace root (where `scripts/` and `events/` live).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Runs `scripts/setup.sh` once per process: it installs moto and cargo-lambda
/// into `.tools/venv` when they are missing and does nothing otherwise.
pub fn ensure_tools() -> PathBuf {
    static DONE: OnceLock<PathBuf> = OnceLock::new();
    DONE.get_or_init(|| {
        let root = workspace_root();
        let status = Command::new("bash")
            .arg(root.join("scripts/setup.sh"))
            .stdout(Stdio::inherit())
            .status()
            .expect("run scripts/setup.sh");
        assert!(status.success(), "scripts/setup.sh failed");
        root.join(".tools/venv/bin")
    })
    .clone()
}

/// Starts one of our Python helpers (emulator launcher, fault proxy) with the
/// tools' interpreter and reads the port it announces as `<KEY>=<port>` on its
/// first line. Its stdin stays open: the helper exits when we do.
fn spawn_announcing(script: &str, args: &[&str], key: &str) -> (Child, u16) {
    let bin = ensure_tools();
    let mut child = Command::new(bin.join("python"))
        .arg(workspace_root().join(script))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the announced port");
    let port: u16 = line
        .trim()
        .strip_prefix(key)
        .and_then(|p| p.strip_prefix('='))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line from {script}: {line:?}"));
    (child, port)
}

/// A running emulator. Dropping it stops the server; the shared one stops when
/// the process exits (the launcher watches its stdin).
pub struct Emulator {
    pub endpoint: String,
    pub port: u16,
    child: Mutex<Child>,
}

impl Emulator {
    /// Starts a new emulator on a free loopback port.
    pub fn start() -> Emulator {
        let (child, port) = spawn_announcing("scripts/moto_server.py", &[], "MOTO_PORT");
        Emulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child: Mutex::new(child),
        }
    }

    /// One emulator for every test of this process; tests stay apart by using
    /// their own accounts.
    pub fn shared() -> &'static Emulator {
        static SHARED: OnceLock<Emulator> = OnceLock::new();
        SHARED.get_or_init(Emulator::start)
    }

    /// Acting as `account` (through STS AssumeRole) in the default region.
    pub async fn account(&self, account: &str) -> Account {
        self.account_in(account, REGION).await
    }

    /// Acting as `account` in `region`.
    pub async fn account_in(&self, account: &str, region: &str) -> Account {
        self.account_at(&self.endpoint, account, region).await
    }

    /// Acting as `account`, sending every request to `endpoint` (a fault proxy
    /// in front of this emulator).
    pub async fn account_via(&self, endpoint: &str, account: &str) -> Account {
        self.account_at(endpoint, account, REGION).await
    }

    /// Like [`Emulator::account_via`], with explicit retry and timeout settings.
    pub async fn account_with(&self, endpoint: &str, account: &str, resilience: Resilience) -> Account {
        self.account_full(endpoint, account, REGION, resilience).await
    }

    async fn account_at(&self, endpoint: &str, account: &str, region: &str) -> Account {
        self.account_full(endpoint, account, region, Resilience::from_env())
            .await
    }

    async fn account_full(&self, endpoint: &str, account: &str, region: &str, r: Resilience) -> Account {
        // AssumeRole goes straight to the emulator: faults are for the code under test.
        let base = self
            .sdk_config(
                Credentials::new("test", "test", None, None, "static"),
                region,
                &self.endpoint,
                r,
            )
            .await;
        let sts = aws_sdk_sts::Client::new(&base);
        let out = sts
            .assume_role()
            .role_arn(format!("arn:aws:iam::{account}:role/peerlink-test"))
            .role_session_name("peerlink-test")
            .send()
            .await
            .expect("AssumeRole on the emulator");
        let c = out.credentials().expect("credentials");
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "assumed-role",
        );
        let sdk = self.sdk_config(creds.clone(), region, endpoint, r).await;
        Account {
            id: account.to_string(),
            credentials: creds,
            ec2: aws_sdk_ec2::Client::new(&sdk),
            secrets: aws_sdk_secretsmanager::Client::new(&sdk),
            kms: aws_sdk_kms::Client::new(&sdk),
            sdk,
        }
    }

    /// An account nobody else in this process uses.
    pub async fn fresh_account(&self) -> Account {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let base = 400_000_000_000 + u64::from(std::process::id() % 1000) * 1_000_000 + n;
        self.account(&base.to_string()).await
    }

    async fn sdk_config(&self, creds: Credentials, region: &str, endpoint: &str, r: Resilience) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(endpoint)
            .credentials_provider(SharedCredentialsProvider::new(creds))
            .retry_config(r.retry_config())
            .timeout_config(r.timeout_config())
            .load()
            .await
    }

    /// Environment for a process (a function under `cargo lambda`, the CLI)
    /// that should act as `account` against this emulator.
    pub fn env_for(&self, account: &Account) -> Vec<(String, String)> {
        let creds = &account.credentials;
        vec![
            ("AWS_ENDPOINT_URL".into(), self.endpoint.clone()),
            (
                "AWS_REGION".into(),
                account.sdk.region().map(|r| r.to_string()).unwrap_or(REGION.into()),
            ),
            ("AWS_ACCESS_KEY_ID".into(), creds.access_key_id().to_string()),
            ("AWS_SECRET_ACCESS_KEY".into(), creds.secret_access_key().to_string()),
            (
                "AWS_SESSION_TOKEN".into(),
                creds.session_token().unwrap_or_default().to_string(),
            ),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ]
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Ok(mut c) = self.child.lock() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// One account on the emulator, with raw SDK clients for building fixtures.
pub struct Account {
    pub id: String,
    pub credentials: Credentials,
    pub sdk: SdkConfig,
    pub ec2: aws_sdk_ec2::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub kms: aws_sdk_kms::Client,
}

/// A VPC built for a test.
#[derive(Debug, Clone)]
pub struct TestVpc {
    pub id: String,
    pub cidrs: Vec<String>,
    pub main_table: String,
    /// One table per subnet, each associated with its subnet.
    pub subnet_tables: Vec<String>,
    pub subnets: Vec<String>,
    /// A security group to put rules in.
    pub security_group: String,
}

impl TestVpc {
    pub fn all_tables(&self) -> Vec<String> {
        let mut t = vec![self.main_table.clone()];
        t.extend(self.subnet_tables.iter().cloned());
        t
    }
}

impl Account {
    /// A peerlink context acting as this account with the given configuration.
    pub async fn context(&self, config_toml: &str) -> peerlink::Context {
        let config = Config::parse(config_toml, "test config").expect("valid test config");
        peerlink::Context::with(self.sdk.clone(), Clients::new(&self.sdk), config)
            .await
            .expect("context")
    }

    /// A VPC with `cidrs` (the first is primary; `"ipv6"` asks for an
    /// Amazon-provided IPv6 block), `subnets` subnets each with its own route
    /// table, and a security group.
    pub async fn vpc(&self, cidrs: &[&str], subnets: usize) -> TestVpc {
        let vpc = self
            .ec2
            .create_vpc()
            .cidr_block(cidrs[0])
            .send()
            .await
            .expect("CreateVpc")
            .vpc()
            .and_then(|v| v.vpc_id())
            .expect("vpc id")
            .to_string();
        for c in &cidrs[1..] {
            let req = self.ec2.associate_vpc_cidr_block().vpc_id(&vpc);
            let req = if *c == "ipv6" {
                req.amazon_provided_ipv6_cidr_block(true)
            } else {
                req.cidr_block(*c)
            };
            req.send().await.expect("AssociateVpcCidrBlock");
        }
        let main_table = self
            .ec2
            .describe_route_tables()
            .filters(Filter::builder().name("vpc-id").values(&vpc).build())
            .send()
            .await
            .expect("DescribeRouteTables")
            .route_tables()
            .first()
            .and_then(|t| t.route_table_id())
            .expect("main table")
            .to_string();
        let base: ipnet::Ipv4Net = cidrs[0].parse().expect("primary CIDR is IPv4");
        let mut subnet_ids = Vec::new();
        let mut tables = Vec::new();
        for (i, net) in base.subnets(24).expect("/24s").take(subnets).enumerate() {
            let subnet = self
                .ec2
                .create_subnet()
                .vpc_id(&vpc)
                .cidr_block(net.to_string())
                .send()
                .await
                .expect("CreateSubnet")
                .subnet()
                .and_then(|s| s.subnet_id())
                .expect("subnet id")
                .to_string();
            let table = self.route_table(&vpc, &[("Name", &format!("subnet-{i}"))]).await;
            self.ec2
                .associate_route_table()
                .route_table_id(&table)
                .subnet_id(&subnet)
                .send()
                .await
                .expect("AssociateRouteTable");
            subnet_ids.push(subnet);
            tables.push(table);
        }
        let security_group = self.security_group(&vpc, "app").await;
        TestVpc {
            id: vpc,
            cidrs: cidrs.iter().map(|c| c.to_string()).collect(),
            main_table,
            subnet_tables: tables,
            subnets: subnet_ids,
            security_group,
        }
    }

    /// A new route table in `vpc` with the given tags (not associated).
    pub async fn route_table(&self, vpc: &str, tags: &[(&str, &str)]) -> String {
        let mut spec = TagSpecification::builder().resource_type(ResourceType::RouteTable);
        for (k, v) in tags {
            spec = spec.tags(Tag::builder().key(*k).value(*v).build());
        }
        self.ec2
            .create_route_table()
            .vpc_id(vpc)
            .tag_specifications(spec.build())
            .send()
            .await
            .expect("CreateRouteTable")
            .route_table()
            .and_then(|t| t.route_table_id())
            .expect("route table id")
            .to_string()
    }

    pub async fn security_group(&self, vpc: &str, name: &str) -> String {
        self.ec2
            .create_security_group()
            .vpc_id(vpc)
            .group_name(name)
            .description(format!("{name} (peerlink test)"))
            .send()
            .await
            .expect("CreateSecurityGroup")
            .group_id()
            .expect("group id")
            .to_string()
    }

    /// Requests a peering from `vpc` (ours) to `peer_vpc` of `peer`.
    pub async fn request_peering(&self, vpc: &str, peer: &str, peer_vpc: &str, peer_region: Option<&str>) -> String {
        self.ec2
            .create_vpc_peering_connection()
            .vpc_id(vpc)
            .peer_owner_id(peer)
            .peer_vpc_id(peer_vpc)
            .set_peer_region(peer_region.map(str::to_string))
            .send()
            .await
            .expect("CreateVpcPeeringConnection")
            .vpc_peering_connection()
            .and_then(|p| p.vpc_peering_connection_id())
            .expect("peering id")
            .to_string()
    }

    /// Accepts a peering as this account (setting up fixtures, not the accepter).
    pub async fn accept(&self, id: &str) {
        self.ec2
            .accept_vpc_peering_connection()
            .vpc_peering_connection_id(id)
            .send()
            .await
            .expect("AcceptVpcPeeringConnection");
    }

    /// The peering's status code as this account sees it.
    pub async fn peering_status(&self, id: &str) -> String {
        self.ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(id)
            .send()
            .await
            .expect("DescribeVpcPeeringConnections")
            .vpc_peering_connections()
            .first()
            .and_then(|p| p.status())
            .and_then(|s| s.code())
            .map(|c| c.as_str().to_string())
            .expect("status")
    }
}

/// The sample event for `CreateVpcPeeringConnection`, with its peering id
/// replaced by `peering_id` (as the requester's CloudTrail would record it).
pub fn create_event(peering_id: &str) -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join("events/create-vpc-peering-connection.json"))
        .expect("events/create-vpc-peering-connection.json");
    let mut v: serde_json::Value = serde_json::from_str(&text).expect("sample event is JSON");
    v["detail"]["responseElements"]["vpcPeeringConnection"]["vpcPeeringConnectionId"] = peering_id.into();
    v
}

/// The sample scheduled event.
pub fn scheduled_event() -> serde_json::Value {
    let text = std::fs::read_to_string(workspace_root().join("events/scheduled.json")).expect("events/scheduled.json");
    serde_json::from_str(&text).expect("sample event is JSON")
}

/// A secret on a customer-managed key, both with a statement of the user's own
/// already in their policies (which peerlink must keep).
pub struct TestSecret {
    pub arn: String,
    pub key_arn: Option<String>,
}

impl Account {
    /// A secret encrypted with a new customer-managed key (`cmk`) or with the
    /// AWS-managed default key, with a user statement in its resource policy
    /// and (for a CMK) an extra user statement in the key policy.
    pub async fn secret(&self, name: &str, cmk: bool) -> TestSecret {
        let key_arn = if cmk {
            let key = self
                .kms
                .create_key()
                .description("peerlink test")
                .send()
                .await
                .expect("CreateKey");
            let arn = key
                .key_metadata()
                .map(|m| m.arn().unwrap_or_default().to_string())
                .expect("key arn");
            let policy = serde_json::json!({
                "Version": "2012-10-17",
                "Id": "key-default-1",
                "Statement": [
                    {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:root", self.id)}, "Action": "kms:*", "Resource": "*"},
                    {"Sid": "UserKeyAdmins", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:role/key-admin", self.id)}, "Action": ["kms:Describe*", "kms:Get*"], "Resource": "*"}
                ]
            });
            self.kms
                .put_key_policy()
                .key_id(&arn)
                .policy_name("default")
                .policy(policy.to_string())
                .send()
                .await
                .expect("PutKeyPolicy");
            Some(arn)
        } else {
            None
        };
        let out = self
            .secrets
            .create_secret()
            .name(name)
            .secret_string("{\"password\":\"not-a-real-password\"}")
            .set_kms_key_id(key_arn.clone())
            .send()
            .await
            .expect("CreateSecret");
        let arn = out.arn().expect("secret arn").to_string();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{"Sid": "UserRotation", "Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{}:role/rotation", self.id)}, "Action": "secretsmanager:*", "Resource": "*"}]
        });
        self.secrets
            .put_resource_policy()
            .secret_id(&arn)
            .resource_policy(policy.to_string())
            .send()
            .await
            .expect("PutResourcePolicy");
        TestSecret { arn, key_arn }
    }

    /// The secret's resource policy (parsed), if any.
    pub async fn secret_policy(&self, arn: &str) -> Option<serde_json::Value> {
        let out = self
            .secrets
            .get_resource_policy()
            .secret_id(arn)
            .send()
            .await
            .expect("GetResourcePolicy");
        out.resource_policy()
            .map(|p| serde_json::from_str(p).expect("policy JSON"))
    }

    pub async fn key_policy(&self, arn: &str) -> serde_json::Value {
        let out = self
            .kms
            .get_key_policy()
            .key_id(arn)
            .policy_name("default")
            .send()
            .await
            .expect("GetKeyPolicy");
        serde_json::from_str(out.policy().expect("policy")).expect("policy JSON")
    }

    /// Routes of a table as (destination, target) pairs.
    pub async fn routes(&self, table: &str) -> Vec<(String, String)> {
        let out = self
            .ec2
            .describe_route_tables()
            .route_table_ids(table)
            .send()
            .await
            .expect("DescribeRouteTables");
        out.route_tables()[0]
            .routes()
            .iter()
            .map(|r| {
                let dest = r
                    .destination_cidr_block()
                    .or(r.destination_ipv6_cidr_block())
                    .unwrap_or_default()
                    .to_string();
                let target = r
                    .vpc_peering_connection_id()
                    .or(r.gateway_id())
                    .or(r.nat_gateway_id())
                    .unwrap_or("?")
                    .to_string();
                (dest, target)
            })
            .collect()
    }

    /// Ingress or egress rules of a group as (protocol, from, to, cidr, description).
    pub async fn rules(&self, group: &str, egress: bool) -> Vec<(String, i32, i32, String, Option<String>)> {
        let out = self
            .ec2
            .describe_security_groups()
            .group_ids(group)
            .send()
            .await
            .expect("DescribeSecurityGroups");
        let g = &out.security_groups()[0];
        let perms = if egress {
            g.ip_permissions_egress()
        } else {
            g.ip_permissions()
        };
        let mut rules = Vec::new();
        for p in perms {
            for r in p.ip_ranges() {
                rules.push((
                    p.ip_protocol().unwrap_or_default().to_string(),
                    p.from_port().unwrap_or(-1),
                    p.to_port().unwrap_or(-1),
                    r.cidr_ip().unwrap_or_default().to_string(),
                    r.description().map(str::to_string),
                ));
            }
        }
        rules
    }

    /// `AllowDnsResolutionFromRemoteVpc` on (requester, accepter) as this account sees them.
    pub async fn peering_dns(&self, id: &str) -> (bool, bool) {
        let out = self
            .ec2
            .describe_vpc_peering_connections()
            .vpc_peering_connection_ids(id)
            .send()
            .await
            .expect("DescribeVpcPeeringConnections");
        let p = &out.vpc_peering_connections()[0];
        let flag = |info: Option<&aws_sdk_ec2::types::VpcPeeringConnectionVpcInfo>| {
            info.and_then(|i| i.peering_options())
                .and_then(|o| o.allow_dns_resolution_from_remote_vpc())
                .unwrap_or(false)
        };
        (flag(p.requester_vpc_info()), flag(p.accepter_vpc_info()))
    }

    /// An internet gateway attached to `vpc` (a route target that is not ours).
    pub async fn internet_gateway(&self, vpc: &str) -> String {
        let igw = self
            .ec2
            .create_internet_gateway()
            .send()
            .await
            .expect("CreateInternetGateway")
            .internet_gateway()
            .and_then(|g| g.internet_gateway_id())
            .expect("igw id")
            .to_string();
        self.ec2
            .attach_internet_gateway()
            .internet_gateway_id(&igw)
            .vpc_id(vpc)
            .send()
            .await
            .expect("AttachInternetGateway");
        igw
    }
}

/// A CloudTrail event as EventBridge delivers it, for calls other than the
/// sample's (route, group, policy changes), built on the sample envelope.
pub fn cloudtrail_event(source: &str, name: &str, request_parameters: serde_json::Value) -> serde_json::Value {
    let mut v = create_event("pcx-0000000000000000a");
    v["source"] = source.into();
    v["detail"]["eventSource"] = format!("{}.amazonaws.com", source.trim_start_matches("aws.")).into();
    v["detail"]["eventName"] = name.into();
    v["detail"]["requestParameters"] = request_parameters;
    v["detail"]["responseElements"] = serde_json::Value::Null;
    v
}

/// The walkthrough's setup on the emulator: ECS tasks in the requester account
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

    /// The requester account's configuration.
    pub fn requester_config(&self, settings: &str) -> String {
        format!(
            r#"[settings]
{settings}

[[peer]]
name = "orders-db"
peer_account = "{accepter}"
peer_vpc = "{accepter_vpc}"
allowed_cidrs = ["10.1.0.0/16"]
local_vpc = "{vpc}"

[[peer.security_group_rules]]
group = "{sg}"
ports = 5432
"#,
            accepter = self.accepter.id,
            accepter_vpc = self.accepter_vpc.id,
            vpc = self.requester_vpc.id,
            sg = self.requester_vpc.security_group,
        )
    }

    /// The accepter account's configuration.
    pub fn accepter_config(&self, settings: &str) -> String {
        format!(
            r#"[settings]
{settings}

[[peer]]
name = "orders-ecs"
peer_account = "{requester}"
peer_vpc = "{requester_vpc}"
allowed_cidrs = ["10.0.0.0/16", "10.2.0.0/16"]
local_vpc = "{vpc}"
auto_accept = true

[[peer.security_group_rules]]
group = "{sg}"
ports = 5432

[[peer.secrets]]
arn = "{secret}"
principals = ["{role}"]

[[peer.secrets]]
arn = "{plain}"
principals = ["{role}"]
"#,
            requester = self.requester.id,
            requester_vpc = self.requester_vpc.id,
            vpc = self.accepter_vpc.id,
            sg = self.accepter_vpc.security_group,
            secret = self.secret.arn,
            plain = self.plain_secret.arn,
            role = self.task_role,
        )
    }

    /// Contexts for both accounts (default settings), the request, and the
    /// accepter's decision on its CloudTrail event: an accepted peering.
    pub async fn accepted(&self) -> (String, peerlink::Context, peerlink::Context) {
        let requester_ctx = self.requester.context(&self.requester_config("")).await;
        let accepter_ctx = self.accepter.context(&self.accepter_config("")).await;
        let pcx = self.request().await;
        let event = peerlink::events::parse(&create_event(&pcx)).expect("sample event");
        let decided = peerlink::accepter::handle(&accepter_ctx, &event, peerlink::Deadline::none())
            .await
            .expect("accepter");
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
}

/// `cargo lambda watch` serving the workspace's functions on a free loopback
/// port, acting as `account` against the emulator. Stopped on drop.
pub struct LambdaWatch {
    pub port: u16,
    /// Where the watch server and the functions log.
    pub log_path: PathBuf,
    child: Child,
    env: Vec<(String, String)>,
}

impl LambdaWatch {
    /// Starts the dev server with the functions' environment plus `extra`.
    pub fn start(emu: &Emulator, account: &Account, extra: &[(&str, &str)]) -> LambdaWatch {
        use std::os::unix::process::CommandExt;
        let bin = ensure_tools();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("free port");
        let mut env = emu.env_for(account);
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        env.push((
            "PATH".into(),
            format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()),
        ));
        // The functions' JSON logs go to a file, for a look when a test fails.
        let log_path = workspace_root().join(format!("target/cargo-lambda-watch-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("watch log file");
        let child = Command::new(bin.join("cargo-lambda"))
            .args([
                "lambda",
                "watch",
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
            ])
            .current_dir(workspace_root())
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start cargo lambda watch");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(std::time::Instant::now() < deadline, "cargo lambda watch did not start");
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        LambdaWatch {
            port,
            log_path,
            child,
            env,
        }
    }

    /// `cargo lambda invoke <function> --data-file <file>`: the response on
    /// success, the error text otherwise.
    pub fn invoke(&self, function: &str, data_file: &std::path::Path) -> Result<serde_json::Value, String> {
        let bin = ensure_tools();
        let out = Command::new(bin.join("cargo-lambda"))
            .args([
                "lambda",
                "invoke",
                function,
                "-A",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--data-file",
            ])
            .arg(data_file)
            .current_dir(workspace_root())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run cargo lambda invoke");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        if out.status.success() {
            serde_json::from_str(stdout.trim()).map_err(|e| format!("response is not JSON ({e}): {stdout}"))
        } else {
            Err(format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)))
        }
    }
}

impl Drop for LambdaWatch {
    fn drop(&mut self) {
        // The watch server runs the functions as children: end the whole group.
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// Many managed peerings for scale tests and benchmarks: `peerings` requester
/// VPCs (10.x.y.0/24) in one account, each peered with one of `local_vpcs`
/// VPCs of the accepter (one route table and one security group each) and
/// accepted. The configuration manages them all (quotas raised to fit).
pub struct Fleet {
    pub requester: Account,
    pub accepter: Account,
    pub config: String,
    pub peerings: Vec<String>,
}

impl Fleet {
    pub async fn build(emu: &Emulator, requester: &str, accepter: &str, peerings: usize, local_vpcs: usize) -> Fleet {
        use futures_util::StreamExt;
        let requester = emu.account(requester).await;
        let accepter = emu.account(accepter).await;
        let mut config =
            "[settings]\nroutes_per_route_table = 1000\nrules_per_security_group = 1000\nwrite_concurrency = 8\n"
                .to_string();
        let mut locals = Vec::new();
        for v in 0..local_vpcs {
            let local = accepter.vpc(&[&format!("172.{}.0.0/16", 16 + v % 16)], 0).await;
            config.push_str(&format!(
                "\n[[peer]]\nname = \"fleet-{v}\"\npeer_account = \"{}\"\nallowed_cidrs = [\"10.0.0.0/8\"]\nlocal_vpc = \"{}\"\nauto_accept = true\n\n[[peer.security_group_rules]]\ngroup = \"{}\"\nports = 443\n",
                requester.id, local.id, local.security_group
            ));
            locals.push(local);
        }
        let (r, a, l) = (&requester, &accepter, &locals);
        let ids: Vec<String> = futures_util::stream::iter(0..peerings)
            .map(|i| async move {
                let cidr = format!("10.{}.{}.0/24", i / 256, i % 256);
                let vpc = r
                    .ec2
                    .create_vpc()
                    .cidr_block(cidr)
                    .send()
                    .await
                    .expect("CreateVpc")
                    .vpc()
                    .and_then(|v| v.vpc_id())
                    .expect("vpc id")
                    .to_string();
                let pcx = r.request_peering(&vpc, &a.id, &l[i % l.len()].id, None).await;
                a.accept(&pcx).await;
                pcx
            })
            .buffered(8)
            .collect()
            .await;
        Fleet {
            requester,
            accepter,
            config,
            peerings: ids,
        }
    }
}

/// One active peering whose accepter VPC has grown to `tables` route tables
/// and `groups` security groups with a rule each (the per-reconcile benchmark
/// and scale test).
pub struct Grown {
    pub requester: Account,
    pub accepter: Account,
    pub config: String,
    pub peering: String,
}

impl Grown {
    pub async fn build(emu: &Emulator, requester: &str, accepter: &str, tables: usize, groups: usize) -> Grown {
        let requester = emu.account(requester).await;
        let accepter = emu.account(accepter).await;
        let rv = requester.vpc(&["10.0.0.0/16"], 0).await;
        let local = accepter.vpc(&["10.1.0.0/16"], 0).await;
        for i in 1..tables {
            accepter.route_table(&local.id, &[("Name", &format!("t{i}"))]).await;
        }
        let mut config = format!(
            "[settings]\nwrite_concurrency = 8\nroutes_per_route_table = 1000\n\n[[peer]]\nname = \"app\"\npeer_account = \"{}\"\nallowed_cidrs = [\"10.0.0.0/16\"]\nlocal_vpc = \"{}\"\nauto_accept = true\n",
            requester.id, local.id
        );
        for g in 0..groups {
            let sg = if g == 0 {
                local.security_group.clone()
            } else {
                accepter.security_group(&local.id, &format!("g{g}")).await
            };
            config.push_str(&format!(
                "\n[[peer.security_group_rules]]\ngroup = \"{sg}\"\nports = 5432\n"
            ));
        }
        let peering = requester.request_peering(&rv.id, &accepter.id, &local.id, None).await;
        accepter.accept(&peering).await;
        Grown {
            requester,
            accepter,
            config,
            peering,
        }
    }
}

/// Whether two call counts differ only by pagination: every operation is
/// called as often, except paginated Describe calls, which may make at most
/// one more call per `page` extra items.
pub fn differ_only_by_pagination(
    small: &peerlink::aws::CallSummary,
    big: &peerlink::aws::CallSummary,
    extra_items: usize,
    page: usize,
) -> Result<(), String> {
    let ops: std::collections::BTreeSet<&String> = small.by_operation.keys().chain(big.by_operation.keys()).collect();
    let allowed = extra_items.div_ceil(page) as u64;
    for op in ops {
        let (s, b) = (small.calls(op), big.calls(op));
        let paginated = [
            "DescribeRouteTables",
            "DescribeVpcPeeringConnections",
            "DescribeSecurityGroups",
            "DescribeVpcs",
        ]
        .contains(&op.as_str());
        let ok = if paginated { b >= s && b - s <= allowed } else { b == s };
        if !ok {
            return Err(format!("{op}: {s} calls for the small case, {b} for the big one"));
        }
    }
    Ok(())
}

/// The fault-injection proxy (`scripts/fault_proxy.py`) on a free loopback
/// port in front of an emulator. Stopped on drop.
pub struct FaultProxy {
    pub endpoint: String,
    pub port: u16,
    child: Child,
}

impl FaultProxy {
    pub fn start(emu: &Emulator, seed: u64) -> FaultProxy {
        let seed = seed.to_string();
        let args = ["--upstream", emu.endpoint.as_str(), "--seed", seed.as_str()];
        let (child, port) = spawn_announcing("scripts/fault_proxy.py", &args, "PROXY_PORT");
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            child,
        }
    }

    /// Replaces the fault configuration (`{"seed":…, "rates":{…}, "slow_seconds":…}`).
    pub fn configure(&self, config: &serde_json::Value) {
        self.control("PUT", "/__proxy/config", &config.to_string());
    }

    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_str(&self.control("GET", "/__proxy/stats", "")).expect("proxy stats are JSON")
    }

    pub fn reset(&self) {
        self.control("POST", "/__proxy/reset", "");
    }

    /// Writes that reached the emulator through the proxy.
    pub fn forwarded_writes(&self) -> u64 {
        self.stats()["totals"]["forwarded_writes"]
            .as_u64()
            .expect("forwarded_writes")
    }

    fn control(&self, method: &str, path: &str, body: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the proxy");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.port,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send to the proxy");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read the proxy's answer");
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        assert!(
            head.starts_with("HTTP/1.1 2") || head.starts_with("HTTP/1.0 2"),
            "proxy control {method} {path}: {head}"
        );
        body.to_string()
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Link {
    /// Everything the link consists of, in both accounts, with the ids that
    /// differ between two identical links replaced by their role, so the end
    /// states of two runs can be compared: statuses, DNS options, routes per
    /// table, rules per group, our statements in the policies.
    pub async fn snapshot(&self, pcx: &str) -> serde_json::Value {
        let hex = pcx.trim_start_matches("pcx-");
        let norm = |s: String| s.replace(pcx, "PCX").replace(hex, "PCX");
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
        let sids = |policy: Option<serde_json::Value>| {
            let mut s: Vec<String> = policy
                .and_then(|p| p["Statement"].as_array().cloned())
                .unwrap_or_default()
                .iter()
                .map(|st| norm(st["Sid"].as_str().unwrap_or("(no sid)").to_string()))
                .collect();
            s.sort();
            s
        };
        serde_json::json!({
            "status": [self.accepter.peering_status(pcx).await, self.requester.peering_status(pcx).await],
            "dns": [self.accepter.peering_dns(pcx).await, self.requester.peering_dns(pcx).await],
            "routes": routes,
            "ingress": rules(self.accepter.rules(&self.accepter_vpc.security_group, false).await),
            "egress": rules(self.requester.rules(&self.requester_vpc.security_group, true).await),
            "secret_policy": sids(self.accepter.secret_policy(&self.secret.arn).await),
            "plain_secret_policy": sids(self.accepter.secret_policy(&self.plain_secret.arn).await),
            "key_policy": sids(Some(self.accepter.key_policy(self.secret.key_arn.as_ref().expect("cmk")).await)),
        })
    }
}
