"""``compose.yaml``: local development on the production stack's images.

The file is read and held against docker-stack.yml and the files it mounts; ``promtool``
checks the Prometheus configuration it mounts; and ``docker compose up`` runs it for real.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import shared_file

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
SERVICES = {"db", "web", "prometheus", "grafana"}
REQUIRE_DOCKER = os.environ.get("MINITWIT_REQUIRE_DOCKER") == "1"


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return document


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load("compose.yaml")


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    """The stack as deploy.sh deploys it: both stack files."""
    merged: dict[str, Any] = {}
    for name in ("docker-stack.yml", "docker-stack.grafana.yml"):
        for key, value in load(name).items():
            if isinstance(value, dict):
                merged.setdefault(key, {}).update(value)
    return merged


def test_compose_runs_minitwit_postgres_prometheus_and_grafana(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == SERVICES


def test_every_service_runs_the_image_the_stack_runs(
    compose: dict[str, Any], stack: dict[str, Any]
) -> None:
    for name in SERVICES:
        assert compose["services"][name]["image"] == stack["services"][name]["image"], name
    build = compose["services"]["web"]["build"]
    assert build["context"] == "."
    assert build["args"]["PYTHON_IMAGE"] == "${MINITWIT_PYTHON_IMAGE:-python:3.11.10-slim-bookworm}"


def test_web_reaches_the_database_compose_creates(compose: dict[str, Any]) -> None:
    web, db = compose["services"]["web"], compose["services"]["db"]
    url = urlsplit(web["environment"]["DATABASE_URL"])
    assert url.scheme == "postgresql"
    assert (url.hostname, url.port) == ("db", 5432)
    assert url.username == db["environment"]["POSTGRES_USER"]
    assert url.password == db["environment"]["POSTGRES_PASSWORD"]
    assert url.path == "/" + db["environment"]["POSTGRES_DB"]
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in db
    assert web["environment"]["MINITWIT_ENV"] == "development"
    assert web["environment"]["MINITWIT_MIGRATE_ON_START"] == "1"
    assert "127.0.0.1:8000:8000" in web["ports"]


def _mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path -> repository file, for the service's bind mounts of files."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("./"):
            mounts[target] = ROOT / source
    return mounts


def test_every_mounted_file_exists_and_grafana_gets_the_stacks_provisioning(
    compose: dict[str, Any], stack: dict[str, Any]
) -> None:
    for name in SERVICES:
        for target, source in _mounts(compose["services"][name]).items():
            assert source.is_file(), (name, target, source)
    grafana = _mounts(compose["services"]["grafana"])
    configs = stack["configs"]
    for config in stack["services"]["grafana"]["configs"]:
        stack_file = ROOT / configs[config["source"]]["file"]
        if "loki" in config["source"]:
            continue  # no Loki in local development
        assert grafana[config["target"]] == stack_file


def test_prometheus_scrapes_the_web_container(compose: dict[str, Any]) -> None:
    mounts = _mounts(compose["services"]["prometheus"])
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    (web_job,) = [job for job in config["scrape_configs"] if job["job_name"] == "minitwit-web"]
    assert web_job["metrics_path"] == "/metrics"
    assert web_job["static_configs"] == [{"targets": ["web:8000"]}]
    for pattern in config["rule_files"]:
        assert any(Path(target).match(pattern) for target in mounts), pattern
    datasource = yaml.safe_load(
        _mounts(compose["services"]["grafana"])[
            "/etc/grafana/provisioning/datasources/prometheus.yml"
        ].read_text()
    )
    (prometheus,) = datasource["datasources"]
    assert urlsplit(prometheus["url"]).hostname in compose["services"]
    assert "127.0.0.1:9090:9090" in compose["services"]["prometheus"]["ports"]


@pytest.mark.promtool
def test_promtool_accepts_the_compose_prometheus_config(
    compose: dict[str, Any], tmp_path: Path
) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian: apt-get install prometheus)")
    mounts = _mounts(compose["services"]["prometheus"])
    config = yaml.safe_load(mounts["/etc/prometheus/prometheus.yml"].read_text())
    config["rule_files"] = [str(mounts["/etc/prometheus/rules/minitwit.rules.yml"])]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(local)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


@pytest.mark.scenario
@pytest.mark.timeout(900)
def test_docker_compose_up_serves_the_simulator_and_prometheus() -> None:
    """``docker compose up`` for real (infra/test/compose.sh): the images built here, 1,000
    simulator requests through it, their state read back, the web container scraped."""
    missing = [tool for tool in ("docker", "debootstrap", "curl") if shutil.which(tool) is None]
    if (
        not missing
        and subprocess.run(
            ["docker", "compose", "version"], capture_output=True, check=False
        ).returncode
    ):
        missing.append("the docker compose plugin")
    if missing:
        message = f"docker compose up needs {', '.join(missing)}"
        if REQUIRE_DOCKER:
            pytest.fail(message + " (MINITWIT_REQUIRE_DOCKER=1 requires it)")
        pytest.skip(message)
    done = subprocess.run(
        ["bash", str(ROOT / "infra" / "test" / "compose.sh")],
        cwd=ROOT,
        env={
            **os.environ,
            "PYTHON": sys.executable,
            "MINITWIT_SCENARIO": str(shared_file("minitwit_scenario.csv")),
        },
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "state: 0 mismatches" in done.stderr
    assert "1000 requests" in done.stderr
    assert "0 errors" in done.stderr
