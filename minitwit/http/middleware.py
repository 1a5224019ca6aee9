"""Pure ASGI middleware: the request's id, log line and metrics (``RequestMiddleware``), and
bounded request bodies (``BodyLimitMiddleware``)."""

from __future__ import annotations

import itertools
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence

import anyio
from loguru import logger
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minitwit.http.errors import send_json_error
from minitwit.ops.logs import ACCESS_LOG, GRAPHQL_OPERATION, log_failure
from minitwit.ops.metrics import Metrics, route_template

CLIENT_CLOSED_REQUEST = 499  # nginx's name for a client that left before its answer
REQUEST_ID_HEADER = "x-request-id"
REQUEST_ID_HEADER_BYTES = REQUEST_ID_HEADER.encode()
RETRY_AFTER_SECONDS = 1
_REQUEST_ID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class _RequestIds:
    """Request ids as 32 hex digits: 16 random per process, then a counter. Unique like a
    uuid4 across processes and replicas, without a uuid4 (and its urandom call) per request."""

    def __init__(self) -> None:
        self.reset()
        os.register_at_fork(after_in_child=self.reset)  # a forked worker is another process

    def reset(self) -> None:
        self.prefix = secrets.token_hex(8)
        self.counter = itertools.count(1)

    def new(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


REQUEST_IDS = _RequestIds()


class RequestMiddleware:
    """Request id, one access-log line and the HTTP metrics for every request; ``headers``
    go on every HTTP response (the security headers: mounted outermost, so the error answers
    of the middleware inside, and this one's own 500, carry them too), and each of
    ``default_headers`` on every response that does not set that header itself."""

    def __init__(
        self,
        app: ASGIApp,
        metrics: Metrics,
        pool_usage: Callable[[], int] | None = None,
        headers: Sequence[tuple[bytes, bytes]] = (),
        default_headers: Sequence[tuple[bytes, bytes]] = (),
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.pool_usage = pool_usage
        self.headers = tuple(headers)
        self.default_headers = tuple(default_headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or REQUEST_IDS.new()
        status = 500
        began = time.perf_counter()
        responded = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                responded = True
                status = message["status"]
                own = message.get("headers", ())
                headers = [*own, (REQUEST_ID_HEADER_BYTES, request_id.encode()), *self.headers]
                for default in self.default_headers:
                    if all(name.lower() != default[0] for name, _ in own):
                        headers.append(default)
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.in_flight.inc()
        try:
            with logger.contextualize(request_id=request_id):
                try:
                    await self.app(scope, receive, send_with_id)
                except ClientDisconnect:
                    status = CLIENT_CLOSED_REQUEST
                except Exception:
                    # What the app's exception handlers did not answer (the database out of
                    # reach is a 503 there) is a bug: logged here, once, with the request id,
                    # and answered here, so neither Starlette nor uvicorn logs it again.
                    logger.exception("unhandled error")
                    if not responded:
                        await send_json_error(send_with_id, 500, "Internal Server Error")
                finally:
                    elapsed = time.perf_counter() - began
                    route = route_template(scope)
                    method = scope["method"]
                    self.metrics.responded(method, route, status, elapsed)
                    if self.pool_usage is not None:
                        self.metrics.pool_checked_out.set(self.pool_usage())
                    ACCESS_LOG.write(
                        request_id,
                        method,
                        scope["path"],
                        route,
                        status,
                        round(elapsed * 1000, 2),
                        scope.get("state", {}).get(GRAPHQL_OPERATION),
                    )
        finally:
            self.metrics.in_flight.dec()


def _incoming_request_id(scope: Scope) -> str | None:
    given = header(scope, REQUEST_ID_HEADER_BYTES)
    return given if given is not None and _REQUEST_ID_PATTERN.match(given) else None


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of the header ``name`` (lower case), read from the raw ASGI headers:
    this runs for every request, and Starlette's ``Headers`` decodes every name to find one."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


class BodyTooLarge(Exception):
    pass


class BodyTooSlow(Exception):
    pass


class BodyLimitMiddleware:
    """Bound request bodies: over ``max_bytes`` is a 413, and a body still incomplete
    ``timeout`` seconds after the application began to read it is a 408, both in the REST
    layer's JSON error shape. Without the deadline a client that declares a body and never
    sends it would hold its connection forever.

    ``on_refused(scope)`` runs before either refusal is sent, for what must happen even then.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        timeout: float,
        on_refused: Callable[[Scope], Awaitable[None]] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = header(scope, b"content-length")
        if length is not None and (
            not (length.isascii() and length.isdigit()) or int(length) > self.max_bytes
        ):
            await self._refuse(scope, send, 413)
            return
        declares_body = (length is not None and length != "0") or (
            header(scope, b"transfer-encoding") is not None
        )
        if not declares_body:  # nothing to bound: no wrapping
            await self.app(scope, receive, send)
            return
        received = 0
        complete = False
        deadline: float | None = None
        started = False

        async def limited_receive() -> Message:
            nonlocal received, complete, deadline
            if complete:  # after the body, receive only waits for the disconnect
                return await receive()
            if deadline is None:
                deadline = anyio.current_time() + self.timeout
            with anyio.move_on_after(deadline - anyio.current_time()) as waiting:
                message = await receive()
            if waiting.cancelled_caught:
                raise BodyTooSlow
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, send, 413)
        except BodyTooSlow:
            if started:
                raise
            await self._refuse(scope, send, 408)

    async def _refuse(self, scope: Scope, send: Send, status: int) -> None:
        if self.on_refused is not None:
            try:
                await self.on_refused(scope)
            except Exception as error:  # the refusal goes out, and the connection closes, anyway
                log_failure(error, "while recording a refused request")
        if status == 413:
            message = f"The request body is larger than {self.max_bytes} bytes"
        else:
            message = f"The request body did not arrive within {self.timeout:g} seconds"
        await send_json_error(send, status, message, close=True)
