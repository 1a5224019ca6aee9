"""The container healthcheck: ``python -m minitwit.healthcheck [PORT]`` (a shim at that path).

Healthy means ready once, then alive. Until the task has answered ``/health/ready`` with 200
(database reachable, schema at the newest migration) it is unhealthy, so a rolling update
never sends traffic to, or stops an old task for, a task still waiting for migrations.
After that only ``/health/live`` counts: a database outage makes every replica unready at
once, and restarting them all for it would only add a second outage to the first.

Imports nothing but the standard library: it runs every few seconds in its own interpreter.
"""

from __future__ import annotations

import sys
import tempfile
import urllib.request
from pathlib import Path

TIMEOUT_SECONDS = 2.5
MARKER = Path(tempfile.gettempdir()) / "minitwit-was-ready"


def answers_200(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
            return int(response.status) == 200
    except OSError:
        return False


def check(port: int, marker: Path = MARKER) -> bool:
    base = f"http://127.0.0.1:{port}"
    if marker.exists():
        return answers_200(f"{base}/health/live")
    if answers_200(f"{base}/health/ready"):
        marker.touch()
        return True
    return False


def main(argv: list[str]) -> int:
    port = int(argv[0]) if argv else 8000
    return 0 if check(port) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
