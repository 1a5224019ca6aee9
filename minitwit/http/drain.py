"""Stopping without dropping a request: SIGTERM starts a drain, and only after it a shutdown.

A task told to stop is first taken out of its proxy's rotation (Swarm removes it from DNS;
nginx re-resolves every second). Requests already on their way still arrive for a moment. So
for ``seconds`` after SIGTERM the server goes on accepting and answering, with every response
closing its connection and ``/health/ready`` answering 503; then uvicorn's own graceful
shutdown begins (it stops accepting, and lets requests in flight finish). A second SIGTERM, or
any SIGINT, stops at once as before.

Installed from the application's lifespan, in every worker process, over uvicorn's handler.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

from loguru import logger
from starlette.types import ASGIApp, Message, Receive, Scope, Send

READY_PATH = "/health/ready"
SHUTTING_DOWN = "shutting down"
_CLOSE = (b"connection", b"close")
_UNREADY_BODY = json.dumps({"status": "unavailable", "reason": SHUTTING_DOWN}).encode()

Handler = Callable[[int, FrameType | None], Any]


class Drain:
    """Whether this process is draining, and the SIGTERM handler that starts it."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.draining = False

    def install(self) -> None:
        """Put the drain in front of the SIGTERM handler in force (uvicorn's). Needs the main
        thread; without a drain (``seconds`` 0) nothing changes."""
        if self.seconds <= 0 or threading.current_thread() is not threading.main_thread():
            return
        previous = signal.getsignal(signal.SIGTERM)
        if not callable(previous):
            return  # not under a server that stops on SIGTERM by itself: nothing to delay
        signal.signal(signal.SIGTERM, lambda signum, frame: self._on_sigterm(previous, frame))

    def _on_sigterm(self, previous: Handler, frame: FrameType | None) -> None:
        if self.draining:
            previous(signal.SIGTERM, frame)  # told twice: stop now
            return
        self.draining = True
        logger.info("SIGTERM: draining for {seconds:g} s, then shutting down", seconds=self.seconds)
        timer = threading.Timer(self.seconds, previous, (signal.SIGTERM, frame))
        timer.daemon = True
        timer.start()


class DrainMiddleware:
    """While draining: ``/health/ready`` is a 503 and every response closes its connection,
    so neither a proxy nor a client sends this process another request on it."""

    def __init__(self, app: ASGIApp, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.drain.draining:
            await self.app(scope, receive, send)
            return
        if scope["path"] == READY_PATH:
            await _unready(send)
            return

        async def closing(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), _CLOSE]
            await send(message)

        await self.app(scope, receive, closing)


async def _unready(send: Send) -> None:
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_UNREADY_BODY)).encode()),
        (b"retry-after", b"1"),
        _CLOSE,
    ]
    await send({"type": "http.response.start", "status": 503, "headers": headers})
    await send({"type": "http.response.body", "body": _UNREADY_BODY})
