#!/usr/bin/env bash
# Builds the Lambda artifacts (release profile, arm64, as deployed) and checks
# each function's zip. Writes results/artifacts.json. Fails when the aarch64
# standard library is missing, when a bootstrap is not an aarch64
# executable, or when a zip or its bootstrap is over what Lambda accepts
# (50 MB zipped for a direct upload, 250 MB unzipped). Our own goal, under
# 3 MB zipped, is printed with each figure ("met" or "NOT met"), as the
# start-up goals are: a goal, not a limit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh arm64
export PATH="$PWD/.tools/venv/bin:$PATH"
cargo lambda build --release --locked --arm64 --output-format zip -p accepter -p finisher -p drift
mkdir -p results
python3 - "${CARGO_TARGET_DIR:-target}" <<'EOF'
import json, os, struct, sys, zipfile
goal = 3 * 1000 * 1000
zip_limit, unzipped_limit = 50 * 1024 * 1024, 250 * 1024 * 1024
rows, problems = {}, []
for fn in ("accepter", "finisher", "drift"):
    z = f"{sys.argv[1]}/lambda/{fn}/bootstrap.zip"
    with zipfile.ZipFile(z) as archive:
        head = archive.open("bootstrap").read(20)
        unzipped = sum(i.file_size for i in archive.infolist())
    machine = struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" else None
    size = os.path.getsize(z)
    rows[fn] = {"zip_bytes": size, "unzipped_bytes": unzipped, "goal_met": size < goal,
                "arch": "arm64" if machine == 183 else f"e_machine {machine}"}
    print(f"  {fn:<9} {size / 1e6:5.2f} MB zipped, {unzipped / 1e6:5.2f} MB unzipped ({rows[fn]['arch']})"
          f"  goal < 3 MB zipped: {'met' if size < goal else 'NOT met'}")
    if size >= zip_limit or unzipped >= unzipped_limit:
        problems.append(f"{fn}: {size:,} bytes zipped, {unzipped:,} unzipped: over Lambda's limits "
                        f"({zip_limit:,} zipped, {unzipped_limit:,} unzipped)")
    if machine != 183:  # EM_AARCH64
        problems.append(f"{fn}: the bootstrap in {z} is not an aarch64 executable (e_machine {machine})")
json.dump({"goal_bytes": goal, "lambda_limits": {"zipped": zip_limit, "unzipped": unzipped_limit},
           "functions": rows, "problems": problems}, open("results/artifacts.json", "w"), indent=2)
if problems:
    sys.exit("artifacts: FAILED\n  " + "\n  ".join(problems))
EOF
