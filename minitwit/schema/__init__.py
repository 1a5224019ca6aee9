"""The GraphQL face of MiniTwit: schema, context and the ASGI view at ``/graphql``."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
from cross_web import AsyncHTTPRequestAdapter, HTTPException  # what Strawberry's views raise
from loguru import logger
from starlette.requests import Request
from starlette.responses import Response
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL

from minitwit.db.database import Database
from minitwit.db.errors import is_unavailable
from minitwit.http.sessions import SESSION_KEY
from minitwit.live.hub import Hub
from minitwit.models import User
from minitwit.ops.logs import first_line
from minitwit.resolvers import sign_ins
from minitwit.resolvers.validation import is_storable
from minitwit.schema.context import Context
from minitwit.schema.execution import OperationObserver, SharedEventExecutor, ThreadedSchema
from minitwit.schema.limits import ListField
from minitwit.schema.mutation import Mutation
from minitwit.schema.query import Query
from minitwit.schema.subscription import LiveContext, Subscription
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
        subscription=Subscription,
        limiter=limiter or anyio.CapacityLimiter(settings.db_pool_size),
        hashing=hashing or anyio.CapacityLimiter(settings.hash_concurrency),
        page_sizes=page_sizes(settings),
        observe=observe,
        execution_context_class=SharedEventExecutor,
    )
    for (type_name, field_name), resolve in FAST_RESOLVERS.items():
        graphql_type: Any = schema._schema.type_map[type_name]
        graphql_type.fields[field_name].resolve = resolve
    return schema


CONNECTION_INIT_TIMEOUT = timedelta(seconds=10)
# WebSocket close codes; sent before the handshake completes, either is an HTTP 403.
REFUSED = 1008  # policy violation
TRY_AGAIN_LATER = 1013


class GraphQLApp(GraphQL[Context, None]):
    """The ASGI view. ``ide`` answers a browser's GET of ``/graphql`` with GraphiQL's page
    (the web client's, on MiniTwit's own copies of its scripts); without it that is a 404.

    Over a WebSocket (``graphql-transport-ws``) it serves subscriptions only, to pages of its
    own origin (Strawberry refuses a foreign ``Origin`` before anything else runs), signed in
    by the session cookie, within limits per connection, per user and per address.
    """

    def __init__(
        self,
        db: Database,
        settings: Settings,
        hashing: anyio.CapacityLimiter,
        observe: OperationObserver | None = None,
        ide: Callable[[Request], Awaitable[Response]] | None = None,
        hub: Hub | None = None,
    ) -> None:
        super().__init__(
            build_schema(settings, limiter=db.limiter, hashing=hashing, observe=observe),
            graphql_ide="graphiql" if ide is not None else None,
            allow_queries_via_get=True,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=CONNECTION_INIT_TIMEOUT,
            max_subscriptions_per_connection=settings.live_subscriptions_per_connection,
        )
        self.db = db
        self.settings = settings
        self.ide = ide
        self.hub = hub
        self.sockets_by_user: Counter[int] = Counter()
        self.sockets_by_address: Counter[str] = Counter()

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
        if isinstance(request, WebSocket):
            context = LiveContext(request=request, db=self.db, settings=self.settings, hub=self.hub)
            context.set_viewer(request.scope.get("minitwit.viewer"))
            return context
        return Context(request=request, db=self.db, settings=self.settings)

    async def run(self, request: Request | WebSocket, *args: Any, **kwargs: Any) -> Any:
        if not isinstance(request, WebSocket):
            return await super().run(request, *args, **kwargs)
        if not self._check_websocket_origin(request):
            return await self.reject_websocket(request)
        address = request.client.host if request.client else ""
        if self.hub is None or (
            self.sockets_by_address[address] >= self.settings.live_connections_per_address
        ):
            await request.close(REFUSED, "Too many connections from this address")
            return None
        self.sockets_by_address[address] += 1  # taken before any await: no race past the cap
        try:
            return await self._run_socket(request, self.hub, *args, **kwargs)
        finally:
            _release(self.sockets_by_address, address)

    async def _run_socket(self, request: WebSocket, hub: Hub, *args: Any, **kwargs: Any) -> Any:
        token = request.session.get(SESSION_KEY)
        try:
            viewer = (
                await self.db.run_work(sign_ins.user_for, token) if isinstance(token, str) else None
            )
        except Exception as error:
            if not is_unavailable(error):
                raise
            logger.warning("live timelines: {error}", error=first_line(error))
            await request.close(TRY_AGAIN_LATER, "The database is unavailable; try again shortly")
            return None
        user_id = viewer.id if isinstance(viewer, User) else None
        if user_id is not None:
            if self.sockets_by_user[user_id] >= self.settings.live_connections_per_user:
                await request.close(REFUSED, "Too many connections for this user")
                return None
            self.sockets_by_user[user_id] += 1
        request.scope["minitwit.viewer"] = viewer
        observer = hub.observer
        if observer is not None:
            observer.connected(1)
        try:
            await hub.socket_opened()
            return await super().run(request, *args, **kwargs)
        finally:
            hub.socket_closed()
            if observer is not None:
                observer.connected(-1)
            if user_id is not None:
                _release(self.sockets_by_user, user_id)


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


def _release(counts: Counter[Any], key: Any) -> None:
    counts[key] -= 1
    if counts[key] <= 0:
        del counts[key]
