"""Sequential replay latency, the way the course simulator sees the server.

Creates a fresh PostgreSQL database, migrates it, starts ``python -m minitwit serve`` in
production mode on a loopback port, replays the scenario one request at a time with a new
connection each and the simulator's 0.3 s timeout, and prints p50/p99/max latency (overall
and per action kind) with the machine it ran on. The database is dropped afterwards.

    PYTHONPATH=. .venv/bin/python bench/replay_latency.py [--limit N] [--scenario PATH] [--pg URL]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import psycopg2
from psycopg2 import sql

from minitwit.ops.replay import Replayer, percentile, read_scenario
from minitwit.settings import SIMULATOR_TIMEOUT_SECONDS
from tests.servers import REPO, ServerProcess

SHARED = Path(os.environ.get("MINITWIT_SHARED_DIR", REPO.parent / "shared"))


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kb = int(line.split()[1])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} CPUs (nproc), {cpu}, {memory_kb / 1024 / 1024:.1f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}, "
        f"load average before the run {load}"
    )


def admin(url: str, statement: sql.Composable) -> None:
    connection = psycopg2.connect(url)
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement)
    finally:
        connection.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=SHARED / "data/minitwit_scenario.csv")
    parser.add_argument("--limit", type=int, help="replay only the first N lines")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--timeout", type=float, default=SIMULATOR_TIMEOUT_SECONDS)
    args = parser.parse_args()

    actions, problems = read_scenario(args.scenario, args.limit)
    if problems:
        raise SystemExit(f"scenario problems: {problems[:3]}")
    print(f"machine: {machine()}")

    name = f"minitwit_bench_{uuid.uuid4().hex[:8]}"
    admin(args.pg, sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = args.pg.rsplit("/", 1)[0] + "/" + name
    log = Path(tempfile.mkdtemp(prefix="minitwit-bench-")) / "server.log"
    server = ServerProcess(database_url, log, SECRET_KEY=uuid.uuid4().hex, LOG_LEVEL="INFO")
    try:
        # ``minitwit serve`` migrates before serving (production default).
        url = server.start().url
        replayer = Replayer(url, timeout=args.timeout, out=sys.stdout, total=len(actions))
        by_kind: dict[str, list[float]] = defaultdict(list)
        started = time.perf_counter()
        with replayer.client() as client:
            for action in actions:
                outcome = replayer.send(client, action)
                by_kind[action.kind].append(outcome.seconds)
        replayer.report.seconds = time.perf_counter() - started
    finally:
        server.stop()
        admin(
            args.pg, sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )

    print(replayer.report.summary())
    print("| action | requests | p50 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for kind, values in [*sorted(by_kind.items()), ("all", replayer.report.latencies)]:
        ordered = sorted(values)
        print(
            f"| {kind} | {len(ordered)} | {percentile(ordered, 0.5) * 1000:.1f} "
            f"| {percentile(ordered, 0.99) * 1000:.1f} | {ordered[-1] * 1000:.1f} |"
        )
    print(f"load average after the run: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    return 1 if replayer.report.errors else 0


if __name__ == "__main__":
    sys.exit(main())
