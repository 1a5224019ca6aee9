"""Print the command block of infra/README.md named NAME, so a test runs exactly what the
runbook says: ``python3 infra/test/runbook.py NAME``.

A named block is a fenced ``sh`` block directly below a line ``<!-- runbook: NAME -->``, at
the same indentation (a block inside a list item is indented; it is printed without it).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"
_BLOCK = re.compile(
    r"^( *)<!-- runbook: ([a-z0-9-]+) -->\n\1```sh\n(.*?)^\1```$", re.MULTILINE | re.DOTALL
)


def blocks(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for match in _BLOCK.finditer(text):
        indent, name, body = match.groups()
        if name in found:
            raise SystemExit(f"runbook: two blocks are named {name}")
        found[name] = "".join(line.removeprefix(indent) for line in body.splitlines(True))
    return found


def main(argv: list[str]) -> int:
    named = blocks(README.read_text(encoding="utf-8"))
    if len(argv) != 1 or argv[0] not in named:
        print(f"usage: runbook.py NAME (one of: {', '.join(sorted(named))})", file=sys.stderr)
        return 2
    sys.stdout.write(named[argv[0]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
