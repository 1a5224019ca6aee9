"""``minitwit replay``'s operator options: --skip, --rate, --journal, --cacert and --check.

Against a real server (the replay is an HTTP client), each test with a server of its own.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from minitwit.app import create_app
from minitwit.settings import Settings
from tests.conftest import LiveServer
from tests.rest.test_replay import run_replay, sample_rows, write_scenario


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[LiveServer, Path]]:
    path = tmp_path / "db.sqlite3"
    with LiveServer(create_app(Settings(database_url=f"sqlite:///{path}"))) as live:
        yield live, path


def test_check_finds_every_answered_write_and_journals_each_request(
    served: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    live, _ = served
    scenario = write_scenario(tmp_path / "scenario.csv", sample_rows())
    journal = tmp_path / "journal.jsonl"
    result = run_replay(
        live.url, "--scenario", str(scenario), "--timeout", "30",
        "--journal", str(journal), "--check",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "state: 0 mismatches" in result.stderr
    lines = [json.loads(line) for line in journal.read_text().splitlines()]
    assert [line["latest"] for line in lines] == list(range(10))
    assert {line["status"] for line in lines} == {204}
    assert all(line["ok"] and line["failure"] is None for line in lines)
    assert all(line["sent_at"] > 1.7e9 and line["ms"] > 0 for line in lines)


def test_a_replay_in_two_parts_checks_the_whole_state(
    served: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    live, _ = served
    scenario = write_scenario(tmp_path / "scenario.csv", sample_rows())
    first = run_replay(live.url, "--scenario", str(scenario), "--limit", "4", "--timeout", "30")
    assert first.returncode == 0, first.stderr
    assert "4 requests" in first.stderr
    rest = run_replay(
        live.url, "--scenario", str(scenario), "--skip", "4", "--timeout", "30", "--check"
    )
    assert rest.returncode == 0, rest.stderr
    assert "6 requests" in rest.stderr
    assert "state: 0 mismatches" in rest.stderr


def test_check_reports_a_lost_write_and_fails(
    served: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    live, path = served
    scenario = write_scenario(tmp_path / "scenario.csv", sample_rows())
    assert run_replay(live.url, "--scenario", str(scenario), "--timeout", "30").returncode == 0
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM messages WHERE text = 'last'")
        db.execute("DELETE FROM followers")
    # Everything was replayed before (--skip all ten lines): every write was answered.
    result = run_replay(live.url, "--scenario", str(scenario), "--skip", "10", "--check")
    assert result.returncode == 1
    assert "state: Rep Cy: 0 messages, 1 expected" in result.stderr
    assert "state: Rep Cy: follows Rep Ann is False, expected True" in result.stderr
    assert "state: 2 mismatches" in result.stderr


def test_rate_spreads_the_requests_over_time(
    served: tuple[LiveServer, Path], tmp_path: Path
) -> None:
    live, _ = served
    scenario = write_scenario(tmp_path / "scenario.csv", sample_rows())
    started = time.monotonic()
    result = run_replay(live.url, "--scenario", str(scenario), "--rate", "20", "--timeout", "30")
    assert result.returncode == 0, result.stderr
    # Ten requests at 20 per second: the last starts 0.45 s after the first.
    assert time.monotonic() - started >= 0.45


@pytest.mark.parametrize("rate", ["0", "-1", "nan", "inf", "fast"])
def test_rate_must_be_a_positive_number(rate: str, tmp_path: Path) -> None:
    result = run_replay("http://127.0.0.1:9", "--rate", rate)
    assert result.returncode == 2
    assert "not a positive number of requests per second" in result.stderr


def test_an_unreadable_ca_certificate_is_one_error_line(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "scenario.csv", sample_rows())
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    result = run_replay("https://127.0.0.1:9", "--scenario", str(scenario), "--cacert", str(bad))
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot use {bad} as a CA certificate")
    missing = run_replay(
        "https://127.0.0.1:9", "--scenario", str(scenario), "--cacert", str(tmp_path / "no.pem")
    )
    assert missing.returncode == 1
    assert missing.stderr.startswith(f"error: cannot use {tmp_path / 'no.pem'} as a CA")
