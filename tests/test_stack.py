"""The deployment, for real: ``infra/test/stack.sh`` builds every image, deploys the Swarm
stack by the runbook and operates it under the simulator's scenario (infra/README.md, "What
is tested, and how"). Its verdict is its exit status; its report lands in artifacts/stack.

It needs root, a Docker engine that can run a swarm (the script starts dockerd if none
runs), debootstrap, openssl and the scenario. Without them it is skipped with the reason,
unless ``MINITWIT_REQUIRE_DOCKER=1`` (as CI sets), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import shared_file

pytestmark = pytest.mark.scenario

REPO = Path(__file__).resolve().parent.parent
REPORT_DIR = REPO / "artifacts" / "stack"
REQUIRE_DOCKER = os.environ.get("MINITWIT_REQUIRE_DOCKER") == "1"
STACK_TEST_SECONDS = 2400


def missing_tools() -> list[str]:
    missing = [tool for tool in ("docker", "dockerd", "debootstrap", "openssl", "curl")
               if shutil.which(tool) is None]  # fmt: skip
    if os.geteuid() != 0:
        missing.append("root")
    return missing


@pytest.mark.timeout(STACK_TEST_SECONDS + 60)
def test_the_stack_deploys_updates_and_restores_without_losing_a_request() -> None:
    missing = missing_tools()
    if missing:
        message = f"the deployment test needs {', '.join(missing)}"
        if REQUIRE_DOCKER:
            pytest.fail(message + " (MINITWIT_REQUIRE_DOCKER=1 requires it)")
        pytest.skip(message)
    scenario = shared_file("minitwit_scenario.csv")
    done = subprocess.run(
        ["bash", str(REPO / "infra" / "test" / "stack.sh"), str(REPORT_DIR)],
        cwd=REPO,
        env={**os.environ, "PYTHON": sys.executable, "MINITWIT_SCENARIO": str(scenario)},
        capture_output=True,
        text=True,
        timeout=STACK_TEST_SECONDS,
        check=False,
    )
    (REPORT_DIR / "stack.log").write_text(done.stdout + done.stderr)
    report = REPORT_DIR / "report.md"
    print(report.read_text() if report.exists() else done.stderr[-5000:])
    assert done.returncode == 0, done.stderr[-5000:]
    assert "No failures." in report.read_text()
