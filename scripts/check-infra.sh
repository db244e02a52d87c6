#!/usr/bin/env bash
# Validates the SAM templates in infra/ offline, and runs their tests:
#   0. the templates are what infra/generate.py makes of their one source,
#      infra/peerlink.yaml.j2;
#   1. cfn-lint on each template (SAM templates are transformed by cfn-lint itself);
#   2. sam validate, then sam validate --lint;
#   3. the template translated to plain CloudFormation with aws-sam-translator
#      (infra/sam_translate.py, no AWS call), linted again with cfn-lint: what
#      CloudFormation will really create (an empty translation fails);
#   4. checkov: zero failed checks (its own exit status counts); every skip is
#      in the template's Metadata with a written reason, and is listed here; a
#      scan of no resource, or one that never looked at a template, fails;
#   5. the infra tests (EventBridge patterns in the emulator, IAM), pytest.
# Needs: scripts/setup.sh infra (run here). No network, no AWS credentials.
# Exit status: non-zero if anything failed; everything runs anyway and the
# summary says what failed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh infra

sam_bin=.tools/sam/bin
# SAM and the translator want a region; nothing calls AWS. Dummy credentials
# make any accidental AWS call fail fast instead of searching for real ones.
export SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=eu-west-1 AWS_REGION=eu-west-1
export AWS_ACCESS_KEY_ID=offline AWS_SECRET_ACCESS_KEY=offline AWS_SESSION_TOKEN=offline
unset AWS_PROFILE AWS_ENDPOINT_URL
# checkov: no Prisma Cloud download, no version check.
export BC_SKIP_MAPPING=TRUE CHECKOV_RUN_SCA_PACKAGE_SCAN_V2=false

templates=(infra/accepter.yaml infra/requester.yaml)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

results=()
failed=0
run() { # run <label> <command...>: prints the command, records the outcome
  local label="$1"; shift
  printf '\n== %s\n$ %s\n' "$label" "$*"
  local start=$SECONDS
  if "$@"; then
    results+=("ok    $label ($((SECONDS - start))s)")
  else
    results+=("FAIL  $label ($((SECONDS - start))s)")
    failed=1
  fi
}

run "templates generated from infra/peerlink.yaml.j2" .tools/venv/bin/python infra/generate.py --check

# The translation's lint runs whatever the translation did: a missing or empty
# output is a failure, never a skipped step.
lint_translated() {
  if [ ! -s "$1" ]; then
    echo "$1: the translation is missing or empty"
    return 1
  fi
  "$sam_bin/cfn-lint" "$1"
}

for t in "${templates[@]}"; do
  name=$(basename "$t" .yaml)
  run "cfn-lint $t" "$sam_bin/cfn-lint" "$t"
  run "sam validate $t" "$sam_bin/sam" validate --template-file "$t"
  run "sam validate --lint $t" "$sam_bin/sam" validate --lint --template-file "$t"
  run "translate $t (aws-sam-translator, offline)" \
    "$sam_bin/python" infra/sam_translate.py "$t" -o "$out/$name.json"
  run "cfn-lint translated $name.json" lint_translated "$out/$name.json"
done

# checkov writes JSON; infra/checkov_summary.py prints the summary, each
# failure and each skip with the reason written in the template, and fails on
# a failed check, a skip without a reason, no resource scanned, or a template
# no check looked at. checkov's own exit status (1 on a failed check, without
# --soft-fail) fails the step too, whatever the summary says.
checkov_check() {
  rm -rf "$out/checkov"
  local status=0
  .tools/checkov/bin/checkov --compact --skip-download --framework cloudformation \
    --output json --output-file-path "$out/checkov" \
    $(printf -- '-f %s ' "${templates[@]}") >/dev/null || status=$?
  .tools/venv/bin/python infra/checkov_summary.py "$out/checkov/results_json.json" "${templates[@]}" || status=1
  if [ "$status" -ne 0 ]; then
    echo "checkov: failed (exit status $status)"
  fi
  return "$status"
}
run "checkov ${templates[*]}" checkov_check

run "infra tests (pytest)" .tools/venv/bin/python -m pytest -q infra/tests

printf '\n== summary\n'
printf '%s\n' "${results[@]}"
if [ "$failed" -ne 0 ]; then
  echo "check-infra: FAILED"
  exit 1
fi
echo "check-infra: all passed"
