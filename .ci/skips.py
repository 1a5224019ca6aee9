"""Fail CI on any skipped test, reading pytest's JUnit XML report (not its coloured text).

Usage: python3 .ci/skips.py REPORT [--allow TEXT]...: a skip whose message contains one of
the allowed texts passes; any other skip, a missing or unreadable report, or a report of no
tests at all fails (exit status 1), so a run that never reached the tests cannot pass.
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET  # our own pytest's report


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("report")
    parser.add_argument("--allow", action="append", default=[])
    args = parser.parse_args()
    try:
        root = ET.parse(args.report).getroot()  # noqa: S314
    except (OSError, ET.ParseError) as error:
        print(f"no readable JUnit report at {args.report}: {error}", file=sys.stderr)
        return 1
    cases = list(root.iter("testcase"))
    if not cases:
        print(f"{args.report} reports no tests", file=sys.stderr)
        return 1
    refused = []
    for case in cases:
        for skip in case.findall("skipped"):
            message = skip.get("message", "") + " " + (skip.text or "")
            if not any(allowed in message for allowed in args.allow):
                name = f"{case.get('classname')}::{case.get('name')}"
                refused.append(f"SKIPPED {name}: {message.strip()}")
    for line in refused:
        print(line, file=sys.stderr)
    if refused:
        print(f"{len(refused)} tests were skipped: CI requires every one to run", file=sys.stderr)
        return 1
    print(f"{len(cases)} tests in the report, no skips but the allowed ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
