#!/usr/bin/env bash
# The benchmark suite: prints the tables and writes JSON under results/.
#
#   scripts/bench.sh           full run: release builds (native for timing, arm64
#                              for the artifact sizes), every case, 7 cold starts
#   scripts/bench.sh --short   what CI runs: the debug build the tests use, the
#                              small cases, 1 cold start (figures printed, no
#                              timing asserted: machines are noisy)
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-full}"
bash scripts/setup.sh
export PATH="$PWD/.tools/venv/bin:$PATH"
mkdir -p results
SECONDS=0

if [ "$mode" = "--short" ]; then
  cargo build --workspace --bins --locked
  target/debug/emulator-bench --short --json results/bench-short.json
  python bench/startup.py --runs 1 --json results/startup-short.json \
    --bootstrap accepter=target/debug/accepter \
    --bootstrap finisher=target/debug/finisher \
    --bootstrap drift=target/debug/drift
  echo "bench (short, debug build): ${SECONDS}s; results/bench-short.json, results/startup-short.json"
  exit 0
fi

echo "== release build (native, for timing)" >&2
cargo build --release --locked -p accepter -p finisher -p drift -p peerlink-bench
echo "== API calls, drift at scale, plan CPU, concurrency, batching" >&2
target/release/emulator-bench --json results/bench.json
echo "== plan CPU time (divan)" >&2
cargo bench --locked -p peerlink-bench --bench plan
echo "== start-up and memory against the boto3 baseline" >&2
python bench/startup.py --runs 7 --json results/startup.json \
  --bootstrap accepter=target/release/accepter \
  --bootstrap finisher=target/release/finisher \
  --bootstrap drift=target/release/drift
echo "== arm64 artifacts" >&2
bash scripts/artifacts.sh
echo "bench (full): ${SECONDS}s; results in results/"
