"""``minitwit serve`` as a real process: several workers, one set of metrics; graceful stop."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import ServerProcess

REQUESTS = 200


def test_metrics_of_every_worker_process_add_up(tmp_path: Path) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    server = ServerProcess(
        f"sqlite:///{tmp_path}/db.sqlite3",
        tmp_path / "server.log",
        "--workers",
        "2",
        PROMETHEUS_MULTIPROC_DIR=str(metrics_dir),
    ).start()
    url = server.url
    try:

        def hit(_: int) -> int:
            # a new connection each time, so the kernel spreads them over the workers
            return httpx.get(url + "/health/live", headers={"connection": "close"}).status_code

        with ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(hit, range(REQUESTS)))
        assert statuses == [200] * REQUESTS
        exposition = httpx.get(url + "/metrics").text
    finally:
        server.stop()
    match = re.search(
        r'^minitwit_http_requests_total\{method="GET",route="/health/live",status="200"\} (\S+)$',
        exposition,
        re.MULTILINE,
    )
    assert match is not None, exposition
    assert float(match.group(1)) == REQUESTS
    served_by = {p.name.split("_")[-1] for p in metrics_dir.glob("counter_*.db")}
    assert len(served_by) >= 2, f"expected samples from both workers, got files of {served_by}"


def in_flight(url: str) -> float:
    metrics = httpx.get(url + "/metrics", timeout=10).text
    match = re.search(r"^minitwit_http_requests_in_flight (\S+)$", metrics, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    """Wait for an event; the timeout only bounds a wait that would otherwise never end."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def test_sigterm_lets_an_in_flight_request_finish(tmp_path: Path) -> None:
    """Waits on events (the request in flight, the server saying it shuts down), not sleeps."""
    database = tmp_path / "db.sqlite3"
    log = tmp_path / "server.log"
    server = ServerProcess(f"sqlite:///{database}", log, LOG_LEVEL="INFO").start()
    url, process = server.url, server.process
    assert process is not None
    try:
        lock = sqlite3.connect(database, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")  # the register below must wait for this write lock
        register = (
            'mutation { register(username: "late", email: "l@x.dk", password: "p",'
            ' password2: "p") { username } }'
        )
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(
                lambda: httpx.post(url + "/graphql", json={"query": register}, timeout=30)
            )
            until(lambda: in_flight(url) >= 2, "the register is in flight")  # it and /metrics
            assert not pending.done(), "the request should be waiting for the lock"
            process.send_signal(signal.SIGTERM)
            until(lambda: "Shutting down" in log.read_text(errors="replace"), "shutting down")
            assert process.poll() is None, "the server must wait for the request in flight"
            assert not pending.done()
            lock.execute("ROLLBACK")
            lock.close()
            response: Any = pending.result(timeout=30)
        assert response.status_code == 200
        assert response.json() == {"data": {"register": {"username": "late"}}}
        process.wait(timeout=30)
    finally:
        server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(url + "/health/live", timeout=2)


def test_the_served_app_leaves_what_start_up_made_out_of_full_collections(tmp_path: Path) -> None:
    # A full pass of the cyclic collector over start-up's objects (schema, routes, metadata)
    # pauses every request in flight; the factory ``serve`` uses freezes them first.
    probe = (
        "import gc\n"
        "from minitwit.app import app_from_env\n"
        "app_from_env()\n"
        "print(gc.get_freeze_count())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert int(done.stdout.split()[-1]) > 50_000, done.stdout
