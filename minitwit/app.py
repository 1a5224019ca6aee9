"""``create_app(settings)``: the one place where settings, database, middleware and routes meet."""

from __future__ import annotations

import gc
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import exc as sa_exc
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from minitwit import passwords, rest_compat
from minitwit.db import migrate
from minitwit.db.database import Database
from minitwit.db.errors import is_unavailable, unavailable_reason
from minitwit.http import sessions
from minitwit.http.drain import Drain, DrainMiddleware
from minitwit.http.errors import error_response
from minitwit.http.middleware import RETRY_AFTER_SECONDS, BodyLimitMiddleware, RequestMiddleware
from minitwit.http.security import API_HEADERS, SECURITY_HEADERS, send_graphql_forbidden
from minitwit.live.hub import Hub
from minitwit.ops import health
from minitwit.ops.logs import configure_logging, first_line, log_failure
from minitwit.ops.metrics import Metrics, known_operations
from minitwit.resolvers import accounts, latest
from minitwit.resolvers.errors import DomainError
from minitwit.rest_compat.endpoints import domain_error
from minitwit.schema import GraphQLApp
from minitwit.settings import Settings
from minitwit.web.client import WebClient

MAX_BODY_BYTES = 64 * 1024
METRICS_DB_TIMEOUT_SECONDS = 2.0
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
    session = sessions.session_middleware(settings)
    same_origin = sessions.same_origin_guard()
    web = _web_client(settings, db, [same_origin, session])
    graphql_origin = sessions.same_origin_guard(refuse=send_graphql_forbidden)
    graphql = GraphQLApp(
        db,
        settings,
        hashing,
        observe=metrics.graphql_operation,
        ide=None if settings.production else web.graphiql,
        hub=hub,
    )
    simulator = rest_compat.SimulatorApi(db, settings, hashing)

    readiness = health.Readiness(settings)
    drain = Drain(settings.drain_seconds)

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
        drain.install()
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
        Route("/health/live", health.live, methods=["GET"]),
        Route("/health/ready", readiness.endpoint, methods=["GET"]),
        Route("/metrics", metrics_endpoint, methods=["GET"]),
        Route("/graphql", graphql, methods=["GET", "POST"], middleware=[graphql_origin, session]),
        # The socket checks its Origin itself, at the handshake (minitwit.schema).
        WebSocketRoute("/graphql", graphql, middleware=[session]),
        *web.routes(),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(
                RequestMiddleware,
                metrics=metrics,
                pool_usage=db.checked_out,
                headers=SECURITY_HEADERS,
                default_headers=API_HEADERS,
            ),
            Middleware(DrainMiddleware, drain=drain),
            Middleware(
                BodyLimitMiddleware,
                max_bytes=MAX_BODY_BYTES,
                timeout=settings.body_timeout,
                on_refused=simulator.store_latest_of_refused,
            ),
        ],
        exception_handlers={
            404: web.not_found,
            DomainError: domain_error,
            sa_exc.DBAPIError: _database_error,
            sa_exc.TimeoutError: _database_error,
        },
    )
    app.state.settings = settings
    app.state.db = db
    app.state.metrics = metrics
    app.state.hub = hub
    app.state.drain = drain
    return app


async def _database_error(request: Request, error: Exception) -> Response:
    """The database out of reach for now (restarting, cut off, no connection in time, a
    statement over its time limit) is a 503 the client may retry; any other database error is
    a bug, re-raised for the 500."""
    reason = unavailable_reason(error)
    if reason is None:
        raise error
    log_failure(error, "in {method} {path}", method=request.method, path=request.url.path)
    return error_response(503, reason, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _web_client(settings: Settings, db: Database, page_middleware: list[Middleware]) -> WebClient:
    async def user_exists(username: str) -> bool | None:
        try:
            return await db.run_work(lambda tx: accounts.user_by_name(tx, username) is not None)
        except Exception as error:
            if not is_unavailable(error):
                raise
            log_failure(error, "while looking up user {username}", username=username)
            return None

    return WebClient(
        settings.web_dir,
        max_message_length=settings.max_message_length,
        user_exists=user_exists,
        page_middleware=page_middleware,
    )


def app_from_env() -> Starlette:
    """The factory ``minitwit serve`` hands to uvicorn, once in every worker process."""
    settings = Settings.from_env()
    configure_logging(settings.log_level, json_lines=settings.wants_json_logs(sys.stdout.isatty()))
    app = create_app(settings)
    # Start-up made some 100,000 objects that live as long as the process (the GraphQL
    # schema, the routes, SQLAlchemy's metadata, the imported modules). Frozen, they are left
    # out of the collector's full passes, each of which would otherwise walk them all: a pause
    # of tens of milliseconds for every request in flight, now and then, under load.
    gc.collect()
    gc.freeze()
    return app
