"""A Strawberry schema whose operations run in a worker thread, never on the event loop.

Strawberry's ASGI view awaits ``Schema.execute``; sync resolvers would run on the loop and one
slow query would stall every request of the worker. Here ``execute`` hands the whole operation
to ``execute_sync`` in a thread that holds one of the database limiter's tokens.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import partial
from typing import Any

import anyio.to_thread
import strawberry
from graphql import GraphQLError
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.graphql import OperationType

from minitwit.schema.context import Context


class ThreadedSchema(strawberry.Schema):
    def __init__(self, *args: Any, limiter: anyio.CapacityLimiter, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limiter = limiter

    async def execute(
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
            self._execute_and_close,
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )
        return await anyio.to_thread.run_sync(run, limiter=self.limiter)

    def _execute_and_close(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None,
        context_value: Any | None,
        root_value: Any | None,
        operation_name: str | None,
        allowed_operation_types: Iterable[OperationType] | None,
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
        """Errors are logged by :class:`~minitwit.schema.errors.DomainErrors`, once."""
