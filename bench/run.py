"""MiniTwit's benchmark suite (issue 7): every figure beside a ceiling's, in one run.

    PYTHONPATH=. .venv/bin/python -m bench            # the full suite, about 12 minutes
    PYTHONPATH=. .venv/bin/python -m bench --quick    # a smoke run, about 2 minutes
    PYTHONPATH=. .venv/bin/python -m bench --growth   # plus the large-data timelines

It creates fresh PostgreSQL databases (copies of one migrated by ``minitwit db upgrade``),
starts MiniTwit (``python -m minitwit serve``, production settings, one uvicorn worker), the REST
ceiling (``bench.ceiling_rest``) and the GraphQL ceiling (``bench.ceiling_graphql``) under
uvicorn with one worker and the same options, runs the workloads of issue 7 against each, prints
a table with every MiniTwit figure beside its ceiling's, the ratio and the issue's target
(PASS/MISS), and writes the same as JSON under ``bench/results/``. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from bench import wrk
from bench.pgproxy import CountingProxy
from bench.services import (
    DEFAULT_PG,
    CeilingServer,
    Databases,
    MiniTwitServer,
    combined_ceiling,
    git_state,
    graphql_ceiling,
    machine,
    rest_ceiling,
)
from minitwit.ops.replay import (
    Action,
    Replayer,
    Report,
    percentile,
    read_scenario,
    replay,
)
from minitwit.settings import DEFAULT_SIMULATOR_AUTH, SIMULATOR_TIMEOUT_SECONDS
from tests.servers import REPO

SHARED = Path(os.environ.get("MINITWIT_SHARED_DIR", REPO.parent / "shared"))
RESULTS = REPO / "bench" / "results"
AUTH = {"Authorization": DEFAULT_SIMULATOR_AUTH}
TIMELINE_QUERY = (
    "{ publicTimeline(first: 30) { nodes { text pubDate author { username gravatarUrl } } } }"
)
# The other replays wait up to this long, so a slow request is measured instead of cut off:
# at 0.3 s, a registration that times out while still queued for hashing makes its user's
# next actions 404, and the errors would measure that cascade rather than the server.
PATIENT_TIMEOUT = 10.0
CONNECTIONS = (16, 64)
SHARDS = 16
Server = MiniTwitServer | CeilingServer


@dataclass(frozen=True)
class Options:
    scenario: Path
    limit: int | None
    duration: int
    warmup: int
    count_requests: int
    growth: bool
    out: Path
    pg: str
    quick: bool


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def replay_figures(report: Report) -> dict[str, Any]:
    ordered = sorted(report.latencies)
    return {
        "requests": report.requests,
        "wall_s": round(report.seconds, 2),
        "rps": round(report.requests / report.seconds, 1) if report.seconds else 0.0,
        "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "max_ms": round((ordered[-1] if ordered else 0.0) * 1000, 2),
        "errors": report.errors,
        "over_300ms": sum(1 for x in ordered if x >= SIMULATOR_TIMEOUT_SECONDS),
        "over_300ms_by_kind": dict(sorted(report.slow.items())),
        "statuses": dict(sorted(report.statuses.items())),
    }


def latest(url: str) -> int:
    return int(httpx.get(url + "/latest", timeout=5).json()["latest"])


def heaviest_poster(actions: Sequence[Action]) -> str:
    tweets = Counter(a.username for a in actions if a.kind == "tweet")
    return tweets.most_common(1)[0][0]


class Suite:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.databases = Databases(options.pg)
        self.log_dir = Path(tempfile.mkdtemp(prefix="minitwit-bench-"))
        actions, problems = read_scenario(options.scenario, options.limit)
        if problems:
            raise SystemExit(f"scenario problems: {problems[:3]}")
        self.actions = actions
        self.poster = heaviest_poster(actions)
        self.results: dict[str, Any] = {}
        self.rss: dict[str, float] = {}
        self.servers: list[Server] = []

    # -- plumbing ----------------------------------------------------------------------------

    def start(self, server: Server) -> Server:
        self.servers.append(server)
        server.start()
        return server

    def stop(self, *servers: Server) -> None:
        for server in servers:
            server.stop()
            kind = server.name.rstrip("0123456789")
            if server.peak_rss is not None and "count" not in kind:  # the proxy slowed those
                self.rss[kind] = max(self.rss.get(kind, 0.0), round(server.peak_rss, 1))

    def wrk(
        self,
        url: str,
        connections: int,
        post: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        seconds: int | None = None,
    ) -> dict[str, Any]:
        if self.options.warmup:
            wrk.run(
                url,
                connections=connections,
                seconds=self.options.warmup,
                headers=headers,
                post=post,
            )
        result = wrk.run(
            url,
            connections=connections,
            seconds=seconds or self.options.duration,
            headers=headers,
            post=post,
        )
        return result.as_dict()

    # -- the workloads -----------------------------------------------------------------------

    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self.results = {
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "git": git_state(),
            "machine": machine(self.databases),
            "load_before": [round(x, 2) for x in os.getloadavg()],
            "options": {
                "scenario": str(self.options.scenario),
                "scenario_actions": len(self.actions),
                "limit": self.options.limit,
                "wrk_seconds": self.options.duration,
                "wrk_warmup_seconds": self.options.warmup,
                "wrk_threads": wrk.THREADS,
                "quick": self.options.quick,
                "pool_size": 10,
            },
            "workloads": {},
        }
        try:
            self.small_data_phase()
            self.sharded_phase()
            self.counting_phase()
            if self.options.growth:
                from bench import growth

                self.results["growth"] = growth.measure(
                    self.databases, self.log_dir, growth.GrowthOptions.from_run(self.options)
                )
        finally:
            for server in self.servers:
                self.stop(server)
            self.databases.drop_all()
        self.results["workloads"]["peak_rss_mb"] = self.rss
        self.results["load_after"] = [round(x, 2) for x in os.getloadavg()]
        self.results["duration_s"] = round(time.monotonic() - started, 1)
        return self.results

    def small_data_phase(self) -> None:
        """The sequential replay, then reads and registrations on the data it left."""
        work = self.results["workloads"]
        minitwit_db = self.databases.create("minitwit_1")
        ceiling_db = self.databases.create("ceiling_1")
        mt = self.start(MiniTwitServer(self.databases.url(minitwit_db), self.log_dir, "minitwit1"))
        rest = self.start(
            rest_ceiling(self.databases.url(ceiling_db), self.log_dir, "ceiling_rest1")
        )
        gql = self.start(
            graphql_ceiling(self.databases.url(ceiling_db), self.log_dir, "ceiling_graphql1")
        )

        work["replay_sequential"] = {}
        for name, server in (("minitwit", mt), ("ceiling", rest)):
            log(f"sequential replay of {len(self.actions)} actions: {name}")
            figures = replay_figures(
                replay(server.url, self.actions, timeout=SIMULATOR_TIMEOUT_SECONDS)
            )
            figures["latest_after"] = latest(server.url)
            work["replay_sequential"][name] = figures
            log(f"  {figures['wall_s']} s, {figures['errors']} errors")

        rest_reads = {
            "GET /msgs?no=100": "/msgs?no=100",
            "GET /msgs?no=30": "/msgs?no=30",
            "GET /msgs/{user}?no=100": f"/msgs/{quote(self.poster, safe='')}?no=100",
        }
        reads: dict[str, Any] = {}
        for label, path in rest_reads.items():
            for connections in CONNECTIONS:
                key = f"{label} @{connections}"
                log(f"wrk {key}")
                reads[key] = {
                    "minitwit": self.wrk(mt.url + path, connections, headers=AUTH),
                    "ceiling": self.wrk(rest.url + path, connections, headers=AUTH),
                }
        for connections in CONNECTIONS:
            key = f"GraphQL publicTimeline(first: 30) @{connections}"
            log(f"wrk {key}")
            body = {"query": TIMELINE_QUERY}
            reads[key] = {
                "minitwit": self.wrk(mt.url + "/graphql", connections, post=body),
                "ceiling": self.wrk(gql.url + "/graphql", connections, post=body),
            }
        work["reads"] = reads
        work["graphql_matches_ceiling"] = same_timeline(mt.url, gql.url)

        work["registrations_during_reads"] = {}
        for name, server in (("minitwit", mt), ("ceiling", rest)):
            log(f"registrations during 16 readers: {name}")
            work["registrations_during_reads"][name] = self.registrations_during_reads(server.url)
        self.stop(mt, rest, gql)

    def registrations_during_reads(self, url: str) -> dict[str, Any]:
        seconds = max(self.options.duration, 2)
        reads: dict[str, Any] = {}

        def read() -> None:
            reads.update(
                wrk.run(
                    url + "/msgs?no=30", connections=16, seconds=seconds, headers=AUTH
                ).as_dict()
            )

        reader = threading.Thread(target=read)
        reader.start()
        time.sleep(min(1.0, seconds / 4))  # the readers are up
        window_ends = time.monotonic() + seconds - min(1.0, seconds / 4) - 0.5
        replayer = Replayer(url, timeout=PATIENT_TIMEOUT)
        begun = time.perf_counter()
        with replayer.client() as client:
            number = 0
            while time.monotonic() < window_ends or number < 3:
                username = f"Bench Registrant{number:05d}"
                action = Action(
                    number,
                    "register",
                    username,
                    f"registrant{number}@example.com",
                    f'pw{number}!"x',
                )
                replayer.send(client, action)
                number += 1
        replayer.report.seconds = time.perf_counter() - begun
        reader.join()
        figures = replay_figures(replayer.report)
        figures["created"] = replayer.report.statuses.get("204", 0)
        return {"registrations": figures, "reads": reads}

    def sharded_phase(self) -> None:
        """The replay sharded over 16 clients, then the GraphQL timeline read while a
        sequential replay writes, both on fresh databases."""
        work = self.results["workloads"]
        minitwit_db = self.databases.create("minitwit_2")
        ceiling_db = self.databases.create("ceiling_2")
        mt = self.start(MiniTwitServer(self.databases.url(minitwit_db), self.log_dir, "minitwit2"))
        ceiling = self.start(
            combined_ceiling(self.databases.url(ceiling_db), self.log_dir, "ceiling_combined2")
        )
        work["replay_sharded"] = {"clients": SHARDS}
        for name, server in (("minitwit", mt), ("ceiling", ceiling)):
            log(f"replay sharded over {SHARDS} clients: {name}")
            figures = replay_figures(
                replay(server.url, self.actions, workers=SHARDS, timeout=PATIENT_TIMEOUT)
            )
            figures["latest_after"] = latest(server.url)
            work["replay_sharded"][name] = figures
            log(f"  {figures['wall_s']} s, {figures['errors']} errors")

        writes = [a for a in self.actions if a.kind != "register"]
        work["graphql_during_replay"] = {}
        for name, server in (("minitwit", mt), ("ceiling", ceiling)):
            log(f"GraphQL timeline @16 while a replay writes: {name}")
            work["graphql_during_replay"][name] = self.reads_during_writes(server.url, writes)
        self.stop(mt, ceiling)

    def reads_during_writes(self, url: str, writes: Sequence[Action]) -> dict[str, Any]:
        stop = threading.Event()
        replayer = Replayer(url, timeout=PATIENT_TIMEOUT)

        def write() -> None:
            with replayer.client() as client:
                while not stop.is_set():
                    for action in writes:
                        if stop.is_set():
                            break
                        replayer.send(client, action)

        writer = threading.Thread(target=write)
        begun = time.perf_counter()
        writer.start()
        try:
            reads = self.wrk(url + "/graphql", 16, post={"query": TIMELINE_QUERY})
        finally:
            stop.set()
            writer.join()
        replayer.report.seconds = time.perf_counter() - begun
        return {"reads": reads, "replay": replay_figures(replayer.report)}

    def counting_phase(self) -> None:
        """Round trips and statements per request, counted by a proxy in front of PostgreSQL.
        Not timed: the proxy is in the path only here."""
        work = self.results["workloads"]
        work["round_trips"] = {}
        prefix = self.actions[: min(len(self.actions), 400)]
        for name in ("minitwit", "ceiling"):
            database = self.databases.create(f"{name}_count")
            proxy = CountingProxy().start()
            url = proxy.url(database)
            server: Server = (
                MiniTwitServer(url, self.log_dir, "minitwit_count")
                if name == "minitwit"
                else combined_ceiling(url, self.log_dir, "ceiling_count")
            )
            self.start(server)
            try:
                replay(server.url, prefix, timeout=5)  # users and messages to act on
                for kind, counts in self.count_requests(server.url, proxy, prefix).items():
                    work["round_trips"].setdefault(kind, {})[name] = counts
            finally:
                server.stop()
                proxy.stop()

    def count_requests(
        self, url: str, proxy: CountingProxy, prefix: Sequence[Action]
    ) -> dict[str, dict[str, Any]]:
        n = self.options.count_requests
        warm = 3
        users = [f"Bench Counted{i:04d}" for i in range(warm + n + 1)]
        poster = heaviest_poster(prefix)
        replayer = Replayer(url, timeout=5)
        kinds: dict[str, tuple[list[Action], list[Action]]] = {}

        def actions(kind: str, make: Callable[[int], Action], total: int) -> None:
            made = [make(i) for i in range(total)]
            kinds[kind] = (made[:warm], made[warm:])

        actions(
            "register",
            lambda i: Action(90_000 + i, "register", users[i], f"counted{i}@example.com", "pw!"),
            len(users),
        )
        actions(
            "tweet",
            lambda i: Action(91_000 + i, "tweet", users[0], f"counted tweet {i}", ""),
            warm + n,
        )
        actions(
            "follow", lambda i: Action(92_000 + i, "follow", users[0], users[i + 1], ""), warm + n
        )
        actions(
            "unfollow",
            lambda i: Action(93_000 + i, "unfollow", users[0], users[i + 1], ""),
            warm + n,
        )
        figures: dict[str, dict[str, Any]] = {}
        with replayer.client() as client:
            for kind, (warm_up, counted) in kinds.items():
                for action in warm_up:
                    replayer.send(client, action)
                before = proxy.snapshot()
                errors = replayer.report.errors
                for action in counted:
                    replayer.send(client, action)
                figures[kind] = per_request(proxy.snapshot().minus(before), len(counted))
                figures[kind]["errors"] = replayer.report.errors - errors
        reads: dict[str, tuple[str, str, dict[str, Any] | None]] = {
            "GET /msgs": ("GET", "/msgs?no=100", None),
            "GET /msgs/{user}": ("GET", f"/msgs/{quote(poster, safe='')}?no=100", None),
            "GET /fllws/{user}": ("GET", f"/fllws/{quote(poster, safe='')}", None),
            "GraphQL publicTimeline": ("POST", "/graphql", {"query": TIMELINE_QUERY}),
        }
        with httpx.Client(base_url=url, timeout=5, headers=AUTH) as client:
            for kind, (method, path, body) in reads.items():
                for _ in range(warm):
                    client.request(method, path, json=body)
                before = proxy.snapshot()
                errors = 0
                for _ in range(n):
                    response = client.request(method, path, json=body)
                    errors += response.status_code != 200 or "errors" in response.json()
                figures[kind] = per_request(proxy.snapshot().minus(before), n)
                figures[kind]["errors"] = errors
        return figures


def per_request(counts: Any, requests: int) -> dict[str, Any]:
    return {
        "requests": requests,
        "round_trips": round(counts.round_trips / requests, 2),
        "statements": round(counts.statements / requests, 2),
        "connections_opened": round(counts.connections / requests, 2),
        "by_keyword": {k: round(v / requests, 2) for k, v in sorted(counts.keywords.items())},
        "protocol_messages": {
            k: round(v / requests, 2) for k, v in sorted(counts.messages.items())
        },
    }


def same_timeline(minitwit_url: str, ceiling_url: str) -> dict[str, Any]:
    """Whether the two GraphQL answers have the same shape and the same messages in the same
    order (pubDate differs: each replay stamped its own clock)."""
    answers = []
    for url in (minitwit_url, ceiling_url):
        response = httpx.post(url + "/graphql", json={"query": TIMELINE_QUERY}, timeout=10)
        answers.append(response.json())

    def strip(answer: dict[str, Any]) -> list[Any]:
        nodes = answer["data"]["publicTimeline"]["nodes"]
        return [
            (
                sorted(n),
                n["text"],
                sorted(n["author"]),
                n["author"]["username"],
                n["author"]["gravatarUrl"],
                n["pubDate"][-6:],
            )
            for n in nodes
        ]

    try:
        mine, theirs = strip(answers[0]), strip(answers[1])
    except (KeyError, TypeError):
        return {"same": False, "why": f"unexpected answers: {answers!r:.500}"}
    return {"same": mine == theirs and len(mine) > 0, "nodes": len(mine)}


# -- the table --------------------------------------------------------------------------------


@dataclass
class Row:
    workload: str
    figure: str
    minitwit: float | int | None
    ceiling: float | int | None
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "figure": self.figure,
            "minitwit": self.minitwit,
            "ceiling": self.ceiling,
            "ratio": self.ratio,
            "target": self.target,
            "status": None if self.passed is None else ("PASS" if self.passed else "MISS"),
        }


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b == 0:
        return None
    return round(a / b, 2)


def rows(results: dict[str, Any]) -> list[Row]:
    work = results["workloads"]
    out: list[Row] = []

    def replay_rows(label: str, pair: dict[str, Any], wall_target: float | None) -> None:
        mt, ce = pair["minitwit"], pair["ceiling"]
        r = ratio(mt["wall_s"], ce["wall_s"])
        passed = None if wall_target is None or r is None else r <= wall_target
        target = f"<= {wall_target}x ceiling" if wall_target else ""
        out.append(Row(label, "wall s", mt["wall_s"], ce["wall_s"], r, target, passed))
        for figure in ("p50_ms", "p99_ms", "max_ms"):
            out.append(
                Row(
                    label,
                    figure.replace("_", " "),
                    mt[figure],
                    ce[figure],
                    ratio(mt[figure], ce[figure]),
                )
            )
        out.append(
            Row(
                label,
                "errors",
                mt["errors"],
                ce["errors"],
                None,
                "0",
                mt["errors"] == 0 and ce["errors"] == 0,
            )
        )
        out.append(
            Row(
                label,
                "requests >= 300 ms",
                mt["over_300ms"],
                ce["over_300ms"],
                None,
                "0",
                mt["over_300ms"] == 0,
            )
        )

    replay_rows("replay sequential", work["replay_sequential"], 1.2)
    sharded = {k: v for k, v in work["replay_sharded"].items() if k != "clients"}
    replay_rows(f"replay sharded x{work['replay_sharded']['clients']}", sharded, None)

    reads = work["reads"]
    for key, pair in reads.items():
        mt, ce = pair["minitwit"], pair["ceiling"]
        graphql = key.startswith("GraphQL")
        want = 0.9 if graphql else 0.7
        r = ratio(mt["rps"], ce["rps"])
        out.append(
            Row(
                key,
                "req/s",
                mt["rps"],
                ce["rps"],
                r,
                f">= {want}x ceiling",
                None if r is None else r >= want,
            )
        )
        sixteen = key.endswith("@16")
        out.append(
            Row(
                key,
                "p99 ms",
                mt["p99_ms"],
                ce["p99_ms"],
                ratio(mt["p99_ms"], ce["p99_ms"]),
                "< 50 ms" if sixteen else "",
                mt["p99_ms"] < 50 if sixteen else None,
            )
        )
        bad_mt = mt["non2xx"] + mt["socket_errors"]
        bad_ce = ce["non2xx"] + ce["socket_errors"]
        out.append(
            Row(
                key,
                "non-2xx + socket errors",
                bad_mt,
                bad_ce,
                None,
                "0",
                bad_mt == 0 and bad_ce == 0,
            )
        )
        if graphql:
            connections = key.rsplit("@", 1)[1]
            own = reads[f"GET /msgs?no=30 @{connections}"]["minitwit"]
            r = ratio(mt["rps"], own["rps"])
            out.append(
                Row(
                    f"GraphQL vs MiniTwit's own GET /msgs?no=30 @{connections}",
                    "req/s (ceiling column: REST)",
                    mt["rps"],
                    own["rps"],
                    r,
                    ">= 0.5x own REST",
                    None if r is None else r >= 0.5,
                )
            )

    label = "GraphQL @16 during a replay"
    pair = work["graphql_during_replay"]
    mt, ce = pair["minitwit"], pair["ceiling"]
    out.append(
        Row(
            label,
            "reads req/s",
            mt["reads"]["rps"],
            ce["reads"]["rps"],
            ratio(mt["reads"]["rps"], ce["reads"]["rps"]),
        )
    )
    out.append(
        Row(
            label,
            "reads p99 ms",
            mt["reads"]["p99_ms"],
            ce["reads"]["p99_ms"],
            ratio(mt["reads"]["p99_ms"], ce["reads"]["p99_ms"]),
            "< 50 ms",
            mt["reads"]["p99_ms"] < 50,
        )
    )
    for figure in ("p99_ms", "max_ms"):
        out.append(
            Row(
                label,
                f"replay {figure.replace('_', ' ')}",
                mt["replay"][figure],
                ce["replay"][figure],
                ratio(mt["replay"][figure], ce["replay"][figure]),
            )
        )
    out.append(
        Row(
            label,
            "replay requests >= 300 ms",
            mt["replay"]["over_300ms"],
            ce["replay"]["over_300ms"],
            None,
            "0",
            mt["replay"]["over_300ms"] == 0,
        )
    )
    errors_mt = mt["replay"]["errors"] + mt["reads"]["non2xx"] + mt["reads"]["socket_errors"]
    errors_ce = ce["replay"]["errors"] + ce["reads"]["non2xx"] + ce["reads"]["socket_errors"]
    out.append(
        Row(
            label,
            "errors (replay + reads)",
            errors_mt,
            errors_ce,
            None,
            "0",
            errors_mt == 0 and errors_ce == 0,
        )
    )

    label = "registrations during 16 readers"
    pair = work["registrations_during_reads"]
    mt, ce = pair["minitwit"]["registrations"], pair["ceiling"]["registrations"]
    out.append(Row(label, "registrations", mt["requests"], ce["requests"]))
    for figure in ("p50_ms", "p99_ms", "max_ms"):
        out.append(
            Row(
                label,
                figure.replace("_", " "),
                mt[figure],
                ce[figure],
                ratio(mt[figure], ce[figure]),
            )
        )
    out.append(
        Row(
            label,
            "requests >= 300 ms",
            mt["over_300ms"],
            ce["over_300ms"],
            None,
            "0",
            mt["over_300ms"] == 0,
        )
    )
    out.append(
        Row(
            label,
            "errors",
            mt["errors"],
            ce["errors"],
            None,
            "0",
            mt["errors"] == 0 and ce["errors"] == 0,
        )
    )
    mr, cr = pair["minitwit"]["reads"], pair["ceiling"]["reads"]
    out.append(Row(label, "reads req/s", mr["rps"], cr["rps"], ratio(mr["rps"], cr["rps"])))

    writes = ("register", "tweet", "follow", "unfollow")
    for kind, pair in work["round_trips"].items():
        mt, ce = pair["minitwit"], pair["ceiling"]
        limit = 2 if kind in writes else 1
        out.append(
            Row(
                f"round trips: {kind}",
                "per request",
                mt["round_trips"],
                ce["round_trips"],
                None,
                f"<= {limit}",
                mt["round_trips"] <= limit,
            )
        )
        out.append(
            Row(
                f"round trips: {kind}",
                "SQL statements per request",
                mt["statements"],
                ce["statements"],
            )
        )

    rss = work["peak_rss_mb"]
    ceiling_rss = max((v for k, v in rss.items() if k.startswith("ceiling")), default=None)
    if "minitwit" in rss:
        out.append(
            Row(
                "peak RSS per worker",
                "MB (VmHWM)",
                rss["minitwit"],
                ceiling_rss,
                ratio(rss["minitwit"], ceiling_rss),
                "< 200 MB",
                rss["minitwit"] < 200,
            )
        )

    growth = results.get("growth")
    if growth:
        seconds = growth["generation"]["large"]["seconds"]
        out.append(
            Row(
                "growth: generating the large data set",
                "seconds",
                seconds,
                None,
                None,
                "< 60 s",
                seconds < 60,
            )
        )
        for name, pair in growth["timelines"].items():
            small, large = pair["small"], pair["large"]
            r = ratio(large["p50_ms"], small["p50_ms"])
            out.append(
                Row(
                    f"growth: {name}",
                    "p50 ms large (ceiling column: small)",
                    large["p50_ms"],
                    small["p50_ms"],
                    r,
                    "<= 2x small",
                    None if r is None else r <= 2,
                )
            )
            out.append(
                Row(
                    f"growth: {name}",
                    "p99 ms large (ceiling column: small)",
                    large["p99_ms"],
                    small["p99_ms"],
                    ratio(large["p99_ms"], small["p99_ms"]),
                )
            )
            out.append(
                Row(
                    f"growth: {name}",
                    "req/s large (ceiling column: small)",
                    large["rps"],
                    small["rps"],
                    ratio(large["rps"], small["rps"]),
                )
            )
    return out


def render(table: list[Row]) -> str:
    def cell(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
        return f"{value:,}" if isinstance(value, int) else str(value)

    lines = [
        "| workload | figure | MiniTwit | ceiling | ratio | target | |",
        "|---|---|---:|---:|---:|---|---|",
    ]
    for row in table:
        d = row.as_dict()
        ratio_text = "-" if row.ratio is None else f"{row.ratio:.2f}x"
        lines.append(
            f"| {row.workload} | {row.figure} | {cell(row.minitwit)} | {cell(row.ceiling)} "
            f"| {ratio_text} | {row.target} | {d['status'] or ''} |"
        )
    return "\n".join(lines)


def summary(results: dict[str, Any]) -> str:
    m = results["machine"]
    g = results["git"]
    o = results["options"]
    return (
        f"{results['date']}, commit {g['short']}{' (dirty tree)' if g['dirty'] else ''}; "
        f"{m['nproc']} CPUs ({m['cpu']}), {m['ram_gib']} GiB, {m['kernel']}, "
        f"Python {m['python']}, PostgreSQL {m['postgresql']}; load average before "
        f"{results['load_before']}, after {results['load_after']}; "
        f"{results['options']['scenario_actions']} scenario actions; "
        f"wrk {o['wrk_seconds']} s after {o['wrk_warmup_seconds']} s warm-up; "
        f"suite took {results['duration_s']} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 1,000 scenario lines, 3 s wrk runs, 1 s warm-up",
    )
    parser.add_argument("--scenario", type=Path, default=SHARED / "data/minitwit_scenario.csv")
    parser.add_argument("--limit", type=int, help="replay only the first N scenario lines")
    parser.add_argument("--duration", type=int, help="seconds per wrk run (default 10, quick 3)")
    parser.add_argument("--warmup", type=int, help="wrk warm-up seconds (default 2, quick 1)")
    parser.add_argument(
        "--count-requests",
        type=int,
        default=20,
        help="requests per kind in the round-trip counting pass",
    )
    parser.add_argument(
        "--growth",
        action="store_true",
        help="also build the large data set and measure the timelines on it",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON goes")
    parser.add_argument("--pg", default=DEFAULT_PG, help="an admin URL of the PostgreSQL server")
    args = parser.parse_args(argv)
    options = Options(
        scenario=args.scenario,
        limit=args.limit if args.limit is not None else (1000 if args.quick else None),
        duration=args.duration if args.duration is not None else (3 if args.quick else 10),
        warmup=args.warmup if args.warmup is not None else (1 if args.quick else 2),
        count_requests=args.count_requests,
        growth=args.growth,
        out=args.out,
        pg=args.pg,
        quick=args.quick,
    )
    results = Suite(options).run()
    table = rows(results)
    results["table"] = [row.as_dict() for row in table]
    results["targets"] = {
        "pass": sum(1 for row in table if row.passed is True),
        "miss": sum(1 for row in table if row.passed is False),
    }
    text = render(table)
    print(summary(results))
    print(text)
    options.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H%M%SZ")
    suffix = "-quick" if options.quick or options.limit else ""
    path = options.out / f"{stamp}-{results['git']['short']}{suffix}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    if "growth" in results:
        from bench.growth import markdown

        path.with_suffix(".growth.md").write_text(markdown(results["growth"]) + "\n")
    print(f"targets: {results['targets']['pass']} PASS, {results['targets']['miss']} MISS")
    print(f"written: {path}")
    work = results["workloads"]
    broken = work["replay_sequential"]["ceiling"]["errors"] or any(
        pair[name]["errors"] for pair in work["round_trips"].values() for name in pair
    )
    if broken or not work["graphql_matches_ceiling"]["same"]:
        print(
            "the instrument failed (the ceiling's sequential replay or a counted request had "
            "errors, or the GraphQL answers differ): these figures are not valid",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
