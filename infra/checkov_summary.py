#!/usr/bin/env python3
"""Reads checkov's JSON report; prints the summary, every failed check and
every skipped one with the reason written in the template. Exits 1 on a failed
check, a parsing error, or a skip without a reason (scripts/check-infra.sh)."""

import json
import sys


def main(path):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    problems = 0
    for report in data if isinstance(data, list) else [data]:
        s = report.get("summary", {})
        print(
            f"{report.get('check_type')}: passed {s.get('passed')}, failed {s.get('failed')}, "
            f"skipped {s.get('skipped')}, parsing errors {s.get('parsing_errors')}"
        )
        problems += s.get("failed", 0) + s.get("parsing_errors", 0)
        results = report.get("results", {})
        for c in results.get("failed_checks", []):
            print(f"  FAILED  {c['check_id']:<12} {c['file_path'].lstrip('/')}: {c['resource']}: {c['check_name']}")
        for c in results.get("skipped_checks", []):
            reason = ((c.get("check_result") or {}).get("suppress_comment") or "").strip()
            where = f"{c['file_path'].lstrip('/')}: {c['resource'].split('.')[-1]}"
            print(f"  skipped {c['check_id']:<12} {where}: {reason}")
            if not reason or reason.lower() == "no comment provided":
                print("          ^ skipped without a written reason")
                problems += 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
