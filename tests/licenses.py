"""The licenses of the pinned dependencies, from their installed metadata.

Regenerate the committed report after changing ``constraints.txt``:

    .venv/bin/python -m tests.licenses > THIRD_PARTY_LICENSES.md

``tests/test_supply_chain.py`` fails when the report is stale or a dependency's license is not
in ``ALLOWED``.
"""

from __future__ import annotations

import importlib.metadata
import re
from dataclasses import dataclass

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.servers import REPO

CONSTRAINTS = REPO / "constraints.txt"

# Permissive licenses, plus the weak copyleft ones whose terms a service that uses the library
# unchanged meets: MPL-2.0 (per file), LGPL (psycopg2, dynamically linked).
ALLOWED = frozenset(
    {
        "MIT",
        "MIT-0",
        "BSD",
        "BSD-2-Clause",
        "BSD-3-Clause",
        "Apache-2.0",
        "ISC",
        "PSF-2.0",
        "MPL-2.0",
        "LGPL-3.0-or-later",
    }
)
# Free-text License fields and trove classifiers, as SPDX identifiers.
_NAMES = {
    "Apache 2.0": "Apache-2.0",
    "Apache Software License": "Apache-2.0",
    "BSD License": "BSD",
    "MIT License": "MIT",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "ISC License (ISCL)": "ISC",
    # psycopg2's LICENSE: LGPL version 3 or later, with an exception for OpenSSL.
    "LGPL with exceptions": "LGPL-3.0-or-later",
    "GNU Library or Lesser General Public License (LGPL)": "LGPL-3.0-or-later",
}


@dataclass(frozen=True)
class Dependency:
    name: str
    version: str
    license: str
    runtime: bool

    def identifiers(self) -> set[str]:
        return set(re.split(r"\s+(?:AND|OR|WITH)\s+|[()]", self.license)) - {""}


def pins() -> dict[str, str]:
    """``constraints.txt`` as {canonical name: version}."""
    pinned = {}
    for line in CONSTRAINTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            pinned[canonicalize_name(name)] = version
    return pinned


def license_of(name: str) -> str:
    metadata = importlib.metadata.metadata(name)
    expression = metadata.get("License-Expression")
    if expression:
        return str(expression)
    text = (metadata.get("License") or "").strip()
    if text and "\n" not in text and len(text) <= 40:
        return _NAMES.get(text, text)
    classifiers = [
        _NAMES.get(c.rsplit(" :: ", 1)[-1], c.rsplit(" :: ", 1)[-1])
        for c in metadata.get_all("Classifier") or []
        if c.startswith("License :: OSI Approved :: ")
    ]
    return " AND ".join(sorted(set(classifiers))) or "UNKNOWN"


def closure(*roots: str, extras: tuple[str, ...] = ()) -> set[str]:
    """Canonical names of the installed distributions ``roots`` need (with ``extras``)."""
    seen: set[str] = set()
    visited: set[tuple[str, tuple[str, ...]]] = set()  # a package asks for its own extras too
    todo = [(root, extras) for root in roots]
    while todo:
        name, wanted = todo.pop()
        if (canonicalize_name(name), wanted) in visited:
            continue
        visited.add((canonicalize_name(name), wanted))
        seen.add(canonicalize_name(name))
        for text in importlib.metadata.requires(name) or []:
            requirement = Requirement(text)
            marker = requirement.marker
            environments = [{**default_environment(), "extra": e} for e in ("", *wanted)]
            if marker is None or any(marker.evaluate(env) for env in environments):
                todo.append((requirement.name, tuple(requirement.extras)))
    return seen


def dependencies() -> list[Dependency]:
    runtime = closure("minitwit") - {"minitwit"}
    return [
        Dependency(name, version, license_of(name), name in runtime)
        for name, version in sorted(pins().items())
    ]


def render() -> str:
    rows = [
        f"| {d.name} | {d.version} | {d.license} | {'yes' if d.runtime else 'no (tests)'} |"
        for d in dependencies()
    ]
    return "\n".join(
        [
            "# Third-party licenses",
            "",
            "MiniTwit itself is MIT-licensed (`LICENSE`). These are the licenses of every package",
            "pinned in `constraints.txt`, read from the installed packages' metadata; the image",
            "ships only those marked runtime. Regenerate after changing the pins:",
            "",
            "```sh",
            ".venv/bin/python -m tests.licenses > THIRD_PARTY_LICENSES.md",
            "```",
            "",
            f"Allowed licenses (`tests/licenses.py`): {', '.join(sorted(ALLOWED))}.",
            "",
            "| package | version | license | runtime |",
            "| --- | --- | --- | --- |",
            *rows,
            "",
        ]
    )


if __name__ == "__main__":
    print(render(), end="")
