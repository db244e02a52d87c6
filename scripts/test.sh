#!/usr/bin/env bash
# The whole test suite, from a fresh clone: installs the tools it needs
# (scripts/setup.sh), checks formatting and lints, builds once, then runs the
# unit tests, the emulator-backed integration tests (moto on loopback, several
# accounts), the cargo-lambda test, the demo and the benchmarks once each;
# validates the SAM templates offline with their tests; runs the short
# benchmark (figures printed, nothing timed is asserted); builds the arm64
# release functions once, checks their zip sizes against Lambda's limits (and
# shows our 3 MB goal), and
# runs `sam build` of both templates on that build. Every step prints its
# duration; the summary at the end lists every step, and every step that did
# not run. A step either runs and passes, or the run fails: nothing is
# skipped for want of a tool.
#
# Two steps run in the background, because the machine is otherwise idle
# while they could be working: the tools the templates and the report page
# need (downloads) during the debug build, and the arm64 release build
# (at nice 19: it takes only the CPU the rest leaves, so nothing timed in the
# foreground slows down) from the start to the end. Their output is shown,
# whole, when the run waits for them; their time is counted from their start.
#
#   scripts/test.sh            everything (what CI runs)
#   scripts/test.sh --quick    leaves out the arm64 release build and sam build
#                              (listed as not run in the summary)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.tools/venv/bin:$PATH"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
quick=false
[ "${1:-}" = "--quick" ] && quick=true
SECONDS=0

