"""Audit the pinned dependencies for known vulnerabilities; fail loudly on what goes unchecked.

Usage: PYTHONPATH=. .venv/bin/python .ci/audit.py PIP_AUDIT [CONSTRAINTS]

1. pip-audit checks every pin of constraints.txt against PyPI's vulnerability data for that
   exact version (``-s pypi``: the OSV service is out of reach from CI's network).
2. A pin pip-audit skips (PyPI's per-version JSON can be unreachable behind a mirror, as on
   this project's machines) is checked with PyPI's project JSON instead, whose
   ``vulnerabilities`` are those of the latest release: valid when the pin is that release.
3. What neither could check is listed by name. The run fails on any known vulnerability, when
   a package the image ships (a runtime dependency) went unchecked, or when nothing was checked.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from tests.licenses import closure

PYPI = "https://pypi.org/pypi"


def pins(path: Path) -> dict[str, str]:
    pinned = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = version
    return pinned


def pip_audit(tool: str, constraints: Path) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        command = [tool, "-r", str(constraints), "--no-deps", "--disable-pip", "-s", "pypi"]
        result = subprocess.run(  # noqa: S603
            [*command, "-f", "json", "-o", str(report), "--progress-spinner", "off"],
            check=False,
            capture_output=True,
            text=True,
        )
        if not report.exists():  # its own summary would mislead: it counts skips as clean
            sys.exit(f"pip-audit wrote no report:\n{result.stderr}")
        dependencies: list[dict[str, Any]] = json.loads(report.read_text())["dependencies"]
        return dependencies


def latest_release_vulnerabilities(name: str, version: str) -> list[str] | None:
    """Vulnerability ids of ``name`` ``version`` if it is PyPI's latest release, else None."""
    url = f"{PYPI}/{name}/json"
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 (a fixed https URL)
        project = json.load(response)
    if project["info"]["version"] != version:
        return None
    return [v["id"] for v in project.get("vulnerabilities") or []]


def main() -> int:
    tool = sys.argv[1]
    constraints = Path(sys.argv[2] if len(sys.argv) > 2 else "constraints.txt")
    pinned = pins(constraints)
    runtime = closure("minitwit") - {"minitwit"}
    found: dict[str, list[str]] = {}
    by_pip_audit, by_project_json, unchecked = [], [], []
    for dependency in pip_audit(tool, constraints):
        name = canonicalize_name(dependency["name"])
        if "skip_reason" not in dependency:
            by_pip_audit.append(name)
            found[name] = [v["id"] for v in dependency.get("vulns", [])]
            continue
        ids = latest_release_vulnerabilities(name, pinned[name])
        if ids is None:
            unchecked.append(name)
        else:
            by_project_json.append(name)
            found[name] = ids
    vulnerable = {name: ids for name, ids in found.items() if ids}
    print(
        f"{len(pinned)} pinned packages: pip-audit checked {len(by_pip_audit)}, PyPI's project"
        f" data checked {len(by_project_json)} more (pinned at the latest release),"
        f" {len(unchecked)} unchecked"
    )
    for name in sorted(unchecked):
        where = "RUNTIME" if name in runtime else "test-only"
        print(f"  unchecked ({where}): {name}=={pinned[name]} is not PyPI's latest release")
    for name, ids in sorted(vulnerable.items()):
        print(f"  VULNERABLE: {name}=={pinned[name]}: {', '.join(ids)}")
    failures = []
    if vulnerable:
        failures.append(f"{len(vulnerable)} packages have known vulnerabilities")
    if unchecked_runtime := sorted(set(unchecked) & runtime):
        failures.append(f"runtime packages went unchecked: {', '.join(unchecked_runtime)}")
    if not by_pip_audit and not by_project_json:
        failures.append("no package was checked at all")
    for failure in failures:
        print(f"audit failed: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
