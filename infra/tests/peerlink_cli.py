"""The built `peerlink` command (target/debug/peerlink, from `cargo build`;
scripts/test.sh builds it before these checks), run without AWS."""

import os
import pathlib
import subprocess

import pytest

from cfn import ROOT

BINARY = ROOT / "target" / "debug" / "peerlink"
# What the commands these tests run are made of: a binary older than any of
# them would test yesterday's code.
SOURCES = [ROOT / "cli" / "src" / "stack.rs", ROOT / "cli" / "src" / "check.rs", ROOT / "shared" / "src" / "ids.rs",
           *sorted((ROOT / "shared" / "src" / "config").glob("*.rs"))]


def binary():
    if not BINARY.exists():
        pytest.fail(f"{BINARY.relative_to(ROOT)} is missing: run `cargo build --workspace --all-targets` "
                    "(scripts/test.sh does) before these checks")
    built = BINARY.stat().st_mtime
    newer = [str(p.relative_to(ROOT)) for p in SOURCES if p.stat().st_mtime > built]
    if newer:
        pytest.fail(f"{BINARY.relative_to(ROOT)} is older than {', '.join(newer)}: rebuild it "
                    "(`cargo build --workspace --all-targets`)")
    return BINARY


def run(*args, check=True):
    """Runs `peerlink ARGS` from the repository root, with no configuration
    and no AWS endpoint from the environment."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("PEERLINK_CONFIG") and k not in ("AWS_ENDPOINT_URL", "AWS_PROFILE")}
    result = subprocess.run([str(binary()), *map(str, args)], cwd=ROOT, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        pytest.fail(f"peerlink {' '.join(map(str, args))}: exit {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def example_with_requester_entry(tmp_path: pathlib.Path) -> pathlib.Path:
    """peerlink.example.toml with its commented-out requester entry
    (request = true) switched on: both kinds of entry in one document."""
    text = (ROOT / "peerlink.example.toml").read_text()
    head, sep, tail = text.partition("# [[peer]]\n")
    assert sep, "the example no longer has its commented-out [[peer]] entry"
    lines = (sep + tail).splitlines()
    assert all(line.startswith("# ") for line in lines), lines
    path = tmp_path / "both.toml"
    path.write_text(head + "\n".join(line[2:] for line in lines) + "\n")
    return path
