//! Local AWS for the tests and the demo, one concern per module: the emulator
//! (moto in server mode on a free loopback port, started through
//! `scripts/moto_server.py`, which describes peerings as the EC2 API
//! reference documents and adds blackhole routes), accounts through STS AssumeRole
//! with builders for VPCs, subnets, route tables, groups and secrets, sample
//! events, the two-account link, the ends of a path to prove (interfaces,
//! network ACLs), `cargo lambda watch`, fleets for scale, and the
//! fault-injection proxy.
//!
//! Every request goes through the standard endpoint override, exactly as
//! `AWS_ENDPOINT_URL` does for the functions.

mod account;
mod chain;
mod cli;
mod emulator;
mod events;
mod fault_proxy;
mod fleet;
mod hub;
mod lambda_watch;
mod link;
mod path;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

pub use account::{Account, GroupRule, TestSecret, TestVpc};
pub use chain::{Chain, EventCapture, connect_by_events};
pub use cli::{peerlink, peerlink_as};
pub use emulator::{Emulator, PendingBlocks};
pub use events::{
    cloudtrail_event, create_event, create_event_in, decide, failed_writes, finish, pass, scheduled_event,
};
pub use fault_proxy::FaultProxy;
pub use fleet::{Fleet, Grown, differ_only_by_pagination};
pub use hub::{Hub, Link as ChainLink, Throttling, chain, ec2_like, timeout};
pub use lambda_watch::{LambdaWatch, built_binary};
pub use link::Link;
pub use path::{TestInterface, accounts_file};

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
pub(crate) fn spawn_announcing(script: &str, args: &[&str], key: &str) -> (Child, u16) {
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
