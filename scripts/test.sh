#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the tools it needs
# (scripts/setup.sh), checks formatting and lints, builds once, then runs the
# unit tests, the emulator-backed integration tests (moto on loopback, several
# accounts), the cargo-lambda test and the benchmarks once each; validates the
# SAM templates offline with their tests; runs the short benchmark (figures
# printed, nothing timed is asserted); and builds the arm64 release artifacts
# with `sam build`, printing their sizes. Every step prints its duration.
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --quick    skips the arm64 release build (about 11 minutes cold on two cores)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/venv/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
quick=false
[ "${1:-}" = "--quick" ] && quick=true
SECONDS=0
step() {
  printf '\n== [%4ds] %s\n' "$SECONDS" "$*"
}

step "tools"
bash scripts/setup.sh infra arm64 chromium

step "format"
cargo fmt --all -- --check

step "build (once; the tests, the functions under cargo lambda, the benchmarks and the demo use this build)"
cargo build --workspace --all-targets --locked

step "lints"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "tests: unit, property, emulator integration, cargo lambda; each benchmark once"
cargo test --workspace --all-targets --locked

step "templates: cfn-lint, sam validate, translated lint, checkov, EventBridge patterns, IAM"
bash scripts/check-infra.sh

step "benchmarks, short (debug build: API-call counts are exact, times only indicative)"
bash scripts/bench.sh --short

if $quick; then
  step "skipped the arm64 release build (--quick)"
elif ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  # setup.sh tried to add it; a machine that cannot fetch it still runs every test.
  step "SKIPPED sam build: the aarch64 standard library could not be installed on this machine (see above)"
else
  # One cargo invocation for the three functions links them in parallel;
  # sam build then finds them built (same package features and flags).
  step "arm64 release build of the functions (cargo lambda), zip sizes against the 3 MB goal"
  bash scripts/artifacts.sh
  step "sam build of both templates (reuses that build), arm64 bootstraps and zip sizes"
  bash scripts/sam-build.sh
fi

step "done in ${SECONDS}s"
