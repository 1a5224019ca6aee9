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
from strawberry.types.graphql import OperationType as StrawberryOperationType

from minitwit.schema.context import Context
from minitwit.schema.errors import present
from minitwit.schema.limits import Inspection, Inspector


class ThreadedSchema(strawberry.Schema):
    """Runs each operation in a thread holding one of ``limiter``'s tokens.

    First ``inspector`` looks at the document (see ``limits``): one that asks too much is
    refused before anything runs, and one that hashes a password waits, on the event loop and
    holding nothing, for one of ``hashing``'s tokens. So a burst of sign-ins queues for the
    CPU without occupying the database tokens every other request needs.
    """

    def __init__(
        self,
        *args: Any,
        limiter: anyio.CapacityLimiter,
        hashing: anyio.CapacityLimiter,
        inspector: Inspector,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.limiter = limiter
        self.hashing = hashing
        self.inspector = inspector

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
        inspection = (
            self.inspector.inspect(query, operation_name) if query is not None else Inspection()
        )
        if inspection.refusal is not None:
            return ExecutionResult(
                data=None,
                errors=[GraphQLError(inspection.refusal, extensions={"code": "BAD_REQUEST"})],
            )
        if inspection.hashes:
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
