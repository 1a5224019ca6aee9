"""The mutation score of the last tests/mutation.sh run, from mutmut's files under mutants/.

Prints the count of every outcome and the score: mutants killed by a failing test (a
timeout counts apart, and not as killed) over all mutants.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code


def main() -> int:
    metas = sorted(Path("mutants").rglob("*.meta"))
    if not metas:
        print("no mutmut results under mutants/: run tests/mutation.sh", file=sys.stderr)
        return 1
    outcomes: Counter[str] = Counter()
    by_file: dict[str, Counter[str]] = {}
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        source = str(meta.relative_to("mutants")).removesuffix(".meta")
        counts = Counter(status_by_exit_code[code] for code in codes.values())
        by_file[source] = counts
        outcomes += counts
    total = sum(outcomes.values())
    for source, counts in by_file.items():
        if counts:
            print(f"{source}: {counts['killed']}/{sum(counts.values())} killed")
    print(", ".join(f"{status}: {n}" for status, n in outcomes.most_common()))
    score = outcomes["killed"] / total if total else 0.0
    print(f"mutation score: {outcomes['killed']}/{total} killed = {score:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
