#!/usr/bin/env bash
# The local end-to-end demo: emulator, two accounts, one allowed and four
# hostile requests, the functions under cargo lambda, a break, plan, repair,
# and the organisation report page (target/demo/report.html).
# Installs what it needs (scripts/setup.sh) and builds first, once: the demo
# and the functions it runs are this build's binaries (`cargo run -p` or
# cargo lambda's own `cargo run --bin` would resolve one package's features
# and compile the AWS SDK again). A second run compiles nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export PATH="$PWD/.tools/venv/bin:$PATH"
echo "demo: building (the first build of the AWS SDK crates takes several minutes)..." >&2
cargo build --workspace --bins --locked
exec "${CARGO_TARGET_DIR:-target}/debug/demo"
