"""The alert rules and the monitoring configuration, checked by the tools that run them:
``promtool check rules``, ``promtool test rules`` (a unit test for every alert),
``promtool check config`` and ``amtool check-config``.

Without promtool or amtool these tests skip, which `.ci/run` counts as a failure: CI installs
Debian's ``prometheus`` and ``prometheus-alertmanager`` packages for them."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

yaml = pytest.importorskip("yaml")

pytestmark = pytest.mark.promtool

ROOT = Path(__file__).resolve().parent.parent
RULES_DIR = ROOT / "infra" / "prometheus" / "rules"
RULES = RULES_DIR / "minitwit.rules.yml"
RULE_TESTS = RULES_DIR / "minitwit.rules.test.yml"
PROMETHEUS = ROOT / "infra" / "prometheus" / "prometheus.yml"
ALERTMANAGER = ROOT / "infra" / "alertmanager" / "alertmanager.yml"

# The metrics the rules read; the service (minitwit/ops/metrics.py) or the stack's
# exporters must keep exposing them under these names.
RULE_METRICS = {
    "up",
    "probe_success",
    "minitwit_http_requests_total",
    "minitwit_http_request_duration_seconds_bucket",
    "minitwit_http_request_duration_seconds_count",
    "minitwit_messages_posted_total",
    "node_filesystem_avail_bytes",
    "node_filesystem_size_bytes",
    # Written by infra/docker/backup-schedule.sh (tests/test_ops_scripts.py reads them back).
    "minitwit_backup_last_ok",
    "minitwit_backup_last_success_timestamp_seconds",
    "minitwit_backup_last_attempt_timestamp_seconds",
}


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (Debian package {package})")
    return path


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_promtool_checks_the_rules() -> None:
    result = run(tool("promtool", "prometheus"), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_runs_the_rule_unit_tests() -> None:
    result = run(tool("promtool", "prometheus"), "test", "rules", RULE_TESTS.name, cwd=RULES_DIR)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_unit_test_that_fires_it_and_one_that_does_not() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    for alert in alerts():
        name = alert["alert"]
        mine = [case for case in cases if case["alertname"] == name]
        assert any(case["exp_alerts"] for case in mine), f"{name}: no test where it fires"
        assert any(not case["exp_alerts"] for case in mine), f"{name}: no test where it is quiet"


def test_every_alert_has_a_severity_and_a_summary() -> None:
    for alert in alerts():
        assert alert["labels"]["severity"] in {"warning", "critical"}, alert["alert"]
        assert alert["annotations"]["summary"], alert["alert"]


def test_the_rules_read_only_known_metric_names() -> None:
    names: set[str] = set()
    for alert in alerts():
        expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", alert["expr"])  # strings (label values)
        expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\bby \([^)]*\)", "", expr)  # matchers, ranges
        names |= set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    keywords = {
        "sum", "rate", "increase", "count", "absent", "max", "histogram_quantile",
        "predict_linear", "and", "or", "time",
    }  # fmt: skip
    assert names - keywords == RULE_METRICS


def test_prometheus_config_with_its_rules_is_valid(tmp_path: Path) -> None:
    """`promtool check config` on the stack's file, its rule path pointed at the repository's
    rules (in the stack they are a config mounted at that path)."""
    config = yaml.safe_load(PROMETHEUS.read_text())
    assert config["rule_files"] == ["/etc/prometheus/rules/*.rules.yml"]
    config["rule_files"] = [str(RULES_DIR / "*.rules.yml")]
    local = tmp_path / "prometheus.yml"
    local.write_text(yaml.safe_dump(config))
    result = run(tool("promtool", "prometheus"), "check", "config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_prometheus_sends_alerts_to_the_alertmanager_service() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    targets = [
        target
        for manager in config["alerting"]["alertmanagers"]
        for static in manager["static_configs"]
        for target in static["targets"]
    ]
    assert targets == ["alertmanager:9093"]


def test_alertmanager_config_is_valid(tmp_path: Path) -> None:
    """amtool of Debian 12 (0.25) predates webhook `url_file` (0.26; the stack runs 0.27), so
    the check runs on a copy with the file swapped for a URL; the rest is checked as is."""
    config = yaml.safe_load(ALERTMANAGER.read_text())
    (receiver,) = config["receivers"]
    (webhook,) = receiver["webhook_configs"]
    assert webhook["url_file"] == "/run/secrets/alertmanager_webhook_url"
    webhook["url"] = "https://alerts.example.org/hook"
    del webhook["url_file"]
    local = tmp_path / "alertmanager.yml"
    local.write_text(yaml.safe_dump(config))
    result = run(tool("amtool", "prometheus-alertmanager"), "check-config", str(local))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_routes_every_alert_to_the_operators() -> None:
    config = yaml.safe_load(ALERTMANAGER.read_text())
    receivers = {receiver["name"] for receiver in config["receivers"]}
    assert config["route"]["receiver"] in receivers
    assert {route["receiver"] for route in config["route"].get("routes", [])} <= receivers
    inhibited = " ".join(
        matcher for rule in config["inhibit_rules"] for matcher in rule["target_matchers"]
    )
    source = " ".join(m for rule in config["inhibit_rules"] for m in rule["source_matchers"])
    names = {alert["alert"] for alert in alerts()}
    for name in re.findall(r"Minitwit\w+", inhibited + " " + source):
        assert name in names, f"the inhibit rules name an alert that does not exist: {name}"
