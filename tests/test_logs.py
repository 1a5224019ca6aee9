"""Logging (minitwit/ops/logs.py): the access line in a terminal and in JSON, and which format a
process picks. In process, through the ASGI app: no socket is the point here."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator

import pytest
from loguru import logger

from minitwit.app import create_app
from minitwit.ops.logs import ACCESS_LOG, configure_logging
from minitwit.settings import Settings
from tests.asgi import AppClient
from tests.servers import TEST_SECRET

TIMELINE = "query Timeline { publicTimeline(first: 1) { nodes { id } } }"
TERMINAL_LINE = re.compile(
    r"^\d\d:\d\d:\d\d INFO    (?P<method>\S+) (?P<path>\S+) (?P<status>\d{3}) "
    r"(?P<ms>\d+(\.\d+)?) ms(?: (?P<operation>\w+))? (?P<request_id>[0-9a-f]{32})$"
)


@pytest.fixture
def logs(capsys: pytest.CaptureFixture[str]) -> Iterator[pytest.CaptureFixture[str]]:
    """Logging as a process configures it, written to the captured stdout; the test
    process's own logging is put back afterwards."""
    yield capsys
    logger.remove()
    logger.add(sys.__stderr__)  # not sys.stderr: that is the capture, closed after the test
    ACCESS_LOG.configure(json_lines=False, enabled=True)


def _requests(settings: Settings) -> None:
    with AppClient(create_app(settings)) as client:
        assert client.post("/graphql", json={"query": TIMELINE}).status_code == 200
        assert client.get("/latest").status_code == 200
        assert client.get("/no/such/page").status_code == 404
        style = client.get("/static/style.css")
        assert style.status_code == 200
        again = client.get("/static/style.css", headers={"If-None-Match": style.headers["etag"]})
        assert again.status_code == 304


def test_the_terminal_line_has_method_path_status_duration_request_id_and_operation(
    settings: Settings, logs: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    _requests(settings)
    lines = [TERMINAL_LINE.match(line) for line in logs.readouterr().out.splitlines()]
    access = [(m["method"], m["path"], m["status"], m["operation"]) for m in lines if m]
    assert access == [
        ("POST", "/graphql", "200", "Timeline"),
        ("GET", "/latest", "200", None),
        ("GET", "/no/such/page", "404", None),
        ("GET", "/static/style.css", "200", None),
    ]  # and the 304 is not there


def test_json_lines_carry_the_operation_and_leave_304s_to_debug(
    settings: Settings, logs: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True)
    _requests(settings)
    entries = [json.loads(line) for line in logs.readouterr().out.splitlines()]
    access = [entry for entry in entries if "status" in entry]
    assert [(e["method"], e["path"], e["status"]) for e in access] == [
        ("POST", "/graphql", 200),
        ("GET", "/latest", 200),
        ("GET", "/no/such/page", 404),
        ("GET", "/static/style.css", 200),
    ]
    assert access[0]["operation"] == "Timeline"
    assert "operation" not in access[1]
    for entry in access:
        assert entry["level"] == "INFO"
        assert re.fullmatch(r"[0-9a-f]{32}", entry["request_id"])
        assert entry["duration_ms"] >= 0

    configure_logging("DEBUG", json_lines=True)
    _requests(settings)
    debug = [json.loads(line) for line in logs.readouterr().out.splitlines()]
    (not_modified,) = [entry for entry in debug if entry.get("status") == 304]
    assert not_modified["level"] == "DEBUG"
    assert not_modified["path"] == "/static/style.css"


@pytest.mark.parametrize(
    ("log_json", "env", "terminal", "expected"),
    [
        (None, "development", True, False),
        (None, "development", False, True),
        (None, "production", True, True),
        (True, "development", True, True),
        (False, "production", False, False),
    ],
)
def test_json_unless_a_developer_watches_a_terminal_or_the_setting_says(
    log_json: bool | None, env: str, terminal: bool, expected: bool
) -> None:
    settings = Settings(log_json=log_json, env=env, secret_key=TEST_SECRET)
    assert settings.wants_json_logs(stdout_is_terminal=terminal) is expected


def test_a_terminal_never_gets_control_characters_from_a_path(
    settings: Settings, logs: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=False)
    with AppClient(create_app(settings)) as client:
        assert client.get("/msgs/a%1b[2Jb").status_code == 403
    out = logs.readouterr().out
    assert "\x1b" not in out
    assert "GET /msgs/a\\x1b[2Jb 403" in out


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_request_writes_one_json_line_that_parses_back(
    settings: Settings, logs: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True)
    with AppClient(create_app(settings)) as client:
        logs.readouterr()
        client.get("/msgs/\"quote'\\back\u00e9\u2028?no=1", headers={"X-Request-Id": "req-1"})
        client.get("/health/live")
    lines = [json.loads(line) for line in logs.readouterr().out.splitlines()]
    access = [line for line in lines if "route" in line]
    assert [(a["method"], a["route"], a["status"]) for a in access] == [
        ("GET", "/msgs/{username:anytext}", 403),
        ("GET", "/health/live", 200),
    ]
    first = access[0]
    assert first["path"] == "/msgs/\"quote'\\back\u00e9\u2028"
    assert first["message"] == f"GET {first['path']} 403"
    assert first["request_id"] == "req-1"
    assert first["level"] == "INFO"
    assert isinstance(first["duration_ms"], float)
    assert first["duration_ms"] >= 0
