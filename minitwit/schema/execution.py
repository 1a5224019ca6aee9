"""A Strawberry schema whose operations run in a worker thread, never on the event loop.

Strawberry's ASGI view awaits ``Schema.execute``; sync resolvers would run on the loop and one
slow query would stall every request of the worker. Here ``execute`` hands the whole operation
to ``execute_sync`` in a thread that holds one of the database limiter's tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache, partial
from typing import Any

import anyio.to_thread
import strawberry
from graphql import (
    FieldNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    Visitor,
    parse,
    visit,
)
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType as StrawberryOperationType

from minitwit.schema.context import Context
from minitwit.schema.errors import present


class ThreadedSchema(strawberry.Schema):
    """Runs each operation in a thread holding one of ``limiter``'s tokens.

    An operation that selects one of ``hashing_fields`` (mutation root fields that hash a
    password) first waits, on the event loop and holding nothing, for one of ``hashing``'s
    tokens. So a burst of sign-ins queues for the CPU without occupying the database tokens
    every other request needs.
    """

    def __init__(
        self,
        *args: Any,
        limiter: anyio.CapacityLimiter,
        hashing: anyio.CapacityLimiter,
        hashing_fields: frozenset[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.limiter = limiter
        self.hashing = hashing
        self.hashing_fields = hashing_fields

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[StrawberryOperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        run = partial(
            self._execute_and_close,
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )
        if query is not None and _selects_any(query, operation_name, self.hashing_fields):
            async with self.hashing:
                return await anyio.to_thread.run_sync(run, limiter=self.limiter)
        return await anyio.to_thread.run_sync(run, limiter=self.limiter)

    def _execute_and_close(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context_value: Any | None,
        root_value: Any | None,
        operation_name: str | None,
        allowed_operation_types: Iterable[StrawberryOperationType] | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        try:
            return self.execute_sync(
                query,
                variable_values=variable_values,
                context_value=context_value,
                root_value=root_value,
                operation_name=operation_name,
                allowed_operation_types=allowed_operation_types,
                operation_extensions=operation_extensions,
            )
        finally:
            if isinstance(context_value, Context):
                context_value.close()

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Give each error its code, and log and mask the unexpected ones, once."""
        for error in errors:
            present(error)


@lru_cache(maxsize=256)
def _selects_any(query: str, operation_name: str | None, fields: frozenset[str]) -> bool:
    """Whether the operation to run is a mutation whose document selects one of ``fields``.

    Conservative: a field anywhere in the document counts, fragments and sibling operations
    included, so an operation that hashes is never let through without a slot.
    """
    try:
        document = parse(query)
    except GraphQLError:
        return False  # execution reports the syntax error
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    chosen = [o for o in operations if operation_name is None or _name(o) == operation_name]
    if not any(o.operation == OperationType.MUTATION for o in chosen):
        return False
    found = False

    class Finder(Visitor):
        def enter_field(self, node: FieldNode, *_: Any) -> None:
            nonlocal found
            found = found or node.name.value in fields

    visit(document, Finder())
    return found


def _name(operation: OperationDefinitionNode) -> str | None:
    return operation.name.value if operation.name else None
