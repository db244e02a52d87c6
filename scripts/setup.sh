#!/usr/bin/env bash
# Installs what the tests and the demo need, into .tools/ (ignored by git).
# Idempotent: a stamp records what is installed; a second run does nothing.
#
#   scripts/setup.sh           moto (emulator), boto3, cargo-lambda
#   scripts/setup.sh infra     + cfn-lint, AWS SAM CLI, checkov (template checks)
#   scripts/setup.sh arm64     + the Rust standard library for aarch64 (fails without it)
#   scripts/setup.sh chromium  + Debian's chromium, with apt-get, when missing
#                                (the report test renders its page with it)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$root/.tools"
# The physical path: a virtualenv's scripts name their interpreter by the path
# it was created at, and .tools may be a link into a cache shared by clones
# that come and go (.ci/run).
tools=$(cd "$root/.tools" && pwd -P)
# .tools may be shared (a worktree's link, CI's cache kept across clones, two
# steps of scripts/test.sh at once): one install of each thing at a time; the
# others wait for that one, then find its stamp and do nothing. A lock per
# thing, so that waiting for SAM does not hold up a build that needs only
# cargo-lambda.
lock() {
  exec 9>"$tools/.lock-$1"
  flock 9
}
unlock() { exec 9>&-; }

# Every script of the environment names an interpreter that exists.
venv_scripts_start() {
  local f first
  for f in "$1"/bin/*; do
    [ -f "$f" ] || continue
    IFS= read -r first < "$f" || true
    case "$first" in
      '#!/'*) first=${first#\#!}; [ -x "${first%% *}" ] || return 1 ;;
    esac
  done
}

# venv <dir> <packages...>: create/refresh a virtualenv holding exactly these pins.
venv() {
  local dir="$1"; shift
  local want="$*"
  lock "$(basename "$dir")"
  # A stamp alone is not enough: the environment must still start (a venv
  # made through a clone's link, before the physical path was used, names a
  # python that is gone with that clone).
  if [ -f "$dir/.stamp" ] && [ "$(cat "$dir/.stamp")" = "$want" ] \
    && "$dir/bin/python" -c '' 2>/dev/null && venv_scripts_start "$dir"; then
    unlock
    return 0
  fi
  echo "setup: installing $want into ${dir#"$root"/}" >&2
  rm -rf "$dir"
  python3 -m venv "$dir"
  "$dir/bin/pip" install --quiet --disable-pip-version-check "$@"
  echo "$want" > "$dir/.stamp"
  unlock
}

# jsonschema: infra/tests/test_config_schema.py validates documents against
# schema/peerlink.schema.json with it (moto pulls in the same version).
venv "$tools/venv" 'moto[server]==5.2.5' 'boto3==1.44.5' 'cargo-lambda==1.9.2' 'pytest==9.2.0' 'jsonschema==4.26.0'

for extra in "$@"; do
  case "$extra" in
    infra)
      # Separate environments: checkov pins an older boto3 than SAM does.
      venv "$tools/sam" 'aws-sam-cli==1.170.0' 'cfn-lint==1.58.0'
      venv "$tools/checkov" 'checkov==3.3.30'
      ;;
    arm64)
      lock arm64
      # Not a package registry: rustup fetches it. The functions deploy as
      # arm64, so their release build and size check need it: no fallback.
      if ! rustup target list --installed 2>/dev/null | grep -q '^aarch64-unknown-linux-gnu$'; then
        if ! rustup target add aarch64-unknown-linux-gnu >&2; then
          echo "setup: could not add the aarch64 target (rustup target add aarch64-unknown-linux-gnu);" >&2
          echo "       the arm64 release build and its size check cannot run here" >&2
          exit 1
        fi
      fi
      ;;
    chromium)
      lock chromium
      # A system package, not a pin: whatever Debian ships. The report test
      # renders the page with it and fails without it (no skip).
      if ! command -v chromium >/dev/null 2>&1; then
        apt=()
        if [ "$(id -u)" = 0 ]; then
          apt=(apt-get)
        elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
          apt=(sudo -n apt-get)
        fi
        if [ ${#apt[@]} -eq 0 ] || ! command -v apt-get >/dev/null 2>&1; then
          echo "setup: chromium is missing and apt-get cannot be run here (needs root or sudo)" >&2
        else
          echo "setup: installing Debian's chromium with apt-get" >&2
          export DEBIAN_FRONTEND=noninteractive
          "${apt[@]}" install -y --no-install-recommends chromium >&2 \
            || { "${apt[@]}" update >&2 && "${apt[@]}" install -y --no-install-recommends chromium >&2; } \
            || echo "setup: could not install chromium" >&2
        fi
      fi
      ;;
    *) echo "setup: unknown extra '$extra' (known: infra, arm64, chromium)" >&2; exit 2 ;;
  esac
done
