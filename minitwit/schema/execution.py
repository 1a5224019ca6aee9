"""How a GraphQL operation runs: prepared once per document, executed in a worker thread.

Strawberry's own ``execute`` runs its extension hooks, parses and validates every request;
a validation cache keyed by rules that are built anew per request never hits. Here each
distinct document (its text and operation name) is prepared once and remembered: parsed
with a token limit, inspected for cost (``limits``), checked for depth and aliases and
validated against the schema. A request then only coerces its variables and executes, with
graphql-core, in a thread that holds one of the database limiter's tokens, so sync resolvers
never run on the event loop.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import anyio.to_thread
import strawberry
from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    parse,
    print_ast,
    specified_rules,
)
from graphql import ExecutionResult as GraphQLCoreResult
from strawberry.exceptions import MissingQueryError
from strawberry.execution import optimized_is_awaitable
from strawberry.extensions.max_aliases import create_validator as alias_rule
from strawberry.extensions.query_depth_limiter import create_validator as depth_rule
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext, validate_document
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from minitwit.ops.logs import GRAPHQL_OPERATION
from minitwit.schema.context import Context
from minitwit.schema.errors import present
from minitwit.schema.limits import MAX_TOKENS, Inspector, ListField, limits_from_schema

MAX_DEPTH = 8
MAX_ALIASES = 30
PREPARED_DOCUMENTS = 512

# ``(operation type or "invalid", operation name or None, outcome, seconds)``, per operation
OperationObserver = Callable[[str, str | None, str, float], None]


@dataclass(frozen=True, slots=True)
class Prepared:
    """What is known of a document before any request runs it."""

    document: DocumentNode | None = None
    operation_type: OperationType | None = None
    errors: tuple[GraphQLError, ...] = ()  # syntax, cost, depth, aliases or schema
    hashes: bool = False
    name: str | None = None  # the operation's own name, when the request names none


class SharedEventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Executes a subscription event once for all the subscriptions that ask the same.

    An event (``TimelineEvent``) goes to every subscriber of a timeline, and what a
    subscription makes of it depends only on its document and variables: the fields an event
    offers read nothing but the event, and the ones that would read the database are refused
    over a socket. The exception is the viewer (``isViewer``): a document that names a viewer
    field shares only within its own connection. So the first subscription of a kind executes
    the event and keeps the result in the event's ``results``; the others send that result.
    An execution with errors is not shared (each subscriber gets its own, as before).
    """

    share_key: tuple[str, str, int | None] | None = None

    def build_per_event_executor(self, payload: Any) -> Any:
        if self.share_key is None:
            self.share_key = self._share_key()
        return super().build_per_event_executor(payload)

    def _share_key(self) -> tuple[str, str, int | None]:
        text = "\n".join(
            print_ast(node) for node in (self.operation, *self.fragment_definitions.values())
        )
        variables = repr(sorted(self.variable_values.coerced.items()))
        return text, variables, id(self.context_value) if "viewer" in text.lower() else None

    def execute_operation(self, serially: bool | None = None) -> Any:
        results = getattr(self.root_value, "results", None)
        key = self.share_key
        if not isinstance(results, dict) or key is None:
            return super().execute_operation(serially)
        result = results.get(key)
        if result is None:
            result = super().execute_operation(serially)
            if not isinstance(result, GraphQLCoreResult) or result.errors:
                return result  # still running (an async field), or not for sharing
            results[key] = result
        return result


