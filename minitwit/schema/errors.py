"""How domain errors look to GraphQL clients, and how unexpected ones are hidden from them."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from loguru import logger
from strawberry.extensions import SchemaExtension

from minitwit.resolvers.errors import Conflict as ConflictError
from minitwit.resolvers.errors import (
    DomainError,
    Forbidden,
    Invalid,
    NotFound,
    Unauthenticated,
)

ERROR_CODES: tuple[tuple[type[DomainError], str], ...] = (
    (ConflictError, "CONFLICT"),
    (Invalid, "BAD_USER_INPUT"),
    (Unauthenticated, "UNAUTHENTICATED"),
    (Forbidden, "FORBIDDEN"),
    (NotFound, "NOT_FOUND"),
)
UNEXPECTED = "Unexpected error."


def code_for(error: DomainError) -> str:
    for kind, code in ERROR_CODES:
        if isinstance(error, kind):
            return code
    return "BAD_USER_INPUT"


class DomainErrors(SchemaExtension):
    """Give each domain error its stable ``extensions.code``; mask and log anything else.

    Usage: ``strawberry.Schema(query=Query, extensions=[DomainErrors])``.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [self._present(error) for error in result.errors]

    def _present(self, error: GraphQLError) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            return _with_code(error, original.message, code_for(original))
        if original is None or isinstance(original, GraphQLError):
            return _with_code(error, error.message, "BAD_REQUEST")
        logger.opt(exception=original).error(
            "unexpected error in GraphQL resolver at {path}", path=error.path
        )
        return _with_code(error, UNEXPECTED, "INTERNAL_SERVER_ERROR")


def _with_code(error: GraphQLError, message: str, code: str) -> GraphQLError:
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions={**(error.extensions or {}), "code": code},
    )