done_steps=() not_run=() current="" started=0 ended=""
# The background steps: their pids, start times and output.
logs=$(mktemp -d)
declare -A bg_pid=() bg_start=()
step() {
  end_step ok
  current="$*" started=$SECONDS
  printf '\n== [%4ds] %s\n' "$SECONDS" "$*"
}
end_step() {
  if [ -n "$current" ]; then
    done_steps+=("$(printf '%6ds  %-6s %s' $((${ended:-$SECONDS} - started)) "$1" "$current")")
  fi
  current="" ended=""
}
not_run() {
  not_run+=("$*")
  printf '\n== NOT RUN: %s\n' "$*"
}
summary() {
  local status=$? name
  for name in "${!bg_pid[@]}"; do not_run+=("$name (stopped in the background: the run ended first)"); done
  stop_background
  end_step "$([ $status = 0 ] && echo ok || echo FAILED)"
  printf '\n== summary: %s in %ds\n' "$([ $status = 0 ] && echo passed || echo FAILED)" "$SECONDS"
  printf '%s\n' "${done_steps[@]}"
  [ $status = 0 ] || echo "the run stopped at the failed step: the steps after it did not run"
  if [ ${#not_run[@]} -eq 0 ]; then
    echo "steps that did not run: none"
  else
    echo "STEPS THAT DID NOT RUN (${#not_run[@]}):"
    printf '  - %s\n' "${not_run[@]}"
  fi
}
trap summary EXIT
# Stopped from outside: the summary must say FAILED, not passed.
trap 'exit 130' INT
trap 'exit 143' TERM

# background NAME COMMAND...: runs COMMAND now, output kept for `await NAME`.
background() {
  local name=$1; shift
  bg_start[$name]=$SECONDS
  # The subshell's SECONDS counts from this script's start too: it records
  # when the job ended, not when the run got round to waiting for it.
  ( status=0; "$@" > "$logs/$name.log" 2>&1 || status=$?; echo "$SECONDS" > "$logs/$name.end"; exit $status ) &
  bg_pid[$name]=$!
  printf '== [%4ds] started in the background: %s\n' "$SECONDS" "$name"
}
# await NAME: the step NAME, from its start in the background to its end.
await() {
  local name=$1 status=0 end
  step "$name"
  wait "${bg_pid[$name]}" || status=$?
  unset 'bg_pid[$name]'  # quoted: the name may hold an apostrophe
  cat "$logs/$name.log"
  end=$(cat "$logs/$name.end" 2>/dev/null || echo $SECONDS)
  printf '(ran in the background from [%ds] to [%ds])\n' "${bg_start[$name]}" "$end"
  started=${bg_start[$name]} ended=$end
  return $status
}
# A failed run stops what still runs in the background, the whole tree (nice,
# cargo, rustc, the linker): killing the job's shell alone would leave the
# build running on after the run has ended.
stop_background() {
  local pid tree=()
  descendants() { local c; for c in $(pgrep -P "$1"); do tree+=("$c"); descendants "$c"; done; }
  for pid in "${bg_pid[@]}"; do tree+=("$pid"); descendants "$pid"; done
  [ ${#tree[@]} -eq 0 ] || kill "${tree[@]}" 2>/dev/null || true
  rm -rf "$logs"
}

step "tools for the build and the tests (moto, cargo-lambda$($quick || echo ', the aarch64 standard library'))"
if $quick; then bash scripts/setup.sh; else bash scripts/setup.sh arm64; fi
release="arm64 release build of the functions (cargo lambda), zip sizes against Lambda's limits (the 3 MB goal shown)"
if ! $quick; then
  # Built as they ship, by rustc alone (not through clippy's wrapper); one
  # cargo invocation for the three functions links them in parallel. sam
  # build then finds them built (same package features and flags).
  background "$release" nice -n 19 env -u RUSTC_WORKSPACE_WRAPPER -u CLIPPY_ARGS bash scripts/artifacts.sh
fi
tools="tools for the templates and the report page (cfn-lint, SAM, checkov, chromium)"
background "$tools" bash scripts/setup.sh infra chromium

step "format"
cargo fmt --all -- --check

step "build with clippy's lints (once; the tests, the functions under cargo lambda, the benchmarks and the demo use this build)"
# clippy is a rustc driver: as cargo's wrapper for the workspace's own
# crates it lints them while building them (exactly what `cargo clippy
# --all-targets -- -D warnings` runs, which is `cargo check` with these two
# variables). A separate clippy step would compile every dependency a second
# time in check mode: about a quarter of a cold run. Exported: every later
# cargo call of this run sees the same build.
RUSTC_WORKSPACE_WRAPPER="$(rustup which clippy-driver 2>/dev/null || command -v clippy-driver || true)"
if [ ! -x "$RUSTC_WORKSPACE_WRAPPER" ]; then
  echo "test: clippy-driver not found (rustup component add clippy): the lints cannot run" >&2
  exit 1
fi
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
cargo build --workspace --all-targets --locked
# The binaries alone (scripts/demo.sh, scripts/bench.sh, the tests' harness)
# must resolve the same features as this build, or each compiles the library
# and the SDK again.
again=$(cargo build --workspace --bins --locked 2>&1)
if grep -q '^ *Compiling' <<<"$again"; then
  echo "$again"
  echo "test: cargo build --workspace --bins compiled again after --all-targets: a dev-dependency turns on" >&2
  echo "      features the binaries alone do not (compare cargo tree -e features with and without -e dev)" >&2
  exit 1
fi

await "$tools"

step "tests: unit, property, emulator integration, cargo lambda, the demo; each benchmark once"
cargo test --workspace --all-targets --locked

step "templates: cfn-lint, sam validate, translated lint, checkov, EventBridge patterns, IAM"
bash scripts/check-infra.sh

step "benchmarks, short (debug build: API-call counts are exact, times only indicative)"
bash scripts/bench.sh --short

if $quick; then
  not_run "arm64 release build of the functions, zip sizes (--quick)"
  not_run "sam build of both templates (--quick)"
else
  await "$release"
  unset RUSTC_WORKSPACE_WRAPPER CLIPPY_ARGS
  step "sam build of both templates (on that build), arm64 bootstraps and zip sizes"
  PEERLINK_SAM_REUSE=1 bash scripts/sam-build.sh
fi
