#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the tools it needs
# (scripts/setup.sh), checks formatting and lints, builds once, then runs the
# unit tests, the emulator-backed integration tests (moto on loopback, several
# accounts) and the cargo-lambda test. Every step prints its duration.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/venv/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
SECONDS=0
step() {
  printf '\n== [%4ds] %s\n' "$SECONDS" "$*"
}

step "tools"
bash scripts/setup.sh

step "format"
cargo fmt --all -- --check

step "build (once; the tests, the functions under cargo lambda and the demo use this build)"
cargo build --workspace --all-targets --locked

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests: unit, emulator integration, cargo lambda"
cargo test --workspace --locked

step "done in ${SECONDS}s"
