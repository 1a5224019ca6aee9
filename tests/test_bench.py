"""The benchmark suite's machinery (bench/): a smoke run in quick mode and its parts.

Correctness only: every figure is present and sane and nothing failed, never how fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from bench import wrk
from bench.pgproxy import split_statements
from tests.conftest import PG_ADMIN_URL, shared_file
from tests.servers import REPO

SCENARIO_LINES = 200
READS = ("GET /msgs?no=100", "GET /msgs?no=30", "GET /msgs/{user}?no=100")
COUNTED = (
    "register",
    "tweet",
    "follow",
    "unfollow",
    "GET /msgs",
    "GET /msgs/{user}",
    "GET /fllws/{user}",
    "GraphQL publicTimeline",
)

WRK_OUTPUT = """Running 1s test @ http://127.0.0.1:8000/msgs
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    21.51ms   10.20ms 131.02ms   80.00%
    Req/Sec   374.50     51.12   450.00     70.00%
  Latency Distribution
     50%   19.87ms
     75%   25.00ms
     90%   31.00ms
     99%  612.00us
  749 requests in 1.00s, 1.95MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:    746.11
Transfer/sec:      1.94MB
"""


def test_statements_are_split_outside_quotes_and_comments() -> None:
    text = "BEGIN; SELECT 'a;b''c'; SELECT $$x;y$$ -- c;d\n; SELECT \"q;\" /* ; */; COMMIT;"
    assert split_statements(text) == [
        "BEGIN",
        "SELECT 'a;b''c'",
        "SELECT $$x;y$$ -- c;d",
        'SELECT "q;" /* ; */',
        "COMMIT",
    ]


def test_wrk_report_is_read_in_milliseconds() -> None:
    result = wrk.parse(WRK_OUTPUT)
    assert (result.requests, result.rps) == (749, 746.11)
    assert (result.p50_ms, result.p99_ms, result.max_ms) == (19.87, 0.612, 131.02)
    assert (result.non2xx, result.socket_errors) == (4, 3)


def test_wrk_script_posts_the_json_body() -> None:
    script = wrk.lua_post({"query": '{ a(b: "c") }'}, {"Cookie": "s=1"})
    assert 'wrk.method = "POST"' in script
    assert 'wrk.body = "{\\"query\\": \\"{ a(b: \\\\\\"c\\\\\\") }\\"}"' in script
    assert 'wrk.headers["Cookie"] = "s=1"' in script


def _require_wrk() -> None:
    if shutil.which("wrk") is None:
        message = "wrk is not installed (Debian package wrk)"
        if os.environ.get("MINITWIT_REQUIRE_PG") == "1":
            pytest.fail(message + "; CI installs it in .ci/run")
        pytest.skip(message)


def _sane_wrk(figures: dict[str, Any]) -> None:
    assert figures["requests"] > 0
    assert figures["rps"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert figures["non2xx"] == 0
    assert figures["socket_errors"] == 0


def _sane_replay(figures: dict[str, Any], requests: int) -> None:
    assert figures["requests"] == requests
    assert figures["errors"] == 0
    assert figures["wall_s"] > 0
    assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"]
    assert 0 <= figures["over_300ms"] <= requests


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_quick_suite_measures_every_figure_without_errors(postgres: object, tmp_path: Path) -> None:
    _require_wrk()
    scenario = shared_file("minitwit_scenario.csv")
    command = [sys.executable, "-m", "bench", "--quick", "--limit", str(SCENARIO_LINES)]
    command += ["--duration", "1", "--warmup", "0", "--count-requests", "5"]
    command += ["--scenario", str(scenario), "--pg", PG_ADMIN_URL, "--out", str(tmp_path)]
    run = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [path] = list(tmp_path.glob("*-quick.json"))
    results = json.loads(path.read_text())
    work = results["workloads"]

    assert len(results["git"]["commit"]) == 40
    machine = results["machine"]
    assert machine["nproc"] >= 1
    assert machine["ram_gib"] > 0
    assert machine["postgresql"]
    assert machine["python"]
    assert machine["kernel"]
    assert len(results["load_before"]) == len(results["load_after"]) == 3

    for name in ("minitwit", "ceiling"):
        sequential = work["replay_sequential"][name]
        _sane_replay(sequential, SCENARIO_LINES)
        assert sequential["latest_after"] == SCENARIO_LINES - 1
        sharded = work["replay_sharded"][name]
        _sane_replay(sharded, SCENARIO_LINES)
        assert sharded["latest_after"] == SCENARIO_LINES - 1

        during = work["graphql_during_replay"][name]
        _sane_wrk(during["reads"])
        assert during["replay"]["requests"] > 0
        assert during["replay"]["errors"] == 0

        registrations = work["registrations_during_reads"][name]
        _sane_wrk(registrations["reads"])
        signups = registrations["registrations"]
        assert signups["requests"] >= 3
        assert signups["errors"] == 0
        assert signups["created"] == signups["requests"]

    assert work["replay_sharded"]["clients"] == 16
    expected_reads = {f"{label} @{c}" for label in READS for c in (16, 64)}
    expected_reads |= {f"GraphQL publicTimeline(first: 30) @{c}" for c in (16, 64)}
    assert set(work["reads"]) == expected_reads
    for pair in work["reads"].values():
        _sane_wrk(pair["minitwit"])
        _sane_wrk(pair["ceiling"])
    assert work["graphql_matches_ceiling"] == {"same": True, "nodes": 30}

    assert set(work["round_trips"]) == set(COUNTED)
    for kind, pair in work["round_trips"].items():
        for name in ("minitwit", "ceiling"):
            counted = pair[name]
            assert counted["errors"] == 0, (kind, name)
            assert counted["round_trips"] >= 1, (kind, name)
            assert counted["statements"] >= counted["round_trips"], (kind, name)
        # The ceiling does one statement in one round trip per request, by construction:
        # the proxy must count exactly that.
        assert pair["ceiling"]["round_trips"] == pair["ceiling"]["statements"] == 1, kind

    for name in ("minitwit", "ceiling_rest", "ceiling_graphql", "ceiling_combined"):
        assert 20 < work["peak_rss_mb"][name] < 4000, name

    table = results["table"]
    assert results["targets"]["pass"] + results["targets"]["miss"] == sum(
        1 for row in table if row["status"] is not None
    )
    assert {row["status"] for row in table} <= {"PASS", "MISS", None}
    assert any(row["workload"] == "replay sequential" and row["target"] for row in table)
    assert "| replay sequential | wall s |" in run.stdout


@pytest.mark.postgres
def test_growth_generator_builds_the_documented_shape(postgres: object) -> None:
    from bench.growth import SIZES, generate
    from bench.services import Databases

    databases = Databases(PG_ADMIN_URL)
    try:
        name = databases.create("growth_test")
        figures = generate(databases.url(name), SIZES["small"], "not-a-real-hash")
        assert (figures["users"], figures["messages"]) == (1_000, 50_000)
        assert figures["follows"] == 998 * 6 + 1 + 500
        connection = psycopg2.connect(databases.url(name))
        try:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT who_id, count(*) FROM followers WHERE who_id IN (1, 2) GROUP BY 1"
                )
                assert dict(cursor.fetchall()) == {1: 1, 2: 500}
                cursor.execute("SELECT count(*) FROM followers WHERE who_id = whom_id")
                assert cursor.fetchone() == (0,)
                cursor.execute(
                    "SELECT min(c), max(c) FROM (SELECT count(*) c FROM messages "
                    "GROUP BY author_id) per_author"
                )
                assert cursor.fetchone() == (50, 50)
                cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'messages'")
                assert "ix_messages_pub_date_id" in {row[0] for row in cursor.fetchall()}
        finally:
            connection.close()
    finally:
        databases.drop_all()


@pytest.mark.postgres
@pytest.mark.timeout(240)
def test_live_benchmark_delivers_every_post_to_every_subscriber(
    postgres: object, tmp_path: Path
) -> None:
    _require_wrk()
    command = [sys.executable, "-m", "bench.live", "--subscribers", "10", "--seconds", "2"]
    command += ["--wrk-seconds", "1", "--pg", PG_ADMIN_URL, "--out", str(tmp_path)]
    run = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=230,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    [path] = list(tmp_path.glob("*.live.json"))
    figures = json.loads(path.read_text())["live"]
    assert figures["subscribers"] == 10
    assert figures["posts"] >= 5
    assert figures["deliveries_expected"] == figures["posts"] * 10
    assert figures["deliveries_missing"] == 0
    assert figures["refetch_events"] == 0
    latency = figures["latency_from_post_sent_ms"]
    assert 0 < latency["p50"] <= latency["p99"] <= latency["max"]
    assert figures["memory_per_subscriber_kb"] is not None
    for reads in ("reads_with_subscribers", "reads_without_subscribers"):
        assert figures[reads]["rps"] > 0
        assert figures[reads]["non2xx"] == 0
