"""Stopping without dropping a request: after SIGTERM, ``minitwit serve`` drains first.

A real server and a real signal: the socket (and when it stops accepting) is the point.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from minitwit.http.drain import Drain
from tests.servers import ServerProcess

DRAIN_SECONDS = 2.0


@pytest.mark.parametrize("workers", ["1", "2"])
def test_sigterm_drains_then_shuts_down(tmp_path: Path, workers: str) -> None:
    server = ServerProcess(
        f"sqlite:///{tmp_path}/db.sqlite3",
        tmp_path / "server.log",
        "--workers",
        workers,
        MINITWIT_DRAIN_SECONDS=str(DRAIN_SECONDS),
    ).start()
    assert server.process is not None
    try:
        with httpx.Client(base_url=server.url, timeout=5) as client:
            assert client.get("/health/ready").status_code == 200
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            # Told to stop, it goes on answering, says it is not ready, closes connections.
            while True:
                ready = client.get("/health/ready")
                if ready.status_code == 503:
                    break
                assert time.monotonic() - signalled < DRAIN_SECONDS, "never drained"
                time.sleep(0.05)
            assert ready.json() == {"status": "unavailable", "reason": "shutting down"}
            assert ready.headers["retry-after"] == "1"
            served = client.get("/latest")
            assert served.status_code == 200
            assert served.headers["connection"] == "close"
            # Until the drain is over, new connections are still accepted.
            while time.monotonic() - signalled < DRAIN_SECONDS - 0.5:
                assert httpx.get(server.url + "/latest", timeout=5).status_code == 200
                time.sleep(0.1)
        # uvicorn ends as a SIGTERM asked (one worker raises it again at exit; a supervisor
        # of several returns 0).
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
        assert time.monotonic() - signalled >= DRAIN_SECONDS
    finally:
        server.stop()
    with pytest.raises(httpx.TransportError):
        httpx.get(server.url + "/health/live", timeout=2)


def test_a_second_sigterm_stops_at_once(tmp_path: Path) -> None:
    server = ServerProcess(
        f"sqlite:///{tmp_path}/db.sqlite3",
        tmp_path / "server.log",
        MINITWIT_DRAIN_SECONDS="30",
    ).start()
    assert server.process is not None
    try:
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while httpx.get(server.url + "/health/ready", timeout=5).status_code != 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=10) in (0, -signal.SIGTERM)
    finally:
        server.stop()


def test_without_a_drain_sigterm_is_left_to_the_server() -> None:
    handler = signal.getsignal(signal.SIGTERM)
    Drain(0).install()
    assert signal.getsignal(signal.SIGTERM) is handler
