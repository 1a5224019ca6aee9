"""The GraphQL face of MiniTwit: schema, context and the ASGI view at ``/graphql``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import anyio
from starlette.requests import Request
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)

from minitwit.db import Database
from minitwit.schema.context import Context
from minitwit.schema.errors import DomainErrors
from minitwit.schema.execution import ThreadedSchema
from minitwit.schema.mutation import HASHING_FIELDS, Mutation
from minitwit.schema.query import Query
from minitwit.settings import Settings

__all__ = ["Context", "GraphQLApp", "build_schema"]


def build_schema(
    db: Database,
    hashing: anyio.CapacityLimiter,
    extensions: Sequence[type[SchemaExtension]] = (),
) -> ThreadedSchema:
    return ThreadedSchema(
        query=Query,
        mutation=Mutation,
        limiter=db.limiter,
        hashing=hashing,
        hashing_fields=HASHING_FIELDS,
        extensions=[
            *extensions,
            DomainErrors,
            lambda: MaxTokensLimiter(max_token_count=2000),
            lambda: QueryDepthLimiter(max_depth=8),
            lambda: MaxAliasesLimiter(max_alias_count=30),
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
    )


class GraphQLApp(GraphQL[Context, None]):
    """The ASGI view; GraphiQL is served in development only."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        hashing: anyio.CapacityLimiter,
        extensions: Sequence[type[SchemaExtension]] = (),
    ) -> None:
        super().__init__(
            build_schema(db, hashing, extensions),
            graphql_ide="graphiql" if not settings.production else None,
            allow_queries_via_get=True,
        )
        self.db = db
        self.settings = settings

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        if not isinstance(request, Request):
            raise TypeError("MiniTwit serves GraphQL over HTTP only")
        return Context(request=request, db=self.db, settings=self.settings)

    def __repr__(self) -> str:
        return f"GraphQLApp(production={self.settings.production})"


