"""The GraphQL face of MiniTwit: schema, context and the ASGI view at ``/graphql``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
from cross_web import AsyncHTTPRequestAdapter, HTTPException  # what Strawberry's views raise
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData

from minitwit.db import Database
from minitwit.resolvers.validation import is_storable
from minitwit.schema.context import Context
from minitwit.schema.execution import OperationObserver, ThreadedSchema
from minitwit.schema.limits import ListField
from minitwit.schema.mutation import Mutation
from minitwit.schema.query import Query
from minitwit.schema.types import FAST_RESOLVERS, FOLLOW_LIST_DEFAULT, FOLLOW_LIST_MAX
from minitwit.settings import Settings

__all__ = ["Context", "GraphQLApp", "build_schema", "page_sizes"]


def page_sizes(settings: Settings) -> dict[str, ListField]:
    """The page sizes the fields' declared costs name (``cost(page=...)``)."""
    return {
        "timeline": ListField(settings.page_size, settings.max_page_size),
        "people": ListField(FOLLOW_LIST_DEFAULT, FOLLOW_LIST_MAX),
    }


def build_schema(
    settings: Settings,
    *,
    limiter: anyio.CapacityLimiter | None = None,
    hashing: anyio.CapacityLimiter | None = None,
    observe: OperationObserver | None = None,
) -> ThreadedSchema:
    """The schema, from settings alone: no database is needed to build (or print) it. The
    server passes its database's ``limiter`` and its ``hashing`` slots; without them the
    schema gets limiters of its own, sized by the same settings."""
    schema = ThreadedSchema(
        query=Query,
        mutation=Mutation,
        limiter=limiter or anyio.CapacityLimiter(settings.db_pool_size),
        hashing=hashing or anyio.CapacityLimiter(settings.hash_concurrency),
        page_sizes=page_sizes(settings),
        observe=observe,
    )
    for (type_name, field_name), resolve in FAST_RESOLVERS.items():
        graphql_type: Any = schema._schema.type_map[type_name]
        graphql_type.fields[field_name].resolve = resolve
    return schema


class GraphQLApp(GraphQL[Context, None]):
    """The ASGI view. ``ide`` answers a browser's GET of ``/graphql`` with GraphiQL's page
    (the web client's, on MiniTwit's own copies of its scripts); without it that is a 404."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        hashing: anyio.CapacityLimiter,
        observe: OperationObserver | None = None,
        ide: Callable[[Request], Awaitable[Response]] | None = None,
    ) -> None:
        super().__init__(
            build_schema(settings, limiter=db.limiter, hashing=hashing, observe=observe),
            graphql_ide="graphiql" if ide is not None else None,
            allow_queries_via_get=True,
        )
        self.db = db
        self.settings = settings
        self.ide = ide

    async def render_graphql_ide(self, request: Request) -> Response:
        if self.ide is None:  # Strawberry asks only when graphql_ide is set, i.e. with an ide
            raise HTTPException(404, "Not Found")
        return await self.ide(request)

    def parse_json(self, data: str | bytes) -> Any:
        """JSON that Python cannot read (bad UTF-8, 5,000-digit numbers, deep nesting) or that
        is not an object is the client's mistake: 400, never a 500."""
        try:
            value = self.decode_json(data)
        except (ValueError, RecursionError):
            raise HTTPException(400, "Unable to parse request body as JSON") from None
        if not isinstance(value, dict | list):
            raise HTTPException(400, "The request body must be a JSON object")
        return value

    async def parse_http_body(
        self, request: AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        parsed = await super().parse_http_body(request)
        for item in parsed if isinstance(parsed, list) else [parsed]:
            name = item.operation_name
            if name is not None and not (isinstance(name, str) and is_storable(name)):
                raise HTTPException(400, "The operation name must be a string of valid text")
        return parsed

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """A rate-limited operation is HTTP 429 with ``Retry-After`` as well as RATE_LIMITED in
        its errors, so proxies, browsers and generic clients see the refusal too."""
        response = super().create_response(response_data, sub_response)
        retry_after = _retry_after(response_data)
        if retry_after is not None:
            response.status_code = 429
            response.headers["Retry-After"] = str(retry_after)
        return response

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        if not isinstance(request, Request):
            raise TypeError("MiniTwit serves GraphQL over HTTP only")
        return Context(request=request, db=self.db, settings=self.settings)


def _retry_after(data: GraphQLHTTPResponse | list[GraphQLHTTPResponse]) -> int | None:
    """The longest ``retryAfter`` among RATE_LIMITED errors, or None when there is none."""
    errors: list[Any] = [
        error
        for item in (data if isinstance(data, list) else [data])
        for error in item.get("errors") or ()
    ]
    waits = [
        int(error["extensions"]["retryAfter"])
        for error in errors
        if isinstance(error, dict) and (error.get("extensions") or {}).get("code") == "RATE_LIMITED"
    ]
    return max(waits) if waits else None
