#!/usr/bin/env bash
# Builds the Lambda functions of SAM templates with `sam build` (cargo lambda,
# release, arm64) and zips each bootstrap, offline.
#
#   scripts/sam-build.sh                      both templates
#   scripts/sam-build.sh infra/accepter.yaml  one
#
# Output per template: infra/.aws-sam/<name>/build/ (sam's build dir: the
# template.yaml there is what `sam deploy --template-file` or `sam package`
# takes), and infra/.aws-sam/<name>/<Function>.zip.
#
# sam build runs `cargo lambda build --release --arm64 --bin <name>` in each
# function's package directory (CodeUri functions/<name>), with the workspace's
# target/ directory. Features are resolved for that package alone, as in
#   cargo lambda build --release --arm64 -p accepter -p finisher -p drift
# (scripts/artifacts.sh), so either build serves the other. The first release
# arm64 build of the AWS SDK crates takes about 20 minutes on 2 cores, plus a
# few minutes of LTO per function; it runs at nice 10.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

templates=("$@")
[ ${#templates[@]} -gt 0 ] || templates=(infra/accepter.yaml infra/requester.yaml)

bash scripts/setup.sh infra arm64
if ! rustup target list --installed 2>/dev/null | grep -qx aarch64-unknown-linux-gnu; then
  # No fallback to x86_64 here: the templates declare arm64, and an x86_64
  # bootstrap would not start there.
  echo "sam-build: the Rust standard library for aarch64-unknown-linux-gnu is missing" >&2
  echo "           (rustup target add aarch64-unknown-linux-gnu); cannot build for arm64" >&2
  exit 1
fi

# cargo-lambda (and the zig it ships) from .tools/venv, sam from .tools/sam.
export PATH="$root/.tools/venv/bin:$root/.tools/sam/bin:$PATH"
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-eu-west-1}"
export CARGO_TERM_COLOR=never

for t in "${templates[@]}"; do
  name=$(basename "$t" .yaml)
  dir="infra/.aws-sam/$name"
  echo "== sam build $t -> $dir/build"
  start=$SECONDS
  # The Rust build is heavy: keep it polite to whatever else runs here.
  nice -n 10 sam build --template-file "$t" --build-dir "$dir/build" --cache-dir "$dir/cache"
  echo "sam build $t: $((SECONDS - start))s"

  for fn_dir in "$dir"/build/*/; do
    fn=$(basename "$fn_dir")
    [ -f "$fn_dir/bootstrap" ] || continue
    python3 - "$fn_dir/bootstrap" "$dir/$fn.zip" <<'EOF'
import sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16  # executable, as Lambda needs
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
EOF
    arch=$(file -b "$fn_dir/bootstrap" 2>/dev/null | cut -d, -f1-2 || true)
    printf '  %-18s bootstrap %9d bytes   zip %9d bytes   %s\n' "$fn" \
      "$(stat -c %s "$fn_dir/bootstrap")" "$(stat -c %s "$dir/$fn.zip")" "$arch"
  done
done
