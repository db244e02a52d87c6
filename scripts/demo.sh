#!/usr/bin/env bash
# The local end-to-end demo: emulator, two accounts, one allowed and four
# hostile requests, the functions under cargo lambda, a break, plan, repair.
# Installs what it needs (scripts/setup.sh) and builds first.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/venv/bin:$PATH"
echo "demo: building (the first build of the AWS SDK crates takes several minutes)..." >&2
cargo build --workspace --bins --locked
exec cargo run --quiet --locked -p peerlink-tests --bin demo
