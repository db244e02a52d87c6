"""The steps of scripts/check-infra.sh that could pass while proving nothing
(issue 25.4): checkov's summary must fail on a scan of nothing, on a template
no check looked at, on a failed check and on a skip without a reason; the
translated template's lint must fail on a missing or empty translation."""

import json
import re
import subprocess
import sys

import pytest

from cfn import INFRA, ROOT

SUMMARY = INFRA / "checkov_summary.py"
TEMPLATES = ["infra/accepter.yaml", "infra/requester.yaml"]


def check(path):
    return {"check_id": "CKV_AWS_1", "check_name": "a check", "file_path": f"/{path}", "resource": "AWS::X.Y",
            "check_result": {}}


def report(passed=(), failed=(), skipped=(), resources=2):
    return {"check_type": "cloudformation",
            "results": {"passed_checks": list(passed), "failed_checks": list(failed),
                        "skipped_checks": list(skipped), "parsing_errors": []},
            "summary": {"passed": len(passed), "failed": len(failed), "skipped": len(skipped), "parsing_errors": 0,
                        "resource_count": resources, "checkov_version": "3.3.30"}}


def summary(tmp_path, data, templates=TEMPLATES):
    path = tmp_path / "results_json.json"
    path.write_text(json.dumps(data))
    out = subprocess.run([sys.executable, str(SUMMARY), str(path), *templates], capture_output=True, text=True,
                         cwd=ROOT)
    return out.returncode, out.stdout + out.stderr


def with_reason(path, reason):
    c = check(path)
    c["check_result"] = {"suppress_comment": reason}
    return c


def test_a_clean_scan_of_both_templates_passes(tmp_path):
    code, out = summary(tmp_path, report(passed=[check(t) for t in TEMPLATES],
                                         skipped=[with_reason(TEMPLATES[0], "why")]))
    assert code == 0, out


def test_a_scan_of_nothing_fails(tmp_path):
    # What checkov 3.3.30 writes when it recognises no template: the bare summary.
    bare = {"passed": 0, "failed": 0, "skipped": 0, "parsing_errors": 0, "resource_count": 0,
            "checkov_version": "3.3.30"}
    code, out = summary(tmp_path, bare)
    assert code == 1 and "NOTHING SCANNED" in out, out


def test_a_template_no_check_looked_at_fails(tmp_path):
    code, out = summary(tmp_path, report(passed=[check(TEMPLATES[0])]))
    assert code == 1 and f"NOT SCANNED: {TEMPLATES[1]}" in out, out


@pytest.mark.parametrize("case", ["failed check", "skip without a reason"])
def test_a_failure_or_an_unexplained_skip_fails(tmp_path, case):
    extra = ({"failed": [check(TEMPLATES[0])]} if case == "failed check"
             else {"skipped": [with_reason(TEMPLATES[0], "")]})
    code, out = summary(tmp_path, report(passed=[check(t) for t in TEMPLATES], **extra))
    assert code == 1, out


@pytest.mark.parametrize("content", [None, ""])
def test_the_translated_lint_fails_on_a_missing_or_empty_translation(tmp_path, content):
    script = (ROOT / "scripts" / "check-infra.sh").read_text()
    function = re.search(r"^lint_translated\(\) \{\n.*?^\}\n", script, re.M | re.S).group(0)
    path = tmp_path / "accepter.json"
    if content is not None:
        path.write_text(content)
    out = subprocess.run(["bash", "-c", f"sam_bin=/nonexistent\n{function}\nlint_translated {path}"],
                         capture_output=True, text=True)
    assert out.returncode == 1 and "missing or empty" in out.stdout, out.stdout + out.stderr


def test_checkov_runs_without_soft_fail():
    """--soft-fail would make checkov exit 0 on a failed check."""
    commands = [line for line in (ROOT / "scripts" / "check-infra.sh").read_text().splitlines()
                if not line.lstrip().startswith("#")]
    assert any("bin/checkov" in line for line in commands)
    assert not any("--soft-fail" in line for line in commands)
