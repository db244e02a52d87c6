//! moto in server mode on a free loopback port (through
//! `scripts/moto_server.py`, which makes moto describe peerings as the EC2 API
//! reference documents: every block of both VPCs once active, the requester's
//! primary block only while pending, tags per account; and blackhole routes),
//! and accounts on it through STS AssumeRole.

use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, SharedCredentialsProvider};
use peerlink::aws::Resilience;
use peerlink::settings::Settings;

use crate::{Account, REGION, spawn_announcing};

/// A running emulator. Dropping it stops the server; the shared one stops when
/// the process exits (the launcher watches its stdin).
pub struct Emulator {
    pub endpoint: String,
    pub port: u16,
    /// What a pending request's description says of the requester's blocks.
    pub pending_blocks: PendingBlocks,
    child: Mutex<Child>,
}

/// Whether EC2 lists the requester's `CidrBlockSet` while a request is
/// pending. The API reference promises CIDR information for active peerings
/// only (`Omitted`, what the emulator answers by default); `Listed` is the
/// kinder answer, so the accepter's tests run both ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PendingBlocks {
    Omitted,
    Listed,
}

impl Emulator {
    /// Starts a new emulator on a free loopback port, answering as documented.
    pub fn start() -> Emulator {
        Emulator::start_with(PendingBlocks::Omitted)
    }

    pub fn start_with(pending_blocks: PendingBlocks) -> Emulator {
        let mode = match pending_blocks {
            PendingBlocks::Omitted => "omitted",
            PendingBlocks::Listed => "listed",
        };
        let (child, port) = spawn_announcing("scripts/moto_server.py", &["--pending-block-set", mode], "MOTO_PORT");
        Emulator {
            endpoint: format!("http://127.0.0.1:{port}"),
            port,
            pending_blocks,
            child: Mutex::new(child),
        }
    }

    /// One emulator for every test of this process; tests stay apart by using
    /// their own accounts.
    pub fn shared() -> &'static Emulator {
        Emulator::shared_with(PendingBlocks::Omitted)
    }

    /// The shared emulator that answers pending requests `pending_blocks`.
    pub fn shared_with(pending_blocks: PendingBlocks) -> &'static Emulator {
        static OMITTED: OnceLock<Emulator> = OnceLock::new();
        static LISTED: OnceLock<Emulator> = OnceLock::new();
        let cell = match pending_blocks {
            PendingBlocks::Omitted => &OMITTED,
            PendingBlocks::Listed => &LISTED,
        };
        cell.get_or_init(|| Emulator::start_with(pending_blocks))
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
        self.account_full(
            endpoint,
            account,
            region,
            Settings::from_env().expect("valid PEERLINK_* settings").resilience,
        )
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
            ssm: aws_sdk_ssm::Client::new(&sdk),
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
