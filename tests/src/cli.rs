//! The built `peerlink` command, run against the emulator as a person would
//! run it in a terminal.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{Account, Emulator, workspace_root};

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}

/// Runs the built `peerlink` binary acting as `account` on `emu`.
pub fn peerlink_as(emu: &Emulator, account: &Account, args: &[&str]) -> Output {
    let bin = target_dir().join("debug/peerlink");
    assert_fresh(&bin);
    Command::new(&bin)
        .args(args)
        .envs(emu.env_for(account))
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env_remove("AWS_PROFILE")
        .env_remove("PEERLINK_CONFIG_FILE")
        .env_remove("PEERLINK_CONFIG")
        .env_remove("PEERLINK_CONFIG_SSM_PARAMETER")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e} (build it first: cargo build --workspace)", bin.display()))
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
