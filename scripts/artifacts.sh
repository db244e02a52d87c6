#!/usr/bin/env bash
# Builds the Lambda artifacts (release, arm64 when the aarch64 standard
# library is available, else x86_64 with a clear message) and reports the zip
# size of each function against the 3 MB goal. Writes results/artifacts.json.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh arm64
export PATH="$PWD/.tools/venv/bin:$PATH"
arch=(--arm64)
if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
  echo "artifacts: no aarch64 standard library here; building x86_64 instead (sizes are close, not equal)" >&2
  arch=()
fi
cargo lambda build --release --locked "${arch[@]}" --output-format zip -p accepter -p finisher -p drift
mkdir -p results
python3 - "${arch[@]:-x86_64}" <<'PY'
import json, os, sys
arch = "arm64" if sys.argv[1] == "--arm64" else "x86_64"
goal = 3 * 1000 * 1000
rows = {}
for fn in ("accepter", "finisher", "drift"):
    z = f"target/lambda/{fn}/bootstrap.zip"
    rows[fn] = {"zip_bytes": os.path.getsize(z), "arch": arch}
    mark = "ok" if rows[fn]["zip_bytes"] < goal else "ABOVE GOAL"
    print(f"  {fn:<9} {rows[fn]['zip_bytes'] / 1e6:5.2f} MB zipped ({arch})  goal < 3 MB: {mark}")
json.dump({"goal_bytes": goal, "functions": rows}, open("results/artifacts.json", "w"), indent=2)
PY
