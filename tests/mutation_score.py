"""The mutation score of the last tests/mutation.sh run, from mutmut's files under mutants/.

Prints every file's counts, then the score over the scope issue 8 asks for
(``minitwit/resolvers/`` and ``minitwit/rest_compat/``) and, apart, over any other mutated
file (``minitwit/ops/replay.py``), then over everything. The score is the mutants killed by a
failing test over all mutants; a timeout (mutmut's own wall-clock or CPU kill) is counted
apart, not as killed, and so is a mutant not checked.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

ISSUE_SCOPE = ("minitwit/resolvers/", "minitwit/rest_compat/")
ORDER = ("killed", "survived", "timeout", "no tests", "not checked", "suspicious")


def describe(counts: Counter[str]) -> str:
    total = sum(counts.values())
    parts = [f"{status} {counts[status]}" for status in ORDER if counts[status]]
    parts += [f"{status} {n}" for status, n in counts.items() if status not in ORDER and n]
    score = counts["killed"] / total if total else 0.0
    return f"{counts['killed']}/{total} killed = {score:.1%} ({', '.join(parts)})"


def main() -> int:
    metas = sorted(Path("mutants").rglob("*.meta"))
    if not metas:
        print("no mutmut results under mutants/: run tests/mutation.sh", file=sys.stderr)
        return 1
    in_scope: Counter[str] = Counter()
    extra: Counter[str] = Counter()
    for meta in metas:
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        source = str(meta.relative_to("mutants")).removesuffix(".meta")
        counts = Counter(status_by_exit_code[code] for code in codes.values())
        if not counts:
            continue
        print(f"{source}: {describe(counts)}")
        if source.startswith(ISSUE_SCOPE):
            in_scope += counts
        else:
            extra += counts
    print(f"issue 8 scope (minitwit/resolvers/, minitwit/rest_compat/): {describe(in_scope)}")
    if extra:
        print(f"other mutated files: {describe(extra)}")
    print(f"all mutated files: {describe(in_scope + extra)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
