//! The built `peerlink` binary, run as a person with credentials would run
//! it against the emulator in a terminal (the caller's own credentials, or
//! an account's; roles assumed by the command itself).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{Account, Emulator, workspace_root};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs `target/debug/peerlink ARGS` with the emulator at `endpoint`.
pub fn peerlink(endpoint: &str, args: &[&str]) -> Output {
    println!("$ peerlink {}", args.join(" "));
    run(command(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_REGION", crate::REGION)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_SESSION_TOKEN"))
}

/// Runs the built `peerlink` binary acting as `account` on `emu`.
pub fn peerlink_as(emu: &Emulator, account: &Account, args: &[&str]) -> Output {
    run(command(args)
        .envs(emu.env_for(account))
        .env_remove("PEERLINK_CONFIG_FILE")
        .env_remove("PEERLINK_CONFIG")
        .env_remove("PEERLINK_CONFIG_SSM_PARAMETER"))
}

/// The built binary with ARGS, no profile or shared file of the person
/// running the tests.
fn command(args: &[&str]) -> Command {
    let bin = target_dir().join("debug/peerlink");
    assert_fresh(&bin);
    let mut c = Command::new(&bin);
    c.args(args)
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE");
    c
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("run peerlink: {e} (build it first: cargo build --workspace)"))
}

/// The binary is not older than any source it was built from (cargo's
/// dep-info file next to it lists them): a stale one would test old code.
fn assert_fresh(bin: &Path) {
    let built = std::fs::metadata(bin)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("{}: {e} (build it first: cargo build --workspace)", bin.display()));
    let Ok(deps) = std::fs::read_to_string(bin.with_extension("d")) else {
        return;
    };
    let sources = deps.split_once(": ").map_or("", |(_, s)| s).replace("\\ ", "\u{0}");
    for source in sources.split_whitespace().map(|s| s.replace('\u{0}', " ")) {
        let changed = std::fs::metadata(&source).and_then(|m| m.modified());
        assert!(
            changed.is_ok_and(|c| c <= built),
            "{} is older than {source}: rebuild it (cargo build --workspace)",
            bin.display()
        );
    }
}
