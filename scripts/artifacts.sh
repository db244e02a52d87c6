#!/usr/bin/env bash
# Builds the Lambda artifacts (release profile, arm64, as deployed) and checks
# the zip of each function against the 3 MB goal. Writes results/artifacts.json.
# Fails when the aarch64 standard library is missing, when a bootstrap is not
# an aarch64 executable, or when a zip is at or above the goal.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh arm64
export PATH="$PWD/.tools/venv/bin:$PATH"
cargo lambda build --release --locked --arm64 --output-format zip -p accepter -p finisher -p drift
mkdir -p results
python3 - "${CARGO_TARGET_DIR:-target}" <<'EOF'
import json, os, struct, sys, zipfile
goal = 3 * 1000 * 1000
rows, problems = {}, []
for fn in ("accepter", "finisher", "drift"):
    z = f"{sys.argv[1]}/lambda/{fn}/bootstrap.zip"
    with zipfile.ZipFile(z) as archive:
        head = archive.open("bootstrap").read(20)
    machine = struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" else None
    rows[fn] = {"zip_bytes": os.path.getsize(z), "arch": "arm64" if machine == 183 else f"e_machine {machine}"}
    ok = rows[fn]["zip_bytes"] < goal
    print(f"  {fn:<9} {rows[fn]['zip_bytes'] / 1e6:5.2f} MB zipped ({rows[fn]['arch']})  goal < 3 MB: {'ok' if ok else 'ABOVE GOAL'}")
    if not ok:
        problems.append(f"{fn}: {rows[fn]['zip_bytes']:,} bytes zipped, at or above the goal of {goal:,}")
    if machine != 183:  # EM_AARCH64
        problems.append(f"{fn}: the bootstrap in {z} is not an aarch64 executable (e_machine {machine})")
json.dump({"goal_bytes": goal, "functions": rows, "problems": problems}, open("results/artifacts.json", "w"), indent=2)
if problems:
    sys.exit("artifacts: FAILED\n  " + "\n  ".join(problems))
EOF
