"""A synchronous client for the in-process ASGI app, for tests that are not async themselves
(Hypothesis' ``@given``): one event loop in a portal thread for the client's whole life, as a
server would have, and a cookie jar."""

from __future__ import annotations

from contextlib import ExitStack
from typing import Any

import anyio.from_thread
import httpx
from starlette.types import ASGIApp


class AppClient:
    def __init__(self, app: ASGIApp, base_url: str = "http://testserver", **kwargs: Any) -> None:
        self._exit = ExitStack()
        self._portal = self._exit.enter_context(anyio.from_thread.start_blocking_portal())
        self._client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=base_url, timeout=60, **kwargs
        )

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response: httpx.Response = self._portal.call(
            lambda: self._client.request(method, url, **kwargs)
        )
        return response

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)

    def close(self) -> None:
        self._portal.call(self._client.aclose)
        self._exit.close()

    def __enter__(self) -> AppClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
