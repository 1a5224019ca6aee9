"""The GraphQL ceiling: MiniTwit's ``publicTimeline`` as a lean Strawberry app.

The same result shape as MiniTwit's schema for
``publicTimeline(first: Int) { nodes { text pubDate author { username gravatarUrl } } }``
(``gravatarUrl(size: Int = 48)``, ``pubDate`` an ISO datetime in UTC, ``first`` 0 to 100,
default 30), served by Strawberry's own ASGI view from ONE joined SQL query per request.
Execution runs off the event loop: ``execute_sync`` in a worker thread that holds one of
``POOL_SIZE`` tokens, each thread with a pooled autocommit psycopg2 connection. Strawberry's
``ParserCache`` and ``ValidationCache`` keep their LRU caches at module level, built once per
process, so every request after the first skips parsing and validation.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/db POOL_SIZE=10 \\
        uvicorn bench.ceiling_graphql:create_app --factory --port 8002
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
import psycopg2.pool
import strawberry
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.types import ExecutionResult, Info
from strawberry.types.graphql import OperationType

from bench.ceiling_rest import Ceiling

PAGE_SIZE = 30
MAX_PAGE_SIZE = 100
GRAVATAR_MAX_SIZE = 2048
TIMELINE = """
SELECT m.text, m.pub_date, u.username, u.email
FROM messages m JOIN users u ON u.id = m.author_id
WHERE NOT m.flagged
ORDER BY m.pub_date DESC, m.id DESC
LIMIT %s
"""


@strawberry.type
class User:
    username: str
    email: strawberry.Private[str]

    @strawberry.field
    def gravatar_url(self, size: int = 48) -> str:
        if not 1 <= size <= GRAVATAR_MAX_SIZE:
            raise ValueError(f"size must be between 1 and {GRAVATAR_MAX_SIZE}")
        digest = hashlib.md5(self.email.strip().lower().encode(), usedforsecurity=False)
        return f"https://www.gravatar.com/avatar/{digest.hexdigest()}?d=identicon&s={size}"


@strawberry.type
class Message:
    text: str
    pub_date: datetime
    author: User


@strawberry.type
class MessageConnection:
    nodes: list[Message]


@strawberry.type
class Query:
    @strawberry.field
    def public_timeline(self, info: Info, first: int | None = None) -> MessageConnection:
        limit = PAGE_SIZE if first is None else first
        if not 0 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"first must be between 0 and {MAX_PAGE_SIZE}")
        pool: psycopg2.pool.ThreadedConnectionPool = info.context["pool"]
        connection = pool.getconn()
        if not connection.autocommit:
            connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                cursor.execute(TIMELINE, (limit,))
                rows = cursor.fetchall()
        finally:
            pool.putconn(connection, close=connection.closed != 0)
        return MessageConnection(
            nodes=[
                Message(
                    text=text,
                    pub_date=datetime.fromtimestamp(pub_date, tz=UTC),
                    author=User(username=username, email=email),
                )
                for text, pub_date, username, email in rows
            ]
        )


class ThreadedSchema(strawberry.Schema):
    """Each operation runs with ``execute_sync`` in a worker thread holding a limiter token."""

    def __init__(self, *args: Any, limiter: anyio.CapacityLimiter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limiter = limiter

    async def execute(  # type: ignore[override]
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        run = partial(
            self.execute_sync,
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            allowed_operation_types=allowed_operation_types,
            operation_extensions=operation_extensions,
        )
        return await anyio.to_thread.run_sync(run, limiter=self.limiter)


class TimelineView(GraphQL[dict[str, Any], None]):
    def __init__(self, schema: ThreadedSchema, pools: dict[str, Any]) -> None:
        super().__init__(schema, graphql_ide=None)
        self.pools = pools

    async def get_context(self, request: Any, response: Any) -> dict[str, Any]:
        return {"pool": self.pools["pool"]}


def build_schema(limiter: anyio.CapacityLimiter) -> ThreadedSchema:
    return ThreadedSchema(
        query=Query,
        limiter=limiter,
        # Factories, as Strawberry asks; the LRU caches behind them are module-level and
        # shared by every instance, so they are built once per process and hit across requests.
        extensions=[lambda: ParserCache(maxsize=256), lambda: ValidationCache(maxsize=256)],
    )


def open_pool(database_url: str, size: int) -> psycopg2.pool.ThreadedConnectionPool:
    # minconn = maxconn: a psycopg2 pool closes connections above minconn on return.
    pool = psycopg2.pool.ThreadedConnectionPool(
        size, size, database_url, application_name="ceiling_graphql"
    )
    for connection in [pool.getconn() for _ in range(size)]:
        connection.autocommit = True
        pool.putconn(connection)
    return pool


def create_app() -> Starlette:
    database_url = os.environ["DATABASE_URL"]
    pool_size = int(os.environ.get("POOL_SIZE", "10"))
    pools: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pools["pool"] = await anyio.to_thread.run_sync(open_pool, database_url, pool_size)
        try:
            yield
        finally:
            pools["pool"].closeall()

    view = TimelineView(build_schema(anyio.CapacityLimiter(pool_size)), pools)
    return Starlette(routes=[Route("/graphql", view, methods=["GET", "POST"])], lifespan=lifespan)


def create_combined_app() -> Starlette:
    """The REST ceiling and this one in one process, on one pool and one thread limiter."""
    ceiling = Ceiling(os.environ["DATABASE_URL"], int(os.environ.get("POOL_SIZE", "10")))
    pools: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with ceiling.lifespan(app):
            pools["pool"] = ceiling.pool
            yield

    view = TimelineView(build_schema(ceiling.db_threads), pools)
    routes = [*ceiling.routes(), Route("/graphql", view, methods=["GET", "POST"])]
    return Starlette(routes=routes, lifespan=lifespan)
