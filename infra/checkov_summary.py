#!/usr/bin/env python3
"""Reads checkov's JSON report; prints the summary, every failed check and
every skipped one with the reason written in the template. Exits 1 on a failed
check, a parsing error, a skip without a reason, or a scan that proves
nothing: no resource scanned, or a template given on the command line that no
check looked at (scripts/check-infra.sh).

Usage: checkov_summary.py RESULTS_JSON [TEMPLATE ...]"""

import json
import sys


def problems_in(data, templates):
    """(lines to print, number of problems) of a checkov JSON report."""
    lines, problems = [], 0
    reports = data if isinstance(data, list) else [data]
    checked = {}
    scanned = 0
    for report in reports:
        s = report.get("summary", report)  # nothing scanned: checkov writes the bare summary
        lines.append(
            f"{report.get('check_type')}: passed {s.get('passed')}, failed {s.get('failed')}, "
            f"skipped {s.get('skipped')}, parsing errors {s.get('parsing_errors')}, "
            f"resources {s.get('resource_count')}"
        )
        problems += (s.get("failed") or 0) + (s.get("parsing_errors") or 0)
        scanned += s.get("resource_count") or 0
        results = report.get("results", {})
        for kind in ("passed_checks", "failed_checks", "skipped_checks"):
            for c in results.get(kind, []):
                path = c["file_path"].lstrip("/")
                checked[path] = checked.get(path, 0) + 1
        for c in results.get("failed_checks", []):
            lines.append(f"  FAILED  {c['check_id']:<12} {c['file_path'].lstrip('/')}: {c['resource']}: {c['check_name']}")
        for c in results.get("skipped_checks", []):
            reason = ((c.get("check_result") or {}).get("suppress_comment") or "").strip()
            where = f"{c['file_path'].lstrip('/')}: {c['resource'].split('.')[-1]}"
            lines.append(f"  skipped {c['check_id']:<12} {where}: {reason}")
            if not reason or reason.lower() == "no comment provided":
                lines.append("          ^ skipped without a written reason")
                problems += 1
    if scanned == 0:
        lines.append("  NOTHING SCANNED: checkov found no resource (not a template it recognises?)")
        problems += 1
    for t in templates:
        if not checked.get(t.lstrip("./")):
            lines.append(f"  NOT SCANNED: {t}: no check looked at it")
            problems += 1
    return lines, problems


def main(path, *templates):
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    lines, problems = problems_in(data, templates)
    print("\n".join(lines))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
