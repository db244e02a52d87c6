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
# (scripts/artifacts.sh), so either build serves the other: with
# PEERLINK_SAM_REUSE=1 (scripts/test.sh, after artifacts.sh) this fails unless
# every bootstrap sam build packaged is the one artifacts.sh checked. Every function of each template must come out as
# an aarch64 ELF bootstrap, or this fails. The first release arm64 build of the
# AWS SDK crates takes about 20 minutes on 2 cores, plus a few minutes of LTO
# per function; it runs at nice 10.
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

# The zips scripts/artifacts.sh checked (cargo lambda's output, one per
# function package).
lambda_dir="${CARGO_TARGET_DIR:-target}/lambda"

declare -A template_functions=()
for t in "${templates[@]}"; do
  name=$(basename "$t" .yaml)
  dir="infra/.aws-sam/$name"
  # Every function of the template must come out of the build (none skipped).
  functions=$(python3 - "$t" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
print(" ".join(re.findall(r"^  (\w+):\n    Type: AWS::Serverless::Function\b", text, re.M)))
EOF
)
  if [ -z "$functions" ]; then
    echo "sam-build: no AWS::Serverless::Function found in $t" >&2
    exit 1
  fi
  template_functions[$t]=$functions
  echo "== sam build $t -> $dir/build ($functions)"
  start=$SECONDS
  # The Rust build is heavy: keep it polite to whatever else runs here.
  nice -n 10 sam build --template-file "$t" --build-dir "$dir/build" --cache-dir "$dir/cache"
  echo "sam build $t: $((SECONDS - start))s"

  for fn in $functions; do
    bootstrap="$dir/build/$fn/bootstrap"
    if [ ! -f "$bootstrap" ]; then
      echo "sam-build: $t: $fn has no bootstrap ($bootstrap)" >&2
      exit 1
    fi
    # The templates declare arm64: an x86_64 bootstrap would not start there.
    python3 - "$bootstrap" "$dir/$fn.zip" <<'EOF'
import struct, sys, zipfile
src, dst = sys.argv[1], sys.argv[2]
with open(src, "rb") as f:
    head = f.read(20)
machine = struct.unpack_from("<H", head, 18)[0] if head[:4] == b"\x7fELF" else None
if machine != 183:  # EM_AARCH64
    sys.exit(f"sam-build: {src} is not an aarch64 ELF executable (e_machine {machine})")
info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
info.external_attr = 0o100755 << 16  # executable, as Lambda needs
info.compress_type = zipfile.ZIP_DEFLATED
with open(src, "rb") as f, zipfile.ZipFile(dst, "w") as z:
    z.writestr(info, f.read(), compresslevel=9)
EOF
    printf '  %-18s bootstrap %9d bytes   zip %9d bytes   aarch64 ELF\n' "$fn" \
      "$(stat -c %s "$bootstrap")" "$(stat -c %s "$dir/$fn.zip")"
  done
done

# After scripts/artifacts.sh (scripts/test.sh): what sam build packaged must
# be, byte for byte, the bootstrap whose size artifacts.sh checked (built with
# the same package features and flags: found built, not rebuilt differently).
# Not the files' times: cargo lambda's binary output moves the executable out
# of target/<triple>/release, so the second build's outputs are not where the
# first left them.
if [ "${PEERLINK_SAM_REUSE:-}" = 1 ]; then
  for t in "${templates[@]}"; do
    dir="infra/.aws-sam/$(basename "$t" .yaml)"
    # shellcheck disable=SC2086 # one argument per function
    python3 - "$dir/build" "$lambda_dir" "$t" ${template_functions[$t]} <<'EOF'
import hashlib, sys, zipfile
build, lambda_dir, template, *functions = sys.argv[1:]
for fn in functions:
    package = fn.removesuffix("Function").lower()
    sam = hashlib.sha256(open(f"{build}/{fn}/bootstrap", "rb").read()).hexdigest()
    try:
        with zipfile.ZipFile(f"{lambda_dir}/{package}/bootstrap.zip") as z:
            checked = hashlib.sha256(z.read("bootstrap")).hexdigest()
    except FileNotFoundError:
        sys.exit(f"sam-build: {lambda_dir}/{package}/bootstrap.zip is missing: run scripts/artifacts.sh first")
    if sam != checked:
        sys.exit(f"sam-build: {template}: {fn}'s bootstrap ({sam[:12]}) is not the one artifacts.sh "
                 f"checked ({checked[:12]}): sam build rebuilt it with other features or flags")
    print(f"  {fn:<18} the bootstrap artifacts.sh checked ({sam[:12]})")
EOF
  done
  echo "sam build packaged the release build that artifacts.sh checked"
fi
