"""``create_app(settings)``: the one place where settings, database, middleware and routes meet."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from minitwit import migrate, passwords, rest_compat
from minitwit.db import UNAVAILABLE, Database, first_line, is_unavailable
from minitwit.live import Hub
from minitwit.observability import (
    Metrics,
    RequestMiddleware,
    configure_logging,
    known_operations,
    send_json_error,
)
from minitwit.readiness import Readiness
from minitwit.resolvers import accounts, latest
from minitwit.schema import GraphQLApp
from minitwit.settings import Settings
from minitwit.web_client import WebClient

MAX_BODY_BYTES = 64 * 1024
METRICS_DB_TIMEOUT_SECONDS = 2.0
SESSION_COOKIE = "minitwit_session"
LATEST_EXPOSITION = (
    "# HELP minitwit_simulator_latest The last action id the simulator sent (latest).\n"
    "# TYPE minitwit_simulator_latest gauge\n"
    "minitwit_simulator_latest {value}\n"
)


def create_app(settings: Settings | None = None, *, db: Database | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    metrics = Metrics(known_operations(settings.web_dir))
    db = db or Database(settings)
    if db.observer is None:
        db.observer = metrics
    metrics.pool_size.set(settings.db_pool_size)
    passwords.configure(settings.hash_concurrency)
    # Requests that hash a password wait for one of these on the event loop, before they take
    # a database token: at most this many hash at once and none starve the pool meanwhile.
    hashing = anyio.CapacityLimiter(settings.hash_concurrency)
    hub = Hub(db, queue_size=settings.live_queue_size, observer=metrics.live)
    # The signed session cookie, for the routes that sign people in: GraphQL and the pages.
    session = Middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.production,
    )
    web = _web_client(settings, db, session)
    graphql = GraphQLApp(
        db,
        settings,
        hashing,
        observe=metrics.graphql_operation,
        ide=None if settings.production else web.graphiql,
        hub=hub,
    )
    simulator = rest_compat.SimulatorApi(db, settings, hashing)

    async def live(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    readiness = Readiness(settings)

    async def metrics_endpoint(request: Request) -> Response:
        # The simulator's latest is read from the database, so every worker and every
        # replica reports the same value; without the database it is left out.
        extra = ""
        try:
            with anyio.fail_after(METRICS_DB_TIMEOUT_SECONDS):
                value = await db.run_work(latest.get_latest)
            extra = LATEST_EXPOSITION.format(value=value)
        except Exception as error:
            logger.warning("metrics: latest not read: {error}", error=first_line(error))
        return Response(metrics.exposition(extra), media_type=CONTENT_TYPE_LATEST)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await anyio.to_thread.run_sync(migrate.upgrade, db.engine)
        await hub.start()
        logger.info("minitwit started ({env})", env=settings.env)
        try:
            yield
        finally:
            await hub.stop()
            db.dispose()
            readiness.dispose()
            logger.info("minitwit stopped")

    routes: list[BaseRoute] = [
        *simulator.routes(),  # first: the simulator's requests are most of the traffic
        Route("/health/live", live, methods=["GET"]),
        Route("/health/ready", readiness.endpoint, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"], middleware=[session]),
        WebSocketRoute("/graphql", graphql, middleware=[session]),
        *web.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={404: web.not_found},
        middleware=[
            Middleware(
                RequestMiddleware,
                metrics=metrics,
                pool_usage=db.checked_out,
                unavailable=lambda error: UNAVAILABLE if is_unavailable(error) else None,
            ),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=MAX_BODY_BYTES,
                timeout=settings.body_timeout,
                on_refused=simulator.store_latest_of_refused,
            ),
        ],
    )
    app.state.settings = settings
    app.state.db = db
    app.state.metrics = metrics
    app.state.hub = hub
    return app


def _web_client(settings: Settings, db: Database, session: Middleware) -> WebClient:
    async def user_exists(username: str) -> bool | None:
        try:
            return await db.run_work(lambda tx: accounts.user_by_name(tx, username) is not None)
        except Exception as error:
            if not is_unavailable(error):
                raise
            logger.warning("{reason}: {error}", reason=UNAVAILABLE, error=first_line(error))
            return None

    return WebClient(
        settings.web_dir,
        max_message_length=settings.max_message_length,
        user_exists=user_exists,
        page_middleware=[session],
    )


def app_from_env() -> Starlette:
    """The factory ``minitwit serve`` hands to uvicorn, once in every worker process."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    app = create_app(settings)
    # Start-up made some 100,000 objects that live as long as the process (the GraphQL
    # schema, the routes, SQLAlchemy's metadata, the imported modules). Frozen, they are left
    # out of the collector's full passes, each of which would otherwise walk them all: a pause
    # of tens of milliseconds for every request in flight, now and then, under load.
    gc.collect()
    gc.freeze()
    return app


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
        declares_body = False
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.max_bytes:
                    await self._refuse(scope, send, 413)
                    return
                declares_body = value != b"0"
            elif name == b"transfer-encoding":
                declares_body = True
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
                if is_unavailable(error):
                    logger.warning("could not record a refused request: database unavailable")
                else:
                    logger.exception("could not record a refused request")
        if status == 413:
            message = f"The request body is larger than {self.max_bytes} bytes"
        else:
            message = f"The request body did not arrive within {self.timeout:g} seconds"
        await send_json_error(send, status, message, close=True)