class ThreadedSchema(strawberry.Schema):
    """Runs each operation in a thread holding one of ``limiter``'s tokens.

    A document that asks too much is refused before anything runs, and one that hashes a
    password waits, on the event loop and holding nothing, for one of ``hashing``'s tokens.
    So a burst of sign-ins queues for the CPU without occupying the database tokens every
    other request needs. ``observe`` hears of every operation.
    """

    def __init__(
        self,
        *args: Any,
        limiter: anyio.CapacityLimiter,
        hashing: anyio.CapacityLimiter,
        page_sizes: Mapping[str, ListField],
        observe: OperationObserver | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.limiter = limiter
        self.hashing = hashing
        self.inspector = Inspector(limits_from_schema(self._schema, page_sizes))
        self.observe = observe
        self.rules = (
            *specified_rules,
            depth_rule(MAX_DEPTH, should_ignore=None),
            alias_rule(MAX_ALIASES),
        )
        self.prepare = lru_cache(maxsize=PREPARED_DOCUMENTS)(self._prepare)

    def _prepare(self, query: str, operation_name: str | None) -> Prepared:
        try:
            document = parse(query, max_tokens=MAX_TOKENS)
        except GraphQLError as error:
            return Prepared(errors=(error,))
        inspection = self.inspector.inspect_document(document, operation_name)
        if inspection.refusal is not None:
            refusal = GraphQLError(inspection.refusal, extensions={"code": "BAD_REQUEST"})
            return Prepared(errors=(refusal,))
        try:
            operation_type = get_operation_type(document, operation_name)
        except RuntimeError:
            return Prepared(document=document)
        errors = validate_document(self._schema, document, self.rules)
        named = [
            d.name.value
            for d in document.definitions
            if isinstance(d, OperationDefinitionNode) and d.name is not None
        ]
        name = operation_name or (named[0] if len(named) == 1 else None)
        return Prepared(document, operation_type, tuple(errors), inspection.hashes, name)

    async def stream(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        operation_extensions: dict[str, Any] | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Operations over a WebSocket: subscriptions only, checked as every document is.
        Queries and mutations go over HTTP, where they run in a worker thread; here they
        would run on the event loop."""
        prepared = self.prepare(query, operation_name) if query else Prepared()
        errors = list(prepared.errors)
        if not errors and prepared.operation_type is not OperationType.SUBSCRIPTION:
            message = "Only subscriptions run over a WebSocket; queries and mutations go over HTTP"
            errors.append(GraphQLError(message, extensions={"code": "BAD_REQUEST"}))
        if errors:
            self.process_errors(errors)
            return _refusal(errors)
        return await super().stream(
            query,
            variable_values=variable_values,
            context_value=context_value,
            root_value=root_value,
            operation_name=operation_name,
            operation_extensions=operation_extensions,
            allowed_operation_types=(OperationType.SUBSCRIPTION,),
        )

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
        began = time.perf_counter()
        if not query:
            raise MissingQueryError
        prepared = self.prepare(query, operation_name)
        if isinstance(context_value, Context):  # for the request's log line
            setattr(context_value.request.state, GRAPHQL_OPERATION, prepared.name or operation_name)
        if prepared.errors:
            return self._refused(prepared, operation_name, began)
        kind = prepared.operation_type
        if kind is None:
            raise CannotGetOperationTypeError(operation_name)
        if kind is OperationType.SUBSCRIPTION:
            message = "Subscriptions run over a WebSocket at /graphql (graphql-transport-ws)"
            refusal = GraphQLError(message, extensions={"code": "BAD_REQUEST"})
            return self._refused(Prepared(errors=(refusal,)), operation_name, began)
        if allowed_operation_types is not None and kind not in allowed_operation_types:
            raise InvalidOperationTypeError(kind)

        def run() -> ExecutionResult:
            return self._run(prepared, variable_values, context_value, root_value, operation_name)

        if prepared.hashes:
            async with self.hashing:
                result = await anyio.to_thread.run_sync(run, limiter=self.limiter)
        else:
            result = await anyio.to_thread.run_sync(run, limiter=self.limiter)
        if self.observe is not None:
            outcome = "error" if result.errors else "ok"
            self.observe(kind.value, prepared.name, outcome, time.perf_counter() - began)
        return result

    def _refused(
        self, prepared: Prepared, operation_name: str | None, began: float
    ) -> ExecutionResult:
        errors = list(prepared.errors)
        self.process_errors(errors)
        if self.observe is not None:
            self.observe("invalid", operation_name, "error", time.perf_counter() - began)
        return ExecutionResult(data=None, errors=errors)

    def _run(
        self,
        prepared: Prepared,
        variable_values: dict[str, Any] | None,
        context_value: Any | None,
        root_value: Any | None,
        operation_name: str | None,
    ) -> ExecutionResult:
        try:
            result: Any = execute(
                self._schema,
                prepared.document,  # type: ignore[arg-type]
                root_value=root_value,
                context_value=context_value,
                variable_values=variable_values,
                operation_name=operation_name,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
            )
        finally:
            if isinstance(context_value, Context):
                context_value.close()
        if result.errors:
            self.process_errors(result.errors)
        return ExecutionResult(data=result.data, errors=result.errors)

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Give each error its code, and log and mask the unexpected ones, once."""
        for error in errors:
            present(error)


async def _refusal(errors: list[GraphQLError]) -> AsyncGenerator[Any, None]:
    yield PreExecutionError(data=None, errors=errors)
