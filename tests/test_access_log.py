"""The access log: one JSON object a line per request, whatever the path holds."""

from __future__ import annotations

import json

import pytest

from minitwit.app import create_app
from minitwit.observability import configure_logging
from minitwit.settings import Settings
from tests.asgi import AppClient


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_every_request_writes_one_json_line_that_parses_back(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("INFO", json_lines=True)
    try:
        with AppClient(create_app(settings)) as client:
            capsys.readouterr()
            client.get("/msgs/\"quote'\\back\u00e9\u2028?no=1", headers={"X-Request-Id": "req-1"})
            client.get("/health/live")
        lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    finally:
        configure_logging("INFO", json_lines=False)
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
