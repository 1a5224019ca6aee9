"""``minitwit replay``: planning (unit) and the command against a live server (end to end)."""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
from pathlib import Path

import anyio
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from minitwit import cli
from minitwit.ops.replay import (
    Action,
    Replayer,
    Report,
    command,
    percentile,
    plan,
    read_scenario,
    replay,
)
from tests.conftest import LiveServer
from tests.rest.conftest import RestServer
from tests.servers import free_port

ERROR_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,http://127\.0\.0\.1:\d+,(\d+),(.+)$")


def scenario_line(latest: int, kind: str, user: str, *rest: str) -> str:
    return "\t".join([str(latest), "0", "1582246860738", kind, user, *rest])


def write_scenario(path: Path, rows: list[tuple[str, ...]]) -> Path:
    lines = [scenario_line(n, *row) for n, row in enumerate(rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run_replay(*args: str) -> subprocess.CompletedProcess[str]:
    """``minitwit replay ARGS`` in this process (its exit status, stdout and stderr): the CLI's
    own parser and handler, so mutation testing reaches it (tests/MUTATION.md)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli.main(["replay", *args])
        except SystemExit as exit:
            status = int(exit.code or 0)
    return subprocess.CompletedProcess(args, status, out.getvalue(), err.getvalue())


def sample_rows(tag: str = "") -> list[tuple[str, ...]]:
    """Ten actions of every kind: quotes and a backslash in a password, non-ASCII, a BOM."""
    ann, bo, cy = f"Rep{tag} Ann", f"Rep{tag} Bo", f"Rep{tag} Cy"
    return [
        ("register", ann, "ann@example.com", 'p"w\\d'),
        ("register", bo, "bo@example.com", "pw"),
        ("register", cy, "cy@example.com", "pw"),
        ("tweet", ann, "“Hello” — £ æ"),
        ("follow", ann, bo),
        ("unfollow", bo, cy),
        ("tweet", bo, "\ufeffbom first"),
        ("follow", cy, ann),
        ("unfollow", ann, bo),
        ("tweet", cy, "last"),
    ]


def test_action_request_is_what_the_simulator_sends() -> None:
    action = Action.parse(scenario_line(7, "follow", "Roger Histand", "Ann Lee"))
    assert action.request() == ("/fllws/Roger%20Histand?latest=7", b'{"follow": "Ann Lee"}')
    register = Action.parse(scenario_line(0, "register", "A B", "a@b", "x\ty"))
    assert register.password == "y"
    path, body = Action.parse(scenario_line(3, "tweet", "A B", "é")).request()
    assert (path, body) == ("/msgs/A%20B?latest=3", b'{"content": "\\u00e9"}')


def test_plan_keeps_each_users_order_registrations_first_and_the_last_action_last() -> None:
    rows = [scenario_line(n, *row) for n, row in enumerate(sample_rows() * 3)]
    actions = [Action.parse(line) for line in rows]
    phases = plan(actions, workers=2)
    flat = [action for phase in phases for shard in phase for action in shard]
    assert sorted(a.latest for a in flat) == [a.latest for a in actions]
    assert phases[-1] == [[actions[-1]]]
    assert all(a.kind == "register" for shard in phases[0] for a in shard)
    assert all(a.kind != "register" for shard in phases[1] for a in shard)
    for phase in phases:
        owners: dict[str, int] = {}
        for index, shard in enumerate(phase):
            assert [a.latest for a in shard] == sorted(a.latest for a in shard)
            for action in shard:
                assert owners.setdefault(action.username, index) == index
    assert plan(actions, workers=1) == [[actions]]


def test_read_scenario_reports_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "s.csv"
    path.write_text(
        scenario_line(0, "register", "A B", "a@b", "pw")
        + "\nnot a line\n"
        + scenario_line(2, "poke", "A B", "x")
        + "\n",
        encoding="utf-8",
    )
    actions, problems = read_scenario(path)
    assert [a.latest for a in actions] == [0]
    assert [number for number, _ in problems] == [2, 3]
    assert "Unknown type found: (poke)" in problems[1][1]


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.99) == 0.0


@pytest.mark.parametrize("workers", ["1", "3"])
def test_replay_command_passes_with_empty_stdout(
    rest_server: RestServer, tmp_path: Path, workers: str
) -> None:
    rows = sample_rows(workers)
    scenario = write_scenario(tmp_path / "scenario.csv", rows)
    # A generous timeout: this test is about the output, not the simulator's 0.3 s.
    result = run_replay(
        rest_server.url, "--scenario", str(scenario), "--workers", workers, "--timeout", "30"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""
    assert "10 requests" in result.stderr
    assert "0 errors" in result.stderr
    assert re.search(r"p50 [\d.]+, p99 [\d.]+, max [\d.]+", result.stderr)
    assert result.stderr.count("\n") == 1, "not a terminal: one summary line, no progress"
    assert result.stderr.startswith(f"{scenario}: 10 requests in ")
    with rest_server.client() as client:
        assert client.get("/latest").json() == {"latest": 9}


def test_replay_without_a_scenario_here_says_which_option_it_needs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run_replay(f"http://127.0.0.1:{free_port()}")
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == (
        "error: no scenario to replay: pass --scenario FILE (there is no"
        f" minitwit_scenario.csv in {tmp_path})\n"
    )


def test_replay_finds_the_scenario_in_the_current_folder_and_names_it(
    rest_server: RestServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_scenario(tmp_path / "minitwit_scenario.csv", sample_rows("Found")[:3])
    monkeypatch.chdir(tmp_path)
    result = run_replay(rest_server.url, "--timeout", "30")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("minitwit_scenario.csv: 3 requests in ")


def test_a_terminal_sees_what_is_replayed_and_a_progress_line(
    rest_server: RestServer, tmp_path: Path
) -> None:
    scenario = write_scenario(tmp_path / "scenario.csv", sample_rows("Tty"))
    args = cli.build_parser().parse_args(
        ["replay", rest_server.url, "--scenario", str(scenario), "--timeout", "30"]
    )
    err = io.StringIO()
    assert command(args, out=io.StringIO(), err=err, isatty=lambda: True) == 0
    first, progress, summary = err.getvalue().split("\n", 2)
    assert first == f"replaying 10 actions of {scenario} against {rest_server.url}"
    last = progress.rsplit("\r", 1)[1]
    assert re.fullmatch(r"10/10 \(100 %\), \d+/s, 0 errors, eta 0:00\x1b\[K", last), last
    assert summary.startswith(f"{scenario}: 10 requests in ")


def test_the_progress_line_says_done_total_rate_errors_and_eta() -> None:
    replayer = Replayer("http://127.0.0.1:1", total=10)
    replayer.report.latencies = [0.01] * 4
    replayer.report.errors = 1
    assert replayer.progress_line(2.0) == "4/10 (40 %), 2/s, 1 error, eta 0:03"
    assert replayer.progress_line(0.0) == "4/10 (40 %), 0/s, 1 error, eta ?"
    replayer.report.errors = 2
    assert replayer.progress_line(0.05).endswith("80/s, 2 errors, eta 0:00")


def test_a_scenario_of_sign_ups_alone_replays_on_several_workers(
    rest_server: RestServer, tmp_path: Path
) -> None:
    """Sharded, its second phase (everything but sign-ups) is empty: nothing to send there."""
    rows = [("register", f"Only{n} Signup", f"o{n}@example.com", "pw") for n in range(5)]
    scenario = write_scenario(tmp_path / "scenario.csv", rows)
    result = run_replay(
        rest_server.url, "--scenario", str(scenario), "--workers", "3", "--timeout", "30"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 requests" in result.stderr
    with rest_server.client() as client:
        assert client.get("/latest").json() == {"latest": 4}


def test_replay_command_prints_errors_in_the_simulators_form(
    rest_server: RestServer, tmp_path: Path
) -> None:
    rows: list[tuple[str, ...]] = [
        ("register", "Err Ann", "ann@example.com", "pw"),
        ("register", "Err Ann", "ann@example.com", "pw"),
        ("tweet", "Err Nobody", "hello"),
        ("follow", "Err Ann", "Err Nobody"),
        ("tweet", "Err Ann", "fine"),
    ]
    scenario = write_scenario(tmp_path / "scenario.csv", rows)
    result = run_replay(
        rest_server.url, "--scenario", str(scenario), "--limit", "4", "--timeout", "30"
    )
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert [ERROR_LINE.match(line).groups() for line in lines] == [  # type: ignore[union-attr]
        ("2", "404,tweet"),
        ("3", "404,follow"),
    ]
    assert "4 requests" in result.stderr
    assert "2 errors" in result.stderr


def test_replay_command_reports_a_server_that_is_down(tmp_path: Path) -> None:
    scenario = write_scenario(tmp_path / "scenario.csv", sample_rows("Down")[:2])
    result = run_replay(f"http://127.0.0.1:{free_port()}", "--scenario", str(scenario))
    assert result.returncode == 1
    assert [line.rsplit(",", 2)[1:] for line in result.stdout.splitlines()] == [
        ["0", "ConnectionError"],
        ["1", "ConnectionError"],
    ]


def test_the_summary_states_counts_rate_latencies_and_statuses_exactly() -> None:
    report = Report(workers=3, seconds=2.0, latencies=[0.004, 0.001, 0.002, 0.003], errors=1)
    report.statuses.update({"204": 3, "ReadTimeout": 1})
    assert report.summary() == (
        "4 requests in 2.0 s (2/s) with 3 workers, 1 error; "
        "latency ms: p50 2.0, p99 4.0, max 4.0; "
        "statuses: 204: 3, ReadTimeout: 1"
    )
    single = Report(workers=1)
    assert single.summary() == (
        "0 requests in 0.0 s (0/s) with 1 worker, 0 errors; "
        "latency ms: p50 0.0, p99 0.0, max 0.0; "
        "statuses: "
    )


def test_the_replayer_sends_what_the_simulator_sends(tmp_path: Path) -> None:
    """Headers, method, path and body as the course's simulator sends them, one connection
    per request; a 5xx is an error line, a timeout is ReadTimeout."""
    seen: list[dict[str, object]] = []

    async def record(request: Request) -> Response:
        seen.append(
            {
                "method": request.method,
                "path": request.url.path,
                "query": request.url.query,
                "headers": {k: v for k, v in request.headers.items() if k != "content-length"},
                "body": await request.body(),
            }
        )
        return Response(status_code=500 if "Bad" in request.url.path else 204)

    app = Starlette(routes=[Route("/{path:path}", record, methods=["POST"])])
    with LiveServer(app) as live:
        actions = [
            Action.parse(scenario_line(7, "tweet", "Ann A", "hi")),
            Action.parse(scenario_line(8, "follow", "Bad Bo", "Ann A")),
        ]
        out = io.StringIO()
        report = replay(live.url + "/", actions, auth="Basic x", out=out, timeout=30)
    assert [(s["method"], s["path"], s["query"], s["body"]) for s in seen] == [
        ("POST", "/msgs/Ann A", "latest=7", b'{"content": "hi"}'),
        ("POST", "/fllws/Bad Bo", "latest=8", b'{"follow": "Ann A"}'),
    ]
    for request in seen:
        headers = request["headers"]
        assert isinstance(headers, dict)
        assert headers["connection"] == "close"
        assert headers["content-type"] == "application/json"
        assert headers["authorization"] == "Basic x"
    assert (report.requests, report.errors, dict(report.statuses)) == (2, 1, {"204": 1, "500": 1})
    line = out.getvalue().strip()
    stamp, rest = line[:19], line[19:]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", stamp), line
    assert rest == f",{live.url}/,8,500,follow"


def test_requests_the_simulator_would_give_up_on_are_counted_by_kind() -> None:
    """An answer after 0.3 s fails at the simulator: the report counts those by action kind
    (so a benchmark can say which requests make the tail), fast ones not at all."""

    async def answer(request: Request) -> Response:
        if "slow" in request.url.path:
            await anyio.sleep(0.35)  # the server under test is slow on purpose
        return Response(status_code=204)

    app = Starlette(routes=[Route("/{path:path}", answer, methods=["POST"])])
    with LiveServer(app) as live:
        actions = [
            Action.parse(scenario_line(1, "tweet", "slow", "hi")),
            Action.parse(scenario_line(2, "follow", "slow", "ann")),
            Action.parse(scenario_line(3, "tweet", "fast", "hi")),
        ]
        report = replay(live.url + "/", actions, out=io.StringIO(), timeout=30)
    assert report.errors == 0
    assert dict(report.slow) == {"tweet": 1, "follow": 1}
