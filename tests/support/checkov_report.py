"""Judge checkov's JSON reports against the checked-in skip list (scripts/checkov-check).

    python -m tests.support.checkov_report SKIPS REPORT...

Exit 1 when a failed check is not in SKIPS (check id and resource), or when an entry of
SKIPS matches no failure (a stale skip hides the next real one).
"""

import json
import sys
from pathlib import Path

import yaml


def failures(report_path: Path) -> list[tuple[str, str, str]]:
    """(check id, resource, file) of every failed check in one checkov JSON report."""
    report = json.loads(report_path.read_text())
    reports = report if isinstance(report, list) else [report]
    found = []
    for one in reports:
        for check in one.get("results", {}).get("failed_checks", []):
            found.append((check["check_id"], check["resource"], check.get("file_path", "")))
    return found


def judge(skips: list[dict], found: list[tuple[str, str, str]]) -> list[str]:
    """The problems: unlisted failures, and listed skips that match nothing."""
    for skip in skips:
        if not skip.get("reason", "").strip():
            return [f"skip {skip['check']} {skip['resource']} has no reason"]
    listed = {(skip["check"], skip["resource"]) for skip in skips}
    problems = [
        f"FAILED {check} {resource} ({path})"
        for check, resource, path in found
        if (check, resource) not in listed
    ]
    seen = {(check, resource) for check, resource, _ in found}
    problems += [f"stale skip: {check} {resource}" for check, resource in sorted(listed - seen)]
    return problems


def main(skips_path: str, *reports: str) -> int:
    skips = yaml.safe_load(Path(skips_path).read_text())
    found = [failure for path in reports for failure in failures(Path(path))]
    problems = judge(skips, found)
    for problem in problems:
        print(f"checkov-check: {problem}")
    print(
        f"checkov-check: {len(found)} failed checks, {len(skips)} accepted skips, "
        f"{len(problems)} problems"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
